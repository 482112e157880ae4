"""Entry point of rule prepare_targets: checked expression values joined with the promoters, as log(TPM+1)."""

import logging

from cornbert.expression import build_targets, write_unmatched
from cornbert.fasta import write_fasta
from cornbert.runtime import run_entry
from cornbert.tables import write_tsv

log = logging.getLogger("cornbert.prepare_targets")


def main(smk) -> None:
    targets, unmatched, sequences = build_targets(
        smk.input.table,
        smk.input.sequences,
        values=smk.params.values,
        min_max_tpm=smk.params.min_max_tpm,
        split_column=smk.params.split_column,
        check_letters=smk.params.sequence_mode,
    )
    reasons = unmatched["reason"].value_counts()
    log.info(
        "%d genes x %d tissues (%s); unmatched: %d measured without sequence, %d sequences without measurement",
        *targets.shape,
        ", ".join(targets.columns),
        reasons.get("no_promoter", 0),
        reasons.get("no_expression", 0),
    )
    write_tsv(targets, smk.output.targets)
    write_unmatched(unmatched, smk.output.unmatched)
    write_fasta(sequences, smk.output.promoters)


run_entry(main, snakemake)  # noqa: F821
