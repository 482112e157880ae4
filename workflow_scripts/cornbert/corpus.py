"""The corpus across its sources (promoters of annotated genomes, windows of unannotated ones, sequence sets): a
statistics table and figure, and the pretraining corpora."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cornbert.fasta import batched, iter_fasta, read_fasta  # noqa: E402
from cornbert.runtime import atomic_path  # noqa: E402
from cornbert.splits import Similarity, similar_pairs  # noqa: E402
from cornbert.tables import read_split, write_tsv  # noqa: E402

log = logging.getLogger(__name__)


# The statistics table's columns in this order (those of no source are left out; a column that does not apply to a
# kind, such as genes for windows, is empty in its rows).
STATS_COLUMNS = (
    "source", "kind", "fasta_compression", "sequences", "genome_bp", "genes", "windows", "kept", "kept_bp",
    "kept_short", "dropped_chromosome_end", "dropped_no_strand", "dropped_mostly_n", "length_min", "length_median",
    "length_mean", "length_max", "gc_fraction", "n_fraction", "promoters_with_n", "windows_with_n",
    "sequences_with_n", "ambiguous_converted",
)  # fmt: skip
NAME_COLUMNS = ("genome", "sequence_set")  # what each source's own table calls its name
KIND_NOUNS = {"promoters": "promoters", "windows": "windows", "sequence_set": "set sequences"}


def sequence_lengths(path: str | Path) -> np.ndarray:
    """Lengths of a source's sequences: from a BED (promoters, windows) or a FASTA (a sequence set)."""
    path = Path(path)
    if path.suffix != ".bed":
        return np.array([len(sequence) for _, sequence in iter_fasta(path)], dtype=int)
    if path.stat().st_size == 0:  # a genome without a single promoter or window
        return np.zeros(0, dtype=int)
    bed = pd.read_csv(path, sep="\t", header=None, usecols=[1, 2])
    return (bed[2] - bed[1]).to_numpy()



