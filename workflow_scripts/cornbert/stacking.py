"""CornBERT_stack: CornBERT's predictions combined with the baselines', weighted on the validation genes only.

A separately named model, never a replacement for pure CornBERT (the tables show both). Per tissue, the test-gene
prediction is b + sum_m w_m * prediction_m with every w_m >= 0, fitted by non-negative least squares on the
validation genes, where every member predicts out of sample: each model learned from the training genes only
(CornBERT's kept step and the CNN's epoch were chosen on these genes, which makes their weights slightly
optimistic). Non-negative weights keep the combination readable (how much of each model it uses) and cannot
turn an anti-correlated member into a spurious gain.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.optimize import nnls


def fit_weights(validation: Mapping[str, pd.DataFrame], observed: pd.DataFrame) -> pd.DataFrame:
    """Weights per tissue (rows) for every member (columns) plus `intercept`, from the validation genes.

    `validation`: member -> predictions of log(TPM+1) [genes x tissues]; `observed`: the validation genes' targets.
    """
    members = list(validation)
    rows = {}
    for tissue in observed.columns:
        x = np.column_stack([validation[m].loc[observed.index, tissue].to_numpy() for m in members])  # [G, M]
        y = observed[tissue].to_numpy()  # [G]
        # The intercept is fitted on centred data so that nnls constrains only the members' weights.
        weights, _ = nnls(x - x.mean(axis=0), y - y.mean())
        rows[tissue] = [*weights, y.mean() - x.mean(axis=0) @ weights]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[*members, "intercept"]).rename_axis("tissue")


def predict(weights: pd.DataFrame, members: Mapping[str, pd.DataFrame], genes: pd.Index) -> pd.DataFrame:
    """The stacked prediction of log(TPM+1) for `genes` [genes x tissues]."""
    columns = {
        tissue: sum(weights.at[tissue, m] * members[m].loc[genes, tissue].to_numpy() for m in members)
        + weights.at[tissue, "intercept"]
        for tissue in weights.index
    }
    return pd.DataFrame(columns, index=genes)


def out_of_fold(validation: Mapping[str, pd.DataFrame], observed: pd.DataFrame, folds: int, seed: int) -> pd.DataFrame:
    """Validation-gene predictions of the stack, each from weights fitted on the other folds: the stack's honest
    validation error (weights fitted on all validation genes would score their own fit)."""
    genes = observed.index
    fold_of = np.random.default_rng(seed).permutation(len(genes)) % max(2, min(folds, len(genes)))
    parts = []
    for fold in np.unique(fold_of):
        inside, outside = genes[fold_of == fold], genes[fold_of != fold]
        weights = fit_weights(validation, observed.loc[outside])
        parts.append(predict(weights, validation, inside))
    return pd.concat(parts).loc[genes]
