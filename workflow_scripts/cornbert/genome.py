"""Reading and validating genome FASTA and GFF3 files as users give them (plain, gzip or bgzip).

samtools and bedtools cannot read a gzip (non-BGZF) FASTA, bedtools 2.30 cannot read BGZF either, and both
need regular line lengths. So the FASTA is validated in one streaming pass that also writes a plain, regularly
wrapped working copy, which samtools faidx indexes; the user's files are never written next to.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

import numpy as np
import pysam
from isal import igzip
from tqdm import tqdm

from cornbert.errors import InputError

log = logging.getLogger(__name__)

BASES = b"ACGTNacgtn"
IUPAC_AMBIGUITY = b"RYSWKMBDHVryswkmbdhv"
AMBIGUOUS_POLICIES = ("to_n", "error")
STRANDS = ("+", "-", ".", "?")
WRAP = 80
BLOCK = 1 << 22  # bytes of text per step of the FASTA pass: memory stays bounded whatever the genome size
SEQUENCE_TEXT = BASES + b"\n"
EXAMPLES = 5
WHITESPACE = re.compile(r"\s")


def detect_compression(path: str | Path) -> str:
    """'plain', 'gzip' or 'bgzip', from the magic bytes (BGZF = gzip with a 'BC' extra subfield)."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    has_extra_field = len(head) >= 14 and head[3] & 0x04
    return "bgzip" if has_extra_field and head[12:14] == b"BC" else "gzip"


class _ProgressReader:
    """A plain or gzip/bgzip file read as lines or as large blocks, with a progress bar over the bytes on disk."""

    def __init__(self, path: str | Path, what: str):
        self.path = Path(path)
        self.compression = detect_compression(path)
        self.raw: BinaryIO = open(path, "rb")
        # ISA-L's gzip reader: the same format as the gzip module, decompressed 2-3x faster
        self.stream: BinaryIO = igzip.IGzipFile(fileobj=self.raw) if self.compression != "plain" else self.raw
        self.progress = tqdm(
            total=os.path.getsize(path), unit="B", unit_scale=True, desc=f"{what} {self.path.name}", mininterval=2
        )

    def lines(self) -> Iterator[tuple[int, bytes]]:
        with self._read_errors():
            for number, line in enumerate(self.stream, start=1):
                if number % 65536 == 0:
                    self.progress.update(self.raw.tell() - self.progress.n)
                yield number, line
        self.progress.update(self.progress.total - self.progress.n)

    def blocks(self, size: int = BLOCK) -> Iterator[bytes]:
        with self._read_errors():
            while block := self.stream.read(size):
                self.progress.update(self.raw.tell() - self.progress.n)
                yield block
        self.progress.update(self.progress.total - self.progress.n)

    @contextmanager
    def _read_errors(self) -> Iterator[None]:
        try:
            yield
        except (OSError, EOFError) as error:  # corrupt or truncated gzip
            raise InputError(self.path, f"cannot be read as {self.compression}: {error}") from error

    def close(self) -> None:
        self.progress.close()
        self.stream.close()
        self.raw.close()


@dataclass(frozen=True)
class FastaSummary:
    compression: str
    lengths: dict[str, int]


def write_indexed_fasta(source: str | Path, destination: str | Path, ambiguous_bases: str = "to_n") -> FastaSummary:
    """Validate FASTA `source` and write it to `destination` as plain FASTA indexed by samtools faidx.

    Letters are kept as they are (IUPAC codes are converted later, per promoter, so that they can be counted).
    Errors: no '>' header first, a header without a name, duplicate names, a sequence without residues,
    letters outside IUPAC, IUPAC ambiguity codes when `ambiguous_bases` is 'error', and an empty file.
    """
    if ambiguous_bases not in AMBIGUOUS_POLICIES:
        raise ValueError(f"ambiguous_bases must be one of {AMBIGUOUS_POLICIES}, not {ambiguous_bases!r}")
    reader = _ProgressReader(source, "validating FASTA")
    try:
        with open(destination, "wb") as out:
            copy = _FastaCopy(source, out, ambiguous_bases)
            carry = b""
            for block in reader.blocks():
                carry = copy.feed(carry + block)
            copy.feed(carry + b"\n" if carry else b"")
            copy.finish_sequence()
    finally:
        reader.close()
    lengths = copy.lengths
    if not lengths:
        raise InputError(source, "no sequences: the genome FASTA is empty")
    pysam.faidx(str(destination))  # samtools faidx: the index bedtools getfasta reads
    with pysam.FastaFile(str(destination)) as indexed:
        indexed_lengths = dict(zip(indexed.references, indexed.lengths))
    if indexed_lengths != lengths:
        raise RuntimeError(f"samtools faidx of {destination} disagrees with the validating reader")
    log.info("%s: %s FASTA, %d sequences, %d bp", source, reader.compression, len(lengths), sum(lengths.values()))
    return FastaSummary(compression=reader.compression, lengths=lengths)


