"""Mutagenesis importance: the algorithm against a deterministic scorer, and the real model on the demo world."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from cornbert.importance import ImportanceConfig, hottest_distance, mutation_importance, random_different_kmer

ELEMENT = "TATAAATA"


def element_scorer(calls: list[int]):
    """Two 'tissues': 3 and 1 if the element sits 31-38 bp upstream of the gene, else 0."""

    def predict(sequences: list[str]) -> np.ndarray:
        calls.append(len(sequences))
        present = np.array([s[-38:-30] == ELEMENT for s in sequences], dtype=float)
        return np.column_stack([3 * present, present])

    return predict


def promoters(n: int, length: int = 200, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    sequences = []
    for _ in range(n):
        s = "".join(rng.choice(list("ACGT"), length))
        sequences.append(s[: length - 38] + ELEMENT + s[length - 30 :])
    return sequences


def test_random_different_kmer():
    rng = np.random.default_rng(0)
    draws = Counter(random_different_kmer("AC", rng) for _ in range(15_000))
    assert "AC" not in draws
    assert len(draws) == 15  # every other 2-mer, roughly uniformly
    assert min(draws.values()) > 800
    assert all(random_different_kmer("G", rng) != "G" for _ in range(200))
    assert len(random_different_kmer("NNN", rng)) == 3


def test_hottest_region_is_the_element_and_each_gene_is_one_call():
    calls: list[int] = []
    config = ImportanceConfig(positions_per_sequence=60, draws=2, lengths=[1, 2, 3], bin_size=10, batch_size=16)
    table = mutation_importance(promoters(20), element_scorer(calls), config, seed=1)
    assert list(table.columns) == ["distance", "L", "mean_abs_change", "n", "n_unread"]
    assert (table.n_unread == 0).all()  # without the model's reads, every mutation counts as seen
    assert len(calls) == 20  # a gene's mutants in one call: the predictor batches them and shares work between them
    assert sum(calls) == 20 * (1 + 3 * 60 * 2)  # each original once, every mutant once
    assert table.n.sum() == 20 * 3 * 60 * 2
    assert hottest_distance(table) == 30
    # A mutation inside the element always destroys it: |change| is the mean over tissues of (3, 1) = 2.
    single = table[(table.L == 1) & (table.distance == 30)]
    assert single.mean_abs_change.item() == pytest.approx(2.0 * 8 / 10, abs=0.4)  # 8 of the bin's 10 bases
    far = table[table.distance >= 50]
    assert (far.mean_abs_change == 0).all()  # mutations away from the element change nothing


def test_mutations_beyond_what_the_model_reads_are_counted_and_greyed(tmp_path):
    from cornbert.plots import plot_importance

    config = ImportanceConfig(positions_per_sequence=60, draws=1, lengths=[1, 4], bin_size=10)
    # The scorer sees the proximal 50 bp only, as a transformer reads the tokens left after truncation.
    table = mutation_importance(promoters(10), element_scorer([]), config, seed=2, reads=lambda s: np.full(len(s), 50))
    beyond, within = table[table.distance >= 60], table[table.distance < 50]
    assert (beyond.n_unread == beyond.n).all() and (within.n_unread == 0).all()
    assert (beyond.mean_abs_change == 0).all()  # zero because unseen: the column says so
    plot_importance(table, config.bin_size, tmp_path / "heatmap.png")
    assert (tmp_path / "heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_same_seed_same_table():
    config = ImportanceConfig(positions_per_sequence=10, draws=1, lengths=[2], bin_size=20)
    one = mutation_importance(promoters(3), element_scorer([]), config, seed=7)
    two = mutation_importance(promoters(3), element_scorer([]), config, seed=7)
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.slow
def test_demo_importance_peaks_at_the_planted_core_element(demo_run):
    rule = json.loads((demo_run / "resources/demo/planted_rule.json").read_text())
    table = pd.read_csv(demo_run / "results/importance/importance.tsv", sep="\t")
    assert set(table.L) == {1, 2, 3, 4, 5, 6}
    hottest = hottest_distance(table)
    low, high = core_element_distances(rule)
    bin_size = int(np.diff(np.sort(table.distance.unique())).min())
    # the hottest bin overlaps the planted window, allowing for the half-width of the longest mutation
    assert low - bin_size - 3 <= hottest <= high + 3, (hottest, (low, high))


def core_element_distances(rule: dict) -> tuple[int, int]:
    """Distances from the gene (1 = the base next to the gene) of the window holding the planted core element."""
    window = rule["core"]["window"]
    return window["min_distance"], window["max_distance"]
