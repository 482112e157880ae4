"""The config schema documents and defaults every key, and the workflow rejects inconsistent configs clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from conftest import REPO, run_snakemake

SCHEMA = REPO / "config" / "schema.yaml"


def walk_properties(node: dict, path: str = ""):
    for name, child in node.get("properties", {}).items():
        yield f"{path}{name}", child, name in node.get("required", [])
        yield from walk_properties(child, f"{path}{name}.")
    entry = node.get("additionalProperties")
    if isinstance(entry, dict):
        yield from walk_properties(entry, f"{path}<name>.")


def test_every_key_has_a_description_and_optional_keys_a_default():
    schema = yaml.safe_load(SCHEMA.read_text())
    missing_description, missing_default = [], []
    for key, node, required in walk_properties(schema):
        if "$ref" in node:  # a shared definition (its description), with the referring node's own default
            node = {**schema["$defs"][node["$ref"].removeprefix("#/$defs/")], **node}
        if not node.get("description"):
            missing_description.append(key)
        parent_optional = not key.startswith(("genomes.", "expression.sequences."))
        if not required and "default" not in node and parent_optional and key not in {
            "expression.genome", "expression.matrix", "expression.sequences"
        }:
            missing_default.append(key)
    assert not missing_description, f"keys without description: {missing_description}"
    assert not missing_default, f"optional keys without default: {missing_default}"


def test_config_readme_is_generated_from_the_schema():
    result = subprocess.run([sys.executable, str(REPO / "tools" / "config_docs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


RECIPES = REPO / "config" / "recipes"
MINIMAL = {
    "genomes": {"maize": {"fasta": "a.fa", "gff": "a.gff3"}},
    "pretraining": {"stage1": ["maize"], "stage2": ["maize"]},
    "expression": {"genome": "maize", "matrix": "tpm.tsv"},
}


def effective(config: dict) -> dict:
    """The config as the workflow sees it: laid over its recipe, then completed with the schema's defaults."""
    from cornbert.recipes import with_recipe

    default = yaml.safe_load(SCHEMA.read_text())["properties"]["recipe"]["default"]
    merged = with_recipe(config, RECIPES, default)
    validate(merged, str(SCHEMA))
    return merged


def test_a_config_without_recipe_trains_with_the_laptop_recipe_and_its_own_keys_win():
    plain = effective(MINIMAL)
    assert plain["recipe"] == "laptop"
    assert plain["finetune"]["optimizer"] == "adamw" and plain["model"]["preset"] == "demo"
    assert plain["pretraining"]["stage1"] == ["maize"] and plain["pretraining"]["max_steps"] == 200
    assert plain["pretraining"]["mlm_probability"] == 0.15  # neither sets it: the schema's default
    own = effective(MINIMAL | {"finetune": {"max_steps": 123}, "tokenizer": {"max_length": 256}})
    assert own["finetune"]["max_steps"] == 123 and own["finetune"]["optimizer"] == "adamw"
    assert own["tokenizer"] == plain["tokenizer"] | {"max_length": 256}


def test_the_paper_recipe_is_the_study_and_the_demo_runs_the_laptop_recipe_but_its_pooling():
    from cornbert.recipes import deep_merge

    paper = effective(MINIMAL | {"recipe": "paper"})
    assert paper["finetune"]["optimizer"] == "lamb" and paper["finetune"]["unfreeze_first_step"] == 400
    assert paper["model"]["preset"] == "paper"
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert demo["recipe"] == "laptop"
    laptop = yaml.safe_load((RECIPES / "laptop.yaml").read_text())
    # Measured departures (config.yaml says why): the demo pools with the study's mean, the recipe over 4 bins, and
    # fine-tunes 300 steps, the recipe 500; its motif search reaches the tissue elements' window and attributes the
    # model that learned them.
    assert laptop["finetune"]["pooling_bins"] == 4 and effective(demo)["finetune"]["pooling_bins"] == 1
    assert laptop["finetune"]["max_steps"] == 500 and effective(demo)["finetune"]["max_steps"] == 300
    motifs = {"model": "CornBERT_scratch", "genes": 100, "window": 250, "contrasts": ["root", "shoot", "ear"]}
    assert effective(demo)["motifs"] | motifs == effective(demo)["motifs"]
    # and at about a third of the recipe's learning rates, where another CPU's rounding no longer moves a fit.
    rates = {"head_learning_rate": 3.0e-3, "encoder_learning_rate": 1.0e-3, "embeddings_learning_rate": 3.0e-3}
    finetune = laptop["finetune"] | {"pooling_bins": 1, "max_steps": 300} | rates
    demo_recipe = laptop | {"finetune": finetune, "motifs": laptop["motifs"] | motifs}
    assert deep_merge(effective(demo), demo_recipe) == effective(demo)  # no other demo-only settings


@pytest.mark.parametrize("recipe", ["cluster", "../schema"])  # "../schema" is a YAML file, but not a recipe
def test_an_unknown_recipe_is_refused_naming_the_choices(tmp_path, recipe):
    config = dict(MINIMAL, recipe=recipe)
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--dry-run", configfile=configfile, check=False)
    assert result.returncode != 0
    assert f"recipe '{recipe}' does not exist; choose one of ['gpu', 'laptop', 'paper']" in result.stderr + result.stdout


def test_minimal_config_gets_every_default():
    config = {
        "genomes": {"maize": {"fasta": "a.fa", "gff": "a.gff3"}},
        "pretraining": {"stage1": ["maize"], "stage2": ["maize"]},
        "expression": {"genome": "maize", "matrix": "tpm.tsv"},
    }
    validate(config, str(SCHEMA))
    assert config["promoters"]["length"] == 1000
    assert config["tokenizer"]["vocab_size"] == 5000
    assert config["tokenizer"]["max_length"] == 256
    assert config["expression"]["test_fraction"] == 0.3
    assert config["pretraining"]["mlm_probability"] == 0.15
    assert config["model"]["preset"] == "paper"


def test_unknown_key_is_rejected():
    config = {
        "genomes": {"maize": {"fasta": "a.fa", "gff": "a.gff3"}},
        "pretraining": {"stage1": ["maize"], "stage2": ["maize"]},
        "expression": {"genome": "maize", "matrix": "tpm.tsv"},
        "promoter": {"length": 500},
    }
    with pytest.raises(Exception, match="promoter"):
        validate(config, str(SCHEMA))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"pretraining": {"stage1": ["maize", "wheat"], "stage2": ["maize"]}}, "pretraining.stage1 names genomes not defined"),
        ({"expression": {"genome": "rice", "matrix": "tpm.tsv"}}, "expression.genome 'rice' is not defined"),
        ({"genomes": {"maize": {"fasta": "a.fa"}}}, "expression.genome 'maize' has no `gff`: it must be annotated"),
        ({"sequence_sets": {"maize": {"fasta": "s.fa"}}}, "names used both under `genomes` and `sequence_sets`: ['maize']"),
    ],
)
def test_config_references_are_checked(tmp_path: Path, change: dict, message: str):
    config = {
        "genomes": {"maize": {"fasta": "a.fa", "gff": "a.gff3"}},
        "pretraining": {"stage1": ["maize"], "stage2": ["maize"]},
        "expression": {"genome": "maize", "matrix": "tpm.tsv"},
    }
    config.update(change)
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "-n", configfile=configfile, check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