class _FastaCopy:
    """The validating pass of write_indexed_fasta, a block of text at a time.

    Blocks of bases are checked with one `bytes.translate` each and rewrapped with numpy, so the pass runs near
    the speed of decompression; only a stretch of lines holding other bytes (IUPAC codes, whitespace, errors)
    goes line by line, where the messages need line numbers.
    """

    def __init__(self, source: str | Path, out: BinaryIO, ambiguous_bases: str):
        self.source, self.out, self.ambiguous_bases = source, out, ambiguous_bases
        self.lengths: dict[str, int] = {}
        self.header_line: dict[str, int] = {}
        self.name = ""
        self.lines_done = 0  # newlines consumed so far: the number of the line being read is lines_done + 1
        self.at_line_start = True
        self.pending = bytearray()  # bases of the current sequence not yet written as whole lines

    def feed(self, text: bytes) -> bytes:
        """Consume `text` up to its last newline (and a long run of bases after it); return the rest."""
        cut = text.rfind(b"\n") + 1
        whole, rest = text[:cut], text[cut:]
        self._lines(whole)
        if len(rest) >= BLOCK and not (self.at_line_start and rest.startswith(b">")):
            # inside one very long line (unwrapped FASTA): take its bases now so memory stays bounded, but keep
            # trailing whitespace, which is only allowed if the line ends right after it
            body = rest.rstrip()
            self._sequence(body)
            self.at_line_start = not body
            rest = rest[len(body) :]
        return rest

    def _lines(self, text: bytes) -> None:
        position = 0
        while position < len(text):
            if self.at_line_start and text.startswith(b">", position):
                end = text.index(b"\n", position)
                self._header(text[position:end].rstrip())
                position = end + 1
                continue
            end = self._next_header(text, position)
            self._sequence(text[position:end])
            self.at_line_start = True
            position = end

    @staticmethod
    def _next_header(text: bytes, position: int) -> int:
        """Where the next line starting with '>' begins (len(text) if none), searching for '>' alone (memchr)."""
        found = text.find(b">", position + 1)
        while found != -1 and text[found - 1] != ord("\n"):  # a '>' inside a line: an error the line check reports
            found = text.find(b">", found + 1)
        return len(text) if found == -1 else found

    def _header(self, line: bytes) -> None:
        self.finish_sequence()
        self.lines_done += 1
        number = self.lines_done
        fields = line[1:].split()
        if not fields:
            raise InputError(self.source, f"line {number}: header '>' without a sequence name")
        name = fields[0].decode("utf-8", errors="replace")
        if name in self.lengths:
            raise InputError(
                self.source, f"line {number}: duplicate sequence name '{name}' (first at line {self.header_line[name]})"
            )
        self.name, self.lengths[name], self.header_line[name] = name, 0, number
        self.out.write(b">" + fields[0] + b"\n")

    def _sequence(self, text: bytes) -> None:
        if not self.name and text.strip():
            self._before_first_header(text)
        if text.translate(None, SEQUENCE_TEXT):
            bases = self._checked_lines(text)
        else:
            bases = text.replace(b"\n", b"")
        self.lines_done += text.count(b"\n")
        if bases:
            self.lengths[self.name] += len(bases)
            self.pending += bases
            if len(self.pending) >= BLOCK:
                self._flush(final=False)

    def _checked_lines(self, text: bytes) -> bytes:
        """The bases of `text` line by line as in any FASTA reader: trailing whitespace and blank lines ignored."""
        kept = []
        for offset, line in enumerate(text.split(b"\n")):
            line = line.rstrip()
            other = line.translate(None, BASES)
            if other:
                _check_letters(self.source, self.lines_done + 1 + offset, self.name, other, self.ambiguous_bases)
            kept.append(line)
        return b"".join(kept)

    def _before_first_header(self, text: bytes) -> None:
        for offset, line in enumerate(text.split(b"\n")):
            if line.strip():
                raise InputError(
                    self.source,
                    f"line {self.lines_done + 1 + offset}: sequence before the first '>' header: not a FASTA file? "
                    f"(starts with {line.rstrip()[:40]!r})",
                )

    def finish_sequence(self) -> None:
        if self.name and self.lengths[self.name] == 0:
            raise InputError(self.source, f"sequence '{self.name}' (line {self.header_line[self.name]}) is empty")
        self._flush(final=True)

    def _flush(self, final: bool) -> None:
        """Write the pending bases as lines of WRAP (and the shorter last line of a sequence when `final`)."""
        rows = len(self.pending) // WRAP
        if rows:
            bases = np.frombuffer(self.pending, np.uint8, rows * WRAP).reshape(rows, WRAP)
            lines = np.empty((rows, WRAP + 1), np.uint8)
            lines[:, :WRAP], lines[:, WRAP] = bases, ord("\n")
            del bases  # a view into `pending`, which cannot shrink while it exists
            self.out.write(lines.data)
            del self.pending[: rows * WRAP]
        if final and self.pending:
            self.out.write(bytes(self.pending) + b"\n")
            self.pending.clear()


