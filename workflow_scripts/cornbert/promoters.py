"""Strand-aware promoters: the `length` bp directly upstream of each gene's 5' end, cut by bedtools.

Coordinates are 0-based half-open, as in BED. A gene on '+' starting at GFF position s (1-based) has its
promoter at [s - 1 - length, s - 1); a gene on '-' ending at GFF position e has it at [e, e + length), read as
the reverse complement so that every promoter runs 5' -> 3' toward its gene.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pybedtools

from cornbert.genome import Gene, check_genes_on_chromosomes, read_genes, write_indexed_fasta
from cornbert.runtime import atomic_path
from cornbert.tables import write_tsv

log = logging.getLogger(__name__)

DROP_REASONS = ("chromosome_end", "no_strand")
TO_N = bytes.maketrans(b"RYSWKMBDHV", b"NNNNNNNNNN")


@dataclass(frozen=True)
class PromoterSettings:
    length: int = 1000
    feature_type: str = "gene"
    id_attribute: str = "ID"
    strip_id_prefixes: tuple[str, ...] = ("gene:", "gene-")
    isoforms: str = "error"  # or most_upstream, first, longest (cornbert.genome.read_genes)
    chromosome_end: str = "drop"  # or keep_short
    min_length: int = 100
    ambiguous_bases: str = "to_n"  # or error

    @classmethod
    def from_config(cls, section: dict) -> PromoterSettings:
        known = {key: value for key, value in section.items() if key in cls.__dataclass_fields__}
        if "strip_id_prefixes" in known:
            known["strip_id_prefixes"] = tuple(known["strip_id_prefixes"])
        return cls(**known)


@dataclass(frozen=True)
class Region:
    chrom: str
    start: int  # 0-based, inclusive
    end: int  # 0-based, exclusive
    gene_id: str
    strand: str


@dataclass
class RegionPlan:
    regions: list[Region]
    dropped: Counter[str] = field(default_factory=Counter)
    shortened: int = 0


def plan_regions(genes: list[Gene], lengths: dict[str, int], settings: PromoterSettings) -> RegionPlan:
    """Promoter coordinates per gene, applying the chromosome-end policy; genes of unknown strand are dropped."""
    plan = RegionPlan(regions=[])
    for gene in genes:
        if gene.strand == "+":
            end = gene.start - 1
            start = max(0, end - settings.length)
        elif gene.strand == "-":
            start = gene.end
            end = min(lengths[gene.chrom], start + settings.length)
        else:
            plan.dropped["no_strand"] += 1
            continue
        if end - start < settings.length:
            if settings.chromosome_end == "drop" or end - start < settings.min_length:
                plan.dropped["chromosome_end"] += 1
                continue
            plan.shortened += 1
        plan.regions.append(Region(gene.chrom, start, end, gene.gene_id, gene.strand))
    return plan


def cut_sequences(indexed_fasta: str | Path, regions: list[Region], workdir: str | Path) -> list[str]:
    """Sequences of `regions` as bedtools getfasta -s gives them (reverse complement on '-'), in order."""
    if not regions:
        return []
    bed, cut = Path(workdir) / "promoters.bed", Path(workdir) / "promoters.tsv"
    write_bed(regions, bed)
    pybedtools.BedTool(str(bed)).sequence(fi=str(indexed_fasta), s=True, tab=True, nameOnly=True, fo=str(cut))
    sequences = []
    with open(cut) as handle:
        for region, line in zip(regions, handle, strict=True):
            name, sequence = line.rstrip("\n").split("\t")
            if name != f"{region.gene_id}({region.strand})":
                raise RuntimeError(f"bedtools getfasta returned {name} where {region.gene_id} was expected")
            sequences.append(sequence)
    return sequences


def write_bed(regions: list[Region], path: str | Path) -> None:
    with open(path, "w") as out:
        for r in regions:
            out.write(f"{r.chrom}\t{r.start}\t{r.end}\t{r.gene_id}\t0\t{r.strand}\n")


def clean_sequences(sequences: list[str]) -> tuple[list[str], int]:
    """Uppercase (soft-masking is normal in plant genomes) with IUPAC codes as N; also the count converted.

    All sequences go through bytes.upper/translate at once: per-sequence str methods cost more than bedtools.
    """
    if not sequences:
        return [], 0
    joined = "\n".join(sequences).encode("ascii").upper()
    converted = len(joined.translate(None, b"ACGTN\n"))
    return joined.translate(TO_N).decode("ascii").split("\n"), converted


def promoter_stats(
    genome: str,
    compression: str,
    lengths: dict[str, int],
    genes: int,
    plan: RegionPlan,
    sequences: list[str],
    ambiguous_converted: int,
) -> pd.DataFrame:
    """One row of corpus statistics for a genome."""
    sizes = [len(s) for s in sequences]
    joined = "".join(sequences)
    total = len(joined)
    n_count = joined.count("N")
    gc = joined.count("G") + joined.count("C")
    row = {
        "genome": genome,
        "fasta_compression": compression,
        "sequences": len(lengths),
        "genome_bp": sum(lengths.values()),
        "genes": genes,
        "kept": len(sequences),
        "kept_short": plan.shortened,
        **{f"dropped_{reason}": plan.dropped[reason] for reason in DROP_REASONS},
        "length_min": min(sizes, default=0),
        "length_median": statistics.median(sizes) if sizes else 0,
        "length_mean": total / len(sizes) if sizes else 0,
        "length_max": max(sizes, default=0),
        "gc_fraction": gc / (total - n_count) if total > n_count else 0.0,
        "n_fraction": n_count / total if total else 0.0,
        "promoters_with_n": sum("N" in s for s in sequences) if n_count else 0,
        "ambiguous_converted": ambiguous_converted,
    }
    return pd.DataFrame([row])


def extract_promoters(
    genome: str,
    fasta: str | Path,
    gff: str | Path,
    settings: PromoterSettings,
    chrom_map: dict[str, str],
    out_bed: str | Path,
    out_fasta: str | Path,
    out_stats: str | Path,
) -> pd.DataFrame:
    """FASTA + GFF3 -> promoter BED6, FASTA (header = gene ID) and a one-row statistics table."""
    genes = read_genes(gff, settings.feature_type, settings.id_attribute, settings.strip_id_prefixes, chrom_map,
                       settings.isoforms)
    with tempfile.TemporaryDirectory(prefix=f"cornbert-{genome}-") as workdir:
        indexed = Path(workdir) / f"{genome}.fa"
        summary = write_indexed_fasta(fasta, indexed, settings.ambiguous_bases)
        check_genes_on_chromosomes(genes, summary.lengths, gff, fasta, genome)
        plan = plan_regions(genes, summary.lengths, settings)
        raw_sequences = cut_sequences(indexed, plan.regions, workdir)
    if not plan.regions:
        log.warning("%s: no gene has a promoter (dropped: %s)", genome, dict(plan.dropped))
    sequences, converted = clean_sequences(raw_sequences)
    with atomic_path(out_bed) as tmp:
        write_bed(plan.regions, tmp)
    with atomic_path(out_fasta) as tmp, open(tmp, "w") as out:
        for region, sequence in zip(plan.regions, sequences, strict=True):
            out.write(f">{region.gene_id}\n{sequence}\n")
    stats = promoter_stats(genome, summary.compression, summary.lengths, len(genes), plan, sequences, converted)
    write_tsv(stats, out_stats, index=False)
    log.info(
        "%s: %d genes -> %d promoters (%d shortened at chromosome ends), dropped %s, %d IUPAC codes -> N",
        genome,
        len(genes),
        len(sequences),
        plan.shortened,
        dict(plan.dropped),
        converted,
    )
    return stats
