"""Reading and writing the small FASTA files that stages hand to each other (promoters, user sequences).

Genome FASTA files go through cornbert.genome instead, which streams and indexes them.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from cornbert.errors import InputError
from cornbert.runtime import atomic_path


def open_text(path: str | Path) -> TextIO:
    """A plain or gzip-compressed text file, told apart by its magic bytes rather than its name."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rt") if magic == b"\x1f\x8b" else open(path)


def iter_fasta(path: str | Path) -> Iterator[tuple[str, str]]:
    """(ID, sequence) pairs, the ID the header's first word, uppercase, one record in memory at a time; duplicate
    IDs, stray text, an empty file and a file that is not (gzip) text are errors naming the file."""
    seen: set[str] = set()
    name: str | None = None
    parts: list[str] = []
    try:
        with open_text(path) as handle:
            for line_number, line in enumerate(handle, start=1):
                line = line.strip()
                if not line:
                    continue
                if line.startswith(">"):
                    if name is not None:
                        yield name, "".join(parts)
                    name = line[1:].split()[0] if line[1:].strip() else ""
                    if not name:
                        raise InputError(path, f"line {line_number}: FASTA header without an ID")
                    if name in seen:
                        raise InputError(path, f"line {line_number}: sequence ID {name!r} occurs more than once")
                    seen.add(name)
                    parts = []
                elif name is None:
                    raise InputError(path, f"line {line_number}: not FASTA: sequence text before the first '>' header")
                else:
                    parts.append(line.upper())
    except (EOFError, UnicodeDecodeError, gzip.BadGzipFile, zlib.error) as error:  # truncated gzip, binary data
        raise InputError(path, f"cannot be read as FASTA (plain or gzip text): {error}") from None
    if name is None:
        raise InputError(path, "no FASTA records")
    yield name, "".join(parts)


def read_fasta(path: str | Path) -> dict[str, str]:
    """Sequences by ID (the header's first word), uppercase; duplicate IDs and stray text are errors."""
    return dict(iter_fasta(path))


def write_fasta(sequences: Mapping[str, str], path: str | Path) -> None:
    """One record per sequence, unwrapped, header = ID (written atomically)."""
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        for name, sequence in sequences.items():
            handle.write(f">{name}\n{sequence}\n")


def sequences_for(ids: Sequence[str], sequences: Mapping[str, str], path: str | Path) -> list[str]:
    """The sequences of `ids` in order; IDs without a record in FASTA `path` are an error."""
    missing = [name for name in ids if name not in sequences]
    if missing:
        raise InputError(path, f"no sequence for {len(missing)} ID(s) of the targets table, e.g. {missing[:3]}")
    return [sequences[name] for name in ids]


# IUPAC codes too (R = A/G pairs with Y = C/T, ...), case kept: soft-masked bases stay lowercase.
COMPLEMENT = str.maketrans("ACGTNRYSWKMBDHVacgtnryswkmbdhv", "TGCANYRSWMKVHDBtgcanyrswmkvhdb")


def reverse_complement(sequence: str) -> str:
    """The other strand of `sequence`, read 5' -> 3'."""
    return sequence.translate(COMPLEMENT)[::-1]


def distance_from_gene(index: np.ndarray | int, length: int) -> np.ndarray | int:
    """bp upstream of the gene of promoter index `index`: 1 for the last base (promoters end at the gene).

    The demo world (cornbert.demo_world, planted_rule.json) uses the same convention.
    """
    return length - index


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Lists of `size` consecutive items (the last may be shorter): records streamed in bounded memory."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
