"""The training engine: one step loop serving every trainer (masked-LM pretraining, fine-tuning, the CNN).

A trainer supplies a `Task`: its model, optimizer and parameter-group schedule, how a step's batch is drawn, the
loss of a micro-batch, the validation loss and its outputs. `train(task, loop, context, checkpoints)` owns the rest,
in this order per step: the schedule (and re-wrapping for DDP when the trainable parameters change), the batch,
a dropout seed of (seed, step, rank), forward and backward of each micro-batch (gradients all-reduced on the last
only), the optimizer step, then evaluation, best-step keeping and early stopping, checkpoints, the progress bar,
and at the end the outputs and the removal of the checkpoints.

Determinism. Every random choice of a step comes from its step number: the batch from a per-epoch permutation of
(seed, epoch) (`step_rows`), dropout from (seed, step, rank). So a run resumed at step k continues exactly as an
uninterrupted one, and the rows a step sees do not depend on how it is split into micro-batches or processes.

Checkpoint contract. A checkpoint holds the weights, the optimizer, the losses so far and the best step, plus the
run's fingerprint. Each is written atomically and the two newest are kept, so a file cut short by a dying node or
a full disk costs one checkpoint interval, never the run: loading skips a damaged or foreign file with one WARNING
naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from cornbert import distributed
from cornbert.lamb import Lamb
from cornbert.runtime import atomic_path

log = logging.getLogger("cornbert.training")

KEEP = 2  # checkpoints kept: the newest may be damaged, the one before it is the fallback
FORMAT = 2  # of the checkpoint contents; checkpoints of another format are not resumed


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
        self.fingerprint = f"{fingerprint}/format {FORMAT}"

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
                foreign = state.get("fingerprint") != self.fingerprint
                problem = "written for other settings, inputs or format" if foreign else None
            except Exception as error:  # noqa: BLE001 - whatever a damaged file raises, the run goes on without it
                reason = str(error).split(". ")[0].splitlines()[0] if str(error).strip() else type(error).__name__
                problem = f"damaged ({reason})"
            if problem is None:
                log.info("resuming from the checkpoint at step %d (%s)", state["step"], path)
                return state
            fallback = f"falling back to {paths[number + 1]}" if number + 1 < len(paths) else "starting from step 0"
            log.warning("checkpoint %s is %s; %s", path, problem, fallback)
        return None

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass(frozen=True)
class Loop:
    """How the engine runs a task."""

    steps: int
    seed: int
    eval_every: int
    checkpoint_every: int = 0  # 0: no checkpoints (short fits)
    keep_best: bool = False  # end with the weights of the evaluation with the lowest validation loss
    patience: int = 0  # stop after this many evaluations without a new best (0: never)
    bf16: bool = False  # autocast forward passes to bfloat16
    compile: bool = False  # torch.compile the (wrapped) module
    desc: str = "steps"  # of the progress bar


class Task(Protocol):
    """What a trainer supplies to the engine."""

    model: nn.Module  # checkpointed, and kept at its best step
    module: nn.Module  # what a micro-batch is fed to (the model, or a loss around it); DDP wraps it
    optimizer: torch.optim.Optimizer

    def schedule(self, step: int) -> tuple[str, ...]:
        """Set each parameter group's learning rate (and requires_grad) for `step`; the trainable groups' names."""

    def batch(self, step: int) -> tuple[Sequence[Any], int]:
        """This rank's micro-batches of `step`, and the number of loss terms of the whole step (every rank)."""

    def loss(self, module: nn.Module, micro_batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The micro-batch's summed training loss (back-propagated) and its summed loss as reported (e.g. on the
        log(TPM+1) scale when the training targets are standardised)."""

    def evaluate(self) -> float:
        """The validation loss; every rank calls it (each may score a share)."""

    def write_outputs(self, result: Result) -> None:
        """On the main rank after training, the model at its final (or best) weights: save what the run makes."""


@dataclass
class Result:
    history: list[dict[str, float]]  # per step: step, train_loss, terms, validation_loss (NaN between evaluations)
    best_step: int
    best_loss: float

    def evaluations(self) -> list[dict[str, float]]:
        """Per evaluation: its step, the training loss since the previous evaluation (mean per term) and the
        validation loss."""
        rows, first = [], 0
        for end, row in enumerate(self.history, start=1):
            if not math.isnan(row["validation_loss"]):
                train = _mean_train_loss(self.history[first:end])
                rows.append({"step": row["step"], "train": train, "validation": row["validation_loss"]})
                first = end
        return rows


def _mean_train_loss(rows: list[dict[str, float]]) -> float:
    """The training loss per term over `rows` (steps of possibly different sizes)."""
    return sum(row["train_loss"] * row["terms"] for row in rows) / sum(row["terms"] for row in rows)


def train(task: Task, loop: Loop, context: distributed.Context, checkpoints: Checkpoints | None = None) -> Result:
    """Run `task` for `loop.steps` optimizer steps (resuming from the newest intact checkpoint), then write its
    outputs; returns the losses."""
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"loss": math.inf, "step": 0, "state": None}
    start = 0
    state = checkpoints.load() if checkpoints else None
    if state is not None:
        task.model.load_state_dict(state["model"])
        task.optimizer.load_state_dict(state["optimizer"])
        history, best, start = state["history"], state["best"], state["step"]

    autocast = bf16_autocast(context.device, loop.bf16)
    bar = progress(loop.steps, start, loop.desc, context)
    wrapped, trainable = task.module, None
    # Each step's reported loss stays on the device until it is written out (evaluation, checkpoint): reading it
    # every step would make the host wait for the GPU instead of preparing the next batch.
    pending: list[torch.Tensor] = []
    for step in range(start, loop.steps):
        if (now := task.schedule(step)) != trainable:
            trainable = now
            # DDP reduces the parameters that are trainable when it wraps; others would drift apart between ranks.
            wrapped = distributed.wrap(task.module, context)
            wrapped = torch.compile(wrapped) if loop.compile else wrapped
            distributed.assert_ranks_in_sync(task.model, context, f"at step {step}")
            log.info("step %d: trainable %s", step, ", ".join(trainable))
        task.module.train()
        micro_batches, terms = task.batch(step)
        torch.manual_seed(derived_seed(loop.seed, step, 1 + context.rank))  # dropout: differs between ranks
        reported = torch.zeros((), dtype=torch.float64, device=context.device)
        for number, micro_batch in enumerate(micro_batches):
            # DDP all-reduces in the backward of the last micro-batch; no_sync's forward tells it not to before.
            last = number == len(micro_batches) - 1
            with nullcontext() if last or not context.distributed else wrapped.no_sync(), autocast:
                loss, report = task.loss(wrapped, micro_batch)
            # DDP averages gradients over ranks; scaled by world_size, the step's gradient is that of its mean loss.
            (loss * context.world_size / terms).backward()
            reported += report.detach().double()
        task.optimizer.step()
        task.optimizer.zero_grad(set_to_none=True)
        bar.update()

        done = step + 1
        history.append({"step": done, "train_loss": math.nan, "terms": terms, "validation_loss": math.nan})
        pending.append(reported)
        evaluating = done % loop.eval_every == 0 or done == loop.steps
        checkpointing = bool(checkpoints and loop.checkpoint_every) and done % loop.checkpoint_every == 0
        checkpointing = checkpointing and done < loop.steps
        if evaluating or checkpointing:
            _settle(history, pending, context)
        if evaluating:
            loss = history[-1]["validation_loss"] = task.evaluate()
            previous = [i for i, row in enumerate(history[:-1]) if not math.isnan(row["validation_loss"])]
            train_loss = _mean_train_loss(history[previous[-1] + 1 if previous else 0 :])
            log.info("step %d/%d: train loss %.4f, validation loss %.4f", done, loop.steps, train_loss, loss)
            bar.set_postfix(train=f"{train_loss:.3f}", validation=f"{loss:.3f}", refresh=False)
            if loss < best["loss"]:
                weights = task.model.state_dict().items()
                kept = {k: v.detach().cpu().clone() for k, v in weights} if loop.keep_best else None
                best = {"loss": loss, "step": done, "state": kept}
            elif loop.patience and done - best["step"] >= loop.patience * loop.eval_every:
                log.info("step %d: no better validation loss in %d evaluations; stopping", done, loop.patience)
                break
        if checkpointing:
            if context.is_main:
                checkpoints.save(done, {"model": task.model.state_dict(), "optimizer": task.optimizer.state_dict(),
                                        "history": history, "best": best})  # fmt: skip
            distributed.barrier(context)
    bar.close()

    distributed.assert_ranks_in_sync(task.model, context, "at the end of training")
    if loop.keep_best and best["state"] is not None:
        task.model.load_state_dict(best["state"])
        log.info("keeping the weights of step %d (lowest validation loss %.4f)", best["step"], best["loss"])
    result = Result(history, best["step"], best["loss"])
    if context.is_main:
        task.write_outputs(result)
        if checkpoints:
            checkpoints.clear()  # only now: a run that fails writing its outputs resumes from them
    distributed.barrier(context)
    return result


def _settle(history: list[dict[str, float]], pending: list[torch.Tensor], context: distributed.Context) -> None:
    """Write the losses still on the device, summed over ranks, into the last len(pending) rows (one host
    synchronisation for all)."""
    if pending:
        sums = distributed.all_reduce_sum(torch.stack(pending), context).tolist()
        for row, total in zip(history[-len(pending) :], sums):
            row["train_loss"] = total / row["terms"]
        pending.clear()


def step_rows(step: int, batch_size: int, n: int, seed: int) -> np.ndarray:
    """The training rows (of n) of an optimizer step: consecutive slices of a fresh permutation per epoch."""
    positions = np.arange(step * batch_size, (step + 1) * batch_size)
    return np.array([epoch_order(seed, p // n, n)[p % n] for p in positions], dtype=np.int64)


@lru_cache(maxsize=2)  # a step straddles at most two epochs; permuting 10 M promoters anew per step is slow
def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    permutation = np.random.default_rng(derived_seed(seed, epoch, 2)).permutation(n)
    permutation.flags.writeable = False
    return permutation


def derived_seed(seed: int, index: int, stream: int) -> int:
    """A seed of its own for each (index, stream): streams 1 dropout (index: step), 2 the batch order (epoch);
    trainers use others for their own draws (3, 4: the masks of pretraining)."""
    return int(np.random.SeedSequence([seed, index, stream]).generate_state(1)[0])



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
    log.info("rank %d of %d: %d torch thread(s) of the job's %s", rank, world_size, torch.get_num_threads(), threads)
    train(job_path)
