"""The `gpu` recipe on a real set, with the workflow's own code but outside Snakemake (the lent GPU machines have no
snakemake, pysam or lightgbm): BPE tokenizer, two-stage masked-LM pretraining, fine-tuning with several seeds,
test-gene predictions of each saved model, scores with bootstrap intervals against const_mean.

    python bench/gpu_recipe.py --data DIR --out DIR [--seeds 3] [--budget-s 300]

DIR holds what a workflow run on the set wrote: promoters.fa, targets.tsv, split.tsv (results/expression/) and
corpus.txt (results/corpus/stage1.txt). Settings: config/recipes/gpu.yaml over the schema's defaults (the dataclass
defaults of PretrainSettings and FinetuneSettings, which a test keeps equal to the schema's). New seeds stop
starting once --budget-s seconds have passed, so the run fits a lease.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow_scripts")]

from cornbert import distributed, finetune  # noqa: E402
from cornbert.fasta import read_fasta  # noqa: E402
from cornbert.finetune import FinetuneJob, FinetuneSettings  # noqa: E402
from cornbert.metrics import evaluate, read_groups  # noqa: E402
from cornbert.predict import predict_sequences  # noqa: E402
from cornbert.pretrain import PretrainSettings, pretrain  # noqa: E402
from cornbert.runtime import configure_logging  # noqa: E402
from cornbert.tables import read_split, read_targets  # noqa: E402
from cornbert.token_store import write_token_store  # noqa: E402
from cornbert.tokenizer import train_tokenizer  # noqa: E402

log = logging.getLogger("gpu_recipe")
VOCAB, MAX_LENGTH, MIN_FREQUENCY = 5000, 256, 2  # the schema's tokenizer defaults (the gpu recipe keeps them)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget-s", type=float, default=300)
    parser.add_argument("--max-steps", type=int, help="cap every training stage (a quick check of the paths on CPU)")
    args = parser.parse_args(argv)
    configure_logging(None)
    started = time.perf_counter()
    recipe = yaml.safe_load((REPO / "config" / "recipes" / "gpu.yaml").read_text())
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    figures: dict = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}

    corpus = [line.strip() for line in open(args.data / "corpus.txt") if line.strip()]
    tokenizer = train_tokenizer(corpus, VOCAB, MIN_FREQUENCY, MAX_LENGTH)
    tokenizer.save_pretrained(out / "tokenizer")
    write_token_store(args.data / "corpus.txt", out / "tokenizer", out / "corpus.tokens")
    if args.max_steps:
        recipe["pretraining"]["max_steps"] = recipe["finetune"]["max_steps"] = args.max_steps
        recipe["finetune"] |= {"eval_interval": 1, "checkpoint_interval": args.max_steps, "warmup_steps": 1}
    pretraining = asdict(PretrainSettings.from_config(recipe["pretraining"], seed=42))
    encoder = None
    for stage in ("stage1", "stage2"):  # one genome: stage 2 continues on the same corpus, as the workflow does
        began = time.perf_counter()
        figures[f"{stage}_mlm_loss"] = pretrain(
            str(out / "corpus.tokens"), str(out / "tokenizer"), str(out / stage / "model"),
            str(out / stage / "metrics.tsv"), str(out / stage / "checkpoints"), pretraining, {"preset": "paper"},
            init_model_dir=encoder,
        )  # fmt: skip
        figures[f"{stage}_s"] = time.perf_counter() - began
        encoder = str(out / stage / "model")

    settings = FinetuneSettings.from_config(recipe["finetune"])
    predictions, fine_tuning_s = fine_tune_seeds(args.data, out, encoder, True, settings, args.seeds,
                                                 lambda: time.perf_counter() - started > args.budget_s)  # fmt: skip
    figures |= {
        "seeds": len(predictions), "finetune_s": fine_tuning_s, "total_s": time.perf_counter() - started,
        "all": score(args.data, {"CornBERT_gpu": predictions}, out / "metrics.tsv")["CornBERT_gpu"],
    }
    (out / "gpu_recipe.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))
    return figures


def fine_tune_seeds(
    data: Path, out: Path, encoder: str, pretrained: bool, settings: FinetuneSettings, seeds: int, out_of_time
) -> tuple[list[pd.DataFrame], list[float]]:
    """Fine-tune with seeds 42, 43, ... (until `out_of_time()` says stop, after at least one) and predict the test
    genes with each saved model: (test predictions per seed, fine-tuning seconds per seed)."""
    split = read_split(data / "split.tsv")
    test = split.index[split == "test"]
    promoters = read_fasta(data / "promoters.fa")
    predictions, seconds = [], []
    for seed in range(42, 42 + seeds):
        if predictions and out_of_time():
            break
        run = out / f"finetune_seed{seed}"
        job = FinetuneJob(
            targets=str(data / "targets.tsv"), split=str(data / "split.tsv"), promoters=str(data / "promoters.fa"),
            tokenizer=encoder, encoder=encoder, pretrained=pretrained, model_dir=str(run / "model"),
            loss_tsv=str(run / "loss.tsv"), loss_png=str(run / "loss.png"), checkpoint_dir=str(run / "checkpoints"),
            settings=settings, seed=seed,
        )  # fmt: skip
        began = time.perf_counter()
        finetune.train(job, distributed.setup())
        seconds.append(time.perf_counter() - began)
        predictions.append(predict_sequences(job.model_dir, {g: promoters[g] for g in test}, batch_size=256))
    return predictions, seconds


def score(data: Path, predictions: dict[str, list[pd.DataFrame]], metrics_tsv: Path) -> dict[str, dict]:
    """Every model's test scores against const_mean (the training mean), with the workflow's bootstrap intervals over
    leakage groups and the spread over seeds; the 'All' rows per model, and metrics.tsv written whole."""
    targets, split = read_targets(data / "targets.tsv"), read_split(data / "split.tsv")
    test = split.index[split == "test"]
    n = len(next(iter(predictions.values())))
    const_mean = pd.DataFrame([targets.loc[split.index[split == "train"]].mean()] * len(test), index=test)
    groups = read_groups(str(data / "split.tsv"), test)
    scored = evaluate(targets.loc[test], {"const_mean": [const_mean] * n} | predictions, groups=groups)
    scored.metrics.to_csv(metrics_tsv, sep="\t", index=False)
    overall = scored.metrics[scored.metrics.tissue == "All"]
    columns = ["value", "ci_low", "ci_high", "sd_replicates"]
    return {
        model: rows.set_index("metric")[columns].round(4).to_dict("index")
        for model, rows in overall.groupby("model")
        if model != "const_mean"
    }


if __name__ == "__main__":
    main()
