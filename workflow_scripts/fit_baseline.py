"""Fit one baseline (wildcard `baseline`) on the training genes; save it and write its held-out predictions."""

import logging

from cornbert import model_folder
from cornbert.baselines import BowConfig, HandEngConfig, fit, predict_held_out
from cornbert.cnn import CnnConfig
from cornbert.fasta import read_fasta, sequences_for
from cornbert.metrics import validation_figures
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
    predictions = predict_held_out(model, targets, split, sequences)

    genes_in = split.reindex(targets.index).value_counts()
    trained_on = (f"- Targets: {smk.input.targets}; split: {smk.input.split}; promoters: {smk.input.promoters}\n"
                  f"- {genes_in.get('train', 0)} training genes, {genes_in.get('validation', 0)} validation genes, "
                  f"{genes_in.get('test', 0)} test genes (never used in fitting or model choice); "
                  f"seed {smk.params.seed}")  # fmt: skip
    card = model_folder.model_card(model, name, smk.output.model, trained_on,
                                   *validation_figures(predictions, targets, split))  # fmt: skip
    model_folder.save(model, smk.output.model, name, card)
    write_predictions(predictions, smk.output.predictions)
    log.info("saved %s to %s; wrote %d held-out predictions to %s", name, smk.output.model, len(predictions),
             smk.output.predictions)  # fmt: skip


run_entry(main, snakemake)  # noqa: F821
