"""Masked-LM pretraining: model presets, a real step of the paper model, stage chaining, resume and determinism."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoTokenizer, RobertaForMaskedLM, RobertaModel

from conftest import REPO, assert_fallback_warnings, damage_checkpoints, run_snakemake
from cornbert.errors import InputError
from cornbert import distributed, training

from cornbert.model import PRESETS, roberta_config
from cornbert.modeling_cornbert import gene_position_ids as position_ids
from cornbert.pretrain import (
    MaskedLMLoss, PretrainSettings, build_model, pretrain, split_promoters, step_batch, to_device,
)  # fmt: skip
from cornbert.token_store import open_token_store, write_token_store
from cornbert.tokenizer import load_tokenizer, train_tokenizer
from test_tokenizer import random_promoters

torch.set_num_threads(1)  # the test machine's cores are shared; also keeps runs bit-identical

TINY_MODEL = {
    "preset": "demo",
    "overrides": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
}
TINY_RUN = PretrainSettings(
    max_steps=6, batch_size=8, micro_batch_size=4, learning_rate=1e-3, warmup_steps=2, eval_fraction=0.1,
    eval_steps=3, checkpoint_steps=2, optimizer="lamb",
)  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    """A tokenizer (max 64 tokens) and two small corpora (one promoter per line), each with its token store."""
    root = tmp_path_factory.mktemp("pretrain_inputs")
    stage1, stage2 = random_promoters(120, 300, seed=1), random_promoters(60, 300, seed=2)
    train_tokenizer(stage1, 400, min_frequency=2, max_length=64).save_pretrained(root / "tokenizer")
    paths = {"tokenizer": str(root / "tokenizer")}
    for stage, promoters in (("stage1", stage1), ("stage2", stage2)):
        (root / f"{stage}.txt").write_text("\n".join(promoters) + "\n")
        write_token_store(root / f"{stage}.txt", root / "tokenizer", root / f"{stage}.tokens")
        paths[f"{stage}_corpus"], paths[stage] = str(root / f"{stage}.txt"), str(root / f"{stage}.tokens")
    return paths


def job(inputs, out: Path, stage="stage1", settings=TINY_RUN, model=TINY_MODEL, init_model_dir=None) -> dict:
    return dict(
        tokens=inputs[stage],
        tokenizer_dir=inputs["tokenizer"],
        output_dir=str(out / "model"),
        metrics_path=str(out / "metrics.tsv"),
        checkpoint_dir=str(out / "checkpoints"),
        settings=asdict(settings),
        model=model,
        init_model_dir=init_model_dir,
    )


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(Path(model_dir) / "model.safetensors")


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_paper_preset_has_the_studys_size():
    config = roberta_config("paper", {}, vocab_size=5005, max_length=256)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (6, 768, 6)
    assert config.intermediate_size == 3072 and config.max_position_embeddings == 258
    assert config._attn_implementation == "sdpa"
    base = RobertaModel(config, add_pooling_layer=False)
    assert sum(p.numel() for p in base.parameters()) == pytest.approx(46.57e6, rel=1e-3)


def test_demo_preset_and_overrides():
    config = roberta_config("demo", {"num_hidden_layers": 3, "hidden_dropout_prob": 0.0}, 1505, 256)
    assert config.hidden_size == PRESETS["demo"].hidden_size and config.num_hidden_layers == 3
    assert config.attention_probs_dropout_prob == 0.0 and config.hidden_dropout_prob == 0.0
    assert config.vocab_size == 1505 and config.pad_token_id == 1
    with pytest.raises(ValueError, match="unknown model preset"):
        roberta_config("huge", {}, 1505, 256)


def test_masked_lm_loss_equals_the_stock_models_loss_and_gradients(inputs):
    """The vocabulary projection on the masked tokens alone gives RobertaForMaskedLM's own loss and gradients."""
    tokenizer = load_tokenizer(inputs["tokenizer"])
    store = open_token_store(inputs["stage1"], inputs["tokenizer"])
    train_index, _ = split_promoters(store, TINY_RUN)
    batch_inputs, attention, labels = step_batch(tokenizer, store, train_index, TINY_RUN, step=0)
    for row in range(len(attention)):  # left padding of different lengths, as shorter promoters get
        attention[row, : 5 * row], labels[row, : 5 * row] = 0, -100
        batch_inputs[row, : 5 * row] = tokenizer.pad_token_id
    assert (labels != -100).sum() > 10
    torch.manual_seed(0)
    stock = build_model(tokenizer, TINY_MODEL, None).eval()
    ours = MaskedLMLoss(build_model(tokenizer, TINY_MODEL, None)).eval()
    ours.model.load_state_dict(stock.state_dict())

    reference = stock(input_ids=batch_inputs, attention_mask=attention, labels=labels,
                      position_ids=position_ids(stock.config, attention)).loss  # fmt: skip
    loss = ours(*to_device(batch_inputs, attention, labels, torch.device("cpu"))) / (labels != -100).sum()
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    reference.backward()
    loss.backward()
    for (name, a), b in zip(stock.named_parameters(), ours.model.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name


def test_paper_model_takes_one_real_training_step(inputs, tmp_path):
    settings = PretrainSettings(max_steps=1, batch_size=2, micro_batch_size=2, warmup_steps=0, eval_fraction=0.02,
                                learning_rate=1e-3)  # fmt: skip
    loss = pretrain(**job(inputs, tmp_path, settings=settings, model={"preset": "paper", "overrides": {}}))
    metrics = pd.read_csv(tmp_path / "metrics.tsv", sep="\t")
    assert list(metrics["step"]) == [1]
    assert math.isfinite(metrics["train_loss"].iloc[0]) and metrics["eval_loss"].iloc[0] == pytest.approx(loss)
    assert abs(loss - math.log(405)) < 1.5  # an untrained model is near-uniform over the vocabulary
    trained = RobertaForMaskedLM.from_pretrained(tmp_path / "model")
    assert (trained.config.num_hidden_layers, trained.config.hidden_size) == (6, 768)
    torch.manual_seed(TINY_RUN.seed)  # pretrain() seeds the same way before building the model
    initial = build_model(load_tokenizer(inputs["tokenizer"]), {"preset": "paper", "overrides": {}}, None)
    changed = [name for name, p in trained.state_dict().items() if not torch.equal(p, initial.state_dict()[name])]
    assert "roberta.encoder.layer.0.attention.self.query.weight" in changed


def test_held_out_loss_is_reported_and_model_saved(inputs, tmp_path):
    loss = pretrain(**job(inputs, tmp_path))
    metrics = pd.read_csv(tmp_path / "metrics.tsv", sep="\t")
    assert list(metrics.columns) == ["step", "epoch", "learning_rate", "train_loss", "eval_loss"]
    assert list(metrics["step"]) == list(range(1, 7))
    assert list(metrics.dropna()["step"]) == [3, 6]  # eval_steps = 3, and always the last step
    # Losses held on the device between evaluations and checkpoints all reach the table.
    assert metrics["train_loss"].notna().all() and metrics["train_loss"].gt(0).all()
    assert metrics["eval_loss"].iloc[-1] == pytest.approx(loss) and math.isfinite(loss)
    # Linear warm-up over 2 steps to the peak 1e-3, then linear decay towards 0 at step 6.
    assert list(metrics["learning_rate"]) == pytest.approx([0, 5e-4, 1e-3, 7.5e-4, 5e-4, 2.5e-4])
    assert sorted(os.listdir(tmp_path / "model")) == [
        "README.md", "config.json", "model.safetensors", "modeling_cornbert.py", "tokenizer.json",
        "tokenizer_config.json",
    ]  # fmt: skip
    assert len(load_tokenizer(tmp_path / "model")) == 405
    assert not (tmp_path / "checkpoints").exists()  # removed once the stage is complete


def test_same_config_gives_the_same_numbers(inputs, tmp_path):
    pretrain(**job(inputs, tmp_path / "a"))
    pretrain(**job(inputs, tmp_path / "b"))
    first = pd.read_csv(tmp_path / "a" / "metrics.tsv", sep="\t")
    pd.testing.assert_frame_equal(first, pd.read_csv(tmp_path / "b" / "metrics.tsv", sep="\t"))
    assert_same_weights(weights(tmp_path / "a" / "model"), weights(tmp_path / "b" / "model"))
    other_seed = PretrainSettings(**{**asdict(TINY_RUN), "seed": 7})
    pretrain(**job(inputs, tmp_path / "c", settings=other_seed))
    assert not first["train_loss"].equals(pd.read_csv(tmp_path / "c" / "metrics.tsv", sep="\t")["train_loss"])


def test_stage2_starts_from_stage1_weights(inputs, tmp_path):
    pretrain(**job(inputs, tmp_path / "stage1"))
    stage1 = weights(tmp_path / "stage1" / "model")
    tokenizer = load_tokenizer(inputs["tokenizer"])
    loaded = build_model(tokenizer, {"preset": "paper"}, str(tmp_path / "stage1" / "model"))  # preset ignored
    assert_same_weights({k: v for k, v in loaded.state_dict().items() if k in stage1}, stage1)

    loss = pretrain(
        **job(inputs, tmp_path / "stage2", stage="stage2", init_model_dir=str(tmp_path / "stage1" / "model"))
    )
    stage2 = weights(tmp_path / "stage2" / "model")
    assert math.isfinite(loss)
    assert stage2.keys() == stage1.keys()
    assert not torch.equal(stage2["roberta.embeddings.word_embeddings.weight"],
                           stage1["roberta.embeddings.word_embeddings.weight"])  # fmt: skip

    with open(tmp_path / "stage1" / "model" / "model.safetensors", "r+b") as handle:
        handle.truncate(1000)  # a stage-1 model copied from another cluster, cut short
    with pytest.raises(InputError, match="stage1/model/model.safetensors: damaged or truncated safetensors file"):
        build_model(tokenizer, {}, str(tmp_path / "stage1" / "model"))


RESUME_RUN = PretrainSettings(**{**asdict(TINY_RUN), "max_steps": 60, "checkpoint_steps": 5, "eval_steps": 20})


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint_and_ends_identical(inputs, tmp_path, caplog):
    killed = job(inputs, tmp_path / "killed", settings=RESUME_RUN)
    (tmp_path / "job.json").write_text(json.dumps(killed))
    script = (
        "import json, sys, torch; torch.set_num_threads(1); from cornbert.pretrain import pretrain; "
        "pretrain(**json.load(open(sys.argv[1])))"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "job.json")], stderr=subprocess.DEVNULL)
    checkpoints = tmp_path / "killed" / "checkpoints"
    deadline = time.monotonic() + 300
    while not any(checkpoints.glob("step-*.pt")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed mid-way"
    assert any(checkpoints.glob("step-*.pt")) and not (tmp_path / "killed" / "model").exists()

    with caplog.at_level(logging.INFO, logger="cornbert"):
        pretrain(**killed)
    resumed = [r.getMessage() for r in caplog.records if "resuming from the checkpoint" in r.getMessage()]
    assert len(resumed) == 1
    resumed_step = int(resumed[0].split("step ")[1].split()[0])
    assert 5 <= resumed_step < 60 and resumed_step % 5 == 0

    pretrain(**job(inputs, tmp_path / "uninterrupted", settings=RESUME_RUN))
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "killed" / "metrics.tsv", sep="\t"),
        pd.read_csv(tmp_path / "uninterrupted" / "metrics.tsv", sep="\t"),
    )
    assert_same_weights(weights(tmp_path / "killed" / "model"), weights(tmp_path / "uninterrupted" / "model"))


