"""BENCHMARKS.md from the stored section results (bench/results/<section>.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


# In BENCHMARKS.md, what follows this line to the end of a section is written by hand (what a figure means, what
# was measured beside it) and survives re-rendering, as do whole numbered sections that no stored result renders.
NOTES = "<!-- written by hand below: kept when the section is re-rendered from bench/results -->"


def write(results: Path, destination: Path, order: list[str]) -> None:
    """Render every stored section into `destination`, keeping its hand-written parts (see NOTES), each section in
    its place by its number."""
    stored = {}
    for name in order:
        path = results / f"{name}.json"
        if path.is_file():
            stored[name] = json.loads(path.read_text())
    lines = [
        "# CornBERT benchmarks",
        "",
        "Written by `.venv/bin/python bench/run.py all` (or one section at a time, see bench/README.md). Figures, not",
        "pass/fail: no test asserts on any of them. Each section lists the command, the machine and the date it was",
        "measured on; sections not yet measured are missing.",
        "",
        "## Summary",
        "",
        "| section | ours | reference | ratio (ours / reference) |",
        "|---|---|---|---|",
    ]
    for name, entry in stored.items():
        for row in SUMMARIES[name](entry["figures"]):
            lines.append("| " + " | ".join(row) + " |")
    figures = destination.parent / "bench" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    sections = {}  # section number -> (title, lines)
    for name, entry in stored.items():
        body = ["", *_provenance(entry), "", *DETAILS[name](entry["figures"])]
        if name in PLOTS:
            PLOTS[name](entry["figures"], figures / f"{name}.png")
            body += ["", f"![{TITLES[name]}](bench/figures/{name}.png)"]
        sections[_section_number(TITLES[name])] = (TITLES[name], body)
    if destination.is_file():
        for number, (title, body) in _sections(destination.read_text()).items():
            if number not in sections:
                sections[number] = (title, body)
            elif NOTES in body:
                sections[number][1].extend(["", *body[body.index(NOTES) :]])
    for number in sorted(sections):
        title, body = sections[number]
        lines += ["", f"## {title}", *body]
    destination.write_text("\n".join(lines) + "\n")


def _sections(text: str) -> dict[tuple[int, str], tuple[str, list[str]]]:
    """The numbered `## ` sections of a BENCHMARKS.md: number -> (title, its lines up to the next `## `)."""
    sections: dict[tuple[int, str], tuple[str, list[str]]] = {}
    body: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            number = _section_number(line[3:])
            body = None if number is None else sections.setdefault(number, (line[3:], []))[1]
        elif body is not None:
            body.append(line)
    for _, body in sections.values():
        while body and not body[-1].strip():
            body.pop()
    return sections


def _section_number(title: str) -> tuple[int, str] | None:
    """`3b. Masked-LM ...` -> (3, 'b'); None for a title without a number (the summary)."""
    match = re.match(r"(\d+)([a-z]?)\. ", title)
    return (int(match.group(1)), match.group(2)) if match else None


def _provenance(entry: dict[str, Any]) -> list[str]:
    m = entry["machine"]
    gpu = m["gpu"] or "none (CPU only; the GPU code path did not run)"
    sets = entry["figures"].get("sets", {})
    if sets and all("machine" in s for s in sets.values()):  # measured set by set, each dated in its own part
        section = entry["section"]
        return [f"- command: `.venv/bin/python bench/run.py {section} --workdir DIR` (`--sets NAME ...` for some;"
                " each set below says when it was measured and under what load)",
                f"- machine: {m['nproc']} CPU cores ({m['cpu']}), {m['ram_gib']} GiB RAM, GPU: {gpu}; torch"
                f" {m['torch']}, Python {m['python']}"]  # fmt: skip
    return [
        f"- command: `.venv/bin/python {entry['figures']['command']}`",
        f"- machine: {m['nproc']} CPU cores ({m['cpu']}), {m['ram_gib']} GiB RAM, GPU: {gpu}; torch {m['torch']},"
        f" Python {m['python']}",
        f"- date: {m['date']}; 1-minute load average when the section started: {m['load_average_1min']}"
        + (
            f" (above the {m['nproc']} cores: other jobs shared the machine, so timings are pessimistic and noisy)"
            if m["load_average_1min"] > m["nproc"]
            else ""
        ),
    ]


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


# --- per section: summary rows and details ---------------------------------------------------------------------
def _extraction_summary(f: dict) -> list[list[str]]:
    return [
        [f"promoter extraction, {row['genome']} (s)", _f(row["ours_s"], 2),
         f"zcat + samtools faidx + bedtools getfasta -s: {_f(row['bare_s'], 2)}", _f(row["ratio_time"], 2) + " × time"]
        for row in f["genomes"]
    ]  # fmt: skip


def _extraction_details(f: dict) -> list[str]:
    lines = [
        "Ours: `cornbert.promoters.extract_promoters`, the code of rule extract_promoters (read and check the GFF3;"
        " validate the FASTA and write a plain, regularly wrapped working copy; samtools faidx; plan the 1-kb windows;"
        " bedtools getfasta -s; clean; write BED, FASTA and statistics). Bare: `zcat` to a plain FASTA, `samtools"
        " faidx`, `bedtools getfasta -s` on the BED ours wrote. Each contender in its own process, alternating;"
        f" median of {f['repeats']} runs; peak RSS: ours = its VmHWM, bare = the largest of its three tools.",
        "",
        "| genome | genes | promoters | ours (s) | bare end to end (s) | of which getfasta (s) | ratio (time) |"
        " ours peak RSS (MiB) | bare peak RSS (MiB) | identical sequences |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in f["genomes"]:
        lines.append(
            f"| {row['genome']} | {row['genes']:,} | {row['promoters']:,} | {_f(row['ours_s'], 2)} |"
            f" {_f(row['bare_s'], 2)} | {_f(row['getfasta_s'], 2)} | {_f(row['ratio_time'], 2)} |"
            f" {_f(row['ours_peak_rss_mib'], 0)} | {_f(row['bare_peak_rss_mib'], 0)} |"
            f" {row['identical_sequences']:,} of {row['promoters']:,} |"
        )
    return lines


SUMMARIES = {"extraction": _extraction_summary}
DETAILS = {"extraction": _extraction_details}
TITLES = {"extraction": "1. Promoter extraction throughput"}


def _tokenizer_summary(f: dict) -> list[list[str]]:
    return [
        ["BPE tokenizer training, vocab 5,000 (s)", _f(f["ours_train_s"], 2),
         f"bare ByteLevelBPETokenizer: {_f(f['bare_train_s'], 2)}", _f(f["ratio_train"], 2) + " × time"],
        ["tokenizer encoding (promoters/s)", _f(f["loaded_encode_seq_per_s"], 0),
         f"bare encode_batch: {_f(f['bare_encode_seq_per_s'], 0)}", _f(f["ratio_loaded_encode_time"], 2) + " × time"],
    ]  # fmt: skip


def _tokenizer_details(f: dict) -> list[str]:
    return [
        f"Input: {f['sequences']:,} real 1-kb promoters ({f['bp'] / 1e6:.1f} Mb): the Arabidopsis Chr5 promoters of"
        " section 1 and the 1,857 maize NAM promoters of FloraBERT (sequences with other letters than ACGTN left out)."
        f" Vocabulary {f['vocab_size']:,} + 5 specials, min_frequency 2, max length 256. Median of {f['repeats']} runs.",
        "",
        "| what | ours | bare HF `tokenizers` | ratio (time) |",
        "|---|---|---|---|",
        f"| training (s) | {_f(f['ours_train_s'], 2)} | {_f(f['bare_train_s'], 2)} | {_f(f['ratio_train'], 2)} |",
        f"| encoding, freshly trained (promoters/s) | {_f(f['ours_encode_seq_per_s'], 0)} |"
        f" {_f(f['bare_encode_seq_per_s'], 0)} | {_f(f['ratio_encode_time'], 2)} |",
        f"| encoding, `load_tokenizer` from disk (promoters/s) | {_f(f['loaded_encode_seq_per_s'], 0)} |"
        f" {_f(f['bare_encode_seq_per_s'], 0)} | {_f(f['ratio_loaded_encode_time'], 2)} |",
        "",
        f"Mean {f['mean_tokens']:.1f} tokens per promoter (with `<s>`/`</s>`). Both learn the same merges:"
        f" {f['same_tokens']:,} of {f['sequences']:,} promoters get identical token sequences. Ours wraps the same"
        " Rust trainer in a `PreTrainedTokenizerFast` (RoBERTa post-processor, left padding/truncation); what encoding"
        " costs beyond the bare tokenizer is the Python-side work of `transformers`' `__call__` (building lists,"
        " truncation bookkeeping), which the workflow's own batch encoding (`cornbert.tokenizer.encode_ids`) skips.",
    ]


SUMMARIES["tokenizer"] = _tokenizer_summary
DETAILS["tokenizer"] = _tokenizer_details
TITLES["tokenizer"] = "2. Tokenizer"


CONTENDERS = {"ours": "ours", "ours_eager": "ours, not compiled", "hf_trainer": "HF Trainer"}


def _training_summary(f: dict) -> list[list[str]]:
    rows = []
    device, digits = ("GPU", 4) if f["gpu"] else ("CPU", 2)
    for run in f["runs"]:
        ours, hf = run["ours"], run["hf_trainer"]
        rows.append([f"MLM training on {device}, {run['preset']} preset, batch {run['batch_size']} (s/step; tokens/s)",
                     f"{_f(ours['step_s'], digits)}; {_f(ours['tokens_per_s'], 0)}",
                     f"HF Trainer: {_f(hf['step_s'], digits)}; {_f(hf['tokens_per_s'], 0)}",
                     _f(run["ratio_step_time"], 2) + " × time"])  # fmt: skip
        rows.append([f"MLM training peak memory on {device}, {run['preset']} preset (MiB RSS)",
                     _f(ours["peak_rss_mib"], 0),
                     f"HF Trainer: {_f(hf['peak_rss_mib'], 0)}", _f(run["ratio_peak_rss"], 2) + " ×"])  # fmt: skip
    return rows


def _training_details(f: dict) -> list[str]:
    lines = [
        (f"Corpus: {f['corpus']:,} promoters from `{f['corpus_file']}`" if f.get("corpus_file") else
         f"Corpus: the first {f['corpus']:,} real promoters of section 2 (Arabidopsis Chr5)")
        + ", a BPE tokenizer trained on them per vocabulary size. Ours: `cornbert.pretrain.pretrain` (the code of rule pretrain_model, LAMB,"
        " fp32 on CPU, bf16 autocast on GPU), step times read from its scheduler's `step()` calls. Reference: a stock"
        " `transformers.Trainer` + `RobertaForMaskedLM` built from the same `cornbert.model.roberta_config`, default"
        " AdamW, fed exactly the batches (sequences, left padding, masks) of our steps. Each contender runs in its own"
        f" process (peak RSS = that process's `ru_maxrss`, everything included: Python, torch, data). torch threads:"
        f" {f['threads']}. "
        + ("Mean step over the steps after the first 6 (compilation, warm-up), between two GPU synchronisations;"
           " MFU counts the encoder on the padded batch and the masked-LM head on the masked tokens."
           if f["gpu"] else "Median over the steps after the first (warm-up)."),
        "",
        "| preset | batch | contender | optimizer | s/step | real tokens/step | tokens/s | peak RSS (MiB) |"
        + (" peak GPU mem (MiB) | MFU |" if f["gpu"] else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|---|" if f["gpu"] else ""),
    ]
    digits = 4 if f["gpu"] else 2  # GPU steps take hundredths of a second
    for run in f["runs"]:
        for name, label in CONTENDERS.items():
            if name not in run:
                continue
            r = run[name]
            line = (
                f"| {run['preset']} | {run['batch_size']} | {label} | {r['optimizer']} | {_f(r['step_s'], digits)} |"
                f" {_f(r['real_tokens_per_step'], 0)} | {_f(r['tokens_per_s'], 0)} | {_f(r['peak_rss_mib'], 0)} |"
            )
            if f["gpu"]:
                line += f" {_f(r.get('peak_gpu_mem_mib', 0), 0)} | {100 * r.get('mfu', float('nan')):.1f} % |"
            lines.append(line)
    if not f["gpu"]:
        lines += ["", "On a shared 2-core machine, step-time ratios within about ±30 % are not distinguishable from"
                  " load noise (repeated runs moved the demo ratio between 0.5 and 0.9); the optimizers also differ"
                  " (LAMB adds a trust ratio per parameter tensor to AdamW's work; both run as torch._foreach_* kernels"
                  " over all tensors)."]  # fmt: skip
        lines += ["", "No GPU on this machine: the GPU path (bf16 autocast, SDPA, torch.compile, peak"
                  " `torch.cuda.max_memory_allocated`, MFU against the card's dense bf16 peak) is in bench/training.py"
                  " and runs when `torch.cuda.is_available()`; it was not measured here."]  # fmt: skip
    return lines


SUMMARIES["training"] = SUMMARIES["training_gpu"] = _training_summary
DETAILS["training"] = DETAILS["training_gpu"] = _training_details
TITLES["training"] = "3. Masked-LM training speed and memory"
TITLES["training_gpu"] = "3b. Masked-LM training speed on a GPU"


def _importance_summary(f: dict) -> list[list[str]]:
    return [[f"importance mutagenesis, {row['model']} (mutants/s)", _f(row["ours_seq_per_s"], 0),
             f"bare model forward of every mutant: {_f(row['bare_seq_per_s'], 0)}", _f(row["ratio_time"], 2) + " × time"]
            for row in f["models"]]  # fmt: skip


def _importance_details(f: dict) -> list[str]:
    lines = [
        f"{f['genes']} real Arabidopsis Chr5 promoters (1 kb), L = 1..6, 10 positions x 1 draw each. Ours:"
        " `cornbert.importance.mutation_importance` with `cornbert.regressor.predict_log` (mutant drawing,"
        " tokenization in the Rust backend, forward of each distinct token sequence once, aggregation). Bare: the"
        " model's forward of every mutant and original, tokenized beforehand, one gene's per batch (batch size"
        f" {f['batch_size']}), `torch.no_grad`. torch threads: {f['threads']}; median of {f['repeats']} runs,"
        " alternating.",
        "",
        "| model | mutants + originals | forwarded by ours | ours (s) | bare (s) | ratio (time) |",
        "|---|---|---|---|---|---|",
    ]
    for row in f["models"]:
        lines.append(f"| {row['model']} | {row['asked']:,} | {row['forwarded']:,} | {_f(row['ours_s'], 2)} |"
                     f" {_f(row['bare_s'], 2)} | {_f(row['ratio_time'], 2)} |")  # fmt: skip
    return lines


def plot_memory(rows: list[dict], path: Path, run_dir: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['rule']} ({r['job']})" for r in rows]
    figure, axis = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.5))
    axis.barh(labels, [r["max_rss_mib"] for r in rows], color="tab:blue")
    axis.invert_yaxis()
    axis.set_xlabel("peak resident memory, max_rss (MiB)")
    axis.set_title(f"Peak memory per job (Snakemake benchmark files)\n{run_dir}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


DEMO_TARGET_S = 180  # issue "Scale and speed": the whole demo DAG within 3 minutes on 2 cores


def _memory_summary(f: dict) -> list[list[str]]:
    top = max(f["jobs"], key=lambda r: r["max_rss_mib"])
    return [
        ["peak memory of the demo DAG, largest job (MiB max_rss)", f"{_f(top['max_rss_mib'], 0)} ({top['rule']})", "-",
         "-"],
        [f"whole demo DAG on {f['cores']} cores (s)", _f(f["elapsed_s"], 0),
         f"target: {DEMO_TARGET_S}; its jobs' CPU time / {f['cores']} cores: {_f(f['cpu_bound_s'], 0)}",
         _f(f["elapsed_s"] / DEMO_TARGET_S, 2) + " × target"],
    ]  # fmt: skip


def _memory_details(f: dict) -> list[str]:
    lines = [
        f"From the Snakemake `benchmark:` files of `{f['run_dir']}` (max over repeats), a complete run of the demo"
        " config (`snakemake --snakefile Snakefile --directory <run dir> --configfile config/config.yaml --cores 2`)."
        " Wall time includes waiting for a core; CPU time is the job's own cost.",
        "",
        f"The run took **{_f(f['elapsed_s'], 0)} s** (Snakemake's elapsed time, log `{f['log']}`); its jobs' wall times"
        f" add up to {_f(f['jobs_wall_s'], 0)} s and their CPU times to {_f(f['jobs_cpu_time_s'], 0)} s, so on"
        f" {f['cores']} cores no schedule of these jobs, each on the threads it had, finishes in under"
        f" **{_f(f['cpu_bound_s'], 0)} s**, even with every core busy all the time (the target is {DEMO_TARGET_S} s)."
        " Start-up: a fresh interpreter running a job script's imports (warm file cache, bench/run.py"
        f" `script_startup_s`) takes the time in the last column, {_f(f['startup_s'], 0)} s over all jobs, paid"
        " before any work.",
        "",
        "| rule | job | max_rss (MiB) | wall (s) | CPU time (s) | start-up (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in f["jobs"]:
        startup = "-" if r["startup_s"] is None else _f(r["startup_s"], 1)
        lines.append(f"| {r['rule']} | {r['job']} | {_f(r['max_rss_mib'], 0)} | {_f(r['wall_s'], 1)} |"
                     f" {_f(r['cpu_time_s'], 1)} | {startup} |")  # fmt: skip
    return lines + ["", f"![peak memory per job]({f['figure']})"]


SUMMARIES |= {"importance": _importance_summary, "memory": _memory_summary}
DETAILS |= {"importance": _importance_details, "memory": _memory_details}
TITLES |= {"importance": "4. Importance heatmap throughput",
           "memory": "5. Peak memory and time per stage of the demo DAG"}


ACCURACY_MODELS = ["const_mean", "BOW_5mer", "CNN_onehot", "hand_eng", "baselines_stack", "CornBERT", "CornBERT_scratch",
                   "CornBERT_stack"]  # fmt: skip
BASELINES = ["BOW_5mer", "CNN_onehot", "hand_eng", "baselines_stack"]
SET_TITLES = {
    "arabidopsis_genome": "Arabidopsis TAIR10 Chr5 in genome mode, 14 leaf samples (DeepCRE)",
    "maize_nam": "maize NAM promoters, 8 tissues (FloraBERT folds)",
    "jores_leaf": "170-bp core promoters, tobacco leaf STARR-seq (Jores 2021)",
}
SET_NOTES = {
    "arabidopsis_genome": "TAIR10 chromosome 5 with its 6,332 genes placed at the experimentally mapped TSSs of Jores et"
    " al. 2021 and DeepCRE's 14-sample leaf TPM matrix (one tissue: the 'tissues' are samples). The config names"
    " only the data, so the `laptop` recipe, the `homology` split and 3 replicates apply.",
    "maize_nam": "Labels are FloraBERT's log2(TPM/1000 + 0.001) (see the data's PROVENANCE.md), converted to TPM ="
    " (2^x − 0.001) × 1000 and then log(TPM + 1), the workflow's scale (`values: log`); the FloraBERT re-run of the"
    " study reported Pearson r² 0.07–0.12 per tissue on such data. FloraBERT's folds are kept as the split (a"
    " user's split column is never regrouped); the audit counts what they leak.",
    "jores_leaf": "Values: log2 STARR-seq enrichment, used as they are (`values: log`; the MSE is on that scale, MAE in"
    " TPM does not apply). Train: the 8,000-sequence PGB leaf subset; test: the authors' CNN test set, kept as the"
    " split. The authors' CNN (trained on ~65,000 sequences) reached Spearman 0.84 on the whole leaf test set.",
}


def _set_scores(name: str) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {metric: {value, ci_low, ci_high, sd_replicates}}} of a set's 'All' rows, from the metrics table the
    accuracy section stored beside its figures."""
    import pandas as pd

    metrics = pd.read_csv(Path(__file__).resolve().parent / "results" / f"accuracy_{name}_metrics.tsv", sep="\t")
    rows = metrics[metrics.tissue == "All"]
    columns = ["value", "ci_low", "ci_high", "sd_replicates"]
    return {model: part.set_index("metric")[columns].to_dict("index") for model, part in rows.groupby("model")}


