"""bench/gpu_check.sh, the GPU check run on lent GPU machines, in its CPU mode: the same code paths (both
pretraining stages, fine-tuning across unfreezing steps, the DDP launcher on two CPU processes, predictions of the
reloaded model against the in-memory one, importance) with a tiny model, so that the script keeps working."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow  # about 1 minute on 2 idle cores, 2 minutes when shared
def test_gpu_check_runs_every_path_on_cpu(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    figures = json.loads((tmp_path / "gpu_check.json").read_text())
    assert figures["device"] == "cpu" and figures["ddp_processes"] == 2
    assert len(figures["finetune_phases"]) >= 2  # crossed an unfreezing step
    assert figures["reloaded_vs_in_memory_max_abs_diff"] <= 1e-4
    assert figures["tokens_per_s"] > 0 and figures["importance_sequences_per_s"] > 0
    assert "gpu_check" in (tmp_path / "gpu_check.log").read_text()
