"""Rule pretrain_model: masked-LM pretraining of one stage, data-parallel over the job's GPUs when it has several."""

from dataclasses import asdict
from pathlib import Path

from cornbert import distributed
from cornbert.pretrain import PretrainSettings, pretrain
from cornbert.runtime import run_entry


def main(smk) -> None:
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
    workdir = Path(smk.output.metrics).parent
    distributed.run_job(
        "cornbert.pretrain", job, lambda: pretrain(**job), smk.resources, smk.threads, workdir, smk.log[0]
    )


run_entry(main, snakemake)  # noqa: F821
