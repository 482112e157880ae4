"""Expression targets: read and check a gene x tissue matrix, join it with the promoters, split genes.

Two input modes produce the same three tables (targets, split, promoters of the target genes):
- matrix mode: a TPM matrix keyed by the gene IDs of a genome whose promoters the workflow extracted;
- sequence mode: a FASTA of ready-cut sequences and a table of their measurements (TPM or already log).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cornbert.errors import InputError
from cornbert.fasta import open_text, read_fasta
from cornbert.runtime import atomic_path
from cornbert.tables import SPLITS

log = logging.getLogger("cornbert.expression")

ID_COLUMN = "gene_id"
REQUIRED_SPLITS = ("train", "test")
EXAMPLES = 5


def sniff_separator(path: str | Path) -> str:
    """Tab or comma, whichever splits the header line into more fields."""
    with open_text(path) as handle:
        header = handle.readline()
    if not header.strip():
        raise InputError(path, "the file is empty (expected a header line with a `gene_id` column)")
    return "\t" if header.count("\t") >= header.count(",") else ","


def _examples(items: Iterable) -> str:
    items = list(items)
    shown = ", ".join(str(item) for item in items[:EXAMPLES])
    return shown + (f" (and {len(items) - EXAMPLES} more)" if len(items) > EXAMPLES else "")


def _true_cells(mask: pd.DataFrame) -> list[tuple[str, str]]:
    """(row, column) of the True cells of a boolean frame, row by row."""
    cells = mask.stack()
    return list(cells[cells].index)


def read_measurements(path: str | Path, allow_negative: bool = False, extra_columns: Iterable[str] = ()) -> pd.DataFrame:
    """A gene x tissue table, checked: index gene_id (unique), one float column per tissue.

    `extra_columns` are kept out of the tissue columns (e.g. a split column) and returned as they are.
    """
    separator = sniff_separator(path)
    try:
        table = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputError(path, f"cannot be read as a {'TSV' if separator == chr(9) else 'CSV'} table: {error}") from None
    if ID_COLUMN not in table.columns:
        raise InputError(
            path, f"no `{ID_COLUMN}` column (columns found: {_examples(table.columns)}); name the gene ID column `{ID_COLUMN}`"
        )
    if table.empty:
        raise InputError(path, "the table has a header but no genes")
    table[ID_COLUMN] = table[ID_COLUMN].str.strip()
    empty_ids = table.index[table[ID_COLUMN] == ""]
    if len(empty_ids):
        raise InputError(path, f"{len(empty_ids)} rows have an empty `{ID_COLUMN}` (data rows {_examples(empty_ids + 1)})")
    duplicated = table[ID_COLUMN][table[ID_COLUMN].duplicated()].unique()
    if len(duplicated):
        raise InputError(path, f"{len(duplicated)} gene IDs occur more than once: {_examples(duplicated)}")
    table = table.set_index(ID_COLUMN)
    extra = [c for c in extra_columns if c]
    missing_extra = [c for c in extra if c not in table.columns]
    if missing_extra:
        raise InputError(path, f"no column {_examples(missing_extra)} (columns found: {_examples(table.columns)})")
    tissues = [c for c in table.columns if c not in extra]
    if not tissues:
        raise InputError(path, f"no tissue columns besides `{ID_COLUMN}`: expected one numeric column per tissue")
    values = table[tissues].apply(lambda column: pd.to_numeric(column.str.strip(), errors="coerce"))
    bad = values.isna() | ~np.isfinite(values)
    if bad.to_numpy().any():
        cells = [f"{gene}/{tissue}={table.at[gene, tissue]!r}" for gene, tissue in _true_cells(bad)]
        raise InputError(path, f"{len(cells)} values are missing or not numbers (gene/column=value): {_examples(cells)}")
    if not allow_negative:
        negative = values < 0
        if negative.to_numpy().any():
            cells = [f"{gene}/{tissue}={values.at[gene, tissue]:g}" for gene, tissue in _true_cells(negative)]
            raise InputError(path, f"{len(cells)} TPM values are negative (gene/column=value): {_examples(cells)}")
    return pd.concat([values.astype(float), table[extra]], axis=1)


@dataclass(frozen=True)
class IdRules:
    """How the matrix's IDs become the annotation's gene IDs before the join (expression.id_* keys).

    A user's map wins; other IDs lose the first matching prefix, then the suffix pattern (e.g. `\\.\\d+$` turns the
    transcript AT5G01010.1 into its gene AT5G01010). With `ignore_case` the join compares IDs in upper case.
    """

    suffix_pattern: str = ""
    strip_prefixes: tuple[str, ...] = ()
    ignore_case: bool = False
    id_map: dict[str, str] = field(default_factory=dict)

    def normalise(self, matrix_id: str) -> str:
        if matrix_id in self.id_map:
            return self.id_map[matrix_id]
        gene_id = next((matrix_id[len(p):] for p in self.strip_prefixes if matrix_id.startswith(p)), matrix_id)
        return re.sub(self.suffix_pattern, "", gene_id) if self.suffix_pattern else gene_id

    def key(self, gene_id: str) -> str:
        return gene_id.upper() if self.ignore_case else gene_id


def read_id_map(path: str | Path) -> dict[str, str]:
    """A two-column table with a header: the matrix's ID, then the annotation's gene ID."""
    separator = sniff_separator(path)
    table = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False)
    if table.shape[1] != 2:
        raise InputError(path, f"an ID map needs exactly two columns (matrix ID, gene ID), found {table.shape[1]}")
    table = table.apply(lambda column: column.str.strip())
    source, target = table.columns
    empty = table.index[(table[source] == "") | (table[target] == "")]
    if len(empty):
        raise InputError(path, f"{len(empty)} rows have an empty ID (data rows {_examples(empty + 1)})")
    duplicated = table[source][table[source].duplicated()].unique()
    if len(duplicated):
        raise InputError(path, f"{len(duplicated)} matrix IDs are mapped more than once: {_examples(duplicated)}")
    return dict(zip(table[source], table[target], strict=True))


# Layouts of IDs that keep a matrix from matching its annotation, tried on the unmatched IDs to say why and what fixes
# it. Suffixes: Arabidopsis/rice transcripts (.1), maize transcripts and proteins (_T001, _P001), others (-T1, .t1).
KNOWN_SUFFIXES = (r"\.\d+$", r"_T\d+$", r"_P\d+$", r"-T\d+$", r"\.t\d+$")
PREFIX_ENDS = ":-|_."


@dataclass(frozen=True)
class Cause:
    what: str  # e.g. "a version or transcript suffix"
    fix: str  # the key and value that fix it
    candidates: dict[str, str]  # unmatched matrix ID -> the annotation's ID it would match

    def __str__(self) -> str:
        example = next(iter(self.candidates.items()))
        return (f"{len(self.candidates)} unmatched matrix IDs differ from an annotation ID by {self.what} "
                f"(e.g. {example[0]} vs {example[1]}): {self.fix}")


def likely_cause(matrix_ids: list[str], sequence_ids: list[str]) -> Cause | None:
    """The ID layout difference that explains most unmatched matrix IDs, if any does."""
    sequence_set = set(sequence_ids)
    causes = []
    for pattern in KNOWN_SUFFIXES:
        on_matrix = {m: re.sub(pattern, "", m) for m in matrix_ids if re.sub(pattern, "", m) in sequence_set}
        causes.append(Cause("a version or transcript suffix on the matrix side",
                            f"set expression.id_suffix_pattern: '{pattern}'", on_matrix))
        stripped = {re.sub(pattern, "", s): s for s in sequence_ids if re.search(pattern, s)}
        on_annotation = {m: stripped[m] for m in matrix_ids if m in stripped}
        causes.append(Cause(
            "a transcript suffix on the annotation side (its records are transcripts)",
            "take gene records (promoters.feature_type: gene), or group transcripts into genes "
            "(promoters.feature_type: mRNA, id_attribute: Parent, isoforms: most_upstream)",
            on_annotation,
        ))
    for side, ids, others, key in (("matrix", matrix_ids, sequence_set, "expression.strip_id_prefixes"),
                                   ("annotation", sequence_ids, set(matrix_ids), "promoters.strip_id_prefixes")):
        found: dict[str, dict[str, str]] = {}
        for name in ids:
            cut = next((c for c in range(1, len(name)) if name[c - 1] in PREFIX_ENDS and name[c:] in others), 0)
            if cut:
                matrix_id, sequence_id = (name, name[cut:]) if side == "matrix" else (name[cut:], name)
                found.setdefault(name[:cut], {})[matrix_id] = sequence_id
        for prefix, candidates in found.items():
            causes.append(Cause(f"the prefix {prefix!r} on the {side} side", f"add it to {key}", candidates))
    upper = {s.upper(): s for s in sequence_ids}
    causes.append(Cause("letter case", "set expression.ignore_id_case: true",
                        {m: upper[m.upper()] for m in matrix_ids if m.upper() in upper}))
    best = max(causes, key=lambda cause: len(cause.candidates))
    return best if best.candidates else None


@dataclass
class Join:
    """The matrix joined with the sequences: matched pairs in matrix order, and every gene left out with the reason."""

    pairs: list[tuple[str, str]]  # (matrix ID, sequence ID)
    unmatched: pd.DataFrame  # gene_id, source (matrix | sequences), reason, detail
    cause: Cause | None
    matrix_genes: int
    sequences: int

    def counts(self) -> dict[str, int]:
        reasons = self.unmatched["reason"].value_counts()
        return {
            "matched": len(self.pairs),
            "matched_after_normalisation": sum(m != s for m, s in self.pairs),
            **{reason: int(reasons.get(reason, 0)) for reason in UNMATCHED_REASONS},
        }


UNMATCHED_REASONS = ("no_promoter", "no_expression", "ambiguous", "below_min_max_tpm")


def join_ids(
    measured: Iterable[str],
    sequenced: Iterable[str],
    rules: IdRules,
    matrix_path: str | Path,
    fasta_path: str | Path,
    min_fraction: float = 0.5,
) -> Join:
    """Join matrix IDs to sequence IDs under `rules`; stop when fewer than `min_fraction` match.

    The fraction is of the smaller side, so that a matrix of a whole genome joins a single chromosome's promoters.
    Raises InputError for two matrix IDs that normalise to one gene, and for a join below `min_fraction` (naming
    the likely cause and the key that fixes it).
    """
    measured, sequenced = list(measured), list(sequenced)
    normalised = {m: rules.normalise(m) for m in measured}
    first: dict[str, str] = {}
    for matrix_id, gene_id in normalised.items():
        key = rules.key(gene_id)
        if key in first:
            raise InputError(matrix_path, f"matrix IDs {first[key]!r} and {matrix_id!r} both become gene {gene_id!r} "
                             "under the ID rules (expression.id_suffix_pattern, strip_id_prefixes, ignore_id_case, "
                             "id_map): keep one row per gene, or map them apart with expression.id_map")
        first[key] = matrix_id
    by_key: dict[str, list[str]] = {}
    for sequence_id in sequenced:
        by_key.setdefault(rules.key(sequence_id), []).append(sequence_id)
    pairs, rows, joined = [], [], set()
    for matrix_id in measured:
        hits = by_key.get(rules.key(normalised[matrix_id]), [])
        if len(hits) == 1:
            pairs.append((matrix_id, hits[0]))
            joined.add(hits[0])
        elif hits:
            rows.append((matrix_id, "matrix", "ambiguous", f"matches {', '.join(hits)} ignoring case"))
        else:
            rows.append((matrix_id, "matrix", "no_promoter", ""))
    no_expression = [s for s in sequenced if s not in joined]
    cause = likely_cause([row[0] for row in rows if row[2] == "no_promoter"], no_expression)
    if cause:
        rows = [(m, source, reason, f"would match {cause.candidates[m]}" if m in cause.candidates else detail)
                for m, source, reason, detail in rows]
    rows += [(s, "sequences", "no_expression", "") for s in no_expression]
    join = Join(pairs, pd.DataFrame(rows, columns=[ID_COLUMN, "source", "reason", "detail"]), cause, len(measured),
                len(sequenced))
    smaller = min(len(measured), len(sequenced))
    if not pairs or len(pairs) < min_fraction * smaller:
        raise InputError(
            matrix_path,
            f"only {len(pairs)} of {len(measured)} matrix genes match one of the {len(sequenced)} sequences in "
            f"{fasta_path} ({len(pairs) / max(smaller, 1):.0%} of the smaller side, expression.min_matched_fraction "
            f"is {min_fraction:.0%}). " + (f"Likely cause: {cause}." if cause else
            f"Matrix IDs look like {_examples(measured[:3])}, sequence IDs like {_examples(sequenced[:3])}; "
            "check version or transcript suffixes (expression.id_suffix_pattern), prefixes "
            "(expression.strip_id_prefixes, promoters.strip_id_prefixes), case (expression.ignore_id_case) or map "
            "the IDs with expression.id_map."),
        )
    return join


def filter_min_max_tpm(tpm: pd.DataFrame, min_max_tpm: float) -> pd.DataFrame:
    """Keep genes whose highest TPM over all tissues reaches `min_max_tpm` (drops likely pseudogenes)."""
    if min_max_tpm <= 0:
        return tpm
    return tpm[tpm.max(axis=1) >= min_max_tpm]


def given_split(column: pd.Series, path: str | Path) -> pd.Series:
    """A split read from the user's table: each value `train`, `validation` or `test`; train and test must occur."""
    values = column.str.strip().str.lower()
    bad = values[~values.isin(SPLITS)]
    if len(bad):
        cells = [f"{gene}={value!r}" for gene, value in column[bad.index].items()]
        raise InputError(
            path, f"split column `{column.name}` must say train, validation or test; found {_examples(cells)}"
        )
    missing = [s for s in REQUIRED_SPLITS if s not in set(values)]
    if missing:
        raise InputError(path, f"split column `{column.name}` has no {missing[0]} genes")
    split = values.rename("split")
    split.index.name = ID_COLUMN
    return split


