"""Data-parallel training over several processes (torchrun + DDP), shared by pretraining and fine-tuning.

A training rule calls `run_job`: one process per GPU its job asked for (`job_processes`), through
`launch_job(module, job, nprocs, workdir)`, which writes the job as JSON and, through
`launch(module, args, nprocs)`, re-runs `python -m <module> <args>` under
torchrun; inside, `setup()` joins the process group (nccl on GPUs, gloo on CPUs). With one process every helper
here degrades to a no-op, so training code has one path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from cornbert.errors import SetupError
from cornbert.gpus import requested_gpus

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
    check_granted_gpus_usable()  # before the workers, which would each fail with a traceback
    log.info("launching %d processes: %s", nprocs, " ".join(command))
    subprocess.run(command, check=True)


def job_processes(resources: Mapping[str, Any]) -> int:
    """Training processes of a rule's job: one per GPU it asked for (`gpu` or `gres`), checked against the GPUs
    torch sees, so that a job never trains on fewer GPUs than it holds without saying so. Without CUDA, as many
    CPU processes (gloo): how the tests run the multi-GPU path."""
    count, source = requested_gpus(resources)
    if count <= 1 or not torch.cuda.is_available():
        return max(1, count)
    seen = torch.cuda.device_count()
    if seen < count:
        raise SetupError(
            f"this job asked for {count} GPUs ({source}) but torch sees {seen} "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}): ask for the GPUs the "
            "scheduler gives (docs/hpc.md, 'More GPUs')"
        )
    if seen > count:
        log.warning("this job asked for %d GPUs (%s) and sees %d: training on the first %d", count, source, seen, count)
    return count


def run_job(module: str, job: dict, in_process: Callable[[], None], resources: Mapping[str, Any], threads: int,
            workdir: str | Path, log_path: str) -> None:  # fmt: skip
    """A training rule's job: `in_process()` on this process's device, or `module` on one process per GPU granted
    (torchrun), each with its share of the job's threads."""
    processes = job_processes(resources)
    if processes == 1:
        torch.set_num_threads(max(1, threads))
        in_process()
        return
    launch_job(module, job, processes, workdir, [log_path, str(threads)])


def launch_job(module: str, job: dict, nprocs: int, workdir: str | Path, extra_args: Sequence[str] = ()) -> None:
    """Run `module` on `nprocs` processes, each reading `job` from a JSON file in `workdir` (its first argument).

    The file lives only as long as the run.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=workdir) as job_file:
        json.dump(job, job_file)
        job_file.flush()
        launch(module, [job_file.name, *extra_args], nprocs)


def inference_device(device: str) -> str:
    """The device a loaded model runs on: `auto` is the GPU when torch sees one, else the CPU."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def setup(prefer_cuda: bool = True) -> Context:
    """Join the torchrun process group if there is one; pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = prefer_cuda and torch.cuda.is_available()
    if prefer_cuda and not use_cuda:
        check_granted_gpus_usable()
    if world_size == 1:
        return Context(0, 1, torch.device("cuda" if use_cuda else "cpu"))
    local_rank = int(os.environ["LOCAL_RANK"])
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    device = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    return Context(dist.get_rank(), world_size, device)


# Set where GPUs are stand-ins (the tests' Slurm cluster): a granted GPU that torch cannot use then means the CPU.
ALLOW_CPU = "CORNBERT_ALLOW_CPU_FOR_GPU_JOBS"


def granted_gpus() -> str | None:
    """What says this job was given GPUs (e.g. 'CUDA_VISIBLE_DEVICES=0,1'), or None."""
    for variable in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE"):
        value = os.environ.get(variable, "").strip()
        none = {"", "-1", "NoDevFiles"} | ({"0"} if variable == "SLURM_GPUS_ON_NODE" else set())
        if value not in none:
            return f"{variable}={value}"
    return None


def check_granted_gpus_usable() -> None:
    """Stop at once when the scheduler granted GPUs that torch cannot use: a job that quietly trains on the CPU
    takes a GPU job's walltime many times over, and is then retried."""
    granted = granted_gpus()
    if granted is None or os.environ.get(ALLOW_CPU):
        return
    if torch.version.cuda is None:
        cause = f"torch {torch.__version__} is a CPU-only build"
    else:
        driver = _nvidia_driver()
        cause = (f"torch {torch.__version__} is built for CUDA {torch.version.cuda}, which needs an NVIDIA driver of "
                 f"R580 or newer; this node's driver: {driver or 'none found'}")  # fmt: skip
    raise SetupError(
        f"this job was granted GPUs ({granted}) but torch sees none: {cause}. Use a torch build the node's driver "
        f"supports (envs/ml.yaml says how to pin one), or ask for no GPU; set {ALLOW_CPU}=1 to train on the CPU "
        "anyway (docs/hpc.md, 'A GPU job that sees no GPU')"
    )


def _nvidia_driver() -> str | None:
    try:
        first = Path("/proc/driver/nvidia/version").read_text().splitlines()[0]
    except OSError:
        return None
    match = re.search(r"Kernel Module\s+([\d.]+)", first)
    return match.group(1) if match else first.strip()


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
