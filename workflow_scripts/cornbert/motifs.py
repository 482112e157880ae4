"""What the fine-tuned model learned: motifs in its attributions, found by TF-MoDISco and matched against JASPAR.

1. Attributions by in-silico mutagenesis (ISM) over the gene-proximal `window` bp of test promoters: every base is
   replaced by each of the other three (cornbert.saturation.saturate, the same mutants and scoring as
   `cornbert-saturate`) and the model predicts again. Why ISM and not gradient x input: the model reads byte-level
   BPE tokens, not bases. A base has no input of its own to differentiate against; one substitution can change
   how the whole neighbourhood is tokenised, so gradients on token embeddings say nothing exact about a base.
   ISM asks the model the real question (what if this base were another) and costs 3 x window forward passes
   per gene. Only the window is mutated, on the full promoter (the tokenizer truncates from the left, keeping the
   gene end, so bases beyond what the model reads would only cost passes for zero effect).
   ISM gives the effect of all four bases at each position, which is what TF-MoDISco calls hypothetical
   contributions: hyp[i, b] = delta(i -> b) - mean over the 4 bases of delta(i -> .), with delta(i -> ref) = 0,
   delta = predicted log(TPM+1) of the mutant minus the original, in one tissue or averaged over tissues. The
   observed base's contribution, hyp[i, ref] = -(sum of its three deltas) / 4, is positive where the model needs
   the base for expression.
2. Motif discovery with tfmodisco-lite (modiscolite.tfmodisco.TFMoDISco): seqlets (windows of high |contribution|
   beyond a null-derived threshold) are clustered into patterns, positive (bases that raise predicted expression)
   and negative (bases that hold it down). A pattern's PPM is the base frequency of its seqlets, its CWM the mean
   contribution; both are trimmed, as the modisco-lite report trims them, to the positions whose summed |CWM| is at
   least 30 % of the largest.
   Contrasts (`motifs.contrasts`): the same ISM effects, as the change in one tissue minus the mean change over
   tissues, each searched on its own. What acts alike in every tissue (a core element) cancels, what acts in that
   tissue stays: the only way tissue elements surface when a strong core element dominates the mean.
3. Each trimmed PPM is compared with the JASPAR CORE motifs of a taxonomic group (pyjaspar's bundled SQLite
   database, no network) by Tomtom (memelite.tomtom, memesuite-lite; both strands). q-values are Benjamini-Hochberg
   over a motif's comparisons with every JASPAR motif of the group, as MEME's Tomtom computes them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cornbert.errors import InputError
from cornbert.predict import Predictor
from cornbert.runtime import atomic_path
from cornbert.saturation import BASES, effect_array, saturate
from cornbert.tables import write_tsv

log = logging.getLogger("cornbert")

TRIM_FRACTION = 0.3  # modisco-lite's report trims patterns to positions with >= 30 % of the largest |CWM| sum
MOTIF_COLUMNS = ["motif", "attribution", "sign", "n_seqlets", "consensus", "length", "median_distance"]
MATCH_FIELDS = ["id", "name", "pvalue", "qvalue", "orientation"]
MEAN = "mean over tissues"  # the attribution label of the default search


@dataclass(frozen=True)
class MotifSettings:
    """The `motifs` config section (config/schema.yaml documents each key)."""

    model: str = "CornBERT"
    genes: int = 200
    window: int = 300
    tissue: str | None = None
    contrasts: list[str] = field(default_factory=list)
    batch_size: int = 64
    seqlet_window: int = 21
    seqlet_flank: int = 10
    min_seqlets: int = 20
    leiden_runs: int = 50
    jaspar_release: str = "JASPAR2024"
    tax_group: str = "plants"
    matches: int = 3


@dataclass
class Motif:
    """One TF-MoDISco pattern, trimmed: PPM and CWM are [length, 4] over A, C, G, T."""

    name: str
    sign: str  # '+': the bases raise predicted expression; '-': they hold it down
    n_seqlets: int
    ppm: np.ndarray
    cwm: np.ndarray
    median_distance: float  # bp upstream of the gene of the seqlets' centres
    attribution: str = MEAN  # whose predicted change the contributions are (see `targets`)
    matches: list[dict] = field(default_factory=list)

    @property
    def consensus(self) -> str:
        return "".join(BASES[i] for i in self.ppm.argmax(axis=1))


def one_hot(sequence: str) -> np.ndarray:
    """[len, 4] over A, C, G, T; any other letter (N) is all zeros."""
    codes = np.frombuffer(sequence.upper().encode(), dtype=np.uint8)
    return (codes[:, None] == np.frombuffer(BASES.encode(), dtype=np.uint8)).astype(np.float32)


def attributions(
    predict: Predictor, tissues: Sequence[str], gene_ids: Sequence[str], sequences: Sequence[str], window: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One-hot [genes, window, 4] and ISM effects [genes, window, 4, tissues] of the gene-proximal `window` bp of
    each promoter (see the module docstring): predicted change of every substitution, 0 for the reference base."""
    hots, deltas = [], []
    for gene_id, sequence in zip(gene_ids, sequences, strict=True):
        prefix, proximal = sequence[:-window], sequence[-window:]
        # Every window position counts as read here; run() says how many of them the model reads.
        table = saturate(gene_id, proximal, lambda mutants: predict([prefix + m for m in mutants]), tissues, window)
        deltas.append(effect_array(table, tissues))
        hots.append(one_hot(proximal))
    return np.stack(hots).astype(np.float32), np.stack(deltas).astype(np.float32)


