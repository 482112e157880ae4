"""CornBERT benchmarks: speed, memory and accuracy on real plant data. Figures, never pass/fail.

    .venv/bin/python bench/run.py all                 # every section, then BENCHMARKS.md
    .venv/bin/python bench/run.py extraction          # one section (its figures replace that section's only)
    .venv/bin/python bench/run.py memory --run-dir /path/to/finished/demo/run
    .venv/bin/python bench/run.py report              # re-render BENCHMARKS.md from bench/results/*.json

Each section stores its figures, the command and the machine in bench/results/<section>.json; BENCHMARKS.md is
rendered from all stored sections, so sections can be measured at different times and on different machines.
See bench/README.md for what each section measures and against what.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path[:0] = [str(REPO / "workflow_scripts"), str(BENCH_DIR)]

import machine  # noqa: E402
import realdata  # noqa: E402
import report  # noqa: E402
from machine import median, stopwatch  # noqa: E402

RESULTS = BENCH_DIR / "results"
FIGURES = BENCH_DIR / "figures"


class Skipped(Exception):
    """A section that cannot run here (missing inputs); `all` reports it and goes on with the others."""


# --- 1. promoter extraction ------------------------------------------------------------------------------------
def arabidopsis_promoters(workdir: Path) -> tuple[Path, Path, int]:
    """Our 1-kb promoters of the Chr5 genes (BED, FASTA, number of genes), extracted once per workdir."""
    from cornbert.promoters import PromoterSettings, extract_promoters

    gff, bed, fasta = workdir / "chr5_genes.gff3", workdir / "chr5_promoters.bed", workdir / "chr5_promoters.fa"
    genes = realdata.chr5_genes_gff3(gff)
    if not fasta.is_file():
        extract_promoters("chr5", realdata.CHR5_FASTA, gff, PromoterSettings(), {}, bed, fasta,
                          workdir / "chr5_promoters.stats.tsv")  # fmt: skip
    return bed, fasta, genes


def section_extraction(args) -> dict[str, Any]:
    """Time and peak memory of rule extract_promoters' code vs the bare zcat + samtools faidx + bedtools getfasta -s."""
    import extraction
    import pandas as pd

    work = args.workdir / "extraction"
    chr5_gff = work / "chr5" / "genes.gff3"
    chr5_gff.parent.mkdir(parents=True, exist_ok=True)
    realdata.chr5_genes_gff3(chr5_gff)
    genomes = {
        "Arabidopsis TAIR10 Chr5 (real, 27 Mb, bgzip)": (realdata.CHR5_FASTA, chr5_gff),
        "synthetic maize-size genome (2.1 Gb, gzip)": extraction.synthetic_genome(
            work / "maize_size", chromosomes=10, chromosome_bp=210_000_000, genes=40_000),
    }  # fmt: skip
    rows = []
    for name, (fasta, gff) in genomes.items():
        out = work / f"run_{len(rows)}"
        runs: dict[str, list[dict]] = {"ours": [], "bare": []}
        for _ in range(args.repeats):  # alternating, so load changes hit both alike
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            runs["ours"].append(machine.run_isolated(BENCH_DIR / "extraction.py", "ours",
                                                     {"fasta": str(fasta), "gff": str(gff), "out": str(out)}).result)
            runs["bare"].append(machine.run_isolated(BENCH_DIR / "extraction.py", "bare",
                                                     {"fasta": str(fasta), "bed": str(out / "p.bed"),
                                                      "out": str(out)}).result)  # fmt: skip
        same, kept = extraction.identical(out)
        stats = pd.read_csv(out / "p.stats.tsv", sep="\t").iloc[0]
        (out / "plain.fa").unlink()
        ours_s, bare_s = median([r["s"] for r in runs["ours"]]), median([r["s"] for r in runs["bare"]])
        rows.append({
            "genome": name,
            "genome_bp": int(stats.genome_bp),
            "genes": int(stats.genes),
            "promoters": kept,
            "identical_sequences": same,
            "ours_s": ours_s,
            "bare_s": bare_s,
            "getfasta_s": median([r["getfasta_s"] for r in runs["bare"]]),
            "ratio_time": ours_s / bare_s,
            "ours_peak_rss_mib": max(r["peak_rss_mib"] for r in runs["ours"]),
            "bare_peak_rss_mib": max(r["peak_rss_mib"] for r in runs["bare"]),
        })  # fmt: skip
    return {"command": "bench/run.py extraction", "repeats": args.repeats, "genomes": rows}


