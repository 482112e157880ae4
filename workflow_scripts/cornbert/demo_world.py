"""The demo world: three small synthetic plant genomes and a maize-like expression matrix with a known rule.

Promoters carry a planted grammar (docs/demo_world.md): a TATA-like core element close to the gene raises
expression in every tissue, tissue-specific 8-mers farther upstream raise one to three tissues each, and decoy
copies of the same elements far upstream do nothing. Because decoys share the elements' k-mers, a model that
counts k-mers cannot tell a working copy from a decoy; one that reads position can.

Positions are distances upstream of the gene's 5' end on the gene's strand: distance 1 is the base right before
the gene, so in a promoter written 5'->3' toward the gene (as the promoters rule writes it), the base at index i
of an L-bp promoter lies at distance L - i. An element counts when all its bases lie inside its window.
The expression rule is evaluated on the final promoter sequences, so chance occurrences obey it like planted ones.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cornbert.fasta import reverse_complement

TISSUES = ["root", "shoot", "base", "middle", "tassel", "ear", "embryo", "endosperm", "anther", "tip"]
PROMOTER_LENGTH = 1000
BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
COMPLEMENT = bytes.maketrans(b"ACGTNacgtn", b"TGCANtgcan")


@dataclass(frozen=True)
class Window:
    """Distances upstream of the gene's 5' end (bp, both ends inclusive) that an element must lie within."""

    min_distance: int
    max_distance: int


@dataclass(frozen=True)
class Element:
    name: str
    sequence: str
    effect: dict[str, float]  # added to log(TPM+1) per copy inside the window, by tissue


CORE_WINDOW = Window(20, 40)
# Tissue elements lie within ~250 bp of the gene, where most plant cis-elements sit, so a model that reads only the
# gene-proximal part of the promoter (a short tokenizer.max_length, as the demo config uses) still sees them all,
# while the decoys far upstream stay in the full 1,000 bp that k-mer baselines count.
ELEMENT_WINDOW = Window(60, 250)
DECOY_WINDOW = Window(700, 1000)
# Plant cis-elements with the tissues they are known for (RY repeat and prolamin box in seeds, GATA in leaves,
# pollen box in anthers, CArG box in inflorescences); effects in log(TPM+1) per copy.
TISSUE_ELEMENTS = [
    Element("RY_repeat", "CATGCATG", {"embryo": 2.2, "endosperm": 1.5}),
    Element("prolamin_box", "TGTAAAGT", {"endosperm": 2.7}),
    Element("GATA_box", "GATAAGAT", {"shoot": 1.8, "middle": 1.8, "tip": 1.8}),
    Element("G_box", "CACGTGGC", {"root": 2.2, "base": 1.5}),
    Element("pollen_box", "AGAAACAA", {"anther": 2.7, "tassel": 1.2}),
    Element("CArG_box", "CCATTTGG", {"tassel": 1.8, "ear": 2.2}),
]
CORE_SEQUENCE = "TATAAATA"
ELEMENT_COPY_PROBABILITIES = [0.3, 0.35, 0.25, 0.1]  # 0, 1, 2 or 3 tissue-element copies per promoter
CORE_DECOY_PROBABILITY = 0.5
ELEMENT_DECOY_PROBABILITIES = [0.4, 0.4, 0.2]  # 0, 1 or 2 tissue-element decoys per promoter
PROMOTER_GC = 0.44
# Grass genes have GC-rich 5' ends; the core element then stands out near the gene but not in k-mer counts.
PROXIMAL_GC = 0.55
PROXIMAL_LENGTH = 100
INTERGENIC_GC = 0.40
EXON_GC = 0.52
INTRON_GC = 0.36
QUANTILE_POINTS = 201  # resolution of the per-tissue quantile table that maps the latent score to log(TPM+1)
# Related promoters, as real genomes have them, so that the homology split and the leakage audit have work to do:
# head-to-head gene pairs whose promoter windows share 100-600 bp, 400 bp or more from both genes (one reads the other's
# distal part reverse-complemented), and duplicated genes whose promoter is a mutated copy of an earlier gene's:
# `close` (a few % of bases changed, the core promoter conserved: near-identical, one leakage group), `diverged` (22-27 %: just under the
# split's 80 % identity, only the audit's looser search links them) and `partial` (55-75 % of the promoter copied,
# the gene-proximal part: under the split's 80 % coverage). Grass genomes also carry orthologs of maize promoters
# (`ortholog_close`, which stage 1 leaves out, and `ortholog_diverged`, which it keeps). Probabilities per gene.
RELATED = {
    "head_to_head": 0.04,
    "head_to_head_overlap": (100, 600),
    "close": 0.05,
    "close_rate": (0.01, 0.08),
    "diverged": 0.03,
    "diverged_rate": (0.22, 0.27),
    "partial": 0.02,
    "partial_copied": (550, 750),
    "ortholog_close": 0.02,
    "ortholog_diverged": 0.02,
}


@dataclass(frozen=True)
class DemoSettings:
    """The `demo` config section (defaults and meaning in config/schema.yaml)."""

    seed: int = 42
    maize_genes: int = 3000
    grass_genes: int = 2000
    chromosomes: int = 4
    core_fraction: float = 0.75
    core_effect: float = 2.5
    gene_noise_sd: float = 0.4
    tissue_noise_sd: float = 0.3
    silent_fraction: float = 0.1

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DemoSettings:
        demo = dict(config.get("demo", {}))
        if demo.get("seed") is None:
            demo["seed"] = config.get("seed", 42)
        return cls(**{key: demo[key] for key in cls.__dataclass_fields__ if key in demo})


@dataclass
class Gene:
    gene_id: str
    chrom: str
    start: int  # 1-based inclusive, GFF3 convention
    end: int
    strand: str
    exons: list[tuple[int, int]]
    promoter: str  # what lies upstream, 5'->3' toward the gene; shorter than PROMOTER_LENGTH near chromosome ends
    related: str = ""  # a RELATED kind (head_to_head, close, diverged, partial, ortholog_*), or "" for a fresh one


@dataclass
class Genome:
    name: str
    chromosomes: dict[str, str]
    genes: list[Gene]


def random_bases(rng: np.random.Generator, length: int, gc: float) -> np.ndarray:
    at = (1 - gc) / 2
    return BASES[np.searchsorted(np.cumsum([at, gc / 2, gc / 2]), rng.random(length))]


def window_slice(window: Window, element_length: int, promoter_length: int) -> tuple[int, int]:
    """Range of promoter start indices at which an element lies entirely inside the window."""
    first = promoter_length - window.max_distance
    last = promoter_length - window.min_distance - element_length + 1
    return max(first, 0), last


def place(rng: np.random.Generator, promoter: np.ndarray, taken: np.ndarray, sequence: str, window: Window) -> bool:
    """Write `sequence` at a free random position inside `window`; False when no free position was found."""
    first, last = window_slice(window, len(sequence), len(promoter))
    for _ in range(20):
        start = int(rng.integers(first, last + 1))
        if not taken[start : start + len(sequence)].any():
            promoter[start : start + len(sequence)] = np.frombuffer(sequence.encode(), dtype=np.uint8)
            taken[start : start + len(sequence)] = True
            return True
    return False


def make_promoter(rng: np.random.Generator, settings: DemoSettings) -> np.ndarray:
    """A full-length promoter in promoter frame with the planted grammar (core, tissue elements, decoys)."""
    promoter = np.concatenate(
        [
            random_bases(rng, PROMOTER_LENGTH - PROXIMAL_LENGTH, PROMOTER_GC),
            random_bases(rng, PROXIMAL_LENGTH, PROXIMAL_GC),
        ]
    )
    taken = np.zeros(PROMOTER_LENGTH, dtype=bool)
    if rng.random() < settings.core_fraction:
        place(rng, promoter, taken, CORE_SEQUENCE, CORE_WINDOW)
    for _ in range(rng.choice(len(ELEMENT_COPY_PROBABILITIES), p=ELEMENT_COPY_PROBABILITIES)):
        place(rng, promoter, taken, TISSUE_ELEMENTS[rng.integers(len(TISSUE_ELEMENTS))].sequence, ELEMENT_WINDOW)
    if rng.random() < CORE_DECOY_PROBABILITY:
        place(rng, promoter, taken, CORE_SEQUENCE, DECOY_WINDOW)
    for _ in range(rng.choice(len(ELEMENT_DECOY_PROBABILITIES), p=ELEMENT_DECOY_PROBABILITIES)):
        place(rng, promoter, taken, TISSUE_ELEMENTS[rng.integers(len(TISSUE_ELEMENTS))].sequence, DECOY_WINDOW)
    if rng.random() < 0.01:  # an assembly gap far upstream, so promoters with N occur
        gap = int(rng.integers(10, 40))
        if not taken[:gap].any():
            promoter[:gap] = ord("N")
    return promoter


def mutate_bases(rng: np.random.Generator, promoter: np.ndarray, rate: float) -> np.ndarray:
    """A copy of `promoter` with `rate` of its A/C/G/T bases changed, each to one of the three others, but for the
    core promoter (the CORE_WINDOW.max_distance bp next to the gene), conserved as in real duplicated genes: so
    copies keep the core element as often as their originals (`core_fraction` stays the fraction of genes with it)."""
    copy = promoter.copy()
    positions = np.flatnonzero(np.isin(copy[: len(copy) - CORE_WINDOW.max_distance], BASES))
    chosen = rng.choice(positions, size=round(rate * len(positions)), replace=False)
    index = np.searchsorted(BASES, copy[chosen])
    copy[chosen] = BASES[(index + rng.integers(1, 4, size=len(chosen))) % 4]
    return copy


def related_promoter(rng: np.random.Generator, settings: DemoSettings, sources: list[np.ndarray],
                     donors: list[np.ndarray]) -> tuple[str, np.ndarray] | None:
    """A duplicated gene's (or an ortholog's) promoter, with its kind, or None for a fresh one."""
    draw = rng.random()
    for kind, pool, rate in (("close", sources, RELATED["close_rate"]), ("diverged", sources, RELATED["diverged_rate"]),
                             ("partial", sources, None), ("ortholog_close", donors, RELATED["close_rate"]),
                             ("ortholog_diverged", donors, RELATED["diverged_rate"])):  # fmt: skip
        if draw >= RELATED[kind]:
            draw -= RELATED[kind]
            continue
        if not pool:
            return None
        source = pool[int(rng.integers(len(pool)))]
        if rate is not None:
            return kind, mutate_bases(rng, source, float(rng.uniform(*rate)))
        copied = int(rng.integers(*RELATED["partial_copied"]))
        fresh = make_promoter(rng, settings)[: PROMOTER_LENGTH - copied]
        return kind, np.concatenate([fresh, mutate_bases(rng, source[-copied:], float(rng.uniform(*RELATED["close_rate"])))])
    return None


def rc_bases(sequence: np.ndarray) -> np.ndarray:
    return np.frombuffer(sequence.tobytes().translate(COMPLEMENT)[::-1], dtype=np.uint8).copy()


def make_gene_body(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Exons and introns in gene orientation; exon spans are 0-based half-open offsets from the gene's 5' end."""
    parts, exons, offset = [], [], 0
    n_exons = int(rng.integers(1, 5))
    for index in range(n_exons):
        if index:
            intron = random_bases(rng, int(rng.integers(80, 600)), INTRON_GC)
            parts.append(intron)
            offset += len(intron)
        exon = random_bases(rng, int(rng.integers(100, 500)), EXON_GC)
        parts.append(exon)
        exons.append((offset, offset + len(exon)))
        offset += len(exon)
    return np.concatenate(parts), exons


