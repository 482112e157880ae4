"""The workflow's rules as Snakemake itself loads them, the third-party imports of the scripts they run, and the
threads and resources it plans for them."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "workflow_scripts" / "cornbert"


@dataclass(frozen=True)
class RuleInfo:
    name: str
    conda_env: Path | None  # absolute path of the env file the rule names, None if it names none
    script: Path | None  # absolute path of its `script:`, None for shell/run rules
    shell: str | None


@contextmanager
def loaded_workflow() -> Iterator:
    """The Snakefile parsed with Snakemake's API (the same parser a run uses). Loading reads the demo config from
    the repository and builds no DAG, so it writes nothing."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        yield api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(),
            storage_settings=StorageSettings(),
            snakefile=REPO / "Snakefile",
            workdir=REPO,
        )._workflow  # the loaded workflow; the public API only prints rule lists


def load_rules() -> dict[str, RuleInfo]:
    """Every rule of the loaded workflow, described."""
    with loaded_workflow() as workflow:
        rules = {}
        for rule in workflow.rules:
            if rule.name == "all":
                continue
            base = Path(rule.snakefile).parent
            rules[rule.name] = RuleInfo(
                name=rule.name,
                conda_env=(base / str(rule.conda_env)).resolve() if rule.conda_env else None,
                script=(base / rule.script).resolve() if rule.script else None,
                shell=rule.shellcmd,
            )
    return rules


def _module_file(module: str) -> Path | None:
    """The file of a `cornbert.x` module, None for anything else."""
    parts = module.split(".")
    if parts[0] != "cornbert":
        return None
    path = PACKAGE_DIR.joinpath(*parts[1:])
    if path.is_dir() or len(parts) == 1:
        return path / "__init__.py"
    return path.with_suffix(".py")


def _guarded_imports(tree: ast.AST) -> set[int]:
    """ids of import nodes inside `try: ... except ImportError` (optional: the code runs without them)."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {ast.unparse(handler.type) for handler in node.handlers if handler.type is not None}
        if caught & {"ImportError", "ModuleNotFoundError"}:
            guarded |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return guarded


def third_party_imports(script: Path) -> set[str]:
    """Top-level names of every non-stdlib module the script needs, following `cornbert.*` modules through.
    Imports inside functions count (they run too, only later); optional ones (try/except ImportError) do not."""
    found: set[str] = set()
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        optional = _guarded_imports(tree)
        for node in ast.walk(tree):
            modules: list[str] = []
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
                if node.module == "cornbert":  # `from cornbert import distributed`
                    modules += [f"cornbert.{alias.name}" for alias in node.names]
            for module in modules:
                local = _module_file(module)
                if local is not None:
                    todo.append(local)
                    continue
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top != "__future__":
                    found.add(top)
    return found


def resource_defaults() -> dict[str, dict[str, int]]:
    """Rule -> its threads and resources as the schema sizes them (config `resources`)."""
    import yaml

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    rules = schema["properties"]["resources"]["properties"]
    return {rule: {key: node["default"] for key, node in entry["properties"].items()} for rule, entry in rules.items()}


# Forms Snakemake derives from mem_mb/disk_mb itself; they follow the key they come from.
DERIVED_RESOURCES = {"mem", "mem_mib", "disk", "disk_mib"}


def planned_jobs(stdout: str) -> dict[tuple[str, str], dict[str, str]]:
    """(rule, wildcards) -> threads and resources of each job a dry run lists (`snakemake -n`), as printed."""
    jobs = {}
    for block in re.split(r"\n(?:local)?rule ", stdout)[1:]:
        rule, _, body = block.partition(":")
        fields = dict(line.strip().split(": ", 1) for line in body.splitlines() if re.match(r"^    \w+: ", line))
        resources = dict(item.split("=", 1) for item in fields.get("resources", "").split(", ") if item)
        planned = {key: value for key, value in resources.items() if key not in DERIVED_RESOURCES}
        jobs[rule, fields.get("wildcards", "")] = {"threads": fields.get("threads", "1"), **planned}
    return jobs
