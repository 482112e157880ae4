"""Entry point of rule generate_demo_world: write the demo genomes, annotations and expression matrix."""

import logging
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from cornbert.demo_world import DemoSettings, generate
from cornbert.runtime import run_entry

log = logging.getLogger("cornbert.generate_demo_world")


def main(smk) -> None:
    settings = DemoSettings.from_config(smk.config)
    real_tpm = pd.read_csv(smk.input.calibration_matrix, sep="\t", index_col="gene_id")
    outputs = {name: Path(path) for name, path in smk.output.items()}
    # Generate beside the outputs and move each file into place only when all are written.
    staging = Path(tempfile.mkdtemp(prefix=".demo.", dir=next(iter(outputs.values())).parent))
    try:
        rule = generate(settings, staging, real_tpm)
        for path in outputs.values():
            shutil.move(staging / path.name, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    demo, real = rule["calibration"]["demo"], rule["calibration"]["real_b73"]
    for key in demo:
        log.info("log(TPM+1) %-22s demo %.3f  real B73 %.3f", key, demo[key], real[key])


run_entry(main, snakemake)  # noqa: F821
