"""Entry point of rule summarize_corpus: per-genome promoter statistics as one table and one figure."""

from cornbert.corpus import summarize_corpus
from cornbert.runtime import run_entry


def main(smk) -> None:
    summarize_corpus(smk.input.stats, smk.input.beds, smk.output.table, smk.output.figure)


run_entry(main, snakemake)  # noqa: F821
