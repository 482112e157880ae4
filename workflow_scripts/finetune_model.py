"""Rule finetune_model: fine-tune one variant (pretrained or scratch), data-parallel when given several GPUs."""

from dataclasses import asdict
from pathlib import Path

from cornbert import distributed
from cornbert.finetune import FinetuneJob, FinetuneSettings, train
from cornbert.runtime import run_entry


def main(smk) -> None:
    job = FinetuneJob(
        targets=smk.input.targets,
        split=smk.input.split,
        promoters=smk.input.promoters,
        tokenizer=str(Path(smk.input.tokenizer).parent),
        encoder=smk.input.encoder,
        pretrained=smk.wildcards.variant == "pretrained",
        model_dir=smk.output.model,
        loss_tsv=smk.output.loss,
        loss_png=smk.output.plot,
        checkpoint_dir=smk.params.checkpoints,
        settings=FinetuneSettings.from_config(smk.params.settings),
        seed=smk.params.seed,
    )
    workdir = Path(smk.output.loss).parent
    distributed.run_job(
        "cornbert.finetune", asdict(job), lambda: train(job, distributed.setup()), smk.resources, smk.threads,
        workdir, smk.log[0],
    )  # fmt: skip


run_entry(main, snakemake)  # noqa: F821
