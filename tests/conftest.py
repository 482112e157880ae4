"""Fixtures shared by the test suite: the repository paths and one real run of the demo DAG."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = str(VENV_BIN / "snakemake")


def load_bench_script(name: str):
    """A script of bench/ as a module (bench/ is not a package: its scripts are run by path)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_snakemake(workdir: Path, *args: str, configfile: Path | None = None, check: bool = True,
                  timeout: int = 1800, snakefile: Path = REPO / "Snakefile") -> subprocess.CompletedProcess:
    """Run the repository's workflow (or another checkout's `snakefile`) for real in `workdir` (outputs land there,
    not in the repo)."""
    command = [
        SNAKEMAKE,
        "--snakefile", str(snakefile),
        "--directory", str(workdir),
        "--configfile", str(configfile or REPO / "config" / "config.yaml"),
        *args,
    ]
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode})\n"
            f"--- stdout ---\n{result.stdout[-5000:]}\n--- stderr ---\n{result.stderr[-10000:]}"
        )
    return result


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Working directory of a finished run of the whole demo DAG (as `make demo` runs it).

    Set CORNBERT_DEMO_DIR to the directory of an earlier finished run to skip the run while iterating locally.
    """
    reuse = os.environ.get("CORNBERT_DEMO_DIR")
    if reuse:
        return Path(reuse)
    workdir = tmp_path_factory.mktemp("demo")
    run_snakemake(workdir, "--cores", "2")
    return workdir


def damage_checkpoints(run_dir: Path, reference_dir: Path, names: list[str]) -> Path:
    """Cut the checkpoints `names` of a stopped run to 8 bytes (a node dying mid-write); `reference_dir` gets the
    others intact, for the undamaged resume the damaged one must equal. Returns the damaged run's checkpoint folder."""
    checkpoints = run_dir / "checkpoints"
    shutil.copytree(checkpoints, reference_dir / "checkpoints")
    for name in names:
        with open(checkpoints / name, "r+b") as handle:
            handle.truncate(8)
        (reference_dir / "checkpoints" / name).unlink()
    return checkpoints


def assert_fallback_warnings(records: list[logging.LogRecord], checkpoints: Path, damaged: list[str],
                             previous: str) -> None:
    """One warning per damaged checkpoint, naming it, and the last says where the run went on from."""
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING and r.name.startswith("cornbert")]
    assert len(warnings) == len(damaged)
    for name, warning in zip(damaged, warnings):
        assert warning.startswith(f"checkpoint {checkpoints / name} is damaged (PytorchStreamReader failed reading zip")
    fallback = f"falling back to {checkpoints / previous}" if len(damaged) == 1 else "starting from step 0"
    assert warnings[-1].endswith(f"); {fallback}")
