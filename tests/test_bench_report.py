"""bench/run.py section 5 reads a finished run (its elapsed time from the latest complete Snakemake log, its jobs'
costs from their benchmark files), and bench/report.py re-renders BENCHMARKS.md without losing what was written by
hand."""

from __future__ import annotations

import json
import shutil
import subprocess

import pandas as pd
import pytest
from conftest import REPO, load_bench_script


@pytest.fixture(scope="module")
def bench_run():
    return load_bench_script("run")


def test_elapsed_time_of_the_latest_complete_run(bench_run, demo_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(demo_run / ".snakemake" / "log", run / ".snakemake" / "log")
    name, elapsed = bench_run.completed_run_elapsed_s(run)
    text = (run / ".snakemake" / "log" / name).read_text()
    hours, minutes, seconds = text.rsplit("Elapsed time: ", 1)[1].split()[0].split(":")
    assert elapsed == pytest.approx(int(hours) * 3600 + int(minutes) * 60 + float(seconds))
    assert 0 < elapsed < 3600

    # A later run cut off mid-way (no "100% done") is not the run the jobs' benchmark files describe.
    (run / ".snakemake" / "log" / "2999-01-01T000000.000000.snakemake.log").write_text(
        "Building DAG of jobs...\n3 of 32 steps (9%) done\n"
    )
    assert bench_run.completed_run_elapsed_s(run) == (name, elapsed)

    shutil.rmtree(run / ".snakemake" / "log")
    (run / ".snakemake" / "log").mkdir()
    with pytest.raises(bench_run.Skipped, match="no complete Snakemake run"):
        bench_run.completed_run_elapsed_s(run)


def test_job_costs_add_up_from_the_benchmark_files(bench_run, demo_run, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_run, "FIGURES", tmp_path)
    monkeypatch.setattr(bench_run, "script_startup_s", lambda script: 1.0)  # the real one is timed below
    args = type("Args", (), {"run_dir": demo_run, "cores": 2})
    figures = bench_run.section_memory(args)

    files = sorted((demo_run / "benchmarks").glob("**/*.tsv"))
    cpu = sum(pd.read_csv(f, sep="\t")["cpu_time"].max() for f in files)
    assert len(figures["jobs"]) == len(files)
    assert figures["jobs_cpu_time_s"] == pytest.approx(cpu)
    assert figures["cpu_bound_s"] == pytest.approx(cpu / 2)
    assert figures["startup_s"] == len(files)  # every benchmarked rule runs a script of its name
    assert (tmp_path / "memory_per_job.png").stat().st_size > 0


def test_script_startup_runs_the_scripts_imports(bench_run, tmp_path):
    script = tmp_path / "job.py"
    script.write_text("import time\nfrom pathlib import Path\n\ntime.sleep(30)\n")  # only imports run: not the sleep
    assert 0 < bench_run.script_startup_s(script) < 10
    script.write_text("import no_such_module_here\n")
    with pytest.raises(subprocess.CalledProcessError):
        bench_run.script_startup_s(script)


def test_rendering_keeps_what_was_written_by_hand(bench_run, tmp_path):
    report = bench_run.report
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(REPO / "bench" / "results" / "memory.json", results / "memory.json")
    destination = tmp_path / "BENCHMARKS.md"
    destination.write_text("\n".join([
        "# CornBERT benchmarks", "", "## Summary", "", "| a stale row |", "",
        "## 5. An older title of the memory section", "", "| a stale table |", "", report.NOTES,
        "Why the figures above look as they do.", "",
        "## 10. A measurement made on a lent GPU", "", "Its figures, by hand.", "",
        "## 3b. Another hand-written section", "", "Between 3 and 5.",
    ]) + "\n")  # fmt: skip
    report.write(results, destination, ["memory"])
    text = destination.read_text()

    figures = json.loads((results / "memory.json").read_text())["figures"]
    assert "stale" not in text
    assert f"| whole demo DAG on {figures['cores']} cores (s) | {figures['elapsed_s']:,.0f} |" in text
    titles = [line for line in text.splitlines() if line.startswith("## ")]
    assert titles == ["## Summary", "## 3b. Another hand-written section", f"## {report.TITLES['memory']}",
                      "## 10. A measurement made on a lent GPU"]  # fmt: skip
    memory = text.split(f"## {report.TITLES['memory']}")[1].split("## 10.")[0]
    assert memory.index("| rule | job |") < memory.index(report.NOTES) < memory.index("Why the figures above")
    assert "Its figures, by hand." in text and "Between 3 and 5." in text

    report.write(results, destination, ["memory"])  # rendering again changes nothing
    assert destination.read_text() == text
