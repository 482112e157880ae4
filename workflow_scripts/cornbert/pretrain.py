"""RoBERTa masked-LM pretraining, a task of the training engine (cornbert.training: the loop, resume, DDP).

What is particular to it: the batches, promoters read from the stage's token store (cornbert.token_store, rule
tokenize_corpus) as each step needs them, so memory does not grow with the corpus; BERT masking drawn from a seed
of (seed, step), so a resumed run masks exactly as an uninterrupted one; the masked-LM loss over the masked tokens
only; BERT's warm-up and linear decay.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerFast, RobertaForMaskedLM

from cornbert import distributed, training
from cornbert.artefacts import CARD_TAGS, check_loaded, check_model_dir, hub_card
from cornbert.errors import InputError
from cornbert.model import POSITION_OFFSET, roberta_config
from cornbert.modeling_cornbert import MASKED_LM_AUTO_MAP, gene_position_ids, save_model_folder
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
    model = build_model(tokenizer, model_section, init_model_dir).to(context.device)
    task = MaskedLM(run, context, tokenizer, store, model, output_dir, metrics_path)
    log.info(
        "%d training / %d held-out promoters; %d steps of %d sequences (%d x %d micro-batches on %d process(es))",
        len(task.train_index), len(task.eval_index), task.steps, run.batch_size, task.accumulation,
        run.micro_batch_size, context.world_size,
    )  # fmt: skip
    loop = training.Loop(
        steps=task.steps, seed=run.seed, eval_every=run.eval_steps, checkpoint_every=run.checkpoint_steps,
        bf16=task.bf16, compile=run.compile_on_gpu and context.device.type == "cuda",
        desc="MLM steps",
    )  # fmt: skip
    checkpoints = training.Checkpoints(checkpoint_dir, _fingerprint(run, model_section, tokens, tokenizer_dir,
                                                                    init_model_dir))  # fmt: skip
    result = training.train(task, loop, context, checkpoints)
    final_loss = result.history[-1]["validation_loss"]
    log.info("final held-out masked-LM loss: %.4f (ln vocabulary = %.2f)", final_loss, math.log(len(tokenizer)))
    return final_loss


class MaskedLM:
    """Masked-LM pretraining as a task of the training engine (cornbert.training)."""

    def __init__(self, run: PretrainSettings, context: distributed.Context, tokenizer, store: TokenStore,
                 model: RobertaForMaskedLM, output_dir: str, metrics_path: str):  # fmt: skip
        self.run, self.context, self.tokenizer, self.store = run, context, tokenizer, store
        self.output_dir, self.metrics_path = output_dir, metrics_path
        self.train_index, self.eval_index = split_promoters(store, run)
        self.steps = total_steps(run, len(self.train_index))
        self.accumulation = _accumulation_steps(run, context.world_size)
        self.model = model
        self.module = MaskedLMLoss(model)
        self.optimizer = _optimizer(model, run)
        self.bf16 = context.device.type == "cuda" or run.cpu_bf16
        self.autocast = training.bf16_autocast(context.device, self.bf16)  # the engine's, for evaluation

    def learning_rate(self, step: int) -> float:
        """Linear warm-up from 0, then linear decay to 0 at the last step (BERT's schedule)."""
        warmup, steps = self.run.warmup_steps, self.steps
        factor = step / max(1, warmup) if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup))
        return self.run.learning_rate * factor

    def schedule(self, step: int) -> tuple[str, ...]:
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(step)
        return ("every parameter",)

    def batch(self, step: int) -> tuple[list, int]:
        inputs, attention, labels = step_batch(self.tokenizer, self.store, self.train_index, self.run, step)
        size, world = self.run.micro_batch_size, self.context.world_size
        micro_batches = [
            to_device(inputs[m * size : (m + 1) * size], attention[m * size : (m + 1) * size],
                      labels[m * size : (m + 1) * size], self.context.device)
            for m in range(self.context.rank, self.accumulation * world, world)
        ]  # fmt: skip
        return micro_batches, max(int((labels != IGNORE_INDEX).sum()), 1)

    def loss(self, module: torch.nn.Module, micro_batch: list) -> tuple[torch.Tensor, torch.Tensor]:
        loss = module(*micro_batch)
        return loss, loss

    def evaluate(self) -> float:
        batches = _eval_batches(self.tokenizer, self.store, self.eval_index, self.run, self.context)
        return evaluate(self.module, batches, self.context, self.autocast)

    def write_outputs(self, result: training.Result) -> None:
        def write(folder: Path) -> None:
            save_model_folder(self.model, folder, MASKED_LM_AUTO_MAP)
            self.tokenizer.save_pretrained(folder)
            (folder / "README.md").write_text(self.model_card(result.history[-1]["validation_loss"]))

        training.save_model(self.output_dir, write)
        rows = [{
            "step": row["step"],
            "epoch": row["step"] * self.run.batch_size / len(self.train_index),
            "learning_rate": self.learning_rate(row["step"] - 1),  # the rate the step used
            "train_loss": row["train_loss"],
            "eval_loss": row["validation_loss"],
        } for row in result.history]  # fmt: skip
        write_tsv(pd.DataFrame(rows, columns=["step", "epoch", "learning_rate", "train_loss", "eval_loss"]),
                  self.metrics_path, index=False)  # fmt: skip

    def model_card(self, held_out_loss: float) -> str:
        config = self.model.config
        metadata = {
            "library_name": "transformers",
            "pipeline_tag": "fill-mask",
            "license": "mit",
            "tags": [*CARD_TAGS, "roberta", "masked-lm"],
            "model-index": [{"name": "CornBERT masked LM", "results": [{
                "task": {"type": "fill-mask", "name": "masked-token prediction on promoter BPE tokens"},
                "dataset": {"type": "custom", "name": str(self.store.path)},
                "metrics": [{"type": "loss", "name": "held-out masked-LM cross-entropy (nats), last step",
                             "value": round(held_out_loss, 4)}],
            }]}],
        }  # fmt: skip
        numbering = (
            "from the gene end (config `positions_from_gene`), so a motif at a given distance from the gene has the "
            "same position in every left-padded promoter; stock RoBERTa would number them from the first real "
            "token and give other outputs"
            if getattr(config, "positions_from_gene", False)
            else "from the first real token, as stock RoBERTa does (config `positions_from_gene` off)"
        )
        return hub_card(metadata, f"""# CornBERT masked LM

A RoBERTa masked LM of promoter DNA: {config.num_hidden_layers} layers, hidden {config.hidden_size},
{config.num_attention_heads} heads, the {config.max_position_embeddings - POSITION_OFFSET} BPE tokens nearest the
gene ({len(self.tokenizer)}-token vocabulary). Positions are numbered {numbering}.

## Training
{len(self.train_index)} training and {len(self.eval_index)} held-out promoters, {self.steps} steps of
{self.run.batch_size} sequences, masking {self.run.mlm_probability:.0%} of tokens, seed {self.run.seed}.
Held-out masked-LM loss at the last step: {held_out_loss:.4f} (ln vocabulary = {math.log(len(self.tokenizer)):.2f}).

## Use
With transformers alone (the folder ships its model code, modeling_cornbert.py, named in config.json):
```python
from transformers import AutoModelForMaskedLM, AutoTokenizer
model = AutoModelForMaskedLM.from_pretrained("{self.output_dir}", trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained("{self.output_dir}")  # pads and truncates on the left
batch = tokenizer(["ACGT..."], padding=True, truncation=True, return_tensors="pt")
hidden = model(**batch, output_hidden_states=True).hidden_states[-1]  # [n, length, {config.hidden_size}]
```
`AutoModel.from_pretrained(..., trust_remote_code=True)` gives the encoder alone.
""")


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
        positions = gene_position_ids(self.model.config, attention)
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
    rows = training.step_rows(step, run.batch_size, len(train_index), run.seed)
    chosen = [store.promoter(train_index[row]) for row in rows]
    generator = torch.Generator().manual_seed(training.derived_seed(run.seed, step, 3))
    return _pad_and_mask(tokenizer, chosen, run.mlm_probability, generator)


def _eval_batches(
    tokenizer, store: TokenStore, eval_index: np.ndarray, run: PretrainSettings, context: distributed.Context
) -> Iterator:
    """This process's share of the held-out micro-batches, read from the store as they are needed. Each batch's
    masks come from its number, so every evaluation of a run (and every split over processes) is the same."""
    n_batches = math.ceil(len(eval_index) / run.micro_batch_size)
    for number in range(context.rank, n_batches, context.world_size):
        rows = eval_index[number * run.micro_batch_size : (number + 1) * run.micro_batch_size]
        generator = torch.Generator().manual_seed(training.derived_seed(run.seed, number, 4))
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
