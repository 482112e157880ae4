"""What every Snakemake entry point shares: logging to the rule's log, seeding, clean failure, atomic writes."""

from __future__ import annotations

import logging
import os
import random
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from cornbert.errors import InputError, SetupError, describe_os_error
from cornbert.gpus import claim_local, requested_gpus

log = logging.getLogger("cornbert")


def configure_logging(log_path: str | None = None) -> None:
    """Log to the rule's log file and to stderr, so errors show both in the terminal and in logs/."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


@contextmanager
def fail_cleanly(outputs: Iterable[str] = ()) -> Iterator[None]:
    """Bad input and file-system faults (full disk, permissions, read errors) end the process with one line naming
    the file, in the log and on the console, instead of a traceback. `outputs` name the files being written when
    the OS does not say which one failed."""
    try:
        yield
    except (InputError, SetupError) as error:
        log.error("%s", error)
        sys.exit(1)
    except OSError as error:
        log.error("%s", describe_os_error(error, ", ".join(outputs)))
        sys.exit(1)


def run_entry(main: Callable[[Any], None], smk: Any) -> None:
    """Run a rule's entry point under fail_cleanly, on GPUs of its own where it asked for some (cornbert.gpus)."""
    configure_logging(smk.log[0] if len(smk.log) else None)
    with fail_cleanly(list(smk.output)):
        claim_local(requested_gpus(smk.resources)[0])
        main(smk)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` and move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    # mkstemp creates the file owner-only; results should be readable like any file the user writes.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as error:
        error.filename = error.filename or str(path)  # a failed write() names no file; this is the one it was
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