# --- 2. tokenizer ----------------------------------------------------------------------------------------------
def real_promoters(workdir: Path) -> list[str]:
    """The benchmark corpus: our 1-kb Arabidopsis Chr5 promoters + the 1-kb maize NAM promoters (all real)."""
    from cornbert.fasta import read_fasta

    folder = workdir / "arabidopsis"
    folder.mkdir(parents=True, exist_ok=True)
    _, fasta, _ = arabidopsis_promoters(folder)
    maize = realdata.maize_nam_table().seq.str.upper().tolist()
    return list(read_fasta(fasta).values()) + [s for s in maize if set(s) <= set("ACGTN")]


def section_tokenizer(args) -> dict[str, Any]:
    """Training time and encoding throughput: cornbert.tokenizer vs a bare HF ByteLevelBPETokenizer, same input."""
    from tokenizers import ByteLevelBPETokenizer

    from cornbert.tokenizer import SPECIAL_TOKENS, load_tokenizer, train_tokenizer

    sequences = real_promoters(args.workdir)
    vocab, min_frequency, max_length = 5000, 2, 256
    ours_train, bare_train, ours_encode, loaded_encode, bare_encode = [], [], [], [], []
    saved = args.workdir / "tokenizer"
    for _ in range(args.repeats):
        with stopwatch() as elapsed:
            ours = train_tokenizer(sequences, vocab, min_frequency, max_length)
        ours_train.append(elapsed())
        with stopwatch() as elapsed:
            bare = ByteLevelBPETokenizer(add_prefix_space=False)
            bare.train_from_iterator(sequences, vocab_size=vocab + len(SPECIAL_TOKENS), min_frequency=min_frequency,
                                     special_tokens=list(SPECIAL_TOKENS.values()), show_progress=False)  # fmt: skip
        bare_train.append(elapsed())
        ours.save_pretrained(saved)
        loaded = load_tokenizer(saved)
        bare.enable_truncation(max_length)
        with stopwatch() as elapsed:
            ours_ids = ours(sequences, truncation=True)["input_ids"]
        ours_encode.append(elapsed())
        with stopwatch() as elapsed:
            loaded(sequences, truncation=True)["input_ids"]
        loaded_encode.append(elapsed())
        with stopwatch() as elapsed:
            bare_ids = [encoding.ids for encoding in bare.encode_batch(sequences)]
        bare_encode.append(elapsed())
    n = len(sequences)
    # Same merges -> same tokens between <s> ... </s> (the bare tokenizer adds no specials).
    same_tokens = sum(ours_row[1:-1] == bare_row[: len(ours_row) - 2] for ours_row, bare_row in zip(ours_ids, bare_ids))
    return {
        "sequences": n,
        "bp": sum(map(len, sequences)),
        "vocab_size": vocab,
        "repeats": args.repeats,
        "ours_train_s": median(ours_train),
        "bare_train_s": median(bare_train),
        "ratio_train": median(ours_train) / median(bare_train),
        "ours_encode_seq_per_s": n / median(ours_encode),
        "loaded_encode_seq_per_s": n / median(loaded_encode),
        "bare_encode_seq_per_s": n / median(bare_encode),
        "ratio_encode_time": median(ours_encode) / median(bare_encode),
        "ratio_loaded_encode_time": median(loaded_encode) / median(bare_encode),
        "mean_tokens": sum(map(len, ours_ids)) / n,
        "same_tokens": same_tokens,
    }


# --- 3. training -----------------------------------------------------------------------------------------------
# (preset, vocabulary, batch, steps): the demo preset at the demo config's batch, the paper model at a small batch.
TRAINING_RUNS = [("demo", 1500, 32, 8), ("paper", 5000, 8, 4)]
# On a GPU: the paper model at the gpu recipe's batch and at a batch that fills the card; the Trainer and our loop
# compiled, and our loop without compiling too.
GPU_TRAINING_RUNS = [("paper", 5000, 64, 40), ("paper", 5000, 256, 30)]
TRAINING_CORPUS_SIZE = 2000


