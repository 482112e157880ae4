"""Corpus sources besides annotated genomes' promoters: pre-cut sequence sets and genome-wide windows of unannotated
genomes, checked against an independent computation, under the same corpus filter and leakage control."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml

from cornbert.corpus import build_pretraining_corpus, summarize_corpus
from cornbert.errors import InputError
from cornbert.fasta import read_fasta, reverse_complement, write_fasta
from cornbert.sources import WindowSettings, cut_windows, prepare_sequence_set
from cornbert.splits import Similarity

REPO = Path(__file__).resolve().parents[1]
ARABIDOPSIS = REPO / "tests" / "data" / "arabidopsis"


def random_dna(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list("ACGT"), length))


def mutate(rng: np.random.Generator, sequence: str, rate: float) -> str:
    bases = list(sequence)
    for i in rng.choice(len(bases), int(rate * len(bases)), replace=False):
        bases[i] = "ACGT"[("ACGT".index(bases[i]) + 1) % 4]
    return "".join(bases)


def wrapped(name: str, sequence: str, width: int = 61) -> str:
    return f">{name} description\n" + "".join(sequence[i : i + width] + "\n" for i in range(0, len(sequence), width))


# --- an independent reference: plain slicing of the genome string ------------------------------------------------
def expected_windows(genome: dict[str, str], length: int, step: int, max_n_fraction: float):
    """(kept {id: sequence}, dropped past the end, dropped for N), straight from the documented definition."""
    kept, past_end, mostly_n = {}, 0, 0
    for chrom, sequence in genome.items():
        sequence = "".join(b if b in "ACGTN" else "N" for b in sequence.upper())
        for start in range(0, len(sequence), step):
            window = sequence[start : start + length]
            if len(window) < length:
                past_end += 1
            elif window.count("N") > max_n_fraction * length:
                mostly_n += 1
            else:
                kept[f"{chrom}:{start + 1}-{start + length}"] = window
    return kept, past_end, mostly_n


@pytest.fixture
def unannotated(tmp_path) -> tuple[Path, dict[str, str]]:
    """A gzip genome: chrA 1,050 bp with an assembly gap, soft-masking and IUPAC codes; chrB 930 bp; chrC 70 bp."""
    rng = np.random.default_rng(3)
    chra = list(random_dna(rng, 1050))
    chra[300:380] = "N" * 80  # a gap: windows over it are mostly N
    chra[500:560] = [b.lower() for b in chra[500:560]]  # soft-masked repeat
    chra[700], chra[701] = "R", "y"  # IUPAC codes become N
    genome = {"chrA": "".join(chra), "chrB": random_dna(rng, 930), "chrC": random_dna(rng, 70)}
    path = tmp_path / "raw.fa.gz"
    path.write_bytes(gzip.compress("".join(wrapped(name, seq) for name, seq in genome.items()).encode()))
    return path, genome


@pytest.mark.parametrize("length, step", [(100, 100), (100, 40), (150, 200)])
def test_windows_are_as_documented(tmp_path, unannotated, length, step):
    fasta, genome = unannotated
    settings = WindowSettings(length=length, step=step, max_n_fraction=0.1)
    out = tmp_path / "out"
    stats = cut_windows("raw", fasta, settings, "to_n", out / "raw.bed", out / "raw.fa", out / "raw.stats.tsv")
    kept, past_end, mostly_n = expected_windows(genome, length, step, 0.1)
    assert read_fasta(out / "raw.fa") == kept
    assert all(len(sequence) == length for sequence in kept.values())
    bed = pd.read_csv(out / "raw.bed", sep="\t", header=None, names=["chrom", "start", "end", "name", "score", "strand"])
    assert list(bed["name"]) == list(kept)
    assert (bed["end"] - bed["start"] == length).all() and set(bed["strand"]) == {"+"}
    # the BED and the FASTA agree with samtools on the user's (gzip) genome, read independently
    plain = tmp_path / "raw.fa"
    plain.write_bytes(gzip.decompress(fasta.read_bytes()))
    with pysam.FastaFile(str(plain)) as reference:
        for row in bed.head(5).itertuples():
            cut = reference.fetch(row.chrom, row.start, row.end).upper().replace("R", "N").replace("Y", "N")
            assert kept[row.name] == cut
    row = stats.iloc[0]
    assert row["kept"] == len(kept) and row["kept_bp"] == length * len(kept)
    assert row["dropped_chromosome_end"] == past_end and row["dropped_mostly_n"] == mostly_n
    assert row["windows"] == len(kept) + past_end + mostly_n
    assert mostly_n >= 1 and past_end >= 3  # the gap drops windows; every sequence has a tail, chrC is all tail
    assert row["sequences"] == 3 and row["genome_bp"] == 1050 + 930 + 70 and row["fasta_compression"] == "gzip"
    assert row["length_min"] == row["length_max"] == length
    kept_text = "".join(kept.values())
    assert row["n_fraction"] == pytest.approx(kept_text.count("N") / len(kept_text))
    pd.testing.assert_frame_equal(pd.read_csv(out / "raw.stats.tsv", sep="\t"), stats, check_dtype=False)


def test_a_window_with_exactly_the_allowed_n_is_kept(tmp_path):
    fasta = tmp_path / "g.fa"
    fasta.write_text(">c\n" + "A" * 90 + "N" * 10 + "C" * 89 + "N" * 11 + "\n")
    out = tmp_path / "out"
    stats = cut_windows("g", fasta, WindowSettings(100, 100, 0.1), "to_n", out / "g.bed", out / "g.fa", out / "g.tsv")
    assert list(read_fasta(out / "g.fa")) == ["c:1-100"]
    assert stats.iloc[0]["dropped_mostly_n"] == 1


def test_a_sequence_set_is_checked_uppercased_and_counted(tmp_path):
    path = tmp_path / "set.fa.gz"
    path.write_bytes(gzip.compress(b">p1 from a paper\nacgtACGTRy\nACGT\n>p2\nGGGGCCCC\n>p3\nNNNNACGT\n"))
    stats = prepare_sequence_set("set", path, "to_n", tmp_path / "set.fa", tmp_path / "set.stats.tsv")
    assert read_fasta(tmp_path / "set.fa") == {"p1": "ACGTACGTNNACGT", "p2": "GGGGCCCC", "p3": "NNNNACGT"}
    row = stats.iloc[0]
    assert (row["sequences"], row["kept"], row["kept_bp"], row["ambiguous_converted"]) == (3, 3, 30, 2)
    assert row["fasta_compression"] == "gzip" and row["sequences_with_n"] == 2
    assert row["n_fraction"] == pytest.approx(6 / 30)
    assert row["gc_fraction"] == pytest.approx(16 / 24)  # of A/C/G/T: p1 6 of 12, p2 8 of 8, p3 2 of 4


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"ACGT\n>p1\nACGT\n", "line 1: sequence before the first '>' header"),
        (b">p1\nACGT\n>p1\nACGT\n", "duplicate sequence name 'p1'"),
        (b">p1\nACGT\n>p2\n>p3\nAC\n", "sequence 'p2' (line 3) is empty"),
        (b">p1\nMKVLAAGIE\n", "character 'L' is not a nucleotide"),
        (b"", "no sequences"),
        (gzip.compress(b">p1\n" + b"ACGT" * 5000)[:-30], "cannot be read as gzip"),
    ],
)
def test_a_bad_sequence_set_is_one_line_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "bad_set.fa"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        prepare_sequence_set("bad", path, "to_n", tmp_path / "out.fa", tmp_path / "out.tsv")
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message, message
    assert not (tmp_path / "out.fa").exists() and not (tmp_path / "out.tsv").exists()


def test_a_truncated_gzip_is_one_line_when_read_as_fasta(tmp_path):
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(gzip.compress(b">p1\n" + b"ACGT" * 5000)[:-30])
    with pytest.raises(InputError, match=rf"^{path}: cannot be read as FASTA"):
        read_fasta(path)


# --- one corpus from every kind of source, one leakage rule ---------------------------------------------------------
def test_every_source_enters_the_corpus_under_one_leakage_rule_counted_per_source(tmp_path):
    rng = np.random.default_rng(11)
    test_promoter, train_promoter = random_dna(rng, 600), random_dna(rng, 600)
    write_fasta({"g_test": test_promoter, "g_train": train_promoter}, tmp_path / "target.fa")
    sequence_set = {
        "copy": test_promoter,  # a verbatim copy of a test promoter
        "near": reverse_complement(mutate(rng, test_promoter, 0.05)),  # the other strand, 5 % changed
        **{f"s{i}": random_dna(rng, 600) for i in range(4)},
        "tiny": "ACGTACGT",
        "core": test_promoter[-170:],  # a core promoter cut from the test promoter: its sequence, left out
        "half": test_promoter[300:] + random_dna(rng, 300),  # half of it in a window of its length: stays
    }
    write_fasta(sequence_set, tmp_path / "set.fa")
    windows = {f"c:{600 * i + 1}-{600 * (i + 1)}": random_dna(rng, 600) for i in range(3)}
    windows["c:1801-2400"] = mutate(rng, test_promoter, 0.02)
    write_fasta(windows, tmp_path / "raw.fa")
    counts = build_pretraining_corpus(
        {"target": tmp_path / "target.fa", "set": tmp_path / "set.fa", "raw": tmp_path / "raw.fa"},
        tmp_path / "stage2.txt",
        min_length=100,
        max_n_fraction=0.5,
        held_out_genome="target",
        held_out_ids={"g_test"},
        held_out_sequences={test_promoter},
        similarity=Similarity(0.8, 0.8, shorter=True),  # as rule build_pretraining_corpus
        kinds={"target": "promoters", "set": "sequence_set", "raw": "windows"},
        out_stats=tmp_path / "stage2.sources.tsv",
        chunk=2,  # several MMseqs2 searches per source: chunking changes nothing
    )
    corpus = (tmp_path / "stage2.txt").read_text().split()
    expected = [train_promoter] + [sequence_set[f"s{i}"] for i in range(4)] + [sequence_set["half"]]
    assert corpus == expected + list(windows.values())[:3]
    assert counts == {"kept": 9, "left_out_test_gene": 1, "left_out_identical_to_test": 1,
                      "left_out_similar_to_test": 3, "left_out_short": 1}  # fmt: skip
    table = pd.read_csv(tmp_path / "stage2.sources.tsv", sep="\t", index_col="source")
    assert list(table.index) == ["target", "set", "raw"]
    assert list(table["kind"]) == ["promoters", "sequence_set", "windows"]
    assert list(table["sequences"]) == [2, 9, 4] and list(table["kept"]) == [1, 5, 3]
    assert list(table["bases"]) == [1200, 7 * 600 + 8 + 170, 2400] and list(table["kept_bp"]) == [600, 3000, 1800]
    assert list(table["left_out_test_gene"]) == [1, 0, 0]
    assert list(table["left_out_identical_to_test"]) == [0, 1, 0]
    assert list(table["left_out_similar_to_test"]) == [0, 2, 1]
    assert list(table["left_out_leakage"]) == [1, 3, 1] and list(table["left_out_short"]) == [0, 1, 0]


def test_corpus_statistics_have_one_row_per_source(tmp_path, unannotated):
    fasta, _ = unannotated
    cut_windows("raw", fasta, WindowSettings(100, 100, 0.1), "to_n", tmp_path / "raw.bed", tmp_path / "raw.fa",
                tmp_path / "raw.stats.tsv")  # fmt: skip
    (tmp_path / "in.fa").write_text(">a\nACGTACGTAC\n>b\nGGGCCCAAATTT\n")
    prepare_sequence_set("set", tmp_path / "in.fa", "to_n", tmp_path / "set.fa", tmp_path / "set.stats.tsv")
    sources = {"raw": "windows", "set": "sequence_set"}
    stats = summarize_corpus(sources, [tmp_path / "raw.stats.tsv", tmp_path / "set.stats.tsv"],
                             [tmp_path / "raw.bed", tmp_path / "set.fa"], tmp_path / "stats.tsv",
                             tmp_path / "stats.png")  # fmt: skip
    table = pd.read_csv(tmp_path / "stats.tsv", sep="\t", index_col="source")
    assert list(table.index) == ["raw", "set"] and list(table["kind"]) == ["windows", "sequence_set"]
    raw = pd.read_csv(tmp_path / "raw.stats.tsv", sep="\t").iloc[0]
    assert table.loc["raw", "kept"] == raw["kept"] and table.loc["raw", "kept_bp"] == 100 * raw["kept"]
    assert table.loc["raw", "dropped_mostly_n"] == raw["dropped_mostly_n"]
    assert table.loc["set", "kept"] == 2 and table.loc["set", "kept_bp"] == 22
    assert pd.isna(table.loc["set", "dropped_mostly_n"])  # no such filter for a set: empty, not 0
    assert "genes" not in table.columns  # no promoters among these sources
    assert len(stats) == 2 and (tmp_path / "stats.png").read_bytes()[:4] == b"\x89PNG"


# --- the rules, for real: an annotated genome, an unannotated one and a sequence set ---------------------------------
def snakemake(workdir: Path, config: dict, *targets: str) -> subprocess.CompletedProcess:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    command = [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2", *targets]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_snakemake_stage1_from_an_unannotated_genome_and_a_sequence_set(tmp_path):
    from cornbert.promoters import PromoterSettings, extract_promoters

    workdir = tmp_path / "run"
    workdir.mkdir()
    extract_promoters("ath", ARABIDOPSIS / "chr5_slice.fa.bgz", ARABIDOPSIS / "chr5_slice.gff3",
                      PromoterSettings(length=200), {}, tmp_path / "ath.bed", tmp_path / "ath.fa",
                      tmp_path / "ath.tsv")  # fmt: skip
    ath = list(read_fasta(tmp_path / "ath.fa").values())  # the expression genome's promoters: stage 1 leaves them out
    rng = np.random.default_rng(2)
    chrom = random_dna(rng, 400) + ath[0] + random_dna(rng, 400) + "N" * 200 + random_dna(rng, 550)
    (tmp_path / "raw.fa").write_text(wrapped("c1", chrom) + wrapped("c2", random_dna(rng, 150)))
    library = {"copy": ath[1], "near": reverse_complement(mutate(rng, ath[2], 0.03)),
               **{f"lib{i}": random_dna(rng, 300) for i in range(5)}}  # fmt: skip
    (tmp_path / "lib.fa.gz").write_bytes(gzip.compress("".join(wrapped(k, v) for k, v in library.items()).encode()))
    config = {
        "genomes": {
            "ath": {"fasta": str(ARABIDOPSIS / "chr5_slice.fa.bgz"), "gff": str(ARABIDOPSIS / "chr5_slice.gff3")},
            "raw": {"fasta": str(tmp_path / "raw.fa")},
        },
        "sequence_sets": {"lib": {"fasta": str(tmp_path / "lib.fa.gz"), "description": "a reporter library"}},
        "windows": {"length": 200, "step": 200},
        "promoters": {"length": 200},
        "pretraining": {"stage1": ["raw", "lib"], "stage2": ["ath"], "exclude_test_genes": True},
        "expression": {"genome": "ath", "matrix": "unused.tsv"},
    }
    targets = ["results/corpus/stage1.txt", "results/corpus/corpus_stats.tsv", "results/corpus/corpus_stats.png"]
    result = snakemake(workdir, config, *targets)
    assert result.returncode == 0, result.stderr[-4000:]

    # raw: c1 is 1,750 bp -> windows at 0, 200, ..., 1600: 8 fit, 1 runs past the end; c2 (150 bp) none fits;
    # the window at 1,000 is all N; the one at 400 is ath's first promoter, left out as identical
    windows = read_fasta(workdir / "results/windows/raw.fa")
    assert list(windows) == [f"c1:{s + 1}-{s + 200}" for s in (0, 200, 400, 600, 800, 1200, 1400)]
    corpus = (workdir / "results/corpus/stage1.txt").read_text().split()
    expected_windows = [seq for name, seq in windows.items() if name != "c1:401-600"]
    assert corpus == expected_windows + [library[f"lib{i}"] for i in range(5)]
    sources = pd.read_csv(workdir / "results/corpus/stage1.sources.tsv", sep="\t", index_col="source")
    assert list(sources["kind"]) == ["windows", "sequence_set"]
    assert list(sources["sequences"]) == [7, 7] and list(sources["kept"]) == [6, 5]
    assert list(sources["left_out_identical_to_expression_promoters"]) == [1, 1]
    assert list(sources["left_out_similar_to_expression_promoters"]) == [0, 1]
    assert list(sources["left_out_leakage"]) == [1, 2]
    log = (workdir / "logs/build_pretraining_corpus/stage1.log").read_text()
    assert "windows raw:" in log and "sequence_set lib:" in log

    stats = pd.read_csv(workdir / "results/corpus/corpus_stats.tsv", sep="\t", index_col="source")
    assert list(stats.index) == ["ath", "raw", "lib"]
    assert list(stats["kind"]) == ["promoters", "windows", "sequence_set"]
    assert stats.loc["raw", "kept"] == 7 and stats.loc["raw", "dropped_mostly_n"] == 1
    assert stats.loc["raw", "dropped_chromosome_end"] == 2 and stats.loc["raw", "windows"] == 10
    assert stats.loc["lib", "kept"] == 7 and stats.loc["lib", "kept_bp"] == sum(map(len, library.values()))
    assert stats.loc["ath", "kept"] == 12 and stats.loc["ath", "kept_bp"] == 12 * 200
    for rule in ("cut_windows/raw", "prepare_sequence_set/lib"):
        assert (workdir / f"benchmarks/{rule}.tsv").exists() and (workdir / f"logs/{rule}.log").exists()

    # a bad sequence set: the run stops with one line naming the file, and leaves none of the set's outputs
    (tmp_path / "lib.fa.gz").write_bytes(gzip.compress(b">x\nACGT\n>y\nAC-GT\n"))
    result = snakemake(workdir, config, *targets)
    assert result.returncode != 0
    message = f"{tmp_path / 'lib.fa.gz'}: line 4 (sequence 'y'): character '-' is not a nucleotide"
    assert message in result.stderr
    assert message in (workdir / "logs/prepare_sequence_set/lib.log").read_text()
    assert not any((workdir / "results/sequence_sets").glob("lib.*"))


def test_the_demo_plans_no_new_job_and_new_sources_plan_only_their_own(tmp_path):
    from conftest import run_snakemake

    def planned(config: dict, name: str) -> str:
        configfile = tmp_path / f"{name}.yaml"
        configfile.write_text(yaml.safe_dump(config))
        return run_snakemake(tmp_path, "-n", "--cores", "1", configfile=configfile, timeout=300).stdout

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo = planned(config, "demo")
    assert "rule cut_windows" not in demo and "rule prepare_sequence_set" not in demo
    (tmp_path / "lib.fa").write_text(">a\nACGT\n")
    config["genomes"]["teosinte"] = {"fasta": "resources/demo/maize.fa"}  # the demo's maize, read as unannotated
    config["sequence_sets"] = {"lib": {"fasta": str(tmp_path / "lib.fa")}}
    config["pretraining"]["stage1"] += ["teosinte", "lib"]
    plan = planned(config, "sources")
    assert plan.count("rule cut_windows:") == 1 and plan.count("rule prepare_sequence_set:") == 1
    assert "rule extract_promoters:\n    input: resources/demo/maize.fa" in plan  # maize itself still has promoters
    stage1 = re.search(r"rule build_pretraining_corpus:\n    input: (.*)\n    output: results/corpus/stage1.txt", plan)
    assert stage1 and stage1[1].split(", ")[:5] == [
        "results/promoters/grass_a.fa", "results/promoters/grass_b.fa", "results/windows/teosinte.fa",
        "results/sequence_sets/lib.fa", "results/promoters/maize.fa"]  # fmt: skip
    counts = lambda text: re.findall(r"^(\w+)\s+(\d+)$", text.split("Job stats:")[1], re.M)  # noqa: E731
    assert dict(counts(plan)) == {**dict(counts(demo)), "cut_windows": "1", "prepare_sequence_set": "1",
                                  "total": str(int(dict(counts(demo))["total"]) + 2)}  # fmt: skip
