"""Fine-tuning of the expression regressor, a task of the training engine (cornbert.training: the loop, resume, DDP).

Parameter groups (each with its own peak learning rate and its own linear warm-up from its unfreeze step, then a
linear decay to 0 at `max_steps`): the head from step 0; encoder layers unfrozen from the top,
`unfreeze_layers_per_step` at a time, the first block at `unfreeze_first_step` and each next one `unfreeze_interval`
steps later; the embeddings at `unfreeze_embeddings_step` (null: never). The defaults are the study's mechanics.

Run by the rule finetune_model (workflow_scripts/finetune_model.py), or under torchrun as
`python -m cornbert.finetune <job.json>` when the rule has several GPUs (see cornbert.distributed).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from transformers import RobertaConfig

from cornbert import distributed, training
from cornbert.artefacts import CARD_TAGS, check_model_dir, hub_card
from cornbert.errors import InputError
from cornbert.modeling_cornbert import REGRESSOR_AUTO_MAP, save_model_folder
from cornbert.regressor import CornBertRegressor, build_regressor, tokenize
from cornbert.fasta import read_fasta
from cornbert.runtime import atomic_path, seed_everything
from cornbert.tokenizer import load_tokenizer
from cornbert.tables import read_split, read_targets, write_tsv

log = logging.getLogger("cornbert")


@dataclass
class FinetuneSettings:
    """The `finetune` section of the config; defaults = the study (config/schema.yaml repeats them, a test checks)."""

    compare_scratch: bool = True
    max_steps: int = 2000
    batch_size: int = 84
    micro_batch_size: int = 21
    optimizer: str = "lamb"
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    warmup_steps: int = 100
    head_learning_rate: float = 2e-3
    encoder_learning_rate: float = 1e-3
    embeddings_learning_rate: float | None = None
    unfreeze_first_step: int = 400
    unfreeze_interval: int = 400
    unfreeze_layers_per_step: int = 2
    unfreeze_embeddings_step: int | None = None
    standardize_targets: bool = False
    head_hidden_sizes: list[int] = field(default_factory=lambda: [768, 768])
    head_dropout: float = 0.2
    head_activation: str = "tanh"
    head_norm: str = "none"
    pooling_bins: int = 1
    norm_calibration_genes: int = 512
    eval_interval: int = 50
    keep_best: bool = True
    checkpoint_interval: int = 100
    predict_batch_size: int = 64
    bf16: bool = True
    inference_precision: str = "fp32"

    @classmethod
    def from_config(cls, section: dict) -> FinetuneSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(section) - known
        if unknown:
            raise ValueError(f"unknown finetune settings: {sorted(unknown)}")
        return cls(**section)


@dataclass
class FinetuneJob:
    """Everything one fine-tuning run reads and writes (JSON-serialisable, so torchrun workers can read it)."""

    targets: str
    split: str
    promoters: str
    tokenizer: str
    encoder: str  # a saved RoBERTa (config.json [+ weights]): stage-2 masked-LM model
    pretrained: bool  # True: start from the encoder's weights; False: random weights, same architecture
    model_dir: str
    loss_tsv: str
    loss_png: str
    checkpoint_dir: str
    settings: FinetuneSettings
    seed: int = 42

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=1))

    @classmethod
    def from_json(cls, path: str | Path) -> FinetuneJob:
        data = json.loads(Path(path).read_text())
        data["settings"] = FinetuneSettings(**data["settings"])
        return cls(**data)


# ----------------------------------------------------------------------------------------------------------------
# Data


@dataclass
class Dataset:
    """Tokenized sequences and targets of one split; targets as the model is trained on them (maybe standardised)."""

    gene_ids: list[str]
    input_ids: torch.Tensor  # [n, L], left-padded
    attention_mask: torch.Tensor  # [n, L]
    targets: torch.Tensor  # [n, n_tissues]

    def __len__(self) -> int:
        return len(self.gene_ids)

    def batch(self, indices: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        input_ids, attention_mask = self.input_ids[indices], self.attention_mask[indices]
        # Left padding: drop the leading columns that are padding in every row of this batch.
        first = int(attention_mask.any(dim=0).float().argmax())
        return (
            input_ids[:, first:].to(device),
            attention_mask[:, first:].to(device),
            self.targets[indices].to(device),
        )


def split_genes(job: FinetuneJob) -> tuple[pd.DataFrame, dict[str, list[str]], dict[str, str]]:
    """Targets, gene IDs of train/validation/test as the split file says, sequences.

    The validation genes come from the split (rule split_genes keeps groups of overlapping or near-identical
    promoters on one side), not from a random draw here, which would leak between training and model choice."""
    targets = read_targets(job.targets)
    split = read_split(job.split)
    sequences = read_fasta(job.promoters)
    missing = [g for g in targets.index if g not in sequences]
    if missing:
        raise InputError(job.promoters, f"no promoter for {len(missing)} gene(s) of {job.targets}, e.g. {missing[0]!r}")
    unsplit = targets.index.difference(split.index)
    if len(unsplit):
        raise InputError(job.split, f"{len(unsplit)} gene(s) of {job.targets} have no split, e.g. {unsplit[0]!r}")
    genes = {name: sorted(g for g in targets.index if split[g] == name) for name in ("train", "validation", "test")}
    for name in ("train", "validation"):
        if not genes[name]:
            raise InputError(job.split, f"no {name} genes: fine-tuning needs train and validation genes")
    return targets, genes, sequences


def build_datasets(
    targets: pd.DataFrame, genes: dict[str, list[str]], sequences: dict[str, str], tokenizer, standardize: bool
) -> tuple[Dataset, Dataset, np.ndarray, np.ndarray]:
    train_values = targets.loc[genes["train"]].to_numpy(np.float64)
    mean = train_values.mean(axis=0) if standardize else np.zeros(targets.shape[1])
    std = train_values.std(axis=0) if standardize else np.ones(targets.shape[1])
    std = np.where(std > 0, std, 1.0)  # a constant tissue would divide by 0

    def dataset(ids: list[str]) -> Dataset:
        encoded = tokenize(tokenizer, [sequences[g] for g in ids])
        values = (targets.loc[ids].to_numpy(np.float64) - mean) / std
        return Dataset(ids, encoded["input_ids"], encoded["attention_mask"], torch.tensor(values, dtype=torch.float32))

    return dataset(genes["train"]), dataset(genes["validation"]), mean, std


# ----------------------------------------------------------------------------------------------------------------
# Parameter groups and schedules


@dataclass
class Group:
    name: str
    params: list[nn.Parameter]
    start: int | None  # unfreeze step; None = frozen throughout
    lr: float


def parameter_groups(model: CornBertRegressor, settings: FinetuneSettings, pretrained: bool = True) -> list[Group]:
    """Head, encoder layer blocks from the top down, embeddings; every parameter in exactly one group.

    Progressive unfreezing protects pretrained weights from the head's early, noisy gradients. Random weights have
    nothing to protect, so a model fine-tuned from scratch trains every group, embeddings included, from step 0:
    frozen random embeddings would handicap it and inflate what pretraining seems to buy."""
    layers = model.encoder.encoder.layer
    per_block = settings.unfreeze_layers_per_step
    groups = [Group("head", list(model.head.parameters()), 0, settings.head_learning_rate)]
    for block, top in enumerate(range(len(layers), 0, -per_block)):
        bottom = max(top - per_block, 0)
        groups.append(
            Group(
                f"layers{bottom + 1}-{top}",
                [p for layer in layers[bottom:top] for p in layer.parameters()],
                settings.unfreeze_first_step + block * settings.unfreeze_interval if pretrained else 0,
                settings.encoder_learning_rate,
            )
        )
    embeddings_lr = settings.embeddings_learning_rate
    groups.append(
        Group(
            "embeddings",
            list(model.encoder.embeddings.parameters()),
            settings.unfreeze_embeddings_step if pretrained else 0,
            settings.encoder_learning_rate if embeddings_lr is None else embeddings_lr,
        )
    )
    grouped = {id(p) for g in groups for p in g.params}
    ungrouped = [name for name, p in model.named_parameters() if id(p) not in grouped]
    if ungrouped or len(grouped) != sum(len(g.params) for g in groups):
        raise RuntimeError(f"parameters outside the unfreezing schedule: {ungrouped}")
    return groups


def lr_factor(step: int, start: int | None, warmup_steps: int, max_steps: int) -> float:
    """0 before the group's unfreeze step, linear warm-up over `warmup_steps`, then linear decay to 0 at max_steps."""
    if start is None or step < start:
        return 0.0
    since = step - start
    if since < warmup_steps:
        return (since + 1) / warmup_steps
    remaining = max_steps - start - warmup_steps
    return max(0.0, (max_steps - step) / remaining) if remaining > 0 else 0.0


