"""Promoter extraction (samtools faidx + bedtools getfasta) against an independent pure-Python computation."""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import random
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pysam
import pytest
import yaml

from conftest import run_snakemake
from cornbert.corpus import build_pretraining_corpus, held_out_test_set
from cornbert.errors import InputError
from cornbert.fasta import read_fasta
from cornbert.genome import read_genes
from cornbert.promoters import PromoterSettings, extract_promoters
from cornbert.runtime import atomic_path, fail_cleanly

REPO = Path(__file__).resolve().parents[1]
ARABIDOPSIS = REPO / "tests" / "data" / "arabidopsis"
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
LENGTH = 200


# --- an independent reference: plain Python string slicing, no samtools/bedtools --------------------------------
def read_any_fasta(path: Path) -> dict[str, str]:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    sequences: dict[str, list[str]] = {}
    with opener(path, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                current = sequences.setdefault(line[1:].split()[0], [])
            else:
                current.append(line.strip())
    return {name: "".join(parts) for name, parts in sequences.items()}


def reverse_complement(sequence: str) -> str:
    return sequence.translate(COMPLEMENT)[::-1]


def strand_slice(genome: dict[str, str], chrom: str, start0: int, end0: int, strand: str) -> str:
    """Uppercase genome[chrom][start0:end0] read on `strand`, IUPAC codes as N."""
    piece = "".join(b if b in "ACGTN" else "N" for b in genome[chrom][start0:end0].upper())
    return piece if strand == "+" else reverse_complement(piece)


def expected_promoters(genome, genes, length, policy, min_length) -> dict[str, tuple[str, int, int, str]]:
    """gene_id -> (chrom, start0, end0, sequence) computed straight from the GFF coordinates."""
    expected = {}
    for gene_id, chrom, start1, end1, strand in genes:
        if strand not in "+-":
            continue  # unknown strand: no upstream side
        if strand == "+":
            stop = start1 - 1  # the base before the gene's first base, exclusive end in 0-based
            begin = stop - length
            if begin < 0:
                if policy == "drop" or stop < min_length:
                    continue
                begin = 0
        else:
            begin = end1  # the base after the gene's last base
            stop = begin + length
            if stop > len(genome[chrom]):
                if policy == "drop" or len(genome[chrom]) - begin < min_length:
                    continue
                stop = len(genome[chrom])
        expected[gene_id] = (chrom, begin, stop, strand_slice(genome, chrom, begin, stop, strand))
    return expected


# --- a synthetic genome: soft-masking, IUPAC codes, both strands, genes at both chromosome ends -----------------
def synthetic_genome(directory: Path) -> tuple[Path, Path, list[tuple[str, str, int, int, str]]]:
    rng = random.Random(7)
    chromosomes = {"chrA": 3000, "chrB": 2400}
    fasta = directory / "synthetic.fa"
    with open(fasta, "w") as out:
        for name, size in chromosomes.items():
            sequence = [rng.choice("ACGT") for _ in range(size)]
            for i in range(300, 700):
                sequence[i] = sequence[i].lower()  # a soft-masked repeat
            for i in rng.sample(range(size), 12):
                sequence[i] = rng.choice("RYSWKMNn")
            text = "".join(sequence)
            out.write(f">{name} synthetic\n" + "".join(text[i : i + 61] + "\n" for i in range(0, size, 61)))
    genes = []
    for name, size in chromosomes.items():
        # (start, end) pairs: ordinary genes, and genes close to the start/end on the strand that reaches over it
        placements = [
            (150, 400, "+"),
            (100, 300, "-"),
            (900, 1200, "+"),
            (1000, 1500, "-"),
            (60, 90, "+"),
            (20, 50, "+"),
        ]
        placements += [
            (size - 120, size - 10, "-"),
            (size - 500, size - 300, "-"),
            (size - 80, size, "-"),
            (1300, 1400, "."),
        ]
        placements += [(rng.randint(250, size - 450), 0, rng.choice("+-")) for _ in range(10)]
        for number, (start, end, strand) in enumerate(placements):
            end = end or start + rng.randint(10, 200)
            genes.append((f"{name}_g{number}", f"gff_{name}", start, end, strand))
    gff = directory / "synthetic.gff3"
    with open(gff, "w") as out:
        out.write("##gff-version 3\n")
        for gene_id, seqid, start, end, strand in genes:
            out.write(f"{seqid}\tsyn\tgene\t{start}\t{end}\t.\t{strand}\t.\tID=gene:{gene_id};Name={gene_id}\n")
            out.write(f"{seqid}\tsyn\tmRNA\t{start}\t{end}\t.\t{strand}\t.\tID={gene_id}.1;Parent=gene:{gene_id}\n")
    reference_genes = [(g, seqid.removeprefix("gff_"), s, e, strand) for g, seqid, s, e, strand in genes]
    return fasta, gff, reference_genes


def compress(plain: Path, kind: str) -> Path:
    if kind == "plain":
        return plain
    target = plain.with_name(f"{plain.stem}.{kind}.data")  # the extension tells nothing: magic bytes decide
    if kind == "gzip":
        target.write_bytes(gzip.compress(plain.read_bytes()))
    else:
        pysam.tabix_compress(str(plain), str(target), force=True)
    return target


def run_extraction(tmp_path: Path, fasta: Path, gff: Path, chrom_map: dict, **settings) -> tuple[Path, pd.Series]:
    out = tmp_path / "out"
    stats = extract_promoters(
        "syn",
        fasta,
        gff,
        PromoterSettings(**settings),
        chrom_map,
        out / "syn.bed",
        out / "syn.fa",
        out / "syn.stats.tsv",
    )
    return out, stats.iloc[0]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return synthetic_genome(tmp_path_factory.mktemp("synthetic"))


@pytest.mark.parametrize("policy", ["drop", "keep_short"])
@pytest.mark.parametrize("compression", ["plain", "gzip", "bgzip"])
def test_extraction_matches_independent_computation(tmp_path, synthetic, compression, policy):
    plain, gff, genes = synthetic
    fasta = compress(plain, compression)
    chrom_map = {"gff_chrA": "chrA", "gff_chrB": "chrB"}
    out, stats = run_extraction(tmp_path, fasta, gff, chrom_map, length=LENGTH, chromosome_end=policy, min_length=40)

    expected = expected_promoters(read_any_fasta(plain), genes, LENGTH, policy, 40)
    produced = read_fasta(out / "syn.fa")
    assert produced == {gene: sequence for gene, (*_, sequence) in expected.items()}
    bed = pd.read_csv(out / "syn.bed", sep="\t", header=None, names=["chrom", "start", "end", "id", "score", "strand"])
    assert list(bed["id"]) == list(produced)  # same genes, same order in BED and FASTA
    assert {row.id: (row.chrom, row.start, row.end) for row in bed.itertuples()} == {
        gene: (chrom, start, end) for gene, (chrom, start, end, _) in expected.items()
    }
    strands = {gene_id: strand for gene_id, _, _, _, strand in genes}
    assert all(strands[row.id] == row.strand for row in bed.itertuples())

    # the fixture really exercises both strands, both chromosome ends, short promoters, soft-masking and IUPAC
    assert set(bed["strand"]) == {"+", "-"}
    assert stats["dropped_no_strand"] == 2
    assert stats["fasta_compression"] == compression
    assert stats["genes"] == len(genes)
    assert stats["kept"] + stats["dropped_chromosome_end"] + stats["dropped_no_strand"] == len(genes)
    assert stats["ambiguous_converted"] > 0
    short = sum(len(sequence) < LENGTH for *_, sequence in expected.values())
    if policy == "drop":
        assert stats["dropped_chromosome_end"] >= 6 and stats["kept_short"] == 0 and short == 0
        assert stats["length_min"] == stats["length_max"] == LENGTH
    else:
        assert stats["kept_short"] == short >= 4
        assert stats["dropped_chromosome_end"] >= 2  # the ones below min_length
        assert stats["length_min"] >= 40
    all_bases = "".join(produced.values())
    assert set(all_bases) <= set("ACGTN")
    assert stats["n_fraction"] == pytest.approx(all_bases.count("N") / len(all_bases), abs=1e-6)


def test_all_compressions_give_identical_files(tmp_path, synthetic):
    plain, gff, _ = synthetic
    outputs = {}
    for compression in ("plain", "gzip", "bgzip"):
        out, _ = run_extraction(
            tmp_path / compression, compress(plain, compression), gff, {"gff_chrA": "chrA", "gff_chrB": "chrB"}
        )
        outputs[compression] = ((out / "syn.bed").read_bytes(), (out / "syn.fa").read_bytes())
    assert outputs["plain"] == outputs["gzip"] == outputs["bgzip"]
    assert outputs["plain"][1].count(b">") > 10


def test_user_files_are_not_written_next_to(tmp_path, synthetic):
    plain, gff, _ = synthetic
    fasta = compress(plain, "bgzip")
    before = sorted(p.name for p in fasta.parent.iterdir())
    run_extraction(tmp_path, fasta, gff, {"gff_chrA": "chrA", "gff_chrB": "chrB"})
    assert sorted(p.name for p in fasta.parent.iterdir()) == before  # no .fai/.gzi beside the input


# --- real data: TAIR10 Chr5 slice --------------------------------------------------------------------------------
def gff_records(path: Path, feature_type: str) -> list[dict]:
    records = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        seqid, _, kind, start, end, _, strand, _, attributes = line.split("\t")
        if kind == feature_type:
            attrs = dict(field.split("=", 1) for field in attributes.split(";") if field)
            records.append({"chrom": seqid, "start": int(start), "end": int(end), "strand": strand, **attrs})
    return records


def test_arabidopsis_promoters_and_start_codons(tmp_path):
    fasta, gff = ARABIDOPSIS / "chr5_slice.fa.bgz", ARABIDOPSIS / "chr5_slice.gff3"
    out = tmp_path / "out"
    stats = extract_promoters(
        "ath", fasta, gff, PromoterSettings(), {}, out / "ath.bed", out / "ath.fa", out / "ath.stats.tsv"
    ).iloc[0]
    genome = read_any_fasta(fasta)
    genes = [(g["ID"], g["chrom"], g["start"], g["end"], g["strand"]) for g in gff_records(gff, "gene")]
    expected = expected_promoters(genome, genes, 1000, "drop", 100)
    produced = read_fasta(out / "ath.fa")
    assert len(produced) == 12 == stats["kept"]
    assert produced == {gene: sequence for gene, (*_, sequence) in expected.items()}
    assert {g[4] for g in genes} == {"+", "-"}
    assert 0.25 < stats["gc_fraction"] < 0.45  # Arabidopsis promoters are AT-rich

    # The same strand-aware reading finds ATG at every annotated CDS start: coordinates and strands are right.
    cds_by_mrna: dict[str, list[dict]] = {}
    for cds in gff_records(gff, "CDS"):
        cds_by_mrna.setdefault(cds["Parent"], []).append(cds)
    mrna_gene = {m["ID"]: m["Parent"] for m in gff_records(gff, "mRNA")}
    assert len(cds_by_mrna) == 17
    bed = {row[3]: row for row in pd.read_csv(out / "ath.bed", sep="\t", header=None).itertuples(index=False)}
    for mrna, parts in cds_by_mrna.items():
        strand, chrom = parts[0]["strand"], parts[0]["chrom"]
        first = min(p["start"] for p in parts) - 1 if strand == "+" else max(p["end"] for p in parts) - 3
        assert strand_slice(genome, chrom, first, first + 3, strand) == "ATG", mrna
        # the promoter ends right at the gene's 5' end, upstream of (or at) the start codon
        _, start, end, gene, _, bed_strand = bed[mrna_gene[mrna]]
        assert bed_strand == strand
        assert (end <= first) if strand == "+" else (start >= first + 3)


def transcripts_only_twin(gff: Path, out: Path) -> Path:
    """The real annotation without its gene lines: how gene predictors and many lab assemblies write GFF3 (mRNA
    records with isoforms, grouped by Parent only)."""
    lines = [line for line in gff.read_text().splitlines(keepends=True) if line.count("\t") < 2
             or line.split("\t")[2] != "gene"]
    out.write_text("".join(lines))
    return out


def test_a_transcript_only_annotation_gives_the_promoters_of_its_gene_level_twin(tmp_path):
    fasta, gff = ARABIDOPSIS / "chr5_slice.fa.bgz", ARABIDOPSIS / "chr5_slice.gff3"
    twin = transcripts_only_twin(gff, tmp_path / "mrna_only.gff3")

    def promoters(annotation: Path, name: str, **settings) -> dict[str, str]:
        out = tmp_path / name
        extract_promoters("ath", fasta, annotation, PromoterSettings(**settings), {}, out / "p.bed", out / "p.fa",
                          out / "p.tsv")  # fmt: skip
        return read_fasta(out / "p.fa")

    genes = promoters(gff, "genes")
    isoforms = dict(feature_type="mRNA", id_attribute="Parent")
    from_transcripts = promoters(twin, "mrna", isoforms="most_upstream", **isoforms)
    # 11 protein-coding genes, 4 of them with 2-4 isoforms on both strands; nc_AT5G66650 has no mRNA
    assert from_transcripts == {gene: seq for gene, seq in genes.items() if gene != "nc_AT5G66650"}
    assert len(from_transcripts) == 11
    # the longest transcript of AT5G66610 (+) starts 6 bp downstream of the gene: its promoter moves with it
    longest = promoters(twin, "longest", isoforms="longest", **isoforms)
    assert longest["AT5G66610"] != genes["AT5G66610"]
    assert longest["AT5G66610"][:-6] == genes["AT5G66610"][6:]
    assert promoters(twin, "first", isoforms="first", **isoforms)["AT5G66640"] == genes["AT5G66640"]

    with pytest.raises(InputError, match="duplicate gene ID 'AT5G66600' .*set promoters.isoforms"):
        promoters(twin, "error", **isoforms)
    with pytest.raises(InputError, match="no records of type 'gene' .*feature_type mRNA, id_attribute Parent"):
        promoters(twin, "default")


def test_isoforms_of_one_gene_on_two_strands_are_an_error(tmp_path):
    gff = tmp_path / "bad.gff3"
    gff.write_text("s\t.\tmRNA\t100\t200\t.\t+\t.\tID=t1;Parent=g1\ns\t.\tmRNA\t150\t300\t.\t-\t.\tID=t2;Parent=g1\n")
    with pytest.raises(InputError, match="gene 'g1': isoforms at lines 1 and 2 lie on s \\+ and s -"):
        read_genes(gff, "mRNA", "Parent", isoforms="most_upstream")


@pytest.fixture
def tmpfs(tmp_path):
    """Mounts a real tmpfs with the given options (a full or read-only disk); needs root, as in CI."""
    mounts = []

    def mount(options: str) -> Path:
        folder = tmp_path / f"tmpfs{len(mounts)}"
        folder.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.slow
def test_a_full_disk_during_extraction_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, tmpfs):
    full = tmpfs("size=64k")
    work = tmp_path / "run"
    run_snakemake(work, "--cores", "1", "resources/demo/maize.gff3")
    (work / "results").mkdir()
    (work / "results" / "promoters").symlink_to(full)
    result = run_snakemake(work, "--cores", "1", "results/promoters/maize.fa", check=False)
    assert result.returncode != 0
    log = (work / "logs/extract_promoters/maize.log").read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in log
    assert errors[0].endswith("no space left on the device: free space there (df -h shows it) and rerun; the job "
                              "kept nothing half-written")
    assert "results/promoters/maize." in errors[0]
    assert list(full.iterdir()) == []  # no partial BED or FASTA


