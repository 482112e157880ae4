"""LAMB optimizer step alone: today's torch._foreach_* version against the per-tensor loop it replaced (b9c6753^).

    .venv/bin/python bench/lamb_step.py [--preset paper] [--repeats 20] [--threads 2]

Both optimizers update copies of the same model (cornbert.model.roberta_config, vocabulary 5,000) with the same
random gradients; their steps alternate, so load on a shared machine hits both alike. Prints the median step time
of each and their ratio; the old code is loaded from git.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import torch

import machine



def old_lamb_class(workdir: Path):
    source = workdir / "lamb_old.py"
    source.write_bytes(subprocess.run(["git", "show", "b9c6753^:workflow_scripts/cornbert/lamb.py"],
                                      cwd=machine.REPO, check=True, capture_output=True).stdout)  # fmt: skip
    spec = importlib.util.spec_from_file_location("lamb_old", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["lamb_old"] = module
    spec.loader.exec_module(module)
    return module.Lamb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper", choices=["demo", "paper"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cornbert-bench"))
    args = parser.parse_args()
    sys.path.insert(0, str(machine.REPO / "workflow_scripts"))
    from transformers import RobertaForMaskedLM

    from cornbert.lamb import Lamb
    from cornbert.model import roberta_config

    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = RobertaForMaskedLM(roberta_config(args.preset, {}, 5005, 256))
    models = {"foreach": model, "per_tensor": copy.deepcopy(model)}
    for p, twin in zip(models["foreach"].parameters(), models["per_tensor"].parameters()):
        p.grad = torch.randn_like(p) * 1e-3
        twin.grad = p.grad.clone()
    groups = {name: [{"params": [p for p in m.parameters() if p.ndim > 1], "weight_decay": 0.01},
                     {"params": [p for p in m.parameters() if p.ndim <= 1], "weight_decay": 0.0}]
              for name, m in models.items()}  # fmt: skip
    optimizers = {"foreach": Lamb(groups["foreach"], lr=1e-4),
                  "per_tensor": old_lamb_class(args.workdir)(groups["per_tensor"], lr=1e-4)}  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in optimizers}
    for repeat in range(args.repeats + 1):
        for name, optimizer in optimizers.items():
            start = time.perf_counter()
            optimizer.step()
            if repeat:  # the first step allocates the moments
                times[name].append(time.perf_counter() - start)
    largest = max((a - b).abs().max().item() for a, b in zip(models["foreach"].parameters(),
                                                             models["per_tensor"].parameters()))  # fmt: skip
    medians = {name: machine.median(values) for name, values in times.items()}
    print({"preset": args.preset, "parameters": sum(p.numel() for p in model.parameters()),
           "tensors": len(list(model.parameters())), "threads": args.threads, "repeats": args.repeats,
           "load_average_1min": machine.machine()["load_average_1min"],
           "foreach_step_s": round(medians["foreach"], 4), "per_tensor_step_s": round(medians["per_tensor"], 4),
           "ratio_time": round(medians["foreach"] / medians["per_tensor"], 3),
           "max_abs_weight_difference": largest})  # fmt: skip


if __name__ == "__main__":
    main()
