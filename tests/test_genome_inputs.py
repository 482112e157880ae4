"""Bad genome inputs stop extraction with an InputError naming the file and the problem, and write nothing."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from cornbert import genome
from cornbert.errors import InputError
from cornbert.genome import detect_compression, write_indexed_fasta
from cornbert.promoters import PromoterSettings, extract_promoters

GOOD_FASTA = ">chr1 first\nACGTACGTACGTacgtacgtAAAACCCCGGGGTTTT\nACGTACGTAC\n>chr2\nGGGGCCCCAAAATTTTGGGGCCCCAAAATTTT\n"
GOOD_GFF = (
    "##gff-version 3\n"
    "chr1\tsrc\tgene\t21\t30\t.\t+\t.\tID=gene:G1;Name=x\n"
    "chr1\tsrc\tmRNA\t21\t30\t.\t+\t.\tID=T1;Parent=gene:G1\n"
    "chr2\tsrc\tgene\t5\t10\t.\t-\t.\tID=G2\n"
)


def run(tmp_path: Path, fasta: str | bytes = GOOD_FASTA, gff: str = GOOD_GFF, **settings) -> None:
    fasta_path, gff_path = tmp_path / "genome.fa", tmp_path / "genes.gff3"
    fasta_path.write_bytes(fasta if isinstance(fasta, bytes) else fasta.encode())
    gff_path.write_text(gff)
    chrom_map = settings.pop("chrom_map", {})
    out = tmp_path / "out"
    extract_promoters(
        "g",
        fasta_path,
        gff_path,
        PromoterSettings(length=5, **settings),
        chrom_map,
        out / "g.bed",
        out / "g.fa",
        out / "g.stats.tsv",
    )


def expect_error(tmp_path: Path, file_name: str, *fragments: str, **kwargs) -> InputError:
    with pytest.raises(InputError) as caught:
        run(tmp_path, **kwargs)
    assert Path(caught.value.path).name == file_name
    for fragment in fragments:
        assert fragment in caught.value.problem, caught.value.problem
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir()), "a failed extraction left files behind"
    return caught.value


def test_good_input_passes(tmp_path):
    run(tmp_path)
    # G1 (+, starts at 21): chr1[15:20]; G2 (-, ends at 10): reverse complement of chr2[10:15] = AATTT
    assert (tmp_path / "out" / "g.fa").read_text() == ">G1\nTACGT\n>G2\nAAATT\n"


def test_fasta_without_header(tmp_path):
    expect_error(tmp_path, "genome.fa", "line 1", "before the first '>' header", fasta="ACGT\n>chr1\nACGT\n")


def test_fasta_not_text(tmp_path):
    expect_error(tmp_path, "genome.fa", "not a FASTA file", fasta=b"BZh91AY&SY\x00\x01binary")


def test_fasta_empty_sequence(tmp_path):
    expect_error(tmp_path, "genome.fa", "sequence 'chr1'", "empty", fasta=">chr1\n\n>chr2\nACGT\n")


def test_fasta_empty_sequence_at_end(tmp_path):
    expect_error(tmp_path, "genome.fa", "sequence 'chr3' (line 6)", "empty", fasta=GOOD_FASTA + ">chr3\n")


def test_fasta_duplicate_names(tmp_path):
    expect_error(
        tmp_path,
        "genome.fa",
        "line 6: duplicate sequence name 'chr1'",
        "first at line 1",
        fasta=GOOD_FASTA + ">chr1 again\nACGT\n",
    )


def test_fasta_header_without_name(tmp_path):
    expect_error(tmp_path, "genome.fa", "without a sequence name", fasta=">\nACGT\n")


def test_empty_fasta(tmp_path):
    expect_error(tmp_path, "genome.fa", "empty", fasta="")


def test_truncated_gzip(tmp_path):
    data = gzip.compress(GOOD_FASTA.encode() * 50)
    expect_error(tmp_path, "genome.fa", "cannot be read as gzip", fasta=data[: len(data) // 2])


@pytest.mark.parametrize("letter", ["-", "X", "U", "*", "1"])
def test_non_iupac_letter_is_always_an_error(tmp_path, letter):
    fasta = f">chr1\nACGT{letter}ACGT\n"
    expect_error(tmp_path, "genome.fa", "line 2", "chr1", repr(letter), "not a nucleotide", fasta=fasta)


def test_space_inside_sequence_line_is_an_error(tmp_path):
    expect_error(tmp_path, "genome.fa", "' '", fasta=">chr1\nACGT ACGT\n")


def test_iupac_code_is_an_error_under_policy_error(tmp_path):
    fasta = GOOD_FASTA.replace("AAAACCCC", "AAAYCCCC")
    expect_error(
        tmp_path, "genome.fa", "IUPAC ambiguity code 'Y'", "ambiguous_bases", fasta=fasta, ambiguous_bases="error"
    )


def test_iupac_code_becomes_n_under_policy_to_n(tmp_path):
    run(tmp_path, fasta=GOOD_FASTA.replace("ACGTacgtacgt", "ACGTacgtaygt"))  # chr1[17] = 'y', inside G1's promoter
    assert (tmp_path / "out" / "g.fa").read_text().startswith(">G1\nTANGT\n")
    stats = (tmp_path / "out" / "g.stats.tsv").read_text().splitlines()
    row = dict(zip(stats[0].split("\t"), stats[1].split("\t")))
    assert row["ambiguous_converted"] == "1"
    assert row["n_fraction"] == "0.1"


def fasta_layouts(chromosomes: dict[str, str]) -> dict[str, bytes]:
    """The same sequences as FASTA files are found in the wild."""
    rng = random.Random(3)

    def irregular(sequence: str) -> str:
        lines, start = [], 0
        while start < len(sequence):
            size = rng.randint(1, 90)
            lines.append(sequence[start : start + size])
            start += size
        return "\n".join(lines)

    return {
        "wrapped 80": "".join(f">{n} x\n" + "\n".join(s[i : i + 80] for i in range(0, len(s), 80)) + "\n"
                              for n, s in chromosomes.items()).encode(),  # fmt: skip
        "unwrapped": "".join(f">{n}\n{s}\n" for n, s in chromosomes.items()).encode(),
        "irregular, no final newline": "\n".join(f">{n}\n{irregular(s)}" for n, s in chromosomes.items()).encode(),
        "CRLF, blank lines, trailing spaces": "".join(
            f"\r\n>{n} desc \r\n" + "".join(s[i : i + 50] + " \t\r\n\r\n" for i in range(0, len(s), 50))
            for n, s in chromosomes.items()
        ).encode(),
    }


@pytest.mark.parametrize("block", [7, 64, 1 << 22])
def test_every_layout_gives_the_same_working_copy(tmp_path, monkeypatch, block):
    """The FASTA pass reads blocks of `block` bytes: lines, headers and runs of bases cut anywhere give the same copy."""
    monkeypatch.setattr(genome, "BLOCK", block)
    rng = random.Random(block)
    chromosomes = {name: "".join(rng.choice("ACGTacgtNnRy") for _ in range(size))
                   for name, size in {"chr1": 611, "chr2": 80, "c3": 1}.items()}  # fmt: skip
    expected = "".join(f">{n}\n" + "".join(s[i : i + 80] + "\n" for i in range(0, len(s), 80))
                       for n, s in chromosomes.items())  # fmt: skip
    for number, (layout, text) in enumerate(fasta_layouts(chromosomes).items()):
        source, copy = tmp_path / f"{number}.fa", tmp_path / f"{number}.copy.fa"
        source.write_bytes(gzip.compress(text) if number % 2 else text)
        summary = write_indexed_fasta(source, copy)
        assert copy.read_text() == expected, layout
        assert summary.lengths == {n: len(s) for n, s in chromosomes.items()}, layout
        assert (tmp_path / f"{number}.copy.fa.fai").is_file()


@pytest.mark.parametrize("block", [7, 1 << 22])
@pytest.mark.parametrize(
    "text, fragments",
    [
        (">chr1\n" + "ACGT\n" * 50 + "ACXT\n", ["line 52", "'X'"]),
        (">chr1\n" + "ACGT" * 50 + "AC AC\n", ["line 2", "' '"]),
        (">chr1\n" + "ACGT\n" * 50 + ">chr2\n>chr3\nA\n", ["sequence 'chr2' (line 52)", "empty"]),
        ("\n\n" + "ACGT" * 30 + "\n>chr1\nA\n", ["line 3", "before the first '>' header", "ACGTACGT"]),
    ],
)
def test_errors_name_the_right_line_whatever_the_block(tmp_path, monkeypatch, block, text, fragments):
    monkeypatch.setattr(genome, "BLOCK", block)
    expect_error(tmp_path, "genome.fa", *fragments, fasta=text)


@pytest.mark.parametrize(
    "line, fragments",
    [
        ("chr1 src gene 1 5 . + . ID=G3", ["line 5", "expected 9 tab-separated", "found 1"]),
        ("chr1\tsrc\tgene\t1\t5\t.\t+\t.", ["line 5", "expected 9 tab-separated", "found 8"]),
        ("chr1\tsrc\tgene\tone\t5\t.\t+\t.\tID=G3", ["line 5", "integers", "'one'"]),
        ("chr1\tsrc\texon\t1\t5.5\t.\t+\t.\tID=G3", ["line 5", "integers", "'5.5'"]),
        ("chr1\tsrc\tgene\t9\t5\t.\t+\t.\tID=G3", ["line 5", "start 9, end 5"]),
        ("chr1\tsrc\tgene\t0\t5\t.\t+\t.\tID=G3", ["line 5", "1 <= start"]),
        ("chr1\tsrc\tgene\t1\t5\t.\tplus\t.\tID=G3", ["line 5", "strand", "'plus'"]),
        ("chr1\tsrc\tgene\t1\t5\t.\t+\t.\tName=G3", ["line 5", "without a ID= attribute"]),
        ("chr1\tsrc\tgene\t1\t5\t.\t+\t.\tID=G 3", ["line 5", "'G 3'", "whitespace"]),
    ],
)
def test_malformed_gff(tmp_path, line, fragments):
    expect_error(tmp_path, "genes.gff3", *fragments, gff=GOOD_GFF + line + "\n")


def test_gff_chromosomes_missing_from_fasta(tmp_path):
    gff = GOOD_GFF.replace("chr1\t", "Chr_1\t").replace("chr2\t", "scaffold_2\t")
    error = expect_error(tmp_path, "genes.gff3", "2 GFF3 sequence name(s) not in the FASTA", gff=gff)
    for name in ("'Chr_1'", "'scaffold_2'", "'chr1'", "'chr2'", "genomes.g.chrom_map"):
        assert name in error.problem


def test_chrom_map_renames_gff_names(tmp_path):
    gff = GOOD_GFF.replace("chr1\t", "Chr_1\t").replace("chr2\t", "scaffold_2\t")
    run(tmp_path, gff=gff, chrom_map={"Chr_1": "chr1", "scaffold_2": "chr2"})
    assert (tmp_path / "out" / "g.bed").read_text() == "chr1\t15\t20\tG1\t0\t+\nchr2\t10\t15\tG2\t0\t-\n"


def test_gene_beyond_chromosome_end(tmp_path):
    expect_error(
        tmp_path,
        "genes.gff3",
        "'G9'",
        "beyond the end of 'chr2'",
        gff=GOOD_GFF + "chr2\ts\tgene\t30\t40\t.\t+\t.\tID=G9\n",
    )


def test_duplicate_gene_ids(tmp_path):
    # 'gene:G1' and 'G1' collide once the prefix is stripped, which is exactly when IDs stop being unique
    expect_error(
        tmp_path,
        "genes.gff3",
        "duplicate gene ID 'G1'",
        "first at line 2",
        gff=GOOD_GFF + "chr2\ts\tgene\t1\t4\t.\t+\t.\tID=G1\n",
    )


def test_empty_gff(tmp_path):
    expect_error(tmp_path, "genes.gff3", "empty", gff="##gff-version 3\n# nothing\n")


def test_no_genes_of_the_feature_type(tmp_path):
    error = expect_error(
        tmp_path,
        "genes.gff3",
        "no records of type 'protein_coding_gene'",
        "promoters.feature_type",
        gff=GOOD_GFF,
        feature_type="protein_coding_gene",
    )
    assert "gene (2)" in error.problem and "mRNA (1)" in error.problem


def test_embedded_fasta_section_ends_the_features(tmp_path):
    run(tmp_path, gff=GOOD_GFF + "##FASTA\n>chr1\nACGT\n")
    assert (tmp_path / "out" / "g.bed").exists()


@pytest.mark.parametrize("kind", ["plain", "gzip", "bgzip"])
def test_detect_compression_by_magic_bytes(tmp_path, kind):
    import pysam

    plain = tmp_path / "x.txt"  # no telling extension on purpose
    plain.write_text(GOOD_FASTA)
    target = tmp_path / "data.bin"
    if kind == "plain":
        target.write_text(GOOD_FASTA)
    elif kind == "gzip":
        target.write_bytes(gzip.compress(GOOD_FASTA.encode()))
    else:
        pysam.tabix_compress(str(plain), str(target), force=True)
    assert detect_compression(target) == kind
