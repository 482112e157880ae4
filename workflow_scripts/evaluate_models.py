"""Score every model's test-gene predictions (every replicate): the tidy metrics tables and the study's tables."""

import logging
import time

from cornbert.metrics import evaluate, load_test_set, replicate_ensembles, study_table
from cornbert.runtime import run_entry
from cornbert.tables import write_tsv

log = logging.getLogger("cornbert.evaluate_models")


def main(smk) -> None:
    data = load_test_set(
        smk.input.targets, smk.input.split, smk.input.predictions, smk.params.models, smk.params.replicates
    )
    unit = "genes" if data.groups is None else f"{data.groups.nunique()} gene groups (split column `group`)"
    log.info(
        "scoring %d models x %d replicates on %d test genes x %d tissues; %d bootstrap resamples of %s",
        len(data.predictions), smk.params.replicates, *data.observed.shape, smk.params.bootstrap, unit,
    )  # fmt: skip
    start = time.perf_counter()
    params = smk.params
    predictions = data.predictions | replicate_ensembles(data.predictions, params.ensembles)
    result = evaluate(data.observed, predictions, data.groups, params.bootstrap, params.ci, params.seed)
    log.info("scored in %.1f s", time.perf_counter() - start)
    write_tsv(result.metrics, smk.output.metrics, index=False)
    write_tsv(result.replicates, smk.output.replicates, index=False)
    tissues = list(data.observed.columns)
    for metric, path in (("mse_log", smk.output.table_mse), ("mae_tpm", smk.output.table_mae)):
        table = study_table(result.metrics, metric, smk.params.reported_model, tissues)
        write_tsv(table, path)
        log.info("%s:\n%s", metric, table.to_string(float_format="%.4g"))


run_entry(main, snakemake)  # noqa: F821
