"""Rule pretrain_model: masked-LM pretraining of one stage, data-parallel over the job's GPUs when it has several."""

from dataclasses import asdict
from pathlib import Path

import torch

from cornbert import distributed
from cornbert.pretrain import PretrainSettings, pretrain
from cornbert.runtime import run_entry


def main(smk) -> None:
    torch.set_num_threads(max(1, smk.threads))
    settings = PretrainSettings.from_config(smk.params.settings, seed=smk.params.seed)
    job = dict(
        tokens=smk.input.tokens,
        tokenizer_dir=str(Path(smk.input.tokenizer).parent),
        output_dir=smk.output.model,
        metrics_path=smk.output.metrics,
        checkpoint_dir=smk.params.checkpoints,
        settings=asdict(settings),
        model=dict(smk.params.model),
        init_model_dir=str(smk.input.init_model) if smk.input.init_model else None,
    )
    gpus = int(smk.resources.get("gpu", 0))
    if gpus <= 1:
        pretrain(**job)
        return
    distributed.launch_job(
        "cornbert.pretrain", job, gpus, Path(smk.output.metrics).parent, [smk.log[0], str(smk.threads)]
    )


run_entry(main, snakemake)  # noqa: F821
