"""CNN_onehot: a convolutional network over the one-hot promoter, the field's usual sequence-model yardstick.

In the spirit of DeepCRE (Peleke et al. 2024), Jores et al. 2021 and DanQ: convolution + max-pooling blocks over
the whole promoter, then max- and mean-pooling of the last feature map within `position_bins` equal windows along
the promoter (1 bin = global pooling), then one linear layer to every tissue at once (log(TPM+1), standardised per
tissue on the training genes). AdamW; early stopping on the validation genes' MSE of log(TPM+1) with patience,
and the best epoch's weights are restored.

Strands. Promoters are oriented (the gene is at the 3' end, a fact the model should keep), so the prediction is not
made invariant to reverse-complementing the input, which would also swap the gene's end for the far end.
Instead the same convolutions scan both strands: the tower runs on the promoter and on its reverse complement,
the second feature map is flipped back so that position i is the same base pair in both, and the two are merged by
an element-wise max. A motif then counts on either strand at the same distance from the gene, and every filter
also serves as its own reverse-complement filter (the weight sharing of RC-aware CNNs, Shrikumar et al. 2017).
Exactly: features(revcomp(x)) == features(x) flipped along the promoter (tests/test_cnn.py checks it).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from safetensors.torch import load_file, save_file

from cornbert import distributed, training
from cornbert.artefacts import safetensors_keys
from cornbert.errors import InputError

log = logging.getLogger(__name__)

# One-hot channel order A, C, G, T: reversing the channel axis complements a base (A<->T, C<->G).
BASE_CODE = np.full(256, 4, dtype=np.int64)  # anything but ACGT (N, padding) -> 4, an all-zero column
BASE_CODE[np.frombuffer(b"ACGTacgt", dtype=np.uint8)] = [0, 1, 2, 3, 0, 1, 2, 3]


@dataclass
class CnnConfig:
    """The `baselines.cnn` section of the config (config/schema.yaml repeats the defaults)."""

    channels: list[int] = field(default_factory=lambda: [32, 32, 32])
    kernel_sizes: list[int] = field(default_factory=lambda: [11, 7, 7])  # odd, so that both strands align exactly
    pool_sizes: list[int] = field(default_factory=lambda: [8, 4, 4])  # max-pooling after each block
    position_bins: int = 8
    dropout: float = 0.2
    learning_rate: float = 2e-3
    weight_decay: float = 1e-2
    batch_size: int = 64
    max_epochs: int = 40
    patience: int = 5
    validation_fraction: float = 0.1  # of the training genes, only when the split has no validation genes

    def __post_init__(self) -> None:
        if not len(self.channels) == len(self.kernel_sizes) == len(self.pool_sizes):
            raise ValueError("baselines.cnn: channels, kernel_sizes and pool_sizes need one entry per block each")
        if any(k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"baselines.cnn.kernel_sizes must be odd, got {self.kernel_sizes}")


class PromoterCnn(nn.Module):
    def __init__(self, n_tissues: int, config: CnnConfig):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 4
        for out_channels, kernel, pool in zip(config.channels, config.kernel_sizes, config.pool_sizes):
            layers += [
                nn.Conv1d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(out_channels),
                nn.ReLU(),
            ]
            layers += [nn.MaxPool1d(pool)] if pool > 1 else []
            layers.append(nn.Dropout(config.dropout))
            in_channels = out_channels
        self.tower = nn.Sequential(*layers)
        self.bin_max = nn.AdaptiveMaxPool1d(config.position_bins)
        self.bin_mean = nn.AdaptiveAvgPool1d(config.position_bins)
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(2 * in_channels * config.position_bins, n_tissues)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, 4, L] one-hot, L a multiple of the total pooling -> [B, C, L / pooling], both strands merged."""
        # One pass over both strands, so that batch-norm statistics are shared by them.
        forward, reverse = self.tower(torch.cat([x, x.flip(1, 2)])).chunk(2)  # [B, C, L'] each
        return torch.maximum(forward, reverse.flip(2))  # the reverse strand mapped back onto forward positions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x)  # [B, C, L']
        pooled = torch.cat([self.bin_max(z), self.bin_mean(z)], dim=1)  # [B, 2C, bins]
        return self.head(pooled.flatten(1))  # [B, T]


