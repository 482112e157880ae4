"""Expression targets: read and check a gene x tissue matrix, join it with the promoters, split genes.

Two input modes produce the same three tables (targets, split, promoters of the target genes):
- matrix mode: a TPM matrix keyed by the gene IDs of a genome whose promoters the workflow extracted;
- sequence mode: a FASTA of ready-cut sequences and a table of their measurements (TPM or already log).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
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


def match_genes(
    measured: pd.Index, sequenced: Iterable[str], matrix_path: str | Path, fasta_path: str | Path
) -> tuple[list[str], pd.DataFrame]:
    """Genes with both a measurement and a sequence (in matrix order), and the others with the reason."""
    sequenced = list(sequenced)
    sequenced_set = set(sequenced)
    matched = [gene for gene in measured if gene in sequenced_set]
    measured_set = set(measured)
    unmatched = pd.DataFrame(
        [(gene, "no_promoter") for gene in measured if gene not in sequenced_set]
        + [(gene, "no_expression") for gene in sequenced if gene not in measured_set],
        columns=[ID_COLUMN, "reason"],
    )
    if not matched:
        raise InputError(
            matrix_path,
            f"no gene ID matches the sequences in {fasta_path}: matrix IDs look like {_examples(list(measured)[:3])}, "
            f"sequence IDs like {_examples(sequenced[:3])}. Check ID prefixes (promoters.strip_id_prefixes), "
            "version or transcript suffixes (.1, _T001) and promoters.id_attribute",
        )
    return matched, unmatched


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


def write_unmatched(unmatched: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        unmatched.to_csv(tmp, sep="\t", index=False, quoting=csv.QUOTE_MINIMAL)


def build_targets(
    table_path: str | Path,
    fasta_path: str | Path,
    values: str = "tpm",
    min_max_tpm: float = 0.0,
    split_column: str | None = None,
    check_letters: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Targets log(TPM+1) of the genes that have both a measurement and a sequence.

    Returns the targets (index gene_id, one column per tissue), the unmatched genes with the reason, and the
    sequences of the target genes in target order.
    """
    table = read_measurements(table_path, allow_negative=values == "log", extra_columns=[split_column or ""])
    tissues = [c for c in table.columns if c != split_column]
    sequences = read_fasta(fasta_path)
    if check_letters:
        check_sequences(sequences, fasta_path)
    matched, unmatched = match_genes(table.index, sequences, table_path, fasta_path)
    measured = table.loc[matched, tissues]
    if values == "log":
        if min_max_tpm > 0:
            log.warning("expression.min_max_tpm is ignored for values already on a log scale")
        targets = measured
    else:
        kept = filter_min_max_tpm(measured, min_max_tpm)
        log.info("min_max_tpm %g: kept %d of %d matched genes", min_max_tpm, len(kept), len(measured))
        if kept.empty:
            raise InputError(table_path, f"no gene reaches expression.min_max_tpm = {min_max_tpm:g} TPM in any tissue")
        targets = np.log1p(kept)
    targets.index.name = ID_COLUMN
    return targets, unmatched, {gene: sequences[gene] for gene in targets.index}