def test_checkpoint_of_other_settings_or_inputs_is_not_resumed(inputs, tmp_path, caplog):
    training.Checkpoints(tmp_path / "checkpoints", "written by a run with other settings").save(4, {})
    with caplog.at_level(logging.INFO, logger="cornbert"):
        pretrain(**job(inputs, tmp_path))
    assert any("written for other settings, inputs or format; starting from step 0" in r.getMessage() for r in caplog.records)
    assert list(pd.read_csv(tmp_path / "metrics.tsv", sep="\t")["step"]) == list(range(1, 7))


def stopped_before_saving(monkeypatch, call) -> None:
    """Run `call` until it would save its model: its checkpoints stay behind, as after a kill at the very end."""

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(training, "save_model", fail)
        with pytest.raises(KeyboardInterrupt):
            call()


@pytest.mark.parametrize("damaged", [["step-00000004.pt"], ["step-00000004.pt", "step-00000002.pt"]])
def test_damaged_checkpoint_falls_back_to_the_previous_one_or_a_fresh_start(inputs, tmp_path, monkeypatch, caplog,
                                                                             damaged):  # fmt: skip
    """A checkpoint cut to 8 bytes (a node dying mid-write) is skipped with a warning naming it; the run ends
    exactly as an undamaged resume from the checkpoint it fell back to (or a fresh run) does."""
    stopped_before_saving(monkeypatch, lambda: pretrain(**job(inputs, tmp_path / "damaged")))
    assert sorted(p.name for p in (tmp_path / "damaged" / "checkpoints").iterdir()) == ["step-00000002.pt", "step-00000004.pt"]  # two kept
    checkpoints = damage_checkpoints(tmp_path / "damaged", tmp_path / "reference", damaged)

    with caplog.at_level(logging.INFO, logger="cornbert"):
        pretrain(**job(inputs, tmp_path / "damaged"))
    assert_fallback_warnings(caplog.records, checkpoints, damaged, "step-00000002.pt")
    pretrain(**job(inputs, tmp_path / "reference"))
    assert_same_weights(weights(tmp_path / "damaged" / "model"), weights(tmp_path / "reference" / "model"))
    assert (tmp_path / "damaged" / "metrics.tsv").read_text() == (tmp_path / "reference" / "metrics.tsv").read_text()


