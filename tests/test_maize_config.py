"""The study's real set-up (config/maize.yaml): the shipped B73 matrix is valid, and the DAG builds offline."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from conftest import REPO, run_snakemake
from cornbert.expression import read_measurements

MATRIX = REPO / "resources" / "maize_b73" / "B73_v5_gene_by_tissue_TPM.tsv.gz"
TISSUES = ["root", "shoot", "base", "middle", "tassel", "ear", "embryo", "endosperm", "anther", "tip"]


def test_shipped_b73_matrix_passes_validation():
    matrix = read_measurements(MATRIX)
    assert list(matrix.columns) == TISSUES
    assert len(matrix) == 39_756
    assert matrix.index.str.match(r"^Zm00001eb\d{6}$").all()
    assert ((matrix >= 1).any(axis=1)).sum() == 28_728  # genes kept by expression.min_max_tpm: 1


def test_maize_config_points_at_the_shipped_matrix_and_real_genomes():
    config = yaml.safe_load((REPO / "config" / "maize.yaml").read_text())
    assert (REPO / config["expression"]["matrix"]) == MATRIX
    target = config["genomes"][config["expression"]["genome"]]
    assert target["fasta"].startswith("https://download.maizegdb.org/Zm-B73-REFERENCE-NAM-5.0/")
    assert "Zm00001eb" in target["gff"]
    assert len(config["pretraining"]["stage1"]) >= 4 and config["pretraining"]["stage2"] == ["maize_b73"]


def test_maize_dag_builds_without_network(tmp_path: Path, monkeypatch):
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "maize_b73").symlink_to(MATRIX.parent)
    # Any connection attempt would go to a closed local port and fail the run.
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ftp_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    result = run_snakemake(tmp_path, "-n", configfile=REPO / "config" / "maize.yaml")
    output = result.stdout + result.stderr
    for job in ("download_genome_file", "extract_promoters", "prepare_targets", "split_genes"):
        assert job in output
    assert not (tmp_path / "resources" / "genomes").exists()
    assert os.listdir(tmp_path / "resources") == ["maize_b73"]
