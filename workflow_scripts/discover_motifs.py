"""Entry point of rule discover_motifs: ISM attributions of test promoters, TF-MoDISco motifs, JASPAR matches."""

import numba
import torch

from cornbert.fasta import read_fasta
from cornbert.motifs import MotifSettings, run
from cornbert.runtime import run_entry, seed_everything
from cornbert.tables import read_split


def main(smk) -> None:
    seed_everything(smk.params.seed)
    torch.set_num_threads(max(1, smk.threads))
    numba.set_num_threads(max(1, smk.threads))  # TF-MoDISco's and Tomtom's kernels
    run(
        model=smk.input.model,
        promoters=read_fasta(smk.input.promoters),
        fasta=smk.input.promoters,
        split=read_split(smk.input.split),
        settings=MotifSettings(**smk.params.motifs),
        seed=smk.params.seed,
        table_path=smk.output.table,
        logos_path=smk.output.logos,
        attributions_path=smk.output.attributions,
        modisco_path=smk.output.modisco,
    )


run_entry(main, snakemake)  # noqa: F821
