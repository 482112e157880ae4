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

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from cornbert.artefacts import check_json
from cornbert.errors import InputError
from cornbert.model_folder import DESCRIPTOR, copy_folder, read_descriptor

log = logging.getLogger(__name__)

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
        from cornbert.regressor import load_regressor

        self.folder = Path(folder)
        self.model, self.tokenizer, self.tissues = load_regressor(folder)
        self.configure(batch_size, device)
        log.info("loaded %s (transformer, %d tissues) on %s", folder, len(self.tissues), self.device)

    def configure(self, batch_size: int, device: str) -> None:
        from cornbert.distributed import inference_device

        self.batch_size = batch_size
        self.device = inference_device(device)
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
