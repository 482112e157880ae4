"""Entry point of rule audit_corpora: test promoters, and promoters like them, in the pretraining corpora that the
fine-tuned model descends from (results/corpus/leakage.tsv)."""

import logging

import pandas as pd

from cornbert.fasta import read_fasta, sequences_for
from cornbert.runtime import run_entry
from cornbert.splits import Similarity, corpus_leakage
from cornbert.tables import read_split, write_tsv

log = logging.getLogger("cornbert.audit_corpora")


def main(smk) -> None:
    p = smk.params
    split = read_split(smk.input.split)
    test = sorted(split.index[split == "test"])
    sequences = dict(zip(test, sequences_for(test, read_fasta(smk.input.promoters), smk.input.promoters)))
    named = dict(smk.input.items())
    corpora = {stage: named.get(stage) for stage in ("stage1", "stage2")}
    if corpora["stage1"] is None:
        log.warning("stage 1 comes from %s, trained elsewhere: its corpus is not audited", p.stage1_model)
    # The corpus filter's criterion (coverage of the shorter sequence), at the audit's looser thresholds.
    table = corpus_leakage(sequences, corpora, Similarity(p.audit_identity, p.audit_coverage, smk.threads, shorter=True),
                           Similarity(p.identity, p.coverage, shorter=True))  # fmt: skip
    for row in table.itertuples(index=False):
        if not pd.isna(row.n_pairs):
            level = logging.WARNING if row.n_pairs and row.kind != "similar" else logging.INFO
            log.log(level, "%s corpus, %s: %d of %d test promoters (%d pairs)", row.corpus, row.kind,
                    row.n_test_genes, len(test), row.n_pairs)  # fmt: skip
    write_tsv(table, smk.output.leakage, index=False)


run_entry(main, snakemake)  # noqa: F821
