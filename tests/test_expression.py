"""Expression targets: input checks with clear errors, the join with promoters, the split, and both input modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake
from cornbert.errors import InputError
from cornbert.expression import build_targets, match_genes, read_measurements
from cornbert.tables import read_split, read_targets


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("gene\troot\nA\t1\n", "no `gene_id` column"),
        ("gene_id\troot\n", "no genes"),
        ("gene_id\nA\nB\n", "no tissue columns"),
        ("gene_id\troot\nA\t1\nA\t2\nB\t3\n", "occur more than once: A"),
        ("gene_id\troot\tleaf\nA\t1\t-2\nB\t3\t4\n", "negative .* A/leaf=-2"),
        ("gene_id\troot\tleaf\nA\t1\tx\nB\t\t4\n", "2 values are missing or not numbers .* A/leaf='x', B/root=''"),
        ("gene_id\troot\nA\tnan\n", "missing or not numbers"),
    ],
)
def test_bad_matrices_are_rejected_with_file_and_problem(tmp_path: Path, text: str, message: str):
    path = write(tmp_path / "tpm.tsv", text)
    with pytest.raises(InputError, match=message) as error:
        read_measurements(path)
    assert str(error.value).startswith(str(path))


def test_csv_and_tsv_are_sniffed_and_any_tissues_kept(tmp_path: Path):
    tsv = read_measurements(write(tmp_path / "a.tsv", "gene_id\tx\ty\tz\nA\t1\t2\t3\nB\t0\t0.5\t1e3\n"))
    csv = read_measurements(write(tmp_path / "a.csv", "gene_id,x,y,z\nA,1,2,3\nB,0,0.5,1e3\n"))
    pd.testing.assert_frame_equal(tsv, csv)
    assert list(tsv.columns) == ["x", "y", "z"] and tsv.loc["B", "z"] == 1000


def test_no_match_explains_with_examples_from_both_sides():
    with pytest.raises(InputError, match="Zm00001eb000010.*gene:Zm00001eb000010.*strip_id_prefixes"):
        match_genes(pd.Index(["Zm00001eb000010"]), ["gene:Zm00001eb000010"], "tpm.tsv", "promoters.fa")


def test_targets_join_filter_and_unmatched(tmp_path: Path):
    matrix = write(tmp_path / "tpm.tsv", "gene_id\troot\tleaf\nA\t0\t9\nB\t0.5\t0.2\nC\t3\t1\nM\t1\t1\n")
    fasta = write(tmp_path / "p.fa", ">A\nACGT\n>B\nGGGG\n>C extra words\nacgn\n>P\nTTTT\n")
    targets, unmatched, sequences = build_targets(matrix, fasta, min_max_tpm=1)
    assert list(targets.index) == ["A", "C"]  # B never reaches 1 TPM
    assert targets.loc["A", "leaf"] == pytest.approx(np.log(10))
    assert sequences == {"A": "ACGT", "C": "ACGN"}
    assert sorted(map(tuple, unmatched.to_numpy())) == [("M", "no_promoter"), ("P", "no_expression")]


def sequence_mode_config(tmp_path: Path, **sequences) -> Path:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for genome_only in ("variants", "saturation"):  # the demo's alleles and genes are the demo genome's
        config.pop(genome_only)
    config["expression"] = {"sequences": {"fasta": "seqs.fa", "table": "measured.csv", **sequences}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_sequence_mode_produces_the_same_tables(tmp_path: Path):
    rng = np.random.default_rng(0)
    ids = [f"seq{i}" for i in range(40)]
    write(tmp_path / "seqs.fa", "".join(f">{i}\n{''.join(rng.choice(list('ACGT'), 170))}\n" for i in ids + ["extra"]))
    table = pd.DataFrame({"gene_id": ids, "leaf": rng.normal(size=40), "proto": rng.normal(size=40),
                          "fold": ["test" if i % 4 == 0 else "train" for i in range(40)]})
    table.to_csv(tmp_path / "measured.csv", index=False)
    configfile = sequence_mode_config(tmp_path, values="log", split_column="fold")
    run_snakemake(tmp_path, "--cores", "1", "results/expression/targets.png", configfile=configfile)
    targets = read_targets(tmp_path / "results/expression/targets.tsv")
    assert list(targets.columns) == ["leaf", "proto"] and len(targets) == 40
    np.testing.assert_allclose(targets.loc[ids, "leaf"], table["leaf"], rtol=1e-5)  # log values used as they are
    split = read_split(tmp_path / "results/expression/split.tsv")
    assert (split == "test").sum() == 10 and split["seq0"] == "test"
    assert (tmp_path / "results/expression/promoters.fa").read_text().count(">") == 40
    unmatched = pd.read_csv(tmp_path / "results/expression/unmatched.tsv", sep="\t")
    assert unmatched.to_dict("records") == [{"gene_id": "extra", "reason": "no_expression"}]

    table.loc[3, "leaf"] = np.nan
    table.to_csv(tmp_path / "measured.csv", index=False)
    result = run_snakemake(tmp_path, "--cores", "1", "results/expression/targets.tsv", configfile=configfile,
                           check=False)
    assert result.returncode != 0
    log = (tmp_path / "logs/prepare_targets/all.log").read_text()
    assert "measured.csv: 1 values are missing or not numbers (gene/column=value): seq3/leaf=''" in log
    assert not (tmp_path / "results/expression/targets.tsv").exists() or \
        read_targets(tmp_path / "results/expression/targets.tsv").notna().all().all()


@pytest.mark.slow
def test_demo_targets_split_and_figure(demo_run: Path):
    targets = read_targets(demo_run / "results/expression/targets.tsv")
    split = read_split(demo_run / "results/expression/split.tsv")
    assert len(targets.columns) == 10 and len(targets) > 2500
    assert (targets.to_numpy() >= 0).all()
    assert set(split.index) == set(targets.index)
    assert (split == "test").mean() == pytest.approx(0.3, abs=0.01)
    unmatched = pd.read_csv(demo_run / "results/expression/unmatched.tsv", sep="\t")
    assert {"no_promoter", "no_expression"} <= set(unmatched["reason"])  # chromosome-end genes, unmeasured genes
    headers = [line[1:] for line in (demo_run / "results/expression/promoters.fa").read_text().splitlines()
               if line.startswith(">")]
    assert headers == list(targets.index)
    assert (demo_run / "results/expression/targets.png").stat().st_size > 20_000
