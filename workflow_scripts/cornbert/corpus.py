"""The promoter corpus across genomes: a statistics table and figure, and the pretraining corpora."""

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

from cornbert.fasta import read_fasta  # noqa: E402
from cornbert.promoters import DROP_REASONS  # noqa: E402
from cornbert.runtime import atomic_path  # noqa: E402
from cornbert.splits import Similarity, similar_pairs  # noqa: E402
from cornbert.tables import read_split, write_tsv  # noqa: E402

log = logging.getLogger(__name__)


def combine_stats(stats_paths: list[str | Path]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(path, sep="\t") for path in stats_paths], ignore_index=True)


def promoter_lengths(bed_path: str | Path) -> np.ndarray:
    bed = pd.read_csv(bed_path, sep="\t", header=None, usecols=[1, 2])
    return (bed[2] - bed[1]).to_numpy()


def plot_corpus(stats: pd.DataFrame, lengths: dict[str, np.ndarray], path: str | Path) -> None:
    """Three panels: promoters kept/dropped per genome, base composition, and the length distribution."""
    genomes = list(stats["genome"])
    x = np.arange(len(genomes))
    fig, (counts_ax, composition_ax, lengths_ax) = plt.subplots(1, 3, figsize=(16, 5), constrained_layout=True)

    bottom = np.zeros(len(genomes))
    for column, label in [("kept", "kept")] + [
        (f"dropped_{r}", f"dropped: {r.replace('_', ' ')}") for r in DROP_REASONS
    ]:
        values = stats[column].to_numpy()
        bars = counts_ax.bar(x, values, bottom=bottom, label=label)
        if column == "kept":
            counts_ax.bar_label(bars, labels=[f"{v:,}" for v in values], label_type="center", color="white")
        bottom += values
    counts_ax.set_xticks(x, genomes, rotation=30, ha="right")
    counts_ax.set_ylabel("genes")
    counts_ax.set_title("Promoters kept and dropped per genome")
    counts_ax.legend()

    # N is usually a fraction of a percent next to ~40 % GC: printed values keep both readable on one axis
    width = 0.4
    for offset, column, label in [
        (-width / 2, "gc_fraction", "GC (% of A/C/G/T)"),
        (width / 2, "n_fraction", "N (% of all bases)"),
    ]:
        bars = composition_ax.bar(x + offset, 100 * stats[column], width, label=label)
        composition_ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
    composition_ax.set_xticks(x, genomes, rotation=30, ha="right")
    composition_ax.set_ylabel("percent of promoter bases")
    composition_ax.set_ylim(0, 100)
    composition_ax.set_title("Promoter base composition")
    composition_ax.legend()

    all_lengths = np.concatenate([values for values in lengths.values() if len(values)] or [np.zeros(1)])
    bins = np.linspace(0, max(all_lengths.max(), 1) + 1, 41)
    for genome, linestyle in zip(genomes, ["-", "--", ":", "-."] * len(genomes)):
        lengths_ax.hist(lengths[genome], bins=bins, histtype="step", linewidth=1.5, linestyle=linestyle, label=genome)
    lengths_ax.set_yscale("log")
    lengths_ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))
    lengths_ax.set_ylim(bottom=0.8)
    lengths_ax.set_xlabel("promoter length (bp)")
    lengths_ax.set_ylabel("promoters (log scale)")
    lengths_ax.set_title("Promoter lengths (short: near a chromosome end)")
    lengths_ax.legend()

    fig.suptitle(f"Promoter corpus: {int(stats['kept'].sum()):,} promoters from {len(genomes)} genomes")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def summarize_corpus(
    stats_paths: list[str | Path], bed_paths: list[str | Path], out_table: str | Path, out_figure: str | Path
) -> pd.DataFrame:
    stats = combine_stats(stats_paths)
    lengths = {genome: promoter_lengths(bed) for genome, bed in zip(stats["genome"], bed_paths, strict=True)}
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
) -> Counter[str]:
    """Write one uppercase promoter per line; returns what was kept and left out, by reason.

    Left out: held-out genes of `held_out_genome` by ID and any promoter identical to a held-out sequence (so that
    identical paralogs or orthologs cannot leak test sequences), with `similarity` also any promoter near-identical
    to one (MMseqs2, both strands), sequences shorter than `min_length` and sequences with more than
    `max_n_fraction` N. `held_out_label` names the held-out set in the counts (left_out_similar_to_<label>).
    """
    held_out_ids = held_out_ids or set()
    held_out_sequences = held_out_sequences or set()
    targets = {str(i): sequence for i, sequence in enumerate(sorted(held_out_sequences))}
    counts: Counter[str] = Counter()
    with atomic_path(out_path) as tmp, open(tmp, "w") as out:
        for genome, fasta in promoter_fastas.items():
            candidates: dict[str, str] = {}
            for gene_id, sequence in read_fasta(fasta).items():
                sequence = sequence.upper()
                if genome == held_out_genome and gene_id in held_out_ids:
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
    log.info("%s: %s", out_path, dict(counts))
    return counts
