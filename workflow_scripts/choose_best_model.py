"""Rule choose_best_model: results/best_model.json names the model with the lowest validation error, the one
`best` means to every tool and the breeder outputs."""

import json
import logging

from cornbert.errors import InputError
from cornbert.metrics import choose_best, validation_figures
from cornbert.runtime import atomic_path, run_entry
from cornbert.tables import read_predictions, read_split, read_targets

log = logging.getLogger("cornbert.choose_best_model")


def main(smk) -> None:
    targets = read_targets(smk.input.targets)
    split = read_split(smk.input.split).reindex(targets.index)
    validation = targets.index[split.eq("validation").to_numpy()]
    if not len(validation):
        raise InputError(smk.input.split, "no validation genes to choose the best model by")
    errors = {}
    for name, path in zip(smk.params.models, smk.input.predictions, strict=True):
        predicted = read_predictions(path).reindex(validation)
        if predicted.isna().any().any():
            raise InputError(path, "no prediction for some validation genes")
        errors[name] = validation_figures(predicted, targets, split)[0]
        log.info("%-16s validation MSE(log) %.4f", name, errors[name])
    choice = choose_best(errors, dict(zip(smk.params.models, smk.input.models, strict=True)))
    choice["validation_genes"] = len(validation)
    with atomic_path(smk.output.choice) as tmp:
        tmp.write_text(json.dumps(choice, indent=1) + "\n")
    log.info("best: %s (%s)", choice["model"], choice["folder"])


run_entry(main, snakemake)  # noqa: F821
