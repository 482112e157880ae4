"""Rule stack_models: a stack (CornBERT_stack, or the control baselines_stack) of its members, by weights fitted
on validation genes; saved as a model folder holding copies of its members.

Its validation rows are out of fold (weights fitted on the other folds of the validation genes), so that choosing
the best model by validation error does not reward the stack for scoring its own fit; its test rows use weights
fitted on every validation gene."""

import logging

from cornbert import fitted, model_folder
from cornbert.errors import InputError
from cornbert.metrics import validation_figures
from cornbert.runtime import run_entry
from cornbert.stacking import fit_weights, out_of_fold, predict
from cornbert.tables import read_predictions, read_split, read_targets, write_predictions, write_tsv

log = logging.getLogger("cornbert.stack_models")
FOLDS = 5


def main(smk) -> None:
    targets = read_targets(smk.input.targets)
    split = read_split(smk.input.split).reindex(targets.index)
    validation, test = targets.index[split.eq("validation")], targets.index[split.eq("test")]
    if not len(validation):
        raise InputError(smk.input.split, "no validation genes: a stack's weights are fitted on them")
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
    validation_rows = out_of_fold(members, targets.loc[validation], FOLDS, smk.params.seed)
    predictions = validation_rows.combine_first(predict(weights, members, test)).loc[validation.union(test, sort=False)]
    write_predictions(predictions, smk.output.predictions)

    validation_mse, reference_mse = validation_figures(validation_rows, targets, split)
    stack = fitted.Stack.from_folders(dict(zip(smk.params.members, smk.input.models, strict=True)), weights)
    trained_on = (f"- Members: {', '.join(smk.params.members)} (each fitted on the training genes; see its own card "
                  f"under members/)\n- Weights: non-negative least squares per tissue on {len(validation)} validation "
                  f"genes of {smk.input.split}; the validation figure below is out of fold ({FOLDS} folds)")  # fmt: skip
    weights_text = "\n".join(f"    {line}" for line in weights.to_string(float_format="%.3f").splitlines())
    card = model_folder.model_card(stack, smk.wildcards.stack, smk.output.model, trained_on, validation_mse, reference_mse,
                             f"\nWeights per tissue:\n\n{weights_text}\n\n")  # fmt: skip
    model_folder.save(stack, smk.output.model, smk.wildcards.stack, card)
    log.info("saved %s (%.4f validation MSE, out of fold) to %s", smk.wildcards.stack, validation_mse, smk.output.model)


run_entry(main, snakemake)  # noqa: F821