def apply_schedule(
    groups: list[Group], optimizer: torch.optim.Optimizer, step: int, settings: FinetuneSettings
) -> tuple[str, ...]:
    """Each group's learning rate at `step`, and only the unfrozen ones trainable; their names."""
    for group, param_group in zip(groups, optimizer.param_groups):
        param_group["lr"] = group.lr * lr_factor(step, group.start, settings.warmup_steps, settings.max_steps)
        for param in group.params:
            param.requires_grad_(group.start is not None and step >= group.start)
    return tuple(g.name for g in groups if g.start is not None and step >= g.start)


def make_optimizer(groups: list[Group], settings: FinetuneSettings) -> torch.optim.Optimizer:
    return training.make_optimizer(
        settings.optimizer, [{"params": g.params, "lr": g.lr} for g in groups], lr=settings.head_learning_rate,
        betas=tuple(settings.betas), eps=settings.eps, weight_decay=settings.weight_decay,
        setting="finetune.optimizer",
    )  # fmt: skip


def phase_boundaries(groups: list[Group], max_steps: int) -> list[tuple[int, str]]:
    """(first step, label) of each phase: a phase starts wherever some group unfreezes."""
    starts = sorted({g.start for g in groups if g.start is not None and g.start < max_steps})
    return [(s, "+".join(g.name for g in groups if g.start == s)) for s in starts]


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints


