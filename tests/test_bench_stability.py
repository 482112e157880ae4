"""bench/stability.py's two readings of many fits: how the score of a k-fit ensemble spreads, and in how many fits
motif discovery finds each planted demo element where it was planted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import load_bench_script


@pytest.fixture(scope="module")
def stability():
    return load_bench_script("stability")


def test_a_planted_element_counts_only_in_its_own_contrast_and_sign_with_one_base_wrong_or_missing(stability):
    rows = [
        ("mean over tissues", "+", "GGTATAAATAC"),  # the core element
        ("shoot vs mean", "+", "ATCTAATCA"),  # reverse complement of GATAAGAT (ATCTTATC) with one mismatch
        ("root vs mean", "-", "GCCACGTG"),  # the G box, but lowering root
        ("ear vs mean", "+", "CCAGGTGG"),  # the CArG box CCATTTGG with two mismatches
    ]
    table = pd.DataFrame(rows, columns=["attribution", "sign", "consensus"])
    found = stability.planted_found(table, ["root", "shoot", "ear"])
    assert found == {
        "core element, mean over tissues": True,
        "G_box raising root": False,
        "GATA_box raising shoot": True,
        "CArG_box raising ear": False,
    }
    # A trimmed consensus may lose one end base of the element, not two.
    for consensus, expected in (("CATTTGG", True), ("ATTTGG", False), ("CCAAATGG", True)):
        table = pd.DataFrame([("ear vs mean", "+", consensus)], columns=["attribution", "sign", "consensus"])
        assert stability.planted_found(table, ["ear"])["CArG_box raising ear"] is expected, consensus


def test_ensembles_of_more_fits_score_higher_and_spread_less_when_fits_err_independently(stability):
    rng = np.random.default_rng(1)
    genes, tissues = [f"g{i}" for i in range(400)], ["a", "b"]
    observed = pd.DataFrame(rng.normal(size=(400, 2)), index=genes, columns=tissues)
    test = object.__new__(stability.TestSet)
    test.observed, test.weights = observed, np.ones((1, 400))
    test.reference = test.mse(np.zeros(observed.shape))
    fits = [observed + rng.normal(scale=1.0, size=observed.shape) * rng.uniform(0.6, 1.4) for _ in range(12)]
    sizes = stability.ensemble_sizes(test, fits)
    assert list(sizes) == [str(k) for k in range(1, 7)]
    means, sds = [sizes[k]["mean"] for k in sizes], [sizes[k]["sd"] for k in sizes]
    assert means == sorted(means) and means[-1] > means[0] + 30
    assert sds[-1] < sds[0] / 2
    single = [test.reduction([f])[0] for f in fits]
    assert sizes["1"]["mean"] == pytest.approx(np.mean(single), abs=0.01)
    assert sizes["1"]["sd"] == pytest.approx(np.std(single, ddof=1), abs=0.01)
    identical = stability.ensemble_sizes(test, [fits[0]] * 6)
    assert all(v["sd"] == 0 for v in identical.values())
