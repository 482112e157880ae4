"""Entry point of rule build_pretraining_corpus: one promoter per line from a stage's genomes."""

from cornbert.corpus import build_pretraining_corpus, held_out_test_set
from cornbert.runtime import run_entry
from cornbert.splits import Similarity


def main(smk) -> None:
    test_ids, test_sequences, similarity = set(), set(), None
    if smk.params.exclude_test_genes:
        test_ids, test_sequences = held_out_test_set(smk.input.split, smk.input.expression_promoters)
        similarity = Similarity(smk.params.identity, smk.params.coverage, smk.threads)
    build_pretraining_corpus(
        dict(zip(smk.params.genomes, smk.input.promoters, strict=True)),
        smk.output.corpus,
        min_length=smk.params.min_length,
        max_n_fraction=smk.params.max_n_fraction,
        held_out_genome=smk.params.expression_genome,
        held_out_ids=test_ids,
        held_out_sequences=test_sequences,
        similarity=similarity,
    )


run_entry(main, snakemake)  # noqa: F821
