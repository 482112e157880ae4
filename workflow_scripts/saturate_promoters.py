"""Entry point of rule saturate_promoters: every single-base substitution of the configured genes' promoters."""

from pathlib import Path

import torch

from cornbert.fasta import read_fasta
from cornbert.runtime import run_entry
from cornbert.saturation import run


def main(smk) -> None:
    torch.set_num_threads(max(1, smk.threads))
    settings = smk.params.saturation
    run(
        model=smk.input.model,
        promoters=read_fasta(smk.input.promoters),
        fasta=smk.input.promoters,
        genes=settings["genes"],
        tissue=settings["tissue"],
        top=settings["top"],
        output_dir=Path(smk.output.table).parent,
    )


run_entry(main, snakemake)  # noqa: F821
