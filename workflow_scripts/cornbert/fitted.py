"""Every fitted model of the workflow as one kind of object, saved as a folder that any tool loads back.

    model = load_model("results/stacking/rep1/CornBERT_stack")   # or a baseline, a fine-tuned transformer, best
    log_tpm = model.predict(["ACGT..."])    # [n, len(model.tissues)] predicted log(TPM+1)
    read = model.reads(["ACGT..."])         # [n] gene-proximal bases of each sequence the prediction depends on

A fine-tuned transformer is a Hugging Face folder (cornbert.regressor). Every other model is a folder in open
formats, no pickle: `cornbert_model.json` (the kind, its tissues, its settings and the SHA-256 of every file),
the model's own files (LightGBM's text model, safetensors of coefficients or weights) and a model card,
README.md. A stack holds copies of its members under members/<name>/, so the folder travels alone. The checksums
are what make a damaged file an error rather than a different model: a LightGBM text file cut short loads as a
model with fewer trees.

`reads` is what makes the tools honest: a transformer reads the tokens left after truncation (~300 bp under the
laptop recipe), the baselines read every base, const_mean none, a stack what its weighted members read; outside,
an edit changes nothing because the model cannot see it, which is no verdict on the edit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from cornbert.artefacts import check_json
from cornbert.errors import InputError

log = logging.getLogger(__name__)

DESCRIPTOR = "cornbert_model.json"
FORMAT = "cornbert-fitted-model"
VERSION = 1
CARD = "README.md"
# What `--model best` means: the choice the workflow's choose_best_model rule writes (lowest validation error).
BEST = "best"
BEST_CHOICE = "results/best_model.json"


class FittedModel(Protocol):
    kind: str
    tissues: list[str]

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        """Predicted log(TPM+1) [n, tissues] of promoters read 5'->3' toward the gene."""

    def reads(self, sequences: Sequence[str]) -> np.ndarray:
        """Gene-proximal bases of each sequence that the prediction depends on [n]."""


class SavedKind(FittedModel, Protocol):
    """A model saved as cornbert_model.json plus files: what `save` and `load_model` need of it."""

    def save_files(self, folder: Path) -> dict:
        """Write the model's files into `folder`; return the settings `load_files` needs (JSON-serialisable)."""

    @classmethod
    def load_files(cls, folder: Path, settings: dict, tissues: list[str]) -> SavedKind: ...


def _kinds() -> dict[str, type]:
    from cornbert import baselines, cnn

    return {"const_mean": baselines.ConstMean, "hand_eng": baselines.HandEng, "BOW_5mer": baselines.KmerLinear,
            "CNN_onehot": cnn.FittedCnn, "stack": Stack}  # fmt: skip


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(model: SavedKind, folder: str | Path, name: str, card: str) -> None:
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


def resolve(path: str | Path) -> Path:
    """A model folder, from a folder, a best-model choice file (results/best_model.json) or `best`."""
    path = Path(BEST_CHOICE if str(path) == BEST else path)
    if path.is_file() and path.suffix == ".json":
        choice = check_json(path)
        if "folder" not in choice:
            raise InputError(path, "not a best-model choice (no 'folder'); the workflow's choose_best_model writes one")
        folder = Path(choice["folder"])
        # A relative folder is relative to the run directory, the folder holding results/.
        return folder if folder.is_absolute() else path.resolve().parent.parent / folder
    if not path.exists():
        hint = " (`best` reads results/best_model.json: run from the workflow's directory)" if str(path) == BEST_CHOICE else ""
        raise InputError(path, f"no such model folder{hint}")
    return path


def load_model(path: str | Path, batch_size: int = 32, device: str = "auto") -> FittedModel:
    """Any saved model: a cornbert_model.json folder, a fine-tuned transformer folder, or a best-model choice.
    `batch_size` and `device` apply to the models that run on torch."""
    folder = resolve(path)
    if (folder / DESCRIPTOR).is_file():
        descriptor = read_descriptor(folder)
        kinds = _kinds()
        if descriptor["kind"] not in kinds:
            raise InputError(folder / DESCRIPTOR, f"unknown model kind {descriptor['kind']!r}; known: {', '.join(kinds)}")
        model = kinds[descriptor["kind"]].load_files(folder, descriptor["settings"], list(descriptor["tissues"]))
        if hasattr(model, "configure"):
            model.configure(batch_size, device)
        log.info("loaded %s (%s, %d tissues)", folder, descriptor["kind"], len(model.tissues))
        return model
    if (folder / "config.json").is_file():
        return Transformer(folder, batch_size, device)
    raise InputError(folder, f"not a model folder (neither {DESCRIPTOR} nor a fine-tuned model's config.json)")


