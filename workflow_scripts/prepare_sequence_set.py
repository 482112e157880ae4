"""Entry point of rule prepare_sequence_set: a user's FASTA of pre-cut sequences -> checked, uppercase, statistics."""

from cornbert.runtime import run_entry
from cornbert.sources import prepare_sequence_set


def main(smk) -> None:
    prepare_sequence_set(
        smk.wildcards.sequence_set, smk.input.fasta, smk.params.ambiguous_bases, smk.output.fasta, smk.output.stats
    )


run_entry(main, snakemake)  # noqa: F821
