"""Metric formulas against values worked out by hand on a two-gene, two-tissue example."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cornbert.errors import InputError
from cornbert.metrics import METRICS, evaluate, load_test_set, study_table
from cornbert.tables import write_predictions, write_tsv

LN = math.log


def frames():
    genes = pd.Index(["a", "b"], name="gene_id")
    # observed TPM: a = (0, 3), b = (1, 7); log(TPM+1) = (0, ln 4), (ln 2, ln 8)
    observed = pd.DataFrame({"leaf": [0.0, LN(2)], "root": [LN(4), LN(8)]}, index=genes)
    # model predicts TPM a = (1, 3), b = (1, 3)
    model = pd.DataFrame({"leaf": [LN(2), LN(2)], "root": [LN(4), LN(4)]}, index=genes)
    # const_mean predicts TPM 2 everywhere (and a negative log value for gene b, root: clipped to 0 TPM)
    const = pd.DataFrame({"leaf": [LN(3), LN(3)], "root": [LN(3), -1.0]}, index=genes)
    return observed, {"CornBERT": model, "const_mean": const}


def value(metrics, model, tissue, metric):
    row = metrics[(metrics.model == model) & (metrics.tissue == tissue) & (metrics.metric == metric)]
    assert len(row) == 1
    return float(row.value.iloc[0])


def test_metrics_by_hand():
    observed, predictions = frames()
    metrics = evaluate(observed, predictions)
    assert list(metrics.columns) == ["model", "tissue", "metric", "value"]
    assert set(metrics.metric) == set(METRICS)
    # MSE(log): leaf errors ln2, 0 -> ln2^2/2; root errors 0, ln4 - ln8 = -ln2 -> ln2^2/2; All: ln2^2/2
    assert value(metrics, "CornBERT", "leaf", "mse_log") == pytest.approx(LN(2) ** 2 / 2)
    assert value(metrics, "CornBERT", "All", "mse_log") == pytest.approx(LN(2) ** 2 / 2)
    # MAE(TPM): leaf |1-0|, |1-1| -> 0.5; root |3-3|, |3-7| -> 2; All 1.25
    assert value(metrics, "CornBERT", "leaf", "mae_tpm") == pytest.approx(0.5)
    assert value(metrics, "CornBERT", "root", "mae_tpm") == pytest.approx(2.0)
    assert value(metrics, "CornBERT", "All", "mae_tpm") == pytest.approx(1.25)
    # const_mean MAE: leaf |2-0|, |2-1| -> 1.5; root |2-3|, |0-7| (clipped) -> 4; All 2.75
    assert value(metrics, "const_mean", "root", "mae_tpm") == pytest.approx(4.0)
    assert value(metrics, "const_mean", "All", "mae_tpm") == pytest.approx(2.75)
    assert value(metrics, "CornBERT", "All", "pct_reduction_mae_tpm") == pytest.approx(100 * (2.75 - 1.25) / 2.75)
    const_mse_leaf = (LN(3) ** 2 + (LN(3) - LN(2)) ** 2) / 2
    assert value(metrics, "CornBERT", "leaf", "pct_reduction_mse_log") == pytest.approx(
        100 * (const_mse_leaf - LN(2) ** 2 / 2) / const_mse_leaf
    )
    assert value(metrics, "const_mean", "All", "pct_reduction_mse_log") == pytest.approx(0.0)
    # correlations over all four pairs: observed (0, ln4, ln2, ln8) vs predicted (ln2, ln4, ln2, ln4)
    obs = np.array([0, LN(4), LN(2), LN(8)])
    pred = np.array([LN(2), LN(4), LN(2), LN(4)])
    assert value(metrics, "CornBERT", "All", "pearson") == pytest.approx(np.corrcoef(obs, pred)[0, 1])
    # ranks: obs 1, 3, 2, 4; pred ties 1.5, 3.5, 1.5, 3.5 -> r of ranks
    assert value(metrics, "CornBERT", "All", "spearman") == pytest.approx(
        np.corrcoef([1, 3, 2, 4], [1.5, 3.5, 1.5, 3.5])[0, 1]
    )
    assert math.isnan(value(metrics, "CornBERT", "leaf", "pearson"))  # constant prediction in leaf


def test_study_tables():
    observed, predictions = frames()
    table = study_table(evaluate(observed, predictions), "mae_tpm", "CornBERT", ["leaf", "root"])
    assert list(table.index) == ["leaf", "root", "All"]
    assert list(table.columns) == ["CornBERT", "const_mean", "pct_reduction"]
    assert table.loc["All", "CornBERT"] == pytest.approx(1.25)
    assert table.loc["leaf", "pct_reduction"] == pytest.approx(100 * (1.5 - 0.5) / 1.5)


def test_load_test_set_names_the_bad_file(tmp_path):
    observed, predictions = frames()
    targets = pd.concat([observed, observed.rename(index={"a": "t1", "b": "t2"})])
    write_tsv(targets, tmp_path / "targets.tsv")
    split = pd.Series(["test", "test", "train", "train"], index=targets.index, name="split")
    write_tsv(split.to_frame(), tmp_path / "split.tsv")
    write_predictions(predictions["CornBERT"], tmp_path / "good.tsv")
    write_predictions(predictions["CornBERT"].iloc[:1], tmp_path / "short.tsv")
    obs, loaded = load_test_set(tmp_path / "targets.tsv", tmp_path / "split.tsv", [tmp_path / "good.tsv"], ["m"])
    assert list(obs.index) == ["a", "b"]
    np.testing.assert_allclose(loaded["m"].to_numpy(), predictions["CornBERT"].to_numpy(), rtol=1e-5)
    with pytest.raises(InputError, match=r"short\.tsv: no predictions for 1 test gene"):
        load_test_set(tmp_path / "targets.tsv", tmp_path / "split.tsv", [tmp_path / "short.tsv"], ["m"])
