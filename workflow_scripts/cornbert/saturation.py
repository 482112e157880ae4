"""`cornbert-saturate`: every single-base substitution of a gene's promoter, its predicted effect per tissue, and
the edits that change one tissue most while changing the others least.

    cornbert-saturate --model best --fasta results/expression/promoters.fa \\
        --genes Zm00001eb000010,Zm00001eb000020 --tissue endosperm --output-dir saturation/

Writes into the output directory:
  saturation.tsv   one row per gene x position x alternative base x tissue: gene_id, index (0-based, promoter
                   read 5'->3' toward the gene), distance (bp upstream of the gene, cornbert.fasta.distance_from_gene),
                   ref, alt, tissue, ref_log, alt_log (predicted log(TPM+1)), delta = alt_log - ref_log, and
                   model_reads: whether the position lies within the gene-proximal bases the model reads (outside,
                   a delta of zero is no verdict on the edit; the figure greys that stretch);
  top_edits.tsv    per gene, chosen tissue (every tissue when none is chosen) and direction (raise, lower), the
                   `top` edits ranked by specificity: for `raise`, delta in the tissue minus the mean |delta| over
                   the other tissues; for `lower`, -delta minus that mean. So an edit ranks high when it moves the
                   tissue far in the wanted direction and the others little; ties keep the gene-proximal edit first;
  <gene>.png       per gene, the effect track: the whole promoter and, zoomed, the gene-proximal 300 bp with the
                   sequence drawn as letters whose height is the predicted loss when the base is mutated.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cornbert.errors import InputError
from cornbert.fasta import distance_from_gene, read_fasta
from cornbert.predict import Predictor, add_model_arguments, check_dna, load_predictor, start_command
from cornbert.runtime import fail_cleanly
from cornbert.tables import write_tsv

log = logging.getLogger("cornbert")

BASES = "ACGT"
ZOOM = 300  # bp next to the gene shown as letters: most plant promoter elements sit there
COLUMNS = ["gene_id", "index", "distance", "ref", "alt", "tissue", "ref_log", "alt_log", "delta", "model_reads"]
EDIT_COLUMNS = [
    "gene_id", "tissue", "direction", "rank", "index", "distance", "ref", "alt", "delta", "mean_abs_delta_other",
    "specificity",
]  # fmt: skip


def substitutions(sequence: str) -> tuple[list[str], list[tuple[int, str]]]:
    """Every single-base substitution to another of A, C, G, T (an N is replaced by each of the four)."""
    mutants, keys = [], []
    for index, base in enumerate(sequence):
        for alt in BASES:
            if alt != base:
                mutants.append(sequence[:index] + alt + sequence[index + 1 :])
                keys.append((index, alt))
    return mutants, keys


def saturate(gene_id: str, sequence: str, predict: Predictor, tissues: Sequence[str], reads: int) -> pd.DataFrame:
    """Tidy effects (COLUMNS) of every substitution of one promoter, of which the model reads `reads` bases."""
    mutants, keys = substitutions(sequence)
    predicted = np.asarray(predict([sequence, *mutants]))  # [1 + mutants, tissues], the original first
    ref_log, alt_log = predicted[0], predicted[1:]
    n_tissues = len(tissues)
    index = np.array([i for i, _ in keys], dtype=int)
    table = pd.DataFrame({
        "gene_id": gene_id,
        "index": np.repeat(index, n_tissues),
        "distance": np.repeat(distance_from_gene(index, len(sequence)), n_tissues),
        "ref": np.repeat([sequence[i] for i in index], n_tissues),
        "alt": np.repeat([alt for _, alt in keys], n_tissues),
        "tissue": np.tile(list(tissues), len(keys)),
        "ref_log": np.tile(ref_log, len(keys)),
        "alt_log": alt_log.ravel(),
    })  # fmt: skip
    table["delta"] = table["alt_log"] - table["ref_log"]
    table["model_reads"] = table["distance"] <= reads
    return table[COLUMNS]


def top_edits(table: pd.DataFrame, tissues: Sequence[str], top: int) -> pd.DataFrame:
    """The `top` most tissue-specific edits per gene, tissue and direction (see the module docstring)."""
    wide = table.pivot_table(index=["gene_id", "index", "distance", "ref", "alt"], columns="tissue", values="delta")
    parts = []
    for tissue in tissues:
        others = [t for t in wide.columns if t != tissue]
        off_target = wide[others].abs().mean(axis=1) if others else pd.Series(0.0, index=wide.index)
        for direction, sign in (("raise", 1.0), ("lower", -1.0)):
            frame = pd.DataFrame({"delta": wide[tissue], "mean_abs_delta_other": off_target})
            frame["specificity"] = sign * frame["delta"] - frame["mean_abs_delta_other"]
            frame = frame.reset_index().sort_values(["gene_id", "specificity", "distance"],
                                                    ascending=[True, False, True], kind="stable")  # fmt: skip
            frame = frame.groupby("gene_id", sort=True).head(top)
            frame["rank"] = frame.groupby("gene_id").cumcount() + 1
            frame["tissue"], frame["direction"] = tissue, direction
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)[EDIT_COLUMNS]


def effect_array(table: pd.DataFrame, tissues: Sequence[str]) -> np.ndarray:
    """[positions, 4, tissues]: delta of each alternative base (A, C, G, T; 0 for the reference base) per tissue,
    from the table of one gene (one pivot for all tissues)."""
    grid = table.pivot_table(index="index", columns=["alt", "tissue"], values="delta", aggfunc="mean")
    grid = grid.reindex(columns=pd.MultiIndex.from_product([list(BASES), list(tissues)])).fillna(0.0)
    return grid.to_numpy().reshape(len(grid), len(BASES), len(tissues))


def base_effects(table: pd.DataFrame, gene_id: str, tissue: str | None) -> pd.DataFrame:
    """Per promoter index: delta of each alternative base (columns A, C, G, T; 0 for the reference base), in
    `tissue` or averaged over tissues."""
    part = table[table["gene_id"] == gene_id]
    if tissue is not None:
        part = part[part["tissue"] == tissue]
    grid = part.pivot_table(index="index", columns="alt", values="delta", aggfunc="mean")
    return grid.reindex(columns=list(BASES)).fillna(0.0)


def plot_saturation(table: pd.DataFrame, gene_id: str, sequence: str, tissue: str | None, path: str | Path) -> None:
    """Three rows: the whole promoter's effect track, the gene-proximal ZOOM bp as letters, and the same bp as a
    heat map of every substitution. A letter's height is minus the mean delta of its three substitutions: tall
    letters above the axis are bases the predicted expression needs, letters below it bases that hold it down."""
    import logomaker

    from cornbert.plots import plt, save

    grid = base_effects(table, gene_id, tissue)  # [L, 4]
    length = len(sequence)
    distance = np.asarray(distance_from_gene(grid.index.to_numpy(), length))
    contribution = -grid.sum(axis=1).to_numpy() / 3  # the reference base holds 0, its three substitutions the rest
    strongest = grid.abs().max(axis=1).to_numpy()
    where = f"in {tissue}" if tissue else "averaged over tissues"

    figure, axes = plt.subplots(3, 1, figsize=(18, 9), gridspec_kw={"height_ratios": [1.2, 1.4, 1.0]})
    track = axes[0]
    track.fill_between(-distance, -strongest, strongest, color="lightgrey", step="mid", label="largest |Δ| of a substitution")
    track.plot(-distance, contribution, color="black", linewidth=0.8, label="base contribution (−mean Δ)")
    track.axvspan(-min(ZOOM, length), 0, color="tab:orange", alpha=0.08, label=f"zoomed below: {min(ZOOM, length)} bp")
    unread = part_unread(table, gene_id)
    if unread:
        track.axvspan(-length - 0.5, -(length - unread) - 0.5, color="0.6", alpha=0.3,
                      label=f"beyond what the model reads: {unread} bp")  # fmt: skip
    track.axhline(0, color="grey", linewidth=0.5)
    track.set_xlim(-length - 0.5, 0)
    track.set_ylabel("Δ log(TPM+1)")
    track.set_xlabel("bp upstream of the gene (gene at the right)")
    track.legend(loc="upper left", fontsize=8, ncol=3, frameon=False)
    track.set_title(f"{gene_id}: predicted effect of every single-base substitution {where}", loc="left")

    zoom = min(ZOOM, length)
    proximal = grid.index.to_numpy() >= length - zoom
    letters = pd.DataFrame(0.0, index=-distance[proximal], columns=list(BASES))
    for row, (index, value) in enumerate(zip(grid.index[proximal], contribution[proximal], strict=True)):
        base = sequence[index]
        if base in BASES:
            letters.iloc[row, BASES.index(base)] = value
    logo = logomaker.Logo(letters, ax=axes[1], color_scheme="classic", flip_below=False, vpad=0.05)
    logo.ax.axhline(0, color="grey", linewidth=0.5)
    logo.ax.set_xlim(-zoom - 0.5, 0.5)
    logo.ax.set_ylabel("base contribution\n(−mean Δ)")
    logo.ax.set_title(f"gene-proximal {zoom} bp, the reference sequence", loc="left")

    heat = axes[2]
    values = grid.to_numpy()[proximal].T  # [4, zoom]
    bound = float(np.abs(values).max()) or 1.0
    image = heat.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest",
                        extent=(-zoom - 0.5, -0.5, 3.5, -0.5))  # fmt: skip
    heat.set_yticks(range(4), [f"→{b}" for b in BASES])
    heat.set_xlim(-zoom - 0.5, 0.5)
    heat.set_xlabel("bp upstream of the gene (gene at the right)")
    heat.set_title("Δ of each substitution (red: raises, blue: lowers expression)", loc="left")
    figure.colorbar(image, ax=heat, orientation="vertical", fraction=0.02, pad=0.01, label="Δ log(TPM+1)")
    for axis in axes[1:]:
        ticks = np.arange(-(zoom // 50) * 50, 1, 50)
        axis.set_xticks(ticks, [str(-t) for t in ticks])
    track_ticks = np.arange(-(length // 100) * 100, 1, 100)
    track.set_xticks(track_ticks, [str(-t) for t in track_ticks])
    figure.tight_layout()
    save(figure, path)


def part_unread(table: pd.DataFrame, gene_id: str) -> int:
    """Positions of a gene's promoter beyond what the model reads."""
    part = table[table["gene_id"] == gene_id]
    return int(part.loc[~part["model_reads"], "index"].nunique())


