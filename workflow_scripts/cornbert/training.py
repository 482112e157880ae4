"""The training machinery pretraining (cornbert.pretrain) and fine-tuning (cornbert.finetune) share: the
checkpoint contract, gradient accumulation, the progress bar, the atomic model save and the torchrun entry point.

Checkpoint contract. A checkpoint holds everything a step needs (weights, optimizer, schedule, RNG states, the
metrics so far) and the run's fingerprint. Each is written atomically and the two newest are kept, so a file cut
short by a dying node or a full disk costs one checkpoint interval, never the run: loading skips a damaged or
foreign file with one WARNING naming it, and a resumed run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from cornbert import distributed
from cornbert.lamb import Lamb
from cornbert.runtime import atomic_path

log = logging.getLogger("cornbert.training")

KEEP = 2  # checkpoints kept: the newest may be damaged, the one before it is the fallback


def fingerprint(settings: Any, files: Iterable[str | Path]) -> str:
    """What a checkpoint must match to be resumed: `settings` (JSON-serialisable) and the exact contents of `files`.

    Each file is hashed on its own, so that moving bytes from one file to the next changes the fingerprint."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


class Checkpoints:
    """The checkpoints of one run in `directory`, named by step, the two newest kept."""

    def __init__(self, directory: str | Path, fingerprint: str):
        self.directory = Path(directory)
        self.fingerprint = fingerprint

    def paths(self) -> list[Path]:
        """Newest first."""
        return sorted(self.directory.glob("step-*.pt"), reverse=True)

    def save(self, step: int, state: dict[str, Any]) -> Path:
        path = self.directory / f"step-{step:08d}.pt"
        with atomic_path(path) as tmp:
            torch.save({**state, "fingerprint": self.fingerprint, "step": step}, tmp)
        # Checkpoints of later steps belong to a timeline this run did not resume (damaged or foreign ones).
        paths = self.paths()
        newer = [p for p in paths if p.name > path.name]
        for old in newer + paths[len(newer) + KEEP :]:
            old.unlink(missing_ok=True)
        log.info("checkpoint at step %d written to %s", step, path)
        return path

    def load(self) -> dict[str, Any] | None:
        """The newest intact checkpoint of this exact run, else None (start from step 0)."""
        paths = self.paths()
        for number, path in enumerate(paths):
            try:
                # weights_only: checkpoints hold tensors and plain Python values only, so nothing in them can run code.
                state = torch.load(path, map_location="cpu", weights_only=True)
                problem = None if state.get("fingerprint") == self.fingerprint else "written for other settings or inputs"
            except Exception as error:  # noqa: BLE001 - whatever a damaged file raises, the run goes on without it
                reason = str(error).split(". ")[0].splitlines()[0] if str(error).strip() else type(error).__name__
                problem = f"damaged ({reason})"
            if problem is None:
                log.info("resuming from the checkpoint at step %d (%s)", state["step"], path)
                return state
            fallback = f"falling back to {paths[number + 1]}" if number + 1 < len(paths) else "starting from step 0"
            log.warning("checkpoint %s is %s; %s", path, problem, fallback)
        return None


def rng_states() -> dict:
    # numpy's key as a list, not an array, so that the checkpoint loads with torch.load(weights_only=True).
    name, key, *position = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "numpy": (name, key.tolist(), *position), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    name, key, *position = states["numpy"]
    np.random.set_state((name, np.array(key, dtype=np.uint32), *position))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def accumulate(
    module: torch.nn.Module,
    micro_batches: Sequence,
    loss_of: Callable[[torch.nn.Module, Any], torch.Tensor],
    context: distributed.Context,
    autocast: torch.autocast,
) -> None:
    """Forward and backward every micro-batch of a step; `loss_of` returns what to back-propagate.

    DDP all-reduces gradients in the backward of the last micro-batch only: the others run under no_sync, whose
    forward is what tells DDP not to reduce."""
    for number, micro_batch in enumerate(micro_batches):
        last = number == len(micro_batches) - 1
        with nullcontext() if last or not context.distributed else module.no_sync(), autocast:
            loss = loss_of(module, micro_batch)
        loss.backward()


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


def progress(total: int, initial: int, desc: str, context: distributed.Context) -> tqdm:
    """One bar on the main rank, written to the rule's log when logging goes to one (else stderr)."""
    stream = next(
        (h.stream for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)), sys.stderr
    )
    return tqdm(total=total, initial=initial, desc=desc, unit="step", file=stream, mininterval=10,
                disable=not context.is_main)  # fmt: skip


def save_model(output_dir: str | Path, write: Callable[[Path], None]) -> None:
    """`write(folder)` into a staging folder beside `output_dir`, moved into place only once complete."""
    output = Path(output_dir)
    staging = output.with_name(f".{output.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    write(staging)
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)


def worker_main(train: Callable[[str], None], argv: Sequence[str]) -> None:
    """torchrun worker: `python -m cornbert.<module> job.json [rule.log [threads]]`.

    Rank 0 appends to the rule's log (the launcher wrote its start), the others report warnings to stderr. The
    job's threads are divided among its ranks, which share the node's cores."""
    job_path, log_path, threads = (*argv, None, None)[:3]
    rank, world_size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path and rank == 0:
        handlers.append(logging.FileHandler(log_path, mode="a"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"%(asctime)s %(levelname)s %(name)s [rank {rank}]: %(message)s",
        handlers=handlers,
        force=True,
    )
    torch.set_num_threads(max(1, int(threads or 1) // world_size))
    train(job_path)
