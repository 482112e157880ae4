"""Mutagenesis heatmap of any saved model (analysis_model, default the best) on test-gene promoters."""

import logging

import numpy as np
import torch

from cornbert.fasta import read_fasta, sequences_for
from cornbert.importance import ImportanceConfig, hottest_distance, mutation_importance
from cornbert.plots import plot_importance
from cornbert.predict import load_predictor
from cornbert.runtime import run_entry, seed_everything
from cornbert.tables import check_split, read_split, read_targets, write_tsv

log = logging.getLogger("cornbert.compute_importance")


def main(smk) -> None:
    seed_everything(smk.params.seed)
    torch.set_num_threads(max(1, smk.threads))
    config = ImportanceConfig(**smk.params.importance)
    targets = read_targets(smk.input.targets)
    split = read_split(smk.input.split)
    check_split(targets, split, smk.input.split)
    test_genes = sorted(targets.index[split.reindex(targets.index).eq("test").to_numpy()])
    rng = np.random.default_rng(smk.params.seed)
    genes = sorted(rng.choice(test_genes, size=min(config.genes, len(test_genes)), replace=False))
    sequences = sequences_for(genes, read_fasta(smk.input.promoters), smk.input.promoters)

    predict, _, reads = load_predictor(smk.input.model, batch_size=config.batch_size)
    log.info(
        "mutagenesis of %d test genes, L in %s, %d positions x %d draws each",
        len(genes),
        config.lengths,
        config.positions_per_sequence,
        config.draws,
    )

    table = mutation_importance(sequences, predict, config, seed=smk.params.seed, reads=reads)
    unread = int(table["n_unread"].sum())
    if unread:
        log.warning("%d of %d mutations lie beyond what the model reads (%d to %d bp of these promoters): their "
                    "change is no verdict (column n_unread; grey in the heatmap)", unread, int(table["n"].sum()),
                    min(reads(sequences)), max(reads(sequences)))  # fmt: skip
    write_tsv(table, smk.output.table, index=False)
    log.info(
        "largest mean |change| at %d-%d bp from the gene",
        hottest_distance(table),
        hottest_distance(table) + config.bin_size - 1,
    )
    plot_importance(table, config.bin_size, smk.output.heatmap)


run_entry(main, snakemake)  # noqa: F821
