"""The expression regressor: a RoBERTa encoder, mean-pooled over real tokens, and a feed-forward head.

Saved in the Hugging Face layout (config.json + model.safetensors + tokenizer files), so one call loads it back:
    model, tokenizer, tissues = load_regressor("results/finetune/pretrained/rep1/model")
    log_tpm = predict_log(model, tokenizer, ["ACGT..."], batch_size=32)   # [n, len(tissues)]
The config carries the tissues and the per-tissue target mean/std used in training, so predictions come back on
the log(TPM+1) scale whatever the training standardisation was.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import (
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaModel,
)

from cornbert.artefacts import check_loaded, check_model_dir
from cornbert.modeling_cornbert import CornBertRegressor, CornBertRegressorConfig
from cornbert.tokenizer import encode_ids

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
