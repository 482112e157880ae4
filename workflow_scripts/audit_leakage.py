"""Entry point of rule audit_leakage: gene pairs that share promoter sequence across train, validation and test.

Its own search, at the looser audit criterion, independent of the one split_genes grouped by (see cornbert.splits).
"""

import logging

from cornbert.fasta import read_fasta, sequences_for
from cornbert.runtime import run_entry
from cornbert.splits import Similarity, audit_pairs, leakage_table, read_promoter_bed
from cornbert.tables import read_split, write_tsv

log = logging.getLogger("cornbert.audit_leakage")


def main(smk) -> None:
    p = smk.params
    split = read_split(smk.input.split)
    genes = sorted(split.index)
    sequences = dict(zip(genes, sequences_for(genes, read_fasta(smk.input.promoters), smk.input.promoters)))
    bed = read_promoter_bed(smk.input.bed) if "bed" in smk.input.keys() else None
    audit = Similarity(p.audit_identity, p.audit_coverage, smk.threads)
    log.info("audit criterion: identity >= %s, coverage of both >= %s, any window overlap; near_identical: the "
             "split's identity >= %s, coverage >= %s", audit.identity, audit.coverage, p.identity, p.coverage)
    pairs = audit_pairs(sequences, bed, audit, Similarity(p.identity, p.coverage))
    table = leakage_table(split, pairs)
    for kind, rows in table.groupby("kind", sort=False):
        crossing = int(rows["n_pairs"].sum())
        level = logging.WARNING if crossing and kind in ("identical", "near_identical") else logging.INFO
        log.log(level, "%s: %d linked pairs, %d of them across splits", kind, len(pairs[kind]), crossing)
    write_tsv(table, smk.output.leakage, index=False)


run_entry(main, snakemake)  # noqa: F821