def make_spacer(rng: np.random.Generator) -> np.ndarray:
    spacer = random_bases(rng, int(rng.integers(100, 1500)), INTERGENIC_GC)
    if rng.random() < 0.05:
        gap = int(rng.integers(20, min(300, len(spacer))))
        start = int(rng.integers(0, len(spacer) - gap + 1))
        spacer[start : start + gap] = ord("N")
    return spacer


def soft_mask(rng: np.random.Generator, sequence: np.ndarray, fraction: float = 0.12) -> None:
    """Lowercase random stretches, as repeat-masked assemblies do."""
    masked, target = 0, fraction * len(sequence)
    while masked < target:
        length = int(rng.integers(50, 400))
        start = int(rng.integers(0, max(len(sequence) - length, 1)))
        stretch = sequence[start : start + length]
        sequence[start : start + length] = np.where(stretch == ord("N"), stretch, stretch | 0x20)
        masked += length


def build_genome(name: str, n_genes: int, settings: DemoSettings, id_format: str, chrom_format: str,
                 donors: list[str] | None = None) -> Genome:
    """Lay genes out in slots (spacer, promoter, body in gene orientation; reversed for '-' genes), so no
    promoter overlaps another gene's body. The first gene of each chromosome ('+') and the last ('-') get less than a
    full promoter before the chromosome end. Some slots hold a head-to-head pair instead (a '-' gene and a '+'
    gene whose promoter windows overlap), and some promoters are copies of an earlier one or of a `donors`
    promoter (RELATED)."""
    rng = np.random.default_rng([settings.seed, zlib.crc32(name.encode())])
    per_chromosome = np.array_split(np.arange(n_genes), settings.chromosomes)
    donor_pool = [np.frombuffer(d.encode(), dtype=np.uint8).copy() for d in donors or []]
    sources: list[np.ndarray] = []  # full-length promoters without N, for duplicated genes
    chromosomes: dict[str, str] = {}
    genes: list[Gene] = []

    def add_gene(index: int, chrom: str, start0: int, body: np.ndarray, exon_offsets, strand: str,
                 promoter: np.ndarray, related: str = "") -> None:
        if strand == "+":
            exons = [(start0 + a + 1, start0 + b) for a, b in exon_offsets]
        else:
            end = start0 + len(body)
            exons = [(end - b + 1, end - a) for a, b in reversed(exon_offsets)]
        genes.append(Gene(gene_id=id_format.format(10 * (int(index) + 1)), chrom=chrom, start=start0 + 1,
                          end=start0 + len(body), strand=strand, exons=exons, promoter=promoter.tobytes().decode(),
                          related=related))
        if len(promoter) == PROMOTER_LENGTH and not (promoter == ord("N")).any():
            sources.append(promoter)

    for chrom_index, gene_indices in enumerate(per_chromosome, start=1):
        chrom = chrom_format.format(chrom_index)
        pieces: list[np.ndarray] = []
        position = 0  # 0-based length so far
        order, last = 0, len(gene_indices) - 1
        while order <= last:
            gene_index = gene_indices[order]
            at_start, at_end = order == 0, order == last
            if not (at_start or at_end) and order + 1 < last and rng.random() < RELATED["head_to_head"]:
                # '-' gene A, the bases between the two 5' ends, '+' gene B: B's promoter is the last 1,000 of them,
                # A's the first 1,000 read on the other strand; they share 2,000 - gap bp
                gap = 2 * PROMOTER_LENGTH - int(rng.integers(*RELATED["head_to_head_overlap"]))
                a_promoter, b_promoter = make_promoter(rng, settings), make_promoter(rng, settings)
                between = np.concatenate([rc_bases(a_promoter)[: gap - PROMOTER_LENGTH], b_promoter])
                a_body, a_exons = make_gene_body(rng)
                b_body, b_exons = make_gene_body(rng)
                spacer = make_spacer(rng)
                a_start0 = position + len(spacer)
                add_gene(gene_index, chrom, a_start0, a_body, a_exons, "-", rc_bases(between[:PROMOTER_LENGTH]),
                         "head_to_head")
                add_gene(gene_indices[order + 1], chrom, a_start0 + len(a_body) + gap, b_body, b_exons, "+", b_promoter,
                         "head_to_head")
                slot = np.concatenate([spacer, rc_bases(a_body), between, b_body])
                pieces.append(slot)
                position += len(slot)
                order += 2
                continue
            strand = "+" if at_start else "-" if at_end else ("+" if rng.random() < 0.5 else "-")
            related = None if at_start or at_end else related_promoter(rng, settings, sources, donor_pool)
            promoter = make_promoter(rng, settings) if related is None else related[1]
            if at_start or at_end:
                promoter = promoter[-int(rng.integers(150, 900)) :]
            body, exon_offsets = make_gene_body(rng)
            spacer = np.zeros(0, dtype=np.uint8) if at_start or at_end else make_spacer(rng)
            slot = np.concatenate([spacer, promoter, body])
            kind = "" if related is None else related[0]
            if strand == "+":
                add_gene(gene_index, chrom, position + len(spacer) + len(promoter), body, exon_offsets, "+", promoter,
                         kind)
            else:
                slot = rc_bases(slot)
                add_gene(gene_index, chrom, position, body, exon_offsets, "-", promoter, kind)
            pieces.append(slot)
            position += len(slot)
            order += 1
        sequence = np.concatenate(pieces)
        soft_mask(rng, sequence)
        chromosomes[chrom] = sequence.tobytes().decode()
    return Genome(name, chromosomes, genes)


