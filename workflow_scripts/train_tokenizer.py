"""Rule train_tokenizer: byte-level BPE on the stage-1 promoters, plus a report of token lengths."""

import logging
import os
from pathlib import Path

import numpy as np

from cornbert.runtime import run_entry
from cornbert.tables import write_tsv
from cornbert.tokenizer import length_table, plot_lengths, read_corpus, token_lengths, train_tokenizer

log = logging.getLogger("cornbert.train_tokenizer")


def main(smk) -> None:
    os.environ["RAYON_NUM_THREADS"] = str(max(1, smk.threads))  # the BPE trainer's thread pool starts on first use
    settings = smk.params.settings
    (corpus,) = smk.input.corpus  # the stage-1 corpus: promoters of all genomes
    sequences = read_corpus(corpus)
    log.info("training BPE (vocab %d + 5 specials) on %d promoters", settings["vocab_size"], len(sequences))
    tokenizer = train_tokenizer(sequences, settings["vocab_size"], settings["min_frequency"], settings["max_length"])
    tokenizer.save_pretrained(Path(smk.output.tokenizer).parent)
    log.info("vocabulary: %d tokens, saved to %s", len(tokenizer), Path(smk.output.tokenizer).parent)

    lengths = token_lengths(tokenizer, sequences)
    n_truncated = int((lengths > settings["max_length"]).sum())
    log.info(
        "tokens per promoter: mean %.1f, median %d, max %d; %d of %d truncated to %d",
        lengths.mean(),
        int(np.median(lengths)),
        lengths.max(),
        n_truncated,
        len(lengths),
        settings["max_length"],
    )
    write_tsv(length_table(lengths, settings["max_length"]), smk.output.lengths, index=False)
    plot_lengths(lengths, settings["max_length"], smk.output.plot)


run_entry(main, snakemake)  # noqa: F821
