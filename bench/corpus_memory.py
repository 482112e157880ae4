"""Pretraining memory as the corpus grows: the token store (rule tokenize_corpus + streaming pretrain_model) against
the code it replaced, which read and tokenised the whole corpus into Python lists at the start of every job.

One contender per process (started by bench/run.py via run_isolated). Peak RSS is the process's VmHWM, not its
ru_maxrss: Linux carries the pre-exec maximum (the forked copy of the parent, here the ~1 GB bench driver) into
ru_maxrss across exec, so every child would report at least the parent's size.
- `tokenize`: cornbert.token_store.write_token_store, the code of rule tokenize_corpus.
- `pretrain_new`: cornbert.pretrain.pretrain on that store, a few steps.
- `pretrain_old`: pretrain.py as of commit OLD_COMMIT (the last one that tokenised in memory), loaded from git, on
  the corpus text file; everything it imports is today's code.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import machine

OLD_COMMIT = "7f17441"
HELD_OUT = 50
MOTIFS = [b"TATAAATA", b"CACGTGAC", b"GCCGCCGC", b"AAGGTCAA", b"TGACGTCA", b"CCAATCCA"]


def write_corpus(path: Path, promoters: int, length: int = 1000, seed: int = 0, chunk: int = 50_000) -> None:
    """Random DNA promoters, one per line, each with two of MOTIFS at random positions (BPE has pairs to merge)."""
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b"ACGT", np.uint8)
    motifs = np.array([np.frombuffer(m, np.uint8) for m in MOTIFS])  # [motifs, 8]
    with open(path, "wb") as out:
        for start in range(0, promoters, chunk):
            rows = min(chunk, promoters - start)
            lines = np.empty((rows, length + 1), np.uint8)  # [rows, bases + newline]
            lines[:, :length] = alphabet[rng.integers(0, 4, (rows, length))]
            lines[:, length] = ord("\n")
            for _ in range(2):
                where = rng.integers(0, length - motifs.shape[1], rows)[:, None] + np.arange(motifs.shape[1])
                lines[np.arange(rows)[:, None], where] = motifs[rng.integers(0, len(motifs), rows)]
            lines.tofile(out)


def _settings(steps: int, promoters: int) -> dict[str, Any]:
    from dataclasses import asdict

    from cornbert.pretrain import PretrainSettings

    # About HELD_OUT held-out promoters whatever the corpus size: the final evaluation reads every one of them,
    # and it is not what is measured.
    return asdict(PretrainSettings(max_steps=steps, batch_size=16, micro_batch_size=16,
                                   eval_fraction=HELD_OUT / promoters, eval_steps=10**6, checkpoint_steps=10**6,
                                   warmup_steps=1))  # fmt: skip


def _timed_pretrain(module, data: str, tokenizer_dir: str, workdir: str, steps: int, promoters: int) -> dict[str, Any]:
    """Run `module.pretrain` and read when each optimizer step ended from its scheduler (as bench/training.py)."""
    stamps: list[float] = []
    real_schedule = module.get_linear_schedule_with_warmup

    def timed_schedule(*args, **kwargs):
        scheduler = real_schedule(*args, **kwargs)
        step = scheduler.step

        def stamped_step(*a, **k):
            stamps.append(time.perf_counter())
            return step(*a, **k)

        scheduler.step = stamped_step
        return scheduler

    module.get_linear_schedule_with_warmup = timed_schedule
    out = Path(workdir)
    start = time.perf_counter()
    module.pretrain(data, tokenizer_dir, str(out / "model"), str(out / "metrics.tsv"), str(out / "checkpoints"),
                    _settings(steps, promoters), {"preset": "demo"})  # fmt: skip
    return {
        "peak_rss_mib": machine.vm_hwm_mib(),
        "wall_s": time.perf_counter() - start,
        "to_first_step_s": stamps[0] - start,  # reading (and, old, tokenising) the corpus + model + first step
        "step_s": machine.median([b - a for a, b in zip(stamps, stamps[1:])]),
    }


def tokenize(corpus: str, tokenizer_dir: str, output: str, threads: int) -> dict[str, Any]:
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    from cornbert.token_store import write_token_store

    start = time.perf_counter()
    header = write_token_store(corpus, tokenizer_dir, output)
    seconds = time.perf_counter() - start
    store_bytes = sum(f.stat().st_size for f in Path(output).iterdir())
    return {"peak_rss_mib": machine.vm_hwm_mib(), "s": seconds, "promoters": header["count"], "tokens": header["tokens"],
            "tokens_per_s": header["tokens"] / seconds, "store_mib": store_bytes / 2**20}  # fmt: skip


def pretrain_new(tokens: str, tokenizer_dir: str, workdir: str, steps: int, threads: int,
                 promoters: int) -> dict[str, Any]:  # fmt: skip
    import torch

    import cornbert.pretrain as module

    torch.set_num_threads(threads)
    return _timed_pretrain(module, tokens, tokenizer_dir, workdir, steps, promoters)


def pretrain_old(corpus: str, tokenizer_dir: str, workdir: str, steps: int, threads: int,
                 promoters: int) -> dict[str, Any]:  # fmt: skip
    import torch

    source = Path(workdir) / "pretrain_old.py"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(subprocess.run(["git", "show", f"{OLD_COMMIT}:workflow_scripts/cornbert/pretrain.py"],
                                      cwd=machine.REPO, check=True, capture_output=True).stdout)  # fmt: skip
    spec = importlib.util.spec_from_file_location("pretrain_old", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["pretrain_old"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    torch.set_num_threads(threads)
    return _timed_pretrain(module, corpus, tokenizer_dir, workdir, steps, promoters)


if __name__ == "__main__":
    machine.child_main({"tokenize": tokenize, "pretrain_new": pretrain_new, "pretrain_old": pretrain_old})
