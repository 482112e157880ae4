"""Reading and writing the small FASTA files that stages hand to each other (promoters, user sequences).

Genome FASTA files go through cornbert.genome instead, which streams and indexes them.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
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


def read_fasta(path: str | Path) -> dict[str, str]:
    """Sequences by ID (the header's first word), uppercase; duplicate IDs and stray text are errors."""
    sequences: dict[str, list[str]] = {}
    current: list[str] | None = None
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                name = line[1:].split()[0] if line[1:].strip() else ""
                if not name:
                    raise InputError(path, f"line {line_number}: FASTA header without an ID")
                if name in sequences:
                    raise InputError(path, f"line {line_number}: sequence ID {name!r} occurs more than once")
                current = sequences[name] = []
            elif current is None:
                raise InputError(path, f"line {line_number}: not FASTA: sequence text before the first '>' header")
            else:
                current.append(line.upper())
    if not sequences:
        raise InputError(path, "no FASTA records")
    return {name: "".join(parts) for name, parts in sequences.items()}


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
