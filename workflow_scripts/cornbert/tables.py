"""The TSV tables that stages hand to each other: targets, split and predictions.

All are tab-separated with a `gene_id` first column, so users can open them in any tool.
Predictions carry each tissue twice: `<tissue>_log` = log(TPM+1) and `<tissue>_tpm` = exp(log) - 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cornbert.errors import InputError
from cornbert.runtime import atomic_path

LOG_SUFFIX = "_log"
TPM_SUFFIX = "_tpm"
# Validation genes choose the fine-tuning checkpoint; user-given splits may have none (it is then carved from train).
SPLITS = ("train", "validation", "test")


def write_tsv(frame: pd.DataFrame, path: str | Path, index: bool = True) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=index, float_format="%.6g")


def read_targets(path: str | Path) -> pd.DataFrame:
    """log(TPM+1) per gene (index `gene_id`) and tissue (columns)."""
    return pd.read_csv(path, sep="\t", index_col="gene_id", dtype={"gene_id": str})


def read_split(path: str | Path) -> pd.Series:
    """'train', 'validation' or 'test' per gene_id."""
    return pd.read_csv(path, sep="\t", index_col="gene_id", dtype={"gene_id": str})["split"]


def check_split(targets: pd.DataFrame, split: pd.Series, path: str | Path) -> None:
    """Every gene of the targets must be 'train', 'validation' or 'test'; train and test must be non-empty."""
    labels = split.reindex(targets.index)
    if labels.isna().any():
        missing = list(labels.index[labels.isna()][:3])
        raise InputError(path, f"{int(labels.isna().sum())} gene(s) of the targets table have no split, e.g. {missing}")
    unknown = sorted(set(labels) - set(SPLITS))
    if unknown:
        raise InputError(path, f"split values must be 'train' or 'test' (or 'validation'), found {unknown}")
    if not (labels == "train").any() or not (labels == "test").any():
        raise InputError(path, "the split needs at least one training and one test gene")


def write_predictions(log_pred: pd.DataFrame, path: str | Path) -> None:
    """Write predictions given on the log(TPM+1) scale (index gene_id, one column per tissue)."""
    tissues = list(log_pred.columns)
    table = pd.concat(
        [
            log_pred.add_suffix(LOG_SUFFIX),
            np.expm1(log_pred.clip(lower=0)).add_suffix(TPM_SUFFIX),
        ],
        axis=1,
    )[[t + LOG_SUFFIX for t in tissues] + [t + TPM_SUFFIX for t in tissues]]
    table.index.name = "gene_id"
    write_tsv(table, path)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Predictions on the log(TPM+1) scale: index gene_id, one column per tissue."""
    table = pd.read_csv(path, sep="\t", index_col="gene_id", dtype={"gene_id": str})
    log_columns = [c for c in table.columns if c.endswith(LOG_SUFFIX)]
    return table[log_columns].rename(columns=lambda c: c[: -len(LOG_SUFFIX)])
