"""`cornbert-variants`: predicted effect of each VCF variant on the expression of the genes whose promoter it hits.

    cornbert-variants --model best --genome maize.fa --gff maize.gff3 \\
        --vcf alleles.vcf.gz --output effects.tsv

Promoters are cut exactly as the workflow's extract_promoters rule cuts them (cornbert.promoters: strand-aware,
`--promoter-length` bp upstream of each gene). Every VCF allele whose REF bases overlap a promoter, on either
strand, is applied to the genome and the promoter is cut again, anchored at the gene: after a deletion the window
takes more upstream bases, after an insertion it drops the most distal ones, so the alternative promoter has the
same length and the same gene end as the reference one. Multi-allelic records are split into one variant per ALT.
Alleles that are not sequence (symbolic `<DEL>`, `*`, breakends, `.`) are skipped and counted; so are alleles
outside every promoter, and indels whose REF runs into the gene itself (they move the gene start).

The VCF is read with pysam.VariantFile (htslib): plain, gzip and bgzip (tabix-indexed or not). pysam rather than
cyvcf2 because the workflow already pins it for samtools, so no new dependency, and htslib is the VCF reference.

Output, one row per allele x gene x tissue: chrom, pos, ref, alt (as in the VCF), variant_id (the VCF ID, or
chrom:pos:ref>alt), kind (SNV, MNV, insertion, deletion, complex), gene_id, strand, distance (bp upstream of the
gene of the REF base nearest the gene, cornbert.fasta.distance_from_gene: 1 = the base next to the gene), tissue,
ref_log and alt_log (predicted log(TPM+1)), delta = alt_log - ref_log, and model_reads: whether the allele lies
within the gene-proximal bases the model reads (a transformer reads the tokens left after truncation, e.g. ~300 bp
under the laptop recipe); outside, delta is no verdict on the allele, and the figure greys such points.
"""

from __future__ import annotations

import argparse
import bisect
import logging
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from cornbert.errors import InputError
from cornbert.fasta import distance_from_gene, open_text, reverse_complement
from cornbert.genome import check_genes_on_chromosomes, read_genes, write_indexed_fasta
from cornbert.predict import Predictor, add_gene_arguments, add_model_arguments, load_predictor, start_command
from cornbert.promoters import PromoterSettings, Region, clean_sequences, cut_sequences, plan_regions
from cornbert.runtime import fail_cleanly
from cornbert.tables import write_tsv

log = logging.getLogger("cornbert")

SEQUENCE_ALLELE = re.compile(r"^[ACGTNacgtn]+$")
COLUMNS = [
    "chrom", "pos", "ref", "alt", "variant_id", "kind", "gene_id", "strand", "distance", "tissue",
    "ref_log", "alt_log", "delta", "model_reads",
]  # fmt: skip
EXAMPLES = 5


@dataclass(frozen=True)
class Variant:
    """One ALT allele of a VCF record."""

    chrom: str  # as written in the VCF
    seqid: str  # the genome FASTA's name for it (after the chromosome map)
    pos: int  # 1-based position of the first REF base, as in the VCF
    ref: str
    alt: str
    variant_id: str

    @property
    def start(self) -> int:
        """0-based start of the REF bases."""
        return self.pos - 1

    @property
    def end(self) -> int:
        """0-based end (exclusive) of the REF bases."""
        return self.pos - 1 + len(self.ref)

    @property
    def kind(self) -> str:
        if len(self.ref) == len(self.alt):
            return "SNV" if len(self.ref) == 1 else "MNV"
        if self.ref[0] == self.alt[0] and min(len(self.ref), len(self.alt)) == 1:
            return "insertion" if len(self.alt) > len(self.ref) else "deletion"
        return "complex"


@dataclass
class VariantSet:
    variants: list[Variant]
    counts: Counter[str]


