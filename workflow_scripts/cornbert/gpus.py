"""The GPUs a rule's job asked for, and on a workstation, which of the machine's GPUs it takes.

Torch-free, so that every rule's entry point (runtime.run_entry) can claim its GPUs before anything starts CUDA,
in environments without torch too.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from cornbert.errors import SetupError

log = logging.getLogger("cornbert")

WAIT_SECONDS = 1  # between looks for a free GPU while every one of the workstation is taken
_held: list[IO[str]] = []  # lock files held for the life of the job's process (and of the workers it starts)


def requested_gpus(resources: Mapping[str, Any]) -> tuple[int, str]:
    """The GPUs a rule's job asked for, and what asked: `gpu`, else the count in a `gres` naming GPUs (gpu:4,
    gpu:a100:4; a bare `gpu` is one), as the Slurm plugin reads them."""
    gpu = int(resources.get("gpu", 0) or 0)
    if gpu:
        return gpu, f"gpu={gpu}"
    gres = str(resources.get("gres", "") or "")
    for part in gres.split(","):
        fields = part.strip().split(":")
        if fields[0] == "gpu":
            return (int(fields[-1]) if len(fields) > 1 and fields[-1].isdigit() else 1), f"gres={gres}"
    return 0, "no gpu or gres"


def local_gpu_count() -> int:
    """NVIDIA GPUs of this machine, from the driver: CUDA is not initialised, so CUDA_VISIBLE_DEVICES can still act."""
    try:
        return len(list(Path("/proc/driver/nvidia/gpus").iterdir()))
    except OSError:
        return 0


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"cornbert-gpus-{os.environ.get('USER') or os.getuid()}"


def claim_local(count: int, available: int | None = None, lock_dir: Path | None = None) -> None:
    """On a workstation, give this job `count` GPUs no other job holds: lock one file per GPU and set
    CUDA_VISIBLE_DEVICES to them, waiting while too few are free. Snakemake's `--resources gpu=N` only bounds how
    many GPU jobs run at once; without this every job would land on cuda:0. A job whose GPUs a scheduler chose
    (CUDA_VISIBLE_DEVICES set, or any Slurm job) keeps them."""
    available = local_gpu_count() if available is None else available
    if not count or not available or "CUDA_VISIBLE_DEVICES" in os.environ or os.environ.get("SLURM_JOB_ID"):
        return
    if count > available:
        raise SetupError(f"this job asks for {count} GPUs, this machine has {available}: ask for at most {available}")
    lock_dir = lock_dir or default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        taken: list[tuple[int, IO[str]]] = []
        for index in range(available):
            lock = open(lock_dir / f"{index}.lock", "a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            taken.append((index, lock))
            if len(taken) == count:
                _held.extend(held for _, held in taken)
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(gpu) for gpu, _ in taken)
                log.info("took GPU(s) %s of this machine (locks in %s)", os.environ["CUDA_VISIBLE_DEVICES"], lock_dir)
                return
        for _, lock in taken:  # released while waiting, so that two waiting jobs cannot each hold half of a pair
            lock.close()
        if not waited:
            log.info("every GPU of this machine is taken by other jobs: waiting for %d (locks in %s)", count, lock_dir)
            waited = True
        time.sleep(WAIT_SECONDS)
