"""Threads and resources per job, as Snakemake plans them in dry runs of the whole demo DAG: the schema's sizes by
default, and every documented override changes exactly the key it names.

Overrides are read from docs/hpc.md itself, so an example added there is checked here. Dry runs use --cores 64 so
that no thread count is capped at this machine's cores.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake
from workflow_rules import planned_jobs, resource_defaults

HPC_DOC = REPO / "docs" / "hpc.md"
DEFAULTS = resource_defaults()


def plan(workdir: Path, *args: str, configfile: Path | None = None) -> dict[tuple[str, str], dict[str, str]]:
    result = run_snakemake(workdir, "--dry-run", "--forceall", "--cores", "64", *args, configfile=configfile,
                           timeout=300)  # fmt: skip
    jobs = planned_jobs(result.stdout)
    del jobs["all", ""]  # the target rule runs nothing
    return jobs


def documented_overrides() -> list[list[str]]:
    """The --set-resources/--set-threads arguments of each command in docs/hpc.md (inline or in a code block)."""
    text = HPC_DOC.read_text().replace("\\\n", " ")
    commands = re.findall(r"`([^`\n]*--set-[^`\n]*)`", text)
    commands += [line for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()]
    overrides = []
    for command in commands:
        args, option = [], None
        for word in command.split():
            if word in ("--set-resources", "--set-threads"):
                option = word
            elif option and re.fullmatch(r"[a-z_]+(:\w+)?=\S+", word):  # not the placeholder RULE:KEY=VALUE
                args += [option, word] if option not in args else [word]  # as written: repeating it would replace
            else:
                option = None
        if args:
            overrides.append(args)
    return overrides


def expected_changes(args: list[str]) -> dict[tuple[str, str], str]:
    """(rule, key) -> the value the override gives it."""
    changes, option = {}, None
    for word in args:
        if word.startswith("--"):
            option = word
            continue
        target, value = word.split("=", 1)
        rule, key = target.split(":", 1) if option == "--set-resources" else (target, "threads")
        changes[rule, key] = value
    return changes


def assert_only_changed(before: dict, after: dict, changes: dict[tuple[str, str], str]) -> None:
    assert after.keys() == before.keys()  # the same jobs
    for job, planned in before.items():
        rule = job[0]
        named = {key: value for (r, key), value in changes.items() if r == rule}
        assert after[job] == {**planned, **named}, (job, planned, after[job])


@pytest.fixture(scope="module")
def default_plan(tmp_path_factory) -> dict[tuple[str, str], dict[str, str]]:
    return plan(tmp_path_factory.mktemp("default"))


def test_every_job_gets_its_rules_threads_and_resources_from_the_schema(default_plan):
    planned_rules = {rule for rule, _ in default_plan}
    assert planned_rules <= DEFAULTS.keys(), sorted(planned_rules - DEFAULTS.keys())
    for (rule, wildcards), planned in default_plan.items():
        sized = {key: str(value) for key, value in DEFAULTS[rule].items()}
        assert planned == {**sized, "tmpdir": planned.get("tmpdir")}, (rule, wildcards, planned)


def test_docs_show_the_overrides_checked_here():
    overrides = documented_overrides()
    assert ["--set-resources", "pretrain_model:runtime=2880"] in overrides, overrides
    assert ["--set-resources", "finetune_model:gpu=0", "finetune_model:gres=gpu:4"] in overrides
    assert any("--set-threads" in args for args in overrides), overrides
    assert any(any("gres=" in word for word in args) for args in overrides), overrides


@pytest.mark.parametrize("args", documented_overrides(), ids=" ".join)
def test_documented_override_changes_only_the_keys_it_names(args, default_plan, tmp_path):
    changes = expected_changes(args)
    assert_only_changed(default_plan, plan(tmp_path, *args), changes)


def test_config_resources_change_only_the_keys_they_name(default_plan, tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["resources"] = {"pretrain_model": {"runtime": 2880}, "fit_baseline": {"threads": 12, "gres": "tmp:10G"}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    changes = {("pretrain_model", "runtime"): "2880", ("fit_baseline", "threads"): "12",
               ("fit_baseline", "gres"): "tmp:10G"}  # fmt: skip
    assert_only_changed(default_plan, plan(tmp_path, configfile=path), changes)


def test_site_default_resources_fill_in_what_the_rules_do_not_set(default_plan, tmp_path):
    """A site profile's default-resources reach every job for keys no rule sets; the rules' own sizes win."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "config.yaml").write_text(
        "default-resources:\n  slurm_partition: cpu\n  slurm_account: lab\n  mem_mb: 1234\n  runtime: 5\n"
    )
    planned = plan(tmp_path / "run", "--profile", str(site))
    assert planned.keys() == default_plan.keys()
    for job, resources in planned.items():
        expected = {**default_plan[job], "slurm_partition": "cpu", "slurm_account": "lab"}
        assert {key: resources.get(key) for key in expected} == expected, (job, resources)


def test_docs_name_exactly_the_rules_that_ask_for_a_gpu():
    gpu_rules = {rule for rule, sized in DEFAULTS.items() if sized.get("gpu")}
    paragraph = HPC_DOC.read_text().split("**GPUs.**", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`(\w+)`", paragraph)) & DEFAULTS.keys()
    assert named == gpu_rules, (sorted(named), sorted(gpu_rules))
    words = {1: "One", 2: "Two", 3: "Three", 4: "Four", 5: "Five", 6: "Six", 7: "Seven", 8: "Eight"}
    assert f"{words[len(gpu_rules)]} rules ask for `gpu: 1`" in paragraph


def test_config_resources_of_an_unknown_rule_are_refused(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["resources"] = {"pretrain_modle": {"runtime": 2880}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--dry-run", configfile=path, check=False)
    assert result.returncode != 0
    assert "pretrain_modle" in result.stdout + result.stderr, result.stdout[-3000:]