def section_training(args) -> dict[str, Any]:
    """Step time, tokens/s and peak memory: our pretraining loop vs a stock HF Trainer, same model size and batches."""
    sequences = training_corpus(args)[:TRAINING_CORPUS_SIZE]
    return training_runs(args, "training", sequences, TRAINING_RUNS, ("ours", "hf_trainer"))


def section_training_gpu(args) -> dict[str, Any]:
    """The same on a GPU, with the paper model at batches that use the card."""
    import torch

    if not torch.cuda.is_available():
        raise Skipped("no GPU on this machine")
    sequences = training_corpus(args)
    return training_runs(args, "training_gpu", sequences, GPU_TRAINING_RUNS, ("ours", "ours_eager", "hf_trainer"))


def training_corpus(args) -> list[str]:
    """--corpus (one promoter per line), or section 2's real promoters."""
    if args.corpus:
        return [line.strip() for line in args.corpus.read_text().splitlines() if line.strip()]
    return real_promoters(args.workdir)


def training_runs(args, name: str, sequences: list[str], runs: list[tuple], contenders: tuple[str, ...]) -> dict:
    import torch

    from cornbert.tokenizer import train_tokenizer

    work = args.workdir / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(sequences) + "\n")
    rows = []
    for preset, vocab, batch, steps in runs:
        if args.batch_sizes and batch not in args.batch_sizes:
            continue
        tokenizer_dir = work / f"tokenizer_{vocab}"
        if not tokenizer_dir.is_dir():
            train_tokenizer(sequences, vocab, 2, 256).save_pretrained(tokenizer_dir)
        row: dict[str, Any] = {"preset": preset, "batch_size": batch, "steps": steps}
        for contender in contenders:
            arguments = dict(
                corpus=str(corpus), tokenizer_dir=str(tokenizer_dir), workdir=str(work / f"{preset}_{batch}_{contender}"),
                preset=preset, batch_size=batch, steps=steps, threads=args.threads,
            )  # fmt: skip
            print(f"-- {preset} batch {batch} {contender}", flush=True)
            isolated = machine.run_isolated(BENCH_DIR / "training.py", contender, arguments)
            row[contender] = isolated.result | {"peak_rss_mib": isolated.peak_rss_mib}
            print(json.dumps(row[contender]), flush=True)
        row["ratio_step_time"] = row["ours"]["step_s"] / row["hf_trainer"]["step_s"]
        row["ratio_peak_rss"] = row["ours"]["peak_rss_mib"] / row["hf_trainer"]["peak_rss_mib"]
        rows.append(row)
    return {"corpus": len(sequences), "corpus_file": args.corpus and str(args.corpus), "threads": args.threads,
            "gpu": torch.cuda.is_available(), "runs": rows}  # fmt: skip


# --- 4. importance ---------------------------------------------------------------------------------------------
IMPORTANCE_GENES = 20


def importance_models(args) -> dict[str, tuple]:
    """(model, tokenizer) by description: the demo run's fine-tuned model if there is one (its window: the last 70
    tokens, ~300 bp), and a demo-preset regressor with random weights whose window holds the whole 1 kb (256 tokens),
    where every mutant is a new input."""
    from cornbert.model import roberta_config
    from cornbert.regressor import build_regressor, load_regressor
    from cornbert.tokenizer import train_tokenizer

    models = {}
    finetuned = args.run_dir / "results" / "finetune" / "pretrained" / "rep1" / "model"
    if (finetuned / "config.json").is_file():
        model, tokenizer, _ = load_regressor(finetuned)
        models[f"the demo run's fine-tuned model, window {tokenizer.model_max_length} tokens"] = (model, tokenizer)
    tokenizer = train_tokenizer(real_promoters(args.workdir)[:TRAINING_CORPUS_SIZE], 1500, 2, 256)
    config = roberta_config("demo", {}, len(tokenizer), tokenizer.model_max_length)
    tissues = ["root", "shoot", "base", "middle", "tassel", "ear", "embryo", "endosperm", "anther", "tip"]
    model = build_regressor(config, tissues, [64, 64], 0.2, "tanh").eval()
    models["demo-preset regressor, random weights, window 256 tokens (the whole 1 kb)"] = (model, tokenizer)
    return models