def combine_stats(
    sources: dict[str, str], stats_paths: list[str | Path], lengths: dict[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """One row per source (`sources`: name -> kind, in the order of `stats_paths`), columns in STATS_COLUMNS order;
    with `lengths`, kept_bp from them."""
    rows = []
    for (source, kind), path in zip(sources.items(), stats_paths, strict=True):
        row = pd.read_csv(path, sep="\t").drop(columns=list(NAME_COLUMNS), errors="ignore")
        row.insert(0, "source", source)
        row.insert(1, "kind", kind)
        if lengths is not None:
            row["kept_bp"] = int(lengths[source].sum())
        rows.append(row)
    stats = pd.concat(rows, ignore_index=True)
    order = [column for column in STATS_COLUMNS if column in stats.columns]
    return stats[order + [column for column in stats.columns if column not in order]]


def plot_corpus(stats: pd.DataFrame, lengths: dict[str, np.ndarray], path: str | Path) -> None:
    """Three panels: sequences kept/dropped per source, base composition, and the length distribution."""
    sources = list(stats["source"])
    labels = [f"{source} ({kind.replace('_', ' ')})" for source, kind in zip(stats["source"], stats["kind"])]
    x = np.arange(len(sources))
    fig, (counts_ax, composition_ax, lengths_ax) = plt.subplots(1, 3, figsize=(16, 5), constrained_layout=True)

    bottom = np.zeros(len(sources))
    dropped = [column for column in stats.columns if column.startswith("dropped_")]
    for column, label in [("kept", "kept")] + [(c, f"dropped: {c[8:].replace('_', ' ')}") for c in dropped]:
        values = stats[column].fillna(0).to_numpy()
        bars = counts_ax.bar(x, values, bottom=bottom, label=label)
        if column == "kept":
            counts_ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], label_type="center", color="white")
        bottom += values
    counts_ax.set_xticks(x, labels, rotation=30, ha="right")
    counts_ax.set_ylabel("sequences (promoters, windows)")
    counts_ax.set_title("Sequences kept and dropped per source")
    counts_ax.legend()

    # N is usually a fraction of a percent next to ~40 % GC: printed values keep both readable on one axis
    width = 0.4
    for offset, column, label in [
        (-width / 2, "gc_fraction", "GC (% of A/C/G/T)"),
        (width / 2, "n_fraction", "N (% of all bases)"),
    ]:
        bars = composition_ax.bar(x + offset, 100 * stats[column], width, label=label)
        composition_ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
    composition_ax.set_xticks(x, labels, rotation=30, ha="right")
    composition_ax.set_ylabel("percent of bases")
    composition_ax.set_ylim(0, 100)
    composition_ax.set_title("Base composition")
    composition_ax.legend()

    all_lengths = np.concatenate([values for values in lengths.values() if len(values)] or [np.zeros(1)])
    bins = np.linspace(0, max(all_lengths.max(), 1) + 1, 41)
    for source, label, linestyle in zip(sources, labels, ["-", "--", ":", "-."] * len(sources)):
        lengths_ax.hist(lengths[source], bins=bins, histtype="step", linewidth=1.5, linestyle=linestyle, label=label)
    lengths_ax.set_yscale("log")
    lengths_ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))
    lengths_ax.set_ylim(bottom=0.8)
    lengths_ax.set_xlabel("length (bp)")
    lengths_ax.set_ylabel("sequences (log scale)")
    lengths_ax.set_title("Lengths (short promoters: near a chromosome end)")
    lengths_ax.legend()

    kept = stats.groupby("kind", sort=False)["kept"].sum()
    parts = ", ".join(f"{int(count):,} {KIND_NOUNS[kind]}" for kind, count in kept.items())
    fig.suptitle(f"Corpus: {parts} from {len(sources)} source{'s' * (len(sources) != 1)}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def summarize_corpus(
    sources: dict[str, str],
    stats_paths: list[str | Path],
    length_paths: list[str | Path],
    out_table: str | Path,
    out_figure: str | Path,
) -> pd.DataFrame:
    """The statistics of every source (`sources`: name -> kind; `stats_paths` and `length_paths` in its order)."""
    lengths = {source: sequence_lengths(path) for source, path in zip(sources, length_paths, strict=True)}
    stats = combine_stats(sources, stats_paths, lengths)
    write_tsv(stats, out_table, index=False)
    plot_corpus(stats, lengths, out_figure)
    return stats


def held_out_test_set(split_path: str | Path, expression_fasta: str | Path) -> tuple[set[str], set[str]]:
    """Gene IDs and promoter sequences that no pretraining corpus may contain: the test genes and every gene in
    a leakage group with one (the split's `group` column; under `homology` these are the test genes)."""
    table = pd.read_csv(split_path, sep="\t", dtype={"gene_id": str}).set_index("gene_id")
    split = read_split(split_path)
    test_ids = set(split.index[split == "test"])
    if "group" in table.columns:
        test_groups = set(table.loc[list(test_ids), "group"])
        test_ids = set(table.index[table["group"].isin(test_groups)])
    sequences = read_fasta(expression_fasta)
    return test_ids, {sequences[gene].upper() for gene in test_ids if gene in sequences}


def held_out_sequences(fasta: str | Path) -> set[str]:
    """Every sequence of a FASTA, uppercase: what stage 1 leaves out (the expression genome's promoters, or the
    user's sequences), whatever the split, so that stage 1 never depends on it."""
    return {sequence.upper() for sequence in read_fasta(fasta).values()}


# Sequences of one source read, filtered and searched against the held-out set at a time: memory stays bounded for
# a whole genome's windows (maize: ~2 million) and MMseqs2 runs once per chunk, not per sequence.
CHUNK = 100_000
LEFT_OUT_REASONS = ("test_gene", "identical_to_{label}", "similar_to_{label}", "short", "mostly_n")
LEAKAGE_REASONS = ("test_gene", "identical_to_{label}", "similar_to_{label}")