def test_a_read_only_folder_is_one_line_naming_it(tmpfs, caplog):
    read_only = tmpfs("ro")
    with pytest.raises(SystemExit), caplog.at_level(logging.ERROR, logger="cornbert"):
        with fail_cleanly(), atomic_path(read_only / "p.tsv") as tmp:
            tmp.write_text("x")
    (message,) = [record.getMessage() for record in caplog.records]
    assert message.startswith(str(read_only)) and message.endswith("the file system is read-only: run from a "
                                                                  "writable working directory")


# --- the pretraining corpus ----------------------------------------------------------------------------------------
def test_pretraining_corpus_leaves_out_test_genes_short_and_n_rich(tmp_path):
    fasta_a, fasta_b = tmp_path / "a.fa", tmp_path / "b.fa"
    fasta_a.write_text(">g1\nACGTACGTAA\n>g2\nCCCCGGGGTT\n>g3\nACG\n>g4\nNNNNNNNNAC\n")
    fasta_b.write_text(">g1\nTTTTTTTTTT\n>x9\nCCCCGGGGTT\n>x8\nacgtacgtac\n")  # x9: identical to test gene g2
    split = tmp_path / "split.tsv"
    split.write_text("gene_id\tsplit\ng1\ttrain\ng2\ttest\ng4\ttrain\n")
    test_ids, test_sequences = held_out_test_set(split, fasta_a)
    assert test_ids == {"g2"} and test_sequences == {"CCCCGGGGTT"}
    counts = build_pretraining_corpus(
        {"a": fasta_a, "b": fasta_b},
        tmp_path / "stage1.txt",
        min_length=5,
        max_n_fraction=0.5,
        held_out_genome="a",
        held_out_ids=test_ids,
        held_out_sequences=test_sequences,
    )
    assert (tmp_path / "stage1.txt").read_text().splitlines() == ["ACGTACGTAA", "TTTTTTTTTT", "ACGTACGTAC"]
    assert counts == {
        "kept": 3,
        "left_out_test_gene": 1,
        "left_out_identical_to_test": 1,
        "left_out_short": 1,
        "left_out_mostly_n": 1,
    }


