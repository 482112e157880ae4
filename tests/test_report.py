"""The HTML report of a finished demo run: built by `snakemake --report`, with the evaluation and importance figures."""

from __future__ import annotations

import pytest

from conftest import run_snakemake

FIGURES = [
    "compare_mse_log.png",
    "compare_mae_tpm.png",
    "pred_vs_obs.png",
    "importance.png",
    "corpus_stats.png",
    "targets.png",
    "loss.png",
    "join.tsv",
]


@pytest.mark.slow
def test_report_of_the_demo_run(demo_run):
    report = demo_run / "results" / "report.html"
    run_snakemake(demo_run, "--report", str(report))
    html = report.read_text(errors="replace")
    assert len(html) > 100_000  # figures are embedded, not linked
    missing = [figure for figure in FIGURES if figure not in html]
    assert not missing, f"figures missing from the report: {missing}"
    for caption_phrase in ("divided by the worst model", "replaced by a random different sequence"):
        assert caption_phrase in html