def _check_letters(source: str | Path, number: int, name: str, other: bytes, ambiguous_bases: str) -> None:
    invalid = other.translate(None, IUPAC_AMBIGUITY)
    if invalid:
        letter = chr(invalid[0])
        raise InputError(
            source,
            f"line {number} (sequence '{name}'): character {letter!r} is not a nucleotide "
            "(allowed: ACGTN and the IUPAC codes RYSWKMBDHV, any case)",
        )
    if ambiguous_bases == "error":
        raise InputError(
            source,
            f"line {number} (sequence '{name}'): IUPAC ambiguity code {chr(other[0])!r}; "
            "set promoters.ambiguous_bases: to_n to convert such codes to N",
        )


@dataclass(frozen=True)
class Gene:
    gene_id: str
    chrom: str  # FASTA name, after genomes.NAME.chrom_map
    start: int  # 1-based, inclusive (as in GFF3)
    end: int  # 1-based, inclusive
    strand: str  # '+', '-', or '.'/'?' when unknown


ISOFORM_ANCHORS = ("error", "most_upstream", "first", "longest")


def read_genes(
    path: str | Path,
    feature_type: str = "gene",
    id_attribute: str = "ID",
    strip_id_prefixes: tuple[str, ...] | list[str] = (),
    chrom_map: dict[str, str] | None = None,
    isoforms: str = "error",
) -> list[Gene]:
    """The records of `feature_type` in GFF3 `path` (plain or gzip), after checking every feature line.

    Records sharing an ID are isoforms of one gene: an error, or one of them anchors the gene (`isoforms`).
    """
    if isoforms not in ISOFORM_ANCHORS:
        raise ValueError(f"isoforms must be one of {ISOFORM_ANCHORS}, not {isoforms!r}")
    chrom_map = chrom_map or {}
    records: dict[str, list[tuple[int, Gene]]] = {}  # gene ID -> (line, record) of each isoform, in file order
    types: Counter[str] = Counter()
    reader = _ProgressReader(path, "reading GFF3")
    try:
        for number, raw in reader.lines():
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise InputError(path, f"line {number}: not UTF-8 text: not a GFF3 file?") from error
            if line.startswith("##FASTA"):
                break  # an embedded FASTA section ends the features
            if not line.strip() or line.startswith("#"):
                continue
            columns = line.split("\t")
            if len(columns) != 9:
                raise InputError(
                    path,
                    f"line {number}: expected 9 tab-separated GFF3 columns, found {len(columns)} "
                    f"(spaces instead of tabs?): {line[:80]!r}",
                )
            seqid, _, kind, start_text, end_text, _, strand, _, attributes = columns
            try:
                start, end = int(start_text), int(end_text)
            except ValueError as error:
                raise InputError(
                    path, f"line {number}: start and end must be integers, got {start_text!r} and {end_text!r}"
                ) from error
            if start < 1 or start > end:
                raise InputError(path, f"line {number}: need 1 <= start <= end, got start {start}, end {end}")
            if strand not in STRANDS:
                raise InputError(path, f"line {number}: strand must be one of + - . ?, got {strand!r}")
            types[kind] += 1
            if kind != feature_type:
                continue
            gene_id = _attribute(attributes, id_attribute)
            if gene_id is None:
                raise InputError(path, f"line {number}: {kind} record without a {id_attribute}= attribute")
            gene_id = _strip_prefix(gene_id, strip_id_prefixes)
            if not gene_id or WHITESPACE.search(gene_id):
                raise InputError(path, f"line {number}: gene ID {gene_id!r} is empty or contains whitespace")
            if gene_id in records and isoforms == "error":
                raise InputError(
                    path,
                    f"line {number}: duplicate gene ID '{gene_id}' (first at line {records[gene_id][0][0]}); if "
                    f"these {kind} records are isoforms of one gene, set promoters.isoforms (most_upstream, first "
                    "or longest) to take one 5' end per gene",
                )
            records.setdefault(gene_id, []).append((number, Gene(gene_id, chrom_map.get(seqid, seqid), start, end,
                                                                 strand)))
    finally:
        reader.close()
    if not types:
        raise InputError(path, "no feature lines: the GFF3 annotation is empty")
    if not records:
        present = ", ".join(f"{kind} ({count})" for kind, count in types.most_common(EXAMPLES))
        transcripts = " (an annotation of transcripts only: feature_type mRNA, id_attribute Parent and isoforms " \
                      "most_upstream group them into genes)" if "gene" not in types and "mRNA" in types else ""
        raise InputError(
            path,
            f"no records of type '{feature_type}' in column 3 (types present: {present}); "
            f"set promoters.feature_type{transcripts}",
        )
    genes = [_anchor(path, isoforms_of_gene, isoforms) for isoforms_of_gene in records.values()]
    several = sum(len(group) > 1 for group in records.values())
    anchored = f", each anchored at its {isoforms.replace('_', ' ')} isoform" if several else ""
    log.info("%s: %d %s records -> %d genes (%d with several isoforms%s)", path,
             sum(map(len, records.values())), feature_type, len(genes), several, anchored)  # fmt: skip
    return genes


