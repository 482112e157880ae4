"""The expression regressor: a RoBERTa encoder, mean-pooled over real tokens, and a feed-forward head.

Saved in the Hugging Face layout (config.json + model.safetensors + tokenizer files), so one call loads it back:
    model, tokenizer, tissues = load_regressor("results/finetune/pretrained/rep1/model")
    log_tpm = predict_log(model, tokenizer, ["ACGT..."], batch_size=32)   # [n, len(tissues)]
The config carries the tissues and the per-tissue target mean/std used in training, so predictions come back on
the log(TPM+1) scale whatever the training standardisation was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import (
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaModel,
)

from cornbert.artefacts import check_loaded, check_model_dir
from cornbert.model import position_ids
from cornbert.tokenizer import encode_ids

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}
PRECISIONS = ("fp32", "bf16")


class CornBertRegressorConfig(PretrainedConfig):
    model_type = "cornbert_regressor"

    def __init__(
        self,
        encoder: dict | None = None,
        tissues: Sequence[str] = (),
        head_hidden_sizes: Sequence[int] = (768, 768),
        head_dropout: float = 0.2,
        head_activation: str = "tanh",
        head_norm: str = "none",
        pooling_bins: int = 1,
        target_mean: Sequence[float] | None = None,
        target_std: Sequence[float] | None = None,
        inference_precision: str = "fp32",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = dict(encoder or {})
        self.tissues = list(tissues)
        self.head_hidden_sizes = list(head_hidden_sizes)
        self.head_dropout = head_dropout
        self.head_activation = head_activation
        self.head_norm = head_norm
        if pooling_bins < 1:
            raise ValueError(f"pooling_bins must be at least 1, got {pooling_bins}")
        self.pooling_bins = pooling_bins
        # Training may standardise each tissue's target; predictions are mapped back with these.
        self.target_mean = list(target_mean) if target_mean is not None else [0.0] * len(self.tissues)
        self.target_std = list(target_std) if target_std is not None else [1.0] * len(self.tissues)
        # Saved with the model so that every path scoring it (validation, test predictions, importance,
        # cornbert-predict) runs the same arithmetic on any device; see inference_autocast.
        if inference_precision not in PRECISIONS:
            raise ValueError(f"inference precision must be one of {PRECISIONS}, got {inference_precision!r}")
        self.inference_precision = inference_precision

    def encoder_config(self) -> RobertaConfig:
        config = RobertaConfig(**self.encoder)
        config._attn_implementation = "sdpa"
        return config


HEAD_NORMS = ("none", "batch")


def regression_head(
    in_size: int, hidden_sizes: Sequence[int], n_out: int, dropout: float, activation: str, norm: str = "none"
) -> nn.Sequential:
    """[batch norm ->] dropout -> (dense -> activation -> dropout) per hidden size -> linear: the study's head is
    dropout 0.2, dense+tanh twice, linear.

    Mean-pooled embeddings differ little between genes next to what they share (every promoter has the same
    position embeddings and mostly the same tokens), so the head first sees a near-constant input and a small
    model takes hundreds of steps to start learning. norm="batch" centres and scales each pooled feature across
    genes (BatchNorm1d without affine parameters; its statistics are recomputed on training genes before each
    evaluation, see CornBertRegressor.recalibrate_norm).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"head activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if norm not in HEAD_NORMS:
        raise ValueError(f"head norm must be one of {HEAD_NORMS}, got {norm!r}")
    layers: list[nn.Module] = [nn.BatchNorm1d(in_size, affine=False)] if norm == "batch" else []
    layers.append(nn.Dropout(dropout))
    for size in hidden_sizes:
        layers += [nn.Linear(in_size, size), ACTIVATIONS[activation](), nn.Dropout(dropout)]
        in_size = size
    layers.append(nn.Linear(in_size, n_out))
    return nn.Sequential(*layers)


