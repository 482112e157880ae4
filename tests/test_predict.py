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
from cornbert.fasta import read_fasta
from cornbert.regressor import build_regressor, load_regressor, predict_log, tokenize
from cornbert.tables import read_predictions, read_split, read_targets
from finetune_world import make_job, make_world, small_settings
from transformers import PreTrainedTokenizerFast, RobertaConfig

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
    assert result.returncode == 1 and f"{tmp_path}: not a model folder" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("damage, problem", [
    ("truncate", "model.safetensors: damaged or truncated safetensors file (Error while deserializing header"),
    ("foreign", "model.safetensors: lacks"),
    ("config", "config.json: damaged or not JSON"),
])
def test_cli_names_a_damaged_or_foreign_model_file_in_one_line(trained_model, tmp_path, damage, problem):
    import shutil

    from safetensors.torch import save_file

    model = shutil.copytree(trained_model, tmp_path / "model")
    if damage == "truncate":
        with open(model / "model.safetensors", "r+b") as weights:
            weights.truncate(4096)  # a copy or a write that stopped early
    elif damage == "foreign":
        save_file({"classifier.weight": torch.zeros(2, 2)}, model / "model.safetensors")
    else:
        (model / "config.json").write_text('{"model_type": "cornbert_regressor", "tissu')
    fasta = tmp_path / "p.fa"
    fasta.write_text(">p1\nACGTACGT\n")
    result = subprocess.run([CLI, "--model", str(model), "--fasta", str(fasta), "--output", str(tmp_path / "o.tsv")],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1
    assert f"{model}/{problem}" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "o.tsv").exists()


FRESH_PROCESS = """
import sys, numpy as np
from cornbert.fasta import read_fasta
from cornbert.predict import predict_sequences
from cornbert.fasta import read_fasta
from cornbert.regressor import build_regressor, load_regressor, predict_log, tokenize
model_dir, fasta, out = sys.argv[1:]
sequences = read_fasta(fasta)
model, tokenizer, _ = load_regressor(model_dir)  # the importance rule's path
by_load = predict_log(model, tokenizer, list(sequences.values()), batch_size=3)
by_rule = predict_sequences(model_dir, sequences, batch_size=5, device="cpu").to_numpy()  # predict_test_genes
np.save(out, np.stack([by_load, by_rule]))
"""


@pytest.mark.parametrize("pooling_bins", [1, 3])
def test_a_reloaded_model_predicts_what_the_saved_one_did_on_every_path(tmp_path, pooling_bins):
    """Save, reload in a fresh process, predict: the same numbers as the model in memory (fp32, 1e-5), whether
    through load_regressor + predict_log (importance), predict_sequences (predict_test_genes) or the CLI; with the
    study's mean pooling and with position bins (the bin count travels in config.json)."""
    torch.manual_seed(0)
    world = make_world(tmp_path / "world", n_genes=16)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(world / "tokenizer")
    model = build_regressor(
        RobertaConfig.from_pretrained(world / "stage2"), ["root", "leaf", "seed"], [8], 0.0, "tanh",
        encoder_weights=world / "stage2", head_norm="batch", pooling_bins=pooling_bins,
    )  # fmt: skip
    sequences = read_fasta(world / "promoters.fa")
    batches = [tokenize(tokenizer, list(sequences.values())[i : i + 4]) for i in range(0, len(sequences), 4)]
    model.recalibrate_norm((b["input_ids"], b["attention_mask"]) for b in batches)
    in_memory = predict_log(model, tokenizer, list(sequences.values()), batch_size=4)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")

    out = tmp_path / "fresh.npy"
    subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "model"), str(world / "promoters.fa"), str(out)],
                   check=True)  # fmt: skip
    by_load, by_rule = np.load(out)
    cli_out = tmp_path / "cli.tsv"
    subprocess.run([CLI, "--model", str(tmp_path / "model"), "--fasta", str(world / "promoters.fa"),
                    "--output", str(cli_out), "--device", "cpu", "--threads", "1"], check=True)  # fmt: skip
    by_cli = read_predictions(cli_out).loc[list(sequences)].to_numpy()
    for path, values in (("load_regressor", by_load), ("predict_test_genes", by_rule), ("cornbert-predict", by_cli)):
        np.testing.assert_allclose(values, in_memory, atol=1e-5, rtol=0, err_msg=path)
    # The model predicts differently per gene, so equality is not the trivial equality of constants.
    assert np.ptp(in_memory, axis=0).min() > 1e-3


def test_predictions_forward_each_distinct_input_once_in_bounded_batches(tmp_path):
    """Mutagenesis asks for many inputs the model cannot tell apart (a change beyond its window, repeats):
    predict_log forwards each distinct token sequence once, in batches of at most batch_size, and every
    sequence still gets what it gets alone."""
    torch.manual_seed(0)
    world = make_world(tmp_path / "world", n_genes=8)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(world / "tokenizer")
    model = build_regressor(RobertaConfig.from_pretrained(world / "stage2"), ["root", "leaf"], [8], 0.0, "tanh")
    promoters = list(read_fasta(world / "promoters.fa").values())
    window = len(tokenizer.decode(tokenize(tokenizer, [promoters[0]])["input_ids"][0], skip_special_tokens=True))
    assert window < len(promoters[0])  # the tokenizer truncates: bases before the window are not seen
    distal = "T" if promoters[0][0] != "T" else "G"
    sequences = [*promoters, promoters[0], distal + promoters[0][1:], promoters[3]]
    rows: list[int] = []
    model.register_forward_hook(lambda module, args, kwargs, output: rows.append(len(kwargs["input_ids"])),
                                with_kwargs=True)  # fmt: skip
    together = predict_log(model, tokenizer, sequences, batch_size=3)
    assert sum(rows) == len(promoters) and max(rows) <= 3  # the three copies cost nothing
    alone = np.concatenate([predict_log(model, tokenizer, [sequence]) for sequence in sequences])
    np.testing.assert_allclose(together, alone, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(together[len(promoters)], together[0])
    assert np.ptp(together, axis=0).min() > 1e-4  # genes get different predictions: not trivially equal


def test_inference_precision_is_saved_and_used_on_every_device(tmp_path):
    world = make_world(tmp_path / "world", n_genes=8)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(world / "tokenizer")
    sequences = list(read_fasta(world / "promoters.fa").values())
    config = RobertaConfig.from_pretrained(world / "stage2")
    predictions = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = build_regressor(config, ["root"], [8], 0.0, "tanh", inference_precision=precision)
        model.save_pretrained(tmp_path / precision)
        tokenizer.save_pretrained(tmp_path / precision)
        reloaded, _, _ = load_regressor(tmp_path / precision)
        assert reloaded.config.inference_precision == precision
        predictions[precision] = predict_log(reloaded, tokenizer, sequences)
    # bf16 really changes the arithmetic on CPU too (the setting is not silently GPU-only), within bf16 rounding.
    difference = np.abs(predictions["bf16"] - predictions["fp32"]).max()
    assert 0 < difference < 0.05


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
        name: read_predictions(demo_run / f"results/predictions/rep1/{name}.tsv")
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
