"""A saved model's folder: its descriptor (cornbert_model.json), the SHA-256 of every file, an all-or-nothing save
and its model card. Free of any model library, so that every rule that saves a model can use it in its own
environment; cornbert.fitted loads the folders."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from cornbert.artefacts import check_json
from cornbert.errors import InputError

DESCRIPTOR = "cornbert_model.json"
FORMAT = "cornbert-fitted-model"
VERSION = 1
CARD = "README.md"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(model, folder: str | Path, name: str, card: str) -> None:
    """Write `model` as a folder, all at once: it is built beside `folder` and moved into place only when whole,
    so an interrupted save leaves no folder that looks finished."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        settings = model.save_files(partial)
        files = {str(p.relative_to(partial)): sha256(p) for p in sorted(partial.rglob("*")) if p.is_file()}
        descriptor = {"format": FORMAT, "version": VERSION, "kind": model.kind, "name": name,
                      "tissues": list(model.tissues), "settings": settings, "files": files}  # fmt: skip
        (partial / DESCRIPTOR).write_text(json.dumps(descriptor, indent=1) + "\n")
        (partial / CARD).write_text(card)
        os.chmod(partial, 0o755)  # mkdtemp makes it owner-only
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(partial, folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def read_descriptor(folder: Path) -> dict:
    """The descriptor of a saved folder, with every listed file present and unchanged."""
    descriptor = check_json(folder / DESCRIPTOR)
    if descriptor.get("format") != FORMAT or "kind" not in descriptor:
        raise InputError(folder / DESCRIPTOR, f"not a CornBERT model descriptor (no format {FORMAT!r})")
    if descriptor.get("version", 0) > VERSION:
        raise InputError(folder / DESCRIPTOR, f"written by a newer CornBERT (format version {descriptor['version']}"
                                              f" > {VERSION}); update the workflow to load it")  # fmt: skip
    for name, digest in descriptor.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise InputError(path, "missing: the model folder is incomplete; copy it again or rerun the rule")
        if sha256(path) != digest:
            raise InputError(path, f"damaged: its checksum differs from the one in {DESCRIPTOR} (a truncated or "
                                   "edited copy); copy it again or rerun the rule that wrote it")  # fmt: skip
    return descriptor


def copy_folder(source: Path, target: Path) -> None:
    """A copy of a model folder, hard-linked where the file system allows (a member of a stack costs no space)."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    # Snakemake stamps a directory output with .snakemake_timestamp; a linked stamp would be touched when the copy
    # is stamped, and the source would look newer than everything made from it.
    shutil.copytree(source, target, copy_function=link_or_copy, ignore=shutil.ignore_patterns(".snakemake_timestamp"))


DESCRIPTIONS = {
    "const_mean": "each tissue's mean log(TPM+1) over the training genes, whatever the promoter",
    "hand_eng": "presence of known plant promoter elements (cornbert.cis_elements) anywhere and per distance "
                "window, one LightGBM regressor per tissue (LightGBM text files under lightgbm/)",
    "BOW_5mer": "counts of every k-mer, a linear regression to all tissues (coefficients.safetensors)",
    "CNN_onehot": "a convolutional network over the one-hot promoter, both strands (model.safetensors)",
    "stack": "per tissue, intercept + non-negative weights x its members' predictions, weights fitted on the "
             "validation genes (members under members/)",
}
READS = {
    "const_mean": "no base: the prediction is the same for every sequence",
    "hand_eng": "every base of the sequence",
    "BOW_5mer": "every base of the sequence",
    "CNN_onehot": "the {length} bases nearest the gene (the training promoters' padded length)",
    "stack": "what its weighted members read: the most any of them reads",
}


def model_card(model, name: str, folder: str | Path, trained_on: str, validation_mse: float,
               reference_mse: float, extra: str = "") -> str:  # fmt: skip
    """The README.md of a saved model: what it is and reads, what it learned from, its validation figures."""
    from cornbert.artefacts import CARD_TAGS, hub_card

    reduction = 100 * (1 - validation_mse / reference_mse) if reference_mse > 0 else float("nan")
    tags = [t for t in CARD_TAGS if t != "custom_code"]  # no model code ships: the cornbert package loads it
    metadata = {
        "library_name": "cornbert",
        "pipeline_tag": "tabular-regression",
        "license": "mit",
        "tags": [*tags, "gene-expression", model.kind],
        "model-index": [{"name": name, "results": [{
            "task": {"type": "tabular-regression", "name": "log(TPM+1) per tissue from the promoter"},
            "metrics": [
                {"type": "mse", "name": "validation MSE of log(TPM+1)", "value": round(validation_mse, 4)},
                {"type": "mse_reduction", "name": "validation % reduction against tissue means",
                 "value": round(reduction, 1)},
            ],
        }]}],
    }  # fmt: skip
    reads = READS[model.kind].format(length=getattr(model, "length", ""))
    return hub_card(metadata, f"""# {name}

{DESCRIPTIONS[model.kind].capitalize()}. Predicts log(TPM+1) in {len(model.tissues)} tissues
({', '.join(model.tissues)}) from a promoter read 5'->3' toward the gene.

**Reads**: {reads}. Outside what a model reads, an edit cannot change its prediction: the tools mark such
alleles and positions instead of reporting no effect.

## Data
{trained_on}

## Metrics (MSE of log(TPM+1), validation genes)
- {name}: {validation_mse:.4f}
- each tissue's training mean: {reference_mse:.4f} (reduction: {reduction:.1f} %)
{extra}Test figures with intervals: results/evaluation/metrics.tsv of the run, and the card of this model's copy
in results/models/ (rule publish_model); the test genes play no part in fitting or choosing it.

## Use
```python
from cornbert.fitted import load_model
model = load_model("{folder}")
log_tpm = model.predict(["ACGT..."])  # [n, {len(model.tissues)}]
```
or `cornbert-predict --model {folder} --fasta promoters.fa --output predictions.tsv` (also cornbert-variants,
cornbert-saturate). The folder is open formats only: {DESCRIPTOR} (kind, tissues, settings, SHA-256 of every file)
and the files it names.
""")


def publish(source: Path, target: Path, section: str, metrics: list[dict]) -> None:
    """A copy of the model folder `source` at `target` (hard links) whose card also states its test figures:
    `section` (Markdown) appended, `metrics` (Hub model-index entries) added to the YAML metadata, and the card's
    own path replaced by the new one. The copy's card is a new file, so the source's is left as it was."""
    import yaml

    card_path = source / CARD
    card = card_path.read_text() if card_path.is_file() else ""
    metadata, body = {}, card
    if card.startswith("---\n") and "\n---\n" in card[4:]:
        head, body = card[4:].split("\n---\n", 1)
        metadata = yaml.safe_load(head) or {}
    index = metadata.setdefault("model-index", [{"name": target.name, "results": []}])
    if not index[0].setdefault("results", []):
        index[0]["results"].append({"task": {"type": "tabular-regression",
                                             "name": "log(TPM+1) per tissue from the promoter"}, "metrics": []})  # fmt: skip
    index[0]["results"][0].setdefault("metrics", []).extend(metrics)
    body = body.replace(str(source), str(target)).rstrip("\n") + "\n\n" + section
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        shutil.rmtree(partial)
        copy_folder(source, partial)
        (partial / CARD).unlink(missing_ok=True)  # a hard link: writing through it would change the source's card
        (partial / CARD).write_text(f"---\n{yaml.safe_dump(metadata, sort_keys=False).strip()}\n---\n{body}")
        if target.exists():
            shutil.rmtree(target)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


TEST_METRICS = {"mse_log": "MSE of log(TPM+1)", "pct_reduction_mse_log": "% MSE(log) reduction against const_mean",
                "spearman": "Spearman rho", "mae_tpm": "MAE of TPM"}  # fmt: skip


def card_test_figures(metrics, model: str, source: str) -> tuple[str, list[dict]]:
    """The card's section on the test genes (a table per tissue) and its Hub model-index entries ('All'
    tissues), from a metrics table (results/evaluation/metrics.tsv as a pandas DataFrame)."""
    rows = metrics[(metrics.model == model) & metrics.metric.isin(list(TEST_METRICS))]
    if rows.empty:
        raise InputError(source, f"no test figures of {model}")
    replicates = int(rows.n_replicates.max())
    shown = [m for m in TEST_METRICS if m in set(rows.metric)]
    lines = ["| tissue | " + " | ".join(TEST_METRICS[m] for m in shown) + " |", "|---" * (len(shown) + 1) + "|"]
    for tissue, part in rows.groupby("tissue", sort=False):
        cells = part.set_index("metric")
        lines.append(f"| {tissue} | " + " | ".join(
            f"{cells.at[m, 'value']:.3f} ({cells.at[m, 'ci_low']:.3f} to {cells.at[m, 'ci_high']:.3f})"
            if m in cells.index else "-" for m in shown) + " |")  # fmt: skip
    section = (
        f"## Test figures (test genes, {replicates} fit(s) of this model; this folder is the first)\n\n"
        "Mean over the fits, 95 % bootstrap interval over the split's leakage groups, from "
        f"`{source}` (the genes of no training, validation or model choice).\n\n" + "\n".join(lines) + "\n"
    )
    overall = rows[rows.tissue == "All"].set_index("metric")
    entries = [{"type": metric, "name": f"test {TEST_METRICS[metric]}, all tissues (95 % interval "
                f"{overall.at[metric, 'ci_low']:.4f} to {overall.at[metric, 'ci_high']:.4f})",
                "value": round(float(overall.at[metric, "value"]), 4)} for metric in shown if metric in overall.index]  # fmt: skip
    return section, entries
