"""The workflow on a real single-node Slurm cluster, run as users run it: `snakemake --profile slurm`.

`slurm` is a user-level profile in $HOME/.config/snakemake/slurm (HOME is a scratch folder here), written either by
the README's command (cornbert-slurm-profile) or by hand as a site would (executor + default partition only); the
workflow's own needs come from the rules (config `resources`) and profiles/default/. Only what this machine lacks or needs faster is given on the
command line (no accounting: squeue for job status; no conda; 2 shared cores: one thread per job). Which job ran
where, with which GPUs, is read from Slurm's own records, never from Snakemake's output.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SNAKEMAKE, VENV_BIN, run_snakemake
from cornbert.distributed import ALLOW_CPU
from slurm_cluster import (
    CPU_PARTITION,
    GPU_PARTITION,
    GPUS_ON_NODE,
    SlurmCluster,
    missing_requirements,
    slurm_cluster,
)
from workflow_rules import planned_jobs, resource_defaults

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ARABIDOPSIS = REPO / "tests" / "data" / "arabidopsis"
RESOURCES = resource_defaults()
# Rules that need a GPU (docs/hpc.md): the rules ask for `gpu: 1`, the site profile's partitions send them on.
GPU_RULES = {"pretrain_model", "finetune_model", "predict_test_genes", "compute_importance",
             "predict_variant_effects", "saturate_promoters", "discover_motifs"}
# The README's command, with this cluster's partitions; no --account: the test cluster has no accounting.
PROFILE_COMMAND = [
    str(VENV_BIN / "cornbert-slurm-profile"), "--partition", CPU_PARTITION, "--gpu-partition", GPU_PARTITION,
    "--gpus-per-node", str(GPUS_ON_NODE), "--status-command", "squeue", "--no-conda",
]  # fmt: skip
# What this machine needs on the command line (it wins over both profiles): 2 shared cores, fast status checks,
# and squeue for job status (no slurmdbd; MinJobAge 600 >= 3 x 2 s).
TEST_MACHINE_ARGS = [
    "--jobs", "4", "--latency-wait", "5", "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
    "--set-threads", *(f"{rule}=1" for rule, sized in RESOURCES.items() if sized["threads"] > 1),
]  # fmt: skip  # last on a command line: --set-threads takes every word after it


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


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A scratch HOME, so that `--profile slurm` finds only the profile a test writes there."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    # The cluster's GPUs are stand-ins (device files of /dev/null): its GPU jobs may train on the CPU.
    monkeypatch.setenv(ALLOW_CPU, "1")
    return home


def write_profile_as_readme(home: Path) -> Path:
    subprocess.run(PROFILE_COMMAND, check=True, capture_output=True, text=True)
    profile = home / ".config" / "snakemake" / "slurm"
    assert (profile / "config.yaml").is_file() and (profile / "partitions.yaml").is_file()
    return profile


def write_minimal_site_profile(home: Path) -> None:
    """What many clusters ship: the executor and a default partition, nothing of any workflow."""
    profile = home / ".config" / "snakemake" / "slurm"
    profile.mkdir(parents=True)
    (profile / "config.yaml").write_text(
        f"executor: slurm\ndefault-resources:\n  slurm_partition: {CPU_PARTITION}\n"
    )


def slurm_jobs_by_rule(cluster: SlurmCluster, known: set[str]) -> dict[str, list[dict[str, str]]]:
    """slurmctld's jobs not in `known`, by the rule named in the comment the executor attaches (rule_<name>_...)."""
    by_rule: dict[str, list[dict[str, str]]] = {}
    for job in cluster.jobs():
        match = re.match(r"rule_(.+?)(_wildcards_.*)?$", job.get("Comment", ""))
        if match and job["JobId"] not in known:
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
                        "max_steps": 2, "batch_size": 4, "micro_batch_size": 4, "eval_steps": 1, "eval_fraction": 0.25,
                        "checkpoint_steps": 1, "warmup_steps": 0},
        "tokenizer": {"vocab_size": 300, "max_length": 64},
        "model": {"preset": "demo", "overrides": {"num_hidden_layers": 1, "hidden_size": 32,
                                                  "num_attention_heads": 2, "intermediate_size": 64}},
        "expression": {"genome": "ath", "matrix": "unused.tsv"},
    })  # fmt: skip
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_profile_name_works_from_the_repository_root(home):
    write_profile_as_readme(home)
    done = subprocess.run([SNAKEMAKE, "--profile", "slurm", "--dry-run"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "Using profiles slurm and workflow specific profile profiles/default" in done.stderr, done.stderr[:2000]


def test_every_gpu_rule_asks_for_a_gpu_and_no_other_does(home, tmp_path):
    """The whole demo DAG, planned from another directory: the rules the cluster runs below are a part of it."""
    write_profile_as_readme(home)
    result = run_snakemake(tmp_path, "--profile", "slurm", "--dry-run")
    assert "workflow specific profile" in result.stderr
    resources = {rule: planned for (rule, _), planned in planned_jobs(result.stdout).items()}
    assert GPU_RULES <= set(resources), sorted(resources)
    del resources["all"]  # the target rule runs nothing
    # Only what the rules size with a GPU gets one; that is GPU_RULES, the rules docs/hpc.md names.
    granted = {rule for rule, sized in RESOURCES.items() if sized.get("gpu")}
    assert granted == GPU_RULES, sorted(granted)
    for rule, values in resources.items():
        assert values.get("gpu") == ("1" if rule in granted else None), (rule, values)
        assert values["mem_mb"] == str(RESOURCES[rule]["mem_mb"]), (rule, values)  # the rule's, not a default
        assert values["runtime"] == str(RESOURCES[rule]["runtime"]), (rule, values)


def run_on_cluster(cluster: SlurmCluster, tmp_path: Path, targets: list[str]) -> dict[str, list[dict[str, str]]]:
    """`snakemake --profile slurm TARGETS` on the small config; the Slurm jobs it submitted, by rule."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    known = {job["JobId"] for job in cluster.jobs()}
    started = time.monotonic()
    result = run_snakemake(workdir, "--profile", "slurm", *targets, *TEST_MACHINE_ARGS,
                           configfile=small_config(workdir), timeout=900)  # fmt: skip
    print(f"SLURM run of {targets}: {time.monotonic() - started:.0f} s")
    assert "Using profiles slurm and workflow specific profile" in result.stderr
    assert (workdir / targets[-1]).stat().st_size > 0
    return slurm_jobs_by_rule(cluster, known)


def check_jobs(cluster: SlurmCluster, jobs: dict[str, list[dict[str, str]]], gpu_partition: str) -> None:
    """Every job completed on the CPU partition, except GPU rules: on `gpu_partition`, granted and seeing one GPU."""
    completed = cluster.completed_jobs()
    traces = cluster.task_environments()
    for rule, rule_jobs in jobs.items():
        for job in rule_jobs:
            record = completed[job["JobId"]]  # the job completion log has every job, with Slurm's verdict
            assert record["JobState"] == "COMPLETED", (rule, record)
            wanted_partition = gpu_partition if rule in GPU_RULES else CPU_PARTITION
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


def test_readme_profile_sends_gpu_rules_to_the_gpu_partition(cluster, home, tmp_path):
    write_profile_as_readme(home)
    # promoters (per genome) -> corpora -> tokenizer -> pretraining stage 1 (a GPU rule): four DAG levels
    jobs = run_on_cluster(cluster, tmp_path, ["results/corpus/corpus_stats.tsv", "results/pretrain/stage1/metrics.tsv"])
    assert set(jobs) >= {"extract_promoters", "summarize_corpus", "build_pretraining_corpus", "train_tokenizer",
                         "pretrain_model"}, jobs.keys()
    assert len(jobs["extract_promoters"]) == 2  # one job per genome
    check_jobs(cluster, jobs, gpu_partition=GPU_PARTITION)


def test_minimal_site_profile_runs_gpu_rules_with_gpus_on_its_partition(cluster, home, tmp_path):
    """A site profile that knows nothing of the workflow: everything lands on its default partition, and the GPU
    rules still get their GPU from the rules' own resources."""
    write_minimal_site_profile(home)
    jobs = run_on_cluster(cluster, tmp_path, ["results/pretrain/stage1/metrics.tsv"])
    assert "pretrain_model" in jobs and "train_tokenizer" in jobs, jobs.keys()
    check_jobs(cluster, jobs, gpu_partition=CPU_PARTITION)


def test_job_killed_mid_way_is_resubmitted_and_the_run_completes(cluster, home, tmp_path):
    """scancel a running job (as a walltime kill or node failure would end it): `retries` in the workflow profile
    resubmits it, and the run finishes with complete outputs."""
    write_profile_as_readme(home)
    workdir = tmp_path / "run"
    workdir.mkdir()
    command_args = ["--profile", "slurm", "results/promoters/ath.fa", *TEST_MACHINE_ARGS]
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
