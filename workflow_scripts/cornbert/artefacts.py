"""Saved artefacts checked before a library reads them, so that a damaged or foreign file is named with its problem.

Hugging Face and safetensors report a truncated file as "incomplete metadata, file not fully covered" without naming
it, and load a model whose weights file belongs to another model with random weights and a warning. These checks
turn both into an InputError that says which file and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from safetensors import SafetensorError, safe_open

from cornbert.errors import InputError

REBUILD = "rerun the rule that wrote it (delete the file first) or copy it again"


def check_json(path: str | Path) -> dict:
    """The JSON object in `path`."""
    try:
        value = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(path, f"damaged or not JSON ({error}); {REBUILD}") from None
    if not isinstance(value, dict):
        raise InputError(path, f"expected a JSON object, found {type(value).__name__}; {REBUILD}")
    return value


def safetensors_keys(path: str | Path) -> set[str]:
    """The tensor names of a safetensors file whose header and size agree (a truncated file fails here)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return set(handle.keys())
    except SafetensorError as error:
        raise InputError(path, f"damaged or truncated safetensors file ({error}); {REBUILD}") from None


def check_model_dir(directory: str | Path, what: str) -> None:
    """A saved Hugging Face model folder: config.json, model.safetensors and, where present, tokenizer.json whole."""
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise InputError(directory, f"not a {what} directory (no config.json)")
    check_json(directory / "config.json")
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise InputError(directory, f"no model.safetensors: not a {what} directory, or an unfinished copy")
    safetensors_keys(weights)
    if (directory / "tokenizer.json").is_file():
        check_json(directory / "tokenizer.json")


def check_loaded(directory: str | Path, loading_info: dict, what: str) -> None:
    """Weights a model expected but did not find in its file: a file of another model (from_pretrained would
    leave them random)."""
    missing = list(loading_info.get("missing_keys", []))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise InputError(Path(directory) / "model.safetensors",
                         f"lacks {len(missing)} weights of a {what} ({shown}): the file of another model?")


# The Hub's tag for folders whose model code ships beside the weights (loaded with trust_remote_code=True).
CARD_TAGS = ["cornbert", "dna", "promoter", "plants", "custom_code"]


def hub_card(metadata: dict, body: str) -> str:
    """A model card (README.md) in the Hub's format: `metadata` as YAML front matter, so the Hub and
    `huggingface_hub.ModelCard` read its library, pipeline, license, tags and model-index metrics."""
    return f"---\n{yaml.safe_dump(metadata, sort_keys=False).strip()}\n---\n{body}"
