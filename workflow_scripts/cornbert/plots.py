"""Figures of the evaluation and importance stages, written to be read without the code at hand."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cornbert.metrics import ALL, ERROR_METRICS  # noqa: E402
from cornbert.runtime import atomic_path  # noqa: E402

METRIC_LABELS = {
    "mse_log": "MSE of log(TPM+1)",
    "mae_tpm": "MAE in TPM",
    "pearson": "Pearson r of log(TPM+1)",
    "spearman": "Spearman ρ of log(TPM+1)",
}


def save(figure: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(figure)


def comparison_values(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """tissue x model values; error metrics divided by the worst (largest) model's value per tissue, as in the study."""
    values = metrics[metrics.metric == metric].pivot(index="tissue", columns="model", values="value")
    if metric in ERROR_METRICS:
        values = values.div(values.max(axis=1), axis=0)
    return values


def plot_comparison(metrics: pd.DataFrame, metric: str, tissues: list[str], models: list[str], path: str | Path) -> None:
    """Grouped bars: one group per tissue (and All), one bar per model."""
    values = comparison_values(metrics, metric).reindex(index=[*tissues, ALL], columns=models)
    figure, axis = plt.subplots(figsize=(max(8, 0.9 * len(values)), 4.5))
    width = 0.8 / len(models)
    x = np.arange(len(values))
    for i, model in enumerate(models):
        axis.bar(x + (i - (len(models) - 1) / 2) * width, values[model].to_numpy(), width, label=model)
    axis.set_xticks(x, values.index, rotation=30, ha="right")
    axis.set_xlabel("tissue")
    if metric in ERROR_METRICS:
        axis.set_ylabel(f"{METRIC_LABELS[metric]}\nrelative to the worst model (lower is better)")
        axis.set_title(f"Test-set {METRIC_LABELS[metric]} of each model, divided by the worst model's")
        axis.axhline(1.0, color="grey", linewidth=0.8)
    else:
        axis.set_ylabel(f"{METRIC_LABELS[metric]} (higher is better)")
        axis.set_title(f"Test-set {METRIC_LABELS[metric]} of each model (constant models have none)")
        axis.axhline(0.0, color="grey", linewidth=0.8)
    axis.legend(title="model", bbox_to_anchor=(1.01, 1), loc="upper left")
    save(figure, path)


def plot_pred_vs_obs(observed: pd.DataFrame, predicted: pd.DataFrame, model: str, path: str | Path) -> None:
    """One panel per tissue: predicted against observed log(TPM+1) for every test gene."""
    tissues = list(observed.columns)
    columns = min(5, len(tissues))
    rows = int(np.ceil(len(tissues) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.2 * rows), squeeze=False)
    limit = float(max(observed.to_numpy().max(), predicted.to_numpy().max())) * 1.05
    for axis, tissue in zip(axes.flat, tissues, strict=False):
        obs, pred = observed[tissue].to_numpy(), predicted.loc[observed.index, tissue].to_numpy()
        axis.scatter(obs, pred, s=4, alpha=0.4, color="tab:blue")
        axis.plot([0, limit], [0, limit], color="grey", linewidth=0.8, label="y = x")
        r = np.corrcoef(obs, pred)[0, 1] if np.ptp(pred) > 0 else float("nan")
        axis.set_title(f"{tissue} (r = {r:.2f})")
        axis.set_xlim(-0.03 * limit, limit)  # keeps the column of unexpressed genes (observed 0) visible
        axis.set_ylim(min(0, float(pred.min())), limit)
        axis.set_xlabel("observed log(TPM+1)")
        axis.set_ylabel("predicted log(TPM+1)")
    for axis in axes.flat[len(tissues) :]:
        axis.set_visible(False)
    axes.flat[0].legend(loc="upper left")
    figure.suptitle(f"{model}: predicted vs observed expression of the test genes")
    figure.tight_layout()
    save(figure, path)


def plot_importance(table: pd.DataFrame, bin_size: int, path: str | Path) -> None:
    """Heatmap of mean |prediction change|: distance from the gene (rows) by mutated length L (columns)."""
    grid = table.pivot(index="distance", columns="L", values="mean_abs_change").sort_index()
    figure, axis = plt.subplots(figsize=(5, 8))
    image = axis.imshow(
        grid.to_numpy(),
        aspect="auto",
        cmap="viridis",
        origin="lower",
        extent=(grid.columns.min() - 0.5, grid.columns.max() + 0.5, grid.index.min(), grid.index.max() + bin_size),
    )
    axis.set_xticks(grid.columns)
    axis.set_xlabel("length L of the replaced sequence (bp)")
    axis.set_ylabel("distance upstream of the gene (bp)")
    axis.set_title("Where mutations change the predicted expression")
    colour_bar = figure.colorbar(image, ax=axis)
    colour_bar.set_label("mean |change| of predicted log(TPM+1)\n(averaged over tissues, genes and draws)")
    save(figure, path)
