"""Score every model's test-gene predictions: the tidy metrics table and the study's MSE and MAE tables."""

import logging

from cornbert.metrics import evaluate, load_test_set, study_table
from cornbert.runtime import run_entry
from cornbert.tables import write_tsv

log = logging.getLogger("cornbert.evaluate_models")


def main(smk) -> None:
    observed, predictions = load_test_set(smk.input.targets, smk.input.split, smk.input.predictions, smk.params.models)
    log.info("scoring %d models on %d test genes x %d tissues", len(predictions), *observed.shape)
    metrics = evaluate(observed, predictions)
    write_tsv(metrics, smk.output.metrics, index=False)
    tissues = list(observed.columns)
    for metric, path in (("mse_log", smk.output.table_mse), ("mae_tpm", smk.output.table_mae)):
        table = study_table(metrics, metric, smk.params.reported_model, tissues)
        write_tsv(table, path)
        log.info("%s:\n%s", metric, table.to_string(float_format="%.4g"))


run_entry(main, snakemake)  # noqa: F821
