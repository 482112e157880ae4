"""Entry point of rule import_stage1_model: a stage-1 model folder trained elsewhere, checked, its tokenizer copied."""

from pathlib import Path

from cornbert.runtime import run_entry
from cornbert.stage1 import import_stage1_model


def main(smk) -> None:
    import_stage1_model(smk.input.model, Path(smk.output.tokenizer).parent)


run_entry(main, snakemake)  # noqa: F821