class FittedCnn:
    """A trained CNN_onehot: reads the `length` gene-proximal bases of a promoter (the training promoters' padded
    length), the unit the rest of the workflow predicts with and saves (cornbert.fitted)."""

    kind = "CNN_onehot"

    def __init__(self, model: PromoterCnn, config: CnnConfig, tissues: Sequence[str], length: int, mean: np.ndarray,
                 std: np.ndarray, history: list[dict] | None = None, best_epoch: int = 0):  # fmt: skip
        self.model, self.config, self.tissues, self.length = model, config, list(tissues), length
        self.mean, self.std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)  # [T] each
        self.history = history or []  # per epoch: epoch, train_mse, validation_mse (log(TPM+1) scale)
        self.best_epoch = best_epoch
        self.batch_size = 256

    def configure(self, batch_size: int, device: str) -> None:
        self.model.to(distributed.inference_device(device))

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        codes = encode(list(sequences), self.length)
        return predict_standardised(self.model, codes, self.batch_size) * self.std + self.mean

    def reads(self, sequences: Sequence[str]) -> np.ndarray:
        return np.array([min(len(s), self.length) for s in sequences], dtype=np.int64)

    def save_files(self, folder: Path) -> dict:
        save_file({k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()},
                  folder / "model.safetensors")  # fmt: skip
        return {"config": asdict(self.config), "length": self.length, "mean": self.mean.tolist(),
                "std": self.std.tolist(), "best_epoch": self.best_epoch, "history": self.history}  # fmt: skip

    @classmethod
    def load_files(cls, folder: Path, settings: dict, tissues: list[str]) -> FittedCnn:
        config = CnnConfig(**settings["config"])
        model = PromoterCnn(len(tissues), config)
        path = folder / "model.safetensors"
        safetensors_keys(path)
        try:
            model.load_state_dict(load_file(path))
        except RuntimeError as error:
            raise InputError(path, f"weights do not fit a CNN_onehot of this config ({str(error).splitlines()[0]})") from None
        model.eval()
        return cls(model, config, tissues, settings["length"], np.array(settings["mean"]), np.array(settings["std"]),
                   settings.get("history"), settings.get("best_epoch", 0))  # fmt: skip


def padded_length(sequences: Sequence[str], multiple: int) -> int:
    """The longest sequence's length, rounded up to a multiple of the total pooling."""
    return math.ceil(max(len(s) for s in sequences) / multiple) * multiple


def encode(sequences: Sequence[str], length: int) -> torch.Tensor:
    """Base codes [N, length] (int8; 4 = N or padding): left-padded, or cut to the `length` gene-proximal bases.

    Left, because the gene end is on the right: every base keeps its distance from the gene."""
    codes = np.full((len(sequences), length), 4, dtype=np.int8)
    for i, sequence in enumerate(sequences):
        kept = sequence[-length:] if sequence else ""
        if kept:
            codes[i, length - len(kept) :] = BASE_CODE[np.frombuffer(kept.encode(), dtype=np.uint8)]
    return torch.from_numpy(codes)


def one_hot(codes: torch.Tensor, device: torch.device) -> torch.Tensor:
    """[B, L] codes -> [B, 4, L] float one-hot (code 4 -> all zeros)."""
    return nn.functional.one_hot(codes.to(device).long(), 5)[..., :4].transpose(1, 2).float()


