"""Data-parallel fine-tuning in two CPU processes (torchrun + gloo), across an unfreezing step."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import asdict

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from cornbert import distributed, gpus
from cornbert.distributed import ALLOW_CPU
from cornbert.finetune import train
from finetune_world import make_job, make_world, small_settings


@pytest.mark.slow
def test_two_processes_match_one_and_stay_in_sync_across_unfreezing(tmp_path):
    # Without dropout, so that splitting a batch over processes (each drawing its own masks) changes nothing.
    world = make_world(tmp_path / "world", dropout=0.0)
    # Unfreezing at steps 2, 4 and 6 (the paper schedule scaled down): DDP is re-wrapped at each.
    settings = small_settings(max_steps=8, batch_size=8, micro_batch_size=2, head_dropout=0.0)
    single = tmp_path / "single"
    torch.set_num_threads(1)
    train(make_job(world, single, settings), distributed.setup(prefer_cuda=False))

    parallel = tmp_path / "parallel"
    log_file = tmp_path / "ddp.log"
    # The same call as the finetune_model rule makes when its job is granted two GPUs.
    distributed.launch_job("cornbert.finetune", asdict(make_job(world, parallel, settings)), 2, tmp_path,
                           [str(log_file), "1"])

    log = log_file.read_text()
    for step in (0, 2, 4, 6):
        assert f"ranks' weights identical at step {step} (2 processes)" in log
    assert "ranks' weights identical at the end of training (2 processes)" in log
    # Gradients averaged over the two halves of each batch = the gradient of the whole batch.
    single_weights = load_file(single / "model" / "model.safetensors")
    parallel_weights = load_file(parallel / "model" / "model.safetensors")
    # LAMB/Adam divide by sqrt(v) + 1e-8: where a gradient is ~1e-8, summation order alone flips an update's sign,
    # so compare whole tensors by relative distance rather than element by element.
    for name, value in single_weights.items():
        distance = (parallel_weights[name] - value).norm() / value.norm().clamp(min=1e-6)
        print(name, float(distance))
        assert distance < 1e-3, name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _drifting_worker(rank: int, port: int, rewrap: bool, results) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    context = distributed.Context(rank, 2, torch.device("cpu"))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
    model[0].requires_grad_(False)
    wrapped = distributed.wrap(model, context)
    model[0].requires_grad_(True)  # unfreeze after wrapping
    if rewrap:
        wrapped = distributed.wrap(model, context)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.manual_seed(rank)  # each rank its own data
    wrapped(torch.randn(8, 4)).pow(2).mean().backward()
    optimizer.step()
    try:
        distributed.assert_ranks_in_sync(model, context, "after one step")
        results[rank] = "in sync"
    except RuntimeError:
        results[rank] = "drifted"
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("rewrap, expected", [(False, "drifted"), (True, "in sync")])
def test_unfreezing_without_rewrapping_drifts_and_the_check_catches_it(rewrap, expected):
    results = mp.Manager().dict()
    mp.spawn(_drifting_worker, args=(_free_port(), rewrap, results), nprocs=2, join=True)
    assert dict(results) == {0: expected, 1: expected}


SETUP_UNDER_A_RULE = (
    "from cornbert import distributed; from cornbert.runtime import configure_logging, fail_cleanly\n"
    "configure_logging(None)\n"
    "with fail_cleanly():\n"
    "    print('device', distributed.setup().device)"
)


@pytest.mark.parametrize("granted, allowed, expected", [
    ({}, False, "device cpu"),  # a local run granted nothing: the CPU, as on a laptop
    ({"CUDA_VISIBLE_DEVICES": "0"}, False, "this job was granted GPUs (CUDA_VISIBLE_DEVICES=0) but torch sees none"),
    ({"SLURM_JOB_GPUS": "2,3"}, False, "this job was granted GPUs (SLURM_JOB_GPUS=2,3) but torch sees none"),
    ({"CUDA_VISIBLE_DEVICES": "0"}, True, "device cpu"),  # stand-in GPUs, as on the tests' Slurm cluster
])  # fmt: skip
def test_a_job_granted_gpus_that_torch_cannot_use_stops_at_once_saying_why(granted, allowed, expected):
    """The device choice every training rule makes (distributed.setup under the rules' fail_cleanly), in a fresh
    process with the scheduler's variables of a GPU job on this CPU-only machine."""
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", ALLOW_CPU)}
    env |= granted | ({ALLOW_CPU: "1"} if allowed else {})
    result = subprocess.run([sys.executable, "-c", SETUP_UNDER_A_RULE], env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert expected in output, output
    assert "Traceback" not in output
    if "granted" in expected:
        assert result.returncode == 1
        assert "is a CPU-only build" in output and f"set {ALLOW_CPU}=1" in output  # the cause and the way out
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("resources, expected", [
    ({"gpu": 1}, (1, "gpu=1")),
    ({"gpu": 0, "gres": "gpu:4"}, (4, "gres=gpu:4")),  # the docs' alternative to `gpu`
    ({"gpu": 0, "gres": "gpu:a100:2"}, (2, "gres=gpu:a100:2")),
    ({"gres": "tmp:10G,gpu"}, (1, "gres=tmp:10G,gpu")),
    ({"gpu": 0}, (0, "no gpu or gres")),
])  # fmt: skip
def test_the_gpus_a_job_asked_for_come_from_gpu_or_gres(resources, expected):
    assert gpus.requested_gpus(resources) == expected


def test_a_job_that_sees_fewer_gpus_than_it_asked_for_stops(monkeypatch):
    """Torch's view of a node with one visible GPU (this machine has none): four asked, one seen, so the job stops
    instead of training on a quarter of what it holds."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(distributed.SetupError, match=r"asked for 4 GPUs \(gres=gpu:4\) but torch sees 1"):
        distributed.job_processes({"gpu": 0, "gres": "gpu:4"})
    assert distributed.job_processes({"gpu": 1}) == 1


@pytest.mark.slow
def test_a_training_job_granted_two_gpus_by_gres_trains_on_two_ranks_with_the_threads_divided(tmp_path):
    """The call the finetune_model rule makes (distributed.run_job with the job's resources and threads): a `gres`
    of two GPUs starts two ranks (gloo on this CPU), each with half of the job's 2 threads."""
    world = make_world(tmp_path / "world", dropout=0.0)
    job = make_job(world, tmp_path / "run", small_settings(max_steps=2, batch_size=4, micro_batch_size=2))
    log_file = tmp_path / "rule.log"
    distributed.run_job("cornbert.finetune", asdict(job), lambda: pytest.fail("trained in one process"),
                        {"gpu": 0, "gres": "gpu:2"}, 2, tmp_path, str(log_file))  # fmt: skip
    log = log_file.read_text()
    assert "rank 0 of 2: 1 torch thread(s) of the job's 2" in log, log
    assert "ranks' weights identical at the end of training (2 processes)" in log
    assert (tmp_path / "run" / "model" / "model.safetensors").exists()


CLAIM = """
import logging, os, sys, time
from pathlib import Path
from cornbert.gpus import claim_local
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
claim_local(int(sys.argv[1]), available=2, lock_dir=Path(sys.argv[2]))
print("visible", os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
time.sleep(float(sys.argv[3]))
"""


def test_concurrent_local_gpu_jobs_take_different_gpus_and_a_third_waits(tmp_path):
    """Three jobs of a 2-GPU workstation (the count given, as the driver would report it): the first two take GPU 0
    and GPU 1, the third waits until one of them ends and then takes its GPU."""
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}

    def job(hold_s: float) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", CLAIM, "1", str(tmp_path), str(hold_s)], env=env,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip

    first = job(3)
    assert first.stdout.readline().strip() == "took GPU(s) 0 of this machine (locks in %s)" % tmp_path
    second = job(3)
    assert "took GPU(s) 1" in second.stdout.readline()
    third = job(0)
    assert "every GPU of this machine is taken by other jobs: waiting for 1" in third.stdout.readline()
    output = third.communicate(timeout=60)[0]
    assert "visible 0" in output or "visible 1" in output, output
    for process in (first, second):
        process.communicate(timeout=60)