def count_in_window(promoter: str, sequence: str, window: Window) -> int:
    """Occurrences of `sequence` (promoter strand) lying entirely inside `window`."""
    first, last = window_slice(window, len(sequence), len(promoter))
    count, start = 0, promoter.find(sequence, first)
    while 0 <= start <= last:
        count += 1
        start = promoter.find(sequence, start + 1)
    return count


def planted_features(promoters: list[str]) -> pd.DataFrame:
    """What the rule reads from each promoter: core present (0/1) and copies of each tissue element in window."""
    rows = []
    for promoter in promoters:
        promoter = promoter.upper()
        row = {"core": min(count_in_window(promoter, CORE_SEQUENCE, CORE_WINDOW), 1)}
        row.update({e.name: count_in_window(promoter, e.sequence, ELEMENT_WINDOW) for e in TISSUE_ELEMENTS})
        rows.append(row)
    return pd.DataFrame(rows)


def element_effects() -> pd.DataFrame:
    """Per-copy effect of each tissue element (rows) on each tissue (columns)."""
    return pd.DataFrame([[e.effect.get(t, 0.0) for t in TISSUES] for e in TISSUE_ELEMENTS],
                        index=[e.name for e in TISSUE_ELEMENTS], columns=TISSUES)


def real_quantiles(real_tpm: pd.DataFrame) -> pd.DataFrame:
    """log(TPM+1) quantiles of each tissue of a real matrix (rows: probabilities 0..1, columns: tissues)."""
    missing = [t for t in TISSUES if t not in real_tpm.columns]
    if missing:
        raise ValueError(f"the real matrix lacks the tissues {missing}")
    probabilities = np.linspace(0, 1, QUANTILE_POINTS)
    return pd.DataFrame(
        {t: np.quantile(np.log1p(real_tpm[t].to_numpy(dtype=float)), probabilities) for t in TISSUES},
        index=pd.Index(probabilities, name="probability"),
    )


