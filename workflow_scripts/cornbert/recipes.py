"""Recipes: named sets of training settings (config/recipes/<name>.yaml) that a config's own keys override.

A user's config says where the data are; the recipe says how to train on them. `laptop` (the default) is sized for
a CPU, `gpu` for cluster GPUs, `paper` is the study's settings (the schema's defaults). The order of precedence is:
the config's own keys > the recipe's > the schema's defaults.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml


class RecipeError(ValueError):
    """A recipe that does not exist, or a recipe file that is not a mapping."""


def available(recipes_dir: str | Path) -> list[str]:
    return sorted(path.stem for path in Path(recipes_dir).glob("*.yaml"))


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` updated with `override`, mapping by mapping; lists and values of `override` replace whole."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def with_recipe(config: dict[str, Any], recipes_dir: str | Path, default: str) -> dict[str, Any]:
    """The config laid over its recipe (`config["recipe"]`, else `default`), with `recipe` filled in."""
    name = config.get("recipe", default)
    path = Path(recipes_dir) / f"{name}.yaml"
    # checked against the names, not the path: "../schema" must not load another YAML file as a recipe
    if name not in available(recipes_dir):
        raise RecipeError(f"config: recipe '{name}' does not exist; choose one of {available(recipes_dir)}")
    settings = yaml.safe_load(path.read_text()) or {}
    if not isinstance(settings, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping of config sections, not {type(settings).__name__}")
    return deep_merge(settings, config) | {"recipe": name}