# --- this stage's Snakemake DAG, for real ---------------------------------------------------------------------------
@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def snakemake(workdir: Path, config: dict, *targets: str) -> subprocess.CompletedProcess:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    command = [
        str(Path(sys.executable).with_name("snakemake")),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        *targets,
    ]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.slow
def test_snakemake_promoters_and_corpus_stats(tmp_path, http_server, synthetic):
    www, url = http_server
    plain, gff, genes = synthetic
    (www / "syn.fa.gz").write_bytes(gzip.compress(plain.read_bytes()))
    (www / "syn.gff3.gz").write_bytes(gzip.compress(gff.read_bytes()))
    workdir = tmp_path / "run"
    workdir.mkdir()
    config = {
        "genomes": {
            "ath": {
                "fasta": str(ARABIDOPSIS / "chr5_slice.fa.bgz"),
                "gff": str(ARABIDOPSIS / "chr5_slice.gff3"),
                "sha256": {"fasta": hashlib.sha256((ARABIDOPSIS / "chr5_slice.fa.bgz").read_bytes()).hexdigest()},
            },
            "syn": {
                "fasta": f"{url}/syn.fa.gz",
                "gff": f"{url}/syn.gff3.gz",
                "sha256": {"gff": hashlib.sha256((www / "syn.gff3.gz").read_bytes()).hexdigest()},
                "chrom_map": {"gff_chrA": "chrA", "gff_chrB": "chrB"},
            },
        },
        "promoters": {"length": LENGTH, "chromosome_end": "keep_short", "min_length": 40},
        "pretraining": {"stage1": ["ath", "syn"], "stage2": ["ath"], "exclude_test_genes": False},
        "expression": {"genome": "ath", "matrix": "unused.tsv"},
    }
    targets = ["results/corpus/corpus_stats.tsv", "results/corpus/corpus_stats.png", "results/corpus/stage1.txt"]
    result = snakemake(workdir, config, *targets)
    assert result.returncode == 0, result.stderr[-4000:]

    assert (workdir / "resources/genomes/syn.fasta").read_bytes() == (www / "syn.fa.gz").read_bytes()
    table = pd.read_csv(workdir / "results/corpus/corpus_stats.tsv", sep="\t", index_col="source")
    assert list(table.index) == ["ath", "syn"] and set(table["kind"]) == {"promoters"}
    assert table.loc["ath", "kept_bp"] == 12 * LENGTH
    assert table.loc["ath", "kept"] == 12 and table.loc["syn", "genes"] == len(genes)
    assert table.loc["syn", "fasta_compression"] == "gzip" and table.loc["ath", "fasta_compression"] == "bgzip"
    expected = expected_promoters(read_any_fasta(plain), genes, LENGTH, "keep_short", 40)
    assert read_fasta(workdir / "results/promoters/syn.fa") == {g: s for g, (*_, s) in expected.items()}
    assert (workdir / "results/corpus/corpus_stats.png").read_bytes()[:4] == b"\x89PNG"
    corpus = (workdir / "results/corpus/stage1.txt").read_text().splitlines()
    assert len(corpus) == 12 + len(expected) and all(set(line) <= set("ACGTN") for line in corpus)
    assert (workdir / "benchmarks/extract_promoters/ath.tsv").exists()
    assert "12 genes -> 12 promoters" in (workdir / "logs/extract_promoters/ath.log").read_text()

    # a bad GFF3 for one genome: the run fails, says why, and leaves none of that genome's outputs
    bad_gff = www / "syn.gff3.gz"
    bad_gff.write_bytes(gzip.compress(gff.read_bytes().replace(b"\t+\t", b"\tplus\t", 1)))
    config["genomes"]["syn"]["sha256"] = {}
    (workdir / "resources/genomes/syn.gff").unlink()  # as if the URL had changed: fetch again
    result = snakemake(workdir, config, *targets)
    assert result.returncode != 0
    message = "strand must be one of + - . ?, got 'plus'"
    assert message in result.stderr
    assert message in (workdir / "logs/extract_promoters/syn.log").read_text()
    assert not any((workdir / "results/promoters").glob("syn.*"))
