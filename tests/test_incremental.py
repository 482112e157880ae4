"""Incremental reruns, as users rely on them: after a finished run, what does Snakemake plan when the config changes?

A copy of the finished demo run (outputs and .snakemake metadata) gets a changed config and a dry run (-n); the
planned jobs are read from its output. Snakemake 9 reruns a job when its params, code, input or software env
changed (rerun-triggers), so these tests pin down how config keys reach the rules' params and inputs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
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


def stage1_jobs(jobs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The jobs that build stage 1: its corpus, the tokenizer (trained on it), its token store and its model."""
    return {(rule, wc) for rule, wc in jobs if wc == "stage=stage1" or rule == "train_tokenizer"}


def changed_matrix(run: Path) -> str:
    """The demo matrix with every 20th gene left out and one value changed: another expression set, same genome."""
    matrix = pd.read_csv(run / "resources/demo/maize_tpm.tsv", sep="\t", index_col="gene_id")
    matrix = matrix.iloc[[i for i in range(len(matrix)) if i % 20]]
    matrix.iloc[0, 0] += 1.0
    matrix.to_csv(run / "other_tpm.tsv", sep="\t")
    return "other_tpm.tsv"


@pytest.mark.parametrize("change", ["test_fraction", "split", "split_identity", "matrix"])
def test_a_new_split_or_expression_set_retrains_stage2_but_no_stage1_job(finished_run, change):
    """Stage 1 (corpus, tokenizer, token store, model) reads no expression setting: a lab trains it once."""
    config = demo_config()
    if change == "matrix":
        config["expression"]["matrix"] = changed_matrix(finished_run)
    else:
        config["expression"][change] = {"test_fraction": 0.2, "split": "random", "split_identity": 0.9}[change]
    jobs = planned_jobs(finished_run, config)

    assert ("split_genes", "") in jobs and ("build_pretraining_corpus", "stage=stage2") in jobs, sorted(jobs)
    assert ("pretrain_model", "stage=stage2") in jobs and ("audit_corpora", "") in jobs
    assert not stage1_jobs(jobs), f"expression.{change} plans stage-1 jobs: {sorted(stage1_jobs(jobs))}"


def test_stage2_starts_from_an_existing_stage1_model_folder(finished_run, tmp_path):
    """pretraining.stage1_model: a stage-1 folder from elsewhere (here: a copy of this run's) replaces stage 1;
    its tokenizer becomes results/tokenizer and stage 2 trains from its weights, for real."""
    folder = tmp_path / "lab_stage1"
    shutil.copytree(finished_run / "results/pretrain/stage1/model", folder)
    config = demo_config()
    config["pretraining"]["stage1_model"] = str(folder)
    jobs = planned_jobs(finished_run, config)
    assert ("import_stage1_model", "") in jobs and ("pretrain_model", "stage=stage2") in jobs, sorted(jobs)
    assert not stage1_jobs(jobs), sorted(jobs)

    config["pretraining"].update(max_steps=2, eval_steps=1, checkpoint_steps=1)
    configfile = finished_run / "stage1_model_config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run_snakemake(finished_run, "--cores", "2", "results/pretrain/stage2/model", configfile=configfile)
    log = (finished_run / "logs/pretrain_model/stage2.log").read_text()
    assert f"starting from the weights in {folder}" in log
    assert (finished_run / "results/tokenizer/tokenizer.json").read_bytes() == (folder / "tokenizer.json").read_bytes()
    assert len(pd.read_csv(finished_run / "results/pretrain/stage2/metrics.tsv", sep="\t")) >= 1
