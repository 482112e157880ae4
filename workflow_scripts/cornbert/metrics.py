"""Scores of every model on the test genes, per tissue and over all tissues ('All'), as in the study.

- mse_log: mean squared error of log(TPM+1).
- mae_tpm: mean absolute error in TPM, after back-transforming both sides with expm1; predictions below 0 on the
  log scale are taken as 0 TPM (expression cannot be negative; the same clip as the `_tpm` prediction columns).
- pearson, spearman: correlation of predicted and observed log(TPM+1) (for 'All': over all gene x tissue pairs).
- pct_reduction_mse_log, pct_reduction_mae_tpm: 100 * (const_mean - model) / const_mean.
'All' pools every gene x tissue pair, so its MSE/MAE is the mean of the per-tissue values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from cornbert.errors import InputError
from cornbert.tables import check_split, read_predictions, read_split, read_targets

REFERENCE = "const_mean"
ALL = "All"
ERROR_METRICS = ("mse_log", "mae_tpm")
CORRELATION_METRICS = ("pearson", "spearman")
METRICS = (*ERROR_METRICS, *CORRELATION_METRICS, "pct_reduction_mse_log", "pct_reduction_mae_tpm")


def mse_log(observed: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean((predicted - observed) ** 2))


def mae_tpm(observed: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(np.expm1(np.clip(predicted, 0, None)) - np.expm1(observed))))


def pearson(observed: np.ndarray, predicted: np.ndarray) -> float:
    if np.ptp(observed) == 0 or np.ptp(predicted) == 0:
        return float("nan")  # undefined for a constant (e.g. const_mean)
    return float(stats.pearsonr(observed, predicted).statistic)


def spearman(observed: np.ndarray, predicted: np.ndarray) -> float:
    if np.ptp(observed) == 0 or np.ptp(predicted) == 0:
        return float("nan")
    return float(stats.spearmanr(observed, predicted).statistic)


SCORES = {"mse_log": mse_log, "mae_tpm": mae_tpm, "pearson": pearson, "spearman": spearman}


def score_model(observed: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """Tidy (tissue, metric, value) rows for one model; both frames are aligned gene x tissue log(TPM+1)."""
    rows = []
    groups = {tissue: (observed[tissue].to_numpy(), predicted[tissue].to_numpy()) for tissue in observed.columns}
    groups[ALL] = (observed.to_numpy().ravel(), predicted.to_numpy().ravel())
    for tissue, (obs, pred) in groups.items():
        for metric, score in SCORES.items():
            rows.append((tissue, metric, score(obs, pred)))
    return pd.DataFrame(rows, columns=["tissue", "metric", "value"])


def evaluate(observed: pd.DataFrame, predictions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Tidy table (model, tissue, metric, value) for every model, including % reduction against const_mean.

    Every prediction frame must hold exactly the genes and tissues of `observed` (the caller checks and names files).
    """
    tables = []
    for model, predicted in predictions.items():
        table = score_model(observed, predicted.loc[observed.index, observed.columns])
        table.insert(0, "model", model)
        tables.append(table)
    metrics = pd.concat(tables, ignore_index=True)
    if REFERENCE in predictions:
        metrics = pd.concat([metrics, percentage_reduction(metrics)], ignore_index=True)
    return metrics


def percentage_reduction(metrics: pd.DataFrame) -> pd.DataFrame:
    errors = metrics[metrics.metric.isin(ERROR_METRICS)]
    reference = errors[errors.model == REFERENCE].set_index(["tissue", "metric"]).value
    keyed = errors.set_index(["tissue", "metric"])
    reduction = 100 * (reference.reindex(keyed.index).to_numpy() - keyed.value.to_numpy()) / reference.reindex(keyed.index).to_numpy()
    return pd.DataFrame({
        "model": keyed.model.to_numpy(),
        "tissue": keyed.index.get_level_values("tissue"),
        "metric": "pct_reduction_" + keyed.index.get_level_values("metric"),
        "value": reduction,
    })  # fmt: skip


def study_table(metrics: pd.DataFrame, metric: str, model: str, tissues: list[str]) -> pd.DataFrame:
    """The study's table: rows tissues + All; columns the model, const_mean and the % reduction."""
    values = metrics[metrics.metric == metric].pivot(index="tissue", columns="model", values="value")
    reduction = metrics[(metrics.metric == f"pct_reduction_{metric}") & (metrics.model == model)].set_index("tissue").value
    table = pd.DataFrame({model: values[model], REFERENCE: values[REFERENCE], "pct_reduction": reduction})
    table = table.reindex([*tissues, ALL])
    table.index.name = "tissue"
    return table


def load_test_set(targets_path: str, split_path: str, prediction_paths: Sequence[str], models: Sequence[str]):
    """Observed test-gene targets and each model's predictions, checked to cover the same genes and tissues."""
    targets = read_targets(targets_path)
    split = read_split(split_path)
    check_split(targets, split, split_path)
    observed = targets[split.reindex(targets.index).eq("test").to_numpy()]
    predictions = {}
    for model, path in zip(models, prediction_paths, strict=True):
        predicted = read_predictions(path)
        missing_tissues = sorted(set(observed.columns) - set(predicted.columns))
        if missing_tissues:
            raise InputError(path, f"no predictions for tissue(s) {missing_tissues}")
        missing_genes = observed.index.difference(predicted.index)
        if len(missing_genes):
            raise InputError(path, f"no predictions for {len(missing_genes)} test gene(s), e.g. {list(missing_genes[:3])}")
        if predicted.loc[observed.index, observed.columns].isna().any().any():
            raise InputError(path, "predictions contain missing values")
        predictions[model] = predicted.loc[observed.index, observed.columns]
    return observed, predictions
