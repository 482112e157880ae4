"""Fit one baseline (wildcard `baseline`) on the training genes and write its test-gene predictions."""

import logging

from cornbert.baselines import BowConfig, HandEngConfig, fit_predict
from cornbert.cnn import CnnConfig
from cornbert.fasta import read_fasta, sequences_for
from cornbert.tables import check_split
from cornbert.runtime import run_entry, seed_everything
from cornbert.tables import read_split, read_targets, write_predictions

log = logging.getLogger("cornbert.fit_baseline")


def main(smk) -> None:
    seed_everything(smk.params.seed)
    targets = read_targets(smk.input.targets)
    split = read_split(smk.input.split)
    check_split(targets, split, smk.input.split)
    sequences = sequences_for(list(targets.index), read_fasta(smk.input.promoters), smk.input.promoters)
    settings = smk.params.baselines
    predictions = fit_predict(
        smk.wildcards.baseline,
        targets,
        split,
        sequences,
        hand_eng=HandEngConfig(**settings.get("hand_eng", {})),
        bow=BowConfig(**settings.get("bow", {})),
        seed=smk.params.seed,
        threads=smk.threads,
        cnn_config=CnnConfig(**settings.get("cnn", {})),
    )
    write_predictions(predictions, smk.output.predictions)
    log.info("wrote %d test-gene predictions to %s", len(predictions), smk.output.predictions)


run_entry(main, snakemake)  # noqa: F821
