"""The one error type for bad user input: it always names the file and the problem."""

from pathlib import Path


class InputError(Exception):
    """Raised for input a user must fix; the message reads '<file>: <problem>'."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