def latent_score(features: pd.DataFrame, settings: DemoSettings) -> np.ndarray:
    """core_effect * core + sum(copies * element effect) + gene noise + tissue noise; -inf for silent genes."""
    rng = np.random.default_rng([settings.seed, zlib.crc32(b"expression")])
    n = len(features)
    latent = (
        settings.core_effect * features["core"].to_numpy()[:, None]
        + features[[e.name for e in TISSUE_ELEMENTS]].to_numpy() @ element_effects().to_numpy()
        + settings.gene_noise_sd * rng.standard_normal((n, 1))
        + settings.tissue_noise_sd * rng.standard_normal((n, len(TISSUES)))
    )
    without_core = np.flatnonzero(features["core"].to_numpy() == 0)
    n_silent = min(round(settings.silent_fraction * n), len(without_core))
    latent[rng.choice(without_core, size=n_silent, replace=False)] = -np.inf
    return latent


def expression_log(latent: np.ndarray, quantiles: pd.DataFrame) -> np.ndarray:
    """Map each tissue's latent scores by rank onto the real tissue's log(TPM+1) quantiles.

    The map is monotone, so the rule decides which genes are high or low, while the real matrix decides the
    shape: the zero spike, the right skew and each tissue's level.
    """
    log_tpm = np.empty_like(latent)
    for j, tissue in enumerate(TISSUES):
        ranks = latent[:, j].argsort(kind="stable").argsort(kind="stable")
        log_tpm[:, j] = np.interp((ranks + 0.5) / len(ranks), quantiles.index, quantiles[tissue])
    return log_tpm


