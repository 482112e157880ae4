"""Entry point of rule plot_targets: the distribution of the targets per tissue, train vs test."""

from cornbert.expression import plot_targets
from cornbert.runtime import run_entry
from cornbert.tables import read_split, read_targets


def main(smk) -> None:
    plot_targets(read_targets(smk.input.targets), read_split(smk.input.split), smk.output.figure)


run_entry(main, snakemake)  # noqa: F821
