"""Entry point of rule cut_windows: an unannotated genome's FASTA -> genome-wide windows (BED, FASTA, statistics)."""

from cornbert.download import verify_sha256
from cornbert.runtime import run_entry
from cornbert.sources import WindowSettings, cut_windows


def main(smk) -> None:
    genome = smk.wildcards.genome
    verify_sha256(smk.input.fasta, smk.params.sha256, config_key=f"genomes.{genome}.sha256.fasta")
    cut_windows(
        genome,
        smk.input.fasta,
        WindowSettings.from_config(smk.params.settings),
        smk.params.ambiguous_bases,
        smk.output.bed,
        smk.output.fasta,
        smk.output.stats,
    )


run_entry(main, snakemake)  # noqa: F821