def hypothetical(deltas: np.ndarray, tissues: Sequence[str], tissue: str | None, contrast: bool = False) -> np.ndarray:
    """TF-MoDISco's hypothetical contributions [genes, window, 4] from ISM effects [genes, window, 4, tissues]: the
    change in `tissue` (None: the mean over tissues), or with `contrast` the change in `tissue` minus the mean over
    tissues, which cancels what acts alike everywhere (a core element) and keeps what acts in that tissue."""
    mean = deltas.mean(axis=-1)
    delta = mean if tissue is None else deltas[..., list(tissues).index(tissue)]
    if contrast:
        delta = delta - mean
    return (delta - delta.mean(axis=-1, keepdims=True)).astype(np.float32)


def targets(settings: MotifSettings) -> list[tuple[str, str | None, bool]]:
    """(label, tissue, contrast) of each motif discovery run: the main attribution, then each contrast."""
    main = (settings.tissue or MEAN, settings.tissue, False)
    return [main] + [(f"{tissue} vs mean", tissue, True) for tissue in settings.contrasts]


def save_attributions(path: str | Path, gene_ids: Sequence[str], hots: np.ndarray, hypothetical: np.ndarray,
                      tissue: str | None, deltas: np.ndarray, tissues: Sequence[str],
                      model_reads: np.ndarray) -> None:  # fmt: skip
    """The main attribution (one-hot, hypothetical contributions, its tissue), every ISM effect, so that other
    contrasts can be computed without the model, and per gene the window's bases the model reads."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # a file object: savez would append .npz to a path
        np.savez_compressed(handle, gene_ids=np.asarray(gene_ids, dtype=str), one_hot=hots,
                            hypothetical=hypothetical, tissue=np.asarray(tissue or ""), ism_delta=deltas,
                            tissues=np.asarray(tissues, dtype=str), model_reads=model_reads)  # fmt: skip


def load_attributions(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray, str | None]:
    """gene IDs, one-hot [N, W, 4], hypothetical contributions [N, W, 4], tissue (None: mean over tissues)."""
    with np.load(path) as data:
        tissue = str(data["tissue"])
        return [str(g) for g in data["gene_ids"]], data["one_hot"], data["hypothetical"], tissue or None


def discover(hots: np.ndarray, hypothetical: np.ndarray, settings: MotifSettings) -> tuple[list, list]:
    """TF-MoDISco's positive and negative patterns (lists of modiscolite SeqletSet, largest first)."""
    from modiscolite.tfmodisco import TFMoDISco

    positive, negative = TFMoDISco(
        one_hot=hots,
        hypothetical_contribs=hypothetical,
        sliding_window_size=settings.seqlet_window,
        flank_size=settings.seqlet_flank,
        # modisco-lite's defaults (100 seqlets per sign, 20-30 per pattern) assume thousands of sequences; here a
        # few dozen genes carry an element once each, so one threshold scales all three down.
        min_metacluster_size=settings.min_seqlets,
        final_min_cluster_size=settings.min_seqlets,
        min_num_to_trim_to=settings.min_seqlets,
        trim_to_window_size=settings.seqlet_window + settings.seqlet_flank,
        initial_flank_to_add=settings.seqlet_flank,
        n_leiden_runs=settings.leiden_runs,
    )
    return positive or [], negative or []


def trim(cwm: np.ndarray) -> slice:
    """The span of positions whose summed |CWM| reaches TRIM_FRACTION of the largest."""
    score = np.abs(cwm).sum(axis=1)
    passing = np.flatnonzero(score >= TRIM_FRACTION * score.max())
    return slice(int(passing.min()), int(passing.max()) + 1)


