"""RoBERTa sizes for CornBERT: the study's `paper` model and a `demo` model small enough for a 2-core CPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from transformers import RobertaConfig

# RoBERTa numbers positions from pad_token_id + 1, so two slots go unused before the first real token.
POSITION_OFFSET = 2


@dataclass(frozen=True)
class ModelSize:
    num_hidden_layers: int
    hidden_size: int
    num_attention_heads: int
    intermediate_size: int
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1


PRESETS: dict[str, ModelSize] = {
    # The study: 6 layers x 768, 6 heads (~46.6 M parameters in the encoder with a 5,005-token vocabulary).
    "paper": ModelSize(num_hidden_layers=6, hidden_size=768, num_attention_heads=6, intermediate_size=3072),
    # Attention dropout costs ~3x the forward time on CPU (measured on 2 cores), so the demo leaves it out.
    "demo": ModelSize(
        num_hidden_layers=4,
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=256,
        attention_probs_dropout_prob=0.0,
    ),
}


def roberta_config(
    preset: str, overrides: dict[str, Any], vocab_size: int, max_length: int, positions_from_gene: bool = True
) -> RobertaConfig:
    """A RobertaConfig for `preset`, with `overrides` (any RobertaConfig field) applied on top.

    The special-token ids are those of cornbert.tokenizer (<s>=0, <pad>=1, </s>=2); attention runs through
    PyTorch's scaled_dot_product_attention. `positions_from_gene` is stored in the config (config.json), so
    every later user of the model (stage 2, fine-tuning, importance, predict) numbers positions the same way.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset '{preset}'; choose one of {sorted(PRESETS)}")
    fields = asdict(PRESETS[preset]) | dict(
        vocab_size=vocab_size,
        max_position_embeddings=max_length + POSITION_OFFSET,
        type_vocab_size=1,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        positions_from_gene=positions_from_gene,
    )
    config = RobertaConfig(**(fields | overrides), attn_implementation="sdpa")
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(
            f"model: hidden_size {config.hidden_size} is not divisible by num_attention_heads "
            f"{config.num_attention_heads}"
        )
    if config.max_position_embeddings < max_length + POSITION_OFFSET:
        raise ValueError(
            f"model: max_position_embeddings {config.max_position_embeddings} must be at least "
            f"tokenizer.max_length + {POSITION_OFFSET} = {max_length + POSITION_OFFSET}"
        )
    return config
