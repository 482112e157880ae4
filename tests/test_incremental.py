"""Incremental reruns, as users rely on them: after a finished run, what does Snakemake plan when the config changes?

A copy of the finished demo run (outputs and .snakemake metadata) gets a changed config and a dry run (-n); the
planned jobs are read from its output. Snakemake 9 reruns a job when its params, code, input or software env
changed (rerun-triggers), so these tests pin down how config keys reach the rules' params and inputs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake

pytestmark = pytest.mark.slow

JOB_HEADER = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")
ML_UPSTREAM = {"extract_promoters", "build_pretraining_corpus", "train_tokenizer", "tokenize_corpus", "pretrain_model"}


def planned_jobs(workdir: Path, config: dict) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run with `config` plans in `workdir`."""
    configfile = workdir / "changed_config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, "--dry-run", "--cores", "1", configfile=configfile)
    jobs, rule = set(), None
    for line in result.stdout.splitlines():
        if header := JOB_HEADER.match(line):
            rule = header[1]
            jobs.add((rule, ""))
        elif (wildcards := WILDCARDS.match(line)) and rule is not None:
            jobs.discard((rule, ""))
            jobs.add((rule, wildcards[1]))
    return jobs


def rules_of(jobs: set[tuple[str, str]]) -> set[str]:
    return {rule for rule, _ in jobs}


@pytest.fixture()
def finished_run(demo_run: Path, tmp_path: Path) -> Path:
    """A private copy of the finished demo run, so that changed configs never touch the shared one."""
    copy = tmp_path / "run"
    shutil.copytree(demo_run, copy, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    return copy


def demo_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_unchanged_config_plans_nothing(finished_run):
    assert planned_jobs(finished_run, demo_config()) == set()


def test_adding_a_genome_reruns_only_its_extraction_and_what_uses_the_corpora(finished_run):
    config = demo_config()
    config["genomes"]["grass_c"] = dict(config["genomes"]["grass_a"])  # a new name for the same files
    config["pretraining"]["stage1"].append("grass_c")
    jobs = planned_jobs(finished_run, config)

    assert {wc for rule, wc in jobs if rule == "extract_promoters"} == {"genome=grass_c"}
    assert ("build_pretraining_corpus", "stage=stage1") in jobs
    assert "summarize_corpus" in rules_of(jobs)
    assert ("tokenize_corpus", "stage=stage1") in jobs and ("pretrain_model", "stage=stage1") in jobs
    # the supervised data only depend on the expression genome, which did not change
    assert not rules_of(jobs) & {"prepare_targets", "split_genes", "generate_demo_world"}


def finetune_setting(schema: dict) -> tuple[str, int]:
    """Some integer fine-tuning setting of the schema and a value different from its default."""
    properties = schema["properties"]["finetune"]["properties"]
    for key, spec in properties.items():
        if spec.get("type") == "integer" and "default" in spec:
            return key, spec["default"] + 1
    raise AssertionError("config/schema.yaml: finetune has no integer setting with a default")


def test_changing_a_finetune_setting_reruns_neither_extraction_nor_pretraining(finished_run):
    config = demo_config()
    key, value = finetune_setting(yaml.safe_load((REPO / "config" / "schema.yaml").read_text()))
    config.setdefault("finetune", {})[key] = value
    jobs = planned_jobs(finished_run, config)

    assert "finetune_model" in rules_of(jobs), f"finetune.{key}={value} planned no fine-tuning: {jobs}"
    assert not rules_of(jobs) & ML_UPSTREAM, f"finetune.{key} reran upstream stages: {sorted(jobs)}"
    assert not rules_of(jobs) & {"fit_baseline", "prepare_targets", "split_genes"}


def test_adding_a_replicate_fits_only_the_new_replicate_and_rescores(finished_run):
    config = demo_config()
    config.setdefault("evaluation", {})["replicates"] = 2
    jobs = planned_jobs(finished_run, config)

    fitted = {(rule, wc) for rule, wc in jobs if rule in {"finetune_model", "fit_baseline", "predict_test_genes"}}
    assert fitted and all("rep=2" in wc for _, wc in fitted), sorted(fitted)
    assert {"evaluate_models", "plot_evaluation"} <= rules_of(jobs)
    assert not rules_of(jobs) & (ML_UPSTREAM | {"compute_importance", "split_genes"}), sorted(jobs)
