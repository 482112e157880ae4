"""CornBERT's model classes, in one file that depends on torch and transformers alone.

The workflow copies this file into every model folder it saves and names its classes in config.json's `auto_map`,
so a folder loads with one standard call and numbers positions as the workflow does, without this package:

    AutoModelForMaskedLM.from_pretrained("results/pretrain/stage2/model", trust_remote_code=True)
    AutoModel.from_pretrained("results/finetune/pretrained/rep1/model", trust_remote_code=True)

(stock RoBERTa numbers positions from the first real token, so under left padding it would give another model).
It is also the package's own definition (cornbert.model and cornbert.regressor import from it): one source.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel, RobertaConfig, RobertaForMaskedLM, RobertaModel

MASKED_LM_AUTO_MAP = {"AutoModel": "modeling_cornbert.CornBertModel",
                      "AutoModelForMaskedLM": "modeling_cornbert.CornBertForMaskedLM"}  # fmt: skip
REGRESSOR_AUTO_MAP = {"AutoConfig": "modeling_cornbert.CornBertRegressorConfig",
                      "AutoModel": "modeling_cornbert.CornBertRegressor"}  # fmt: skip


def gene_position_ids(config: PretrainedConfig, attention_mask: torch.Tensor) -> torch.Tensor | None:
    """The position ids every CornBERT forward pass uses: [batch, length], or None for RoBERTa's own numbering.

    RoBERTa numbers positions from the first real token, so under left padding the gene-proximal token of a
    promoter with fewer BPE tokens gets a lower position than that of a longer one. With `positions_from_gene`
    the last (gene-proximal) token always gets the highest position, max_position_embeddings - 1, and each token
    before it one less, so a motif at a given distance from the gene gets the same position embedding in every
    promoter (what left padding is meant to achieve); pads get pad_token_id, like RoBERTa's own numbering.
    """
    if not getattr(config, "positions_from_gene", False):  # models saved before the option: RoBERTa's numbering
        return None
    length = attention_mask.shape[1]
    positions = torch.arange(length, device=attention_mask.device) + config.max_position_embeddings - length
    return torch.where(attention_mask.bool(), positions, config.pad_token_id)  # [B, L]


class _GenePositions:
    """Numbers positions from the gene unless the caller gives position ids (before the RoBERTa class in the MRO)."""

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, **kwargs):
        if position_ids is None and attention_mask is not None:
            position_ids = gene_position_ids(self.config, attention_mask)
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs)


class CornBertModel(_GenePositions, RobertaModel):
    """The pretrained encoder."""


class CornBertForMaskedLM(_GenePositions, RobertaForMaskedLM):
    """The pretrained masked LM."""


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
        positions = gene_position_ids(self.encoder.config, attention_mask)  # as in pretraining
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


def save_model_folder(model: PreTrainedModel, folder: Path, auto_map: dict[str, str]) -> None:
    """`save_pretrained`, with this file beside the weights and named in config.json's
    `auto_map`: stock transformers then loads the folder (trust_remote_code=True) as the workflow does, with
    positions numbered from the gene, where its own RoBERTa would number them from the first real token."""
    model.config.auto_map = auto_map
    model.save_pretrained(folder)  # safetensors
    shutil.copyfile(__file__, Path(folder) / "modeling_cornbert.py")