def _accuracy_summary(f: dict) -> list[list[str]]:
    rows = []
    for name in f["sets"]:
        scores = _set_scores(name)
        best = max((m for m in BASELINES if m in scores), key=lambda m: _nan0(scores[m]["pct_reduction_mse_log"]["value"]))
        for model in ("CornBERT", "CornBERT_stack"):
            if model in scores:
                rows.append([f"accuracy, {SET_TITLES[name]}: {model} (% MSE(log) reduction)",
                             _f(scores[model]["pct_reduction_mse_log"]["value"]),
                             f"best baseline {best}: {_f(scores[best]['pct_reduction_mse_log']['value'])}", "-"])  # fmt: skip
    return rows


def _nan0(value: float) -> float:
    return -1.0 if value != value else value


def _with_interval(m: dict, metric: str, digits: int) -> str:
    if metric not in m or m[metric]["value"] != m[metric]["value"]:
        return "-"
    v = m[metric]
    sd = v.get("sd_replicates", 0)
    spread = f", sd {sd:.{digits}f}" if sd == sd and sd > 1e-9 else ""  # rule-based models repeat exactly
    return f"{v['value']:.{digits}f} ({v['ci_low']:.{digits}f} to {v['ci_high']:.{digits}f}{spread})"


def _targets(s: dict) -> str:
    targets = s.get("tissues", s.get("samples", []))
    return ", ".join(targets) if len(targets) <= 8 else f"{len(targets)} samples"


