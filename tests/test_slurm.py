"""The workflow on a real single-node Slurm cluster, submitted through profiles/slurm as users run it.

The profile is used as written except for what a user edits (partition and account names) and what this machine
lacks (conda; and the 2 cores are shared, so every job asks for one thread). Which job ran where, with which GPUs,
is read from Slurm's own records, never from Snakemake's output.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake
from slurm_cluster import CPU_PARTITION, GPU_PARTITION, SlurmCluster, missing_requirements, slurm_cluster

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ARABIDOPSIS = REPO / "tests" / "data" / "arabidopsis"
PLACEHOLDER_GPU_PARTITION = "EDIT_ME_gpu_partition"
# Rules that must reach a GPU partition with a GPU: the profile sends them there.
GPU_RULES = {"pretrain_model", "finetune_model", "compute_importance"}


@pytest.fixture(scope="session")
def cluster():
    problems = missing_requirements()
    if problems:
        message = "no Slurm cluster can run here: " + "; ".join(problems)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (in CI this test must run: tools/install.sh --test installs Slurm)")
        pytest.skip(message)
    with slurm_cluster() as started:
        yield started


def test_profile(tmp_path: Path) -> Path:
    """profiles/slurm with this cluster's partition names, no account, no conda, one thread per job."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"]["slurm_partition"] = CPU_PARTITION
    del profile["default-resources"]["slurm_account"]  # the test cluster has no accounting
    for resources in profile["set-resources"].values():
        if resources.get("slurm_partition") == PLACEHOLDER_GPU_PARTITION:
            resources["slurm_partition"] = GPU_PARTITION
    del profile["software-deployment-method"]  # no conda here: tools come from .venv and apt
    profile["set-threads"] = {rule: 1 for rule in profile["set-threads"]}
    profile.update({
        "jobs": 4,
        "latency-wait": 5,
        # No slurmdbd: status from squeue, allowed because MinJobAge (600) >= 3 x the first check delay.
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 2,
        "seconds-between-status-checks": 2,
        "slurm-keep-successful-logs": True,
    })  # fmt: skip
    directory = tmp_path / "profile"
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return directory


test_profile.__test__ = False  # a helper, not a test


def slurm_jobs_by_rule(cluster: SlurmCluster) -> dict[str, list[dict[str, str]]]:
    """slurmctld's jobs grouped by the rule named in the comment the executor attaches (rule_<name>_...)."""
    by_rule: dict[str, list[dict[str, str]]] = {}
    for job in cluster.jobs():
        match = re.match(r"rule_(.+?)(_wildcards_.*)?$", job.get("Comment", ""))
        if match:
            by_rule.setdefault(match[1], []).append(job)
    return by_rule


def small_config(workdir: Path) -> Path:
    """Two genomes (the real Arabidopsis slice twice), tiny pretraining: minutes on 2 cores."""
    genome = {"fasta": str(ARABIDOPSIS / "chr5_slice.fa.bgz"), "gff": str(ARABIDOPSIS / "chr5_slice.gff3")}
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update({
        "genomes": {"ath": genome, "ath_copy": genome},
        "promoters": {"length": 300},
        "pretraining": {"stage1": ["ath", "ath_copy"], "stage2": ["ath"], "exclude_test_genes": False,
                        "max_steps": 2, "batch_size": 4, "micro_batch_size": 4, "eval_steps": 1,
                        "checkpoint_steps": 1, "warmup_steps": 0},
        "tokenizer": {"vocab_size": 300, "max_length": 64},
        "model": {"preset": "demo", "overrides": {"num_hidden_layers": 1, "hidden_size": 32,
                                                  "num_attention_heads": 2, "intermediate_size": 64}},
        "expression": {"genome": "ath", "matrix": "unused.tsv"},
    })  # fmt: skip
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_workflow_runs_on_slurm_partitions_from_the_profile(cluster, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    # promoters (per genome) -> corpora -> tokenizer -> pretraining stage 1 (a GPU rule): four DAG levels
    targets = ["results/corpus/corpus_stats.tsv", "results/pretrain/stage1/metrics.tsv"]
    started = time.monotonic()
    run_snakemake(
        workdir, "--profile", str(test_profile(tmp_path)), *targets,
        configfile=small_config(workdir), timeout=900,
    )  # fmt: skip
    print(f"SLURM run of {targets}: {time.monotonic() - started:.0f} s")

    jobs = slurm_jobs_by_rule(cluster)
    assert set(jobs) >= {"extract_promoters", "summarize_corpus", "build_pretraining_corpus", "train_tokenizer",
                         "pretrain_model"}, jobs.keys()
    assert len(jobs["extract_promoters"]) == 2  # one job per genome
    completed = cluster.completed_jobs()
    traces = cluster.task_environments()
    for rule, rule_jobs in jobs.items():
        for job in rule_jobs:
            record = completed[job["JobId"]]  # the job completion log has every job, with Slurm's verdict
            assert record["JobState"] == "COMPLETED", (rule, record)
            wanted_partition = GPU_PARTITION if rule in GPU_RULES else CPU_PARTITION
            assert job["Partition"] == record["Partition"] == wanted_partition, (rule, job["Partition"])
            # every task of the job (batch script, then the executor's srun step) ran through the TaskProlog
            steps = {trace["step"]: trace for trace in traces[job["JobId"]]}
            assert {"batch", "0"} <= set(steps), steps
            if rule in GPU_RULES:
                assert job.get("TresPerJob") == "gres:gpu:1", job
                assert steps["0"]["cuda"] == "0", steps  # one stand-in GPU, visible to the rule's process
            else:
                assert "gpu" not in job.get("TresPerJob", ""), job
                assert steps["0"]["cuda"] == "none", steps
    assert jobs.keys() & GPU_RULES, f"no GPU rule ran on the cluster: {sorted(jobs)}"
    assert (workdir / "results/pretrain/stage1/metrics.tsv").stat().st_size > 0


def test_job_killed_mid_way_is_resubmitted_and_the_run_completes(cluster, tmp_path):
    """scancel a running job (as a walltime kill or node failure would end it): `retries` in the profile
    resubmits it, and the run finishes with complete outputs."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    command_args = ["--profile", str(test_profile(tmp_path)), "results/promoters/ath.fa"]
    result: dict = {}
    runner = threading.Thread(
        target=lambda: result.update(run=run_snakemake(
            workdir, *command_args, configfile=small_config(workdir), check=False, timeout=600)),
    )  # fmt: skip
    known = {job["JobId"] for job in cluster.jobs()}
    runner.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and runner.is_alive():
        for job in cluster.jobs():
            if job["JobId"] not in known and job["JobState"] == "RUNNING":
                killed = job["JobId"]
                cluster.run("scancel", killed)
        time.sleep(0.2)
    runner.join(timeout=600)
    assert killed is not None, "the extraction job was never seen running"
    run = result["run"]
    assert run.returncode == 0, run.stderr[-5000:]

    completed = cluster.completed_jobs()
    new = [record for job_id, record in completed.items() if job_id not in known]
    states = [(record["JobId"], record["JobState"]) for record in sorted(new, key=lambda r: int(r["JobId"]))]
    assert states[0] == (killed, "CANCELLED"), states
    assert states[-1][1] == "COMPLETED" and len(states) == 2, states  # one resubmission, and it finished
    assert (workdir / "results/promoters/ath.fa").read_text().startswith(">")
