"""The comparison models of the study, fitted on the training genes and scored on the test genes.

- `const_mean`: every test gene gets the training mean of each tissue (the reference for % reduction).
- `hand_eng`: binary presence of known plant promoter elements (cornbert.cis_elements), anywhere and per distance
  window, then one LightGBM regressor per tissue.
- `BOW_5mer`: counts of every k-mer (k = 5) on the given strand, then a linear regression (all tissues at once).
- `CNN_onehot`: a convolutional network over the one-hot promoter, both strands (cornbert.cnn).

All targets are log(TPM+1). `fit` is the only way to a fitted model: it selects training rows by the split before
any model sees the targets, so no test target can reach a fitted model; every fitted model predicts from sequences
alone and saves itself as a folder (cornbert.fitted). The split's 'validation' genes are fitted
on like 'train' genes, except by CNN_onehot, which early-stops on them.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file
from sklearn.linear_model import LinearRegression, Ridge

from cornbert import cnn
from cornbert.cis_elements import ELEMENTS, CisElement
from cornbert.errors import InputError
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
# Each fitted baseline predicts from sequences alone and saves itself in open formats (cornbert.fitted).


class ConstMean:
    """Every promoter gets the training mean of each tissue: reads no base."""

    kind = "const_mean"

    def __init__(self, tissues: Sequence[str], means: np.ndarray):
        self.tissues, self.means = list(tissues), np.asarray(means, dtype=np.float64)  # [T]

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        return np.tile(self.means, (len(sequences), 1))

    def reads(self, sequences: Sequence[str]) -> np.ndarray:
        return np.zeros(len(sequences), dtype=np.int64)

    def save_files(self, folder: Path) -> dict:
        return {"means": self.means.tolist()}

    @classmethod
    def load_files(cls, folder: Path, settings: dict, tissues: list[str]) -> ConstMean:
        return cls(tissues, np.array(settings["means"]))


class HandEng:
    """One LightGBM regressor per tissue over element presence (element_features): reads every base."""

    kind = "hand_eng"

    def __init__(self, tissues: Sequence[str], window_edges: Sequence[int], elements: Sequence[CisElement],
                 boosters: Sequence[lightgbm.Booster]):  # fmt: skip
        self.tissues, self.window_edges, self.elements = list(tissues), list(window_edges), tuple(elements)
        self.boosters = list(boosters)

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        x = element_features(list(sequences), self.window_edges, self.elements).to_numpy(dtype=np.float32)
        return np.column_stack([booster.predict(x) for booster in self.boosters])

    def reads(self, sequences: Sequence[str]) -> np.ndarray:
        return np.array([len(s) for s in sequences], dtype=np.int64)

    def save_files(self, folder: Path) -> dict:
        # LightGBM's own text format, one file per tissue; the element definitions travel with it, so that a later
        # change to cornbert.cis_elements cannot silently change what a saved model reads.
        (folder / "lightgbm").mkdir()
        files = []
        for index, booster in enumerate(self.boosters):
            files.append(f"lightgbm/tissue{index:02d}.txt")
            booster.save_model(folder / files[-1])
        return {"window_edges": self.window_edges, "elements": [asdict(e) for e in self.elements],
                "boosters": files}  # fmt: skip

    @classmethod
    def load_files(cls, folder: Path, settings: dict, tissues: list[str]) -> HandEng:
        boosters = []
        for name in settings["boosters"]:
            try:
                boosters.append(lightgbm.Booster(model_file=str(folder / name)))
            except lightgbm.basic.LightGBMError as error:
                raise InputError(folder / name, f"not a LightGBM model file ({error})") from None
        elements = [CisElement(**e) for e in settings["elements"]]
        return cls(tissues, settings["window_edges"], elements, boosters)


class KmerLinear:
    """BOW_5mer: a linear model (all tissues at once) over k-mer counts: reads every base."""

    kind = "BOW_5mer"

    def __init__(self, tissues: Sequence[str], config: BowConfig, features: Sequence[str], coef: np.ndarray,
                 intercept: np.ndarray):  # fmt: skip
        self.tissues, self.config, self.features = list(tissues), config, list(features)
        self.coef, self.intercept = np.asarray(coef, dtype=np.float64), np.asarray(intercept, dtype=np.float64)

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        x = kmer_counts(list(sequences), self.config.k, self.config.strands)[self.features].to_numpy(np.float64)
        return x @ self.coef.T + self.intercept  # [n, F] x [F, T]

    def reads(self, sequences: Sequence[str]) -> np.ndarray:
        return np.array([len(s) for s in sequences], dtype=np.int64)

    def save_files(self, folder: Path) -> dict:
        save_file({"coef": self.coef, "intercept": self.intercept}, folder / "coefficients.safetensors")
        return {"config": asdict(self.config), "features": self.features}

    @classmethod
    def load_files(cls, folder: Path, settings: dict, tissues: list[str]) -> KmerLinear:
        tensors = load_file(folder / "coefficients.safetensors")
        return cls(tissues, BowConfig(**settings["config"]), settings["features"], tensors["coef"],
                   tensors["intercept"])  # fmt: skip


def fit(
    baseline: str,
    targets: pd.DataFrame,
    split: pd.Series,
    sequences: Sequence[str],
    hand_eng: HandEngConfig,
    bow: BowConfig,
    seed: int,
    threads: int = 1,
    cnn_config: cnn.CnnConfig | None = None,
):
    """`baseline` fitted on the training genes (the CNN early-stops on the validation genes).

    `sequences` are aligned with `targets.index`; `split` gives 'train'/'validation'/'test' per gene ID. Like
    CornBERT, every baseline learns from the training genes only: validation genes choose (the CNN's epoch here,
    the stacked model's weights later) and test genes score, so their predictions are out of sample.
    """
    labels = split.reindex(targets.index)
    is_train = labels.eq("train").to_numpy()
    y_train = targets.to_numpy()[is_train]  # no test target is ever read
    train_sequences = [s for s, fit in zip(sequences, is_train) if fit]
    tissues = list(targets.columns)
    log.info("%s: %d training genes, %d tissues", baseline, is_train.sum(), y_train.shape[1])

    if baseline == "const_mean":
        return ConstMean(tissues, y_train.mean(axis=0))
    if baseline == "hand_eng":
        x = element_features(train_sequences, hand_eng.window_edges).to_numpy(dtype=np.float32)
        log.info("hand_eng: %d binary element features", x.shape[1])
        boosters = [
            lightgbm.LGBMRegressor(
                n_estimators=hand_eng.n_estimators,
                learning_rate=hand_eng.learning_rate,
                num_leaves=hand_eng.num_leaves,
                min_child_samples=hand_eng.min_child_samples,
                random_state=seed,
                n_jobs=threads,
                verbose=-1,
            ).fit(x, y_train[:, t]).booster_
            for t in range(y_train.shape[1])
        ]  # fmt: skip
        return HandEng(tissues, hand_eng.window_edges, ELEMENTS, boosters)
    if baseline == "BOW_5mer":
        counts = kmer_counts(train_sequences, bow.k, bow.strands)
        log.info("BOW: %d %d-mer count features (%s)", counts.shape[1], bow.k, bow.strands)
        model = LinearRegression() if bow.ridge_alpha == 0 else Ridge(alpha=bow.ridge_alpha, random_state=seed)
        model.fit(counts.to_numpy(), y_train)
        return KmerLinear(tissues, bow, list(counts.columns), model.coef_, model.intercept_)
    if baseline == "CNN_onehot":
        is_validation = labels.eq("validation").to_numpy()
        fitted = is_train | is_validation
        return cnn.fit_model(
            [s for s, fit in zip(sequences, fitted) if fit],
            targets.to_numpy()[fitted],  # validation targets: early stopping only
            is_validation[fitted], tissues, cnn_config or cnn.CnnConfig(), seed, threads,
        )  # fmt: skip
    raise ValueError(f"unknown baseline {baseline!r}; known: {', '.join(BASELINES)}")


def predict_held_out(model, targets: pd.DataFrame, split: pd.Series, sequences: Sequence[str]) -> pd.DataFrame:
    """A fitted model's log(TPM+1) predictions for the held-out genes (validation and test, in the order of
    `targets`; `sequences` aligned with `targets.index`)."""
    genes = targets.index[split.reindex(targets.index).isin(("validation", "test")).to_numpy()]
    by_gene = dict(zip(targets.index, sequences))
    return pd.DataFrame(model.predict([by_gene[g] for g in genes]), index=genes, columns=targets.columns)


def fit_predict(baseline: str, targets: pd.DataFrame, split: pd.Series, sequences: Sequence[str], *args,
                **kwargs) -> pd.DataFrame:  # fmt: skip
    """`fit`, then the fitted model's predictions for the held-out genes (predict_held_out)."""
    return predict_held_out(fit(baseline, targets, split, sequences, *args, **kwargs), targets, split, sequences)
