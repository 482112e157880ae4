"""Promoter extraction against the bare tools, on the real Arabidopsis Chr5 and on a synthetic maize-size genome.

Each contender runs in its own process (started by bench/run.py via machine.run_isolated), so time and peak
memory are its own:
- `ours`: cornbert.promoters.extract_promoters, the code of rule extract_promoters (GFF3 parsing, FASTA validation
  and working copy, samtools faidx, bedtools getfasta -s, cleaning, BED/FASTA/stats). Peak RSS = its VmHWM.
- `bare`: `zcat FASTA > plain.fa`, `samtools faidx plain.fa`, `bedtools getfasta -s` on the BED ours wrote, as
  subprocesses. Peak RSS = the largest of the three (RUSAGE_CHILDREN).
"""

from __future__ import annotations

import resource
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

import machine

WRAP = 60  # as Ensembl Plants writes its genome FASTA


def synthetic_genome(directory: Path, chromosomes: int, chromosome_bp: int, genes: int, seed: int = 0) -> tuple[Path, Path]:
    """A gzip FASTA of random chromosomes (soft-masked stretches, N gaps) and a GFF3 of genes with mRNA, exons, CDS.

    Written once per directory (the FASTA is the slow part: a few minutes for 2 Gb).
    """
    directory.mkdir(parents=True, exist_ok=True)
    fasta, gff = directory / "genome.fa.gz", directory / "genes.gff3"
    if fasta.is_file() and gff.is_file():
        return fasta, gff
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGTacgt", np.uint8)
    chunk = WRAP * 100_000
    with open(f"{fasta}.part", "wb") as target, subprocess.Popen(["gzip", "-1"], stdin=subprocess.PIPE,
                                                                  stdout=target) as gzipper:  # fmt: skip
        out = gzipper.stdin  # gzip in its own process: compressing 2 Gb takes longer than drawing it
        for number in range(1, chromosomes + 1):
            out.write(f">chr{number} synthetic\n".encode())
            for start in range(0, chromosome_bp, chunk):
                size = min(chunk, chromosome_bp - start)
                masked = np.repeat(rng.random(size // 5000 + 1) < 0.5, 5000)[:size] * 4  # soft-masked repeats
                bases = letters[rng.integers(0, 4, size) + masked]
                if rng.random() < 0.05:
                    bases[: size // 10] = ord("N")  # an assembly gap
                rows = -(-size // WRAP)  # chunks hold whole lines but the chromosome's last
                lines = np.full((rows, WRAP + 1), ord("\n"), np.uint8)
                lines[:, :WRAP].flat[:size] = bases
                text = lines.tobytes()
                out.write(text if size % WRAP == 0 else text[: (rows - 1) * (WRAP + 1) + size % WRAP] + b"\n")
    if gzipper.returncode:
        raise RuntimeError(f"gzip exited with {gzipper.returncode} writing {fasta}")
    Path(f"{fasta}.part").rename(fasta)
    with open(f"{gff}.part", "w") as out:
        out.write("##gff-version 3\n")
        for number in range(genes):
            chrom = f"chr{rng.integers(1, chromosomes + 1)}"
            start = int(rng.integers(5_000, chromosome_bp - 20_000))
            end = start + int(rng.integers(1_000, 10_000))
            strand = "+-"[rng.integers(0, 2)]
            gene = f"Zm{number:08d}"
            out.write(f"{chrom}\tsynthetic\tgene\t{start}\t{end}\t.\t{strand}\t.\tID=gene:{gene};biotype=protein_coding\n")
            out.write(f"{chrom}\tsynthetic\tmRNA\t{start}\t{end}\t.\t{strand}\t.\tID=transcript:{gene}_T001;"
                      f"Parent=gene:{gene}\n")  # fmt: skip
            bounds = np.linspace(start, end + 1, 4).astype(int)  # three exons, each also a CDS
            for exon in range(3):
                for kind in ("exon", "CDS"):
                    out.write(f"{chrom}\tsynthetic\t{kind}\t{bounds[exon]}\t{bounds[exon + 1] - 1}\t.\t{strand}\t.\t"
                              f"Parent=transcript:{gene}_T001;Name={gene}.{kind}{exon + 1}\n")  # fmt: skip
    Path(f"{gff}.part").rename(gff)
    return fasta, gff


def ours(fasta: str, gff: str, out: str) -> dict[str, Any]:
    from cornbert.promoters import PromoterSettings, extract_promoters

    directory = Path(out)
    start = time.perf_counter()
    extract_promoters("bench", fasta, gff, PromoterSettings(), {}, directory / "p.bed", directory / "p.fa",
                      directory / "p.stats.tsv")  # fmt: skip
    return {"s": time.perf_counter() - start, "peak_rss_mib": machine.vm_hwm_mib()}


def bare(fasta: str, bed: str, out: str) -> dict[str, Any]:
    plain = Path(out) / "plain.fa"
    Path(f"{plain}.fai").unlink(missing_ok=True)
    start = time.perf_counter()
    with open(plain, "wb") as target:
        subprocess.run(["zcat", "-f", fasta], stdout=target, check=True)
    subprocess.run(["samtools", "faidx", str(plain)], check=True)
    decompressed = time.perf_counter()
    subprocess.run(["bedtools", "getfasta", "-s", "-nameOnly", "-tab", "-fi", str(plain), "-bed", bed,
                    "-fo", str(Path(out) / "bare.tsv")], check=True)  # fmt: skip
    end = time.perf_counter()
    return {"s": end - start, "getfasta_s": end - decompressed,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}  # fmt: skip


def identical(out: Path) -> tuple[int, int]:
    """(promoters whose sequence ours and bare agree on, promoters of ours)."""
    from cornbert.fasta import read_fasta

    mine = read_fasta(out / "p.fa")
    theirs = {}
    with open(out / "bare.tsv") as handle:
        for line in handle:
            name, sequence = line.rstrip("\n").split("\t")
            theirs[name.rsplit("(", 1)[0]] = sequence.upper()
    return sum(mine[gene] == theirs.get(gene) for gene in mine), len(mine)


if __name__ == "__main__":
    machine.child_main({"ours": ours, "bare": bare})
