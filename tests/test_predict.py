"""`cornbert-predict` on a small trained model, and the learning bar on the demo world."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cornbert import distributed
from cornbert.finetune import train
from cornbert.regressor import load_regressor, predict_log
from cornbert.tables import read_predictions, read_split, read_targets
from finetune_world import make_job, make_world, small_settings

CLI = str(Path(sys.executable).parent / "cornbert-predict")


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("predict")
    world = make_world(root / "world")
    train(make_job(world, root / "out", small_settings(standardize_targets=True)), distributed.setup(prefer_cuda=False))
    return root / "out" / "model"


def test_cli_writes_log_and_tpm_per_tissue_matching_the_model(trained_model, tmp_path):
    fasta = tmp_path / "mine.fa"
    sequences = {"promA": "ACGT" * 80, "promB": "TTGACA" * 40 + "TATAAATA" + "ACG" * 10}
    fasta.write_text(
        "".join(f">{name} some description\n{seq[:60]}\n{seq[60:].lower()}\n" for name, seq in sequences.items())
    )
    output = tmp_path / "predictions.tsv"
    subprocess.run(
        [CLI, "--model", str(trained_model), "--fasta", str(fasta), "--output", str(output), "--threads", "1"],
        check=True,
    )

    table = pd.read_csv(output, sep="\t", index_col="gene_id")
    assert list(table.index) == ["promA", "promB"]
    assert list(table.columns) == [f"{t}_log" for t in ("root", "leaf", "seed")] + [
        f"{t}_tpm" for t in ("root", "leaf", "seed")
    ]
    model, tokenizer, _ = load_regressor(trained_model)
    expected = predict_log(model, tokenizer, [s.upper() for s in sequences.values()], batch_size=2)
    np.testing.assert_allclose(read_predictions(output).to_numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(table["root_tpm"], np.expm1(np.clip(table["root_log"], 0, None)), rtol=1e-4)


def test_cli_rejects_a_file_that_is_not_dna_naming_it(trained_model, tmp_path):
    fasta = tmp_path / "protein.fa"
    fasta.write_text(">p1\nMKVLQWERTY\n")
    result = subprocess.run(
        [CLI, "--model", str(trained_model), "--fasta", str(fasta), "--output", str(tmp_path / "out.tsv")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"{fasta}: 1 sequence(s) with letters other than A, C, G, T, N" in result.stderr
    assert not (tmp_path / "out.tsv").exists()


def test_cli_rejects_a_directory_that_is_not_a_model(tmp_path):
    fasta = tmp_path / "p.fa"
    fasta.write_text(">p1\nACGT\n")
    result = subprocess.run(
        [CLI, "--model", str(tmp_path), "--fasta", str(fasta), "--output", str(tmp_path / "o.tsv")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "not a fine-tuned CornBERT model directory" in result.stderr


def _mse(truth: pd.DataFrame, predicted: pd.DataFrame) -> float:
    return float(((truth - predicted.loc[truth.index, truth.columns]) ** 2).to_numpy().mean())


@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["CornBERT", "CornBERT_scratch"])
def test_fine_tuned_models_learn_the_demo_world(demo_run, model_name):
    """The bar: on the demo test genes, >= 15 % lower MSE of log(TPM+1) than const_mean, and below BOW_5mer."""
    targets = read_targets(demo_run / "results/expression/targets.tsv")
    split = read_split(demo_run / "results/expression/split.tsv")
    truth = targets.loc[split.index[split == "test"]]
    predictions = {
        name: read_predictions(demo_run / f"results/predictions/{name}.tsv")
        for name in (model_name, "const_mean", "BOW_5mer")
    }
    mse = {name: _mse(truth, table) for name, table in predictions.items()}
    reduction = 1 - mse[model_name] / mse["const_mean"]
    print(
        f"{model_name}: MSE {mse[model_name]:.4f}, const_mean {mse['const_mean']:.4f}, BOW_5mer {mse['BOW_5mer']:.4f}, reduction {reduction:.1%}"
    )
    assert reduction >= 0.15
    assert mse[model_name] < mse["BOW_5mer"]


def _reverse_complement(sequence: str) -> str:
    return sequence[::-1].translate(str.maketrans("ACGT", "TGCA"))


def test_cli_cuts_promoters_from_a_genome_and_gff_strand_aware(trained_model, tmp_path):
    rng = np.random.default_rng(3)
    chromosome = "".join(rng.choice(list("ACGT"), size=3000))
    (tmp_path / "genome.fa").write_text(f">chr1\n{chromosome}\n")
    (tmp_path / "genes.gff3").write_text(
        "##gff-version 3\n"
        "chr1\ttest\tgene\t1501\t1800\t.\t+\t.\tID=gene:plusgene\n"
        "chr1\ttest\tgene\t1001\t1300\t.\t-\t.\tID=minusgene\n"
    )
    output = tmp_path / "genome_predictions.tsv"
    subprocess.run(
        [CLI, "--model", str(trained_model), "--genome", str(tmp_path / "genome.fa"), "--gff", str(tmp_path / "genes.gff3"),
         "--promoter-length", "300", "--output", str(output), "--threads", "1"],
        check=True,
    )  # fmt: skip
    predicted = read_predictions(output)
    promoters = {"plusgene": chromosome[1200:1500], "minusgene": _reverse_complement(chromosome[1300:1600])}
    model, tokenizer, _ = load_regressor(trained_model)
    expected = predict_log(model, tokenizer, list(promoters.values()), batch_size=2)
    np.testing.assert_allclose(predicted.loc[list(promoters)].to_numpy(), expected, rtol=1e-4, atol=1e-4)
