"""Entry point of rule prepare_targets: checked expression values joined with the promoters, as log(TPM+1)."""

import logging

from cornbert.expression import IdRules, build_targets, join_summary, read_id_map
from cornbert.fasta import write_fasta
from cornbert.runtime import run_entry
from cornbert.tables import write_tsv

log = logging.getLogger("cornbert.prepare_targets")


def main(smk) -> None:
    p = smk.params
    rules = IdRules(
        suffix_pattern=p.id_rules["suffix_pattern"],
        strip_prefixes=tuple(p.id_rules["strip_prefixes"]),
        ignore_case=p.id_rules["ignore_case"],
        id_map=read_id_map(smk.input.id_map) if "id_map" in smk.input.keys() else {},
    )
    targets, join, sequences = build_targets(
        smk.input.table,
        smk.input.sequences,
        values=p.values,
        min_max_tpm=p.min_max_tpm,
        split_column=p.split_column,
        check_letters=p.sequence_mode,
        id_rules=rules,
        min_matched_fraction=p.min_matched_fraction,
    )
    counts = join.counts()
    # WARNING whenever genes were left out: a join that quietly loses genes is the commonest wrong first run.
    level = logging.WARNING if len(join.unmatched) else logging.INFO
    log.log(level, "join of %s with %s: %s (details in %s)", smk.input.table, smk.input.sequences,
            ", ".join(f"{count} {outcome}" for outcome, count in counts.items()), smk.output.unmatched)
    if join.cause:
        log.warning("%s", join.cause)
    log.info("%d genes x %d tissues (%s)", *targets.shape, ", ".join(targets.columns))
    write_tsv(targets, smk.output.targets)
    write_tsv(join.unmatched, smk.output.unmatched, index=False)
    write_tsv(join_summary(join), smk.output.summary, index=False)
    write_fasta(sequences, smk.output.promoters)


run_entry(main, snakemake)  # noqa: F821