def marginal_summary(log_tpm: np.ndarray) -> dict[str, float]:
    """The statistics used to compare the demo matrix with the real B73 matrix."""
    quantiles = np.quantile(log_tpm, [0.5, 0.75, 0.9, 0.99])
    return {
        "zero_fraction": float((log_tpm == 0).mean()),
        "all_zero_gene_fraction": float((log_tpm.max(axis=1) == 0).mean()),
        "median": float(quantiles[0]),
        "q75": float(quantiles[1]),
        "q90": float(quantiles[2]),
        "q99": float(quantiles[3]),
        "mean": float(log_tpm.mean()),
    }


def planted_rule(settings: DemoSettings, quantiles: pd.DataFrame, calibration: dict[str, Any]) -> dict[str, Any]:
    """The generating rule in machine-readable form (see docs/demo_world.md)."""

    def window(w: Window) -> dict[str, int]:
        return {"min_distance": w.min_distance, "max_distance": w.max_distance}

    return {
        "target": "log(TPM+1)",
        "tissues": TISSUES,
        "position_convention": (
            "distance in bp upstream of the gene's 5' end on the gene's strand (1 = the base just before the gene); "
            "an element counts when all its bases lie within [min_distance, max_distance], read on the promoter "
            "strand (5'->3' toward the gene); in a promoter of length L, index i is at distance L - i"
        ),
        "formula": (
            "latent[g,t] = core.effect[t] * core_present[g] + sum_e copies[g,e] * elements[e].effect[t] "
            "+ gene_sd * N(0,1)[g] + tissue_sd * N(0,1)[g,t], -inf for silent genes; "
            "log(TPM+1)[g,t] = quantile_map[t](rank of latent[g,t] among genes, as (rank + 0.5) / n_genes), "
            "linear interpolation in the table"
        ),
        "core": {
            "name": "TATA_box",
            "sequence": CORE_SEQUENCE,
            "window": window(CORE_WINDOW),
            "planted_fraction": settings.core_fraction,
            "counts": "present or not (extra copies add nothing)",
            "effect": {t: settings.core_effect for t in TISSUES},
        },
        "elements": [
            {
                "name": e.name,
                "sequence": e.sequence,
                "window": window(ELEMENT_WINDOW),
                "counts": "per copy",
                "effect": {t: e.effect.get(t, 0.0) for t in TISSUES},
            }
            for e in TISSUE_ELEMENTS
        ],
        "element_copies_probability": ELEMENT_COPY_PROBABILITIES,
        "decoys": {
            "window": window(DECOY_WINDOW),
            "sequences": [CORE_SEQUENCE] + [e.sequence for e in TISSUE_ELEMENTS],
            "core_decoy_probability": CORE_DECOY_PROBABILITY,
            "element_decoys_probability": ELEMENT_DECOY_PROBABILITIES,
            "effect": 0.0,
        },
        "noise": {"gene_sd": settings.gene_noise_sd, "tissue_sd": settings.tissue_noise_sd},
        "silent_genes": {
            "fraction_of_all_genes": settings.silent_fraction,
            "drawn_from": "genes without the core element",
            "effect": "latent = -inf: log(TPM+1) = 0 in every tissue",
        },
        "quantile_map": {
            "what": "log(TPM+1) quantiles of each tissue of the real B73 matrix (resources/maize_b73)",
            "probabilities": quantiles.index.tolist(),
            "log_tpm": {t: quantiles[t].round(6).tolist() for t in TISSUES},
        },
        "calibration": calibration,
        "seed": settings.seed,
    }