def test_batch_size_must_split_into_micro_batches(inputs, tmp_path):
    settings = PretrainSettings(**{**asdict(TINY_RUN), "batch_size": 10, "micro_batch_size": 4})
    with pytest.raises(ValueError, match="multiple of micro_batch_size"):
        pretrain(**job(inputs, tmp_path, settings=settings))


@pytest.mark.slow
def test_two_processes_match_one_process(inputs, tmp_path):
    """DDP (torchrun, 2 CPU processes, gloo) computes the same steps as one process when dropout is off."""
    no_dropout = {"preset": "demo", "overrides": {**TINY_MODEL["overrides"], "hidden_dropout_prob": 0.0}}
    parallel = job(inputs, tmp_path / "ddp", model=no_dropout)
    (tmp_path / "job.json").write_text(json.dumps(parallel))
    distributed.launch("cornbert.pretrain", [str(tmp_path / "job.json"), str(tmp_path / "ddp.log")], 2)
    pretrain(**job(inputs, tmp_path / "single", model=no_dropout))
    log_text = (tmp_path / "ddp.log").read_text()
    assert "on 2 process(es)" in log_text and "ranks' weights identical" in log_text
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "ddp" / "metrics.tsv", sep="\t"),
        pd.read_csv(tmp_path / "single" / "metrics.tsv", sep="\t"),
        rtol=1e-4,
    )
    single = weights(tmp_path / "single" / "model")
    for name, tensor in weights(tmp_path / "ddp" / "model").items():
        torch.testing.assert_close(tensor, single[name], rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_rules_train_tokenizer_and_pretrain_both_stages(inputs, tmp_path):
    """The three rules under Snakemake, on corpora put where rule build_pretraining_corpus writes them."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["tokenizer"] = {"vocab_size": 400, "max_length": 64}
    config["model"] = TINY_MODEL
    config["pretraining"].update(max_steps=4, batch_size=8, micro_batch_size=4, eval_steps=2, checkpoint_steps=2)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    corpus = tmp_path / "results" / "corpus"
    corpus.mkdir(parents=True)
    for stage in ("stage1", "stage2"):
        (corpus / f"{stage}.txt").write_text(Path(inputs[f"{stage}_corpus"]).read_text())
    targets = ["results/pretrain/stage2/metrics.tsv", "results/tokenizer/token_lengths.png"]
    only_mine = ["--allowed-rules", "train_tokenizer", "tokenize_corpus", "pretrain_model"]
    run_snakemake(tmp_path, *only_mine, "--cores", "1", *targets, configfile=tmp_path / "config.yaml")

    assert len(AutoTokenizer.from_pretrained(tmp_path / "results" / "tokenizer")) == 405
    lengths = pd.read_csv(tmp_path / "results" / "tokenizer" / "token_lengths.tsv", sep="\t")
    assert lengths["sequences"].sum() == 120 and lengths["truncated"].any()
    for stage in ("stage1", "stage2"):
        model = RobertaForMaskedLM.from_pretrained(tmp_path / "results" / "pretrain" / stage / "model")
        assert model.config.hidden_size == 32
        log_text = (tmp_path / "logs" / "pretrain_model" / f"{stage}.log").read_text()
        assert "final held-out masked-LM loss" in log_text and "MLM steps: 100%" in log_text
        assert (tmp_path / "benchmarks" / "pretrain_model" / f"{stage}.tsv").exists()
        assert not (tmp_path / "results" / "pretrain" / stage / "checkpoints").exists()
        store = open_token_store(corpus / f"{stage}.tokens", tmp_path / "results" / "tokenizer")
        assert len(store) == {"stage1": 120, "stage2": 60}[stage]
        assert "promoters" in (tmp_path / "logs" / "tokenize_corpus" / f"{stage}.log").read_text()
    assert "starting from the weights in results/pretrain/stage1/model" in log_text  # stage 2
    again = run_snakemake(tmp_path, *only_mine, "--cores", "1", *targets, configfile=tmp_path / "config.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_both_stages_hold_out_the_same_promoters(tmp_path):
    """Stage 2's corpus (the target species) is part of stage 1's: what stage 2 scores must not be stage-1
    training data, so the held-out choice depends on the sequence, not on the corpus (or store) it sits in."""
    target = random_promoters(400, 100, seed=1)
    other = random_promoters(1600, 100, seed=2)
    train_tokenizer(other, 300, min_frequency=2, max_length=64).save_pretrained(tmp_path / "tokenizer")

    def split(promoters: list[str], name: str, run: PretrainSettings) -> tuple[set, set]:
        """The training and held-out promoters of a store, read back from it as token-id tuples."""
        (tmp_path / f"{name}.txt").write_text("\n".join(promoters) + "\n")
        write_token_store(tmp_path / f"{name}.txt", tmp_path / "tokenizer", tmp_path / f"{name}.tokens")
        store = open_token_store(tmp_path / f"{name}.tokens", tmp_path / "tokenizer")
        train, held_out = split_promoters(store, run)
        return ({tuple(store.promoter(i)) for i in train}, {tuple(store.promoter(i)) for i in held_out})

    run = PretrainSettings(eval_fraction=0.05)
    stage1_train, stage1_held_out = split(other + target, "stage1", run)
    stage2_train, stage2_held_out = split(target[::-1], "stage2", run)
    assert len(stage1_train | stage1_held_out) == 2000  # 100 bp fit 64 tokens: every promoter has its own ids
    assert stage2_held_out <= stage1_held_out
    assert not stage2_held_out & stage1_train
    target_ids = stage2_train | stage2_held_out
    assert stage2_held_out == stage1_held_out & target_ids
    assert 0.02 < len(stage1_held_out) / 2000 < 0.08 and len(stage2_held_out) > 5
    # Another seed holds out other promoters, from the same store.
    _, reseeded = split(target, "stage2_again", PretrainSettings(eval_fraction=0.05, seed=7))
    assert reseeded != stage2_held_out and len(reseeded) > 5


def test_two_newest_checkpoints_are_kept_and_those_of_an_abandoned_later_step_removed(tmp_path):
    checkpoints = training.Checkpoints(tmp_path, "this run")
    for step in (2, 4, 6):
        checkpoints.save(step, {})
    assert [p.name for p in checkpoints.paths()] == ["step-00000006.pt", "step-00000004.pt"]
    (tmp_path / "step-00000010.pt").write_bytes(b"damaged!")  # skipped on resume, so step 8 is written next
    assert checkpoints.load()["step"] == 6
    checkpoints.save(8, {})
    assert [p.name for p in checkpoints.paths()] == ["step-00000008.pt", "step-00000006.pt"]
