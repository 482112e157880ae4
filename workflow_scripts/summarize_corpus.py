"""Entry point of rule summarize_corpus: the statistics of every corpus source (promoters, windows, sequence sets) as
one table and one figure."""

from cornbert.corpus import summarize_corpus
from cornbert.runtime import run_entry


def main(smk) -> None:
    summarize_corpus(smk.params.sources, smk.input.stats, smk.input.lengths, smk.output.table, smk.output.figure)


run_entry(main, snakemake)  # noqa: F821