# Gene ID and sequence-name styles of the three demo genomes, so that ID clean-up is exercised:
# Ensembl (ID=gene:X, as MaizeGDB/Ensembl ship B73), RefSeq (ID=gene-X) and Phytozome (plain IDs).
GENOME_STYLES = {
    "grass_a": {"id": "GRA_{:06d}", "chrom": "NC_0900{:02d}.1", "style": "refseq"},
    "grass_b": {"id": "GRB{:07d}", "chrom": "Chr{:02d}", "style": "phytozome"},
    "maize": {"id": "Zm00001eb{:06d}", "chrom": "chr{}", "style": "ensembl"},
}


def gff3_lines(genome: Genome) -> list[str]:
    style = GENOME_STYLES[genome.name]["style"]
    lines = ["##gff-version 3"]
    lines += [f"##sequence-region {name} 1 {len(seq)}" for name, seq in genome.chromosomes.items()]
    for name, seq in genome.chromosomes.items():
        if style == "ensembl":
            lines.append(f"{name}\tdemo\tchromosome\t1\t{len(seq)}\t.\t.\t.\tID=chromosome:{name}")
        elif style == "refseq":
            lines.append(f"{name}\tRefSeq\tregion\t1\t{len(seq)}\t.\t+\t.\tID={name}:1..{len(seq)};genome=chromosome")
    for gene in genome.genes:
        if style == "ensembl":
            gene_attr = f"ID=gene:{gene.gene_id};biotype=protein_coding;gene_id={gene.gene_id}"
            mrna_id, mrna_attr = f"transcript:{gene.gene_id}_T001", f"Parent=gene:{gene.gene_id};biotype=protein_coding"
        elif style == "refseq":
            gene_attr = f"ID=gene-{gene.gene_id};Name={gene.gene_id};gene_biotype=protein_coding"
            mrna_id, mrna_attr = f"rna-{gene.gene_id}.1", f"Parent=gene-{gene.gene_id};gbkey=mRNA"
        else:
            gene_attr = f"ID={gene.gene_id};Name={gene.gene_id}"
            mrna_id, mrna_attr = f"{gene.gene_id}.1", f"Parent={gene.gene_id};Name={gene.gene_id}.1"
        prefix = f"{gene.chrom}\tdemo\t"
        suffix = f"\t.\t{gene.strand}\t."
        lines.append(f"{prefix}gene\t{gene.start}\t{gene.end}{suffix}\t{gene_attr}")
        lines.append(f"{prefix}mRNA\t{gene.start}\t{gene.end}{suffix}\tID={mrna_id};{mrna_attr}")
        exons = gene.exons if gene.strand == "+" else gene.exons[::-1]
        for rank, (start, end) in enumerate(exons, start=1):
            lines.append(f"{prefix}exon\t{start}\t{end}{suffix}\tID={mrna_id}.exon{rank};Parent={mrna_id}")
        lines.append("###")
    return lines


