"""The per-rule conda envs (envs/*.yaml) that cluster users run with `--software-deployment-method conda`.

Conda cannot be installed on the test machines, so these tests check what can be checked without it: every file
parses and pins exactly, every rule names one of them, the pins agree with requirements.txt (the versions the
test suite really exercises), and each env carries what its rules' scripts import, and nothing else."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from workflow_rules import REPO, load_rules, third_party_imports

ENV_DIR = REPO / "envs"
ENV_GROUPS = {"genomes.yaml", "expression.yaml", "ml.yaml", "baselines.yaml", "evaluate.yaml"}
CHANNELS = ["conda-forge", "bioconda", "nodefaults"]
# Import name -> conda package providing it. A new import fails test_env_covers_script_imports until added here.
CONDA_PACKAGE_OF_IMPORT = {
    "torch": "pytorch",
    "transformers": "transformers",
    "tokenizers": "tokenizers",
    "accelerate": "accelerate",
    "safetensors": "safetensors",
    "pysam": "pysam",
    "pybedtools": "pybedtools",
    "Bio": "biopython",
    "numpy": "numpy",
    "pandas": "pandas",
    "lightgbm": "lightgbm",
    "matplotlib": "matplotlib-base",
    "sklearn": "scikit-learn",
    "scipy": "scipy",
    "jsonschema": "jsonschema",
    "yaml": "pyyaml",
    "tqdm": "tqdm",
}
# conda-forge names that differ from the PyPI name pinned in requirements.txt.
PYPI_NAME = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
# Packages that are no Python import: the interpreter, and binaries a Python package calls.
NON_IMPORT_PACKAGES = {"python": None, "bedtools": "pybedtools"}  # package -> the package that needs it

SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?P<op>==|=)(?P<version>[0-9][A-Za-z0-9_.]*)$")


def env_files() -> list[Path]:
    return sorted(ENV_DIR.glob("*.yaml"))


def read_env(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def env_pins(path: Path) -> dict[str, str]:
    """Package name -> pinned version of one env file."""
    pins = {}
    for spec in read_env(path)["dependencies"]:
        match = SPEC.match(str(spec))
        assert match, f"{path.name}: `{spec}` is not pinned (write name==version)"
        pins[match["name"]] = match["version"]
    return pins


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def test_env_files_are_the_five_groups_and_parse():
    assert {path.name for path in env_files()} == ENV_GROUPS
    for path in env_files():
        env = read_env(path)
        assert env["channels"] == CHANNELS, f"{path.name}: channels must be {CHANNELS} (strict, no defaults)"
        assert env_pins(path), f"{path.name}: no dependencies"


def test_pins_are_exact_and_match_requirements():
    required = requirement_pins()
    venv_python = f"{sys.version_info.major}.{sys.version_info.minor}"
    for path in env_files():
        for spec in read_env(path)["dependencies"]:
            match = SPEC.match(str(spec))
            name, op, version = match["name"], match["op"], match["version"]
            if name == "python":
                assert version == venv_python, f"{path.name}: python={version}, the tests run {venv_python}"
                continue
            assert op == "==", f"{path.name}: pin {name} exactly ({name}=={version})"
            if name in NON_IMPORT_PACKAGES:
                continue
            pypi = PYPI_NAME.get(name, name)
            assert pypi in required, f"{path.name}: {name} is not pinned in requirements.txt"
            assert version == required[pypi], f"{path.name}: {name}=={version}, requirements.txt has {required[pypi]}"


def test_every_rule_names_an_existing_env(rules):
    assert rules, "the workflow has no rules"
    for rule in rules.values():
        assert rule.conda_env is not None, f"rule {rule.name} has no `conda:` directive"
        assert rule.conda_env.parent == ENV_DIR, f"rule {rule.name}: conda env {rule.conda_env} is not in envs/"
        assert rule.conda_env.name in ENV_GROUPS, f"rule {rule.name}: {rule.conda_env.name} is no env group"
        assert rule.conda_env.exists(), f"rule {rule.name}: {rule.conda_env} does not exist"


def test_every_env_is_used(rules):
    used = {rule.conda_env.name for rule in rules.values() if rule.conda_env}
    assert ENV_GROUPS <= used, f"env files no rule names: {sorted(ENV_GROUPS - used)}"


def needed_packages(rules, env_name: str) -> dict[str, set[str]]:
    """conda package -> the rules of env `env_name` whose scripts import it."""
    needed: dict[str, set[str]] = {}
    for rule in rules.values():
        if rule.conda_env is None or rule.conda_env.name != env_name or rule.script is None:
            continue
        for module in third_party_imports(rule.script):
            assert module in CONDA_PACKAGE_OF_IMPORT, (
                f"rule {rule.name} imports `{module}`: add its conda package to CONDA_PACKAGE_OF_IMPORT and the env"
            )
            needed.setdefault(CONDA_PACKAGE_OF_IMPORT[module], set()).add(rule.name)
    return needed


@pytest.mark.parametrize("env_name", sorted(ENV_GROUPS))
def test_env_covers_script_imports(rules, env_name):
    pins = env_pins(ENV_DIR / env_name)
    missing = {pkg: sorted(users) for pkg, users in needed_packages(rules, env_name).items() if pkg not in pins}
    assert not missing, f"{env_name} lacks packages its rules import: {missing}"


@pytest.mark.parametrize("env_name", sorted(ENV_GROUPS))
def test_env_has_nothing_its_rules_do_not_need(rules, env_name):
    needed = needed_packages(rules, env_name)
    if not needed:
        pytest.skip(f"no rule with a script uses {env_name} yet")
    extra = []
    for package in env_pins(ENV_DIR / env_name):
        if package in NON_IMPORT_PACKAGES:
            user = NON_IMPORT_PACKAGES[package]
            if user is not None and user not in needed:
                extra.append(f"{package} (only needed with {user})")
        elif package not in needed:
            extra.append(package)
    assert not extra, f"{env_name} carries packages none of its rules imports: {extra}"
