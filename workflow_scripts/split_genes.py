"""Entry point of rule split_genes: the gene-level train/test split (seeded, or given by the user's table)."""

import logging

from cornbert.errors import InputError
from cornbert.expression import read_split_table_column, split_genes
from cornbert.runtime import run_entry
from cornbert.tables import read_targets, write_tsv

log = logging.getLogger("cornbert.split_genes")


def main(smk) -> None:
    genes = read_targets(smk.input.targets).index
    if smk.params.split_column:
        split = read_split_table_column(smk.input.table, smk.params.split_column).reindex(genes)
        if split.value_counts().reindex(["train", "test"]).fillna(0).min() == 0:
            raise InputError(smk.input.table, f"split column `{smk.params.split_column}` leaves train or test empty")
    else:
        split = split_genes(genes, smk.params.test_fraction, smk.params.seed)
    counts = split.value_counts()
    log.info("%d train and %d test genes", counts.get("train", 0), counts.get("test", 0))
    write_tsv(split.to_frame(), smk.output.split)


run_entry(main, snakemake)  # noqa: F821
