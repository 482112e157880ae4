"""Fine-tuning: schedules, progressive unfreezing, outputs, determinism, resume after a kill."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from cornbert import distributed, finetune, training
from cornbert.errors import InputError
from cornbert.finetune import FinetuneSettings, lr_factor, parameter_groups, phase_boundaries, train
from cornbert.regressor import build_regressor, load_regressor, predict_log, tokenize
from conftest import assert_fallback_warnings, damage_checkpoints
from finetune_world import make_job, make_world, small_settings
from transformers import RobertaConfig, RobertaModel

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    return make_world(tmp_path_factory.mktemp("finetune_world"))


def run(world: Path, out: Path, settings: FinetuneSettings, pretrained: bool = True) -> Path:
    train(make_job(world, out, settings, pretrained), distributed.setup(prefer_cuda=False))
    return out


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "model" / "model.safetensors")


def test_schema_defaults_are_the_settings_defaults():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())["properties"]["finetune"]
    assert schema["additionalProperties"] is False
    defaults = {name: spec["default"] for name, spec in schema["properties"].items()}
    assert defaults == dataclasses.asdict(FinetuneSettings())
    assert all(spec.get("description") for spec in schema["properties"].values())


def test_study_schedule():
    settings = FinetuneSettings()
    assert (settings.optimizer, settings.betas, settings.eps, settings.batch_size) == ("lamb", [0.9, 0.999], 1e-8, 84)
    config = RobertaConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=6, num_attention_heads=2, intermediate_size=8
    )
    model = build_regressor(config, ["a", "b"], [4, 4], 0.2, "tanh")
    groups = parameter_groups(model, settings)
    assert [(g.name, g.start, g.lr) for g in groups] == [
        ("head", 0, 2e-3),
        ("layers5-6", 400, 1e-3),
        ("layers3-4", 800, 1e-3),
        ("layers1-2", 1200, 1e-3),
        ("embeddings", None, 1e-3),
    ]
    assert sum(len(g.params) for g in groups) == len(list(model.parameters()))
    assert phase_boundaries(groups, settings.max_steps) == [
        (0, "head"),
        (400, "layers5-6"),
        (800, "layers3-4"),
        (1200, "layers1-2"),
    ]


def test_lr_factor_warms_up_from_each_groups_own_start_then_decays_to_zero():
    factors = [lr_factor(step, start=400, warmup_steps=100, max_steps=2000) for step in range(2000)]
    assert factors[399] == 0.0
    assert factors[400] == pytest.approx(0.01)
    assert factors[499] == pytest.approx(1.0)
    assert factors[500] == pytest.approx(1.0)
    assert factors[1250] == pytest.approx(0.5)
    assert factors[1999] == pytest.approx(1 / 1500)
    assert np.all(np.diff(factors[500:]) < 0)
    assert lr_factor(10, start=None, warmup_steps=1, max_steps=20) == 0.0


def test_pooling_ignores_padding_and_special_tokens(world):
    model, tokenizer = build_regressor(RobertaConfig.from_pretrained(world / "stage2"), ["t"], [4], 0.0, "tanh"), None
    from cornbert.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(world / "tokenizer")
    model.eval()
    batch = tokenize(tokenizer, ["ACGTACGTTTGACCA", "ACGTACGTTTGACCAGGGATTACAGATTACA"])
    pooled = model.pool(**batch)
    from cornbert.modeling_cornbert import gene_position_ids as position_ids

    hidden = model.encoder(**batch, position_ids=position_ids(model.encoder.config, batch["attention_mask"]))
    hidden = hidden.last_hidden_state[0]
    ids = batch["input_ids"][0]
    real = (ids != tokenizer.pad_token_id) & (ids != tokenizer.bos_token_id) & (ids != tokenizer.eos_token_id)
    assert (ids == tokenizer.pad_token_id).any()  # the short sequence is left-padded
    torch.testing.assert_close(pooled[0], hidden[real].mean(dim=0))
    alone = model.pool(**tokenize(tokenizer, ["ACGTACGTTTGACCA"]))
    torch.testing.assert_close(pooled[0], alone[0], atol=1e-5, rtol=1e-5)


def test_position_binned_pooling_averages_each_bin_counted_from_the_gene_and_ignores_padding(world):
    from cornbert.modeling_cornbert import gene_position_ids as position_ids
    from cornbert.tokenizer import load_tokenizer

    config = RobertaConfig.from_pretrained(world / "stage2")
    model = build_regressor(config, ["t"], [4], 0.0, "tanh", pooling_bins=3).eval()
    assert model.head[1].in_features == 3 * config.hidden_size
    tokenizer = load_tokenizer(world / "tokenizer")
    long, short = "ACGTTGCAGGATCCATTA" * 12, "ACGTTGCAGGA"
    batch = tokenize(tokenizer, [long, short])
    with torch.no_grad():
        pooled = model.pool(**batch).view(2, 3, -1)  # [B, bins, H]
        hidden = model.encoder(**batch, position_ids=position_ids(config, batch["attention_mask"])).last_hidden_state
    ids = batch["input_ids"][0]
    real = (ids != tokenizer.pad_token_id) & (ids != tokenizer.bos_token_id) & (ids != tokenizer.eos_token_id)
    window = config.max_position_embeddings - 2
    distance = torch.arange(len(ids) - 1, -1, -1)
    for b in range(3):
        in_bin = real & ((distance * 3 // window).clamp(max=2) == b)
        assert in_bin.any()
        torch.testing.assert_close(pooled[0, b], hidden[0][in_bin].mean(dim=0))
    # The short promoter has tokens in the gene-proximal bin only; its other bins are zero, not NaN.
    assert torch.isfinite(pooled[1]).all() and pooled[1, 2].abs().sum() == 0
    with torch.no_grad():
        alone = model.pool(**tokenize(tokenizer, [short])).view(1, 3, -1)
    torch.testing.assert_close(pooled[1], alone[0], atol=1e-5, rtol=1e-5)


def test_gene_aligned_positions_give_the_gene_proximal_token_the_same_position_in_every_promoter(world):
    from cornbert.modeling_cornbert import gene_position_ids as position_ids
    from cornbert.tokenizer import load_tokenizer

    config = RobertaConfig.from_pretrained(world / "stage2")
    assert config.positions_from_gene  # set at stage 1 (the default) and carried into stage 2's config.json
    model = build_regressor(config, ["t"], [4], 0.0, "tanh")
    batch = tokenize(load_tokenizer(world / "tokenizer"), ["ACGTTGCA" * 20, "ACGTTGCA" * 3])
    positions = position_ids(model.encoder.config, batch["attention_mask"])
    last = config.max_position_embeddings - 1
    assert positions[:, -1].tolist() == [last, last]
    real = batch["attention_mask"][1].bool()
    assert (positions[1][~real] == config.pad_token_id).all()
    assert torch.equal(positions[1][real], torch.arange(last - int(real.sum()) + 1, last + 1))
    model.eval()
    with torch.no_grad():
        roberta_numbering = build_regressor(
            RobertaConfig(**(config.to_dict() | {"positions_from_gene": False})), ["t"], [4], 0.0, "tanh"
        )
        assert position_ids(roberta_numbering.encoder.config, batch["attention_mask"]) is None
        roberta_numbering.load_state_dict(model.state_dict())
        roberta_numbering.eval()
        assert not torch.allclose(
            model(**batch)[1], roberta_numbering(**batch)[1]
        )  # the short promoter is positioned differently


def test_exactly_the_scheduled_parameters_change_in_each_phase(world, tmp_path):
    """Paper schedule scaled down (unfreeze at 2, 4, 6): runs stopped at the end of each phase."""
    initial_encoder = RobertaModel.from_pretrained(world / "stage2", add_pooling_layer=False).state_dict()
    expected_trainable = {
        2: ["head"],
        4: ["head", "5", "6"],
        6: ["head", "3", "4", "5", "6"],
        8: ["head", "1", "2", "3", "4", "5", "6"],
    }
    for max_steps, trainable in expected_trainable.items():
        out = run(world, tmp_path / str(max_steps), small_settings(max_steps=max_steps, keep_best=False))
        changed = set()
        for name, value in weights(out).items():
            if name.startswith("encoder."):
                if not torch.equal(value, initial_encoder[name[len("encoder.") :]]):
                    part = name.split(".")[3] if name.startswith("encoder.encoder.layer.") else name.split(".")[1]
                    changed.add(str(int(part) + 1) if part.isdigit() else part)
        assert sorted(changed) == sorted(t for t in trainable if t != "head"), f"after {max_steps} steps"
        assert "embeddings" not in changed


def test_embeddings_train_when_scheduled(world, tmp_path):
    out = run(world, tmp_path, small_settings(max_steps=4, unfreeze_embeddings_step=2, keep_best=False))
    initial = RobertaModel.from_pretrained(world / "stage2", add_pooling_layer=False).state_dict()
    trained = weights(out)
    assert not torch.equal(
        trained["encoder.embeddings.word_embeddings.weight"], initial["embeddings.word_embeddings.weight"]
    )


def test_outputs_load_back_in_one_call(world, tmp_path):
    out = run(world, tmp_path, small_settings(standardize_targets=True, optimizer="adamw"))
    model, tokenizer, tissues = load_regressor(out / "model")
    assert tissues == ["root", "leaf", "seed"]
    card = (out / "model" / "README.md").read_text()
    assert card.count("Validation") >= 2
    threads = torch.get_num_threads()
    assert f"Trained on cpu x 1 process(es), {threads} torch thread(s), torch {torch.__version__}, seed 7" in card
    targets = pd.read_csv(world / "targets.tsv", sep="\t", index_col=0)
    assert model.config.target_mean != [0.0, 0.0, 0.0] and len(model.config.target_std) == 3
    predictions = predict_log(model, tokenizer, ["ACGT" * 75, "TTTT" * 75], batch_size=1)
    assert predictions.shape == (2, 3)
    # Un-standardised: the predictions sit on the scale of the targets, not around 0.
    assert np.abs(predictions.mean(axis=0) - targets.mean().to_numpy()).max() < 1.5
    loss = pd.read_csv(out / "loss.tsv", sep="\t")
    assert list(loss.columns) == ["step", "phase", "split", "loss"]
    assert set(loss["split"]) == {"train", "validation"} and loss["step"].max() == 8
    assert list(loss.drop_duplicates("step")["phase"]) == ["head", "layers5-6", "layers3-4", "layers1-2"]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "checkpoints").exists()


def test_genes_of_each_split_come_from_the_split_file(world, tmp_path):
    from cornbert.finetune import split_genes

    _, genes, _ = split_genes(make_job(world, tmp_path, small_settings()))
    split = pd.read_csv(world / "split.tsv", sep="\t", index_col=0)["split"]
    for name in ("train", "validation", "test"):
        assert genes[name] == sorted(split.index[split == name]), name
    assert genes["validation"] and not set(genes["validation"]) & set(genes["train"])


def test_a_split_without_validation_genes_is_refused_naming_the_file(world, tmp_path):
    from cornbert.finetune import split_genes

    split = pd.read_csv(world / "split.tsv", sep="\t")
    split["split"] = split["split"].replace("validation", "train")
    path = tmp_path / "split.tsv"
    split.to_csv(path, sep="\t", index=False)
    job = make_job(world, tmp_path, small_settings())
    job.split = str(path)
    with pytest.raises(InputError, match=f"{path}: no validation genes"):
        split_genes(job)


def test_scratch_trains_every_parameter_from_the_first_step(world, tmp_path):
    """Progressive unfreezing protects pretrained weights; random ones have nothing to protect."""
    settings = small_settings()
    model = build_regressor(RobertaConfig.from_pretrained(world / "stage2"), ["root", "leaf", "seed"], [8], 0.2, "tanh")
    starts = {group.name: group.start for group in parameter_groups(model, settings, pretrained=False)}
    assert starts == {"head": 0, "layers5-6": 0, "layers3-4": 0, "layers1-2": 0, "embeddings": 0}
    assert parameter_groups(model, settings, pretrained=True)[-1].start is None  # the study: embeddings frozen

    # One real step from the same random initialisation, with and without learning rates: everything moved.
    one_step = dict(max_steps=1, warmup_steps=1, eval_interval=1, keep_best=False)
    trained = weights(run(world, tmp_path / "a", small_settings(**one_step), pretrained=False))
    untrained = weights(run(world, tmp_path / "b", small_settings(
        **one_step, head_learning_rate=0.0, encoder_learning_rate=0.0), pretrained=False))  # fmt: skip
    for name in ("encoder.embeddings.word_embeddings.weight", "encoder.encoder.layer.0.attention.self.query.weight"):
        assert not torch.equal(trained[name], untrained[name]), name


def test_same_config_gives_the_same_numbers(world, tmp_path):
    first = run(world, tmp_path / "a", small_settings(), pretrained=False)
    second = run(world, tmp_path / "b", small_settings(), pretrained=False)
    for name, value in weights(first).items():
        assert torch.equal(value, weights(second)[name]), name
    assert (first / "loss.tsv").read_text() == (second / "loss.tsv").read_text()


def test_missing_promoter_is_a_clear_input_error(world, tmp_path):
    broken = tmp_path / "promoters.fa"
    broken.write_text("".join(f">{g}\nACGTACGT\n" for g in ["g001", "g002"]))
    job = make_job(world, tmp_path, small_settings())
    job.promoters = str(broken)
    with pytest.raises(InputError, match="promoters.fa: no promoter for"):
        train(job, distributed.setup(prefer_cuda=False))


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_one(world, tmp_path):
    settings = small_settings(max_steps=40, checkpoint_interval=4, eval_interval=4, micro_batch_size=2)
    reference = run(world, tmp_path / "reference", settings)

    out = tmp_path / "killed"
    job_file = tmp_path / "job.json"
    make_job(world, out, settings).to_json(job_file)
    checkpoints = out / "checkpoints"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "cornbert.finetune", str(job_file)], env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not any(checkpoints.glob("step-*.pt")) and worker.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    worker.kill()
    worker.wait()
    assert any(checkpoints.glob("step-*.pt")), "the worker finished or failed before writing a checkpoint"
    checkpoint = sorted(checkpoints.glob("step-*.pt"))[-1]
    saved_step = torch.load(checkpoint, weights_only=False)["step"]
    assert 0 < saved_step < 40
    assert not (out / "model").exists()

    log_file = tmp_path / "resume.log"
    subprocess.run([sys.executable, "-m", "cornbert.finetune", str(job_file), str(log_file)], env=env, check=True)
    assert f"resuming from the checkpoint at step {saved_step} ({checkpoint})" in log_file.read_text()
    for name, value in weights(reference).items():
        assert torch.equal(value, weights(out)[name]), name
    assert (reference / "loss.tsv").read_text() == (out / "loss.tsv").read_text()


def test_checkpoint_of_other_settings_is_not_resumed(world, tmp_path):
    settings = small_settings(max_steps=8, checkpoint_interval=4)
    job = make_job(world, tmp_path, settings)
    # Leave a checkpoint behind as a killed run of a DIFFERENT config would.
    training.Checkpoints(job.checkpoint_dir, "other").save(4, {})
    train(job, distributed.setup(prefer_cuda=False))
    assert pd.read_csv(tmp_path / "loss.tsv", sep="\t")["step"].min() == 2


@pytest.mark.parametrize("damaged", [["step-00000006.pt"], ["step-00000006.pt", "step-00000004.pt"]])
def test_damaged_checkpoint_falls_back_to_the_previous_one_or_a_fresh_start(world, tmp_path, monkeypatch, caplog,
                                                                             damaged):  # fmt: skip
    """A checkpoint cut to 8 bytes is skipped with a warning naming it; the run ends exactly as an undamaged
    resume from the checkpoint it fell back to (or a fresh run) does."""
    settings = small_settings(max_steps=8, checkpoint_interval=2)

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # stopped just before writing its outputs: its checkpoints stay behind
        patch.setattr(finetune, "write_outputs", fail)
        with pytest.raises(KeyboardInterrupt):
            run(world, tmp_path / "damaged", settings)
    assert sorted(p.name for p in (tmp_path / "damaged" / "checkpoints").iterdir()) == ["step-00000004.pt", "step-00000006.pt"]  # two kept
    checkpoints = damage_checkpoints(tmp_path / "damaged", tmp_path / "reference", damaged)

    with caplog.at_level(logging.INFO, logger="cornbert"):
        run(world, tmp_path / "damaged", settings)
    assert_fallback_warnings(caplog.records, checkpoints, damaged, "step-00000004.pt")
    run(world, tmp_path / "reference", settings)
    for name, value in weights(tmp_path / "reference").items():
        assert torch.equal(value, weights(tmp_path / "damaged")[name]), name
    assert (tmp_path / "reference" / "loss.tsv").read_text() == (tmp_path / "damaged" / "loss.tsv").read_text()


def test_batch_norm_head_statistics_are_recomputed_exactly_from_the_given_genes(world):
    from cornbert.tokenizer import load_tokenizer

    config = RobertaConfig.from_pretrained(world / "stage2")
    model = build_regressor(config, ["a", "b"], [4], 0.0, "tanh", head_norm="batch")
    tokenizer = load_tokenizer(world / "tokenizer")
    batches = [tokenize(tokenizer, ["ACGTTGCA" * 20, "TTTAAACG" * 9]), tokenize(tokenizer, ["GGGCCCAT" * 12])]
    model.train()
    model(**batches[0])  # stale running statistics, as after a training step
    model.recalibrate_norm((b["input_ids"], b["attention_mask"]) for b in batches)
    assert not model.training
    with torch.no_grad():
        pooled = torch.cat([model.pool(**b) for b in batches])  # [3, H]
    norm = model.head[0]
    torch.testing.assert_close(norm.running_mean, pooled.mean(dim=0))
    torch.testing.assert_close(norm.running_var, pooled.var(dim=0, unbiased=True), rtol=1e-4, atol=1e-6)
    with torch.no_grad():  # eval-mode predictions use exactly these statistics
        expected = model.head[1:]((pooled - pooled.mean(0)) / (pooled.var(0) + norm.eps).sqrt())
        torch.testing.assert_close(torch.cat([model(**b) for b in batches]), expected, rtol=1e-4, atol=1e-5)
