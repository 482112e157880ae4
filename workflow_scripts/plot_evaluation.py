"""Comparison figures of every model, and predicted vs observed expression of the best one."""

import logging

import pandas as pd

from cornbert.metrics import ALL, load_test_set
from cornbert.plots import plot_comparison, plot_pred_vs_obs
from cornbert.runtime import run_entry

log = logging.getLogger("cornbert.plot_evaluation")


def main(smk) -> None:
    observed, predictions = load_test_set(smk.input.targets, smk.input.split, smk.input.predictions, smk.params.models)
    metrics = pd.read_csv(smk.input.metrics, sep="\t")
    tissues = list(observed.columns)
    for metric in ("mse_log", "mae_tpm", "pearson", "spearman"):
        plot_comparison(metrics, metric, tissues, list(smk.params.models), smk.output[f"compare_{metric}"])
    overall = metrics[(metrics.metric == "mse_log") & (metrics.tissue == ALL)].set_index("model").value
    best = str(overall.idxmin())
    log.info("best model by overall MSE of log(TPM+1): %s (%.4f)", best, overall[best])
    plot_pred_vs_obs(observed, predictions[best], best, smk.output.pred_vs_obs)


run_entry(main, snakemake)  # noqa: F821
