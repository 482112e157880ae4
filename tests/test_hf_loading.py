"""Saved models load with one standard Hugging Face call, in a process that cannot import this package, and give
the workflow's own hidden states and predictions (positions numbered from the gene, under left padding); folders
saved before they shipped their model code still load through the workflow's loader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import RobertaForMaskedLM

from cornbert import distributed
from cornbert.finetune import train
from cornbert.modeling_cornbert import gene_position_ids
from cornbert.pretrain import PretrainSettings, pretrain
from cornbert.regressor import load_regressor, predict_log, tokenize
from cornbert.token_store import write_token_store
from cornbert.tokenizer import load_tokenizer, train_tokenizer
from finetune_world import make_job, make_world, small_settings
from test_tokenizer import random_promoters

# Promoters of different token lengths, in batches of different widths, so that rows are left-padded by different
# amounts (stock RoBERTa would then number positions from the first real token and give another model); the last
# batch needs no padding.
SEQUENCES = ["ACGTTGCA" * 4, "TTATAAATAGGC" * 9, "GATAAGATCCAA" * 20, "CACGTG" * 3]
BATCHES = [SEQUENCES, SEQUENCES[1:4:2], SEQUENCES[:1]]

# What a user without this package runs: the calls of the model cards, nothing from the workflow.
STANDARD_LOAD = """
import json, sys
sys.path = [p for p in sys.path if "workflow_scripts" not in p]
try:
    import cornbert
except ModuleNotFoundError:
    pass
else:
    raise AssertionError(f"the workflow's package is importable: {cornbert.__file__}")
import torch
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer
folder, kinds, batches, tokenizer_options = sys.argv[1], sys.argv[2].split(","), *map(json.loads, sys.argv[3:])
tokenizer = AutoTokenizer.from_pretrained(folder, **tokenizer_options)
encoded = [tokenizer(batch, padding=True, truncation=True, return_tensors="pt") for batch in batches]
results = {"padding_side": tokenizer.padding_side, "input_ids": [b["input_ids"].tolist() for b in encoded]}
with torch.no_grad():
    for kind in kinds:
        load = AutoModelForMaskedLM if kind == "masked_lm" else AutoModel
        model = load.from_pretrained(folder, trust_remote_code=True).eval()
        if kind == "masked_lm":
            values = [model(**b, output_hidden_states=True).hidden_states[-1] for b in encoded]
        elif kind == "encoder":
            values = [model(**b).last_hidden_state for b in encoded]
        else:
            values = [model.to_log_scale(model(**b)) for b in encoded]
        results[kind] = {"class": type(model).__name__, "values": [v.tolist() for v in values]}
print(json.dumps(results))
"""


def standard_load(folder: Path, kinds: list[str], tmp_path: Path, tokenizer_options: dict) -> dict:
    """STANDARD_LOAD's results, from a fresh process isolated from the repository (-I: no PYTHONPATH, no cwd);
    no stdin, so that a trust_remote_code prompt fails the test instead of waiting."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"HF_MODULES_CACHE": str(tmp_path / "hf_modules"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-I", "-c", STANDARD_LOAD, str(folder), ",".join(kinds), json.dumps(BATCHES),
         json.dumps(tokenizer_options)],
        cwd=tmp_path, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run the custom code?" not in result.stdout
    return json.loads(result.stdout.strip().splitlines()[-1])


def front_matter(folder: Path) -> dict:
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def assert_hub_card(folder: Path, pipeline_tag: str, load_call: str) -> None:
    metadata = front_matter(folder)
    assert metadata["library_name"] == "transformers" and metadata["pipeline_tag"] == pipeline_tag
    assert metadata["license"] == "mit" and "custom_code" in metadata["tags"]
    metrics = metadata["model-index"][0]["results"][0]["metrics"]
    assert metrics and all(isinstance(metric["value"], float) for metric in metrics)
    assert f'{load_call}.from_pretrained("{folder}", trust_remote_code=True)' in (folder / "README.md").read_text()


