"""Rule predict_test_genes: a fine-tuned model's predictions for the held-out genes (validation and test; the
stacked model learns its weights on the validation genes, every score is on the test genes)."""

import torch

from cornbert.fasta import read_fasta
from cornbert.predict import predict_sequences
from cornbert.runtime import run_entry
from cornbert.tables import read_split, write_predictions


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    split = read_split(smk.input.split)
    promoters = read_fasta(smk.input.promoters)
    held_out = {gene: promoters[gene] for gene in split.index[split.isin(["validation", "test"])]}
    predictions = predict_sequences(smk.input.model, held_out, batch_size=smk.params.batch_size)
    write_predictions(predictions, smk.output.predictions)


run_entry(main, snakemake)  # noqa: F821
