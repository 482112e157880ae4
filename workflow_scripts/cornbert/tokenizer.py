"""Byte-level BPE tokenizer for promoter DNA, saved in the Hugging Face format.

Promoters are written 5'->3' toward the gene, so the END of each string is the gene-proximal end: sequences longer
than `max_length` tokens lose their distal start (truncation on the left) and shorter ones are padded on the left,
which keeps the gene-proximal tokens at fixed positions from the right.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from cornbert.artefacts import check_json
from cornbert.errors import InputError

# RoBERTa's special tokens; their order fixes the ids <s>=0, <pad>=1, </s>=2, <unk>=3, <mask>=4.
SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "pad_token": "<pad>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}
VALID_BASES = frozenset("ACGTN")


def read_corpus(path: str | Path) -> list[str]:
    """One uppercase promoter per line; blank lines are skipped, anything else that is not DNA is an error."""
    sequences = []
    with open(path) as lines:
        for number, line in enumerate(lines, start=1):
            sequence = line.strip()
            if not sequence:
                continue
            if not VALID_BASES.issuperset(sequence):
                raise InputError(path, f"line {number} has characters other than A, C, G, T, N")
            sequences.append(sequence)
    if not sequences:
        raise InputError(path, "no sequences (expected one promoter per line)")
    return sequences


def train_tokenizer(
    sequences: Iterable[str], vocab_size: int, min_frequency: int, max_length: int
) -> PreTrainedTokenizerFast:
    """Train byte-level BPE with `vocab_size` learnt tokens (bytes + merges) plus the 5 RoBERTa specials."""
    bpe = Tokenizer(models.BPE())
    # No prefix space: a promoter is one "word", so no 'Ġ' marker enters the vocabulary.
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size + len(SPECIAL_TOKENS),
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(sequences, trainer)
    # Adds <s> ... </s> around every encoding (PreTrainedTokenizerFast would add nothing otherwise).
    bpe.post_processor = processors.RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")),
        ("<s>", bpe.token_to_id("<s>")),
        add_prefix_space=False,
        trim_offsets=False,
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        cls_token="<s>",
        sep_token="</s>",
        padding_side="left",
        truncation_side="left",
        model_max_length=max_length,
        **SPECIAL_TOKENS,
    )


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved by train_tokenizer (or a model directory holding one) and check it is whole."""
    directory = Path(directory)
    if not (directory / "tokenizer.json").is_file():
        raise InputError(directory, "no tokenizer.json: not a tokenizer directory saved by train_tokenizer")
    check_json(directory / "tokenizer.json")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    backend_size = tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=True)
    if len(tokenizer) != backend_size or tokenizer.mask_token_id is None:
        raise InputError(directory, f"tokenizer loaded with {len(tokenizer)} tokens, its file has {backend_size}")
    if tokenizer.padding_side != "left" or tokenizer.truncation_side != "left":
        raise InputError(directory, "tokenizer must pad and truncate on the left (gene-proximal end kept)")
    return tokenizer


def encode_ids(tokenizer: PreTrainedTokenizerFast, sequences: list[str]) -> list[list[int]]:
    """Token ids per sequence as `tokenizer(..., truncation=True)` gives them (the distal start beyond max_length
    dropped), straight from the Rust backend's multi-threaded batch encoding: the Python wrapper's per-sequence
    bookkeeping costs about as much as a small model's forward."""
    backend = tokenizer.backend_tokenizer
    backend.enable_truncation(tokenizer.model_max_length, direction="left")  # the gene-proximal end is kept
    backend.no_padding()
    return [encoding.ids for encoding in backend.encode_batch_fast(sequences)]


def bases_read(tokenizer: PreTrainedTokenizerFast, sequences: list[str]) -> np.ndarray:
    """Gene-proximal bases of each sequence that survive the left truncation: all that a model with this tokenizer
    reads of it. A change further upstream cannot reach the model (unless it moves a BPE merge at the edge)."""
    backend = tokenizer.backend_tokenizer
    backend.enable_truncation(tokenizer.model_max_length, direction="left")
    backend.no_padding()
    read = []
    for encoding, sequence in zip(backend.encode_batch([s.upper() for s in sequences]), sequences, strict=True):
        starts = [start for (start, _), special in zip(encoding.offsets, encoding.special_tokens_mask) if not special]
        read.append(len(sequence) - min(starts, default=len(sequence)))
    return np.array(read, dtype=np.int64)


def token_lengths(tokenizer: PreTrainedTokenizerFast, sequences: list[str], batch_size: int = 4096) -> np.ndarray:
    """Tokens per sequence before truncation, <s> and </s> included."""
    return np.concatenate(
        [
            np.fromiter((len(ids) for ids in tokenizer(batch)["input_ids"]), dtype=np.int64)
            for batch in _batches(sequences, batch_size)
        ]
    )


def length_table(lengths: np.ndarray, max_length: int) -> pd.DataFrame:
    """Distribution of token lengths: sequences per length, and whether that length gets truncated."""
    values, counts = np.unique(lengths, return_counts=True)
    return pd.DataFrame({"tokens": values, "sequences": counts, "truncated": values > max_length})


def plot_lengths(lengths: np.ndarray, max_length: int, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_truncated = int((lengths > max_length).sum())
    figure, axis = plt.subplots(figsize=(7, 4.5))
    low, high = int(lengths.min()), int(max(lengths.max(), max_length))
    axis.hist(lengths, bins=np.arange(low, high + 2) - 0.5, color="tab:blue", label="promoters")
    axis.axvline(max_length, color="tab:red", linestyle="--", label=f"max_length = {max_length}")
    axis.set_xlabel("tokens per promoter (incl. <s> and </s>)")
    axis.set_ylabel("promoters")
    axis.set_title(
        f"BPE token lengths of {len(lengths):,} promoters\n"
        f"mean {lengths.mean():.1f}, max {lengths.max()}; {n_truncated:,} "
        f"({100 * n_truncated / len(lengths):.2f} %) truncated on the distal side"
    )
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
