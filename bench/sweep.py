"""Variants of the laptop recipe on a real set (or a finished demo run), fine-tuned with several seeds each and
scored side by side: what pretraining budget, pooling, initialisation and training length buy (BENCHMARKS.md
sections 9 and 11).

    python bench/sweep.py --data DIR --out DIR [--seeds 3] [--variants NAME ...] [--max-steps N]

DIR holds what a workflow run with the laptop recipe wrote: promoters.fa, targets.tsv, split.tsv
(results/expression/), stage1.tokens (results/corpus/), tokenizer/ (results/tokenizer/) and stage2/ (results/pretrain/stage2/model: the workflow's
pretrained encoder, with its tokenizer). Settings: config/recipes/laptop.yaml over the schema's defaults, then each
variant's changes. Runs on a GPU when there is one (the lent machine: it has no snakemake, pysam or lightgbm, so
this is the workflow's own training code outside Snakemake) and on CPU otherwise; the laptop recipe's arithmetic
is the same on both (fine-tuning in fp32 here, as on a CPU).
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

from cornbert.fasta import read_fasta  # noqa: E402
from cornbert.finetune import FinetuneSettings  # noqa: E402
from cornbert.pretrain import PretrainSettings, pretrain  # noqa: E402
from cornbert.runtime import configure_logging  # noqa: E402
from cornbert.fasta import reverse_complement  # noqa: E402
from cornbert.tables import read_split  # noqa: E402
from cornbert.token_store import write_token_store  # noqa: E402

# name: (encoder: None for the workflow's stage-2 model, else a fresh pretraining (corpus, MLM steps);
#        start from the pretrained weights?; finetune settings changed from the laptop recipe).
# Corpora: "proximal" is the workflow's stage-1 token store (each promoter's gene-proximal max_length tokens);
# "windows" cuts every train/validation promoter into WINDOWS consecutive pieces on both strands, so MLM sees the
# whole 1 kb and its reverse complement (6x the tokens of "proximal").
VARIANTS = {
    "mean": (None, True, {"pooling_bins": 1}),
    "mean_scratch": (None, False, {"pooling_bins": 1}),
    "bins4": (None, True, {"pooling_bins": 4}),
    "bins4_scratch": (None, False, {"pooling_bins": 4}),
    "mlm4000_bins4": (("proximal", 4000), True, {"pooling_bins": 4}),
    "windows_mlm4000_bins4": (("windows", 4000), True, {"pooling_bins": 4}),
    "mlm4000_mean": (("proximal", 4000), True, {"pooling_bins": 1}),
    # The demo's fine-tuning (mean pooling) with fewer steps.
    "mean_steps300": (None, True, {"pooling_bins": 1, "max_steps": 300}),
    "mean_scratch_steps300": (None, False, {"pooling_bins": 1, "max_steps": 300}),
    "mean_steps200": (None, True, {"pooling_bins": 1, "max_steps": 200}),
    "mean_scratch_steps200": (None, False, {"pooling_bins": 1, "max_steps": 200}),
}
WINDOWS = 3


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--max-steps", type=int, help="cap every training stage (a quick check of the paths on CPU)")
    parser.add_argument("--budget-s", type=float, default=1e9, help="start no new variant after this many seconds")
    args = parser.parse_args(argv)
    configure_logging(None)
    started = time.perf_counter()
    recipe = yaml.safe_load((REPO / "config" / "recipes" / "laptop.yaml").read_text())
    # fp32 everywhere, so that a sweep on a lent GPU measures the arithmetic the laptop recipe runs on a CPU.
    base = replace(FinetuneSettings.from_config(recipe["finetune"]), bf16=False)
    if args.max_steps:
        base = replace(base, max_steps=args.max_steps, eval_interval=1, checkpoint_interval=args.max_steps, warmup_steps=1)
    figures: dict = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", "variants": {}}
    predictions, encoders = {}, {}
    for name in args.variants:
        if time.perf_counter() - started > args.budget_s:
            break
        pretraining, pretrained, changes = VARIANTS[name]
        began = time.perf_counter()
        encoder = str(args.data / "stage2")
        if pretraining is not None:
            encoder = encoders.get(pretraining) or pretrain_again(args, recipe, *pretraining, figures)
            encoders[pretraining] = encoder
        runs, seconds = fine_tune_seeds(args.data, args.out / name, encoder, pretrained, replace(base, **changes),
                                        args.seeds, lambda: False)  # fmt: skip
        predictions[name] = runs
        figures["variants"][name] = {"finetune_s": [round(s, 1) for s in seconds], "wall_s": time.perf_counter() - began}
    for name, scores in score(args.data, predictions, args.out / "metrics.tsv").items():
        figures["variants"][name]["all"] = scores
    figures["total_s"] = time.perf_counter() - started
    (args.out / "sweep.json").write_text(json.dumps(figures, indent=1) + "\n")
    for name, variant in figures["variants"].items():
        mse, rho = variant["all"]["pct_reduction_mse_log"], variant["all"]["spearman"]
        print(f"{name:24s} MSE(log) reduction {mse['value']:6.2f} % ({mse['ci_low']:.2f} to {mse['ci_high']:.2f}, "
              f"sd {mse['sd_replicates']:.2f})  Spearman {rho['value']:.3f}  {variant['wall_s']:.0f} s")  # fmt: skip
    return figures


def pretrain_again(args, recipe: dict, corpus: str, steps: int, figures: dict) -> str:
    """The laptop recipe's pretraining from scratch on `corpus` for `steps` MLM steps; the encoder's directory."""
    out = args.out / f"{corpus}_mlm{steps}"
    tokens = args.data / "stage1.tokens"
    if corpus == "windows":
        tokens = window_store(args.data, out)
    settings = recipe["pretraining"] | {"max_steps": args.max_steps or steps, "eval_steps": max(1, steps // 10),
                                        "checkpoint_steps": steps}  # fmt: skip
    began = time.perf_counter()
    loss = pretrain(
        str(tokens), str(args.data / "tokenizer"), str(out / "model"), str(out / "metrics.tsv"),
        str(out / "checkpoints"), asdict(PretrainSettings.from_config(settings, seed=42)), recipe["model"],
    )  # fmt: skip
    figures[f"{corpus}_mlm{steps}"] = {"held_out_mlm_loss": loss, "s": time.perf_counter() - began}
    return str(out / "model")


def window_store(data: Path, out: Path) -> Path:
    """A token store of every train/validation promoter cut into WINDOWS pieces, each on both strands."""
    split = read_split(data / "split.tsv")
    promoters = read_fasta(data / "promoters.fa")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.txt", "w") as corpus:
        for gene in split.index[split != "test"]:
            sequence = promoters[gene].upper()
            size = -(-len(sequence) // WINDOWS)
            for start in range(0, len(sequence), size):
                piece = sequence[start : start + size]
                corpus.write(f"{piece}\n{reverse_complement(piece)}\n")
    write_token_store(out / "corpus.txt", data / "tokenizer", out / "corpus.tokens")
    return out / "corpus.tokens"


if __name__ == "__main__":
    main()