def section_importance(args) -> dict[str, Any]:
    """Time of cornbert.importance's mutagenesis vs the bare model forward on every mutant, same batches."""
    import numpy as np
    import torch

    from cornbert.importance import ImportanceConfig, mutation_importance, mutations
    from cornbert.regressor import predict_log, tokenize

    torch.set_num_threads(args.threads)
    promoters = real_promoters(args.workdir)[:IMPORTANCE_GENES]
    config = ImportanceConfig(genes=IMPORTANCE_GENES, positions_per_sequence=10, draws=1, batch_size=64)
    seed = 42
    rows = []
    for source, (model, tokenizer) in importance_models(args).items():
        def predict(batch: list[str]) -> np.ndarray:
            return predict_log(model, tokenizer, batch, batch_size=config.batch_size)

        # The bare reference: every sequence mutation_importance asks for (same seed, same draws), tokenized
        # ahead, one gene's original + mutants per batch.
        rng = np.random.default_rng(seed)
        batches = []
        for sequence in promoters:
            every = [sequence, *mutations(sequence, config, rng)[0]]
            batches += [tokenize(tokenizer, every[i : i + config.batch_size])
                        for i in range(0, len(every), config.batch_size)]  # fmt: skip
        n_asked = sum(len(batch["input_ids"]) for batch in batches)
        forwarded: list[int] = []
        hook = model.register_forward_hook(lambda module, inputs, kwargs, output: forwarded.append(
            len(kwargs["input_ids"])), with_kwargs=True)  # fmt: skip
        ours, bare = [], []
        for _ in range(args.repeats):  # alternating, so load changes hit both alike
            forwarded.clear()
            with stopwatch() as elapsed:
                mutation_importance(promoters, predict, config, seed)
            ours.append(elapsed())
            n_forwarded = sum(forwarded)
            with stopwatch() as elapsed, torch.no_grad():
                for batch in batches:
                    model(**batch)
            bare.append(elapsed())
        hook.remove()
        rows.append({
            "model": source,
            "asked": n_asked,
            "forwarded": n_forwarded,
            "mean_batch": n_asked / len(batches),
            "ours_s": median(ours),
            "bare_s": median(bare),
            "ours_seq_per_s": n_asked / median(ours),
            "bare_seq_per_s": n_asked / median(bare),
            "ratio_time": median(ours) / median(bare),
        })  # fmt: skip
    return {"genes": len(promoters), "batch_size": config.batch_size, "threads": args.threads,
            "repeats": args.repeats, "models": rows}  # fmt: skip


# --- 5. memory and time per stage -------------------------------------------------------------------------------
def completed_run_elapsed_s(run_dir: Path) -> tuple[str, float]:
    """The latest complete Snakemake run of `run_dir` (its log says `N of N steps (100%) done`): log name and the
    elapsed time Snakemake printed at its end."""
    for log in sorted((run_dir / ".snakemake" / "log").glob("*.snakemake.log"), reverse=True):  # names sort by date
        text = log.read_text()
        elapsed = re.search(r"^Elapsed time: (\d+):(\d+):([\d.]+)$", text, re.M)
        if "steps (100%) done" in text and elapsed:
            hours, minutes, seconds = (float(x) for x in elapsed.groups())
            return log.name, hours * 3600 + minutes * 60 + seconds
    raise Skipped(f"memory: no complete Snakemake run logged under {run_dir / '.snakemake' / 'log'}")


