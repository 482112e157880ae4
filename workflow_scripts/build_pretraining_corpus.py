"""Entry point of rule build_pretraining_corpus: one sequence per line from a stage's sources (promoters of annotated
genomes, windows of unannotated ones, sequence sets), and what was kept and left out per source.

Leakage control (pretraining.exclude_test_genes), where each stage can afford it, the same for every source:
- stage 1 leaves out every sequence identical or near-identical to one of the expression genome's promoters (or
  of the user's sequences), whatever the split: it depends on no split, test fraction or matrix, and is reused;
- stage 2 leaves out the test genes' leakage groups and any sequence identical or near-identical to a test promoter,
  and so does a stage 1 that lists the expression genome (one genome for both stages): it then depends on the split.
"""

import logging

from cornbert.corpus import build_pretraining_corpus, held_out_sequences, held_out_test_set
from cornbert.runtime import run_entry
from cornbert.splits import Similarity

log = logging.getLogger("cornbert.build_pretraining_corpus")


def main(smk) -> None:
    p = smk.params
    held_out_ids, held_out, similarity, label = set(), set(), None, "test"
    if p.held_out == "test_groups":
        held_out_ids, held_out = held_out_test_set(smk.input.split, smk.input.held_out)
        if smk.wildcards.stage == "stage1":
            log.warning("pretraining.stage1 lists the expression genome %s: stage 1 leaves out the test genes' "
                        "groups, like stage 2, so it reruns whenever the split changes; list the target species in "
                        "stage2 only to train stage 1 once", p.expression_genome)  # fmt: skip
    elif p.held_out == "expression_sequences":
        held_out, label = held_out_sequences(smk.input.held_out), "expression_promoters"
    if p.held_out:
        similarity = Similarity(p.identity, p.coverage, smk.threads, shorter=True)
    build_pretraining_corpus(
        dict(zip(p.genomes, smk.input.sources, strict=True)),
        smk.output.corpus,
        min_length=p.min_length,
        max_n_fraction=p.max_n_fraction,
        held_out_genome=p.expression_genome,
        held_out_ids=held_out_ids,
        held_out_sequences=held_out,
        similarity=similarity,
        held_out_label=label,
        kinds=p.kinds,
        out_stats=smk.output.sources,
    )


run_entry(main, snakemake)  # noqa: F821