class Transformer:
    """A fine-tuned CornBERT regressor (a Hugging Face folder) behind the common interface."""

    kind = "transformer"

    def __init__(self, folder: str | Path, batch_size: int = 32, device: str = "auto"):
        import torch

        from cornbert.regressor import load_regressor

        self.folder = Path(folder)
        self.model, self.tokenizer, self.tissues = load_regressor(folder)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.model.to(self.device)
        self.batch_size = batch_size
        log.info("loaded %s (transformer, %d tissues) on %s", folder, len(self.tissues), self.device)

    def configure(self, batch_size: int, device: str) -> None:
        import torch

        self.batch_size = batch_size
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.model.to(self.device)

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        from cornbert.regressor import predict_log

        return predict_log(self.model, self.tokenizer, list(sequences), batch_size=self.batch_size)

    def reads(self, sequences: Sequence[str]) -> np.ndarray:
        from cornbert.tokenizer import bases_read

        return bases_read(self.tokenizer, list(sequences))


class Stack:
    """Per tissue, intercept + sum of non-negative weights x member predictions (cornbert.stacking fits them)."""

    kind = "stack"

    def __init__(self, members: Mapping[str, FittedModel], weights: pd.DataFrame, sources: Mapping[str, Path] = {}):
        self.members = dict(members)
        self.weights = weights  # [tissues, members + intercept]
        self.tissues = list(weights.index)
        self.sources = dict(sources)  # member -> the folder it was loaded from (copied on save)
        for name, member in self.members.items():
            missing = set(self.tissues) - set(member.tissues)
            if missing:
                raise ValueError(f"stack member {name} predicts no {sorted(missing)[0]!r}")
        # Members with no weight in any tissue neither predict nor count as read.
        self.used = [m for m in self.members if (weights[m] != 0).any()]

    @classmethod
    def from_folders(cls, folders: Mapping[str, str | Path], weights: pd.DataFrame) -> Stack:
        return cls({name: load_model(path) for name, path in folders.items()}, weights,
                   {name: Path(path) for name, path in folders.items()})  # fmt: skip

    def configure(self, batch_size: int, device: str) -> None:
        for member in self.members.values():
            if hasattr(member, "configure"):
                member.configure(batch_size, device)

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        sequences = list(sequences)
        total = np.tile(self.weights["intercept"].to_numpy(), (len(sequences), 1))  # [n, T]
        for name in self.used:
            member = self.members[name]
            columns = [member.tissues.index(t) for t in self.tissues]
            total += member.predict(sequences)[:, columns] * self.weights[name].to_numpy()
        return total

    def reads(self, sequences: Sequence[str]) -> np.ndarray:
        sequences = list(sequences)
        reads = [self.members[m].reads(sequences) for m in self.used]
        return np.max(reads, axis=0) if reads else np.zeros(len(sequences), dtype=np.int64)

    def save_files(self, folder: Path) -> dict:
        for name in self.members:
            if name not in self.sources:
                raise ValueError(f"stack member {name} has no saved folder to copy")
            copy_folder(self.sources[name], folder / "members" / name)
        return {"members": list(self.members), "weights": self.weights.reset_index().to_dict(orient="records")}

    @classmethod
    def load_files(cls, folder: Path, settings: dict, tissues: list[str]) -> Stack:
        weights = pd.DataFrame(settings["weights"]).set_index("tissue").loc[tissues]
        return cls.from_folders({m: folder / "members" / m for m in settings["members"]}, weights)


def copy_folder(source: Path, target: Path) -> None:
    """A copy of a model folder, hard-linked where the file system allows (a member of a stack costs no space)."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy)


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


def model_card(model: SavedKind, name: str, folder: str | Path, trained_on: str, validation_mse: float,
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
{extra}Test figures with intervals: results/evaluation/metrics.tsv of the run (the test genes play no part here).

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

