"""RoBERTa masked-LM pretraining: a plain, resumable, deterministic training loop (one process or DDP).

Every random choice of a step (which sequences, which tokens are masked, dropout) is drawn from a seed derived
from (seed, step), so a run resumed from a checkpoint at step k continues exactly as if it had never stopped,
and the batch a step sees does not depend on how it is split into micro-batches or processes. Promoters are read
from the stage's token store (cornbert.token_store, rule tokenize_corpus) as each batch needs them, so memory does
not grow with the corpus.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerFast, RobertaForMaskedLM, get_linear_schedule_with_warmup

from cornbert import distributed, training
from cornbert.artefacts import check_loaded, check_model_dir
from cornbert.errors import InputError
from cornbert.model import position_ids, roberta_config
from cornbert.runtime import seed_everything
from cornbert.tables import write_tsv
from cornbert.token_store import HEADER, TokenStore, held_out, open_token_store
from cornbert.tokenizer import load_tokenizer

log = logging.getLogger("cornbert.pretrain")

IGNORE_INDEX = -100  # label of tokens that are not masked (ignored by the loss)
# Settings that change how a run is computed but not what it computes; a checkpoint survives changing them.
NOT_IN_FINGERPRINT = ("micro_batch_size", "checkpoint_steps", "eval_steps", "compile_on_gpu")


@dataclass(frozen=True)
class PretrainSettings:
    """The `pretraining` section of the config (genome lists aside) plus the global seed."""

    mlm_probability: float = 0.15
    eval_fraction: float = 0.05
    epochs: float = 3
    max_steps: int | None = None
    batch_size: int = 64
    micro_batch_size: int = 16
    learning_rate: float = 1e-4
    warmup_steps: int = 50
    weight_decay: float = 0.01
    optimizer: str = "lamb"
    eval_steps: int = 500
    checkpoint_steps: int = 500
    cpu_bf16: bool = False
    compile_on_gpu: bool = False
    seed: int = 42

    @classmethod
    def from_config(cls, section: dict[str, Any], seed: int) -> PretrainSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in section.items() if key in known}, seed=seed)


def pretrain(
    tokens: str,
    tokenizer_dir: str,
    output_dir: str,
    metrics_path: str,
    checkpoint_dir: str,
    settings: dict[str, Any],
    model: dict[str, Any],
    init_model_dir: str | None = None,
) -> float:
    """Train a masked LM on the token store `tokens` (from `init_model_dir` if given, else from scratch with the `model` section).

    Saves the model and tokenizer to `output_dir`, one row per step to `metrics_path`, and returns the final
    held-out MLM loss. Arguments are plain values so that distributed.launch can hand them to torchrun.
    """
    run = PretrainSettings(**settings)
    context = distributed.setup()
    try:
        return _pretrain(context, run, tokens, tokenizer_dir, output_dir, metrics_path, checkpoint_dir, model,
                         init_model_dir)  # fmt: skip
    finally:
        distributed.teardown(context)


def _pretrain(
    context: distributed.Context,
    run: PretrainSettings,
    tokens: str,
    tokenizer_dir: str,
    output_dir: str,
    metrics_path: str,
    checkpoint_dir: str,
    model_section: dict[str, Any],
    init_model_dir: str | None,
) -> float:
    seed_everything(run.seed)
    tokenizer = load_tokenizer(tokenizer_dir)
    store = open_token_store(tokens, tokenizer_dir)
    train_index, eval_index = split_promoters(store, run)
    steps = total_steps(run, len(train_index))
    accumulation = _accumulation_steps(run, context.world_size)
    log.info(
        "%d training / %d held-out promoters; %d steps of %d sequences (%d x %d micro-batches on %d process(es))",
        len(train_index), len(eval_index), steps, run.batch_size, accumulation, run.micro_batch_size,
        context.world_size,
    )  # fmt: skip

    model = build_model(tokenizer, model_section, init_model_dir).to(context.device)
    optimizer = _optimizer(model, run)
    scheduler = get_linear_schedule_with_warmup(optimizer, run.warmup_steps, steps)
    rows: list[dict[str, float]] = []
    checkpoints = training.Checkpoints(checkpoint_dir, _fingerprint(run, model_section, tokens, tokenizer_dir,
                                                                    init_model_dir))  # fmt: skip
    state = checkpoints.load()
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rows, start = state["metrics"], state["step"]

    loss_module = MaskedLMLoss(model)
    train_module = distributed.wrap(loss_module, context)
    if run.compile_on_gpu and context.device.type == "cuda":
        train_module = torch.compile(train_module)

    def eval_batches() -> Iterator:
        return _eval_batches(tokenizer, store, eval_index, run, context)

    autocast = training.bf16_autocast(context.device, context.device.type == "cuda" or run.cpu_bf16)
    progress = training.progress(steps, start, "MLM steps", context)
    # Each step's loss stays on the device until a row is written out (evaluation, checkpoint, end): reading it
    # every step would make the host wait for the GPU instead of preparing the next batch.
    pending: list[torch.Tensor] = []
    for step in range(start, steps):
        loss_module.train()
        inputs, attention, labels = step_batch(tokenizer, store, train_index, run, step)
        n_masked = max(int((labels != IGNORE_INDEX).sum()), 1)
        # Dropout differs between ranks but is reproducible per (seed, step, rank).
        torch.manual_seed(_derived_seed(run.seed, step, 1 + context.rank))
        loss_sum = torch.zeros((), device=context.device)

        def micro_loss(module: torch.nn.Module, micro: int) -> torch.Tensor:
            rows_of_micro = slice(micro * run.micro_batch_size, (micro + 1) * run.micro_batch_size)
            loss = module(*to_device(inputs[rows_of_micro], attention[rows_of_micro], labels[rows_of_micro],
                                     context.device))  # fmt: skip
            loss_sum.add_(loss.detach())
            # DDP averages gradients over ranks; scaling by world_size turns that into the step's token mean.
            return loss * context.world_size / n_masked

        micro_batches = range(context.rank, accumulation * context.world_size, context.world_size)
        training.accumulate(train_module, micro_batches, micro_loss, context, autocast)
        learning_rate = scheduler.get_last_lr()[0]  # the rate this step uses
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        done = step + 1
        rows.append({
            "step": done,
            "epoch": done * run.batch_size / len(train_index),
            "learning_rate": learning_rate,
            "train_loss": math.nan,
            "eval_loss": math.nan,
        })  # fmt: skip
        pending.append(distributed.all_reduce_sum(loss_sum, context) / n_masked)
        progress.update()
        evaluating = done % run.eval_steps == 0 or done == steps
        checkpointing = done % run.checkpoint_steps == 0 and done < steps
        if evaluating or checkpointing:
            _settle(rows, pending)
            progress.set_postfix(loss=f"{rows[-1]['train_loss']:.3f}", refresh=False)
        if evaluating:
            rows[-1]["eval_loss"] = evaluate(loss_module, eval_batches(), context, autocast)
            log.info(
                "step %d/%d: train loss %.4f, held-out loss %.4f",
                done, steps, rows[-1]["train_loss"], rows[-1]["eval_loss"],
            )  # fmt: skip
        if checkpointing:
            if context.is_main:
                checkpoints.save(done, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                        "scheduler": scheduler.state_dict(), "metrics": rows})  # fmt: skip
            distributed.barrier(context)
    progress.close()

    final_loss = rows[-1]["eval_loss"] if rows else evaluate(loss_module, eval_batches(), context, autocast)
    distributed.assert_ranks_in_sync(model, context, "after pretraining")
    if context.is_main:

        def write(folder: Path) -> None:
            model.save_pretrained(folder)  # safetensors
            tokenizer.save_pretrained(folder)

        training.save_model(output_dir, write)
        write_tsv(pd.DataFrame(rows, columns=["step", "epoch", "learning_rate", "train_loss", "eval_loss"]),
                  metrics_path, index=False)  # fmt: skip
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        log.info("final held-out masked-LM loss: %.4f (ln vocabulary = %.2f)", final_loss, math.log(len(tokenizer)))
    distributed.barrier(context)
    return final_loss


def build_model(
    tokenizer: PreTrainedTokenizerFast, model_section: dict[str, Any], init_model_dir: str | None
) -> RobertaForMaskedLM:
    """Stage 1: a fresh RoBERTa of the configured size. Stage 2: the stage-1 weights, architecture included."""
    if init_model_dir is None:
        config = roberta_config(
            model_section.get("preset", "paper"), model_section.get("overrides", {}), len(tokenizer),
            tokenizer.model_max_length, model_section.get("positions_from_gene", True),
        )  # fmt: skip
        return RobertaForMaskedLM(config)
    check_model_dir(init_model_dir, "pretrained CornBERT (saved by pretrain_model)")
    log.info("starting from the weights in %s (its architecture; the `model` section is not used)", init_model_dir)
    model, info = RobertaForMaskedLM.from_pretrained(init_model_dir, attn_implementation="sdpa",
                                                     output_loading_info=True)
    check_loaded(init_model_dir, info, "pretrained CornBERT")
    if model.config.vocab_size != len(tokenizer):
        raise InputError(
            init_model_dir, f"model vocabulary {model.config.vocab_size} != tokenizer vocabulary {len(tokenizer)}"
        )
    return model


class MaskedLMLoss(torch.nn.Module):
    """RobertaForMaskedLM's summed masked-LM loss, with the vocabulary projection applied to the masked tokens only.

    The stock model projects every token onto the vocabulary and then ignores the ~85 % that are not masked: for
    the demo model that projection is most of the compute, and for any model its [batch, length, vocabulary] logits
    are the largest tensor of the step. Same loss and gradients (tests/test_pretrain.py)."""

    def __init__(self, model: RobertaForMaskedLM):
        super().__init__()
        self.model = model

    def forward(self, inputs, attention, masked, targets) -> torch.Tensor:
        """inputs, attention: [B, L]; masked: [M] flat indices (into B x L) of the masked tokens; targets: [M]."""
        positions = position_ids(self.model.config, attention)
        hidden = self.model.roberta(input_ids=inputs, attention_mask=attention, position_ids=positions)[0]  # [B, L, H]
        logits = self.model.lm_head(hidden.flatten(0, 1).index_select(0, masked))  # [M, V]
        return F.cross_entropy(logits.float(), targets, reduction="sum")


def to_device(inputs: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor, device: torch.device) -> list:
    """MaskedLMLoss's arguments on `device`. The masked positions are found on the host, where the batch was made,
    so that their number is known without waiting for the GPU; pinned memory lets the copies run asynchronously."""
    flat = labels.flatten()
    masked = torch.nonzero(flat != IGNORE_INDEX).squeeze(1)  # [M]
    tensors = [inputs, attention, masked, flat[masked]]
    if device.type == "cuda":
        tensors = [tensor.pin_memory() for tensor in tensors]
    return [tensor.to(device, non_blocking=True) for tensor in tensors]


@torch.no_grad()
def evaluate(loss_module: MaskedLMLoss, batches: Iterable, context: distributed.Context, autocast) -> float:
    """Held-out MLM loss per masked token over this process's share of `batches`, summed over processes."""
    loss_module.eval()
    loss_sum = torch.zeros((), device=context.device)
    n_masked = 0
    for inputs, attention, labels in batches:
        batch = to_device(inputs, attention, labels, context.device)
        with autocast:
            loss_sum += loss_module(*batch)
        n_masked += len(batch[-1])  # the masked tokens' targets; their number is a shape, known on the host
    totals = distributed.all_reduce_sum(
        torch.stack([loss_sum.float(), torch.tensor(float(n_masked), device=context.device)]), context
    )
    return float(totals[0] / totals[1].clamp(min=1))