def real(hidden: torch.Tensor, attention_mask: torch.Tensor) -> np.ndarray:
    """Hidden states of real tokens only (pads' states are never used)."""
    return hidden.masked_fill(~attention_mask.bool()[..., None], 0.0).numpy()


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """A masked-LM folder written by the workflow's pretraining (two steps of a tiny model)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("pretrained")
    promoters = random_promoters(60, 300, seed=3)
    train_tokenizer(promoters, 400, min_frequency=2, max_length=64).save_pretrained(root / "tokenizer")
    (root / "corpus.txt").write_text("\n".join(promoters) + "\n")
    write_token_store(root / "corpus.txt", root / "tokenizer", root / "corpus.tokens")
    settings = PretrainSettings(max_steps=2, batch_size=8, micro_batch_size=8, warmup_steps=1, eval_steps=2,
                                checkpoint_steps=2)  # fmt: skip
    model = {"preset": "demo", "overrides": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                                             "intermediate_size": 64}}  # fmt: skip
    pretrain(str(root / "corpus.tokens"), str(root / "tokenizer"), str(root / "model"), str(root / "metrics.tsv"),
             str(root / "checkpoints"), asdict(settings), model)  # fmt: skip
    return root / "model"


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory) -> Path:
    """A regressor folder written by the workflow's fine-tuning."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("fine_tuned")
    world = make_world(root / "world")
    train(make_job(world, root / "out", small_settings(max_steps=4)), distributed.setup(prefer_cuda=False))
    return root / "out" / "model"


def test_the_masked_lm_loads_with_the_standard_calls_and_gives_the_workflows_hidden_states(pretrained, tmp_path):
    assert (pretrained / "modeling_cornbert.py").is_file()
    # The workflow's own reading of the folder: stage 2's start (build_model) and MaskedLMLoss's forward pass.
    model = RobertaForMaskedLM.from_pretrained(pretrained).eval()
    tokenizer = load_tokenizer(pretrained)
    batches = [tokenize(tokenizer, batch) for batch in BATCHES]
    assert len({b["input_ids"].shape[1] for b in batches}) == len(BATCHES)  # three widths
    assert (batches[0]["attention_mask"] == 0).any()  # left padding is exercised
    with torch.no_grad():
        ours = [real(model.roberta(**b, position_ids=gene_position_ids(model.config, b["attention_mask"]))
                     .last_hidden_state, b["attention_mask"]) for b in batches]  # fmt: skip
        stock = [real(model.roberta(**b).last_hidden_state, b["attention_mask"]) for b in batches]

    # The folder's config is a RobertaConfig, so its tokenizer needs no remote code.
    loaded = standard_load(pretrained, ["masked_lm", "encoder"], tmp_path, {})
    assert loaded["padding_side"] == "left"
    assert loaded["input_ids"] == [b["input_ids"].tolist() for b in batches]
    assert loaded["masked_lm"]["class"] == "CornBertForMaskedLM" and loaded["encoder"]["class"] == "CornBertModel"
    for kind in ("masked_lm", "encoder"):
        for values, b, expected in zip(loaded[kind]["values"], batches, ours):
            np.testing.assert_allclose(real(torch.tensor(values), b["attention_mask"]), expected, atol=1e-5)
    # Stock RoBERTa's numbering would not match on padded batches: the check can fail.
    assert np.abs(stock[0] - ours[0]).max() > 1e-2
    assert_hub_card(pretrained, "fill-mask", "AutoModelForMaskedLM")


def test_the_fine_tuned_regressor_loads_with_automodel_and_predicts_what_the_workflow_does(fine_tuned, tmp_path):
    assert (fine_tuned / "modeling_cornbert.py").is_file()
    model, tokenizer, _ = load_regressor(fine_tuned)
    ours = [predict_log(model, tokenizer, batch, batch_size=len(batch)) for batch in BATCHES]

    # AutoTokenizer reads the folder's config first, and that config's class ships with the folder.
    loaded = standard_load(fine_tuned, ["regressor"], tmp_path, {"trust_remote_code": True})
    assert loaded["padding_side"] == "left" and loaded["regressor"]["class"] == "CornBertRegressor"
    assert loaded["input_ids"] == [tokenize(tokenizer, batch)["input_ids"].tolist() for batch in BATCHES]
    for values, expected in zip(loaded["regressor"]["values"], ours):
        np.testing.assert_allclose(np.array(values), expected, atol=1e-5)
    assert_hub_card(fine_tuned, "tabular-regression", "AutoModel")


def test_a_folder_saved_without_model_code_loads_through_the_workflow_as_before(fine_tuned, tmp_path):
    """Folders saved before they shipped modeling_cornbert.py and an auto_map: the workflow's loader reads them
    with the package's classes, so they predict exactly what a folder saved now does."""
    legacy = tmp_path / "legacy"
    shutil.copytree(fine_tuned, legacy)
    (legacy / "modeling_cornbert.py").unlink()
    config = json.loads((legacy / "config.json").read_text())
    del config["auto_map"]
    (legacy / "config.json").write_text(json.dumps(config))

    model, tokenizer, tissues = load_regressor(fine_tuned)
    old, old_tokenizer, old_tissues = load_regressor(legacy)
    assert old_tissues == tissues
    np.testing.assert_array_equal(predict_log(old, old_tokenizer, SEQUENCES), predict_log(model, tokenizer, SEQUENCES))
