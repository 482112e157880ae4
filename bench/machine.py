"""What every benchmark section records: the machine, the load on it, wall time and peak memory.

Peak resident memory is per process (ru_maxrss never goes down), so sections that compare memory run each
contender in its own child process (`run_isolated`) and read the child's own maximum.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULT_MARKER = "BENCH_RESULT "


def _cpuinfo() -> dict[str, str] | None:
    """The first processor's fields in /proc/cpuinfo (None where there is none)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return None
    return fields


def cpu_model() -> str:
    return (_cpuinfo() or {}).get("model name") or platform.processor() or "unknown"


def cpu_id() -> str:
    """Family, model and stepping: virtual machines often report one model name for different processors, and
    another processor rounds differently (BENCHMARKS.md section 12)."""
    fields = _cpuinfo()
    if fields is None:
        return "unknown"
    return (f"{fields.get('vendor_id', '?')} family {fields.get('cpu family', '?')} model {fields.get('model', '?')} "
            f"stepping {fields.get('stepping', '?')}")  # fmt: skip


def total_ram_gib() -> float:
    try:
        import psutil

        return psutil.virtual_memory().total / 2**30
    except ImportError:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def machine() -> dict[str, Any]:
    """The machine a figure was measured on (the same keys for every section)."""
    import torch

    info = {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "cpu_id": cpu_id(),
        "torch_kernels": torch.backends.cpu.get_cpu_capability(),  # what ATEN_CPU_CAPABILITY would change
        "ram_gib": round(total_ram_gib(), 1),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return info


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mib() -> float:
    """Peak resident memory of this process since exec (its memory map's high-water mark).

    Not ru_maxrss: Linux carries the pre-exec maximum (the forked copy of the parent, e.g. the ~1 GB bench driver)
    into ru_maxrss across exec, so every child would report at least the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


@contextmanager
def stopwatch():
    """`with stopwatch() as elapsed: ...` then `elapsed()` gives the seconds the block took."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True)
class Isolated:
    result: dict[str, Any]
    peak_rss_mib: float  # of the child, as the kernel counted it
    wall_s: float


def run_isolated(script: Path, function: str, arguments: dict[str, Any]) -> Isolated:
    """Run `function(**arguments)` of bench script `script` in a fresh Python process.

    The child prints its result as one JSON line after RESULT_MARKER (see `child_main`); its stderr passes through.
    """
    command = [sys.executable, str(script), function, json.dumps(arguments)]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO / "workflow_scripts"), str(BENCH_DIR)])}
    start = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"{script.name} {function} failed with exit code {completed.returncode}")
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        raise RuntimeError(f"{script.name} {function} printed no result")
    payload = json.loads(lines[-1][len(RESULT_MARKER) :])
    return Isolated(result=payload["result"], peak_rss_mib=payload["peak_rss_mib"], wall_s=wall)


def child_main(functions: dict[str, Any]) -> None:
    """Entry of a child started by run_isolated: call the named function, print its result and peak RSS."""
    name, arguments = sys.argv[1], json.loads(sys.argv[2])
    result = functions[name](**arguments)
    print(RESULT_MARKER + json.dumps({"result": result, "peak_rss_mib": peak_rss_mib()}), flush=True)
