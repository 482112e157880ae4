"""bench/sweep.py and bench/diagnose.py, the real-genome investigations of BENCHMARKS.md section 9 (sweep.py runs on
lent GPU machines), on CPU with the tiny fine-tuning world, so that both keep working and write what the section
reads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO
from finetune_world import make_world

from cornbert.fasta import read_fasta
from cornbert.token_store import write_token_store


@pytest.fixture(scope="module")
def run_like(tmp_path_factory):
    """The tiny world laid out as a workflow run's results/ and as sweep.py's data folder."""
    root = tmp_path_factory.mktemp("bench_world")
    world = make_world(root / "world", n_genes=64)
    split = pd.read_csv(world / "split.tsv", sep="\t")
    split["group"] = range(len(split))  # every gene its own leakage group, as split_genes writes them
    split.to_csv(world / "split.tsv", sep="\t", index=False)
    (world / "corpus.txt").write_text("\n".join(read_fasta(world / "promoters.fa").values()) + "\n")
    write_token_store(world / "corpus.txt", world / "tokenizer", world / "stage1.tokens")

    results = root / "run" / "results"
    (results / "expression").mkdir(parents=True)
    for name in ("targets.tsv", "split.tsv", "promoters.fa"):
        shutil.copy(world / name, results / "expression" / name)
    shutil.copytree(world / "tokenizer", results / "tokenizer")
    shutil.copytree(world / "stage2", results / "pretrain" / "stage2" / "model")
    for stage, loss in (("stage1", 5.9), ("stage2", 5.7)):
        (results / "pretrain" / stage).mkdir(parents=True, exist_ok=True)
        (results / "pretrain" / stage / "metrics.tsv").write_text(f"step\ttrain_loss\teval_loss\n1\t6.0\t\n2\t5.8\t{loss}\n")
    return world, root / "run"


def test_sweep_fine_tunes_each_variant_with_every_seed_and_scores_them_side_by_side(run_like, tmp_path):
    world, _ = run_like
    variants = ["mean", "bins4_scratch", "windows_mlm4000_bins4"]
    done = subprocess.run([sys.executable, str(REPO / "bench" / "sweep.py"), "--data", str(world), "--out",
                           str(tmp_path), "--seeds", "2", "--max-steps", "2", "--variants", *variants],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    figures = json.loads((tmp_path / "sweep.json").read_text())
    assert figures["device"] == "cpu" and list(figures["variants"]) == variants
    for name in variants:
        assert len(figures["variants"][name]["finetune_s"]) == 2
        reduction = figures["variants"][name]["all"]["pct_reduction_mse_log"]
        assert reduction["ci_low"] <= reduction["value"] <= reduction["ci_high"]
    # The windows corpus holds each train/validation promoter in 3 pieces on both strands.
    header = json.loads((tmp_path / "windows_mlm4000" / "corpus.tokens" / "header.json").read_text())
    split = pd.read_csv(world / "split.tsv", sep="\t")
    assert header["count"] == 6 * int((split.split != "test").sum())
    assert figures["windows_mlm4000"]["held_out_mlm_loss"] > 0
    config = json.loads((tmp_path / "bins4_scratch" / "finetune_seed42" / "model" / "config.json").read_text())
    assert config["pooling_bins"] == 4
    assert "MSE(log) reduction" in done.stdout


def test_diagnose_reports_pretraining_probes_window_and_noise(run_like, tmp_path):
    _, run_dir = run_like
    out = tmp_path / "diagnosis.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "diagnose.py"), str(run_dir), "--output", str(out)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    figures = json.loads(out.read_text())
    assert figures["pretraining"]["stage2"] == 5.7
    assert 0 < figures["pretraining"]["unigram_entropy"] < figures["pretraining"]["uniform_loss"]
    assert set(figures["probes"]) == {"probe_pretrained_mean", "probe_pretrained_binned", "probe_random_mean",
                                      "probe_random_binned", "bow5_full_1kb",
                                      f"bow5_last_{figures['tokenisation']['bp_read']}bp"}  # fmt: skip
    for scores in figures["probes"].values():
        value, low, high = scores["pct_reduction_mse_log"]
        assert low <= value <= high
    # The world's targets are one motif's effect plus a tissue offset: most of the spread is between genes.
    assert 0 < figures["targets"]["max_pct_reduction"] <= 100