def read_variants(
    vcf: str | Path, genome: pysam.FastaFile, chrom_map: Mapping[str, str] | None = None
) -> VariantSet:
    """Every sequence ALT allele of `vcf`, checked against the genome (chromosome known, REF matches).

    Raises InputError naming the file, the record (chrom:pos) and the problem for a record htslib cannot parse,
    a REF or ALT that is not DNA, an unknown chromosome, a REF beyond the chromosome end or one that disagrees
    with the genome.
    """
    chrom_map = chrom_map or {}
    lengths = dict(zip(genome.references, genome.lengths, strict=True))
    counts: Counter[str] = Counter()
    variants: list[Variant] = []
    try:
        handle = pysam.VariantFile(str(vcf))
    except (OSError, ValueError) as error:
        raise InputError(vcf, f"cannot be read as VCF: {error}") from error
    with handle:
        records = iter(handle)
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except (OSError, ValueError) as error:
                raise InputError(
                    vcf, f"malformed record {_raw_record(vcf, counts['records'])}: htslib cannot parse it ({error})"
                ) from error
            counts["records"] += 1
            where = f"record {record.chrom}:{record.pos}"
            if record.pos < 1:
                raise InputError(vcf, f"{where}: POS must be at least 1")
            ref = record.ref or ""
            if not SEQUENCE_ALLELE.match(ref):
                raise InputError(vcf, f"{where}: REF {ref!r} is not DNA (A, C, G, T, N)")
            seqid = chrom_map.get(record.chrom, record.chrom)
            if seqid not in lengths:
                raise InputError(
                    vcf,
                    f"{where}: chromosome {record.chrom!r}"
                    + (f" (mapped to {seqid!r})" if seqid != record.chrom else "")
                    + f" is not in the genome FASTA, which has {', '.join(map(repr, list(lengths)[:EXAMPLES]))}"
                    + (" ..." if len(lengths) > EXAMPLES else "")
                    + "; map the names with the chromosome map (GFF3/VCF name: FASTA name)",
                )
            if record.pos - 1 + len(ref) > lengths[seqid]:
                raise InputError(vcf, f"{where}: REF {ref} runs past the end of {seqid!r} ({lengths[seqid]} bp)")
            genome_bases = genome.fetch(seqid, record.pos - 1, record.pos - 1 + len(ref)).upper()
            if genome_bases != ref.upper():
                raise InputError(
                    vcf, f"{where}: REF {ref} disagrees with the genome, which has {genome_bases} there "
                    "(VCF and genome from different assemblies?)",
                )  # fmt: skip
            record_id = record.id
            for alt in record.alts or ():
                counts["alleles"] += 1
                if not SEQUENCE_ALLELE.match(alt):
                    if alt.startswith("<") or alt == "*" or "[" in alt or "]" in alt:
                        counts["alleles_not_sequence"] += 1
                        continue
                    raise InputError(vcf, f"{where}: ALT {alt!r} is neither DNA nor a symbolic allele")
                variant_id = record_id or f"{record.chrom}:{record.pos}:{ref}>{alt}"
                variants.append(Variant(record.chrom, seqid, record.pos, ref.upper(), alt.upper(), variant_id))
    log.info("%s: %d records, %d ALT alleles (%d not sequence, skipped)", vcf, counts["records"],
             counts["alleles"], counts["alleles_not_sequence"])  # fmt: skip
    return VariantSet(variants, counts)


def _raw_record(vcf: str | Path, parsed: int) -> str:
    """'chrom:pos (data line N)' of the first record after the `parsed` ones htslib read, as written in the file."""
    with open_text(vcf) as handle:
        data = (line for line in handle if not line.startswith("#"))
        for number, line in enumerate(data, start=1):
            if number == parsed + 1:
                fields = line.rstrip("\n").split("\t")
                return f"{':'.join(fields[:2])} (data line {number}: {line.strip()[:80]!r})"
    return f"after the {parsed} readable record(s)"


def alt_promoter(genome: pysam.FastaFile, region: Region, variant: Variant) -> str | None:
    """The promoter of `region` with `variant` applied, re-cut to stay anchored at the gene (5'->3' toward it).

    None for an indel whose REF bases run into the gene: it moves the gene start, so no promoter is defined.
    """
    length = region.end - region.start
    delta = len(variant.alt) - len(variant.ref)
    chrom_length = genome.get_reference_length(region.chrom)
    # The window and the variant, plus as many upstream bases as a deletion pulls in.
    lo = max(0, min(region.start, variant.start) - (max(0, -delta) if region.strand == "+" else 0))
    hi = min(chrom_length, max(region.end, variant.end) + (max(0, -delta) if region.strand == "-" else 0))
    local = genome.fetch(region.chrom, lo, hi)
    edited = local[: variant.start - lo] + variant.alt + local[variant.end - lo :]
    if region.strand == "+":
        gene_start = region.end  # 0-based first base of the gene
        if variant.end <= gene_start:
            anchor = gene_start - lo + delta
        elif delta == 0:
            anchor = gene_start - lo
        else:
            return None
        promoter = edited[max(0, anchor - length) : anchor]
    else:
        gene_end = region.start  # 0-based, exclusive end of the gene
        if variant.start < gene_end and delta != 0:
            return None
        anchor = gene_end - lo
        promoter = reverse_complement(edited[anchor : anchor + length].upper())
    return clean_sequences([promoter])[0][0]


