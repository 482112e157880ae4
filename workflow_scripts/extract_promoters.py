"""Entry point of rule extract_promoters: a genome's FASTA + GFF3 -> promoter BED, FASTA and statistics."""

from cornbert.download import verify_sha256
from cornbert.promoters import PromoterSettings, extract_promoters
from cornbert.runtime import run_entry


def main(smk) -> None:
    genome = smk.wildcards.genome
    for kind in ("fasta", "gff"):
        verify_sha256(smk.input[kind], smk.params.sha256[kind], config_key=f"genomes.{genome}.sha256.{kind}")
    extract_promoters(
        genome,
        smk.input.fasta,
        smk.input.gff,
        PromoterSettings.from_config(smk.params.settings),
        smk.params.chrom_map,
        smk.output.bed,
        smk.output.fasta,
        smk.output.stats,
    )


run_entry(main, snakemake)  # noqa: F821
