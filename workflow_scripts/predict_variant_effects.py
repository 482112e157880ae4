"""Entry point of rule predict_variant_effects: predicted effect of a VCF's promoter variants (cornbert.variants)."""

import torch

from cornbert.promoters import PromoterSettings
from cornbert.runtime import run_entry
from cornbert.variants import VariantJob, run


def main(smk) -> None:
    torch.set_num_threads(max(1, smk.threads))
    run(
        VariantJob(
            model=smk.input.model,
            genome=smk.input.fasta,
            gff=smk.input.gff,
            vcf=smk.input.vcf,
            output=smk.output.table,
            summary=smk.output.summary,
            figure=smk.output.figure,
            settings=PromoterSettings.from_config(smk.params.promoters),
            chrom_map=dict(smk.params.chrom_map),
        )
    )


run_entry(main, snakemake)  # noqa: F821
