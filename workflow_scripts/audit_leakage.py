"""Entry point of rule audit_leakage: gene pairs that share promoter sequence across train, validation and test."""

import logging

from cornbert.fasta import read_fasta, sequences_for
from cornbert.runtime import run_entry
from cornbert.splits import Similarity, leakage_table, linked_pairs, read_promoter_bed
from cornbert.tables import read_split, write_tsv

log = logging.getLogger("cornbert.audit_leakage")


def main(smk) -> None:
    p = smk.params
    split = read_split(smk.input.split)
    genes = sorted(split.index)
    sequences = dict(zip(genes, sequences_for(genes, read_fasta(smk.input.promoters), smk.input.promoters)))
    bed = read_promoter_bed(smk.input.bed) if "bed" in smk.input.keys() else None
    pairs = linked_pairs(sequences, bed, p.overlap_bp, Similarity(p.identity, p.coverage, smk.threads))
    table = leakage_table(split, pairs)
    for kind, rows in table.groupby("kind", sort=False):
        log.info("%s: %d linked pairs, %d of them across splits", kind, len(pairs[kind]), int(rows["n_pairs"].sum()))
    write_tsv(table, smk.output.leakage, index=False)


run_entry(main, snakemake)  # noqa: F821