def _accuracy_details(f: dict) -> list[str]:
    lines = [
        "The real workflow, run by `bench/run.py accuracy` exactly as a user runs it: each set's config names only the"
        " data (and `evaluation.replicates: 3`), so the default `laptop` recipe applies. The two sequence-mode sets"
        " share one scratch directory and their pretraining (the real Arabidopsis Chr5 promoters). Scores from"
        " `results/evaluation/metrics.tsv` (cornbert.metrics), test genes only, mean over tissues ('All'): value (95 %"
        " bootstrap interval over the split's leakage groups, sd over the 3 replicates); per-tissue tables in"
        " bench/results/accuracy_<set>_metrics.tsv. Paired gaps: both models on the same bootstrap resamples, each"
        " averaged over its replicates, in points of const_mean's MSE (`paired_gaps` in bench/run.py).",
    ]
    for name, s in f["sets"].items():
        scores = _set_scores(name)
        machine = s.get("machine", {})
        leaks = [f"{r['n_pairs']} {r['kind']} {r['split_a']}-{r['split_b']}" for r in s["leakage"] if r["n_pairs"]]
        lines += [
            "",
            f"### {SET_TITLES[name]}",
            "",
            f"{s.get('sequences', s.get('genes_in_gff', 0)):,} {'sequences' if 'sequences' in s else 'genes'};"
            f" targets: {_targets(s)}; config: {s['config']}; measured"
            f" {machine.get('date', '?')} (1-minute load {machine.get('load_average_1min', '?')}); workflow wall time"
            f" {s['workflow_s'] / 60:.1f} min{' (' + s['workflow_note'] + ')' if 'workflow_note' in s else ''}."
            " Leakage audit of the split: "
            + (", ".join(leaks) + " pairs." if leaks else "0 pairs of every kind."),
            "",
            SET_NOTES[name],
            "",
            "| model | MSE | % MSE reduction vs const_mean | Spearman ρ | tissue specificity |",
            "|---|---|---|---|---|",
        ]
        for model in (m for m in ACCURACY_MODELS if m in scores):
            m = scores[model]
            lines.append(f"| {model} | {_with_interval(m, 'mse_log', 3)} | {_with_interval(m, 'pct_reduction_mse_log', 1)}"
                         f" | {_with_interval(m, 'spearman', 2)} | {_with_interval(m, 'specificity_pearson', 2)} |")  # fmt: skip
        if s.get("paired_gaps"):
            lines += ["", "| paired gap | points | 95 % interval |", "|---|---|---|"]
            lines += [f"| {pair} | {g[0]:+.1f} | {g[1]:+.1f} to {g[2]:+.1f} |" for pair, g in s["paired_gaps"].items()]
    return lines