def figure_name(gene_id: str) -> str:
    """File name of a gene's figure: its ID with anything but letters, digits, '.', '_' and '-' as '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", gene_id) + ".png"


def run(model: str, promoters: Mapping[str, str], fasta: str | Path, genes: Sequence[str], tissue: str | None,
        top: int, output_dir: str | Path, batch_size: int = 32, device: str = "auto") -> pd.DataFrame:  # fmt: skip
    """Saturate every gene of `genes`; write saturation.tsv, top_edits.tsv and one figure per gene."""
    missing = [g for g in genes if g not in promoters]
    if missing:
        raise InputError(fasta, f"no promoter for {len(missing)} requested gene(s): {missing[:5]}")
    predict, tissues, reads = load_predictor(model, batch_size, device)
    if tissue is not None and tissue not in tissues:
        raise InputError(model, f"the model has no tissue {tissue!r}; it predicts {', '.join(tissues)}")
    read = dict(zip(genes, reads([promoters[g] for g in genes]), strict=True))
    table = pd.concat([saturate(g, promoters[g], predict, tissues, read[g]) for g in genes], ignore_index=True)
    edits = top_edits(table, [tissue] if tissue else tissues, top)
    out = Path(output_dir)
    write_tsv(table, out / "saturation.tsv", index=False)
    write_tsv(edits, out / "top_edits.tsv", index=False)
    for gene in genes:
        plot_saturation(table, gene, promoters[gene], tissue, out / figure_name(gene))
        peak = table[table["gene_id"] == gene].groupby("distance")["delta"].apply(lambda d: d.abs().mean()).idxmax()
        log.info("%s: %d substitutions, largest mean |delta| at %d bp upstream; the model reads %d of %d bp",
                 gene, len(promoters[gene]) * 3, peak, read[gene], len(promoters[gene]))  # fmt: skip
    return table


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cornbert-saturate",
        description=__doc__.split("\n\n")[0],
        epilog="Example: cornbert-saturate --model best "
        "--fasta results/expression/promoters.fa --genes G1,G2 --output-dir saturation/",
    )
    parser.add_argument("--fasta", required=True, help="promoter FASTA, 5'->3' toward the gene (results/promoters/*.fa)")
    parser.add_argument("--genes", required=True, help="comma-separated gene IDs (FASTA record names)")
    parser.add_argument("--output-dir", required=True, help="directory for saturation.tsv, top_edits.tsv, <gene>.png")
    parser.add_argument("--tissue", help="tissue to find specific edits for (default: every tissue)")
    parser.add_argument("--top", type=int, default=20, help="edits per gene, tissue and direction (default 20)")
    add_model_arguments(parser, batch_size=64)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    start_command(args.threads)
    genes = [g for g in args.genes.split(",") if g]
    with fail_cleanly([args.output_dir]):
        promoters = read_fasta(args.fasta)
        check_dna(promoters, args.fasta)
        run(args.model, promoters, args.fasta, genes, args.tissue, args.top, args.output_dir, args.batch_size,
            args.device)  # fmt: skip
    log.info("wrote %s", args.output_dir)


if __name__ == "__main__":
    main()
