"""Comparison figures of every model with bootstrap intervals, and predicted vs observed expression of the best one."""

import logging

import pandas as pd

from cornbert.metrics import ALL, TISSUE_METRICS, load_test_set
from cornbert.plots import plot_comparison, plot_pred_vs_obs
from cornbert.runtime import run_entry

log = logging.getLogger("cornbert.plot_evaluation")


def main(smk) -> None:
    models, replicates = list(smk.params.models), smk.params.replicates
    data = load_test_set(smk.input.targets, smk.input.split, smk.input.predictions, models, replicates)
    metrics = pd.read_csv(smk.input.metrics, sep="\t")
    tissues = list(data.observed.columns)
    unit = "test genes" if data.groups is None else "test genes, resampled by gene group"
    shown = models + [model for model in metrics.model.unique() if model not in models]  # the replicate ensembles
    for metric in TISSUE_METRICS:
        plot_comparison(metrics, metric, tissues, shown, smk.output[f"compare_{metric}"], smk.params.ci, unit)
    overall = metrics[(metrics.metric == "mse_log") & (metrics.tissue == ALL)].set_index("model").value[models]
    best = str(overall.idxmin())
    log.info("best model by overall MSE of log(TPM+1): %s (%.4f)", best, overall[best])
    label = best if replicates == 1 else f"{best} (replicate 1 of {replicates})"
    plot_pred_vs_obs(data.observed, data.predictions[best][0], label, smk.output.pred_vs_obs)


run_entry(main, snakemake)  # noqa: F821
