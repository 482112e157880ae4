"""Rule publish_model: results/models/{model}, the model's first fit as a folder to hand on, whose card states its
test figures beside the validation figures it was saved with (the test genes are scored only after every model
is fitted, so the fitted folder cannot carry them)."""

import logging
from pathlib import Path

import pandas as pd

from cornbert import model_folder
from cornbert.runtime import run_entry

log = logging.getLogger("cornbert.publish_model")


def main(smk) -> None:
    metrics = pd.read_csv(smk.input.metrics, sep="\t")
    section, entries = model_folder.card_test_figures(metrics, smk.wildcards.model, smk.input.metrics)
    model_folder.publish(Path(smk.input.model), Path(smk.output.model), section, entries)
    log.info("%s: %s with its test figures", smk.wildcards.model, smk.output.model)


run_entry(main, snakemake)  # noqa: F821