def fasta_text(chromosomes: dict[str, str], width: int = 60) -> str:
    parts = []
    for name, sequence in chromosomes.items():
        parts.append(f">{name}\n")
        parts.extend(sequence[i : i + width] + "\n" for i in range(0, len(sequence), width))
    return "".join(parts)


def write_text(path: Path, text: str, compression: str) -> None:
    """Write plain, gzip (no timestamp, so reruns are byte-identical) or bgzip text."""
    if compression == "plain":
        path.write_text(text)
    elif compression == "gzip":
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as handle:
            handle.write(text.encode())
    elif compression == "bgzip":
        import pysam

        plain = path.with_name(path.name + ".plain")
        plain.write_text(text)
        try:
            pysam.tabix_compress(str(plain), str(path), force=True)
        finally:
            plain.unlink()
    else:
        raise ValueError(f"unknown compression {compression}")


VARIANTS_PER_CLASS = 40  # core-breaking and decoy-breaking alleles each, plus VARIANTS_OUTSIDE in gene bodies
VARIANTS_OUTSIDE = 10


def _vcf_allele(chrom: str, gene: Gene, first: int, last: int, new: str) -> tuple[int, str, str]:
    """(POS, REF, ALT) that rewrites promoter indices [first, last) of `gene` as `new` (promoter strand); an empty
    `new` is a deletion, written with the base before it in the genome as VCF's padding base."""
    length = len(gene.promoter)
    if gene.strand == "+":
        lo = gene.start - 1 - length + first
        hi, alt = lo + last - first, new
    else:
        lo = gene.end + length - last
        hi, alt = lo + last - first, reverse_complement(new)
    if not alt:
        lo, alt = lo - 1, chrom[lo - 1].upper()
    return lo + 1, chrom[lo:hi].upper(), alt


