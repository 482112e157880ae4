"""Baselines: features built as documented, fitted on training genes only, and learning a planted signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cornbert.baselines import (
    BowConfig,
    HandEngConfig,
    element_features,
    fit_predict,
    kmer_counts,
)
from cornbert.cis_elements import ELEMENTS, CisElement
from cornbert.errors import InputError
from cornbert.fasta import read_fasta
from cornbert.tables import check_split

TISSUES = ["root", "shoot", "ear"]
TATA = "TATAAATA"


def planted_world(n_genes: int = 600, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Random 300-bp promoters; a TATA box 30 bp from the gene raises expression by 2 in every tissue."""
    rng = np.random.default_rng(seed)
    genes = [f"g{i:04d}" for i in range(n_genes)]
    sequences, has_tata = [], rng.random(n_genes) < 0.5
    for planted in has_tata:
        sequence = "".join(rng.choice(list("ACGT"), 300))
        if planted:
            sequence = sequence[:262] + TATA + sequence[270:]
        sequences.append(sequence)
    targets = pd.DataFrame(
        1.0 + 2.0 * has_tata[:, None] + rng.normal(0, 0.3, (n_genes, len(TISSUES))),
        index=pd.Index(genes, name="gene_id"),
        columns=TISSUES,
    )
    split = pd.Series(np.where(rng.random(n_genes) < 0.7, "train", "test"), index=targets.index, name="split")
    return targets, split, sequences


def fit(baseline: str, targets, split, sequences, **bow) -> pd.DataFrame:
    return fit_predict(baseline, targets, split, sequences, HandEngConfig(n_estimators=50), BowConfig(**bow), seed=1)


def test_kmer_counts_by_hand():
    counts = kmer_counts(["AACGTN", "ACG"], k=2)
    assert counts.shape == (2, 16)
    assert counts.loc[0, ["AA", "AC", "CG", "GT"]].tolist() == [1, 1, 1, 1]
    assert counts.loc[0].sum() == 4  # TN skipped
    assert counts.loc[1].sum() == 2
    canonical = kmer_counts(["AACGTN"], k=2, strands="canonical")
    assert canonical.shape[1] == 10  # 16 2-mers, 4 palindromes
    assert canonical.loc[0, "AC"] == 2  # AC and its reverse complement GT


def test_element_features_by_position():
    element = CisElement("TATA", "TATAWAWR", False, "test", "")
    sequence = "C" * 200 + TATA + "C" * 30  # centre 33.5 bp from the gene
    features = element_features([sequence, "C" * 238], window_edges=[0, 100, 500], elements=[element])
    assert features.loc[0].to_dict() == {"TATA@any": 1, "TATA@0-100": 1, "TATA@100-500": 0}
    assert features.loc[1].sum() == 0
    reverse = element_features(["C" * 30 + "TATTTATA" + "C" * 200], [0, 100, 500], [element])
    assert reverse.loc[0].sum() == 0  # core elements are not searched on the reverse strand
    both = CisElement("G", "CACGTGA", True, "test", "")
    assert element_features(["CCTCACGTGCC"], [0, 100], [both]).loc[0, "G@any"] == 1  # reverse complement


def test_every_element_has_a_source_and_valid_pattern():
    names = [e.name for e in ELEMENTS]
    assert len(names) == len(set(names))
    for element in ELEMENTS:
        assert element.source and element.function
        element.regex()  # IUPAC only


def test_const_mean_is_training_mean():
    targets, split, sequences = planted_world()
    predictions = fit("const_mean", targets, split, sequences)
    assert list(predictions.index) == list(split.index[split == "test"])
    expected = targets[split == "train"].mean()
    np.testing.assert_allclose(predictions.to_numpy(), np.tile(expected, (len(predictions), 1)))


@pytest.mark.parametrize("baseline", ["const_mean", "hand_eng", "BOW_5mer"])
def test_test_targets_never_reach_the_fit(baseline):
    targets, split, sequences = planted_world()
    before = fit(baseline, targets, split, sequences)
    perturbed = targets.copy()
    perturbed[split == "test"] = np.random.default_rng(5).normal(50, 10, perturbed[split == "test"].shape)
    after = fit(baseline, perturbed, split, sequences)
    np.testing.assert_allclose(before.to_numpy(), after.to_numpy())
    # and the training targets do matter, so the comparison above could fail
    changed = targets.copy()
    changed[split == "train"] += 1.0
    assert not np.allclose(fit(baseline, changed, split, sequences).to_numpy(), before.to_numpy())


# Element presence nails the planted box; 5-mer counts only see it blurred by chance 5-mers (1,024 features).
@pytest.mark.parametrize(
    "baseline, bow, max_ratio", [("hand_eng", {}, 0.5), ("BOW_5mer", {"ridge_alpha": 10.0}, 0.8)]
)
def test_learned_models_find_the_planted_tata_box(baseline, bow, max_ratio):
    targets, split, sequences = planted_world()
    observed = targets[split == "test"]
    const = fit("const_mean", targets, split, sequences)
    model = fit(baseline, targets, split, sequences, **bow)
    mse_const = ((const - observed) ** 2).to_numpy().mean()
    mse_model = ((model - observed) ** 2).to_numpy().mean()
    assert mse_model < max_ratio * mse_const


def test_bad_split_and_fasta_are_named(tmp_path):
    targets, split, _ = planted_world(20)
    with pytest.raises(InputError, match="split.tsv: 1 gene"):
        check_split(targets, split.drop(split.index[0]), "split.tsv")
    with pytest.raises(InputError, match="'train' or 'test'"):
        check_split(targets, split.replace("test", "valid"), "split.tsv")
    fasta = tmp_path / "p.fa"
    fasta.write_text(">g1\nACGT\n>g1\nAC\n")
    with pytest.raises(InputError, match="'g1' occurs more than once"):
        read_fasta(fasta)


def test_stack_weights_come_from_validation_genes_and_favour_the_informative_member():
    from cornbert import stacking

    rng = np.random.default_rng(0)
    genes = pd.Index([f"g{i}" for i in range(400)])
    truth = pd.DataFrame({"leaf": rng.normal(2, 1, 400), "root": rng.normal(1, 1, 400)}, index=genes)
    members = {
        "good": truth + rng.normal(0, 0.3, truth.shape),  # informative
        "noise": pd.DataFrame(rng.normal(0, 1, truth.shape), index=genes, columns=truth.columns),
        "anti": -truth,  # anti-correlated: a negative weight would fit it, non-negative weights must not use it
    }
    validation, test = genes[:200], genes[200:]
    weights = stacking.fit_weights(members, truth.loc[validation])
    assert list(weights.columns) == ["good", "noise", "anti", "intercept"]
    assert (weights[["good", "noise", "anti"]] >= 0).all().all()
    assert (weights["good"] > 0.8).all() and (weights["anti"] == 0).all() and (weights["noise"] < 0.1).all()
    stacked = stacking.predict(weights, members, test)
    mse = {name: float(((m.loc[test] - truth.loc[test]) ** 2).to_numpy().mean()) for name, m in members.items()}
    assert float(((stacked - truth.loc[test]) ** 2).to_numpy().mean()) <= mse["good"] * 1.05
    # Test targets play no part in the weights.
    shifted = truth.copy()
    shifted.loc[test] += 10
    pd.testing.assert_frame_equal(stacking.fit_weights(members, shifted.loc[validation]), weights)
