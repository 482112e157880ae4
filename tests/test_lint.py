"""The workflow stays clean under Snakemake's own linter, snakefmt and pyflakes-level checks."""

from __future__ import annotations

import subprocess

from conftest import REPO, SNAKEMAKE, VENV_BIN


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_snakemake_lint_is_clean():
    result = run(SNAKEMAKE, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def test_snakefmt_is_clean():
    result = run(str(VENV_BIN / "snakefmt"), "--check", "Snakefile", "rules")
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_has_no_unused_imports_or_undefined_names():
    result = run(str(VENV_BIN / "ruff"), "check", "--select", "F", "workflow_scripts", "tests", "bench", "tools")
    assert result.returncode == 0, result.stdout + result.stderr
