"""Variants of the laptop recipe on a real set, fine-tuned with several seeds each and scored side by side: what
pretraining budget, pooling and initialisation buy on a real genome (BENCHMARKS.md section 9).

    python bench/sweep.py --data DIR --out DIR [--seeds 3] [--variants NAME ...] [--max-steps N]

DIR holds what a workflow run with the laptop recipe wrote: promoters.fa, targets.tsv, split.tsv
(results/expression/), stage1.tokens (results/corpus/) and stage2/ (results/pretrain/stage2/model: the workflow's
pretrained encoder, with its tokenizer). Settings: config/recipes/laptop.yaml over the schema's defaults, then each
variant's changes. Runs on a GPU when there is one (the lent machine: it has no snakemake, pysam or lightgbm, so
this is the workflow's own training code outside Snakemake) and on CPU otherwise; the laptop recipe's arithmetic
is the same on both (fp32 unless the recipe says bf16).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow_scripts"), str(REPO / "bench")]

from gpu_recipe import fine_tune_seeds, score  # noqa: E402

from cornbert.finetune import FinetuneSettings  # noqa: E402
from cornbert.pretrain import PretrainSettings, pretrain  # noqa: E402
from cornbert.runtime import configure_logging  # noqa: E402

# name: (MLM steps of a fresh pretraining on stage1.tokens, or None for the workflow's stage-2 encoder;
#        start from the pretrained weights?; finetune settings changed from the laptop recipe)
VARIANTS = {
    "laptop": (None, True, {}),
    "laptop_scratch": (None, False, {}),
    "bins4": (None, True, {"pooling_bins": 4}),
    "bins4_scratch": (None, False, {"pooling_bins": 4}),
    "mlm2000_bins4": (2000, True, {"pooling_bins": 4}),
    "mlm2000": (2000, True, {}),
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--max-steps", type=int, help="cap every training stage (a quick check of the paths on CPU)")
    args = parser.parse_args(argv)
    configure_logging(None)
    started = time.perf_counter()
    recipe = yaml.safe_load((REPO / "config" / "recipes" / "laptop.yaml").read_text())
    base = FinetuneSettings.from_config(recipe["finetune"])
    if args.max_steps:
        base = replace(base, max_steps=args.max_steps, eval_interval=1, checkpoint_interval=args.max_steps, warmup_steps=1)
    figures: dict = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", "variants": {}}
    predictions, encoders = {}, {}
    for name in args.variants:
        mlm_steps, pretrained, changes = VARIANTS[name]
        began = time.perf_counter()
        encoder = str(args.data / "stage2")
        if mlm_steps is not None:
            encoder = encoders.get(mlm_steps) or pretrain_longer(args, recipe, mlm_steps, figures)
            encoders[mlm_steps] = encoder
        runs, seconds = fine_tune_seeds(args.data, args.out / name, encoder, pretrained, replace(base, **changes),
                                        args.seeds, lambda: False)  # fmt: skip
        predictions[name] = runs
        figures["variants"][name] = {"finetune_s": [round(s, 1) for s in seconds], "wall_s": time.perf_counter() - began}
    for name, scores in score(args.data, predictions, args.out / "metrics.tsv").items():
        figures["variants"][name]["all"] = scores
    figures["total_s"] = time.perf_counter() - started
    (args.out / "sweep.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))
    return figures


def pretrain_longer(args, recipe: dict, steps: int, figures: dict) -> str:
    """The laptop recipe's stage-1 pretraining run for `steps` MLM steps from scratch; the encoder's directory."""
    out = args.out / f"mlm{steps}"
    settings = recipe["pretraining"] | {"max_steps": args.max_steps or steps, "eval_steps": max(1, steps // 10),
                                        "checkpoint_steps": steps}  # fmt: skip
    began = time.perf_counter()
    loss = pretrain(
        str(args.data / "stage1.tokens"), str(args.data / "stage2"), str(out / "model"), str(out / "metrics.tsv"),
        str(out / "checkpoints"), asdict(PretrainSettings.from_config(settings, seed=42)), recipe["model"],
    )  # fmt: skip
    figures[f"mlm{steps}"] = {"held_out_mlm_loss": loss, "s": time.perf_counter() - began}
    return str(out / "model")


if __name__ == "__main__":
    main()
