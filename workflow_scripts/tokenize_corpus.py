"""Rule tokenize_corpus: a stage's corpus tokenised once into a memory-mapped token store for pretrain_model."""

import os

from cornbert.runtime import run_entry


def main(smk) -> None:
    # The Rust tokenizer's thread pool reads this when it first starts, i.e. at the first batch encoding.
    os.environ["RAYON_NUM_THREADS"] = str(max(1, smk.threads))
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    from cornbert.token_store import write_token_store

    write_token_store(smk.input.corpus, os.path.dirname(smk.input.tokenizer), smk.output.tokens)


run_entry(main, snakemake)  # noqa: F821