def variant_distance(region: Region, variant: Variant) -> int:
    """Distance from the gene (cornbert.fasta.distance_from_gene) of the REF base nearest it, within the window."""
    length = region.end - region.start
    if region.strand == "+":
        index = min(variant.end, region.end) - 1 - region.start
    else:
        index = region.end - 1 - max(variant.start, region.start)
    return int(distance_from_gene(index, length))


@dataclass
class PromoterWindows:
    """The genome's promoter windows by FASTA sequence, sorted by start, and each gene's reference promoter."""

    by_seqid: dict[str, list[Region]]
    starts: dict[str, list[int]]
    reference: dict[str, str]
    max_length: int

    def overlapping(self, variant: Variant) -> list[Region]:
        regions, starts = self.by_seqid.get(variant.seqid, []), self.starts.get(variant.seqid, [])
        first = bisect.bisect_right(starts, variant.start - self.max_length)
        last = bisect.bisect_left(starts, variant.end)
        return [r for r in regions[first:last] if r.start < variant.end and r.end > variant.start]


def promoter_windows(indexed_fasta: str | Path, regions: list[Region], workdir: str | Path) -> PromoterWindows:
    sequences = clean_sequences(cut_sequences(indexed_fasta, regions, workdir))[0]
    by_seqid: dict[str, list[Region]] = defaultdict(list)
    for region in sorted(regions, key=lambda r: (r.chrom, r.start)):
        by_seqid[region.chrom].append(region)
    return PromoterWindows(
        by_seqid=dict(by_seqid),
        starts={seqid: [r.start for r in rs] for seqid, rs in by_seqid.items()},
        reference={r.gene_id: s for r, s in zip(regions, sequences, strict=True)},
        max_length=max((r.end - r.start for r in regions), default=0),
    )


@dataclass(frozen=True)
class Hit:
    """One allele in one gene's promoter."""

    variant: Variant
    region: Region
    distance: int
    promoter: str


def promoter_hits(variants: list[Variant], windows: PromoterWindows, genome: pysam.FastaFile,
                  counts: Counter[str]) -> list[Hit]:  # fmt: skip
    """Every (allele, gene) pair whose promoter the allele changes; the rest are counted in `counts`."""
    hits: list[Hit] = []
    outside: list[str] = []
    for variant in variants:
        regions = windows.overlapping(variant)
        if not regions:
            counts["alleles_outside_promoters"] += 1
            outside.append(variant.variant_id)
            continue
        counts["alleles_in_promoters"] += 1
        for region in regions:
            promoter = alt_promoter(genome, region, variant)
            if promoter is None:
                counts["pairs_indel_into_gene"] += 1
                continue
            hits.append(Hit(variant, region, variant_distance(region, variant), promoter))
    counts["allele_gene_pairs"] = len(hits)
    if outside:
        log.info("%d allele(s) lie outside every promoter window, e.g. %s", len(outside), outside[:EXAMPLES])
    if counts["pairs_indel_into_gene"]:
        log.warning("%d allele x gene pair(s) skipped: an indel running into the gene moves its start",
                    counts["pairs_indel_into_gene"])  # fmt: skip
    return hits