def planted_variants(genome: Genome, settings: DemoSettings) -> str:
    """A VCF of the maize genome that breaks planted core elements (ID core_*) in genes that carry one, breaks
    core-element decoys 700-1,000 bp upstream (decoy_*; the rule ignores them), and changes gene bodies
    (outside_*, in no promoter). Each class cycles through an SNV, a 2-bp MNV and a 4-bp deletion."""
    rng = np.random.default_rng([settings.seed, zlib.crc32(b"variants")])
    # head-to-head genes left out: an allele in their shared bases would change two promoters
    full = [g for g in genome.genes
            if len(g.promoter) == PROMOTER_LENGTH and "N" not in g.promoter and g.related != "head_to_head"]
    edits = [("snv", 3, 4, "G"), ("mnv", 2, 4, "GC"), ("del", 1, 5, "")]  # offsets inside TATAAATA
    records = []
    for label, window in (("core", CORE_WINDOW), ("decoy", DECOY_WINDOW)):
        carriers = [g for g in full if count_in_window(g.promoter, CORE_SEQUENCE, window) == 1]
        chosen = rng.choice(len(carriers), size=min(VARIANTS_PER_CLASS, len(carriers)), replace=False)
        for n, index in enumerate(sorted(chosen)):
            gene = carriers[index]
            first, _ = window_slice(window, len(CORE_SEQUENCE), PROMOTER_LENGTH)
            start = gene.promoter.find(CORE_SEQUENCE, first)
            kind, a, b, new = edits[n % len(edits)]
            allele = _vcf_allele(genome.chromosomes[gene.chrom], gene, start + a, start + b, new)
            records.append((gene.chrom, *allele, f"{label}_{kind}_{gene.gene_id}", f"CLASS={label};GENE={gene.gene_id}"))
    for index in rng.choice(len(full), size=VARIANTS_OUTSIDE, replace=False):
        gene = full[index]
        pos = (gene.start + gene.end) // 2
        ref = genome.chromosomes[gene.chrom][pos - 1].upper()
        alt = "ACGT"[("ACGT".index(ref) + 1) % 4] if ref in "ACGT" else "A"
        records.append((gene.chrom, pos, ref, alt, f"outside_snv_{gene.gene_id}", f"CLASS=outside;GENE={gene.gene_id}"))
    order = {name: i for i, name in enumerate(genome.chromosomes)}
    records.sort(key=lambda r: (order[r[0]], r[1]))
    header = ["##fileformat=VCFv4.2", "##source=cornbert.demo_world.planted_variants"]
    header += [f"##contig=<ID={name},length={len(seq)}>" for name, seq in genome.chromosomes.items()]
    header += [
        '##INFO=<ID=CLASS,Number=1,Type=String,Description="core: breaks the planted core element; decoy: breaks '
        'a core-element decoy 700-1000 bp upstream; outside: in a gene body">',
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene whose promoter or body the variant changes">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    lines = [f"{c}\t{pos}\t{vid}\t{ref}\t{alt}\t.\tPASS\t{info}" for c, pos, ref, alt, vid, info in records]
    return "\n".join(header + lines) + "\n"


def expression_matrix(genome: Genome, settings: DemoSettings, quantiles: pd.DataFrame) -> pd.DataFrame:
    """TPM matrix of the maize genes under the planted rule.

    Like real data, the matrix and the annotation disagree a little: 1 % of annotated genes have no
    measurement, and a few measured genes (on unplaced scaffolds) are not in the annotation.
    """
    features = planted_features([g.promoter for g in genome.genes])
    log_tpm = expression_log(latent_score(features, settings), quantiles)
    table = pd.DataFrame(log_tpm, columns=TISSUES, index=[g.gene_id for g in genome.genes])
    rng = np.random.default_rng([settings.seed, zlib.crc32(b"matrix")])
    unmeasured = rng.choice(len(table), size=max(len(table) // 100, 1), replace=False)
    table = table.drop(table.index[unmeasured])
    extra_ids = [GENOME_STYLES["maize"]["id"].format(900000 + 10 * i) for i in range(1, 11)]
    extra = pd.DataFrame(rng.choice(log_tpm.ravel(), size=(len(extra_ids), len(TISSUES))), index=extra_ids,
                         columns=TISSUES)
    table = pd.concat([table, extra])
    table.index.name = "gene_id"
    return np.expm1(table)


def generate(settings: DemoSettings, outdir: Path, real_tpm: pd.DataFrame) -> dict[str, Any]:
    """Write the whole demo world into `outdir`, calibrated to `real_tpm` (the real B73 matrix)."""
    outdir.mkdir(parents=True, exist_ok=True)
    genomes = {}
    # maize first: the grass genomes carry orthologs of its promoters
    for name, n_genes in (("maize", settings.maize_genes), ("grass_a", settings.grass_genes),
                          ("grass_b", settings.grass_genes)):
        style = GENOME_STYLES[name]
        donors = None if name == "maize" else [g.promoter for g in genomes["maize"].genes
                                               if len(g.promoter) == PROMOTER_LENGTH and "N" not in g.promoter]
        genomes[name] = build_genome(name, n_genes, settings, style["id"], style["chrom"], donors)
    write_text(outdir / "grass_a.fa.gz", fasta_text(genomes["grass_a"].chromosomes), "gzip")
    write_text(outdir / "grass_a.gff3", "\n".join(gff3_lines(genomes["grass_a"])) + "\n", "plain")
    write_text(outdir / "grass_b.fa.bgz", fasta_text(genomes["grass_b"].chromosomes), "bgzip")
    write_text(outdir / "grass_b.gff3.gz", "\n".join(gff3_lines(genomes["grass_b"])) + "\n", "gzip")
    write_text(outdir / "maize.fa", fasta_text(genomes["maize"].chromosomes), "plain")
    write_text(outdir / "maize.gff3", "\n".join(gff3_lines(genomes["maize"])) + "\n", "plain")
    write_text(outdir / "maize_variants.vcf", planted_variants(genomes["maize"], settings), "plain")
    quantiles = real_quantiles(real_tpm)
    tpm = expression_matrix(genomes["maize"], settings, quantiles)
    tpm.to_csv(outdir / "maize_tpm.tsv", sep="\t", float_format="%.6g")
    calibration = {
        "demo": marginal_summary(np.log1p(tpm.to_numpy())),
        "real_b73": marginal_summary(np.log1p(real_tpm[TISSUES].to_numpy(dtype=float))),
    }
    rule = planted_rule(settings, quantiles, calibration)
    (outdir / "planted_rule.json").write_text(json.dumps(rule, indent=2) + "\n")
    return rule
