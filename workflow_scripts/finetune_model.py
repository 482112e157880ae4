"""Rule finetune_model: fine-tune one variant (pretrained or scratch), data-parallel when given several GPUs."""

from dataclasses import asdict
from pathlib import Path

import torch

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
    gpus = int(smk.resources.get("gpu", 0))
    if gpus <= 1:
        torch.set_num_threads(smk.threads)
        train(job, distributed.setup())
        return
    distributed.launch_job(
        "cornbert.finetune", asdict(job), gpus, Path(smk.output.loss).parent, [smk.log[0], str(smk.threads)]
    )


run_entry(main, snakemake)  # noqa: F821
