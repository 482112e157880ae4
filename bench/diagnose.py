"""Why CornBERT does (not) beat the baselines on a real genome: figures read from a finished workflow run.

    .venv/bin/python bench/diagnose.py RUN_DIR [--output bench/results/diagnosis_<name>.json]

RUN_DIR is a workflow working directory whose results/ holds the tokenizer, both pretraining stages, the targets,
the split and the promoters (bench/run.py accuracy --sets arabidopsis_genome leaves one). It measures, on the
split's own train/validation/test genes:

- pretraining: the held-out MLM loss of each stage against two references: uniform guessing over the vocabulary
  and the unigram entropy (predicting each masked token by its corpus frequency, which needs no context at all);
- tokenisation: base pairs per token, tokens per promoter, how much of the promoter the model reads;
- frozen-encoder probes: ridge regression (penalty chosen on the validation genes) on pooled token embeddings of
  the pretrained encoder and of a randomly initialised one of the same shape, pooled as the fine-tuned model pools
  (mean over real tokens) or position-aware (means over bins of tokens counted from the gene end, concatenated);
- the input window: the BOW_5mer features on the whole promoter against only the part the model reads;
- target noise: how much of the test MSE is spread between samples of the same gene, which no promoter model can
  explain (the 'tissues' of a single-tissue matrix are replicate samples).

Every probe score is a % MSE(log) reduction against the training mean on the test genes, with the workflow's
bootstrap interval (cornbert.metrics.evaluate, resampling leakage groups).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from cornbert.baselines import kmer_counts
from cornbert.tables import read_split, read_targets
from cornbert.fasta import read_fasta
from cornbert.metrics import evaluate, read_groups
from cornbert.regressor import build_regressor, tokenize
from cornbert.tokenizer import load_tokenizer

ALPHAS = [10.0**k for k in range(-1, 8)]
BINS = 4  # position-aware pooling: 4 bins of tokens counted from the gene end


def unigram_entropy(tokenizer, sequences: list[str]) -> float:
    """Cross-entropy (nats) of predicting every real token by its frequency in `sequences`."""
    ids = np.concatenate([np.asarray(x[1:-1]) for x in tokenizer(sequences, truncation=False)["input_ids"]])
    counts = np.bincount(ids).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


@torch.no_grad()
def pooled_features(encoder_dir: Path, pretrained: bool, tokenizer, sequences: list[str]) -> dict[str, np.ndarray]:
    """Pooled final-layer embeddings of every sequence by the encoder saved in `encoder_dir` (or a random one of its
    shape), pooled as the fine-tuned model pools (CornBertRegressor.pool): {'mean': [n, H], 'binned': [n, BINS*H]}."""
    from transformers import RobertaConfig

    encoder_config = RobertaConfig.from_pretrained(encoder_dir)
    weights = encoder_dir if pretrained else None
    features = {}
    for name, bins in (("mean", 1), ("binned", BINS)):
        torch.manual_seed(0)  # the same random encoder for both poolings
        model = build_regressor(encoder_config, ["t"], [8], 0.0, "tanh", encoder_weights=weights, pooling_bins=bins)
        model.eval()
        features[name] = np.concatenate([model.pool(**tokenize(tokenizer, sequences[start : start + 256])).numpy()
                                         for start in range(0, len(sequences), 256)])  # fmt: skip
    return features


def ridge_predictions(features: np.ndarray, y: pd.DataFrame, genes: dict[str, list[str]], index: pd.Index) -> tuple:
    """Ridge on standardised features; penalty chosen by validation MSE; refit on train; predict the test genes."""
    rows = {g: i for i, g in enumerate(index)}
    x = {name: features[[rows[g] for g in ids]] for name, ids in genes.items()}
    scaler = StandardScaler().fit(x["train"])
    x = {name: scaler.transform(values) for name, values in x.items()}
    best = min(
        ALPHAS,
        key=lambda a: float(
            ((Ridge(alpha=a).fit(x["train"], y.loc[genes["train"]]).predict(x["validation"])
              - y.loc[genes["validation"]].to_numpy()) ** 2).mean()
        ),  # fmt: skip
    )
    fitted = Ridge(alpha=best).fit(x["train"], y.loc[genes["train"]])
    return pd.DataFrame(fitted.predict(x["test"]), index=genes["test"], columns=y.columns), best


def score(y: pd.DataFrame, genes, predictions: dict[str, pd.DataFrame], groups) -> dict[str, dict]:
    """% MSE(log) reduction against the training mean (mean over tissues) with the bootstrap interval."""
    observed = y.loc[genes["test"]]
    train_mean = pd.DataFrame(
        np.tile(y.loc[genes["train"]].mean().to_numpy(), (len(observed), 1)), index=observed.index, columns=y.columns
    )
    evaluation = evaluate(observed, {"const_mean": [train_mean]} | {k: [v] for k, v in predictions.items()}, groups)
    table = evaluation.metrics
    rows = table[(table.tissue == "All") & (table.metric.isin(["pct_reduction_mse_log", "spearman"]))]
    out: dict[str, dict] = {}
    for row in rows.itertuples():
        if row.model != "const_mean":
            out.setdefault(row.model, {})[row.metric] = [round(row.value, 2), round(row.ci_low, 2), round(row.ci_high, 2)]
    return out


def main() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the MLM head's weights are left out on purpose
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    results = args.run_dir / "results"
    torch.set_num_threads(2)

    tokenizer = load_tokenizer(results / "tokenizer")
    y = read_targets(results / "expression" / "targets.tsv")
    split = read_split(results / "expression" / "split.tsv")
    genes = {name: [g for g in y.index if split[g] == name] for name in ("train", "validation", "test")}
    fasta = read_fasta(results / "expression" / "promoters.fa")
    sequences = [fasta[g].upper() for g in y.index]
    groups = read_groups(str(results / "expression" / "split.tsv"), pd.Index(genes["test"]))
    figures: dict = {"run_dir": str(args.run_dir), "genes": {k: len(v) for k, v in genes.items()}}

    # Pretraining: held-out MLM loss against uniform guessing and the context-free unigram entropy.
    vocab = len(tokenizer)
    train_seqs = [fasta[g].upper() for g in genes["train"]]
    figures["pretraining"] = {
        "uniform_loss": round(math.log(vocab), 3),
        "unigram_entropy": round(unigram_entropy(tokenizer, train_seqs), 3),
        **{
            stage: round(float(pd.read_csv(results / "pretrain" / stage / "metrics.tsv", sep="\t").eval_loss.dropna().iloc[-1]), 3)
            for stage in ("stage1", "stage2")
        },  # fmt: skip
    }

    # Tokenisation: how much of each promoter the model reads.
    full = np.array([len(x) - 2 for x in tokenizer(sequences[:2000], truncation=False)["input_ids"]])
    bp_per_token = float(np.mean([len(s) for s in sequences[:2000]]) / full.mean())
    read_tokens = tokenizer.model_max_length - 2
    figures["tokenisation"] = {
        "vocabulary": vocab,
        "bp_per_token": round(bp_per_token, 2),
        "tokens_per_promoter": round(float(full.mean()), 1),
        "tokens_read": read_tokens,
        "bp_read": round(read_tokens * bp_per_token),
    }

    # Probes on frozen encoders.
    predictions, alphas = {}, {}
    for name, pretrained in (("pretrained", True), ("random", False)):
        encoder_dir = results / "pretrain" / "stage2" / "model"
        for pooling, features in pooled_features(encoder_dir, pretrained, tokenizer, sequences).items():
            key = f"probe_{name}_{pooling}"
            predictions[key], alphas[key] = ridge_predictions(features, y, genes, y.index)

    # The input window: 5-mer counts (canonical: both strands pooled) of the whole promoter against the part the model reads.
    bp = figures["tokenisation"]["bp_read"]
    for key, seqs in (("bow5_full_1kb", sequences), (f"bow5_last_{bp}bp", [s[-bp:] for s in sequences])):
        counts = kmer_counts(seqs, 5, strands="canonical").to_numpy(float)
        predictions[key], alphas[key] = ridge_predictions(np.log1p(counts), y, genes, y.index)
    figures["probes"] = score(y, genes, predictions, groups)
    figures["ridge_alpha"] = alphas

    # Target noise: spread of the samples around each test gene's own mean (after each sample's mean), as a share
    # of the test MSE of the training mean. A model predicting every gene's true level exactly still leaves this.
    test = y.loc[genes["test"]]
    centred = test - test.mean()  # a sample's own offset is what const_mean predicts: not noise
    within = float(((centred.sub(centred.mean(axis=1), axis=0)) ** 2).mean().mean())
    baseline = float(((test - y.loc[genes["train"]].mean()) ** 2).mean().mean())
    figures["targets"] = {
        "samples": y.shape[1],
        "mean_between_sample_pearson": round(float(np.corrcoef(test.to_numpy().T)[np.triu_indices(y.shape[1], 1)].mean()), 3),
        "within_gene_mse": round(within, 4),
        "const_mean_mse": round(baseline, 4),
        "max_pct_reduction": round(100 * (1 - within / baseline), 1),
    }  # fmt: skip
    text = json.dumps(figures, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")

if __name__ == "__main__":
    main()