def effect_table(
    hits: list[Hit], reference: Mapping[str, str], predict: Predictor, tissues: Sequence[str],
    reads: Callable[[Sequence[str]], np.ndarray],
) -> pd.DataFrame:
    """Tidy effects (COLUMNS): `predict(sequences) -> [n, tissues]`; each gene's reference promoter predicted once.

    `model_reads` says whether the allele lies within the gene-proximal bases the model reads of the reference or
    the alternative promoter (`reads(sequences)`): outside, a delta of zero is no verdict on the allele."""
    genes = sorted({hit.region.gene_id for hit in hits})
    ref_pred = dict(zip(genes, np.asarray(predict([reference[g] for g in genes])).reshape(len(genes), -1), strict=True))
    alt_pred = np.asarray(predict([hit.promoter for hit in hits])).reshape(len(hits), len(tissues))
    n_tissues = len(tissues)
    ref_log = np.stack([ref_pred[hit.region.gene_id] for hit in hits]) if hits else np.zeros((0, n_tissues))
    table = pd.DataFrame({
        "chrom": np.repeat([h.variant.chrom for h in hits], n_tissues),
        "pos": np.repeat([h.variant.pos for h in hits], n_tissues),
        "ref": np.repeat([h.variant.ref for h in hits], n_tissues),
        "alt": np.repeat([h.variant.alt for h in hits], n_tissues),
        "variant_id": np.repeat([h.variant.variant_id for h in hits], n_tissues),
        "kind": np.repeat([h.variant.kind for h in hits], n_tissues),
        "gene_id": np.repeat([h.region.gene_id for h in hits], n_tissues),
        "strand": np.repeat([h.region.strand for h in hits], n_tissues),
        "distance": np.repeat([h.distance for h in hits], n_tissues).astype(int),
        "tissue": np.tile(list(tissues), len(hits)),
        "ref_log": ref_log.ravel(),
        "alt_log": alt_pred.ravel(),
    })  # fmt: skip
    table["delta"] = table["alt_log"] - table["ref_log"]
    ref_read = dict(zip(genes, reads([reference[g] for g in genes]), strict=True))
    window = np.maximum([ref_read[hit.region.gene_id] for hit in hits], reads([hit.promoter for hit in hits]))
    table["model_reads"] = np.repeat([h.distance for h in hits] <= window, n_tissues) if hits else []
    return table[COLUMNS]


@dataclass
class VariantJob:
    model: str
    genome: str
    gff: str
    vcf: str
    output: str
    summary: str
    figure: str
    settings: PromoterSettings
    chrom_map: dict[str, str]
    batch_size: int = 32
    device: str = "auto"