def summarize(patterns: Sequence, sign: str, window: int, attribution: str = MEAN, prefix: str = "") -> list[Motif]:
    """Trimmed motifs of one sign; seqlet centres as bp upstream of the gene (window index i is window - i).
    `prefix` tells a contrast's motifs from the main search's (`root_vs_mean.pos_pattern_0`)."""
    motifs = []
    for index, pattern in enumerate(patterns):
        span = trim(pattern.contrib_scores)
        centres = np.array([(s.start + s.end) / 2 for s in pattern.seqlets])
        motifs.append(Motif(
            name=f"{prefix}{'pos' if sign == '+' else 'neg'}_pattern_{index}",
            sign=sign,
            n_seqlets=len(pattern.seqlets),
            ppm=np.asarray(pattern.sequence[span], dtype=float),
            cwm=np.asarray(pattern.contrib_scores[span], dtype=float),
            median_distance=float(np.median(window - centres)),
            attribution=attribution,
        ))  # fmt: skip
    return motifs


@functools.cache  # reading a group through pyjaspar takes seconds (one query per matrix)
def jaspar_motifs(release: str, tax_group: str) -> tuple[list[str], list[str], list[np.ndarray]]:
    """IDs, names and PPMs [4, length] of the JASPAR CORE motifs of `tax_group`, from pyjaspar's bundled database."""
    from pyjaspar import jaspardb

    entries = jaspardb(release=release).fetch_motifs(collection="CORE", tax_group=[tax_group])
    if not entries:
        raise InputError("config: motifs", f"JASPAR release {release} has no CORE motifs for tax group {tax_group!r}")
    ppms = []
    for entry in entries:
        counts = np.array([entry.counts[base] for base in BASES], dtype=float)  # [4, length]
        ppms.append(counts / counts.sum(axis=0, keepdims=True))
    return [e.matrix_id for e in entries], [e.name for e in entries], ppms


def match_jaspar(motifs: Sequence[Motif], release: str, tax_group: str, n_matches: int) -> None:
    """Fill each motif's `matches` with its `n_matches` best JASPAR motifs (id, name, pvalue, qvalue, orientation:
    '+' as the JASPAR matrix reads, '-' its reverse complement), best first."""
    if not motifs:
        return
    from memelite.tomtom import tomtom
    from scipy.stats import false_discovery_control

    ids, names, targets = jaspar_motifs(release, tax_group)
    pvalues, _, _, _, strands = tomtom([m.ppm.T for m in motifs], targets)  # [motifs, targets] each
    for motif, p, strand in zip(motifs, pvalues, strands, strict=True):
        q = false_discovery_control(np.clip(p, 0.0, 1.0), method="bh")
        order = np.argsort(p, kind="stable")[:n_matches]
        motif.matches = [
            {"id": ids[t], "name": names[t], "pvalue": float(p[t]), "qvalue": float(q[t]),
             "orientation": "-" if strand[t] else "+", "ppm": targets[t]}
            for t in order
        ]  # fmt: skip


def motif_table(motifs: Sequence[Motif], n_matches: int) -> pd.DataFrame:
    """One row per motif (MOTIF_COLUMNS, then match{k}_{id,name,pvalue,qvalue,orientation}), most seqlets first."""
    columns = MOTIF_COLUMNS + [f"match{k}_{f}" for k in range(1, n_matches + 1) for f in MATCH_FIELDS]
    rows = []
    for motif in motifs:
        row = {"motif": motif.name, "attribution": motif.attribution, "sign": motif.sign,
               "n_seqlets": motif.n_seqlets, "consensus": motif.consensus, "length": len(motif.ppm),
               "median_distance": motif.median_distance}  # fmt: skip
        for k, match in enumerate(motif.matches, start=1):
            row.update({f"match{k}_{f}": match[f] for f in MATCH_FIELDS})
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def plot_logos(motifs: Sequence[Motif], path: str | Path) -> None:
    """One row per motif: its CWM as a logo (letter height = mean contribution), and the best JASPAR match as an
    information-content logo in the orientation that matched."""
    import logomaker

    from cornbert.plots import plt, save

    if not motifs:
        figure, axis = plt.subplots(figsize=(6, 1.5))
        axis.axis("off")
        axis.text(0.5, 0.5, "TF-MoDISco found no motif", ha="center", va="center")
        save(figure, path)
        return
    figure, axes = plt.subplots(len(motifs), 2, figsize=(12, 2.2 * len(motifs)), squeeze=False,
                                gridspec_kw={"width_ratios": [1.2, 1.0]})  # fmt: skip
    for motif, (left, right) in zip(motifs, axes, strict=True):
        logomaker.Logo(pd.DataFrame(motif.cwm, columns=list(BASES)), ax=left, color_scheme="classic")
        left.axhline(0, color="grey", linewidth=0.5)
        effect = "raises" if motif.sign == "+" else "lowers"
        left.set_title(f"{motif.name} ({effect} expression; {motif.attribution})\n{motif.n_seqlets} seqlets, "
                       f"{motif.consensus}, median {motif.median_distance:.0f} bp upstream", loc="left",
                       fontsize=9)  # fmt: skip
        left.set_ylabel("contribution")
        if not motif.matches:
            right.axis("off")
            continue
        best = motif.matches[0]
        ppm = best["ppm"][::-1, ::-1] if best["orientation"] == "-" else best["ppm"]  # complement = reversed ACGT
        probability = pd.DataFrame(ppm.T, columns=list(BASES))
        logomaker.Logo(logomaker.transform_matrix(probability, from_type="probability", to_type="information"),
                       ax=right, color_scheme="classic")  # fmt: skip
        right.set_ylim(0, 2)
        right.set_ylabel("bits")
        strand = ", reverse complement" if best["orientation"] == "-" else ""
        right.set_title(f"JASPAR {best['id']} {best['name']}{strand}: p = {best['pvalue']:.2g}, "
                        f"q = {best['qvalue']:.2g}", loc="left", fontsize=9)  # fmt: skip
    figure.tight_layout()
    save(figure, path)