def fingerprint(job: FinetuneJob, world_size: int) -> str:
    """What must match for a checkpoint to be resumed: settings, seed, inputs' contents, process count."""
    inputs = [job.targets, job.split, job.promoters, *sorted(p for p in Path(job.encoder).glob("*") if p.is_file())]
    return training.fingerprint([dataclasses.asdict(job.settings), job.seed, job.pretrained, world_size], inputs)


# ----------------------------------------------------------------------------------------------------------------
# Training


def squared_error_sums(
    output: torch.Tensor, target: torch.Tensor, std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of squared errors on the training scale (for the gradient) and on the log(TPM+1) scale (for reporting)."""
    squared = (output.float() - target) ** 2  # [B, T]
    return squared.sum(), (squared.detach() * std**2).sum()


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, std: torch.Tensor, settings: FinetuneSettings, context) -> float:
    """MSE of log(TPM+1) on a dataset, each rank scoring its share."""
    was_training = model.training
    model.eval()
    # On the device: NCCL reduces GPU tensors only, and the host need not wait for each batch.
    total = torch.zeros(2, dtype=torch.float64, device=context.device)
    own = torch.arange(context.rank, len(data), context.world_size)
    for start in range(0, len(own), settings.predict_batch_size):
        input_ids, attention_mask, target = data.batch(own[start : start + settings.predict_batch_size], context.device)
        with model.inference_autocast(context.device):
            output = model(input_ids, attention_mask)
        total[0] += squared_error_sums(output, target, std)[1].double()
        total[1] += target.numel()
    model.train(was_training)
    total = distributed.all_reduce_sum(total, context)
    return float(total[0] / total[1])


def recalibrate_norm(model: CornBertRegressor, data: Dataset, settings: FinetuneSettings, context) -> None:
    """Batch-norm statistics of the head from the first `norm_calibration_genes` training genes (the same on
    every rank, so the ranks stay in sync), at the precision the model is scored with; no-op without a batch-norm
    head."""
    was_training = model.training
    indices = torch.arange(min(settings.norm_calibration_genes, len(data)))
    with model.inference_autocast(context.device):
        model.recalibrate_norm(
            data.batch(chunk, context.device)[:2] for chunk in indices.split(settings.predict_batch_size)
        )
    model.train(was_training)


def train(job: FinetuneJob, context: distributed.Context) -> None:
    settings = job.settings
    seed_everything(job.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if settings.batch_size % context.world_size:
        raise ValueError(f"finetune.batch_size {settings.batch_size} must divide among {context.world_size} processes")

    tokenizer = load_tokenizer(job.tokenizer)
    targets, genes, sequences = split_genes(job)
    tissues = list(targets.columns)
    train_data, validation_data, mean, std = build_datasets(
        targets, genes, sequences, tokenizer, settings.standardize_targets
    )
    log.info(
        "%d training, %d validation genes (from the training genes), %d test genes left untouched; %d tissues",
        len(train_data), len(validation_data), len(genes["test"]), len(tissues),
    )  # fmt: skip

    check_model_dir(job.encoder, "pretrained CornBERT")
    encoder_config = RobertaConfig.from_pretrained(job.encoder)
    if encoder_config.vocab_size < len(tokenizer):
        raise InputError(
            job.encoder, f"vocabulary of {encoder_config.vocab_size} is smaller than the tokenizer's {len(tokenizer)}"
        )
    model = build_regressor(
        encoder_config, tissues, settings.head_hidden_sizes, settings.head_dropout, settings.head_activation,
        encoder_weights=job.encoder if job.pretrained else None, head_norm=settings.head_norm,
        inference_precision=settings.inference_precision, pooling_bins=settings.pooling_bins,
    )  # fmt: skip
    model.config.target_mean = mean.tolist()
    model.config.target_std = std.tolist()
    task = Regression(job, context, model.to(context.device), tokenizer, train_data, validation_data, std,
                      targets, genes)  # fmt: skip
    loop = training.Loop(
        steps=settings.max_steps, seed=job.seed, eval_every=settings.eval_interval,
        checkpoint_every=settings.checkpoint_interval, keep_best=settings.keep_best,
        bf16=settings.bf16 and context.device.type == "cuda", desc="fine-tuning",
    )  # fmt: skip
    training.train(task, loop, context, training.Checkpoints(job.checkpoint_dir, fingerprint(job, context.world_size)))


class Regression:
    """Fine-tuning as a task of the training engine (cornbert.training): squared error on every tissue, the
    unfreezing schedule, validation MSE of log(TPM+1)."""

    def __init__(self, job: FinetuneJob, context: distributed.Context, model: CornBertRegressor, tokenizer,
                 train_data: Dataset, validation_data: Dataset, std: np.ndarray, targets: pd.DataFrame,
                 genes: dict[str, list[str]]):  # fmt: skip
        self.job, self.settings, self.context, self.tokenizer = job, job.settings, context, tokenizer
        self.train_data, self.validation_data, self.targets, self.genes = train_data, validation_data, targets, genes
        self.std = torch.tensor(std, dtype=torch.float32, device=context.device)
        self.model = self.module = model
        self.groups = parameter_groups(model, self.settings, job.pretrained)
        self.optimizer = make_optimizer(self.groups, self.settings)

    def schedule(self, step: int) -> tuple[str, ...]:
        return apply_schedule(self.groups, self.optimizer, step, self.settings)

    def batch(self, step: int) -> tuple[tuple[torch.Tensor, ...], int]:
        rows = training.step_rows(step, self.settings.batch_size, len(self.train_data), self.job.seed)
        own = torch.from_numpy(rows[self.context.rank :: self.context.world_size])
        return own.split(self.settings.micro_batch_size), self.settings.batch_size * self.std.numel()

    def loss(self, module: nn.Module, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        input_ids, attention_mask, target = self.train_data.batch(rows, self.context.device)
        return squared_error_sums(module(input_ids, attention_mask), target, self.std)

    def evaluate(self) -> float:
        recalibrate_norm(self.model, self.train_data, self.settings, self.context)
        return evaluate(self.model, self.validation_data, self.std, self.settings, self.context)

    def write_outputs(self, result: training.Result) -> None:
        threads = torch.get_num_threads()
        trained_on = f"{self.context.device.type} x {self.context.world_size} process(es), {threads} torch thread(s)"
        boundaries = phase_boundaries(self.groups, self.settings.max_steps)
        write_outputs(self.job, self.model, self.tokenizer, result, boundaries, self.genes,
                      mean_predictor_loss(self.targets, self.genes), trained_on)  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Outputs


def mean_predictor_loss(targets: pd.DataFrame, genes: dict[str, list[str]]) -> float:
    """Validation MSE of log(TPM+1) when predicting each tissue's training mean: the level a model must beat."""
    validation = targets.loc[genes["validation"]]
    return float(((validation - targets.loc[genes["train"]].mean()) ** 2).to_numpy().mean())


def write_outputs(job, model, tokenizer, result: training.Result, boundaries, genes, reference: float,
                  trained_on: str) -> None:  # fmt: skip
    def phase(done: int) -> str:
        return [label for first, label in boundaries if first < done][-1]

    records = [{"step": row["step"], "phase": phase(row["step"]), "split": split, "loss": row[split]}
               for row in result.evaluations() for split in ("train", "validation")]  # fmt: skip
    losses = pd.DataFrame.from_records(records, columns=["step", "phase", "split", "loss"])
    best = {"step": result.best_step, "loss": result.best_loss}

    def write(folder: Path) -> None:
        save_model_folder(model.cpu(), folder, REGRESSOR_AUTO_MAP)
        tokenizer.save_pretrained(folder)
        (folder / "README.md").write_text(model_card(job, model, losses, genes, best, reference, trained_on))

    training.save_model(job.model_dir, write)
    write_tsv(losses, job.loss_tsv, index=False)
    plot_loss(
        losses,
        boundaries,
        reference,
        job.loss_png,
        title=f"Fine-tuning loss ({'pretrained' if job.pretrained else 'from scratch'})",
    )


def plot_loss(
    losses: pd.DataFrame, boundaries: list[tuple[int, str]], reference: float, path: str | Path, title: str
) -> None:
    """Training and validation MSE across all phases, with each unfreezing step marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for split, style in (("train", "-"), ("validation", "-o")):
        rows = losses[losses["split"] == split]
        axes.plot(rows["step"], rows["loss"], style, markersize=3, label=split)
    axes.axhline(reference, color="black", linestyle=":", linewidth=1, label="validation, predicting the training mean")
    top = max(losses["loss"].max(), reference) if len(losses) else reference
    for first, label in boundaries:
        axes.axvline(first, color="grey", linestyle="--", linewidth=0.8)
        axes.text(first, top, f" {label}", rotation=90, va="top", ha="left", fontsize=7, color="dimgrey")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("MSE of log(TPM+1)")
    axes.set_title(title + "\n(dashed: parameters unfrozen at that step)")
    axes.legend(title="MSE on")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)


def model_card(job, model, losses: pd.DataFrame, genes, best, reference: float, trained_on: str) -> str:
    config = model.config
    validation = losses[losses["split"] == "validation"]
    final = float(validation["loss"].iloc[-1]) if len(validation) else float("nan")
    settings = json.dumps(dataclasses.asdict(job.settings), indent=1)
    encoder = config.encoder
    reduction = 100 * (1 - best["loss"] / reference)
    metadata = {
        "library_name": "transformers",
        "pipeline_tag": "tabular-regression",
        "license": "mit",
        "tags": [*CARD_TAGS, "gene-expression"],
        "model-index": [{"name": "CornBERT expression regressor", "results": [{
            "task": {"type": "tabular-regression", "name": "log(TPM+1) per tissue from the promoter"},
            "dataset": {"type": "custom", "name": str(job.targets)},
            "metrics": [
                {"type": "mse", "name": "validation MSE of log(TPM+1), best step", "value": round(best["loss"], 4)},
                {"type": "mse_reduction", "name": "validation % reduction against tissue means",
                 "value": round(reduction, 1)},
            ],
        }]}],
    }  # fmt: skip
    return hub_card(metadata, f"""# CornBERT expression regressor

Predicts log(TPM+1) in {len(config.tissues)} tissues from a promoter sequence (the {encoder.get('max_position_embeddings', 0) - 2}
BPE tokens nearest the gene; sequences are read 5'->3' toward the gene).

- Tissues: {', '.join(config.tissues)}
- Encoder: RoBERTa, {encoder.get('num_hidden_layers')} layers, hidden {encoder.get('hidden_size')},
  {encoder.get('num_attention_heads')} heads; {'initialised from the stage-2 masked-LM model ' + job.encoder if job.pretrained else 'randomly initialised (no pretraining), same architecture as ' + job.encoder}
- Head: mean of final token embeddings over sequence tokens (no <pad>, <s>, </s>) in each of
  {config.pooling_bins} position bin(s) counted from the gene end, normalisation across genes:
  {config.head_norm}, dropout {config.head_dropout}, dense+{config.head_activation} {config.head_hidden_sizes},
  linear to one output per tissue.

## Data
- Targets: {job.targets}; split: {job.split}; promoters: {job.promoters}
- {len(genes['train'])} training genes, {len(genes['validation'])} validation genes (carved from the training genes),
  {len(genes['test'])} test genes (never used in training or model choice).

## Metrics (MSE of log(TPM+1))
- Validation, last evaluation: {final:.4f}
- Validation, best (step {best['step']}): {best['loss']:.4f}{' (these weights are saved)' if job.settings.keep_best else ''}
- Validation, predicting each tissue's training mean: {reference:.4f}
  (best reduction: {reduction:.1f} %)
Test figures with intervals: results/evaluation/metrics.tsv of the run, and the card of this model's copy in
results/models/ (rule publish_model); the test genes play no part in fitting or choosing it.

## Use
With transformers alone (the folder ships its model code, modeling_cornbert.py, named in config.json):
```python
from transformers import AutoModel, AutoTokenizer
model = AutoModel.from_pretrained("{job.model_dir}", trust_remote_code=True).eval()
# The tokenizer reads config.json first, whose class ships with the folder too; it pads and truncates on the left.
tokenizer = AutoTokenizer.from_pretrained("{job.model_dir}", trust_remote_code=True)
batch = tokenizer(["ACGT..."], padding=True, truncation=True, return_tensors="pt")
log_tpm = model.to_log_scale(model(**batch))  # [n, {len(config.tissues)}]
```
or with this workflow's package:
```python
from cornbert.regressor import load_regressor, predict_log
model, tokenizer, tissues = load_regressor("{job.model_dir}")
log_tpm = predict_log(model, tokenizer, ["ACGT..."], batch_size=32)  # [n, {len(config.tissues)}]
```
or on the command line: `cornbert-predict --model {job.model_dir} --fasta promoters.fa --output predictions.tsv`.

## Fine-tuning settings
Trained on {trained_on}, torch {torch.__version__}, seed {job.seed}. The same inputs, settings, seed and thread
count give the same weights on the same machine; another thread count, or another CPU's kernels, rounds differently.
How far that moves a fit depends on the learning rates: on the demo, sd 2.8 points across simulated CPUs at the
laptop recipe's rates and 0.03 at the demo's third of them (an AMD EPYC gave an Intel Xeon's demo figures to 0.1
points), where the seed still moves a fit by sd 3.9 (CornBERT) and 2.3 points (scratch); on the real Arabidopsis
set, at the recipe's rates, the mean of three scratch fits moved 3.4 points between those two processors
(BENCHMARKS.md section 12). Compare models over replicate fits, not over one: the mean prediction of 5 fits
(`evaluation.replicates: 5`, scored as `<model>_ensemble`) moved by sd 1.4 and 0.8 points across demo seeds.
```json
{settings}
```
""")


def _main(job_path: str) -> None:
    context = distributed.setup()
    try:
        train(FinetuneJob.from_json(job_path), context)
    finally:
        distributed.teardown(context)


if __name__ == "__main__":
    training.worker_main(_main, sys.argv[1:])
