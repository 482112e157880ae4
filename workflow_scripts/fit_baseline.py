"""Fit one baseline (wildcard `baseline`) on the training genes; save it and write its held-out predictions."""

import logging

import numpy as np

from cornbert import model_folder
from cornbert.baselines import BowConfig, HandEngConfig, fit, held_out
from cornbert.cnn import CnnConfig
from cornbert.fasta import read_fasta, sequences_for
from cornbert.runtime import run_entry, seed_everything
from cornbert.tables import check_split, read_split, read_targets, write_predictions

log = logging.getLogger("cornbert.fit_baseline")


def main(smk) -> None:
    seed_everything(smk.params.seed)
    targets = read_targets(smk.input.targets)
    split = read_split(smk.input.split)
    check_split(targets, split, smk.input.split)
    sequences = sequences_for(list(targets.index), read_fasta(smk.input.promoters), smk.input.promoters)
    settings = smk.params.baselines
    name = smk.wildcards.baseline
    model = fit(
        name,
        targets,
        split,
        sequences,
        hand_eng=HandEngConfig(**settings.get("hand_eng", {})),
        bow=BowConfig(**settings.get("bow", {})),
        seed=smk.params.seed,
        threads=smk.threads,
        cnn_config=CnnConfig(**settings.get("cnn", {})),
    )
    genes = held_out(targets, split)
    by_gene = dict(zip(targets.index, sequences))
    predictions = targets.loc[genes].copy()
    predictions[:] = model.predict([by_gene[g] for g in genes])

    labels = split.reindex(targets.index)
    validation = targets.index[labels.eq("validation").to_numpy()]
    observed = targets.loc[validation].to_numpy()
    train_mean = targets.loc[labels.eq("train").to_numpy()].mean().to_numpy()
    trained_on = (f"- Targets: {smk.input.targets}; split: {smk.input.split}; promoters: {smk.input.promoters}\n"
                  f"- {int(labels.eq('train').sum())} training genes, {len(validation)} validation genes, "
                  f"{int(labels.eq('test').sum())} test genes (never used in fitting or model choice); "
                  f"seed {smk.params.seed}")  # fmt: skip
    # A split without validation genes leaves nothing to report (NaN), not a zero error.
    validation_mse = float(np.mean((predictions.loc[validation].to_numpy() - observed) ** 2)) if len(validation) else np.nan
    reference_mse = float(np.mean((train_mean - observed) ** 2)) if len(validation) else np.nan
    card = model_folder.model_card(model, name, smk.output.model, trained_on, validation_mse, reference_mse)
    model_folder.save(model, smk.output.model, name, card)
    write_predictions(predictions, smk.output.predictions)
    log.info("saved %s to %s; wrote %d held-out predictions to %s", name, smk.output.model, len(predictions),
             smk.output.predictions)  # fmt: skip


run_entry(main, snakemake)  # noqa: F821