def source_table(
    counts: dict[str, Counter[str]], kinds: dict[str, str], held_out_label: str = "test"
) -> pd.DataFrame:
    """One row per source of a corpus: sequences and bases read, kept, and left out by reason (left_out_leakage:
    those left out as test genes or identical or near-identical to a held-out sequence, summed)."""
    rows = []
    for source, counter in counts.items():
        reasons = {f"left_out_{r.format(label=held_out_label)}": counter[f"left_out_{r.format(label=held_out_label)}"]
                   for r in LEFT_OUT_REASONS}  # fmt: skip
        leakage = sum(counter[f"left_out_{r.format(label=held_out_label)}"] for r in LEAKAGE_REASONS)
        rows.append({"source": source, "kind": kinds.get(source, "promoters"), "sequences": counter["sequences"],
                     "bases": counter["bases"], "kept": counter["kept"], "kept_bp": counter["kept_bp"],
                     **reasons, "left_out_leakage": leakage})  # fmt: skip
    return pd.DataFrame(rows)


def build_pretraining_corpus(
    promoter_fastas: dict[str, str | Path],
    out_path: str | Path,
    min_length: int,
    max_n_fraction: float,
    held_out_genome: str | None = None,
    held_out_ids: set[str] | None = None,
    held_out_sequences: set[str] | None = None,
    similarity: Similarity | None = None,
    held_out_label: str = "test",
    kinds: dict[str, str] | None = None,
    out_stats: str | Path | None = None,
    chunk: int = CHUNK,
) -> Counter[str]:
    """Write one uppercase sequence per line from every source; returns what was kept and left out, by reason.

    `promoter_fastas` maps each source (a genome's promoters or windows, or a sequence set; `kinds` says which, for
    the statistics) to its FASTA. The same rules apply to every source. Left out: held-out genes of
    `held_out_genome` by ID and any sequence identical to a held-out sequence (so that identical paralogs or
    orthologs cannot leak test sequences), with `similarity` also any sequence near-identical to one (MMseqs2, both
    strands), sequences shorter than `min_length` and sequences with more than `max_n_fraction` N.
    `held_out_label` names the held-out set in the counts (left_out_similar_to_<label>). With `out_stats`, the
    counts per source are written there as a table (source_table).
    """
    held_out_ids = held_out_ids or set()
    held_out_sequences = held_out_sequences or set()
    kinds = kinds or {}
    targets = {str(i): sequence for i, sequence in enumerate(sorted(held_out_sequences))}
    per_source: dict[str, Counter[str]] = {}
    with atomic_path(out_path) as tmp, open(tmp, "w") as out:
        for source, fasta in promoter_fastas.items():
            counts = per_source[source] = Counter()
            by_id = source == held_out_genome and kinds.get(source, "promoters") == "promoters"
            for records in batched(iter_fasta(fasta), chunk):
                candidates: dict[str, str] = {}
                for gene_id, sequence in records:
                    sequence = sequence.upper()
                    counts["sequences"] += 1
                    counts["bases"] += len(sequence)
                    if by_id and gene_id in held_out_ids:
                        counts["left_out_test_gene"] += 1
                    elif sequence in held_out_sequences:
                        counts[f"left_out_identical_to_{held_out_label}"] += 1
                    elif len(sequence) < min_length:
                        counts["left_out_short"] += 1
                    elif sequence.count("N") > max_n_fraction * len(sequence):
                        counts["left_out_mostly_n"] += 1
                    else:
                        candidates[gene_id] = sequence
                similar = set()
                if similarity is not None and targets:
                    similar = {gene for gene, _ in similar_pairs(candidates, targets, similarity)}
                    counts[f"left_out_similar_to_{held_out_label}"] += len(similar)
                for gene_id, sequence in candidates.items():
                    if gene_id not in similar:
                        out.write(sequence + "\n")
                        counts["kept"] += 1
                        counts["kept_bp"] += len(sequence)
            log.info("%s: %s %s: %s", out_path, kinds.get(source, "promoters"), source,
                     {key: value for key, value in counts.items() if value})  # fmt: skip
    if out_stats is not None:
        write_tsv(source_table(per_source, kinds, held_out_label), out_stats, index=False)
    totals: Counter[str] = Counter()
    for counts in per_source.values():
        totals.update({key: value for key, value in counts.items() if key not in ("sequences", "bases", "kept_bp")})
    totals = Counter({key: value for key, value in totals.items() if value})
    log.info("%s: %s", out_path, dict(totals))
    return totals
