"""Corpus sources besides annotated genomes' promoters: genome-wide windows of an unannotated genome, and pre-cut
sequence sets (a FASTA of promoters or regulatory windows cut elsewhere).

Both go through the same validating pass as a genome FASTA (cornbert.genome.write_indexed_fasta: plain, gzip or
bgzip; duplicate names, empty sequences and non-nucleotide letters are errors naming the file and line), and come
out as the promoters do: one uppercase record per sequence, IUPAC codes as N, plus a one-row statistics table.

Windows are cut on the forward strand from each sequence's first base: one every `step` bp, each `length` bp long
(0-based half-open [start, start + length), start = 0, step, 2 x step, ...). A window that would run past the end
of its sequence is dropped (dropped_chromosome_end: so the last bases of a sequence, and whole sequences shorter
than `length`, enter no window); one with more than `max_n_fraction` N (assembly gaps) is dropped as
dropped_mostly_n. The record ID is the window's region as samtools writes it, `chrom:start+1-end`.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pysam

from cornbert.fasta import batched
from cornbert.genome import write_indexed_fasta
from cornbert.promoters import clean_sequences
from cornbert.runtime import atomic_path
from cornbert.tables import write_tsv

log = logging.getLogger(__name__)

WINDOW_DROP_REASONS = ("chromosome_end", "mostly_n")
BATCH = 4096  # records cleaned at once (clean_sequences works on many sequences per call)


@dataclass(frozen=True)
class WindowSettings:
    length: int = 1000
    step: int = 1000
    max_n_fraction: float = 0.1

    @classmethod
    def from_config(cls, section: dict) -> WindowSettings:
        return cls(**{key: value for key, value in section.items() if key in cls.__dataclass_fields__})


class _Composition:
    """Running length and base-composition statistics of the sequences written, in constant memory."""

    def __init__(self) -> None:
        self.lengths: Counter[int] = Counter()
        self.bases = self.n = self.gc = self.with_n = 0

    def add(self, sequence: str) -> None:
        self.lengths[len(sequence)] += 1
        n = sequence.count("N")
        self.bases += len(sequence)
        self.n += n
        self.gc += sequence.count("G") + sequence.count("C")
        self.with_n += n > 0

    def columns(self, prefix: str) -> dict:
        count = sum(self.lengths.values())
        return {
            "kept": count,
            "kept_bp": self.bases,
            "length_min": min(self.lengths, default=0),
            "length_median": _median(self.lengths),
            "length_mean": self.bases / count if count else 0,
            "length_max": max(self.lengths, default=0),
            "gc_fraction": self.gc / (self.bases - self.n) if self.bases > self.n else 0.0,
            "n_fraction": self.n / self.bases if self.bases else 0.0,
            f"{prefix}_with_n": self.with_n,
        }


def _median(counts: Counter[int]) -> float:
    if not counts:
        return 0
    if len(counts) == 1:
        return next(iter(counts))
    return statistics.median(length for length, times in sorted(counts.items()) for _ in range(times))


def plan_windows(length: int, settings: WindowSettings) -> tuple[list[int], int]:
    """Starts of the windows that fit in a sequence of `length` bp, and how many more would run past its end."""
    starts = range(0, length, settings.step)
    fitting = [start for start in starts if start + settings.length <= length]
    return fitting, len(starts) - len(fitting)


def _windows(indexed: Path, settings: WindowSettings, dropped: Counter[str]) -> Iterator[tuple[str, int, str]]:
    """(chrom, start, raw sequence) of every window that fits, one sequence of the genome in memory at a time."""
    with pysam.FastaFile(str(indexed)) as fasta:
        for chrom, size in zip(fasta.references, fasta.lengths, strict=True):
            starts, past_end = plan_windows(size, settings)
            dropped["chromosome_end"] += past_end
            if not starts:
                continue
            sequence = fasta.fetch(chrom)
            for start in starts:
                yield chrom, start, sequence[start : start + settings.length]


def cut_windows(
    genome: str,
    fasta: str | Path,
    settings: WindowSettings,
    ambiguous_bases: str,
    out_bed: str | Path,
    out_fasta: str | Path,
    out_stats: str | Path,
) -> pd.DataFrame:
    """An unannotated genome's FASTA -> windows as BED6, FASTA (ID chrom:start+1-end) and a one-row statistics table."""
    dropped: Counter[str] = Counter()
    composition = _Composition()
    converted = 0
    with tempfile.TemporaryDirectory(prefix=f"cornbert-{genome}-") as workdir:
        indexed = Path(workdir) / f"{genome}.fa"
        summary = write_indexed_fasta(fasta, indexed, ambiguous_bases)
        with atomic_path(out_bed) as bed_tmp, atomic_path(out_fasta) as fasta_tmp:
            with open(bed_tmp, "w") as bed, open(fasta_tmp, "w") as out:
                for batch in batched(_windows(indexed, settings, dropped), BATCH):
                    cleaned, batch_converted = clean_sequences([sequence for *_, sequence in batch])
                    converted += batch_converted
                    for (chrom, start, _), sequence in zip(batch, cleaned, strict=True):
                        if sequence.count("N") > settings.max_n_fraction * len(sequence):
                            dropped["mostly_n"] += 1
                            continue
                        end = start + len(sequence)
                        name = f"{chrom}:{start + 1}-{end}"
                        bed.write(f"{chrom}\t{start}\t{end}\t{name}\t0\t+\n")
                        out.write(f">{name}\n{sequence}\n")
                        composition.add(sequence)
    kept = composition.columns("windows")
    row = {
        "genome": genome,
        "fasta_compression": summary.compression,
        "sequences": len(summary.lengths),
        "genome_bp": sum(summary.lengths.values()),
        "windows": kept["kept"] + sum(dropped.values()),
        **kept,
        **{f"dropped_{reason}": dropped[reason] for reason in WINDOW_DROP_REASONS},
        "ambiguous_converted": converted,
    }
    stats = pd.DataFrame([row])
    write_tsv(stats, out_stats, index=False)
    if not kept["kept"]:
        log.warning("%s: no window kept (dropped: %s)", genome, dict(dropped))
    log.info(
        "%s: %d bp in %d sequences -> %d windows of %d bp every %d bp kept, dropped %s, %d IUPAC codes -> N",
        genome,
        row["genome_bp"],
        row["sequences"],
        kept["kept"],
        settings.length,
        settings.step,
        dict(dropped),
        converted,
    )
    return stats