def _anchor(path: str | Path, isoforms: list[tuple[int, Gene]], rule: str) -> Gene:
    """The isoform whose 5' end is the gene's promoter anchor under `rule`."""
    first_line, first = isoforms[0]
    for line, other in isoforms[1:]:
        if (other.chrom, other.strand) != (first.chrom, first.strand):
            raise InputError(path, f"gene '{first.gene_id}': isoforms at lines {first_line} and {line} lie on "
                                   f"{first.chrom} {first.strand} and {other.chrom} {other.strand}; one gene needs "
                                   "one sequence and strand")  # fmt: skip
    candidates = [gene for _, gene in isoforms]
    if rule == "longest":
        return max(candidates, key=lambda gene: gene.end - gene.start)  # max keeps the first of equals
    if rule == "most_upstream":
        return max(candidates, key=lambda gene: gene.end) if first.strand == "-" else \
            min(candidates, key=lambda gene: gene.start)
    return first


def _attribute(attributes: str, key: str) -> str | None:
    for field in attributes.split(";"):
        name, sep, value = field.partition("=")
        if sep and name.strip() == key:
            return unquote(value.strip())
    return None


def _strip_prefix(gene_id: str, prefixes: tuple[str, ...] | list[str]) -> str:
    for prefix in prefixes:
        if gene_id.startswith(prefix):
            return gene_id[len(prefix) :]
    return gene_id


def check_genes_on_chromosomes(
    genes: list[Gene], lengths: dict[str, int], gff_path: str | Path, fasta_path: str | Path, genome: str
) -> None:
    """Every gene must lie on a FASTA sequence, within its length; the error shows names from both sides."""
    missing = sorted({gene.chrom for gene in genes} - set(lengths))
    if missing:
        raise InputError(
            gff_path,
            f"{len(missing)} GFF3 sequence name(s) not in the FASTA {fasta_path}: "
            f"GFF3 has {_examples(missing)}; FASTA has {_examples(list(lengths))}. "
            f"Map the names with genomes.{genome}.chrom_map (GFF3 name: FASTA name).",
        )
    for gene in genes:
        if gene.end > lengths[gene.chrom]:
            raise InputError(
                gff_path,
                f"gene '{gene.gene_id}' ends at {gene.end}, beyond the end of '{gene.chrom}' "
                f"({lengths[gene.chrom]} bp in {fasta_path}): GFF3 and FASTA from different assemblies?",
            )


def _examples(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:EXAMPLES])
    return shown + (f" and {len(names) - EXAMPLES} more" if len(names) > EXAMPLES else "")
