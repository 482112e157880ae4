"""In-silico mutagenesis: which promoter positions the model's predictions depend on, as in the study.

For each gene, each length L and each sampled start position T, the L-mer at T is replaced by a random DIFFERENT
L-mer (`draws` times) and the model predicts again. The change |mutant - original| of the predicted log(TPM+1) is
averaged over tissues (one number per mutation: how much expression moves, whatever the tissue), then over genes
and draws within each (distance bin, L) cell. A mutation's distance is that of its centre from the gene
(cornbert.fasta.distance_from_gene: 1 = the base next to the gene), binned in `bin_size` bp: the row at
distance d covers [d, d + bin_size), so the first row (0) holds distances 1 to bin_size - 1.

The algorithm only needs a `predict(sequences) -> array [n, tissues]`, so it is tested with a pure-Python scorer
and run on any saved model by the rule. With the model's `reads(sequences)` (cornbert.fitted), each cell also
counts the mutations whose centre lies beyond what the model reads of that promoter (`n_unread`): their change is
zero because the model cannot see them, not because the bases do not matter, and the heatmap greys cells that
hold only such mutations.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from cornbert.fasta import distance_from_gene

Predict = Callable[[list[str]], np.ndarray]
BASES = np.array(list("ACGT"))


@dataclass
class ImportanceConfig:
    genes: int = 200  # test genes analysed
    positions_per_sequence: int = 25  # start positions sampled per gene and L
    draws: int = 2  # random replacements per (gene, L, position)
    lengths: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    bin_size: int = 10  # bp per distance bin of the table and heatmap
    batch_size: int = 64  # sequences per forward pass


def random_different_kmer(original: str, rng: np.random.Generator) -> str:
    """A uniformly drawn L-mer over ACGT that differs from `original` (any L-mer if it contains N)."""
    length = len(original)
    if set(original) <= set("ACGT"):
        original_index = sum("ACGT".index(base) * 4 ** (length - 1 - i) for i, base in enumerate(original))
        choices = 4**length - 1
    else:  # the original holds N: every L-mer differs
        original_index, choices = -1, 4**length
    index = int(rng.integers(choices))
    if 0 <= original_index <= index:
        index += 1
    return "".join(BASES[(index // 4 ** np.arange(length - 1, -1, -1)) % 4])


def mutations(sequence: str, config: ImportanceConfig, rng: np.random.Generator) -> tuple[list[str], list[tuple[int, int]]]:
    """Mutant sequences of one promoter and the (distance of the centre, L) of each."""
    mutants, keys = [], []
    for length in config.lengths:
        starts = np.arange(len(sequence) - length + 1)
        chosen = rng.choice(starts, size=min(config.positions_per_sequence, len(starts)), replace=False)
        for start, _ in itertools.product(sorted(chosen), range(config.draws)):
            replacement = random_different_kmer(sequence[start : start + length], rng)
            mutants.append(sequence[:start] + replacement + sequence[start + length :])
            centre = start + (length - 1) // 2
            keys.append((int(distance_from_gene(centre, len(sequence))), length))
    return mutants, keys


def mutation_importance(
    sequences: Sequence[str], predict: Predict, config: ImportanceConfig, seed: int,
    reads: Callable[[list[str]], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Table (distance, L, mean_abs_change, n, n_unread): distance = lower edge of the bin, n = mutations averaged,
    n_unread = those beyond what the model reads (`reads`; without it, none are counted as unread)."""
    rng = np.random.default_rng(seed)
    read = reads(list(sequences)) if reads is not None else [len(s) for s in sequences]
    distances, lengths, changes, unread = [], [], [], []
    for sequence, window in tqdm(zip(sequences, read), total=len(sequences), desc="mutagenesis", unit="gene",
                                 mininterval=5):  # fmt: skip
        mutants, keys = mutations(sequence, config, rng)
        predicted = np.asarray(predict([sequence, *mutants]))  # [1 + mutants, tissues], the original first
        change = np.abs(predicted[1:] - predicted[0]).mean(axis=1)
        distances += [d for d, _ in keys]
        lengths += [length for _, length in keys]
        unread += [d > window for d, _ in keys]
        changes.append(change)
    frame = pd.DataFrame({
        "distance": np.asarray(distances, dtype=np.int64) // config.bin_size * config.bin_size,
        "L": lengths,
        "abs_change": np.concatenate(changes) if changes else [],
        "unread": np.asarray(unread, dtype=np.int64),
    })  # fmt: skip
    table = frame.groupby(["distance", "L"]).agg(mean_abs_change=("abs_change", "mean"), n=("abs_change", "size"),
                                                  n_unread=("unread", "sum")).reset_index()  # fmt: skip
    return table


def hottest_distance(table: pd.DataFrame) -> int:
    """Distance bin with the largest change, weighting every L equally."""
    return int(table.groupby("distance").mean_abs_change.mean().idxmax())