def plot_targets(targets: pd.DataFrame, split: pd.Series, path: str | Path) -> None:
    """Distribution of log(TPM+1) per tissue, train, validation and test side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tissues = list(targets.columns)
    split = split.reindex(targets.index)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(tissues) + 2), 4.8))
    positions = np.arange(len(tissues))
    colours = {"train": "#4C72B0", "validation": "#55A868", "test": "#DD8452"}
    for offset, name in zip((-0.27, 0.0, 0.27), SPLITS, strict=True):
        data = [targets.loc[split == name, t].to_numpy() for t in tissues]
        if not any(len(d) for d in data):
            continue
        parts = ax.violinplot([d if len(d) else [np.nan] for d in data], positions + offset, widths=0.26,
                              showmedians=True)
        for body in parts["bodies"]:
            body.set_facecolor(colours[name])
            body.set_alpha(0.6)
        for key in ("cmedians", "cmins", "cmaxes", "cbars"):
            parts[key].set_color(colours[name])
        n_genes = int((split == name).sum())
        zero = float((targets.loc[split == name] == 0).to_numpy().mean()) if n_genes else 0.0
        ax.plot([], [], color=colours[name], linewidth=8, alpha=0.6,
                label=f"{name} ({n_genes:,} genes, {zero:.0%} zeros)")
    ax.set_xticks(positions, tissues, rotation=30, ha="right")
    ax.set_xlabel("tissue")
    ax.set_ylabel("log(TPM + 1)")
    ax.set_title(f"Expression targets per tissue: {len(targets):,} genes by split")
    ax.set_ylim(bottom=-0.2, top=float(targets.to_numpy().max()) * 1.2 + 0.5)  # room for the legend
    ax.legend(loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def read_split_table_column(path: str | Path, split_column: str) -> pd.Series:
    table = read_measurements(path, allow_negative=True, extra_columns=[split_column])
    return given_split(table[split_column], path)


def check_sequences(sequences: dict[str, str], path: str | Path) -> None:
    allowed = set("ACGTN")
    bad = [name for name, seq in sequences.items() if not set(seq) <= allowed]
    if bad:
        letters = sorted(set("".join(sequences[name] for name in bad[:EXAMPLES])) - allowed)
        raise InputError(path, f"{len(bad)} sequences contain letters other than A, C, G, T, N ({letters}): {_examples(bad)}")
    empty = [name for name, seq in sequences.items() if not seq]
    if empty:
        raise InputError(path, f"{len(empty)} sequences are empty: {_examples(empty)}")


def build_targets(
    table_path: str | Path,
    fasta_path: str | Path,
    values: str = "tpm",
    min_max_tpm: float = 0.0,
    split_column: str | None = None,
    check_letters: bool = False,
    id_rules: IdRules = IdRules(),
    min_matched_fraction: float = 0.5,
) -> tuple[pd.DataFrame, Join, dict[str, str]]:
    """Targets log(TPM+1) of the genes that have both a measurement and a sequence, keyed by the sequence IDs.

    Returns the targets (index gene_id, one column per tissue), the join (every gene left out, with the reason,
    genes below `min_max_tpm` included), and the sequences of the target genes in target order.
    """
    table = read_measurements(table_path, allow_negative=values == "log", extra_columns=[split_column or ""])
    tissues = [c for c in table.columns if c != split_column]
    sequences = read_fasta(fasta_path)
    if check_letters:
        check_sequences(sequences, fasta_path)
    join = join_ids(table.index, sequences, id_rules, table_path, fasta_path, min_matched_fraction)
    matrix_ids, gene_ids = zip(*join.pairs, strict=True)
    measured = table.loc[list(matrix_ids), tissues].set_axis(pd.Index(gene_ids, name=ID_COLUMN))
    if values == "log":
        if min_max_tpm > 0:
            log.warning("expression.min_max_tpm is ignored for values already on a log scale")
        targets = measured
    else:
        kept = filter_min_max_tpm(measured, min_max_tpm)
        if kept.empty:
            raise InputError(table_path, f"no gene reaches expression.min_max_tpm = {min_max_tpm:g} TPM in any tissue")
        low = [gene for gene in measured.index if gene not in kept.index]
        join.unmatched = pd.concat([join.unmatched, pd.DataFrame(
            {ID_COLUMN: low, "source": "matrix", "reason": "below_min_max_tpm", "detail": f"< {min_max_tpm:g} TPM"})])
        join.pairs = [(m, s) for m, s in join.pairs if s in kept.index]
        targets = np.log1p(kept)
    targets.index.name = ID_COLUMN
    return targets, join, {gene: sequences[gene] for gene in targets.index}


def join_summary(join: Join) -> pd.DataFrame:
    """One row per outcome of the join (genes, share of the matrix or the sequences, examples): the report's table."""
    counts = join.counts()
    matrix_genes, sequences = join.matrix_genes, join.sequences
    rows = [("matrix_genes", matrix_genes, 1.0, ""), ("sequences", sequences, 1.0, "")]
    examples = {reason: _examples(join.unmatched.loc[join.unmatched["reason"] == reason, ID_COLUMN])
                for reason in UNMATCHED_REASONS}
    renamed = [f"{m} -> {s}" for m, s in join.pairs if m != s]
    examples["matched_after_normalisation"] = _examples(renamed)
    for outcome, count in counts.items():
        total = sequences if outcome == "no_expression" else matrix_genes
        rows.append((outcome, count, count / total if total else 0.0, examples.get(outcome, "")))
    return pd.DataFrame(rows, columns=["outcome", "genes", "share", "examples"])
