"""`cornbert-predict`: predicted expression per tissue for your own promoter sequences.

    cornbert-predict --model best --fasta my_promoters.fa --output predictions.tsv
    cornbert-predict --model results/finetune/pretrained/rep1/model --genome my.fa.gz --gff my.gff3 --output predictions.tsv

--fasta: one promoter per record, read 5'->3' toward the gene (the layout of results/promoters/*.fa), ideally as
long as the training promoters (1,000 bp by default). --genome + --gff: the promoters are cut exactly as the
workflow cuts them (strand-aware, `--promoter-length` bp upstream of each gene; genes too close to a chromosome end
are left out). The output is a TSV with `gene_id` and, per tissue, `<tissue>_log` = predicted log(TPM+1) and
`<tissue>_tpm` = predicted TPM.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cornbert.errors import InputError
from cornbert.fasta import read_fasta
from cornbert.fitted import load_model
from cornbert.runtime import configure_logging, fail_cleanly
from cornbert.tables import write_predictions

log = logging.getLogger("cornbert")


Predictor = Callable[[Sequence[str]], np.ndarray]


def load_predictor(
    model_dir: str | Path, batch_size: int = 32, device: str = "auto"
) -> tuple[Predictor, list[str], Callable[[Sequence[str]], np.ndarray]]:
    """A batched `predict(sequences) -> [n, tissues]` of log(TPM+1) of any saved model (cornbert.fitted: a
    fine-tuned transformer on `device`, auto: GPU if present; a baseline; a stack; `best`), the model's tissues,
    and `reads(sequences)`: how many gene-proximal bases of each sequence the model reads."""
    model = load_model(model_dir, batch_size, device)
    return model.predict, list(model.tissues), model.reads


def predict_sequences(
    model_dir: str | Path, sequences: dict[str, str], batch_size: int = 32, device: str = "auto"
) -> pd.DataFrame:
    """Predicted log(TPM+1): one row per sequence ID, one column per tissue of the model."""
    predict, tissues, _ = load_predictor(model_dir, batch_size, device)
    ids = list(sequences)
    log.info("predicting %d sequences", len(ids))
    values = predict([sequences[i] for i in ids])
    return pd.DataFrame(values, index=pd.Index(ids, name="gene_id"), columns=tissues)


def genome_promoters(
    genome: str | Path, gff: str | Path, length: int, feature_type: str, id_attribute: str, isoforms: str = "error"
) -> dict[str, str]:
    """Promoters of every gene of a genome FASTA + GFF3, cut as the workflow's extract_promoters rule cuts them."""
    from cornbert.promoters import PromoterSettings, extract_promoters

    settings = PromoterSettings(length=length, feature_type=feature_type, id_attribute=id_attribute,
                                isoforms=isoforms)
    with tempfile.TemporaryDirectory(prefix="cornbert-predict-") as workdir:
        out = Path(workdir)
        extract_promoters("genome", genome, gff, settings, {}, out / "p.bed", out / "p.fa", out / "p.tsv")
        return read_fasta(out / "p.fa")


def check_dna(sequences: dict[str, str], path: str | Path) -> None:
    bad = [name for name, seq in sequences.items() if set(seq) - set("ACGTN")]
    if bad:
        raise InputError(path, f"{len(bad)} sequence(s) with letters other than A, C, G, T, N, e.g. {bad[0]!r}")


MODEL_HELP = ("any saved model folder (results/finetune/<variant>/rep<N>/model, results/baselines/rep<N>/<baseline>, "
              "results/stacking/rep<N>/<stack>) or `best`: the one with the lowest validation error "
              "(results/best_model.json, run from the workflow's directory)")


def add_model_arguments(parser, batch_size: int) -> None:
    """--model, --batch-size, --device and --threads: the same for every command that runs a model."""
    parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"sequences per forward pass (default {batch_size})")
    parser.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: PyTorch's choice)")


def add_gene_arguments(parser) -> None:
    """How genes and their promoters are read from a GFF3: the same for every command that takes --gff."""
    from cornbert.genome import ISOFORM_ANCHORS

    parser.add_argument("--promoter-length", type=int, default=1000, help="bp upstream of each gene (default 1000)")
    parser.add_argument("--feature-type", default="gene", help="GFF3 feature type of genes (default gene)")
    parser.add_argument("--id-attribute", default="ID", help="GFF3 attribute holding the gene ID (default ID)")
    parser.add_argument("--isoforms", default="error", choices=ISOFORM_ANCHORS,
                        help="records sharing an ID are isoforms: which 5' end anchors the gene (as promoters.isoforms;"
                             " for transcript-only GFF3: --feature-type mRNA --id-attribute Parent --isoforms "
                             "most_upstream)")


def start_command(threads: int) -> None:
    """Logging to stderr and the CPU thread count of a command-line entry point (0: PyTorch's choice)."""
    configure_logging(None)
    if threads:
        torch.set_num_threads(threads)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cornbert-predict",
        description=__doc__.split("\n\n")[0],
        epilog="Example: cornbert-predict --model best --fasta promoters.fa --output out.tsv",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fasta", help="promoter FASTA, 5'->3' toward the gene (plain or gzip)")
    source.add_argument("--genome", help="genome FASTA (plain, gzip or bgzip); needs --gff")
    parser.add_argument("--gff", help="GFF3 annotation of --genome (plain or gzip)")
    add_gene_arguments(parser)
    parser.add_argument("--output", required=True, help="TSV to write: gene_id, <tissue>_log, <tissue>_tpm")
    add_model_arguments(parser, batch_size=32)
    args = parser.parse_args(argv)
    if args.genome and not args.gff:
        parser.error("--genome needs --gff")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    start_command(args.threads)
    with fail_cleanly([args.output]):
        if args.fasta:
            sequences = read_fasta(args.fasta)
            check_dna(sequences, args.fasta)
        else:
            sequences = genome_promoters(
                args.genome, args.gff, args.promoter_length, args.feature_type, args.id_attribute, args.isoforms
            )
        predictions = predict_sequences(args.model, sequences, args.batch_size, args.device)
        write_predictions(predictions, args.output)
    log.info("wrote %s", args.output)


if __name__ == "__main__":
    main()