SUMMARIES["accuracy"] = _accuracy_summary
DETAILS["accuracy"] = _accuracy_details
TITLES["accuracy"] = "6. Accuracy on real data"


def _bars(
    groups: list[str], series: dict[str, list[float]], ylabel: str, title: str, path: Path, log: bool = False
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axis = plt.subplots(figsize=(7, 4.2))
    width = 0.8 / len(series)
    positions = np.arange(len(groups))
    for index, (label, values) in enumerate(series.items()):
        axis.bar(positions + (index - (len(series) - 1) / 2) * width, values, width, label=label)
    axis.set_xticks(positions, groups)
    axis.set_ylabel(ylabel)
    if log:
        axis.set_yscale("log")
    axis.set_title(title)
    axis.legend()
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_training(f: dict, path: Path) -> None:
    groups = [f"{run['preset']} preset, batch {run['batch_size']}" for run in f["runs"]]
    series = {
        label: [run[name]["tokens_per_s"] for run in f["runs"]]
        for name, label in CONTENDERS.items()
        if name in f["runs"][0]
    }
    device = "GPU" if f["gpu"] else "CPU"
    _bars(
        groups, series, "real (non-pad) tokens per second", f"Masked-LM training throughput ({device})", path, log=True
    )


def _plot_accuracy(f: dict, path: Path) -> None:
    """% MSE(log) reduction of every model on every set, with the bootstrap intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    models = [m for m in ACCURACY_MODELS if m != "const_mean"]
    figure, axes = plt.subplots(1, len(f["sets"]), figsize=(4.2 * len(f["sets"]), 4.2), squeeze=False)
    for axis, name in zip(axes[0], f["sets"]):
        scores = _set_scores(name)
        present = [m for m in models if m in scores]
        values = np.array([scores[m]["pct_reduction_mse_log"]["value"] for m in present])
        errors = np.array([[values[i] - scores[m]["pct_reduction_mse_log"]["ci_low"],
                            scores[m]["pct_reduction_mse_log"]["ci_high"] - values[i]]
                           for i, m in enumerate(present)]).T  # fmt: skip
        colours = ["#999999" if m in BASELINES else "#1f77b4" for m in present]
        axis.barh(present, values, xerr=errors, color=colours, capsize=3)
        axis.invert_yaxis()
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set_title(SET_TITLES[name].split(",")[0], fontsize=9)
        axis.set_xlabel("% MSE(log) reduction vs const_mean (95 % CI)")
        axis.grid(axis="x", alpha=0.3)
    figure.suptitle("Accuracy on real data: baselines grey, CornBERT models blue")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


PLOTS = {"training": _plot_training, "training_gpu": _plot_training, "accuracy": _plot_accuracy}


# --- 8. pretraining memory vs corpus size ---------------------------------------------------------------------
def _corpus_memory_summary(f: dict) -> list[list[str]]:
    largest = f["runs"][-1]
    old = [run for run in f["runs"] if "pretrain_old" in run][-1]
    return [
        [f"pretrain_model peak memory at {largest['promoters']:,} promoters (MiB RSS)",
         _f(largest["pretrain_new"]["peak_rss_mib"], 0),
         f"in-memory lists at {old['promoters']:,}: {_f(old['pretrain_old']['peak_rss_mib'], 0)}",
         f"{_f(old['pretrain_new']['peak_rss_mib'] / old['pretrain_old']['peak_rss_mib'], 2)} × at"
         f" {old['promoters']:,}"],
    ]  # fmt: skip


def _corpus_memory_details(f: dict) -> list[str]:
    lines = [
        "Synthetic corpora of 1-kb random promoters with two of six planted 8-mers each (bench/corpus_memory.py), a"
        f" BPE tokenizer of {f['vocab']:,} tokens (max {f['max_length']}) trained once on the smallest. New: rule"
        " tokenize_corpus's code (`cornbert.token_store.write_token_store`: chunks of 8,192 promoters through the"
        " Rust tokenizer's `encode_batch_fast`, uint16 ids + int64 offsets + uint64 sequence hashes on disk), then"
        f" `cornbert.pretrain.pretrain` for {f['steps']} steps reading batches from the memory-mapped store. Old:"
        f" `pretrain.py` of commit {f['old_commit']} (read the corpus into Python strings, tokenised it into lists of"
        " ints at the start of every job), run only where it fits. Demo preset, batch 16, about 50 held-out promoters"
        " at every size (eval_fraction = 50 / promoters). Each contender in its own process: peak RSS is its"
        " VmHWM (Python, torch, model and data; memory-mapped pages it touched count too; not `ru_maxrss`, which"
        " Linux carries over from the forked parent across exec). torch threads:"
        f" {f['threads']}.",
        "",
        "| promoters | tokens | tokenize_corpus threads | s | tokens/s | peak RSS (MiB) | store (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in f["runs"]:
        for key in sorted(k for k in run if k.startswith("tokenize_")):
            r = run[key]
            lines.append(f"| {run['promoters']:,} | {r['tokens']:,} | {key.split('_')[1]} | {_f(r['s'], 1)} |"
                         f" {_f(r['tokens_per_s'], 0)} | {_f(r['peak_rss_mib'], 0)} | {_f(r['store_mib'], 1)} |")
    lines += [
        "",
        "| promoters | pretrain_model | peak RSS (MiB) | s to the end of step 1 | s/step after | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for run in f["runs"]:
        for key, label in (("pretrain_old", "old: tokenise into lists"), ("pretrain_new", "new: token store")):
            if key in run:
                r = run[key]
                lines.append(f"| {run['promoters']:,} | {label} | {_f(r['peak_rss_mib'], 0)} |"
                             f" {_f(r['to_first_step_s'], 1)} | {_f(r['step_s'], 2)} | {_f(r['wall_s'], 1)} |")
    return lines


SUMMARIES["corpus_memory"] = _corpus_memory_summary
DETAILS["corpus_memory"] = _corpus_memory_details
TITLES["corpus_memory"] = "8. Pretraining memory as the corpus grows"