class CornBertRegressor(PreTrainedModel):
    config_class = CornBertRegressorConfig
    base_model_prefix = "encoder"
    _supports_sdpa = True

    def __init__(self, config: CornBertRegressorConfig):
        super().__init__(config)
        encoder_config = config.encoder_config()
        self.encoder = RobertaModel(encoder_config, add_pooling_layer=False)
        self.head = regression_head(
            encoder_config.hidden_size * config.pooling_bins,
            config.head_hidden_sizes,
            len(config.tissues),
            config.head_dropout,
            config.head_activation,
            getattr(config, "head_norm", "none"),
        )
        # Token ids that carry no sequence, excluded from the mean over token embeddings. A plain attribute read
        # from the config, not a buffer: from_pretrained leaves non-persistent buffers uninitialised, which made
        # every reloaded model pool over a random mask.
        self.special_ids = (encoder_config.pad_token_id, encoder_config.bos_token_id, encoder_config.eos_token_id)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.encoder_config().initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Means of the final token embeddings over real sequence tokens, one per position bin, concatenated:
        [batch, length] -> [batch, bins * hidden].

        One bin is the study's mean pooling. With several, the model's window is cut into equal bins of token
        positions counted from the gene end (the last column under left padding), so the head knows whether an
        element sits next to the gene or far from it; a plain mean over ~70-250 tokens buries a few motif tokens
        and forgets where they were."""
        positions = position_ids(self.encoder.config, attention_mask)  # as in pretraining (cornbert.model)
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=positions
        ).last_hidden_state  # [B, L, H]
        special = torch.tensor(self.special_ids, device=input_ids.device)
        real = attention_mask.bool() & ~torch.isin(input_ids, special)  # [B, L]
        bins = self.config.pooling_bins
        # Bin by distance from the gene in the model's full window (max positions), not in this batch's width,
        # so a token's bin does not depend on how much padding its batch needed.
        window = self.encoder.config.max_position_embeddings - 2
        distance = torch.arange(input_ids.shape[1] - 1, -1, -1, device=input_ids.device)  # [L], 0 at the gene
        bin_of = (distance * bins // window).clamp(max=bins - 1)  # [L]
        means = []
        for b in range(bins):  # with one bin, exactly the study's masked mean
            weights = (real & (bin_of == b)).unsqueeze(-1).to(hidden.dtype)  # [B, L, 1]
            means.append((hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0))  # [B, H]
        return torch.cat(means, dim=1)  # [B, bins * H]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Predicted (standardised) targets: [batch, length] -> [batch, n_tissues]."""
        return self.head(self.pool(input_ids, attention_mask))

    @torch.no_grad()
    def recalibrate_norm(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Set the head's batch-norm statistics to the exact mean and variance of the pooled features over
        `batches` of (input_ids, attention_mask), with the current weights ("precise BN"): running averages lag a
        fast-changing encoder and made validation scores swing. No-op without a batch-norm head. Leaves the
        model in eval mode."""
        self.eval()
        norm = self.head[0]
        if not isinstance(norm, nn.BatchNorm1d):
            return
        pooled = torch.cat([self.pool(input_ids, attention_mask).float() for input_ids, attention_mask in batches])
        norm.running_mean.copy_(pooled.mean(dim=0))  # [H]
        norm.running_var.copy_(pooled.var(dim=0, unbiased=True) if len(pooled) > 1 else torch.ones_like(norm.running_var))

    def inference_autocast(self, device: torch.device) -> torch.autocast:
        """The one numerical setting under which this model is scored, whatever the device: fp32, or bf16
        autocast on CPU and GPU alike (so a cluster's GPU importance map and CPU predictions agree)."""
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.config.inference_precision == "bf16")

    def to_log_scale(self, output: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.config.target_mean, dtype=output.dtype, device=output.device)
        std = torch.tensor(self.config.target_std, dtype=output.dtype, device=output.device)
        return output * std + mean


def build_regressor(
    encoder_config: RobertaConfig,
    tissues: Sequence[str],
    head_hidden_sizes: Sequence[int],
    head_dropout: float,
    head_activation: str,
    encoder_weights: str | Path | None = None,
    head_norm: str = "none",
    inference_precision: str = "fp32",
    pooling_bins: int = 1,
) -> CornBertRegressor:
    """A regressor with a fresh head and either random encoder weights or those of a saved (masked-LM) RoBERTa.

    The encoder config carries the model-level options (e.g. positions_from_gene), so both variants number
    positions as the pretrained encoder did."""
    config = CornBertRegressorConfig(
        encoder=encoder_config.to_dict(),
        tissues=tissues,
        head_hidden_sizes=head_hidden_sizes,
        head_dropout=head_dropout,
        head_activation=head_activation,
        head_norm=head_norm,
        pooling_bins=pooling_bins,
        inference_precision=inference_precision,
    )
    model = CornBertRegressor(config)
    if encoder_weights is not None:
        check_model_dir(encoder_weights, "pretrained CornBERT")
        pretrained, info = RobertaModel.from_pretrained(encoder_weights, add_pooling_layer=False,
                                                        output_loading_info=True)
        check_loaded(encoder_weights, info, "pretrained CornBERT")
        missing, unexpected = model.encoder.load_state_dict(pretrained.state_dict(), strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{encoder_weights}: encoder weights do not fit (missing {missing}, unexpected {unexpected})"
            )
    return model


def load_regressor(model_dir: str | Path) -> tuple[CornBertRegressor, PreTrainedTokenizerBase, list[str]]:
    """Load a fine-tuned regressor, its tokenizer and its tissue names, in eval mode."""
    check_model_dir(model_dir, "fine-tuned CornBERT model")
    model, info = CornBertRegressor.from_pretrained(model_dir, output_loading_info=True)
    check_loaded(model_dir, info, "fine-tuned CornBERT model")
    model.eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(model_dir)
    return model, tokenizer, list(model.config.tissues)


def pad_left(rows: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """A model batch from token ids: left-padded to the longest row, with its attention mask."""
    width = max((len(row) for row in rows), default=0)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)  # [batch, width]
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for index, row in enumerate(rows):
        ids[index, width - len(row) :] = row
        mask[index, width - len(row) :] = 1
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}


