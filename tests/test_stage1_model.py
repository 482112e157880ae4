"""A stage-1 model trained elsewhere (pretraining.stage1_model): stage 2 starts from it with its own tokenizer, no
stage-1 job is planned, and a tokenizer that does not fit its weights is refused in one line naming both files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from transformers import RobertaForMaskedLM

from conftest import REPO, run_snakemake
from cornbert.errors import InputError
from cornbert.model import roberta_config
from cornbert.stage1 import check_stage1_model, import_stage1_model
from cornbert.tokenizer import train_tokenizer
from test_tokenizer import random_promoters

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
STAGE1_JOBS = re.compile(r"^rule (train_tokenizer|build_pretraining_corpus|tokenize_corpus|pretrain_model):\n"
                         r"(?:    .*\n)*?    wildcards: stage=stage1$|^rule train_tokenizer:$", re.M)  # fmt: skip


def save_stage1_model(folder: Path, vocab_size: int = 300, seed: int = 1) -> Path:
    """A RobertaForMaskedLM folder as pretrain_model writes it: weights, config and the tokenizer beside them."""
    tokenizer = train_tokenizer(random_promoters(80, 300, seed=seed), vocab_size, min_frequency=2, max_length=64)
    config = roberta_config("demo", TINY, len(tokenizer), 64)
    RobertaForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def stage1_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stage1_models")
    good = save_stage1_model(root / "good")
    other = save_stage1_model(root / "other_tokenizer", vocab_size=280, seed=2)
    mismatched = root / "mismatched"
    shutil.copytree(good, mismatched)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(other / name, mismatched / name)
    no_tokenizer = root / "no_tokenizer"
    shutil.copytree(good, no_tokenizer)
    (no_tokenizer / "tokenizer.json").unlink()
    return {"good": good, "mismatched": mismatched, "no_tokenizer": no_tokenizer}


def test_a_matching_folder_is_imported_with_its_tokenizer(stage1_folders, tmp_path):
    check_stage1_model(stage1_folders["good"])
    import_stage1_model(stage1_folders["good"], tmp_path / "tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "tokenizer" / name).read_bytes() == (stage1_folders["good"] / name).read_bytes()


def test_a_mismatched_tokenizer_is_refused_naming_both_files(stage1_folders, tmp_path):
    folder = stage1_folders["mismatched"]
    with pytest.raises(InputError) as error:
        import_stage1_model(folder, tmp_path / "tokenizer")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / 'tokenizer.json'}: does not match {folder / 'config.json'} (")
    assert "tokens against vocab_size" in message and "not the tokenizer this model was trained with" in message
    assert not (tmp_path / "tokenizer" / "tokenizer.json").exists()
    with pytest.raises(InputError, match="no tokenizer.json: a stage-1 model folder must hold the tokenizer"):
        check_stage1_model(stage1_folders["no_tokenizer"])


def stage1_model_config(tmp_path: Path, folder: Path) -> Path:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["pretraining"]["stage1_model"] = str(folder)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_the_workflow_plans_no_stage1_job_and_refuses_a_mismatched_folder(stage1_folders, tmp_path):
    """Dry run of the whole DAG from a fresh directory: stage 2 from the folder, no stage-1 corpus, tokenizer or
    model; the import rule for real: the good folder's tokenizer becomes results/tokenizer, the mismatched one stops
    the run with the one line."""
    configfile = stage1_model_config(tmp_path, stage1_folders["good"])
    plan = run_snakemake(tmp_path, "-n", "--cores", "1", configfile=configfile).stdout
    assert "rule import_stage1_model:" in plan and "rule pretrain_model:" in plan
    assert not STAGE1_JOBS.search(plan), STAGE1_JOBS.search(plan)
    assert "results/corpus/stage1.txt" not in plan and "token_lengths" not in plan
    assert f"input: {stage1_folders['good']}" in plan  # stage 2's init_model, and the import's input

    run_snakemake(tmp_path, "--cores", "1", "results/tokenizer/tokenizer.json", configfile=configfile)
    assert (tmp_path / "results/tokenizer/tokenizer.json").read_bytes() == \
        (stage1_folders["good"] / "tokenizer.json").read_bytes()

    bad = tmp_path / "bad"
    bad.mkdir()
    result = run_snakemake(bad, "--cores", "1", "results/tokenizer/tokenizer.json", check=False,
                           configfile=stage1_model_config(bad, stage1_folders["mismatched"]))  # fmt: skip
    assert result.returncode != 0
    log = (bad / "logs/import_stage1_model/all.log").read_text()
    folder = stage1_folders["mismatched"]
    assert f"{folder / 'tokenizer.json'}: does not match {folder / 'config.json'}" in log


def test_stage1_reads_the_split_only_when_it_lists_the_expression_genome(tmp_path):
    """The demo's stage 1 (grass genomes) reads maize's promoters, not the split; a one-genome project that lists the
    target in stage 1 too gets the test groups left out of it, so its stage 1 reads split.tsv."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    plans = {}
    for name, stage1 in (("demo", config["pretraining"]["stage1"]), ("with_target", ["grass_a", "maize"])):
        config["pretraining"]["stage1"] = stage1
        configfile = tmp_path / f"{name}.yaml"
        configfile.write_text(yaml.safe_dump(config))
        plan = run_snakemake(tmp_path, "-n", "--cores", "1", "results/corpus/stage1.txt", configfile=configfile).stdout
        plans[name] = re.search(r"rule build_pretraining_corpus:\n    input: (.*)\n", plan)[1].split(", ")
    assert plans["demo"] == ["results/promoters/grass_a.fa", "results/promoters/grass_b.fa",
                             "results/promoters/maize.fa"]  # fmt: skip
    assert "results/expression/split.tsv" in plans["with_target"]
