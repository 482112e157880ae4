"""How far the demo's findings move between machines and seeds (BENCHMARKS.md section 12).

    python bench/stability.py --run-dir DIR [--out DIR] [--seeds 6] [--kernels default avx2 avx512] [--threads 2]
                              [--other-threads 1] [--ensemble 3] [--label NAME --set KEY=VALUE ...]
    python bench/stability.py --run-dir DIR --check avx2     # does the stored finding hold under these kernels?

DIR is a finished workflow run (the demo: `make demo`, or the directory of the tests' demo run). Both fine-tuned
models of the study, CornBERT (from the run's stage-2 model) and CornBERT_scratch (its architecture, random
weights), are fine-tuned again with the run's own settings (the JSON of its model card) for every seed x kernel
set, each fit in its own process with `ATEN_CPU_CAPABILITY` set: torch then runs the kernels it would pick on a CPU
with only those instructions (plain C++, AVX2, AVX-512), which round differently, the way another machine does.
`--other-threads` adds the seeds again at another torch thread count under the first kernel set. `--set` changes
fine-tuning settings (a candidate for steadier training, stored under `--label`; the run's own: `shipped`).

Every fit's test predictions are scored as rule evaluate_models does (% reduction of const_mean's MSE of
log(TPM+1) over the test genes, 'All' tissues). Reported per model: every fit, the sd across seeds (within each
kernel set), across kernel sets (within each seed) and over all fits; the same for the models the workflow can
report instead, the mean prediction of `--ensemble` fits (disjoint seed sets, so each is independent); and the
paired gap CornBERT - CornBERT_scratch with an interval over test-gene resamples (whole leakage groups) AND fits:
each resample draws a random fit of each model under one kernel set and seed, so the interval says where the gap
of one more run on some other machine would fall, not only where the mean of these fits is.

How large a reported ensemble must be: for k = 1 up to half the seeds, the sd of the score of the mean prediction
of k fits of distinct seeds (random k-subsets of the fits under the first kernel set; subsets of a finite pool
overlap and so vary less than k fresh seeds would, which the finite-population factor (n - 1) / (n - k) on the
variance corrects, exactly for a mean of k draws).

`--motifs N` runs the run's motif discovery (its `motifs` settings and model, rule discover_motifs) on the first N
seeds' fits and counts in how many each planted demo element is found where the demo world planted it: the core
element in the mean over tissues, each contrast's tissue element raising that tissue (a pattern of that sign whose
consensus holds the element or its reverse complement with at most one base wrong, or missing at an end).

`--check K` fine-tunes the first `--ensemble` seeds under kernel set K only and says whether the stored figures'
statements hold there (each model inside its stored range of fits, the gap's sign). Results: bench/results/
stability.json (per label: figures, machine, command); the fits themselves under --out (default $TMPDIR/cornbert-stability).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow_scripts"), str(REPO / "bench")]

import machine  # noqa: E402

from cornbert.metrics import read_groups, resample_weights  # noqa: E402
from cornbert.tables import read_split, read_targets  # noqa: E402

RESULT = REPO / "bench" / "results" / "stability.json"
MODELS = {"CornBERT": "pretrained", "CornBERT_scratch": "scratch"}
KERNEL_SETS = ("default", "avx2", "avx512")


def fit(run_dir: Path, variant: str, seed: int, threads: int, out: Path, changes: dict) -> None:
    """One fine-tuning of `variant` with `seed` at `threads` torch threads (in this process: its kernels are the
    ones ATEN_CPU_CAPABILITY chose when torch started), then the test genes' predictions to out/test.tsv."""
    import torch

    from cornbert import distributed
    from cornbert.fasta import read_fasta
    from cornbert.finetune import FinetuneJob, FinetuneSettings, train
    from cornbert.predict import predict_sequences

    torch.set_num_threads(threads)
    results = run_dir / "results"
    expression = results / "expression"
    job = FinetuneJob(
        targets=str(expression / "targets.tsv"), split=str(expression / "split.tsv"),
        promoters=str(expression / "promoters.fa"), tokenizer=str(results / "tokenizer"),
        encoder=str(results / "pretrain" / "stage2" / "model"), pretrained=variant == "pretrained",
        model_dir=str(out / "model"), loss_tsv=str(out / "loss.tsv"), loss_png=str(out / "loss.png"),
        checkpoint_dir=str(out / "checkpoints"), settings=FinetuneSettings(**run_settings(run_dir) | changes), seed=seed,
    )  # fmt: skip
    train(job, distributed.setup(prefer_cuda=False))
    split = read_split(expression / "split.tsv")
    promoters = read_fasta(expression / "promoters.fa")
    test = {gene: promoters[gene] for gene in split.index[split == "test"]}
    predict_sequences(job.model_dir, test, batch_size=256).to_csv(out / "test.tsv", sep="\t")


