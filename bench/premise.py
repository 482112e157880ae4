"""The study's premise on real data: does masked-LM pretraining on many plant genomes make the fine-tuned model more
accurate, and at which label budget? (issue "Test the study's premise"; BENCHMARKS.md section 13)

    python bench/premise.py --run-dir DIR [--out DIR] [--recipe laptop] [--seeds 3] [--budgets 1.0 0.3 0.1]
                            [--mlm-steps 4000] [--set KEY=VALUE ...] [--max-steps N]

DIR is a finished workflow run on the real Arabidopsis TAIR10 Chr5 set in genome mode (`bench/run.py accuracy
--sets arabidopsis_genome` leaves one in WORKDIR/accuracy_genome). Its split, targets, promoters and corpora are
the target's; this script adds:

1. **The multi-species corpus, built by the workflow itself** (Snakemake in OUT/corpus_multi, target
   results/corpus/stage1.txt): every other real plant sequence in ../shared/data, i.e. A. arenosa chromosomes 1-2
   (NCBI's annotation: promoters), A. lyrata and a second A. arenosa assembly (unannotated: 1-kb genome windows,
   rule cut_windows), and three sequence sets (rule prepare_sequence_set): the 7,000 grass and Arabidopsis
   regulatory windows of the Plant Genomic Benchmark, the STARR-seq core promoters of Jores et al. 2021 and the
   maize NAM promoters. Stage 1 leaves out every sequence near-identical to any Chr5 promoter (MMseqs2, the
   workflow's `exclude_test_genes`), stage 2 is the run's own target corpus (Chr5 minus the test genes' groups), so
   nothing the fine-tuned model descends from has seen a test promoter.
2. **Encoders**, stage 1 from random weights then stage 2 on the target corpus with the recipe's settings, all with
   one tokenizer (the recipe's, trained on the target corpus as the run's was), so that only the corpus differs:
   `chr5_recipe` (stage 1 on the target chromosome with the recipe's budget: what the workflow trains today),
   `chr5_long` (the target chromosome, `--mlm-steps` steps), `multi_long` (the multi-species corpus, the same steps).
3. **Diagnostics per encoder**: the masked-LM loss on the test promoters (seen by no corpus) against the unigram
   cross-entropy of the same tokens (each token guessed by its frequency in the corpus, no context), and
   frozen-feature ridge probes (bench/diagnose.py) at every label budget, beside a random encoder's.
4. **Fine-tuning at label budgets**: 100 %, 30 %, 10 % of the training genes (one seeded draw, nested, the same for
   every start; validation and test genes unchanged), from each encoder and from random weights
   (CornBERT_scratch), `--seeds` seeds each, the recipe's fine-tuning settings (`--set` changes them).

Scores: % reduction of const_mean's MSE of log(TPM+1) (the mean over the full training set; 'All' tissues) on the
test genes. Intervals: 95 % bootstrap over the split's leakage groups; a gap between two starts also resamples
their seeds (each resample draws as many fits of each start, with replacement), so it includes the seed spread.
Results: bench/results/premise_<recipe>.json and bench/figures/premise_<recipe>.png; the fits under --out (default
$TMPDIR/cornbert-premise), reused when the script runs again. On a GPU (the lent machine) `--recipe gpu` runs the
same comparison with that recipe's model and budgets; steps 1 needs Snakemake, so build OUT here and carry it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow_scripts"), str(REPO / "bench")]

import machine  # noqa: E402
import realdata  # noqa: E402
from diagnose import pooled_features, ridge_predictions  # noqa: E402

from cornbert import distributed, finetune  # noqa: E402
from cornbert.fasta import read_fasta  # noqa: E402
from cornbert.finetune import FinetuneJob, FinetuneSettings  # noqa: E402
from cornbert.metrics import read_groups, resample_weights  # noqa: E402
from cornbert.predict import predict_sequences  # noqa: E402
from cornbert.pretrain import MaskedLMLoss, PretrainSettings, _eval_batches, evaluate, pretrain  # noqa: E402
from cornbert.runtime import configure_logging  # noqa: E402
from cornbert.tables import read_split, read_targets  # noqa: E402
from cornbert.token_store import open_token_store, write_token_store  # noqa: E402
from cornbert.tokenizer import load_tokenizer, read_corpus, train_tokenizer  # noqa: E402

TARGET = "ath_chr5"
# Encoders: (stage-1 corpus, stage-1 steps: None = the recipe's own budget).
ENCODERS = {"chr5_recipe": ("chr5", None), "chr5_long": ("chr5", "long"), "multi_long": ("multi", "long")}
MIN_FREQUENCY = 2  # the schema's tokenizer default, which no recipe changes


# --- 1. the corpora ------------------------------------------------------------------------------------------
def write_sources(folder: Path) -> tuple[dict, dict]:
    """The other real plant DNA of ../shared/data as workflow inputs: ({genome: entry}, {sequence set: entry})."""
    folder.mkdir(parents=True, exist_ok=True)
    data = realdata.DATA
    genomes = {
        "aare_chr1_2": {"fasta": str(data / "arabidopsis_arenosa_aare701a_chr1_chr2" / "genome.fna.gz"),
                        "gff": str(data / "arabidopsis_arenosa_aare701a_chr1_chr2" / "genes.gff3.gz")},
        "alyr_chr1_2": {"fasta": str(data / "arabidopsis_relatives_unannotated" / "a_lyrata_petraea_ALyr_1.0_chr1_chr2.fna.gz")},
        "aare_uio_chr1_2": {"fasta": str(data / "arabidopsis_relatives_unannotated" / "a_arenosa_UiO_Aaren_v1.0_chr1_chr2.fna.gz")},
    }  # fmt: skip
    pgb = {}
    for path in sorted((data / "pgb_chromatin_access_7species").glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as handle:
            for number, line in enumerate(handle):
                pgb[f"{path.name.split('.')[0]}_{number}"] = json.loads(line)["sequence"]
    starr = {}
    jores = realdata.JORES
    for path in (jores / "CNN_test_leaf.tsv.gz", jores / "CNN_test_proto.tsv.gz"):
        table = pd.read_csv(path, sep="\t")
        starr |= dict(zip(table.sequence, table.gene + "_" + table.sp))
    for path in sorted((jores / "pgb10k_subset_omnigenbench").glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as handle:
            starr |= {row["sequence"]: row["name"] for row in map(json.loads, handle)}
    nam = realdata.maize_nam_table()
    sets = {
        "pgb_windows": ({k: v for k, v in pgb.items()}, "Plant Genomic Benchmark: 1-kb windows of 7 species"),
        "starr_core_promoters": ({f"core{i}": s for i, s in enumerate(starr)},
                                 "Jores et al. 2021: 170-bp core promoters of Arabidopsis, maize and sorghum"),
        "maize_nam_promoters": (dict(zip(nam.gene_id.astype(str) + "_" + nam.index.astype(str), nam.seq)),
                                "FloraBERT: 1-kb promoters of 26 maize NAM lines"),
    }  # fmt: skip
    entries = {}
    for name, (records, description) in sets.items():
        path = folder / f"{name}.fa"
        if not path.is_file():
            path.write_text("".join(f">{key}\n{sequence.upper()}\n" for key, sequence in records.items()))
        entries[name] = {"fasta": str(path), "description": description}
    return genomes, entries


def multi_species_corpus(args) -> Path:
    """Stage 1 of a workflow run whose stage 1 lists every other source: its corpus, filtered for leakage."""
    work = args.out / "corpus_multi"
    config = yaml.safe_load((args.run_dir / "inputs" / "arabidopsis_genome.yaml").read_text())
    genomes, sets = write_sources(work / "inputs")
    config["genomes"] |= genomes
    config["sequence_sets"] = sets
    config["pretraining"] = {"stage1": [*genomes, *sets], "stage2": [TARGET]}
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    outputs = ["results/corpus/stage1.txt", "results/corpus/stage1.sources.tsv", "results/corpus/corpus_stats.tsv"]
    command = [str(REPO / ".venv" / "bin" / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(work), "--configfile", str(work / "config.yaml"), "--cores", str(args.cores), "--", *outputs]  # fmt: skip
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, check=True)
    return work / "results" / "corpus"


# --- 2. the encoders -----------------------------------------------------------------------------------------
def recipe_settings(args) -> dict:
    recipe = yaml.safe_load((REPO / "config" / "recipes" / f"{args.recipe}.yaml").read_text())
    if args.max_steps:  # a quick check of every path
        recipe["pretraining"] |= {"max_steps": args.max_steps, "eval_steps": 1, "checkpoint_steps": args.max_steps}
        recipe["finetune"] |= {"max_steps": args.max_steps, "eval_interval": 1, "checkpoint_interval": args.max_steps,
                               "warmup_steps": 1}  # fmt: skip
    return recipe


def encoders(args, recipe: dict, tokenizer_dir: Path, stores: dict[str, Path], figures: dict) -> dict[str, Path]:
    """Each encoder's stage-2 model folder, pretrained unless it exists; their held-out MLM losses in figures."""
    folders = {}
    for name, (corpus, budget) in ENCODERS.items():
        out = args.out / "encoders" / name
        settings = dict(recipe["pretraining"])
        if budget == "long":
            steps = args.max_steps or args.mlm_steps
            settings |= {"max_steps": steps, "eval_steps": max(1, steps // 10), "checkpoint_steps": steps}
        for stage, store, init in (("stage1", stores[corpus], None), ("stage2", stores["target"], out / "stage1" / "model")):
            if not (out / stage / "done").is_file():
                began = time.perf_counter()
                run = settings if stage == "stage1" else recipe["pretraining"]
                loss = pretrain(str(store), str(tokenizer_dir), str(out / stage / "model"), str(out / stage / "metrics.tsv"),
                                str(out / stage / "checkpoints"), asdict(PretrainSettings.from_config(run, seed=42)),
                                recipe["model"], init_model_dir=str(init) if init else None)  # fmt: skip
                (out / stage / "done").write_text(json.dumps({"held_out_mlm_loss": loss, "s": time.perf_counter() - began}))
            figures.setdefault("pretraining", {})[f"{name}/{stage}"] = json.loads((out / stage / "done").read_text())
        folders[name] = out / "stage2" / "model"
    return folders


@torch.no_grad()
def masked_lm_loss(model_dir: Path, store: Path, tokenizer) -> float:
    """Masked-LM loss per masked token over every sequence of `store`, the same masks for every model."""
    from transformers import RobertaForMaskedLM

    model = RobertaForMaskedLM.from_pretrained(model_dir).eval()
    tokens = open_token_store(store, model_dir)  # the model folder carries the tokenizer it was trained with
    run = PretrainSettings.from_config({"micro_batch_size": 64}, seed=0)
    context = distributed.Context(rank=0, world_size=1, device=torch.device("cpu"))
    batches = _eval_batches(tokenizer, tokens, np.arange(len(tokens)), run, context)
    return evaluate(MaskedLMLoss(model), batches, context, nullcontext())


def unigram_cross_entropy(test_store: Path, corpus_store: Path, tokenizer_dir: Path, vocabulary: int) -> float:
    """Nats per token of guessing each test token by its frequency in the corpus (add-one smoothed)."""
    counts = np.ones(vocabulary)
    corpus = open_token_store(corpus_store, tokenizer_dir)
    for i in range(len(corpus)):
        counts += np.bincount(corpus.promoter(i), minlength=vocabulary)
    test = open_token_store(test_store, tokenizer_dir)
    ids = np.concatenate([test.promoter(i) for i in range(len(test))])
    special = set(load_tokenizer(tokenizer_dir).all_special_ids)
    ids = ids[~np.isin(ids, list(special))]
    return float(-np.log(counts[ids] / counts.sum()).mean())


# --- 3. fine-tuning at label budgets -------------------------------------------------------------------------
def budget_data(args, expression: Path, budget: float) -> Path:
    """A data folder whose training genes are the first `budget` of one seeded permutation (nested budgets)."""
    folder = args.out / "data" / f"train{round(100 * budget)}"
    if (folder / "split.tsv").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    split = pd.read_csv(expression / "split.tsv", sep="\t", dtype={"gene_id": str}).set_index("gene_id")
    train = split.index[split.split == "train"]
    order = np.random.default_rng(0).permutation(len(train))
    kept = set(train[order[: math.ceil(budget * len(train))]])
    keep = [g for g in split.index if split.loc[g, "split"] != "train" or g in kept]
    split.loc[keep].to_csv(folder / "split.tsv", sep="\t")
    targets = pd.read_csv(expression / "targets.tsv", sep="\t", dtype={"gene_id": str}).set_index("gene_id")
    targets.loc[targets.index.intersection(keep)].to_csv(folder / "targets.tsv", sep="\t")
    os.symlink(expression / "promoters.fa", folder / "promoters.fa")
    return folder


def fit(data: Path, out: Path, encoder: Path, pretrained: bool, settings: FinetuneSettings, seed: int,
        test: dict[str, str]) -> pd.DataFrame:  # fmt: skip
    """One fine-tuning and its test-gene predictions (reused when they exist)."""
    if not (out / "test.tsv").is_file():
        job = FinetuneJob(
            targets=str(data / "targets.tsv"), split=str(data / "split.tsv"), promoters=str(data / "promoters.fa"),
            tokenizer=str(encoder), encoder=str(encoder), pretrained=pretrained, model_dir=str(out / "model"),
            loss_tsv=str(out / "loss.tsv"), loss_png=str(out / "loss.png"), checkpoint_dir=str(out / "checkpoints"),
            settings=settings, seed=seed,
        )  # fmt: skip
        finetune.train(job, distributed.setup())
        predict_sequences(job.model_dir, test, batch_size=256).to_csv(out / "test.tsv", sep="\t")
        shutil.rmtree(out / "model")  # 45 fits x a model: only the predictions are scored
    return pd.read_csv(out / "test.tsv", sep="\t", index_col=0)


class Scores:
    """% reduction of const_mean's MSE (full training mean) on the test genes, per bootstrap resample of groups."""

    def __init__(self, expression: Path, n_boot: int):
        targets, split = read_targets(expression / "targets.tsv"), read_split(expression / "split.tsv")
        test = split.index[split == "test"]
        self.observed = targets.loc[test]
        groups = read_groups(str(expression / "split.tsv"), test)
        units = np.arange(len(test)) if groups is None else groups.to_numpy()
        self.weights = np.vstack([np.ones((1, len(test)))] + list(resample_weights(units, n_boot, seed=0)))
        mean = targets.loc[split.index[split == "train"]].mean().to_numpy()
        self.reference = self.mse(np.broadcast_to(mean, self.observed.shape))

    def mse(self, predicted: np.ndarray) -> np.ndarray:
        per_gene = ((predicted - self.observed.to_numpy(float)) ** 2).mean(axis=1)
        return self.weights @ per_gene / self.weights.sum(axis=1)

    def reduction(self, prediction: pd.DataFrame) -> np.ndarray:  # [1 + n_boot]
        values = prediction.loc[self.observed.index, self.observed.columns].to_numpy(float)
        return 100 * (self.reference - self.mse(values)) / self.reference


def interval(values: np.ndarray) -> list[float]:
    """[the figure (resample 0), 2.5 and 97.5 percentiles of the resamples]."""
    return [round(float(values[0]), 2), *np.round(np.percentile(values[1:], [2.5, 97.5]), 2).tolist()]


def summarise(scores: Scores, fits: dict[tuple[str, float], list[pd.DataFrame]]) -> dict:
    """Per (start, budget): every seed, the mean over seeds and the ensemble (mean prediction), with intervals;
    per budget and pretrained start: the gap to scratch, resampling groups and seeds."""
    rng = np.random.default_rng(1)
    per_seed = {key: np.array([scores.reduction(p) for p in runs]) for key, runs in fits.items()}  # [seeds, 1+B]
    figures: dict = {"starts": {}, "gaps": {}}
    for (start, budget), values in per_seed.items():
        ensemble = scores.reduction(sum(fits[start, budget]) / len(fits[start, budget]))
        figures["starts"][f"{start} @ {budget:g}"] = {
            "seeds": np.round(values[:, 0], 2).tolist(), "mean": interval(values.mean(axis=0)),
            "sd_seeds": round(float(values[:, 0].std(ddof=1)), 2) if len(values) > 1 else None,
            "ensemble": interval(ensemble),
        }  # fmt: skip
    for (start, budget), values in per_seed.items():
        if start == "scratch":
            continue
        scratch = per_seed["scratch", budget]
        draws = []
        for b in range(1, values.shape[1]):
            a = values[rng.integers(len(values), size=len(values)), b].mean()
            s = scratch[rng.integers(len(scratch), size=len(scratch)), b].mean()
            draws.append(a - s)
        gap = values[:, 0].mean() - scratch[:, 0].mean()
        low, high = np.percentile(draws, [2.5, 97.5])
        figures["gaps"][f"{start} - scratch @ {budget:g}"] = {
            "gap": round(float(gap), 2), "low": round(float(low), 2), "high": round(float(high), 2),
            "resolved": bool(low > 0 or high < 0),
        }  # fmt: skip
    return figures


def plot(figures: dict, budgets: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for start in ["scratch", *ENCODERS]:
        rows = [figures["finetune"]["starts"][f"{start} @ {b:g}"]["mean"] for b in budgets]
        x = [100 * b for b in budgets]
        ax.errorbar(x, [r[0] for r in rows], yerr=[[r[0] - r[1] for r in rows], [r[2] - r[0] for r in rows]],
                    marker="o", capsize=3, label=start)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks([100 * b for b in budgets], [f"{100 * b:g} %" for b in budgets])
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("training genes used (label budget)")
    ax.set_ylabel("% MSE(log) reduction vs const_mean (test)")
    ax.set_title("Fine-tuned from each encoder: mean of seeds, 95 % interval over leakage groups", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "cornbert-premise")
    parser.add_argument("--recipe", default="laptop", choices=["laptop", "gpu", "paper"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budgets", type=float, nargs="+", default=[1.0, 0.3, 0.1])
    parser.add_argument("--mlm-steps", type=int, default=4000, help="stage-1 steps of the *_long encoders")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a fine-tuning setting")
    parser.add_argument("--max-steps", type=int, help="cap every training stage (a quick check of the paths)")
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores for the corpus")
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args(argv)
    configure_logging(None)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the probes load encoders without their MLM heads on purpose
    began = time.perf_counter()
    figures: dict = {"machine": machine.machine(), "command": " ".join(["python bench/premise.py", *(argv or sys.argv[1:])]),
                     "date": time.strftime("%Y-%m-%d"), "recipe": args.recipe}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.run_dir / "results"
    expression = results / "expression"
    recipe = recipe_settings(args)
    changes = {key: yaml.safe_load(value) for key, value in (c.split("=", 1) for c in args.set)}
    settings = replace(FinetuneSettings.from_config(recipe["finetune"]), **changes)
    figures["finetune_settings"] = asdict(settings)

    # Corpora as text (the multi-species one by the workflow), one tokenizer, token stores.
    multi = multi_species_corpus(args)
    corpora = {"chr5": results / "corpus" / "stage1.txt", "multi": multi / "stage1.txt",
               "target": results / "corpus" / "stage2.txt"}  # fmt: skip
    figures["sources"] = pd.read_csv(multi / "stage1.sources.tsv", sep="\t").to_dict(orient="records")
    tokenizer_dir = args.out / "tokenizer"
    if not (tokenizer_dir / "tokenizer.json").is_file():
        section = recipe["tokenizer"]
        train_tokenizer(read_corpus(corpora["chr5"]), section.get("vocab_size", 5000), MIN_FREQUENCY,
                        section.get("max_length", 256)).save_pretrained(tokenizer_dir)  # fmt: skip
    tokenizer = load_tokenizer(tokenizer_dir)
    split = read_split(expression / "split.tsv")
    promoters = read_fasta(expression / "promoters.fa")
    test = {gene: promoters[gene] for gene in split.index[split == "test"]}
    (args.out / "test_promoters.txt").write_text("".join(s.upper() + "\n" for s in test.values()))
    corpora["test"] = args.out / "test_promoters.txt"
    stores = {}
    for name, text in corpora.items():
        stores[name] = args.out / "stores" / f"{name}.tokens"
        if not stores[name].is_dir():
            write_token_store(text, tokenizer_dir, stores[name])
        figures.setdefault("corpora", {})[name] = {"sequences": len(open_token_store(stores[name], tokenizer_dir))}

    # Encoders and their masked-LM diagnostics on the test promoters.
    folders = encoders(args, recipe, tokenizer_dir, stores, figures)
    figures["mlm_on_test_promoters"] = {
        "uniform": round(math.log(len(tokenizer)), 3),
        **{f"unigram_{c}": round(unigram_cross_entropy(stores["test"], stores[c], tokenizer_dir, len(tokenizer)), 3)
           for c in ("chr5", "multi")},
        **{f"{name}/{stage}": round(masked_lm_loss(folder.parents[1] / stage / "model", stores["test"], tokenizer), 3)
           for name, folder in folders.items() for stage in ("stage1", "stage2")},
    }  # fmt: skip
    print(json.dumps(figures["mlm_on_test_promoters"], indent=1), flush=True)

    # Frozen-feature probes at every budget.
    y = read_targets(expression / "targets.tsv")
    sequences = [promoters[g].upper() for g in y.index]
    scores = Scores(expression, args.n_boot)
    features = {name: pooled_features(folder, True, tokenizer, sequences)["binned"] for name, folder in folders.items()}
    features["random"] = pooled_features(folders["chr5_recipe"], False, tokenizer, sequences)["binned"]
    probes = {}
    for budget in args.budgets:
        genes = read_split(budget_data(args, expression, budget) / "split.tsv")
        named = {name: [g for g in y.index if genes.get(g) == name] for name in ("train", "validation", "test")}
        for name, values in features.items():
            predicted, _ = ridge_predictions(values, y, named, y.index)
            probes[f"{name} @ {budget:g}"] = interval(scores.reduction(predicted))
    figures["probes"] = probes
    print(json.dumps(probes, indent=1), flush=True)

    # Fine-tuning: every start x budget x seed.
    fits: dict[tuple[str, float], list[pd.DataFrame]] = {}
    starts = {"scratch": (folders["chr5_recipe"], False)} | {name: (folder, True) for name, folder in folders.items()}
    for budget in args.budgets:
        data = budget_data(args, expression, budget)
        for start, (encoder, pretrained) in starts.items():
            for seed in range(42, 42 + args.seeds):
                out = args.out / "finetune" / f"train{round(100 * budget)}" / f"{start}_seed{seed}"
                t0 = time.perf_counter()
                fits.setdefault((start, budget), []).append(fit(data, out, encoder, pretrained, settings, seed, test))
                print(f"{out.relative_to(args.out)}: {time.perf_counter() - t0:.0f} s", flush=True)
    figures["finetune"] = summarise(scores, fits)
    figures["wall_s"] = round(time.perf_counter() - began)
    (REPO / "bench" / "results" / f"premise_{args.recipe}.json").write_text(json.dumps(figures, indent=1) + "\n")
    plot(figures, args.budgets, REPO / "bench" / "figures" / f"premise_{args.recipe}.png")
    for key, row in figures["finetune"]["starts"].items():
        print(f"{key:24s} mean {row['mean']}  sd {row['sd_seeds']}  ensemble {row['ensemble']}")
    for key, gap in figures["finetune"]["gaps"].items():
        print(f"{key:32s} {gap['gap']:+.2f} ({gap['low']:+.2f} to {gap['high']:+.2f})")
    return figures


if __name__ == "__main__":
    main()
