"""A tiny supervised world for the fine-tuning tests: promoters, targets, split, tokenizer and a 'stage-2' encoder.

Small enough that a fine-tuning run takes a second or two; the encoder has 6 layers like the study's, so the
paper's unfreezing schedule (three blocks of two layers) applies unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import RobertaForMaskedLM

from cornbert.finetune import FinetuneJob, FinetuneSettings
from cornbert.model import roberta_config
from cornbert.tokenizer import train_tokenizer

TISSUES = ["root", "leaf", "seed"]
MOTIF = "TATAAATA"


def make_world(root: Path, n_genes: int = 48, length: int = 300, seed: int = 0, dropout: float = 0.1) -> Path:
    """Write promoters.fa, targets.tsv, split.tsv, tokenizer/ and stage2/ under `root`; return `root`."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ids = [f"g{i:03d}" for i in range(n_genes)]
    sequences, targets = [], []
    for _ in ids:
        sequence = list(rng.choice(list("ACGT"), size=length))
        has_motif = rng.random() < 0.5
        if has_motif:
            sequence[length - 30 : length - 30 + len(MOTIF)] = MOTIF
        sequences.append("".join(sequence))
        targets.append(np.clip(2.0 * has_motif + rng.normal(0, 0.3, len(TISSUES)) + [0.0, 0.5, 1.0], 0, None))
    with open(root / "promoters.fa", "w") as handle:
        handle.writelines(f">{gene}\n{sequence}\n" for gene, sequence in zip(ids, sequences))
    frame = pd.DataFrame(targets, index=pd.Index(ids, name="gene_id"), columns=TISSUES)
    frame.to_csv(root / "targets.tsv", sep="\t")
    split = ["test" if i % 4 == 0 else "validation" if i % 8 == 1 else "train" for i in range(n_genes)]
    pd.DataFrame({"gene_id": ids, "split": split}).to_csv(root / "split.tsv", sep="\t", index=False)

    tokenizer = train_tokenizer(sequences, vocab_size=300, min_frequency=2, max_length=64)
    tokenizer.save_pretrained(root / "tokenizer")
    config = roberta_config(
        "demo",
        {
            "num_hidden_layers": 6,
            "hidden_size": 16,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "hidden_dropout_prob": dropout,
        },
        vocab_size=len(tokenizer),
        max_length=64,
    )
    torch.manual_seed(seed)
    RobertaForMaskedLM(config).save_pretrained(root / "stage2")
    tokenizer.save_pretrained(root / "stage2")
    return root


def small_settings(**changes) -> FinetuneSettings:
    """The study's mechanics (schema defaults) with step counts and sizes scaled to the tiny world."""
    scaled = dict(
        max_steps=8, batch_size=8, micro_batch_size=4, warmup_steps=2, unfreeze_first_step=2, unfreeze_interval=2,
        head_hidden_sizes=[8, 8], eval_interval=2, checkpoint_interval=4, predict_batch_size=16,
    )  # fmt: skip
    return FinetuneSettings(**(scaled | changes))


def make_job(world: Path, out: Path, settings: FinetuneSettings, pretrained: bool = True, seed: int = 7) -> FinetuneJob:
    return FinetuneJob(
        targets=str(world / "targets.tsv"),
        split=str(world / "split.tsv"),
        promoters=str(world / "promoters.fa"),
        tokenizer=str(world / "tokenizer"),
        encoder=str(world / "stage2"),
        pretrained=pretrained,
        model_dir=str(out / "model"),
        loss_tsv=str(out / "loss.tsv"),
        loss_png=str(out / "loss.png"),
        checkpoint_dir=str(out / "checkpoints"),
        settings=settings,
        seed=seed,
    )
