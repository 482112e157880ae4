"""Figures of the evaluation and importance stages, written to be read without the code at hand."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from cornbert.metrics import ALL, ERROR_METRICS  # noqa: E402
from cornbert.runtime import atomic_path  # noqa: E402

METRIC_LABELS = {
    "mse_log": "MSE of log(TPM+1)",
    "mae_tpm": "MAE in TPM",
    "pearson": "Pearson r of log(TPM+1)",
    "spearman": "Spearman ρ of log(TPM+1)",
}
INTERVAL_COLUMNS = ("value", "ci_low", "ci_high")


def save(figure: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(figure)


def comparison_values(metrics: pd.DataFrame, metric: str) -> dict[str, pd.DataFrame]:
    """tissue x model tables of value, ci_low and ci_high; error metrics (and their intervals) divided by the worst
    (largest) model's value per tissue, as in the study."""
    rows = metrics[metrics.metric == metric]
    tables = {column: rows.pivot(index="tissue", columns="model", values=column) for column in INTERVAL_COLUMNS}
    if metric in ERROR_METRICS:
        worst = tables["value"].max(axis=1)
        tables = {column: table.div(worst, axis=0) for column, table in tables.items()}
    return tables


def interval_description(metrics: pd.DataFrame, ci: float, unit: str) -> str:
    """'mean of N replicates, 95 % bootstrap interval over test genes' for the figure titles."""
    counts = sorted(set(metrics.n_replicates))
    replicates = "one fit per model" if counts == [1] else f"mean of {'/'.join(map(str, counts))} replicates"
    return f"{replicates}, {100 * ci:g} % bootstrap interval over {unit}"


def plot_comparison(
    metrics: pd.DataFrame, metric: str, tissues: list[str], models: list[str], path: str | Path, ci: float, unit: str
) -> None:
    """Grouped bars with bootstrap intervals: one group per tissue (and All), one bar per model.

    unit: what the bootstrap resampled ('test genes', or how they were grouped), for the title.
    """
    tables = {
        column: table.reindex(index=[*tissues, ALL], columns=models)
        for column, table in comparison_values(metrics, metric).items()
    }
    values = tables["value"]
    figure, axis = plt.subplots(figsize=(max(8.0, 1.15 * len(values) + 2), 5))
    width = 0.84 / len(models)
    x = np.arange(len(values))
    colours = plt.get_cmap("tab10" if len(models) <= 10 else "tab20").colors
    no_value = [model for model in models if values[model].isna().all()]
    for i, model in enumerate(models):
        centre = values[model].to_numpy()
        # Intervals are NaN where the bootstrap never defined the metric; those bars get no error bar.
        error = np.vstack([centre - tables["ci_low"][model].to_numpy(), tables["ci_high"][model].to_numpy() - centre])
        label = f"{model} (none)" if model in no_value else model
        axis.bar(x + (i - (len(models) - 1) / 2) * width, centre, width, label=label, color=colours[i % len(colours)],
                 yerr=error, error_kw={"elinewidth": 0.8, "capsize": 1.5, "ecolor": "black"})  # fmt: skip
    axis.axvspan(len(values) - 1.5, len(values) - 0.5, color="grey", alpha=0.12, linewidth=0)
    axis.set_xticks(x, values.index, rotation=30, ha="right")
    axis.set_xlim(-0.5, len(values) - 0.5)
    axis.set_xlabel("tissue (All: mean over tissues)")
    axis.grid(axis="y", color="0.9")
    axis.set_axisbelow(True)
    title = f"Test-set {METRIC_LABELS[metric]} of each model"
    if metric in ERROR_METRICS:
        axis.set_ylabel(f"{METRIC_LABELS[metric]}\nrelative to the worst model (lower is better)")
        title += ", divided by the worst model's"
        axis.axhline(1.0, color="grey", linewidth=0.8)
    else:
        axis.set_ylabel(f"{METRIC_LABELS[metric]} (higher is better)")
        axis.axhline(0.0, color="grey", linewidth=0.8)
        if no_value:
            title += f"\nno bar for {', '.join(no_value)}: one prediction for every gene of a tissue has no correlation"
    axis.set_title(f"{title}\n{interval_description(metrics, ci, unit)}", fontsize=10)
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
    if "n_unread" in table:
        # Cells whose every mutation lies beyond what the model reads: no verdict, so grey, not dark.
        blind = table.assign(blind=table["n_unread"] >= table["n"]).pivot(index="distance", columns="L", values="blind")
        shade = np.ma.masked_where(~blind.reindex_like(grid).fillna(False).to_numpy(bool), np.ones(grid.shape))
        axis.imshow(shade, aspect="auto", cmap=ListedColormap(["0.75"]), origin="lower", extent=image.get_extent())
        if blind.to_numpy().any():
            axis.text(0.02, 0.98, "grey: beyond what the model reads", transform=axis.transAxes, va="top",
                      fontsize=8, color="0.3")  # fmt: skip
    axis.set_xticks(grid.columns)
    axis.set_xlabel("length L of the replaced sequence (bp)")
    axis.set_ylabel("distance upstream of the gene (bp)")
    axis.set_title("Where mutations change the predicted expression")
    colour_bar = figure.colorbar(image, ax=axis)
    colour_bar.set_label("mean |change| of predicted log(TPM+1)\n(averaged over tissues, genes and draws)")
    save(figure, path)
