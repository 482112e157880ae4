"""The real plant data the benchmarks run on (../shared/data beside the repository, see each folder's PROVENANCE.md).

- Arabidopsis TAIR10 chromosome 5 (27 Mb, bgzip) with the 6,332 Chr5 genes of Jores et al. 2021, whose BED gives
  a 170-bp window from -165 to +5 around each gene's transcription start site (TSS) and its strand.
- Maize NAM promoters (1 kb) with 8-tissue expression and FloraBERT's folds.
- Jores et al. 2021 170-bp core promoters with STARR-seq activity in tobacco leaves.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import pandas as pd

# The shared data folder lies beside the repository; CORNBERT_SHARED_DATA points elsewhere.
DATA = Path(os.environ.get("CORNBERT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
JORES = DATA / "jores2021_plant_core_promoters_starrseq"
CHR5_FASTA = DATA / "arabidopsis_tair10_chr5_mikado" / "chr5.fas.gz"
ARABIDOPSIS_TSS_BED = JORES / "Arabidopsis_protein_coding_promoters.bed.gz"
ARABIDOPSIS_LEAF_TPM = DATA / "arabidopsis_leaf_tpm_deepcre" / "arabidopsis_leaf_counts.csv.gz"
MAIZE_NAM = DATA / "maize_nam_florabert_promoters_expression" / "merged_seq_genex.csv.gz"
JORES_TRAIN = JORES / "pgb10k_subset_omnigenbench" / "promoter_strength_leaf_train.jsonl.gz"
JORES_TEST = JORES / "CNN_test_leaf.tsv.gz"

# Bases of the Jores window upstream of the TSS (-165..-1); +1..+5 follow.
UPSTREAM_IN_WINDOW = 165
# Length given to each synthetic gene feature: only its 5' end (the TSS) matters for the promoter.
GENE_SPAN = 500


def chr5_genes_gff3(path: Path) -> int:
    """Write a GFF3 of the Chr5 genes with each gene's 5' end at its real TSS; returns the number of genes.

    On '+' the TSS (+1) is window base 166, so the gene starts at 1-based `start + 166`; on '-' the window is read
    backwards, +1 is 0-based `start + 4`, so the gene ends at 1-based `start + 5`.
    """
    columns = ["chrom", "start", "end", "gene", "score", "strand"]
    bed = pd.read_csv(ARABIDOPSIS_TSS_BED, sep="\t", header=None, names=columns, dtype={"chrom": str})
    bed = bed[bed.chrom == "5"]
    lines = ["##gff-version 3"]
    for row in bed.itertuples(index=False):
        if row.strand == "+":
            start = row.start + UPSTREAM_IN_WINDOW + 1
            end = start + GENE_SPAN - 1
        else:
            end = row.start + 5
            start = max(1, end - GENE_SPAN + 1)
        lines.append(f"Chr5\tJores2021\tgene\t{start}\t{end}\t.\t{row.strand}\t.\tID={row.gene}")
    path.write_text("\n".join(lines) + "\n")
    return len(bed)


def maize_nam_table() -> pd.DataFrame:
    """FloraBERT's maize NAM set: gene_id, seq, fold (test / train_0..4) and 8 tissues (log2(TPM/1000 + 0.001))."""
    return pd.read_csv(MAIZE_NAM)


MAIZE_TISSUES = ["tassel", "base", "anther", "middle", "ear", "shoot", "tip", "root"]


def florabert_to_log_tpm1(values: pd.DataFrame) -> pd.DataFrame:
    """FloraBERT labels (log2(TPM/1000 + 0.001), PROVENANCE.md) -> the workflow's target scale log(TPM + 1).

    TPM = (2**x - 0.001) * 1000 (0 at the floor x = log2(0.001)); the clip removes the -0 rounding leaves.
    """
    tpm = ((2.0**values - 0.001) * 1000).clip(lower=0)
    return tpm.map(math.log1p)


def jores_leaf_sets() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) with columns gene_id, sequence, enrichment (log2 STARR-seq enrichment, tobacco leaf)."""
    with gzip.open(JORES_TRAIN, "rt") as handle:
        train = pd.DataFrame([json.loads(line) for line in handle if line.strip()])
    train = train.rename(columns={"name": "gene_id", "label": "enrichment"})[["gene_id", "sequence", "enrichment"]]
    test = pd.read_csv(JORES_TEST, sep="\t")
    test["gene_id"] = test.gene + "_" + test.sp
    return train, test[["gene_id", "sequence", "enrichment"]]
