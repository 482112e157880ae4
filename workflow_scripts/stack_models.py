"""Rule stack_models: a stack (CornBERT_stack, or the control baselines_stack) of its members, by weights fitted
on validation genes."""

import logging

from cornbert.errors import InputError
from cornbert.runtime import run_entry
from cornbert.stacking import fit_weights, predict
from cornbert.tables import read_predictions, read_split, read_targets, write_predictions, write_tsv

log = logging.getLogger("cornbert.stack_models")


def main(smk) -> None:
    targets = read_targets(smk.input.targets)
    split = read_split(smk.input.split).reindex(targets.index)
    validation, test = targets.index[split.eq("validation")], targets.index[split.eq("test")]
    members = {}
    for name, path in zip(smk.params.members, smk.input.predictions, strict=True):
        table = read_predictions(path)
        missing = validation.union(test).difference(table.index)
        if len(missing):
            raise InputError(path, f"no predictions for {len(missing)} validation/test gene(s), e.g. {missing[0]!r}")
        members[name] = table
    weights = fit_weights(members, targets.loc[validation])
    log.info("weights fitted on %d validation genes:\n%s", len(validation), weights.to_string(float_format="%.3f"))
    write_tsv(weights, smk.output.weights)
    write_predictions(predict(weights, members, validation.union(test, sort=False)), smk.output.predictions)


run_entry(main, snakemake)  # noqa: F821
