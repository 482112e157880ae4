"""`cornbert-variants` and `cornbert-saturate`: re-cut alternative promoters on a hand-checked genome, VCF input
(plain, bgzip + tabix, malformed), the CLIs on a small trained model, and the planted grammar on the demo world."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
import torch

from cornbert import distributed
from cornbert.finetune import train
from cornbert.genome import read_genes, write_indexed_fasta
from cornbert.promoters import PromoterSettings, plan_regions
from cornbert.errors import InputError
from cornbert.variants import VariantJob, promoter_hits, promoter_windows, read_variants, run
from finetune_world import make_job, make_world, small_settings

BIN = Path(sys.executable).parent
VARIANTS_CLI, SATURATE_CLI = str(BIN / "cornbert-variants"), str(BIN / "cornbert-saturate")

# FASTA names 1 and 2; the GFF3 and VCF say chr1 and chr2 (mapped as promoters are, with a chromosome map).
CHROM1 = "ACGTTGCAAC" "GTACCATGGA" "TTGCAGCTAA" "CCGGTTAACG"  # '+' gene at 21-30: promoter = [10, 20)
CHROM2 = "TTGACCGTAG" "CATCGGATCC" "AGTGCAAGTT"  # '-' gene at 1-10: promoter = revcomp of [10, 20)
CHROM_MAP = {"chr1": "1", "chr2": "2"}
SETTINGS = PromoterSettings(length=10)
GFF = """##gff-version 3
chr1\ttest\tgene\t21\t30\t.\t+\t.\tID=gene:PLUS
chr2\ttest\tgene\t1\t10\t.\t-\t.\tID=gene:MINUS
"""
HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=40>\n##contig=<ID=chr2,length=30>\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)
# (VCF line, gene, expected alternative promoter written 5'->3' toward the gene, distance), each computed by hand:
# PLUS's promoter is GTACCATGGA, MINUS's is GGATCCGATG (reverse complement of CATCGGATCC).
CASES = [
    ("chr1\t12\tsnv_multi\tT\tC,G", "PLUS", ["GCACCATGGA", "GGACCATGGA"], 9),  # multi-allelic: split
    ("chr1\t13\tdel_plus\tACC\tA", "PLUS", ["ACGTAATGGA"], 6),  # CC deleted: two more upstream bases (AC)
    ("chr1\t15\tsnv_plus\tC\tT", "PLUS", ["GTACTATGGA"], 6),
    ("chr1\t17\tmnv_plus\tTG\tAC", "PLUS", ["GTACCAACGA"], 3),
    ("chr1\t19\tins_plus\tG\tGTTT", "PLUS", ["CCATGGTTTA"], 2),  # TTT inserted: the 3 most distal bases dropped
    ("chr2\t11\tins_minus\tC\tCAAA", "MINUS", ["TCCGATTTTG"], 1),  # on '-', upstream = higher coordinates
    ("chr2\t12\tsnv_minus\tA\tG", "MINUS", ["GGATCCGACG"], 2),
    ("chr2\t14\tdel_minus\tCGG\tC", "MINUS", ["CTGGATGATG"], 4),  # CGG -> C: GA deleted, AG pulled in upstream
]
OUTSIDE = ["chr1\t3\tintergenic\tG\tA", "chr1\t25\tin_gene_body\tA\tT", "chr2\t25\tfar_upstream\tC\tA"]


def write_world(root: Path, records: list[str]) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = {"genome": root / "genome.fa", "gff": root / "genes.gff3", "vcf": root / "variants.vcf"}
    paths["genome"].write_text(f">1\n{CHROM1}\n>2\n{CHROM2}\n")
    paths["gff"].write_text(GFF)
    paths["vcf"].write_text(HEADER + "".join(f"{line}\t.\t.\t.\n" for line in records))
    return paths


def hits_of(paths: dict[str, Path], workdir: Path):
    genes = read_genes(paths["gff"], strip_id_prefixes=("gene:",), chrom_map=CHROM_MAP)
    indexed = workdir / "indexed.fa"
    lengths = write_indexed_fasta(paths["genome"], indexed).lengths
    regions = plan_regions(genes, lengths, SETTINGS).regions
    windows = promoter_windows(indexed, regions, workdir)
    with pysam.FastaFile(str(indexed)) as genome:
        variant_set = read_variants(paths["vcf"], genome, CHROM_MAP)
        hits = promoter_hits(variant_set.variants, windows, genome, variant_set.counts)
    return windows, hits, variant_set.counts


def test_alternative_promoters_are_recut_anchored_at_the_gene_on_both_strands(tmp_path):
    paths = write_world(tmp_path, [line for line, *_ in CASES] + OUTSIDE)
    windows, hits, counts = hits_of(paths, tmp_path)

    assert windows.reference == {"PLUS": "GTACCATGGA", "MINUS": "GGATCCGATG"}
    got = {(h.variant.variant_id, h.variant.alt): (h.region.gene_id, h.promoter, h.distance) for h in hits}
    expected = {}
    for line, gene, promoters, distance in CASES:
        variant_id, alts = line.split("\t")[2], line.split("\t")[4].split(",")
        expected |= {(variant_id, alt): (gene, promoter, distance) for alt, promoter in zip(alts, promoters)}
    assert got == expected
    assert all(len(h.promoter) == 10 for h in hits)
    kinds = {h.variant.variant_id: h.variant.kind for h in hits}
    assert (kinds["snv_plus"], kinds["mnv_plus"], kinds["ins_minus"], kinds["del_plus"]) == (
        "SNV", "MNV", "insertion", "deletion",
    )  # fmt: skip
    assert counts["records"] == len(CASES) + len(OUTSIDE)
    assert counts["alleles"] == len(CASES) + len(OUTSIDE) + 1  # the multi-allelic record has two
    assert counts["alleles_outside_promoters"] == len(OUTSIDE)
    assert counts["alleles_in_promoters"] == len(CASES) + 1


def test_reference_allele_applied_gives_back_the_extracted_promoter(tmp_path):
    """The re-cutting code and the extraction code (bedtools) agree on what a promoter is, on both strands."""
    paths = write_world(tmp_path, ["chr1\t11\tref_plus\tG\tG", "chr2\t20\tref_minus\tC\tC"])
    windows, hits, _ = hits_of(paths, tmp_path)
    assert {h.region.gene_id: h.promoter for h in hits} == windows.reference


def test_indel_running_into_the_gene_is_counted_not_cut(tmp_path):
    paths = write_world(tmp_path, ["chr1\t20\tdel_into_gene\tAT\tA", "chr1\t20\tmnv_into_gene\tAT\tCC"])
    _, hits, counts = hits_of(paths, tmp_path)
    assert counts["pairs_indel_into_gene"] == 1
    assert [(h.variant.variant_id, h.promoter) for h in hits] == [("mnv_into_gene", "GTACCATGGC")]


def test_bgzip_tabix_vcf_reads_the_same_as_plain(tmp_path):
    records = sorted([line for line, *_ in CASES] + OUTSIDE, key=lambda line: (line[:4], int(line.split("\t")[1])))
    paths = write_world(tmp_path, records)  # sorted: tabix indexes sorted files only
    indexed = tmp_path / "indexed.fa"
    write_indexed_fasta(paths["genome"], indexed)
    compressed = pysam.tabix_index(str(paths["vcf"]), preset="vcf", keep_original=True, force=True)
    assert Path(compressed + ".tbi").exists() and open(compressed, "rb").read(2) == b"\x1f\x8b"
    with pysam.FastaFile(str(indexed)) as genome:
        plain = read_variants(paths["vcf"], genome, CHROM_MAP)
        bgzip = read_variants(compressed, genome, CHROM_MAP)
    assert bgzip.variants == plain.variants and len(plain.variants) == len(CASES) + len(OUTSIDE) + 1
    assert bgzip.counts == plain.counts


def test_symbolic_alleles_are_counted_and_skipped(tmp_path):
    paths = write_world(tmp_path, ["chr1\t15\tsv\tC\t<DEL>,T", "chr1\t16\tspan\tA\t*"])
    indexed = tmp_path / "indexed.fa"
    write_indexed_fasta(paths["genome"], indexed)
    with pysam.FastaFile(str(indexed)) as genome:
        variant_set = read_variants(paths["vcf"], genome, CHROM_MAP)
    assert [(v.variant_id, v.alt) for v in variant_set.variants] == [("sv", "T")]
    assert variant_set.counts == Counter(records=2, alleles=3, alleles_not_sequence=2)


# --- the command line, on a small trained model ------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("variants")
    world = make_world(root / "world")
    train(make_job(world, root / "out", small_settings(standardize_targets=True)), distributed.setup(prefer_cuda=False))
    return root / "out" / "model"


def run_variants(model: Path, paths: dict[str, Path], output: Path, vcf: Path | None = None):
    command = [
        VARIANTS_CLI, "--model", str(model), "--genome", str(paths["genome"]), "--gff", str(paths["gff"]),
        "--vcf", str(vcf or paths["vcf"]), "--output", str(output), "--promoter-length", "10",
        "--chrom-map", "chr1=1", "chr2=2", "--threads", "1",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True)


def test_cli_table_matches_the_model_and_reloads_in_a_fresh_process(trained_model, tmp_path):
    from cornbert.regressor import load_regressor, predict_log

    paths = write_world(tmp_path / "in", [line for line, *_ in CASES] + OUTSIDE)
    output = tmp_path / "out" / "effects.tsv"
    result = run_variants(trained_model, paths, output)
    assert result.returncode == 0, result.stderr

    model, tokenizer, tissues = load_regressor(trained_model)
    reloaded = subprocess.run(
        [sys.executable, "-c", f"import pandas as pd; t = pd.read_csv({str(output)!r}, sep='\\t'); "
         "print(len(t), t.gene_id.nunique(), round(float(t.delta.abs().sum()), 4), list(t.columns))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    table = pd.read_csv(output, sep="\t")
    assert reloaded.stdout.split()[:3] == [str(len(table)), "2", str(round(float(table.delta.abs().sum()), 4))]
    assert list(table.columns) == [
        "chrom", "pos", "ref", "alt", "variant_id", "kind", "gene_id", "strand", "distance", "tissue",
        "ref_log", "alt_log", "delta", "model_reads",
    ]  # fmt: skip
    assert table["model_reads"].all()  # 10-bp promoters: the model reads every base
    assert len(table) == (len(CASES) + 1) * len(tissues)  # one row per allele x gene x tissue
    assert set(table["chrom"]) == {"chr1", "chr2"}  # as written in the VCF, not the FASTA's names
    row = table[(table.variant_id == "del_minus")].set_index("tissue").loc[tissues]
    expected = predict_log(model, tokenizer, ["GGATCCGATG", "CTGGATGATG"], batch_size=2)
    np.testing.assert_allclose(row["ref_log"], expected[0], atol=1e-4)
    np.testing.assert_allclose(row["alt_log"], expected[1], atol=1e-4)
    np.testing.assert_allclose(table["delta"], table["alt_log"] - table["ref_log"], atol=2e-5)

    summary = pd.read_csv(tmp_path / "out" / "effects.summary.tsv", sep="\t", index_col="what")["count"]
    assert summary["alleles_outside_promoters"] == len(OUTSIDE) and summary["rows"] == len(table)
    assert (tmp_path / "out" / "effects.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "record, problem",
    [
        ("chr1\t15\tbad_ref\tG\tA", "record chr1:15: REF G disagrees with the genome, which has C there"),
        ("chr9\t15\tunknown\tG\tA", "record chr9:15: chromosome 'chr9' is not in the genome FASTA"),
        ("chr1\tabc\tbad_pos\tG\tA", "malformed record chr1:abc (data line 2"),
        ("chr1\t15\tbad_alt\tC\tZ", "record chr1:15: ALT 'Z' is neither DNA nor a symbolic allele"),
        ("chr1\t15\tbad_ref\tCX\tA", "record chr1:15: REF 'CX' is not DNA"),
    ],
)
def test_bad_records_are_refused_naming_file_and_record_and_nothing_is_written(trained_model, tmp_path, record,
                                                                               problem):  # fmt: skip
    paths = write_world(tmp_path / "in", ["chr1\t12\tfine\tT\tC", record])
    out = tmp_path / "out"
    job = VariantJob(
        model=str(trained_model), genome=str(paths["genome"]), gff=str(paths["gff"]), vcf=str(paths["vcf"]),
        output=str(out / "e.tsv"), summary=str(out / "e.summary.tsv"), figure=str(out / "e.png"),
        settings=SETTINGS, chrom_map=CHROM_MAP,
    )  # fmt: skip
    with pytest.raises(InputError) as error:
        run(job)
    assert str(error.value).startswith(f"{paths['vcf']}: {problem}"), error.value
    assert not out.exists()


def test_cli_exits_1_with_the_error_and_writes_nothing(trained_model, tmp_path):
    paths = write_world(tmp_path / "in", ["chr1\t12\tfine\tT\tC", "chr1\t15\tbad_ref\tG\tA"])
    output = tmp_path / "out" / "effects.tsv"
    result = run_variants(trained_model, paths, output)
    assert result.returncode == 1
    assert f"{paths['vcf']}: record chr1:15: REF G disagrees with the genome" in result.stderr, result.stderr
    assert not output.parent.exists()


def test_saturation_covers_every_substitution_and_ranks_specific_edits(trained_model, tmp_path):
    from cornbert.regressor import load_regressor, predict_log

    promoters = {"gA": "ACGTTGCAACGTACCATGGATTGCAGCTAATATAAATAGG", "gB": "TTGACCGTAGCATCGGATCCAGTGCAAGTT"}
    fasta = tmp_path / "promoters.fa"
    fasta.write_text("".join(f">{g}\n{s}\n" for g, s in promoters.items()) + ">unused\nACGT\n")
    out = tmp_path / "saturation"
    subprocess.run(
        [SATURATE_CLI, "--model", str(trained_model), "--fasta", str(fasta), "--genes", "gA,gB", "--tissue", "seed",
         "--top", "5", "--output-dir", str(out), "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    table = pd.read_csv(out / "saturation.tsv", sep="\t")
    _, tokenizer, tissues = load_regressor(trained_model)
    assert len(table) == sum(3 * len(s) for s in promoters.values()) * len(tissues)
    gene_a = table[table.gene_id == "gA"]
    assert set(zip(gene_a["index"], gene_a["alt"])) == {
        (i, b) for i, r in enumerate(promoters["gA"]) for b in "ACGT" if b != r
    }
    assert (gene_a["distance"] == 40 - gene_a["index"]).all()
    model, tokenizer, _ = load_regressor(trained_model)
    mutant = "ACGTTGCAACGTACCATGGATTGCAGCTAATATAAGTAGG"  # index 35 (distance 5): A -> G
    expected = predict_log(model, tokenizer, [promoters["gA"], mutant], batch_size=2)
    row = gene_a[(gene_a["index"] == 35) & (gene_a["alt"] == "G")].set_index("tissue").loc[tissues, "delta"]
    np.testing.assert_allclose(row, expected[1] - expected[0], atol=1e-4)

    edits = pd.read_csv(out / "top_edits.tsv", sep="\t")
    assert set(edits["tissue"]) == {"seed"} and len(edits) == 2 * 2 * 5  # genes x directions x top
    wide = table.pivot_table(index=["gene_id", "index", "alt"], columns="tissue", values="delta")
    others = wide.drop(columns="seed").abs().mean(axis=1)
    for direction, sign in (("raise", 1), ("lower", -1)):
        best = edits[(edits.gene_id == "gA") & (edits.direction == direction)].sort_values("rank")
        specificity = (sign * wide["seed"] - others).loc["gA"]
        assert best["specificity"].iloc[0] == pytest.approx(specificity.max(), abs=1e-4)
        assert best["specificity"].is_monotonic_decreasing
    for gene in promoters:
        assert (out / f"{gene}.png").read_bytes()[:4] == b"\x89PNG"


def test_saturation_refuses_an_unknown_gene_and_tissue(trained_model, tmp_path):
    fasta = tmp_path / "promoters.fa"
    fasta.write_text(">gA\nACGTACGTAC\n")
    for extra, problem in ((["--genes", "nope"], f"{fasta}: no promoter for 1 requested gene(s): ['nope']"),
                           (["--genes", "gA", "--tissue", "petal"], "the model has no tissue 'petal'")):  # fmt: skip
        result = subprocess.run(
            [SATURATE_CLI, "--model", str(trained_model), "--fasta", str(fasta), "--output-dir", str(tmp_path / "o"),
             *extra], capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 1 and problem in result.stderr, result.stderr
        assert not (tmp_path / "o").exists()


# --- the demo world ----------------------------------------------------------------------------------------------
def core_span(promoter: str, window) -> tuple[int, int]:
    """Promoter indices [start, end) of the one TATAAATA inside `window` (distances upstream of the gene)."""
    from cornbert.demo_world import CORE_SEQUENCE, window_slice

    first, last = window_slice(window, len(CORE_SEQUENCE), len(promoter))
    start = promoter.find(CORE_SEQUENCE, first)
    assert 0 <= start <= last
    return start, start + len(CORE_SEQUENCE)


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory) -> Path:
    from cornbert.demo_world import DemoSettings, generate

    out = tmp_path_factory.mktemp("demo_world")
    real = pd.read_csv(Path(__file__).parents[1] / "resources/maize_b73/B73_v5_gene_by_tissue_TPM.tsv.gz",
                       sep="\t", index_col="gene_id")  # fmt: skip
    generate(DemoSettings(), out, real)
    return out


def test_demo_vcf_breaks_core_elements_and_decoys_where_it_says(demo_world, tmp_path):
    """Each core_* allele removes the gene's only core element in its window, each decoy_* its decoy (and leaves
    the core as it was), outside_* hit no promoter; and the genes the demo config saturates carry the core."""
    import yaml

    from cornbert.demo_world import CORE_SEQUENCE, CORE_WINDOW, DECOY_WINDOW, count_in_window

    genes = read_genes(demo_world / "maize.gff3", strip_id_prefixes=("gene:",))
    indexed = tmp_path / "maize.fa"
    lengths = write_indexed_fasta(demo_world / "maize.fa", indexed).lengths
    windows = promoter_windows(indexed, plan_regions(genes, lengths, PromoterSettings()).regions, tmp_path)
    with pysam.FastaFile(str(indexed)) as genome:
        variant_set = read_variants(demo_world / "maize_variants.vcf", genome)
        hits = promoter_hits(variant_set.variants, windows, genome, variant_set.counts)
    assert variant_set.counts["alleles_outside_promoters"] == 10 and len(hits) == 80
    for hit in hits:
        label, kind, gene = hit.variant.variant_id.split("_", 2)
        reference = windows.reference[gene]
        assert hit.region.gene_id == gene and len(hit.promoter) == 1000
        assert {"snv": "SNV", "mnv": "MNV", "del": "deletion"}[kind] == hit.variant.kind
        window = CORE_WINDOW if label == "core" else DECOY_WINDOW
        assert count_in_window(reference, CORE_SEQUENCE, window) == 1
        assert count_in_window(hit.promoter, CORE_SEQUENCE, window) == 0, hit
        start, end = core_span(reference, window)
        assert start + 1 <= 1000 - hit.distance < end  # the allele sits in the element
        if label == "decoy":
            assert count_in_window(hit.promoter, CORE_SEQUENCE, CORE_WINDOW) == count_in_window(
                reference, CORE_SEQUENCE, CORE_WINDOW
            )
    assert {h.region.strand for h in hits} == {"+", "-"}
    config = yaml.safe_load((Path(__file__).parents[1] / "config/config.yaml").read_text())
    for gene in config["saturation"]["genes"]:
        assert count_in_window(windows.reference[gene], CORE_SEQUENCE, CORE_WINDOW) == 1


@pytest.mark.slow
def test_demo_variants_come_from_the_best_model_which_sees_the_decoys_and_finds_them_inert(demo_run: Path):
    import json

    choice = json.loads((demo_run / "results/best_model.json").read_text())
    errors = choice["validation_mse_log"]
    assert choice["model"] == min(errors, key=errors.get) and (demo_run / choice["folder"]).is_dir()
    table = pd.read_csv(demo_run / "results/variants/demo.tsv", sep="\t")
    per_allele = table.groupby(["variant_id", "gene_id"])["delta"].mean()  # mean over tissues
    label = per_allele.index.get_level_values("variant_id").str.split("_").str[0]
    core, decoy = per_allele[label == "core"], per_allele[label == "decoy"]
    assert len(core) == 40 and len(decoy) == 40 and set(label) == {"core", "decoy"}
    assert (core < 0).mean() >= 0.75, core.describe()
    read = table.groupby(["variant_id", "gene_id"])["model_reads"].all()
    assert read[label == "core"].all()
    summary = pd.read_csv(demo_run / "results/variants/demo.summary.tsv", sep="\t", index_col="what")["count"]
    assert summary["alleles_outside_promoters"] == 10 and summary["rows"] == len(table)
    # The decoys, copies of the core element 708-996 bp upstream, do nothing in the demo world. The best model (a
    # stack, whose k-mer and element members count the element anywhere) reads them, so "near zero" can fail.
    assert read[label == "decoy"].all(), "the demo's best model should read the whole promoter"
    assert summary["pairs_outside_model_window"] == 0
    assert decoy.abs().mean() < 0.05 * core.abs().mean(), (decoy.describe(), core.describe())
    assert (demo_run / "results/variants/demo.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_demo_transformer_marks_the_far_decoys_it_cannot_see(demo_run: Path, tmp_path):
    """The same VCF through the fine-tuned transformer alone (~300 bp read): the decoys are marked, not zeroed."""
    command = [VARIANTS_CLI, "--model", "results/finetune/pretrained/rep1/model", "--genome", "resources/demo/maize.fa",
               "--gff", "resources/demo/maize.gff3", "--vcf", "resources/demo/maize_variants.vcf", "--output",
               str(tmp_path / "t.tsv"), "--threads", "1"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=demo_run)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "t.tsv", sep="\t")
    read = table.groupby("variant_id")["model_reads"].all()
    assert read[read.index.str.startswith("core")].all() and not read[read.index.str.startswith("decoy")].any()
    summary = pd.read_csv(tmp_path / "t.summary.tsv", sep="\t", index_col="what")["count"]
    assert summary["pairs_outside_model_window"] == 40


@pytest.mark.slow
def test_demo_saturation_peaks_on_the_planted_core(demo_run: Path):
    import yaml

    from cornbert.demo_world import CORE_WINDOW
    from cornbert.fasta import read_fasta

    config = yaml.safe_load((Path(__file__).parents[1] / "config/config.yaml").read_text())["saturation"]
    table = pd.read_csv(demo_run / "results/saturation/saturation.tsv", sep="\t")
    promoters = read_fasta(demo_run / "results/expression/promoters.fa")
    for gene in config["genes"]:
        per_base = table[table.gene_id == gene].groupby("index")["delta"].apply(lambda d: d.abs().mean())
        start, end = core_span(promoters[gene], CORE_WINDOW)
        core = per_base.loc[start : end - 1]
        rest = per_base[per_base > 0].drop(core.index)  # the other positions the model reads; the rest cannot move it
        # The planted core dominates (4.9x and 8.9x here). Which single base peaks moves with the CPU's rounding: on
        # an Intel Xeon the top base of Zm00001eb000170 lies 8 bp past its core, with the next four inside it.
        assert core.mean() > 3 * rest.mean(), (gene, core.mean(), rest.mean(), per_base.nlargest(5))
        assert (demo_run / f"results/saturation/{gene}.png").exists()
    edits = pd.read_csv(demo_run / "results/saturation/top_edits.tsv", sep="\t")
    assert set(edits.tissue) == {config["tissue"]} and len(edits) == 2 * 2 * 20
