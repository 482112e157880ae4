"""Entry point of rule split_genes: train/validation/test per gene, whole leakage groups at a time."""

import logging

from cornbert.errors import InputError
from cornbert.expression import read_split_table_column
from cornbert.fasta import read_fasta, sequences_for
from cornbert.runtime import run_entry
from cornbert.splits import (
    Similarity,
    chromosome_test_genes,
    connected_groups,
    describe_groups,
    linked_pairs,
    make_split,
    read_promoter_bed,
)
from cornbert.tables import read_targets, write_tsv

log = logging.getLogger("cornbert.split_genes")


def main(smk) -> None:
    p = smk.params
    genes = sorted(read_targets(smk.input.targets).index)
    sequences = dict(zip(genes, sequences_for(genes, read_fasta(smk.input.promoters), smk.input.promoters)))
    bed = read_promoter_bed(smk.input.bed) if "bed" in smk.input.keys() else None
    pairs = linked_pairs(sequences, bed, p.overlap_bp, Similarity(p.identity, p.coverage, smk.threads))
    log.info("linked gene pairs: %s", {kind: len(found) for kind, found in pairs.items()})
    groups = connected_groups(genes, set().union(*pairs.values()))

    test_genes, given = None, None
    if p.split_column:
        given = read_split_table_column(smk.input.table, p.split_column).reindex(genes)
        if given.value_counts().reindex(["train", "test"]).fillna(0).min() == 0:
            raise InputError(smk.input.table, f"split column `{p.split_column}` leaves train or test empty")
        test_genes = list(given.index[given == "test"])
        log.info("test genes from the split column `%s` of %s", p.split_column, smk.input.table)
    elif p.mode == "chromosome":
        test_genes, held_out = chromosome_test_genes(bed, genes, p.test_chromosomes, p.test_fraction, p.seed,
                                                     smk.input.bed)  # fmt: skip
        log.info("test chromosomes: %s", ", ".join(held_out))
    if given is not None and (given == "validation").any():
        split = given
    else:
        split = make_split(p.mode, groups, p.test_fraction, p.validation_fraction, p.seed, test_genes)
    if not (split == "train").any() or not (split == "test").any():
        raise InputError(smk.input.targets, f"cannot split {len(genes)} genes in {groups.nunique()} groups into "
                                            "train and test: too few genes or groups")  # fmt: skip
    log.info("%s split: %s", "given" if p.split_column else p.mode, describe_groups(groups, split))
    write_tsv(split.to_frame().join(groups), smk.output.split)


run_entry(main, snakemake)  # noqa: F821