def run(job: VariantJob) -> pd.DataFrame:
    """Read, check, predict; write the table, summary and figure only once everything has succeeded."""
    genes = read_genes(job.gff, job.settings.feature_type, job.settings.id_attribute,
                       job.settings.strip_id_prefixes, job.chrom_map, job.settings.isoforms)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cornbert-variants-") as workdir:
        indexed = Path(workdir) / "genome.fa"
        summary = write_indexed_fasta(job.genome, indexed, job.settings.ambiguous_bases)
        check_genes_on_chromosomes(genes, summary.lengths, job.gff, job.genome, "genome")
        plan = plan_regions(genes, summary.lengths, job.settings)
        windows = promoter_windows(indexed, plan.regions, workdir)
        with pysam.FastaFile(str(indexed)) as genome:
            variant_set = read_variants(job.vcf, genome, job.chrom_map)
            hits = promoter_hits(variant_set.variants, windows, genome, variant_set.counts)
    predict, tissues, reads = load_predictor(job.model, job.batch_size, job.device)
    table = effect_table(hits, windows.reference, predict, tissues, reads)
    counts = variant_set.counts
    counts["rows"] = len(table)
    counts["pairs_outside_model_window"] = int((~table["model_reads"]).sum() // max(len(tissues), 1))
    if counts["pairs_outside_model_window"]:
        log.warning("%d allele x gene pair(s) lie upstream of what the model reads (column model_reads): their "
                    "delta says nothing about the allele", counts["pairs_outside_model_window"])  # fmt: skip
    summary_table = pd.DataFrame(
        {"count": [counts[key] for key in SUMMARY_KEYS]}, index=pd.Index(SUMMARY_KEYS, name="what")
    )
    write_tsv(table, job.output, index=False)
    write_tsv(summary_table, job.summary)
    plot_effects(table, job.figure, job.settings.length)
    log.info("%s: %d alleles in %d promoter(s) -> %d rows (%d alleles outside promoters)", job.vcf,
             counts["alleles_in_promoters"], table["gene_id"].nunique(), len(table),
             counts["alleles_outside_promoters"])  # fmt: skip
    return table


SUMMARY_KEYS = [
    "records", "alleles", "alleles_not_sequence", "alleles_in_promoters", "alleles_outside_promoters",
    "allele_gene_pairs", "pairs_indel_into_gene", "pairs_outside_model_window", "rows",
]  # fmt: skip
KIND_STYLE = {
    "SNV": ("tab:blue", "o"), "MNV": ("tab:purple", "s"), "insertion": ("tab:green", "^"),
    "deletion": ("tab:red", "v"), "complex": ("tab:grey", "D"),
}  # fmt: skip


def plot_effects(table: pd.DataFrame, path: str | Path, promoter_length: int) -> None:
    """Small multiples, one per tissue: predicted change of log(TPM+1) against distance from the gene."""
    from cornbert.plots import plt, save

    tissues = list(dict.fromkeys(table["tissue"])) or ["(no variant in a promoter)"]
    columns = min(5, len(tissues))
    rows = -(-len(tissues) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.8 * rows + 0.8), squeeze=False,
                                sharex=True, sharey=True)  # fmt: skip
    limit = float(table["delta"].abs().max()) * 1.1 if len(table) else 1.0
    for axis, tissue in zip(axes.flat, tissues, strict=False):
        part = table[table["tissue"] == tissue]
        axis.axhline(0, color="grey", linewidth=0.8)
        unread = part[~part["model_reads"]]
        if len(unread):  # drawn, but in grey: a zero there is the model's blindness, not its verdict
            axis.scatter(unread["distance"], unread["delta"], s=10, alpha=0.5, color="lightgrey", marker="o",
                         label="outside the model's window", linewidths=0)  # fmt: skip
        for kind, (colour, marker) in KIND_STYLE.items():
            chosen = part[(part["kind"] == kind) & part["model_reads"]]
            if len(chosen):
                axis.scatter(chosen["distance"], chosen["delta"], s=14, alpha=0.7, color=colour, marker=marker,
                             label=kind, linewidths=0)  # fmt: skip
        axis.set_title(tissue)
        axis.set_xlim(promoter_length, 0)  # the gene on the right, as the promoter reads toward it
        axis.set_ylim(-limit, limit)
    for axis in axes.flat[len(tissues) :]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("bp upstream of the gene")
    for axis in axes[:, 0]:
        axis.set_ylabel("Δ predicted log(TPM+1)\n(alt - ref)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="upper right", ncol=len(handles), frameon=False)
    n_alleles = table[["variant_id", "alt"]].drop_duplicates().shape[0] if len(table) else 0
    figure.suptitle(f"Predicted effect of {n_alleles} promoter variant(s) per tissue", x=0.01, ha="left")
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    save(figure, path)


def parse_chrom_map(pairs: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        name, sep, fasta_name = pair.partition("=")
        if not sep or not name or not fasta_name:
            raise SystemExit(f"cornbert-variants: --chrom-map expects NAME=FASTA_NAME, got {pair!r}")
        mapping[name] = fasta_name
    return mapping


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cornbert-variants",
        description=__doc__.split("\n\n")[0],
        epilog="Example: cornbert-variants --model best --genome g.fa "
        "--gff g.gff3 --vcf v.vcf.gz --output effects.tsv",
    )
    parser.add_argument("--genome", required=True, help="genome FASTA (plain, gzip or bgzip)")
    parser.add_argument("--gff", required=True, help="GFF3 annotation of --genome (plain or gzip)")
    parser.add_argument("--vcf", required=True, help="VCF (plain, gzip or bgzip; tabix index optional)")
    parser.add_argument("--output", required=True, help="TSV to write: one row per allele x gene x tissue")
    parser.add_argument("--summary", help="TSV of counts (default: OUTPUT with .summary.tsv)")
    parser.add_argument("--figure", help="PNG of effect against distance per tissue (default: OUTPUT with .png)")
    add_gene_arguments(parser)
    parser.add_argument("--chrom-map", nargs="*", default=[], metavar="NAME=FASTA_NAME",
                        help="rename GFF3/VCF sequence names to FASTA names, e.g. chr1=1")  # fmt: skip
    add_model_arguments(parser, batch_size=32)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    start_command(args.threads)
    stem = str(Path(args.output).with_suffix(""))
    job = VariantJob(
        model=args.model, genome=args.genome, gff=args.gff, vcf=args.vcf, output=args.output,
        summary=args.summary or f"{stem}.summary.tsv", figure=args.figure or f"{stem}.png",
        settings=PromoterSettings(length=args.promoter_length, feature_type=args.feature_type,
                                  id_attribute=args.id_attribute, isoforms=args.isoforms),
        chrom_map=parse_chrom_map(args.chrom_map), batch_size=args.batch_size, device=args.device,
    )  # fmt: skip
    with fail_cleanly([job.output, job.summary, job.figure]):
        run(job)
    log.info("wrote %s, %s and %s", job.output, job.summary, job.figure)


if __name__ == "__main__":
    main()