def run_settings(run_dir: Path) -> dict:
    """The fine-tuning settings the run used, from the JSON block of its pretrained model's card."""
    card = (run_dir / "results" / "finetune" / "pretrained" / "rep1" / "model" / "README.md").read_text()
    return json.loads(re.search(r"```json\n(.*?)\n```", card, re.S).group(1))


def fits(args, kernels: list[str], seeds: list[int], other_threads: int) -> list[dict]:
    """Every (model, kernel set, threads, seed) fit, each run in its own process unless its predictions exist;
    `other_threads` (0: none) adds the seeds at that thread count under the first kernel set."""
    plan = [(m, k, args.threads, s) for m, k, s in itertools.product(MODELS, kernels, seeds)]
    if other_threads:
        plan += [(m, kernels[0], other_threads, s) for m, s in itertools.product(MODELS, seeds)]
    done = []
    for number, (model, kernel, threads, seed) in enumerate(plan, start=1):
        out = args.out / args.label / f"{model}_{kernel}_t{threads}_seed{seed}"
        if not (out / "test.tsv").exists():
            began = time.perf_counter()
            env = {**os.environ, "ATEN_CPU_CAPABILITY": kernel, "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                   "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO / "workflow_scripts")}  # fmt: skip
            command = [sys.executable, __file__, "--run-dir", str(args.run_dir), "--fit", MODELS[model], str(seed),
                       str(threads), str(out), *(f"--set={c}" for c in args.set)]  # fmt: skip
            with open(args.out / args.label / "fits.log", "a") as log:
                subprocess.run(command, env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
            print(f"[{number}/{len(plan)}] {out.name}: {time.perf_counter() - began:.0f} s", flush=True)
        done.append({"model": model, "kernel": kernel, "threads": threads, "seed": seed, "folder": out,
                     "predictions": pd.read_csv(out / "test.tsv", sep="\t", index_col=0)})  # fmt: skip
    return done


class TestSet:
    """The run's test genes and the squared error per gene of any prediction, resampled as evaluate_models does."""

    def __init__(self, run_dir: Path, n_boot: int):
        expression = run_dir / "results" / "expression"
        targets, split = read_targets(expression / "targets.tsv"), read_split(expression / "split.tsv")
        test = split.index[split == "test"]
        self.observed = targets.loc[test]
        const_mean = targets.loc[split.index[split == "train"]].mean().to_numpy()
        groups = read_groups(str(expression / "split.tsv"), test)
        units = np.arange(len(test)) if groups is None else groups.to_numpy()
        # Row 0 weighs every gene once (the figure itself), the others are resamples of whole groups.
        self.weights = np.vstack([np.ones((1, len(test)))] + list(resample_weights(units, n_boot, seed=0)))
        self.reference = self.mse(np.broadcast_to(const_mean, self.observed.shape))  # [1 + n_boot]

    def mse(self, predicted: np.ndarray) -> np.ndarray:
        """'All' MSE of log(TPM+1) (mean over tissues of each tissue's mean over genes) per resample."""
        per_gene = ((predicted - self.observed.to_numpy(float)) ** 2).mean(axis=1)
        return self.weights @ per_gene / self.weights.sum(axis=1)

    def reduction(self, predictions: list[pd.DataFrame]) -> np.ndarray:
        """% reduction of const_mean's MSE by the mean prediction of `predictions`, per resample."""
        mean = np.mean([p.loc[self.observed.index, self.observed.columns].to_numpy(float) for p in predictions], axis=0)
        return 100 * (self.reference - self.mse(mean)) / self.reference


def ensemble_sizes(test: TestSet, predictions: list[pd.DataFrame], draws: int = 200) -> dict:
    """Per ensemble size k: mean and sd of the score of k fits' mean prediction over random k-subsets of the fits,
    the variance scaled by the finite-population factor (see the module's docstring)."""
    rng = np.random.default_rng(0)
    n, sizes = len(predictions), {}
    for k in range(1, n // 2 + 1):
        subsets = sorted({tuple(sorted(rng.choice(n, k, replace=False))) for _ in range(draws)})
        values = np.array([test.reduction([predictions[i] for i in subset])[0] for subset in subsets])
        sd = float(values.std(ddof=1) * math.sqrt((n - 1) / (n - k)))
        sizes[str(k)] = {"mean": round(float(values.mean()), 2), "sd": round(sd, 2), "subsets": len(subsets)}
    return sizes


def spread(values: pd.DataFrame, column: str) -> dict:
    """sd of `column` over all fits, across seeds (within each kernel set, averaged) and across kernel sets (within
    each seed, averaged); NaN where a group has one fit."""

    def within(by: str) -> float:
        return round(float(values.groupby(by)[column].std(ddof=1).mean()), 2)

    return {
        "mean": round(float(values[column].mean()), 2),
        "sd_all": round(float(values[column].std(ddof=1)), 2),
        "sd_across_seeds": within("kernel"),
        "sd_across_kernels": within("seed"),
        "min": round(float(values[column].min()), 2),
        "max": round(float(values[column].max()), 2),
        "n": int(len(values)),
    }


def summarise(runs: list[dict], test: TestSet, ensemble: int, threads: int) -> dict:
    main = [r for r in runs if r["threads"] == threads]
    for run in runs:
        run["reduction"] = test.reduction([run["predictions"]])
    table = pd.DataFrame([{k: r[k] for k in ("model", "kernel", "threads", "seed")} | {"value": r["reduction"][0]}
                          for r in runs])  # fmt: skip
    figures: dict = {"fits": table.round(3).to_dict("records"), "single": {}, "ensemble": {}, "gaps": {}}
    for model in MODELS:
        figures["single"][model] = spread(table[(table.model == model) & (table.threads == threads)], "value")
        if (table.threads != threads).any():
            other = table[(table.model == model) & (table.threads != threads)].merge(
                table[(table.model == model) & (table.threads == threads)], on=["kernel", "seed"])
            figures["single"][model]["mean_abs_change_other_threads"] = round(
                float((other.value_x - other.value_y).abs().mean()), 2)
    # Ensembles: consecutive seeds in groups of `ensemble`, per kernel set.
    seeds = sorted({r["seed"] for r in main})
    members = {}
    for run in main:
        group = seeds.index(run["seed"]) // ensemble
        if (group + 1) * ensemble <= len(seeds):
            members.setdefault((run["model"], run["kernel"], group), []).append(run["predictions"])
    rows = []
    for (model, kernel, group), predictions in members.items():
        draws = test.reduction(predictions)
        rows.append({"model": model, "kernel": kernel, "seed": group, "value": draws[0], "draws": draws})
    ensembles = pd.DataFrame(rows)
    for model in MODELS:
        if len(ensembles):
            figures["ensemble"][model] = spread(ensembles[ensembles.model == model], "value")
        first = [r["predictions"] for r in main if r["model"] == model and r["kernel"] == main[0]["kernel"]]
        figures.setdefault("ensemble_sizes", {})[model] = ensemble_sizes(test, first)
    # Paired gap with an interval over resamples and fits: resample b pairs a random fit of each model that share
    # a kernel set and seed (the same machine and seed), scored on the same genes.
    rng = np.random.default_rng(0)
    for label, pool in (("single", main), ("ensemble", rows)):
        by_model = {m: {(r["kernel"], r["seed"]): (r["reduction"] if label == "single" else r["draws"])
                        for r in pool if r["model"] == m} for m in MODELS}  # fmt: skip
        keys = sorted(set(by_model["CornBERT"]) & set(by_model["CornBERT_scratch"]))
        if not keys:
            continue
        gaps = np.array([by_model["CornBERT"][k] - by_model["CornBERT_scratch"][k] for k in keys])  # [fits, 1 + n_boot]
        drawn = gaps[rng.integers(len(keys), size=gaps.shape[1] - 1), np.arange(1, gaps.shape[1])]
        low, high = np.percentile(drawn, [2.5, 97.5])
        figures["gaps"][f"CornBERT - CornBERT_scratch ({label})"] = {
            "mean": round(float(gaps[:, 0].mean()), 2), "low": round(float(low), 2), "high": round(float(high), 2),
            "fits_with_cornbert_ahead": f"{int((gaps[:, 0] > 0).sum())} of {len(keys)}",
            "resolved": bool(low > 0 or high < 0),
        }  # fmt: skip
    return figures


def run_config(run_dir: Path) -> dict:
    """The run's config over its recipe, as the workflow reads it (the keys neither sets are the dataclasses'
    defaults, which are the schema's)."""
    from cornbert.recipes import with_recipe

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())["properties"]
    config = yaml.safe_load((run_dir / "config" / "config.yaml").read_text())
    config.setdefault("seed", schema["seed"]["default"])
    return with_recipe(config, REPO / "config" / "recipes", schema["recipe"]["default"])


def planted_found(table: pd.DataFrame, contrasts: list[str]) -> dict[str, bool]:
    """Which planted demo elements a motif table holds where they were planted (see the module's docstring)."""
    from cornbert.demo_world import CORE_SEQUENCE, TISSUE_ELEMENTS
    from cornbert.fasta import reverse_complement

    def holds(consensus: str, element: str) -> bool:
        # Trimming can cut a motif's weak end base, so one base of the element missing at an end counts like one
        # mismatch: at most one of the element's bases wrong or missing.
        for word in (element, reverse_complement(element)):
            for offset in range(-1, len(consensus) - len(word) + 2):
                pairs = [(consensus[offset + i], base) for i, base in enumerate(word) if 0 <= offset + i < len(consensus)]
                if len(word) - sum(a == b for a, b in pairs) <= 1:
                    return True
        return False

    def found(attribution: str, element: str) -> bool:
        rows = table[(table.attribution == attribution) & (table.sign == "+")]
        return any(holds(consensus, element) for consensus in rows.consensus)

    elements = {"core element, mean over tissues": found("mean over tissues", CORE_SEQUENCE)}
    for tissue in contrasts:
        for element in TISSUE_ELEMENTS:
            if tissue in element.effect:
                elements[f"{element.name} raising {tissue}"] = found(f"{tissue} vs mean", element.sequence)
    return elements


def motif_frequency(args, runs: list[dict]) -> dict:
    """Motif discovery on the first `args.motifs` seeds' fits of the run's motif model; per planted element, the
    fits that find it."""
    from cornbert.fasta import read_fasta
    from cornbert.motifs import MotifSettings, run

    config = run_config(args.run_dir)
    settings = MotifSettings(**config["motifs"])
    if settings.model not in MODELS:
        sys.exit(f"motifs.model of {args.run_dir} is {settings.model}: --motifs needs one of {', '.join(MODELS)}")
    expression = args.run_dir / "results" / "expression"
    promoters, split = read_fasta(expression / "promoters.fa"), read_split(expression / "split.tsv")
    first = runs[0]  # the first kernel set and thread count
    chosen = sorted((r for r in runs if (r["model"], r["kernel"], r["threads"]) == (settings.model, first["kernel"],
                     first["threads"])), key=lambda r: r["seed"])[: args.motifs]  # fmt: skip
    found: dict[str, list[int]] = {}
    for fitted in chosen:
        motifs = fitted["folder"] / "motifs"
        if not (motifs / "motifs.tsv").exists():
            began = time.perf_counter()
            run(fitted["folder"] / "model", promoters, expression / "promoters.fa", split, settings, config["seed"],
                motifs / "motifs.tsv", motifs / "logos.png", motifs / "attributions.npz", motifs / "modisco.h5",
                device="cpu")  # fmt: skip
            print(f"motifs of {fitted['folder'].name}: {time.perf_counter() - began:.0f} s", flush=True)
        for element, hit in planted_found(pd.read_csv(motifs / "motifs.tsv", sep="\t"), settings.contrasts).items():
            found.setdefault(element, []).extend([fitted["seed"]] if hit else [])
    return {"model": settings.model, "seeds": [r["seed"] for r in chosen],
            "found": {element: f"{len(seeds)} of {len(chosen)} fits" for element, seeds in found.items()},
            "seeds_finding": found}  # fmt: skip


def check(args, stored: dict) -> bool:
    """Fine-tune the first `ensemble` seeds under kernel set args.check; do the stored statements hold?"""
    runs = fits(args, [args.check], list(range(42, 42 + args.ensemble)), other_threads=0)  # stored: one count
    test = TestSet(args.run_dir, n_boot=0)
    holds = True
    for model in MODELS:
        values = [test.reduction([r["predictions"]])[0] for r in runs if r["model"] == model]
        low, high = stored["single"][model]["min"], stored["single"][model]["max"]
        inside = all(low - 0.5 <= v <= high + 0.5 for v in values)
        ensemble = test.reduction([r["predictions"] for r in runs if r["model"] == model])[0]
        stored_ensemble = stored["ensemble"].get(model, {})
        print(f"{model}: fits {', '.join(f'{v:.1f}' for v in values)} % (stored range {low:.1f} to {high:.1f}: "
              f"{'inside' if inside else 'OUTSIDE'}); mean of the {len(values)} fits {ensemble:.1f} % "
              f"(stored ensembles {stored_ensemble.get('min', float('nan')):.1f} to "
              f"{stored_ensemble.get('max', float('nan')):.1f})")  # fmt: skip
        holds &= inside
    gap = stored["gaps"].get("CornBERT - CornBERT_scratch (single)")
    if gap:
        verdict = "resolved" if gap["resolved"] else "not resolved"
        print(f"stored: CornBERT - CornBERT_scratch {gap['mean']:+.1f} points "
              f"({gap['low']:+.1f} to {gap['high']:+.1f}, {verdict})")  # fmt: skip
    print(f"the stored statements {'hold' if holds else 'do NOT hold'} under {args.check}")
    return holds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "cornbert-stability")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--kernels", nargs="+", choices=KERNEL_SETS, default=list(KERNEL_SETS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--other-threads", type=int, default=1, help="0: none")
    parser.add_argument("--ensemble", type=int, default=3)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--check", choices=KERNEL_SETS)
    parser.add_argument("--motifs", type=int, default=0, metavar="N", help="motif discovery on N fits (0: none)")
    parser.add_argument("--label", default="shipped")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a fine-tuning setting")
    parser.add_argument("--fit", nargs=4, metavar=("VARIANT", "SEED", "THREADS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    changes = {key: yaml.safe_load(value) for key, value in (c.split("=", 1) for c in args.set)}
    if args.fit:
        variant, seed, threads, out = args.fit
        fit(args.run_dir, variant, int(seed), int(threads), Path(out), changes)
        return
    (args.out / args.label).mkdir(parents=True, exist_ok=True)
    stored = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    if args.check:
        figures = stored[args.label]["figures"]
        args.set = [f"{key}={json.dumps(value)}" for key, value in figures["changes"].items()]
        sys.exit(0 if check(args, figures) else 1)
    began = time.perf_counter()
    where = machine.machine()  # before the fits: the load average of an idle machine, or not
    runs = fits(args, args.kernels, list(range(42, 42 + args.seeds)), args.other_threads)
    figures = summarise(runs, TestSet(args.run_dir, args.n_boot), args.ensemble, args.threads)
    figures["changes"], figures["settings"] = changes, run_settings(args.run_dir) | changes
    if args.motifs:
        figures["motifs"] = motif_frequency(args, runs)
    entry = {"figures": figures, "machine": where,
             "command": " ".join(["python bench/stability.py", *(argv or sys.argv[1:])]),
             "wall_s": round(time.perf_counter() - began), "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    RESULT.write_text(json.dumps(stored | {args.label: entry}, indent=1) + "\n")
    for kind in ("single", "ensemble"):
        for model, s in figures[kind].items():
            print(f"{kind:8s} {model:16s} mean {s['mean']:6.2f} %  sd {s['sd_all']:.2f} "
                  f"(seeds {s['sd_across_seeds']:.2f}, kernels {s['sd_across_kernels']:.2f})  "
                  f"range {s['min']:.1f} to {s['max']:.1f}  n={s['n']}")  # fmt: skip
    for name, gap in figures["gaps"].items():
        print(f"{name}: {gap['mean']:+.2f} points ({gap['low']:+.2f} to {gap['high']:+.2f}); "
              f"CornBERT ahead in {gap['fits_with_cornbert_ahead']}")  # fmt: skip
    for model, sizes in figures["ensemble_sizes"].items():
        print(f"ensembles of k fits, {model}: " + ", ".join(f"k={k} {v['mean']:.1f} (sd {v['sd']:.2f})"
                                                       for k, v in sizes.items()))  # fmt: skip
    for element, count in figures.get("motifs", {}).get("found", {}).items():
        print(f"motifs of {figures['motifs']['model']}: {element}: {count}")


if __name__ == "__main__":
    main()
