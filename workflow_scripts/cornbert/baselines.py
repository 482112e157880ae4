"""The comparison models of the study, fitted on the training genes and scored on the test genes.

- `const_mean`: every test gene gets the training mean of each tissue (the reference for % reduction).
- `hand_eng`: binary presence of known plant promoter elements (cornbert.cis_elements), anywhere and per distance
  window, then one LightGBM regressor per tissue.
- `BOW_5mer`: counts of every k-mer (k = 5) on the given strand, then a linear regression (all tissues at once).
- `CNN_onehot`: a convolutional network over the one-hot promoter, both strands (cornbert.cnn).

All targets are log(TPM+1). `fit_predict` is the only entry point: it selects training rows by the split before
any model sees the targets, so no test target can reach a fitted model. The split's 'validation' genes are fitted
on like 'train' genes, except by CNN_onehot, which early-stops on them.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import lightgbm
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, Ridge

from cornbert import cnn
from cornbert.cis_elements import ELEMENTS, CisElement
from cornbert.fasta import distance_from_gene, reverse_complement

log = logging.getLogger(__name__)

BASELINES = ("const_mean", "hand_eng", "BOW_5mer", "CNN_onehot")


@dataclass
class HandEngConfig:
    # Edges (bp upstream of the gene) of the position windows; presence anywhere is always a feature too.
    window_edges: list[int] = field(default_factory=lambda: [0, 100, 500, 1000])
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20


@dataclass
class BowConfig:
    k: int = 5
    strands: str = "forward"  # "forward": the promoter as given; "canonical": a k-mer and its reverse complement pooled
    ridge_alpha: float = 0.0  # 0: ordinary least squares, as in the study; > 0: ridge


# --- features -------------------------------------------------------------------------------------------------


def element_features(
    sequences: Sequence[str], window_edges: Sequence[int], elements: Sequence[CisElement] = ELEMENTS
) -> pd.DataFrame:
    """0/1 presence of each element anywhere and in each distance window [edge_i, edge_i+1) (by the match's centre)."""
    edges = np.asarray(window_edges)
    windows = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(edges)]
    columns = [f"{e.name}@any" for e in elements] + [f"{e.name}@{w}" for e in elements for w in windows]
    features = np.zeros((len(sequences), len(columns)), dtype=np.uint8)
    n_elements = len(elements)
    for j, element in enumerate(elements):
        regex = element.regex()
        for i, sequence in enumerate(sequences):
            hits = [(m.start(), len(m.group(1))) for m in regex.finditer(sequence)]
            if not hits:
                continue
            features[i, j] = 1
            centres = np.array([start + (width - 1) / 2 for start, width in hits])
            window = np.searchsorted(edges, distance_from_gene(centres, len(sequence)), side="right") - 1
            for w in np.unique(window[(window >= 0) & (window < len(windows))]):
                features[i, n_elements + j * len(windows) + w] = 1
    return pd.DataFrame(features, columns=columns)


def kmer_vocabulary(k: int) -> list[str]:
    return ["".join(p) for p in itertools.product("ACGT", repeat=k)]


def kmer_counts(sequences: Sequence[str], k: int, strands: str = "forward") -> pd.DataFrame:
    """Occurrences of every k-mer (overlapping; k-mers containing N are skipped)."""
    if strands not in ("forward", "canonical"):
        raise ValueError(f"strands must be 'forward' or 'canonical', not {strands!r}")
    base_code = np.full(256, -1, dtype=np.int64)
    base_code[np.frombuffer(b"ACGT", dtype=np.uint8)] = np.arange(4)
    weights = 4 ** np.arange(k - 1, -1, -1)
    counts = np.zeros((len(sequences), 4**k), dtype=np.float32)
    for i, sequence in enumerate(sequences):
        codes = base_code[np.frombuffer(sequence.encode(), dtype=np.uint8)]
        if len(codes) < k:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)  # [positions, k]
        valid = (windows >= 0).all(axis=1)
        counts[i] = np.bincount(windows[valid] @ weights, minlength=4**k)
    kmers = kmer_vocabulary(k)
    table = pd.DataFrame(counts, columns=kmers)
    if strands == "canonical":
        table = table.T.groupby([min(kmer, reverse_complement(kmer)) for kmer in kmers]).sum().T
    return table


# --- models ---------------------------------------------------------------------------------------------------


def fit_predict(
    baseline: str,
    targets: pd.DataFrame,
    split: pd.Series,
    sequences: Sequence[str],
    hand_eng: HandEngConfig,
    bow: BowConfig,
    seed: int,
    threads: int = 1,
    cnn_config: cnn.CnnConfig | None = None,
) -> pd.DataFrame:
    """Fit `baseline` on the training genes and return its log(TPM+1) predictions for the held-out genes
    (validation and test, in the order of `targets`).

    `sequences` are aligned with `targets.index`; `split` gives 'train'/'validation'/'test' per gene ID. Like
    CornBERT, every baseline learns from the training genes only: validation genes choose (the CNN's epoch here,
    the stacked model's weights later) and test genes score, so their predictions are out of sample.
    """
    labels = split.reindex(targets.index)
    is_train = labels.eq("train").to_numpy()
    is_held_out = labels.isin(("validation", "test")).to_numpy()
    y_train = targets.to_numpy()[is_train]  # no test target is ever read
    held_out = targets.index[is_held_out]
    log.info("%s: %d training genes, %d held-out (validation + test) genes, %d tissues",
             baseline, is_train.sum(), is_held_out.sum(), y_train.shape[1])  # fmt: skip

    if baseline == "const_mean":
        prediction = np.tile(y_train.mean(axis=0), (is_held_out.sum(), 1))
    elif baseline == "hand_eng":
        x = element_features(sequences, hand_eng.window_edges).to_numpy(dtype=np.float32)
        log.info("hand_eng: %d binary element features", x.shape[1])
        prediction = np.column_stack([
            lightgbm.LGBMRegressor(
                n_estimators=hand_eng.n_estimators,
                learning_rate=hand_eng.learning_rate,
                num_leaves=hand_eng.num_leaves,
                min_child_samples=hand_eng.min_child_samples,
                random_state=seed,
                n_jobs=threads,
                verbose=-1,
            ).fit(x[is_train], y_train[:, t]).predict(x[is_held_out])
            for t in range(y_train.shape[1])
        ])  # fmt: skip
    elif baseline == "BOW_5mer":
        x = kmer_counts(sequences, bow.k, bow.strands).to_numpy()
        log.info("BOW: %d %d-mer count features (%s)", x.shape[1], bow.k, bow.strands)
        model = LinearRegression() if bow.ridge_alpha == 0 else Ridge(alpha=bow.ridge_alpha, random_state=seed)
        prediction = model.fit(x[is_train], y_train).predict(x[is_held_out])
    elif baseline == "CNN_onehot":
        is_validation = labels.eq("validation").to_numpy()
        prediction = cnn.fit_predict(
            [s for s, fit in zip(sequences, is_train | is_validation) if fit],
            targets.to_numpy()[is_train | is_validation],  # validation targets: early stopping only
            is_validation[is_train | is_validation],
            [s for s, held in zip(sequences, is_held_out) if held], cnn_config or cnn.CnnConfig(), seed, threads,
        )  # fmt: skip
    else:
        raise ValueError(f"unknown baseline {baseline!r}; known: {', '.join(BASELINES)}")
    return pd.DataFrame(prediction, index=held_out, columns=targets.columns)