def script_startup_s(script: Path) -> float:
    """Seconds a fresh interpreter takes to run `script`'s top-level imports: what each of its jobs pays before any
    work (torch and transformers alone take seconds, and a 2-core run does most jobs one after another)."""
    tree = ast.parse(script.read_text())
    imports = [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    code = "\n".join([f"import sys; sys.path.insert(0, {str(script.parent)!r})", *imports])
    # Once untimed: it warms the file cache and the bytecode, as every job after the first of a run meets them.
    subprocess.run([sys.executable, "-c", code], check=True)
    with stopwatch() as elapsed:
        subprocess.run([sys.executable, "-c", code], check=True)
    return elapsed()


def section_memory(args) -> dict[str, Any]:
    """Peak RSS (max_rss, MiB), wall and CPU time of every job of a finished run, from its Snakemake benchmark files;
    the run's elapsed time against what its jobs' CPU time allows on `--cores`, and each job's start-up cost."""
    import pandas as pd

    folder = args.run_dir / "benchmarks"
    files = sorted(folder.glob("**/*.tsv"))
    if not files:
        raise Skipped(f"memory: no Snakemake benchmark files under {folder}; finish a demo run first "
                         "(`make demo`) or pass --run-dir <a finished run directory>")  # fmt: skip
    log_name, elapsed_s = completed_run_elapsed_s(args.run_dir)
    startup: dict[str, float] = {}
    rows = []
    for path in files:
        table = pd.read_csv(path, sep="\t")
        relative = path.relative_to(folder)
        rule = relative.parts[0]
        script = REPO / "workflow_scripts" / f"{rule}.py"
        if rule not in startup and script.exists():
            startup[rule] = script_startup_s(script)
        rows.append({
            "rule": rule,
            "job": str(relative.with_suffix(""))[len(rule) + 1 :],
            "max_rss_mib": float(pd.to_numeric(table["max_rss"], errors="coerce").max()),
            "wall_s": float(table["s"].max()),
            "cpu_time_s": float(pd.to_numeric(table.get("cpu_time"), errors="coerce").max()),
            "startup_s": startup.get(rule),  # None: no script of that name
        })  # fmt: skip
    FIGURES.mkdir(exist_ok=True)
    report.plot_memory(rows, FIGURES / "memory_per_job.png", str(args.run_dir))
    cpu_time_s = sum(r["cpu_time_s"] for r in rows)
    return {
        "run_dir": str(args.run_dir), "log": log_name, "elapsed_s": elapsed_s, "cores": args.cores,
        "jobs_wall_s": sum(r["wall_s"] for r in rows), "jobs_cpu_time_s": cpu_time_s,
        "cpu_bound_s": cpu_time_s / args.cores,
        "startup_s": sum(r["startup_s"] for r in rows if r["startup_s"] is not None),
        "jobs": rows, "figure": "bench/figures/memory_per_job.png",
    }  # fmt: skip


# --- 6. accuracy on real data ----------------------------------------------------------------------------------
def write_sequence_inputs(folder: Path, name: str, frame, value_columns: list[str]) -> None:
    """The workflow's sequence-mode inputs: FASTA (header = gene_id) + table (gene_id, values..., split).

    Files whose content is unchanged are left alone, so that a rerun does not make Snakemake redo their rules.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fasta = "".join(f">{gene}\n{sequence.upper()}\n" for gene, sequence in zip(frame.gene_id, frame.sequence))
    table = frame[["gene_id", *value_columns, "split"]].to_csv(sep="\t", index=False)
    write_if_changed(folder / f"{name}.fa", fasta)
    write_if_changed(folder / f"{name}.tsv", table)


def maize_nam_inputs(folder: Path) -> dict[str, Any]:
    """FloraBERT's NAM set with its folds (test vs train_0..4); labels converted to log(TPM + 1)."""
    table = realdata.maize_nam_table()
    frame = realdata.florabert_to_log_tpm1(table[realdata.MAIZE_TISSUES])
    frame.insert(0, "gene_id", table.gene_id)
    frame["sequence"] = table.seq
    frame["split"] = table.fold.map(lambda fold: "test" if fold == "test" else "train")
    write_sequence_inputs(folder, "maize_nam", frame, realdata.MAIZE_TISSUES)
    return {"sequences": len(frame), "test": int((frame.split == "test").sum()), "tissues": realdata.MAIZE_TISSUES}


def jores_leaf_inputs(folder: Path) -> dict[str, Any]:
    """PGB leaf train subset + Jores CNN leaf test set; one 'tissue' column `leaf` = log2 STARR-seq enrichment."""
    import pandas as pd

    train, test = realdata.jores_leaf_sets()
    train["split"], test["split"] = "train", "test"
    frame = pd.concat([train, test], ignore_index=True).rename(columns={"enrichment": "leaf"})
    # A gene can have a core promoter in both sets (different TSS): keep the IDs unique and readable.
    frame["gene_id"] = frame.gene_id.where(~frame.gene_id.duplicated(), frame.gene_id + "_" + frame.split)
    write_sequence_inputs(folder, "jores_leaf", frame, ["leaf"])
    return {"sequences": len(frame), "test": len(test), "tissues": ["leaf"]}


def arabidopsis_genome_inputs(folder: Path) -> dict[str, Any]:
    """Genome mode, as a user runs it: TAIR10 Chr5 + a GFF3 of its genes at their real TSSs + the 14-sample leaf TPM
    matrix (all 27,655 genes; the workflow keeps those with a promoter). The config names only the data, so the run
    gets the default recipe (laptop) and the default split (homology), plus 3 replicates."""
    import pandas as pd
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    gff = chr5_gff(folder)
    genes = sum(1 for line in gff.open() if not line.startswith("#"))
    matrix = pd.read_csv(realdata.ARABIDOPSIS_LEAF_TPM).drop(columns="logMaxTPM")
    write_if_changed(folder / "arabidopsis_leaf_tpm.tsv", matrix.to_csv(sep="\t", index=False))
    config = {
        "genomes": {"ath_chr5": {"fasta": str(realdata.CHR5_FASTA), "gff": str(gff)}},
        "pretraining": {"stage1": ["ath_chr5"], "stage2": ["ath_chr5"]},
        "expression": {"genome": "ath_chr5", "matrix": str(folder / "arabidopsis_leaf_tpm.tsv")},
        "evaluation": {"replicates": 3},
    }
    write_if_changed(folder / "arabidopsis_genome.yaml", yaml.safe_dump(config, sort_keys=False))
    return {"genes_in_gff": genes, "samples": list(matrix.columns[1:]), "config": str(folder / "arabidopsis_genome.yaml")}


def chr5_gff(folder: Path) -> Path:
    """The Chr5 GFF3 of the accuracy runs, written once: rewriting it would change its mtime and make Snakemake
    redo every stage."""
    gff = folder / "chr5_genes.gff3"
    if not gff.is_file():
        realdata.chr5_genes_gff3(gff)
    return gff


def write_if_changed(path: Path, text: str) -> None:
    """Leave an unchanged file alone, so that a rerun does not make Snakemake redo the rules that read it."""
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


# name: (config under bench/configs, or None for the config the inputs function writes; inputs; run directory).
# The sequence-mode sets share one run directory: their pretraining (Arabidopsis Chr5, exclude_test_genes false)
# is identical, so Snakemake reruns only what depends on the expression data for the second.
ACCURACY_SETS = {
    "arabidopsis_genome": (None, arabidopsis_genome_inputs, "accuracy_genome"),
    "maize_nam": ("maize_nam.yaml", maize_nam_inputs, "accuracy"),
    "jores_leaf": ("jores_leaf.yaml", jores_leaf_inputs, "accuracy"),
}


def section_accuracy(args) -> dict[str, Any]:
    """Run the real workflow on each real set (genome mode, then sequence mode); read the models' test scores,
    with their intervals, from metrics.tsv. `--sets` picks some of them."""
    import pandas as pd

    # `--sets` remeasures some sets: the others keep their stored figures (each set records its own machine).
    stored = RESULTS / "accuracy.json"
    previous = json.loads(stored.read_text())["figures"]["sets"] if args.sets and stored.is_file() else {}
    figures: dict[str, Any] = {"cores": args.cores, "sets": previous}
    for name, (config_name, write_inputs, run_name) in ACCURACY_SETS.items():
        if args.sets and name not in args.sets:
            continue
        measured_on = machine.machine()
        run_dir = args.workdir / run_name
        described = write_inputs(run_dir / "inputs")
        chr5_gff(run_dir / "inputs")  # the sequence-mode configs pretrain on Chr5 too
        configfile = BENCH_DIR / "configs" / config_name if config_name else Path(described["config"])
        command = [str(REPO / ".venv" / "bin" / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory",
                   str(run_dir), "--configfile", str(configfile), "--cores", str(args.cores),
                   "--rerun-triggers", "mtime", "params", "input", "--", "results/evaluation/metrics.tsv",
                   "results/expression/leakage.tsv"]  # fmt: skip
        print("$ " + " ".join(command), flush=True)
        with stopwatch() as elapsed:
            subprocess.run(command, check=True)
        metrics = pd.read_csv(run_dir / "results" / "evaluation" / "metrics.tsv", sep="\t")
        metrics.to_csv(RESULTS / f"accuracy_{name}_metrics.tsv", sep="\t", index=False)
        overall = metrics[metrics.tissue == "All"].pivot(index="model", columns="metric", values="value")
        leakage = pd.read_csv(run_dir / "results" / "expression" / "leakage.tsv", sep="\t")
        figures["sets"][name] = described | {
            "machine": measured_on,
            # `<model>_ensemble` rows are the mean of a model's replicate files, not files of their own.
            "paired_gaps": paired_gaps(run_dir / "results", sorted(m for m in overall.index if not m.endswith("_ensemble")),
                                       int(metrics.n_replicates.max())),
            "run_dir": str(run_dir),
            "config": f"bench/configs/{config_name}" if config_name else "the data only (laptop recipe)",
            "leakage": leakage.to_dict(orient="records"),
            "workflow_s": elapsed(),
            "all": overall.round(4).to_dict(orient="index"),
        }
    return figures


# The comparisons the issue's bars are about: the best offered model against every baseline and against the same
# stacking without CornBERT (what CornBERT adds to the stack), pure CornBERT against BOW_5mer, its scratch twin and
# hand_eng.
GAP_PAIRS = [("CornBERT_stack", b) for b in ("baselines_stack", "hand_eng", "CNN_onehot", "BOW_5mer", "const_mean")] + [
    ("CornBERT", "BOW_5mer"), ("CornBERT", "CornBERT_scratch"), ("CornBERT", "hand_eng")]  # fmt: skip


def paired_gaps(results: Path, models: list[str], replicates: int, n_boot: int = 1000) -> dict[str, list[float]]:
    """Paired bootstrap of the difference in % MSE(log) reduction (points of const_mean's MSE) between two models:
    both scored on the same resamples of test genes (whole leakage groups, as metrics.tsv), each averaged over its
    replicates. A gap whose interval excludes 0 is a difference the test set resolves. {"A - B": [gap, low, high]}"""
    import numpy as np

    from cornbert.metrics import load_test_set, resample_weights

    pairs = [(a, b) for a, b in GAP_PAIRS if a in models and b in models]
    paths = [str(results / "predictions" / f"rep{r}" / f"{m}.tsv") for m in models for r in range(1, replicates + 1)]
    data = load_test_set(str(results / "expression" / "targets.tsv"), str(results / "expression" / "split.tsv"),
                         paths, models, replicates)  # fmt: skip
    observed = data.observed.to_numpy(float)
    # Squared error per gene (mean over tissues, then over replicates): [genes] per model.
    errors = {m: np.mean([((f.to_numpy(float) - observed) ** 2).mean(axis=1) for f in frames], axis=0)
              for m, frames in data.predictions.items()}  # fmt: skip
    units = np.arange(len(observed)) if data.groups is None else data.groups.to_numpy()
    weights = np.vstack([np.ones((1, len(observed)))] + list(resample_weights(units, n_boot, seed=0)))
    mse = {m: weights @ e / weights.sum(axis=1) for m, e in errors.items()}  # [1 + n_boot]
    out = {}
    for a, b in pairs:
        gap = 100 * (mse[b] - mse[a]) / mse["const_mean"]
        out[f"{a} - {b}"] = [round(float(gap[0]), 2), *np.round(np.percentile(gap[1:], [2.5, 97.5]), 2).tolist()]
    return out


# --- 8. pretraining memory vs corpus size ---------------------------------------------------------------------
CORPUS_SIZES = [10_000, 100_000, 1_000_000]  # promoters of 1 kb
OLD_PATH_MAX = 100_000  # the in-memory path needs ~10 GB at 1 M promoters: not run beyond this
CORPUS_STEPS = 4


def section_corpus_memory(args) -> dict[str, Any]:
    """Peak RSS of tokenisation and of a few pretraining steps as the corpus grows: token store vs in-memory lists."""
    import corpus_memory

    from cornbert.tokenizer import read_corpus, train_tokenizer

    work = args.workdir / "corpus_memory"
    work.mkdir(parents=True, exist_ok=True)
    corpora = {}
    for size in CORPUS_SIZES:
        corpora[size] = work / f"corpus_{size}.txt"
        if not corpora[size].is_file():
            corpus_memory.write_corpus(corpora[size], size, seed=size)
    tokenizer_dir = work / "tokenizer"
    if not (tokenizer_dir / "tokenizer.json").is_file():
        train_tokenizer(read_corpus(corpora[CORPUS_SIZES[0]]), 5000, 2, 256).save_pretrained(tokenizer_dir)
    runs = []
    for size in CORPUS_SIZES:
        row: dict[str, Any] = {"promoters": size}
        tokens = work / f"corpus_{size}.tokens"
        # One thread against all of them where it takes minutes, not tens of minutes.
        for threads in sorted({1, args.threads}) if size <= OLD_PATH_MAX else [args.threads]:
            print(f"-- {size:,} promoters: tokenize_corpus, {threads} thread(s)", flush=True)
            isolated = machine.run_isolated(BENCH_DIR / "corpus_memory.py", "tokenize", dict(
                corpus=str(corpora[size]), tokenizer_dir=str(tokenizer_dir), output=str(tokens), threads=threads))
            row[f"tokenize_{threads}"] = isolated.result
        contenders = {"new": ("pretrain_new", str(tokens))}
        if size <= OLD_PATH_MAX:
            contenders["old"] = ("pretrain_old", str(corpora[size]))
        for name, (function, data) in contenders.items():
            print(f"-- {size:,} promoters: pretrain_model, {name} path", flush=True)
            arguments = {"tokens" if name == "new" else "corpus": data, "tokenizer_dir": str(tokenizer_dir),
                         "workdir": str(work / f"run_{size}_{name}"), "steps": CORPUS_STEPS, "threads": args.threads,
                         "promoters": size}
            isolated = machine.run_isolated(BENCH_DIR / "corpus_memory.py", function, arguments)
            row[f"pretrain_{name}"] = isolated.result
        runs.append(row)
        print(json.dumps(row), flush=True)
    return {"threads": args.threads, "steps": CORPUS_STEPS, "old_commit": corpus_memory.OLD_COMMIT,
            "vocab": 5000, "max_length": 256, "runs": runs}  # fmt: skip


SECTIONS = {
    "extraction": section_extraction,
    "tokenizer": section_tokenizer,
    "training": section_training,
    "training_gpu": section_training_gpu,
    "importance": section_importance,
    "memory": section_memory,
    "accuracy": section_accuracy,
    "corpus_memory": section_corpus_memory,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("section", choices=[*SECTIONS, "all", "report"])
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "cornbert-bench",
        help="scratch space for inputs, models and workflow runs (kept for inspection)",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the fast measurements (median reported)")
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=REPO,
        help="memory + importance: a finished demo run directory (its benchmarks/ and fine-tuned model are read)",
    )
    parser.add_argument("--corpus", type=Path,
                        help="training sections: promoters, one per line, instead of section 2's real corpus")
    parser.add_argument("--batch-sizes", type=int, nargs="*", help="training sections: only the runs of these batches")
    parser.add_argument("--cores", type=int, default=2,
                        help="accuracy: --cores of its Snakemake runs; memory: the --cores the finished run had")
    parser.add_argument("--sets", nargs="*", choices=list(ACCURACY_SETS), help="accuracy: only these real sets")
    parser.add_argument("--no-report", action="store_true",
                        help="store the section's JSON only; leave BENCHMARKS.md as it is (older JSONs are missing)")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    command = "bench/run.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    names = list(SECTIONS) if args.section == "all" else [] if args.section == "report" else [args.section]
    RESULTS.mkdir(exist_ok=True)
    skipped: list[str] = []
    for name in names:
        print(f"== {name}", flush=True)
        measured_on = machine.machine()  # before the section: its load average is the load the section met
        try:
            figures = SECTIONS[name](args)
        except Skipped as reason:
            print(f"skipped: {reason}", flush=True)
            skipped.append(name)
            continue
        figures["command"] = command
        stored = {"section": name, "machine": measured_on, "figures": figures}
        (RESULTS / f"{name}.json").write_text(json.dumps(stored, indent=1) + "\n")
        print(json.dumps(figures, indent=1), flush=True)
    if not args.no_report:
        report.write(RESULTS, REPO / "BENCHMARKS.md", list(SECTIONS))
        print(f"wrote {REPO / 'BENCHMARKS.md'}" + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
    if skipped and args.section != "all":
        sys.exit(1)


if __name__ == "__main__":
    main()