def _settle(rows: list[dict[str, float]], pending: list[torch.Tensor]) -> None:
    """Write the losses still on the device into the last len(pending) rows (one host synchronisation for all)."""
    if pending:
        for row, loss in zip(rows[-len(pending) :], torch.stack(pending).tolist()):
            row["train_loss"] = loss
        pending.clear()


def total_steps(run: PretrainSettings, n_train: int) -> int:
    if run.max_steps is not None:
        return run.max_steps
    return max(1, math.ceil(run.epochs * n_train / run.batch_size))


def mask_tokens(
    input_ids: torch.Tensor, tokenizer: PreTrainedTokenizerFast, probability: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: pick `probability` of the real tokens; 80 % -> <mask>, 10 % -> random token, 10 % kept."""
    special = torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < probability) & ~special
    labels = torch.where(chosen, input_ids, IGNORE_INDEX)
    roll = torch.rand(input_ids.shape, generator=generator)
    random_tokens = torch.randint(len(tokenizer), input_ids.shape, generator=generator)
    masked = torch.where(chosen & (roll < 0.8), tokenizer.mask_token_id, input_ids)
    masked = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_tokens, masked)
    return masked, labels


def split_promoters(store: TokenStore, run: PretrainSettings) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and held-out promoters of the store.

    A promoter is held out when a seeded hash of its sequence falls below `eval_fraction`, so the choice depends
    on the sequence alone: stage 2's target-species promoters are also in stage 1's corpus, and every one of them
    held out in stage 2 was held out of stage 1 too (a per-stage random draw let stage 2 report its loss on
    promoters stage 1 had trained on). Identical copies share one side."""
    flags = held_out(store.hashes, run.seed, run.eval_fraction)
    train_index, eval_index = np.flatnonzero(~flags), np.flatnonzero(flags)
    if len(train_index) < 1 or len(eval_index) < 1:
        raise InputError(
            store.path, f"{len(store)} promoters cannot be split into training and held-out sets "
            f"({len(eval_index)} held out at eval_fraction {run.eval_fraction})",
        )  # fmt: skip
    return train_index, eval_index


def step_batch(
    tokenizer: PreTrainedTokenizerFast, store: TokenStore, train_index: np.ndarray, run: PretrainSettings, step: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The step's `batch_size` sequences (consecutive slices of per-epoch permutations), padded and masked."""
    n = len(train_index)
    positions = range(step * run.batch_size, (step + 1) * run.batch_size)
    chosen = [store.promoter(train_index[_epoch_permutation(run.seed, p // n, n)[p % n]]) for p in positions]
    generator = torch.Generator().manual_seed(_derived_seed(run.seed, step, 3))
    return _pad_and_mask(tokenizer, chosen, run.mlm_probability, generator)


@lru_cache(maxsize=2)  # a step straddles at most two epochs; permuting 10 M promoters anew per step is slow
def _epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    permutation = np.random.default_rng(_derived_seed(seed, epoch, 2)).permutation(n)
    permutation.flags.writeable = False
    return permutation


def _eval_batches(
    tokenizer, store: TokenStore, eval_index: np.ndarray, run: PretrainSettings, context: distributed.Context
) -> Iterator:
    """This process's share of the held-out micro-batches, read from the store as they are needed. Each batch's
    masks come from its number, so every evaluation of a run (and every split over processes) is the same."""
    n_batches = math.ceil(len(eval_index) / run.micro_batch_size)
    for number in range(context.rank, n_batches, context.world_size):
        rows = eval_index[number * run.micro_batch_size : (number + 1) * run.micro_batch_size]
        generator = torch.Generator().manual_seed(_derived_seed(run.seed, number, 4))
        yield _pad_and_mask(tokenizer, [store.promoter(i) for i in rows], run.mlm_probability, generator)


def _pad_and_mask(tokenizer, sequences: list[np.ndarray], probability: float, generator: torch.Generator):
    """Left padding to the longest sequence (the gene-proximal end at fixed positions), then BERT masking."""
    length = max(len(ids) for ids in sequences)
    padded = np.full((len(sequences), length), tokenizer.pad_token_id, dtype=np.int64)  # [batch, tokens]
    attention = np.zeros((len(sequences), length), dtype=np.int64)
    for row, ids in enumerate(sequences):
        padded[row, length - len(ids) :] = ids
        attention[row, length - len(ids) :] = 1
    inputs, labels = mask_tokens(torch.from_numpy(padded), tokenizer, probability, generator)
    return inputs, torch.from_numpy(attention), labels


def _accumulation_steps(run: PretrainSettings, world_size: int) -> int:
    per_step = run.micro_batch_size * world_size
    if run.batch_size % per_step:
        raise ValueError(
            f"pretraining.batch_size {run.batch_size} must be a multiple of micro_batch_size x processes "
            f"= {run.micro_batch_size} x {world_size}"
        )
    return run.batch_size // per_step


def _optimizer(model: torch.nn.Module, run: PretrainSettings) -> torch.optim.Optimizer:
    # No weight decay on biases and LayerNorm weights, as in BERT/RoBERTa.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": run.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return training.make_optimizer(
        run.optimizer, groups, lr=run.learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=run.weight_decay,
        setting="pretraining.optimizer",
    )  # fmt: skip


def _derived_seed(seed: int, index: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, index, stream]).generate_state(1)[0])


def _fingerprint(
    run: PretrainSettings, model_section: dict[str, Any], tokens: str, tokenizer_dir: str, init_model_dir: str | None
) -> str:
    settings = {k: v for k, v in asdict(run).items() if k not in NOT_IN_FINGERPRINT}
    # The store's header holds the hashes of the corpus and tokenizer it was made from.
    files = [Path(tokens) / HEADER, Path(tokenizer_dir) / "tokenizer.json"]
    if init_model_dir:
        files += sorted(Path(init_model_dir).glob("*.safetensors"))
    return training.fingerprint([settings, model_section], files)


def _main(job_path: str) -> None:
    with open(job_path) as handle:
        pretrain(**json.load(handle))


if __name__ == "__main__":
    training.worker_main(_main, sys.argv[1:])