def prepare_sequence_set(
    name: str, fasta: str | Path, ambiguous_bases: str, out_fasta: str | Path, out_stats: str | Path
) -> pd.DataFrame:
    """A user's FASTA of pre-cut sequences -> one uppercase record per sequence (IUPAC codes as N) and statistics.

    Every record is kept here; the corpus filters (length, N, leakage) apply when a stage's corpus is built.
    """
    composition = _Composition()
    converted = 0
    with tempfile.TemporaryDirectory(prefix=f"cornbert-{name}-") as workdir:
        indexed = Path(workdir) / f"{name}.fa"
        summary = write_indexed_fasta(fasta, indexed, ambiguous_bases)
        with pysam.FastaFile(str(indexed)) as records, atomic_path(out_fasta) as tmp, open(tmp, "w") as out:
            for batch in batched(iter(records.references), BATCH):
                cleaned, batch_converted = clean_sequences([records.fetch(record) for record in batch])
                converted += batch_converted
                for record, sequence in zip(batch, cleaned, strict=True):
                    out.write(f">{record}\n{sequence}\n")
                    composition.add(sequence)
    row = {
        "sequence_set": name,
        "fasta_compression": summary.compression,
        "sequences": len(summary.lengths),
        **composition.columns("sequences"),
        "ambiguous_converted": converted,
    }
    stats = pd.DataFrame([row])
    write_tsv(stats, out_stats, index=False)
    log.info("%s: %d sequences, %d bp, %d IUPAC codes -> N", name, row["sequences"], row["kept_bp"], converted)
    return stats
