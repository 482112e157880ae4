"""The demo world: file formats, determinism, promoter frame, calibration to B73, and a recoverable planted rule."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from cornbert import demo_world as dw
from cornbert.demo_world import DemoSettings, generate

REAL_MATRIX = REPO / "resources" / "maize_b73" / "B73_v5_gene_by_tissue_TPM.tsv.gz"
FILES = ["grass_a.fa.gz", "grass_a.gff3", "grass_b.fa.bgz", "grass_b.gff3.gz", "maize.fa", "maize.gff3",
         "maize_tpm.tsv", "maize_variants.vcf", "planted_rule.json"]


@pytest.fixture(scope="module")
def real_tpm() -> pd.DataFrame:
    return pd.read_csv(REAL_MATRIX, sep="\t", index_col="gene_id")


@pytest.fixture(scope="module")
def world(tmp_path_factory, real_tpm) -> Path:
    """The demo world at its configured (default) size."""
    outdir = tmp_path_factory.mktemp("world")
    generate(DemoSettings(), outdir, real_tpm)
    return outdir


def read_text(path: Path) -> str:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt") as handle:
        return handle.read()


def read_fasta(path: Path) -> dict[str, str]:
    sequences, name = {}, None
    for line in read_text(path).splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            sequences[name] = []
        else:
            sequences[name].append(line)
    return {k: "".join(v) for k, v in sequences.items()}


def read_genes(path: Path) -> pd.DataFrame:
    rows = [line.split("\t") for line in read_text(path).splitlines() if line and not line.startswith("#")]
    table = pd.DataFrame(rows, columns=["chrom", "source", "type", "start", "end", "score", "strand", "phase", "attr"])
    table[["start", "end"]] = table[["start", "end"]].astype(int)
    table["id"] = table["attr"].str.extract(r"ID=([^;]+)")[0]
    table["parent"] = table["attr"].str.extract(r"Parent=([^;]+)")[0]
    return table


def upstream(chromosomes: dict[str, str], gene: pd.Series, length: int = 1000) -> str:
    """An independent, strand-aware cut of the `length` bp before the gene's 5' end (uppercase)."""
    sequence = chromosomes[gene.chrom]
    if gene.strand == "+":
        piece = sequence[max(gene.start - 1 - length, 0) : gene.start - 1]
    else:
        piece = dw.reverse_complement(sequence[gene.end : gene.end + length])
    return piece.upper()


def test_files_and_compressions(world: Path):
    assert sorted(p.name for p in world.iterdir()) == sorted(FILES)
    for name in ("grass_a.fa.gz", "grass_b.gff3.gz", "grass_b.fa.bgz"):
        assert (world / name).read_bytes()[:2] == b"\x1f\x8b", name
    # BGZF blocks carry the 'BC' extra subfield; plain gzip does not.
    assert (world / "grass_b.fa.bgz").read_bytes()[12:14] == b"BC"
    assert (world / "grass_a.fa.gz").read_bytes()[12:14] != b"BC"
    assert (world / "maize.fa").read_text().startswith(">chr1\n")
    import pysam

    with pysam.FastaFile(str(world / "grass_b.fa.bgz")) as fasta:  # indexable as bgzip
        assert len(fasta.references) == DemoSettings().chromosomes


def test_generation_is_deterministic_and_seeded(tmp_path: Path, real_tpm):
    small = DemoSettings(maize_genes=200, grass_genes=100, chromosomes=2)
    for name, settings in (("a", small), ("b", small), ("c", DemoSettings(**{**small.__dict__, "seed": 7}))):
        generate(settings, tmp_path / name, real_tpm)
    for file in FILES:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    assert (tmp_path / "a" / "maize.fa").read_bytes() != (tmp_path / "c" / "maize.fa").read_bytes()


def test_genomes_look_like_plant_assemblies(world: Path):
    settings = DemoSettings()
    for name, n_genes, prefix in (("maize", settings.maize_genes, "gene:Zm00001eb"),
                                  ("grass_a", settings.grass_genes, "gene-GRA_"),
                                  ("grass_b", settings.grass_genes, "GRB")):
        fasta_name = next(f for f in FILES if f.startswith(name) and ".fa" in f)
        chromosomes = read_fasta(world / fasta_name)
        gff = read_genes(world / next(f for f in FILES if f.startswith(name) and "gff3" in f))
        genes = gff[gff.type == "gene"]
        assert len(chromosomes) == settings.chromosomes and set(genes.chrom) == set(chromosomes)
        assert len(genes) == n_genes and genes.id.str.startswith(prefix).all()
        assert 0.3 < (genes.strand == "+").mean() < 0.7
        # Every mRNA has a gene parent and every exon an mRNA parent, inside the parent's span.
        by_id = gff.set_index("id")
        for child, parent_type in (("mRNA", "gene"), ("exon", "mRNA")):
            children = gff[gff.type == child]
            parents = by_id.loc[children.parent]
            assert (parents.type.to_numpy() == parent_type).all()
            assert (children.start.to_numpy() >= parents.start.to_numpy()).all()
            assert (children.end.to_numpy() <= parents.end.to_numpy()).all()
        lengths = genes.chrom.map({k: len(v) for k, v in chromosomes.items()})
        near_end = (genes.start <= 1000) & (genes.strand == "+") | (lengths - genes.end < 1000) & (genes.strand == "-")
        assert near_end.sum() >= settings.chromosomes
        text = "".join(chromosomes.values())
        assert 0.05 < sum(c.islower() for c in text) / len(text) < 0.3  # soft-masked repeats
        assert "N" * 20 in text  # assembly gaps
        promoters = [upstream(chromosomes, gene) for gene in genes[~near_end].itertuples()]
        joined = "".join(p[: -dw.PROXIMAL_LENGTH] for p in promoters)
        gc = (joined.count("G") + joined.count("C")) / (len(joined) - joined.count("N"))
        assert abs(gc - dw.PROMOTER_GC) < 0.02


def test_elements_sit_at_their_planted_distance_in_the_promoter_frame(world: Path):
    """Cut independently from the FASTA + GFF3 (revcomp on '-'), the planted grammar is where the rule says."""
    chromosomes = read_fasta(world / "maize.fa")
    genes = read_genes(world / "maize.gff3").query("type == 'gene'")
    promoters = [upstream(chromosomes, gene) for gene in genes.itertuples()]
    full = [p for p in promoters if len(p) == 1000]
    features = dw.planted_features(full)
    assert abs(features["core"].mean() - DemoSettings().core_fraction) < 0.03
    minus = [p for p, strand in zip(promoters, genes.strand) if len(p) == 1000 and strand == "-"]
    assert dw.planted_features(minus)["core"].mean() > 0.7  # '-' genes carry it reverse-complemented
    # Where the core is planted: its last base lies 20-33 bp before the gene, never closer or farther.
    ends = [1000 - (p.find(dw.CORE_SEQUENCE, 960) + len(dw.CORE_SEQUENCE) - 1) for p in full
            if p.find(dw.CORE_SEQUENCE, 960) >= 0]
    assert min(ends) >= 20 and max(ends) <= 33


def test_matrix_is_calibrated_to_the_real_b73_matrix(world: Path, real_tpm):
    demo = np.log1p(pd.read_csv(world / "maize_tpm.tsv", sep="\t", index_col="gene_id"))
    real = np.log1p(real_tpm)
    assert list(demo.columns) == dw.TISSUES == list(real.columns)
    assert abs((demo.to_numpy() == 0).mean() - (real.to_numpy() == 0).mean()) < 0.02
    assert abs(np.median(demo) - np.median(real)) < 0.15
    for q in (0.75, 0.9):
        assert abs(np.quantile(demo, q) - np.quantile(real, q)) < 0.25
    assert demo.index.str.match(r"^Zm00001eb\d{6}$").all()


def test_planted_rule_is_recoverable_from_sequence_and_matrix(world: Path):
    rule = json.loads((world / "planted_rule.json").read_text())
    chromosomes = read_fasta(world / "maize.fa")
    genes = read_genes(world / "maize.gff3").query("type == 'gene'")
    genes["gene_id"] = genes.id.str.removeprefix("gene:")
    promoters = {g.gene_id: upstream(chromosomes, g) for g in genes.itertuples()}
    targets = np.log1p(pd.read_csv(world / "maize_tpm.tsv", sep="\t", index_col="gene_id"))
    targets = targets[targets.index.isin([g for g, p in promoters.items() if len(p) == 1000])]
    seqs = [promoters[g] for g in targets.index]

    def window_count(sequence: str, window: dict) -> np.ndarray:
        w = dw.Window(window["min_distance"], window["max_distance"])
        return np.array([dw.count_in_window(p, sequence, w) for p in seqs])

    mean = targets.mean(axis=1).to_numpy()
    core = window_count(rule["core"]["sequence"], rule["core"]["window"]) > 0
    assert mean[core].mean() - mean[~core].mean() > 1.5
    decoy = window_count(rule["core"]["sequence"], rule["decoys"]["window"]) > 0
    assert decoy.mean() > 0.3
    assert abs(mean[core & decoy].mean() - mean[core & ~decoy].mean()) < 0.2  # decoys do nothing
    for element in rule["elements"]:
        present = window_count(element["sequence"], element["window"]) > 0
        raised = max(element["effect"], key=element["effect"].get)
        untouched = min(element["effect"], key=element["effect"].get)
        assert element["effect"][untouched] == 0
        gain = targets.loc[present, raised].mean() - targets.loc[~present, raised].mean()
        other = targets.loc[present, untouched].mean() - targets.loc[~present, untouched].mean()
        assert gain > 1.0, element["name"]
        assert gain > other + 0.8, element["name"]
        far = window_count(element["sequence"], rule["decoys"]["window"]) > 0
        assert abs(targets.loc[far & ~present, raised].mean() - targets.loc[~far & ~present, raised].mean()) < 0.4


def test_rule_file_describes_a_complete_rule(world: Path):
    rule = json.loads((world / "planted_rule.json").read_text())
    assert rule["tissues"] == dw.TISSUES
    assert rule["core"]["window"] == {"min_distance": 20, "max_distance": 40}
    assert all(
        rule["core"]["window"]["max_distance"] < e["window"]["min_distance"] < e["window"]["max_distance"]
        < rule["decoys"]["window"]["min_distance"] for e in rule["elements"]
    )  # fmt: skip
    assert rule["decoys"]["window"]["min_distance"] >= 700 and rule["decoys"]["effect"] == 0
    assert set(rule["quantile_map"]["log_tpm"]) == set(dw.TISSUES)
    assert rule["calibration"]["real_b73"]["zero_fraction"] == pytest.approx(0.316, abs=0.001)