def choose_genes(split: pd.Series, promoters: Mapping[str, str], fasta: str | Path, n_genes: int, window: int,
                 seed: int) -> list[str]:  # fmt: skip
    """`n_genes` test genes drawn with `seed` (all if fewer); each must have a promoter of at least `window` bp."""
    test = sorted(split.index[split.eq("test").to_numpy()])
    if not test:
        raise InputError(fasta, "the split has no test genes to find motifs in")
    genes = sorted(np.random.default_rng(seed).choice(test, size=min(n_genes, len(test)), replace=False))
    missing = [g for g in genes if g not in promoters]
    if missing:
        raise InputError(fasta, f"no promoter for {len(missing)} test gene(s), e.g. {missing[:3]}")
    short = [g for g in genes if len(promoters[g]) < window]
    if short:
        raise InputError(fasta, f"{len(short)} promoter(s) shorter than motifs.window = {window} bp, e.g. {short[0]!r}")
    return genes


def run(model: str | Path, promoters: Mapping[str, str], fasta: str | Path, split: pd.Series,
        settings: MotifSettings, seed: int, table_path: str | Path, logos_path: str | Path,
        attributions_path: str | Path, modisco_path: str | Path, device: str = "auto") -> pd.DataFrame:  # fmt: skip
    """Attributions of chosen test genes, TF-MoDISco motifs, their JASPAR matches; write the four outputs."""
    from modiscolite.io import save_hdf5

    from cornbert.predict import load_predictor

    genes = choose_genes(split, promoters, fasta, settings.genes, settings.window, seed)
    predict, tissues, reads = load_predictor(model, settings.batch_size, device)
    # Bases of the window the model reads, per gene: beyond them every substitution has no effect (no attribution).
    read = np.minimum(reads([promoters[g] for g in genes]), settings.window)
    log.info("the model reads %d to %d of the window's %d gene-proximal bp", read.min(), read.max(), settings.window)
    for key, asked in (("motifs.tissue", [settings.tissue] if settings.tissue else []),
                       ("motifs.contrasts", settings.contrasts)):  # fmt: skip
        unknown = [t for t in asked if t not in tissues]
        if unknown:
            raise InputError(model, f"the model has no tissue {unknown[0]!r} ({key}); it predicts {', '.join(tissues)}")
    log.info("ISM of %d test genes x %d bp x 3 substitutions", len(genes), settings.window)
    hots, deltas = attributions(predict, tissues, genes, [promoters[g] for g in genes], settings.window)
    motifs, searches = [], []
    for label, tissue, contrast in targets(settings):
        contributions = hypothetical(deltas, tissues, tissue, contrast)
        positive, negative = discover(hots, contributions, settings)
        searches.append((contributions, positive, negative))
        prefix = label.replace(" ", "_") + "." if contrast else ""
        found = [*summarize(positive, "+", settings.window, label, prefix),
                 *summarize(negative, "-", settings.window, label, prefix)]  # fmt: skip
        motifs += sorted(found, key=lambda m: -m.n_seqlets)
        log.info("TF-MoDISco on %s: %d motifs (%d raising, %d lowering expression)", label, len(found),
                 len(positive), len(negative))  # fmt: skip
    match_jaspar(motifs, settings.jaspar_release, settings.tax_group, settings.matches)
    table = motif_table(motifs, settings.matches).assign(model_reads_bp=int(read.min()))
    for motif in motifs:
        best = motif.matches[0]
        log.info("%s %s: %d seqlets, best JASPAR match %s %s (q = %.2g)", motif.name, motif.consensus,
                 motif.n_seqlets, best["id"], best["name"], best["qvalue"])  # fmt: skip
    main, positive, negative = searches[0]  # the main search; contrasts are in the table and logos
    save_attributions(attributions_path, genes, hots, main, settings.tissue, deltas, tissues, read)
    with atomic_path(modisco_path) as tmp:
        save_hdf5(tmp, positive or None, negative or None, settings.seqlet_window)
    plot_logos(motifs, logos_path)
    write_tsv(table, table_path, index=False)
    return table
