"""Expression targets: input checks with clear errors, the join with promoters, the split, and both input modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake
from cornbert.errors import InputError
from cornbert.expression import IdRules, build_targets, join_ids, read_id_map, read_measurements
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
    with pytest.raises(InputError, match="prefix 'gene:' on the annotation side .*promoters.strip_id_prefixes"):
        join_ids(["Zm00001eb000010"], ["gene:Zm00001eb000010"], IdRules(), "tpm.tsv", "promoters.fa")
    with pytest.raises(InputError, match="Matrix IDs look like A1, A2, sequence IDs like zz"):
        join_ids(["A1", "A2"], ["zz"], IdRules(), "tpm.tsv", "promoters.fa")


def test_targets_join_filter_and_unmatched(tmp_path: Path):
    matrix = write(tmp_path / "tpm.tsv", "gene_id\troot\tleaf\nA\t0\t9\nB\t0.5\t0.2\nC\t3\t1\nM\t1\t1\n")
    fasta = write(tmp_path / "p.fa", ">A\nACGT\n>B\nGGGG\n>C extra words\nacgn\n>P\nTTTT\n")
    targets, join, sequences = build_targets(matrix, fasta, min_max_tpm=1)
    assert list(targets.index) == ["A", "C"]  # B never reaches 1 TPM
    assert targets.loc["A", "leaf"] == pytest.approx(np.log(10))
    assert sequences == {"A": "ACGT", "C": "ACGN"}
    assert sorted(map(tuple, join.unmatched[["gene_id", "reason"]].to_numpy())) == [
        ("B", "below_min_max_tpm"), ("M", "no_promoter"), ("P", "no_expression")]
    assert join.counts() == {"matched": 2, "matched_after_normalisation": 0, "no_promoter": 1, "no_expression": 1,
                             "ambiguous": 0, "below_min_max_tpm": 1}


# Real Arabidopsis gene IDs (the TAIR10 Chr5 slice of tests/data) with transcript suffixes, as Salmon or kallisto
# write them when quantifying transcripts.
GENES = [f"AT5G666{i:02d}" for i in range(0, 100)]


def suffixed_matrix(tmp_path: Path, plain: int) -> tuple[Path, Path]:
    """A 100-gene matrix whose first `plain` IDs are plain and the rest carry '.1'; a FASTA of every gene."""
    ids = [gene if i < plain else f"{gene}.1" for i, gene in enumerate(GENES)]
    matrix = write(tmp_path / "tpm.tsv", "gene_id\tleaf\n" + "".join(f"{g}\t{i}\n" for i, g in enumerate(ids)))
    fasta = write(tmp_path / "p.fa", "".join(f">{gene}\nACGT\n" for gene in GENES))
    return matrix, fasta


def test_version_suffixes_stop_the_join_naming_the_cause_and_the_key(tmp_path: Path):
    matrix, fasta = suffixed_matrix(tmp_path, plain=10)
    with pytest.raises(InputError) as error:
        build_targets(matrix, fasta)
    message = str(error.value)
    assert message.startswith(f"{matrix}: only 10 of 100 matrix genes match one of the 100 sequences")
    assert "90 unmatched matrix IDs differ from an annotation ID by a version or transcript suffix" in message
    assert "(e.g. AT5G66610.1 vs AT5G66610)" in message and r"expression.id_suffix_pattern: '\.\d+$'" in message


def test_mixed_plain_and_suffixed_ids_join_under_the_suffix_rule(tmp_path: Path):
    matrix, fasta = suffixed_matrix(tmp_path, plain=10)
    targets, join, _ = build_targets(matrix, fasta, id_rules=IdRules(suffix_pattern=r"\.\d+$"))
    assert list(targets.index) == GENES  # the annotation's IDs, in matrix order
    np.testing.assert_allclose(targets["leaf"], np.log1p(np.arange(100)))
    assert join.counts()["matched_after_normalisation"] == 90 and join.unmatched.empty


def test_ids_that_normalise_to_one_gene_are_an_error_naming_both():
    with pytest.raises(InputError, match="matrix IDs 'AT5G66600.1' and 'AT5G66600.2' both become gene 'AT5G66600'"):
        join_ids(["AT5G66600.1", "AT5G66600.2"], ["AT5G66600"], IdRules(suffix_pattern=r"\.\d+$"), "m", "f")


@pytest.mark.parametrize("matrix_ids, sequence_ids, cause", [
    (["Zm00001eb000010_T001", "Zm00001eb000020_T001"], ["Zm00001eb000010", "Zm00001eb000020"],
     "matrix side .*expression.id_suffix_pattern: '_T"),
    (["AT5G66600", "AT5G66610"], ["AT5G66600.1", "AT5G66610.2"], "its records are transcripts"),
    (["gene:AT5G66600", "gene:AT5G66610"], ["AT5G66600", "AT5G66610"],
     "prefix 'gene:' on the matrix side .*add it to expression.strip_id_prefixes"),
    (["at5g66600", "at5g66610"], ["AT5G66600", "AT5G66610"], "letter case .*expression.ignore_id_case: true"),
])
def test_the_likely_cause_of_a_failed_join_is_named(matrix_ids, sequence_ids, cause):
    with pytest.raises(InputError, match=cause):
        join_ids(matrix_ids + ["X1"], sequence_ids + ["Y1"], IdRules(), "m", "f")


def test_prefix_case_and_map_rules_join_and_ambiguity_is_reported(tmp_path: Path):
    sequences = ["AT5G66600", "AT5G66610", "AT5G66620", "ath_x", "ATH_X"]
    join = join_ids(["gene:at5g66600", "AT5G66610", "old_name", "Ath_X"], sequences,
                    IdRules(strip_prefixes=("gene:",), ignore_case=True,
                            id_map=read_id_map(write(tmp_path / "map.csv", "old,new\nold_name,AT5G66620\n"))),
                    "m", "f")
    assert join.pairs == [("gene:at5g66600", "AT5G66600"), ("AT5G66610", "AT5G66610"), ("old_name", "AT5G66620")]
    ambiguous = join.unmatched.query("reason == 'ambiguous'")
    assert ambiguous.to_dict("records") == [{"gene_id": "Ath_X", "source": "matrix", "reason": "ambiguous",
                                             "detail": "matches ath_x, ATH_X ignoring case"}]


def test_a_whole_genome_matrix_joins_a_single_chromosome(tmp_path: Path):
    """The fraction is of the smaller side: 5 promoters of one chromosome all measured in a 100-gene matrix."""
    join = join_ids(GENES, GENES[:5], IdRules(), "m", "f", min_fraction=0.5)
    assert len(join.pairs) == 5 and join.counts()["no_promoter"] == 95


def test_an_id_map_must_have_two_columns_and_unique_sources(tmp_path: Path):
    with pytest.raises(InputError, match="exactly two columns"):
        read_id_map(write(tmp_path / "a.tsv", "a\tb\tc\n1\t2\t3\n"))
    with pytest.raises(InputError, match="mapped more than once: x"):
        read_id_map(write(tmp_path / "b.tsv", "a\tb\nx\t1\nx\t2\n"))


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
    unmatched = pd.read_csv(tmp_path / "results/expression/unmatched.tsv", sep="\t", keep_default_na=False)
    assert unmatched.to_dict("records") == [
        {"gene_id": "extra", "source": "sequences", "reason": "no_expression", "detail": ""}]

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
def test_a_transcript_keyed_matrix_stops_the_run_and_the_suffix_rule_joins_it(tmp_path: Path):
    """As a first run goes wrong: the demo's matrix with 90 % of its IDs as maize transcripts (_T001)."""
    run_snakemake(tmp_path, "--cores", "1", "results/expression/targets.tsv")
    plain = read_targets(tmp_path / "results/expression/targets.tsv")
    matrix = pd.read_csv(tmp_path / "resources/demo/maize_tpm.tsv", sep="\t")
    plain_ids = set(matrix["gene_id"][::10]) & set(plain.index)
    matrix["gene_id"] = [g if i % 10 == 0 else f"{g}_T001" for i, g in enumerate(matrix["gene_id"])]
    matrix.to_csv(tmp_path / "tpm_transcripts.tsv", sep="\t", index=False)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["expression"]["matrix"] = "tpm_transcripts.tsv"
    configfile = tmp_path / "transcripts.yaml"
    configfile.write_text(yaml.safe_dump(config))

    result = run_snakemake(tmp_path, "--cores", "1", "results/expression/targets.tsv", configfile=configfile,
                           check=False)
    assert result.returncode != 0
    errors = [line for line in (tmp_path / "logs/prepare_targets/all.log").read_text().splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert f"tpm_transcripts.tsv: only {len(plain_ids)} of {len(matrix)} matrix genes match" in errors[0]
    assert "version or transcript suffix on the matrix side" in errors[0]
    assert "set expression.id_suffix_pattern: '_T\\d+$'" in errors[0]
    assert not (tmp_path / "results/expression/targets.tsv").exists()  # nothing half-done left as if done

    config["expression"]["id_suffix_pattern"] = r"_T\d+$"
    configfile.write_text(yaml.safe_dump(config))
    run_snakemake(tmp_path, "--cores", "1", "results/expression/targets.tsv", configfile=configfile)
    pd.testing.assert_frame_equal(read_targets(tmp_path / "results/expression/targets.tsv"), plain)
    summary = pd.read_csv(tmp_path / "results/expression/join.tsv", sep="\t", index_col="outcome")["genes"]
    assert summary["matched"] == len(plain)
    assert summary["matched_after_normalisation"] == len(plain) - len(plain_ids)
    assert "WARNING" in (tmp_path / "logs/prepare_targets/all.log").read_text()  # genes left out are never quiet


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
    summary = pd.read_csv(demo_run / "results/expression/join.tsv", sep="\t", index_col="outcome")["genes"]
    assert summary["matched"] == len(targets) and summary["no_promoter"] + summary["no_expression"] == len(unmatched)
    headers = [line[1:] for line in (demo_run / "results/expression/promoters.fa").read_text().splitlines()
               if line.startswith(">")]
    assert headers == list(targets.index)
    assert (demo_run / "results/expression/targets.png").stat().st_size > 20_000
