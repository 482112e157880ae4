"""Data-parallel training over several processes (torchrun + DDP), shared by pretraining and fine-tuning.

A rule given several GPUs calls `launch_job(module, job, nprocs, workdir)`, which writes the job as JSON and, through
`launch(module, args, nprocs)`, re-runs `python -m <module> <args>` under
torchrun; inside, `setup()` joins the process group (nccl on GPUs, gloo on CPUs). With one process every helper
here degrades to a no-op, so training code has one path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

log = logging.getLogger("cornbert")


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launch(module: str, args: Sequence[str], nprocs: int) -> None:
    """Run `python -m module *args` in `nprocs` processes on this node via torchrun; raise if any fails."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nprocs}",
        "-m", module, *args,
    ]  # fmt: skip
    log.info("launching %d processes: %s", nprocs, " ".join(command))
    subprocess.run(command, check=True)


def launch_job(module: str, job: dict, nprocs: int, workdir: str | Path, extra_args: Sequence[str] = ()) -> None:
    """Run `module` on `nprocs` processes, each reading `job` from a JSON file in `workdir` (its first argument).

    The file lives only as long as the run.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=workdir) as job_file:
        json.dump(job, job_file)
        job_file.flush()
        launch(module, [job_file.name, *extra_args], nprocs)


def setup(prefer_cuda: bool = True) -> Context:
    """Join the torchrun process group if there is one; pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = prefer_cuda and torch.cuda.is_available()
    if world_size == 1:
        return Context(0, 1, torch.device("cuda" if use_cuda else "cpu"))
    local_rank = int(os.environ["LOCAL_RANK"])
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    device = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    return Context(dist.get_rank(), world_size, device)


def teardown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, context: Context) -> nn.Module:
    """Wrap for gradient averaging. DDP registers only the parameters trainable NOW: after (un)freezing, call again
    with the bare module, otherwise the newly trainable parameters get local gradients and ranks drift apart."""
    if not context.distributed:
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def all_reduce_sum(values: torch.Tensor, context: Context) -> torch.Tensor:
    if context.distributed:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def broadcast_object(value, context: Context):
    """Rank 0's value on every rank (e.g. a checkpoint step)."""
    if not context.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of all parameters, bit for bit."""
    digest = hashlib.sha256()
    for name, param in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(param.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def assert_ranks_in_sync(model: nn.Module, context: Context, where: str) -> None:
    """Raise if any rank's weights differ from rank 0's (bit for bit); log the check on rank 0."""
    if not context.distributed:
        return
    digests: list[str | None] = [None] * context.world_size
    dist.all_gather_object(digests, weights_digest(model))
    if len(set(digests)) != 1:
        raise RuntimeError(f"ranks' weights differ {where}: {digests}")
    if context.is_main:
        log.info("ranks' weights identical %s (%d processes)", where, context.world_size)
