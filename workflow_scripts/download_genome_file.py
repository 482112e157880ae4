"""Entry point of rule download_genome_file: fetch a genome FASTA/GFF3 URL, verifying its checksum if given."""

from cornbert.download import download
from cornbert.runtime import run_entry


def main(smk) -> None:
    genome, kind = smk.wildcards.genome, smk.wildcards.kind
    download(smk.params.url, smk.output.file, smk.params.sha256, config_key=f"genomes.{genome}.sha256.{kind}")


run_entry(main, snakemake)  # noqa: F821