def tokenize(tokenizer: PreTrainedTokenizerFast, sequences: Sequence[str]) -> dict[str, torch.Tensor]:
    """A model batch of sequences: what `tokenizer(..., padding="longest", truncation=True)` gives."""
    return pad_left(encode_ids(tokenizer, [s.upper() for s in sequences]), tokenizer.pad_token_id)


PREDICT_CHUNK = 8192  # sequences tokenized at a time by predict_log: memory stays flat for any number of genes


@torch.no_grad()
def predict_log(
    model: CornBertRegressor, tokenizer: PreTrainedTokenizerFast, sequences: Sequence[str], batch_size: int = 32
) -> np.ndarray:
    """Predicted log(TPM+1) per sequence and tissue: [n_sequences, n_tissues] (eval mode, batched, no grad).

    Sequences whose ids are the same (within the model's window) are forwarded once, which is what makes
    mutagenesis cheap: a mutant outside the window, or one BPE merges back to the original's ids, costs nothing.
    Batches are filled in order of token length, so little of them is padding.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    predicted = np.zeros((len(sequences), len(model.config.tissues)), dtype=np.float32)
    for chunk in range(0, len(sequences), PREDICT_CHUNK):
        upper = [s.upper() for s in sequences[chunk : chunk + PREDICT_CHUNK]]
        index_of: dict[tuple[int, ...], int] = {}
        inverse = [index_of.setdefault(tuple(ids), len(index_of)) for ids in encode_ids(tokenizer, upper)]
        unique = list(index_of)
        order = sorted(range(len(unique)), key=lambda i: len(unique[i]))
        outputs = np.empty((len(unique), len(model.config.tissues)), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = pad_left([unique[i] for i in rows], tokenizer.pad_token_id)
            with model.inference_autocast(device):
                output = model(**{key: value.to(device) for key, value in batch.items()})
            outputs[rows] = model.to_log_scale(output.float()).cpu().numpy()
        predicted[chunk : chunk + len(inverse)] = outputs[inverse]
    model.train(was_training)
    return predicted
