"""Training mechanics shared by masked-LM pretraining (cornbert.pretrain) and fine-tuning (cornbert.finetune):
checkpoint fingerprints and files, the lamb/adamw choice, and bf16 autocast."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from cornbert.lamb import Lamb
from cornbert.runtime import atomic_path

log = logging.getLogger("cornbert.training")


def fingerprint(settings: Any, files: Iterable[str | Path]) -> str:
    """What a checkpoint must match to be resumed: `settings` (JSON-serialisable) and the exact contents of `files`.

    Each file is hashed on its own, so that moving bytes from one file to the next changes the fingerprint."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Written atomically: a run killed while saving leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, expected_fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint at `path` if it belongs to this exact run, else None (start from step 0)."""
    if not path.is_file():
        return None
    # weights_only: checkpoints hold tensors and plain Python values only, so nothing in them can run code.
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != expected_fingerprint:
        log.warning("ignoring checkpoint %s: it was written for other settings or inputs; starting from step 0", path)
        return None
    return state


def make_optimizer(
    name: str,
    param_groups: list[dict[str, Any]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    setting: str,
) -> torch.optim.Optimizer:
    """Lamb or AdamW by the config's `optimizer` value; `setting` names that value's place in the config for errors."""
    if name == "lamb":
        return Lamb(param_groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(param_groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    raise ValueError(f"{setting} must be lamb or adamw, not {name!r}")


def bf16_autocast(device: torch.device, enabled: bool) -> torch.autocast:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)
