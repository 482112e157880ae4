"""CNN_onehot: learns a planted, position-bound element; strand-symmetric; deterministic; early stopping; no leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cornbert import cnn
from cornbert.baselines import BowConfig, HandEngConfig, fit_predict
from cornbert.fasta import reverse_complement

TISSUES = ["root", "shoot", "ear"]
CORE = "TATAAATA"
LENGTH = 200
# Small enough for a few seconds per fit on 2 cores.
SMALL = dict(channels=[16, 16], kernel_sizes=[9, 5], pool_sizes=[4, 2], position_bins=5, max_epochs=25, patience=4)


def world(n_genes: int = 600, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Random promoters; the core element 20-40 bp from the gene (either strand) adds 2 to every tissue, the same
    element 150-180 bp upstream (a decoy) nothing, so a model must read the element's position, not just its count."""
    rng = np.random.default_rng(seed)
    genes = pd.Index([f"g{i:04d}" for i in range(n_genes)], name="gene_id")
    sequences, active = [], rng.random(n_genes) < 0.5
    for working in active:
        sequence = list(rng.choice(list("ACGT"), LENGTH))
        element = CORE if rng.random() < 0.5 else reverse_complement(CORE)
        distance = rng.integers(20, 33) if working else rng.integers(150, 173)
        sequence[LENGTH - distance - len(CORE) : LENGTH - distance] = element
        sequences.append("".join(sequence))
    targets = pd.DataFrame(
        1.0 + 2.0 * active[:, None] + rng.normal(0, 0.3, (n_genes, len(TISSUES))), index=genes, columns=TISSUES
    )
    split = pd.Series(rng.choice(["train", "validation", "test"], n_genes, p=[0.6, 0.1, 0.3]), index=genes)
    return targets, split, sequences


def fit(baseline: str, targets, split, sequences, seed: int = 1, **changes) -> pd.DataFrame:
    config = cnn.CnnConfig(**(SMALL | changes))
    # One thread: on a shared 2-core machine, two torch threads wait on each other ~10x slower than one.
    return fit_predict(baseline, targets, split, sequences, HandEngConfig(), BowConfig(), seed, 1, config)


def mse(predictions: pd.DataFrame, targets: pd.DataFrame) -> float:
    return float(((predictions - targets.loc[predictions.index]) ** 2).to_numpy().mean())


@pytest.fixture(scope="module")
def planted():
    return world()


def test_learns_the_position_of_the_planted_element(planted):
    targets, split, sequences = planted
    model = fit("CNN_onehot", targets, split, sequences)
    const = fit("const_mean", targets, split, sequences)
    assert list(model.index) == list(split.index[split != "train"])  # validation and test genes
    test = split.index[split == "test"]
    assert mse(model.loc[test], targets) < 0.3 * mse(const.loc[test], targets)  # the best possible (noise only) is ~0.09 / ~1.1


def test_deterministic_for_a_seed(planted):
    targets, split, sequences = planted
    model = fit("CNN_onehot", targets, split, sequences, max_epochs=2)
    np.testing.assert_array_equal(model.to_numpy(), fit("CNN_onehot", targets, split, sequences, max_epochs=2))
    assert not np.allclose(model.to_numpy(), fit("CNN_onehot", targets, split, sequences, seed=2, max_epochs=2))


def test_both_strands_are_read_at_the_same_place():
    torch.manual_seed(0)
    model = cnn.PromoterCnn(len(TISSUES), cnn.CnnConfig(**SMALL)).eval()
    rng = np.random.default_rng(0)
    forward = ["".join(rng.choice(list("ACGTN"), 160)) for _ in range(4)]
    x = cnn.one_hot(cnn.encode(forward, cnn.padded_length(forward, 8)), torch.device("cpu"))
    x_rc = cnn.one_hot(cnn.encode([reverse_complement(s) for s in forward], cnn.padded_length(forward, 8)), torch.device("cpu"))
    with torch.no_grad():
        torch.testing.assert_close(model.features(x_rc), model.features(x).flip(-1))
        # and the prediction still knows which end is the gene's
        assert not torch.allclose(model(x), model(x_rc))


def test_early_stopping_restores_the_best_epoch(planted):
    targets, split, sequences = planted
    codes = cnn.encode(sequences, cnn.padded_length(sequences, 8))
    y = targets.to_numpy()
    train, validation = np.flatnonzero(split.eq("train"))[:60], np.flatnonzero(split.eq("validation"))
    # 60 training genes and a high learning rate: the validation error turns up after a few epochs
    config = cnn.CnnConfig(**(SMALL | dict(learning_rate=1e-2, dropout=0.0, max_epochs=30, patience=3)))
    fitted = cnn.fit(codes[train], y[train], codes[validation], y[validation], config, seed=3)
    losses = [row["validation_mse"] for row in fitted.history]
    assert fitted.best_epoch == 1 + int(np.argmin(losses))
    assert len(losses) == fitted.best_epoch + config.patience < config.max_epochs  # stopped early
    restored = cnn.mse_log(fitted.model, codes[validation], y[validation], fitted.mean, fitted.std)
    assert restored == pytest.approx(min(losses), rel=1e-6)
    assert restored < losses[-1]


def test_test_targets_never_reach_the_fit(planted):
    targets, split, sequences = planted
    before = fit("CNN_onehot", targets, split, sequences, max_epochs=2)
    perturbed = targets.copy()
    perturbed[split == "test"] = np.random.default_rng(5).normal(50, 10, perturbed[split == "test"].shape)
    np.testing.assert_array_equal(before.to_numpy(), fit("CNN_onehot", perturbed, split, sequences, max_epochs=2))
    changed = targets.copy()
    changed[split == "train"] += 1.0  # and the training targets do matter, so the comparison above could fail
    assert not np.allclose(fit("CNN_onehot", changed, split, sequences, max_epochs=2).to_numpy(), before.to_numpy())


def test_without_validation_genes_a_seeded_tenth_of_train_is_carved(planted, caplog):
    targets, split, sequences = planted
    no_validation = split.replace("validation", "train")
    with caplog.at_level("INFO", logger="cornbert.cnn"):
        fit("CNN_onehot", targets, no_validation, sequences, max_epochs=1)
    n_train = int(no_validation.eq("train").sum())
    assert f"carved {round(0.1 * n_train)} of the training genes" in caplog.text
    assert f"{n_train - round(0.1 * n_train)} training and {round(0.1 * n_train)} validation genes" in caplog.text


@pytest.mark.parametrize("baseline", ["const_mean", "hand_eng", "BOW_5mer"])
def test_other_baselines_learn_from_training_genes_only(planted, baseline):
    """Like CornBERT: validation genes choose (the CNN's epoch, the stack's weights), they never train."""
    targets, split, sequences = planted
    before = fit(baseline, targets, split, sequences)
    assert list(before.index) == list(split.index[split != "train"])
    perturbed = targets.copy()
    perturbed[split == "validation"] += 5.0
    np.testing.assert_allclose(fit(baseline, perturbed, split, sequences).to_numpy(), before.to_numpy())
    if baseline == "const_mean":
        np.testing.assert_allclose(before.iloc[0].to_numpy(), targets[split == "train"].mean().to_numpy())


def test_config_checks_name_the_key():
    with pytest.raises(ValueError, match="kernel_sizes must be odd"):
        cnn.CnnConfig(kernel_sizes=[8, 5, 5])
    with pytest.raises(ValueError, match="one entry per block"):
        cnn.CnnConfig(channels=[8])
