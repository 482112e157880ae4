"""The one error type for bad user input, and file-system faults told the same way: the file, then the problem."""

import errno
import os
import tempfile
from pathlib import Path


class InputError(Exception):
    """Raised for input a user must fix; the message reads '<file>: <problem>'."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class SetupError(Exception):
    """Raised when this machine cannot run the job as it was asked to (GPUs granted that torch cannot use)."""


ADVICE = {
    errno.ENOSPC: "no space left on the device: free space there (df -h shows it) and rerun; the job kept nothing "
                  "half-written",
    errno.EDQUOT: "disk quota exceeded: free space within your quota (or write results elsewhere) and rerun",
    errno.EACCES: "permission denied: check the file's and its folder's owner and mode (ls -l)",
    errno.EPERM: "operation not permitted: check the file's and its folder's owner and mode (ls -l)",
    errno.EROFS: "the file system is read-only: run from a writable working directory",
    errno.EIO: "input/output error: the disk or network file system failed; check it and rerun",
    errno.ENOENT: "no such file or directory",
}


def describe_os_error(error: OSError, where: str = "") -> str:
    """One line for a file-system fault: the path (or `where` when the OS gave none), the problem, what to do."""
    path = error.filename or where or "a file of this job"
    advice = ADVICE.get(error.errno, error.strerror or str(error))
    if error.errno in (errno.ENOSPC, errno.EDQUOT) and str(path).startswith(tempfile.gettempdir() + os.sep):
        advice += f" (a temporary file: point TMPDIR at a larger disk than {tempfile.gettempdir()})"
    return f"{path}: {advice}"