@torch.no_grad()
def predict_standardised(model: PromoterCnn, codes: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    outputs = [model(one_hot(codes[i : i + batch_size], device)).cpu() for i in range(0, len(codes), batch_size)]
    return torch.cat(outputs).numpy().astype(np.float64)  # [N, T]


def mse_log(model: PromoterCnn, codes: torch.Tensor, y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """MSE of log(TPM+1) over all genes and tissues."""
    return float(((predict_standardised(model, codes) * std + mean - y) ** 2).mean())


def fit(
    train_codes: torch.Tensor,
    y_train: np.ndarray,
    validation_codes: torch.Tensor,
    y_validation: np.ndarray,
    config: CnnConfig,
    seed: int,
    tissues: Sequence[str] | None = None,
) -> FittedCnn:
    """Train on the training genes, keep the weights of the epoch with the lowest validation MSE of log(TPM+1)."""
    torch.manual_seed(seed)
    context = distributed.Context(0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    mean, std = y_train.mean(axis=0), y_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant tissue would divide by 0
    model = PromoterCnn(y_train.shape[1], config).to(context.device)
    task = _Fit(model, config, seed, context, train_codes, y_train, validation_codes, y_validation, mean, std)
    log.info(
        "CNN_onehot: %d parameters, %d training and %d validation genes, promoters padded to %d bp, on %s",
        sum(p.numel() for p in model.parameters()), len(train_codes), len(validation_codes), train_codes.shape[1],
        context.device,
    )  # fmt: skip
    # An evaluation per epoch; the engine stops `patience` epochs after the best one and restores its weights.
    epoch = math.ceil(len(train_codes) / config.batch_size)
    loop = training.Loop(steps=config.max_epochs * epoch, seed=seed, eval_every=epoch, keep_best=True,
                         patience=config.patience, desc="CNN_onehot steps")  # fmt: skip
    result = training.train(task, loop, context)
    history = [{"epoch": number, "train_mse": row["train"], "validation_mse": row["validation"]}
               for number, row in enumerate(result.evaluations(), start=1)]  # fmt: skip
    log.info("CNN_onehot: best epoch %d of %d (validation MSE %.4f)", result.best_step // epoch, len(history),
             result.best_loss)  # fmt: skip
    tissues = list(tissues) if tissues is not None else [f"tissue{t}" for t in range(y_train.shape[1])]
    return FittedCnn(model, config, tissues, train_codes.shape[1], mean, std, history, result.best_step // epoch)


class _Fit:
    """The CNN's fit as a task of the training engine (cornbert.training): AdamW at a constant rate, squared error
    on the standardised targets, validation MSE of log(TPM+1)."""

    def __init__(self, model: PromoterCnn, config: CnnConfig, seed: int, context: distributed.Context,
                 train_codes: torch.Tensor, y_train: np.ndarray, validation_codes: torch.Tensor, y_validation: np.ndarray, mean: np.ndarray,
                 std: np.ndarray):  # fmt: skip
        self.model = self.module = model
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                           weight_decay=config.weight_decay)  # fmt: skip
        self.config, self.seed, self.context, self.mean, self.std = config, seed, context, mean, std
        self.train_codes, self.validation_codes, self.y_validation = train_codes, validation_codes, y_validation
        self.y_scaled = torch.tensor((y_train - mean) / std, dtype=torch.float32)  # [N, T]
        self.variance = torch.tensor(std**2, dtype=torch.float32, device=context.device)  # [T]

    def schedule(self, step: int) -> tuple[str, ...]:
        return ("every parameter",)

    def batch(self, step: int) -> tuple[list[torch.Tensor], int]:
        rows = torch.from_numpy(training.step_rows(step, self.config.batch_size, len(self.train_codes), self.seed))
        return [rows], len(rows) * len(self.mean)

    def loss(self, module: nn.Module, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        target = self.y_scaled[rows].to(self.context.device)  # [B, T]
        errors = (module(one_hot(self.train_codes[rows], self.context.device)) - target) ** 2  # [B, T], standardised
        return errors.sum(), (errors.detach() * self.variance).sum()

    def evaluate(self) -> float:
        return mse_log(self.model, self.validation_codes, self.y_validation, self.mean, self.std)

    def write_outputs(self, result: training.Result) -> None:
        pass  # the fitted model is returned; rule fit_baseline saves it


def fit_model(
    fit_sequences: Sequence[str],
    y_fit: np.ndarray,
    is_validation: np.ndarray,
    tissues: Sequence[str],
    config: CnnConfig,
    seed: int,
    threads: int = 1,
) -> FittedCnn:
    """Fit on the genes of `fit_sequences` (targets `y_fit` [N, T]; `is_validation` marks the early-stopping genes,
    all False: a seeded `validation_fraction` of them is carved out)."""
    torch.set_num_threads(threads)
    # cuBLAS is deterministic only with a fixed workspace; must be set before CUDA starts.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    is_validation = np.asarray(is_validation, dtype=bool)
    if not is_validation.any():
        n_validation = max(1, round(config.validation_fraction * len(y_fit)))
        if len(y_fit) - n_validation < 1:
            raise ValueError(f"CNN_onehot: only {len(y_fit)} training gene(s), too few to carve a validation set")
        carved = np.random.default_rng(seed).permutation(len(y_fit))[:n_validation]
        is_validation = np.zeros(len(y_fit), dtype=bool)
        is_validation[carved] = True
        log.info("CNN_onehot: the split has no validation genes; carved %d of the training genes", n_validation)
    codes = encode(fit_sequences, padded_length(fit_sequences, math.prod(config.pool_sizes)))
    held_out = torch.tensor(is_validation)
    return fit(codes[~held_out], y_fit[~is_validation], codes[held_out], y_fit[is_validation], config, seed, tissues)
