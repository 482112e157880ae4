"""Saved models load with one standard Hugging Face call, in a process that cannot import this package, and give
the workflow's own hidden states and predictions (positions numbered from the gene, under left padding)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import RobertaForMaskedLM

from cornbert import distributed
from cornbert.artefacts import save_model_folder
from cornbert.finetune import train
from cornbert.model import roberta_config
from cornbert.modeling_cornbert import MASKED_LM_AUTO_MAP, gene_position_ids
from cornbert.regressor import load_regressor, predict_log, tokenize
from finetune_world import make_job, make_world, small_settings

# Sequences of different lengths, so that every batch is left-padded (stock RoBERTa would then number positions
# from the first real token and give another model).
SEQUENCES = ["ACGTTGCA" * 4, "TTATAAATAGGC" * 9, "GATAAGATCCAA" * 20, "CACGTG" * 3]

STANDARD_LOAD = """
import json, sys
sys.path = [p for p in sys.path if "workflow_scripts" not in p]
import importlib.util
assert importlib.util.find_spec("cornbert") is None, "the package is importable"
import torch
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer
kind, folder, sequences = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
batch = tokenizer(sequences, padding=True, truncation=True, return_tensors="pt")
with torch.no_grad():
    if kind == "masked_lm":
        model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()
        out = model(**batch, output_hidden_states=True).hidden_states[-1]
        out = out.masked_fill(~batch["attention_mask"].bool()[..., None], 0.0)
    else:
        model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        out = model.to_log_scale(model(**batch))
print(json.dumps({"class": type(model).__name__, "values": out.tolist(), "padded": tokenizer.padding_side}))
"""


def standard_load(kind: str, folder: Path, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"HF_MODULES_CACHE": str(tmp_path / "hf_modules"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-I", "-c", STANDARD_LOAD, kind, str(folder), json.dumps(SEQUENCES)],
                            cwd=tmp_path, env=env, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_masked_lm_loads_with_automodelformaskedlm_and_gives_the_workflows_hidden_states(tmp_path):
    world = make_world(tmp_path / "world")
    from cornbert.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(world / "tokenizer")
    config = roberta_config("demo", {}, vocab_size=len(tokenizer), max_length=tokenizer.model_max_length)
    torch.manual_seed(0)
    model = RobertaForMaskedLM(config).eval()
    folder = tmp_path / "stage2"
    save_model_folder(model, folder, MASKED_LM_AUTO_MAP)  # what pretrain_model writes
    tokenizer.save_pretrained(folder)

    batch = tokenize(tokenizer, SEQUENCES)
    assert (batch["attention_mask"] == 0).any()  # left padding is exercised
    with torch.no_grad():  # the workflow's forward pass (pretraining's validation, fine-tuning's encoder)
        positions = gene_position_ids(config, batch["attention_mask"])
        ours = model.roberta(**batch, position_ids=positions).last_hidden_state
    ours = ours.masked_fill(~batch["attention_mask"].bool()[..., None], 0.0)

    loaded = standard_load("masked_lm", folder, tmp_path)
    assert loaded["class"] == "CornBertForMaskedLM" and loaded["padded"] == "left"
    np.testing.assert_allclose(np.array(loaded["values"]), ours.numpy(), atol=1e-5)
    with torch.no_grad():  # and stock RoBERTa numbering would not: the check can fail
        stock = model.roberta(**batch).last_hidden_state.masked_fill(~batch["attention_mask"].bool()[..., None], 0.0)
    assert np.abs(stock.numpy() - ours.numpy()).max() > 1e-2


def test_the_fine_tuned_regressor_loads_with_automodel_and_predicts_what_the_workflow_does(tmp_path):
    torch.set_num_threads(1)
    world = make_world(tmp_path / "world")
    train(make_job(world, tmp_path / "out", small_settings(max_steps=4)), distributed.setup(prefer_cuda=False))
    folder = tmp_path / "out" / "model"
    assert (folder / "modeling_cornbert.py").exists()
    model, tokenizer, _ = load_regressor(folder)
    ours = predict_log(model, tokenizer, SEQUENCES, batch_size=len(SEQUENCES))

    loaded = standard_load("regressor", folder, tmp_path)
    assert loaded["class"] == "CornBertRegressor"
    np.testing.assert_allclose(np.array(loaded["values"]), ours, atol=1e-5)
