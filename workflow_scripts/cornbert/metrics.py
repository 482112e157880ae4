"""Scores of every model on the test genes, per tissue and over all tissues ('All'), with bootstrap intervals.

Per tissue, across the test genes:
- mse_log: mean squared error of log(TPM+1).
- mae_tpm: mean absolute error in TPM, after back-transforming both sides with expm1; predictions below 0 on the
  log scale are taken as 0 TPM (expression cannot be negative; the same clip as the `_tpm` prediction columns).
- pearson, spearman (average ranks for ties): correlation of predicted and observed log(TPM+1). A model that
  predicts one value for every gene of a tissue (const_mean) has none: NaN.
'All' is the mean of the per-tissue values, for every one of these metrics. Pooling gene x tissue cells instead
would reward a correlation for knowing which tissues are high on average (const_mean got Spearman 0.19 that way on
the maize NAM promoters of BENCHMARKS.md); a tissue without a correlation makes 'All' NaN too.

- pct_reduction_mse_log, pct_reduction_mae_tpm: 100 * (const_mean - model) / const_mean of the error, per tissue;
  for 'All' from the 'All' errors, so that every row of the study's tables is consistent with its own columns.
  Replicate r of a model is compared with replicate r of const_mean (deterministic: the same fit every time).
- specificity_pearson ('All' only): does the model know in which tissues a gene is higher or lower than its own
  level? Both observed and predicted log(TPM+1) are double-centred: each gene's mean across tissues and then each
  tissue's mean across the test genes are removed, and the residuals are correlated over all gene x tissue cells
  (the pooled within-tissue correlation of the gene-centred values). Removing the gene means takes away how
  strongly a gene is expressed overall; removing the tissue means takes away the tissue profile every gene shares,
  which const_mean knows (centring on genes alone would credit const_mean with that profile). const_mean, and any
  model whose prediction is a gene level plus a tissue level, has no residual to correlate: NaN. A Spearman
  version is not computed: its ranks would have to be recomputed over all gene x tissue cells after re-centring
  in every bootstrap resample.

Replicates: every model may have been fitted several times with different seeds (deterministic models simply
repeat). `value` is the mean over replicates of each replicate's metric; `sd_replicates` their standard
deviation (ddof 1; NaN with a single replicate, where there is no spread to estimate); `n_replicates` how many.

Intervals (`ci_low`, `ci_high`): percentile bootstrap over test genes. Each resample draws as many genes as there
are test genes, with replacement, and recomputes every metric of every model and replicate on the same resample;
the interval is taken over the resamples' replicate means. pct_reduction_* is a paired bootstrap: the model and
const_mean are scored on the same resampled genes. If the split has a `group` column (e.g. gene families, so that
related genes are not split between train and test), groups are resampled instead of genes (cluster bootstrap):
genes of one group are not independent evidence, and resampling them one by one would give too narrow intervals.
A resample is a vector of counts (how often each gene was drawn), so every metric is a weighted statistic of
the original arrays: the bootstrap runs as matrix products, without copying genes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cornbert.errors import InputError
from cornbert.tables import check_split, read_predictions, read_split, read_targets

REFERENCE = "const_mean"
ALL = "All"
ERROR_METRICS = ("mse_log", "mae_tpm")
CORRELATION_METRICS = ("pearson", "spearman")
TISSUE_METRICS = (*ERROR_METRICS, *CORRELATION_METRICS)
SPECIFICITY = "specificity_pearson"
METRICS = (*TISSUE_METRICS, *(f"pct_reduction_{m}" for m in ERROR_METRICS), SPECIFICITY)
COLUMNS = ["model", "tissue", "metric", "value", "ci_low", "ci_high", "sd_replicates", "n_replicates"]
REPLICATE_COLUMNS = ["model", "replicate", "tissue", "metric", "value"]
# Resamples scored at once: bounds memory (a few resamples x genes arrays) whatever the number of test genes; fixed,
# so the intervals depend on the seed alone.
CHUNK = 100
# A variance below this fraction of the values' mean square is rounding noise around a constant.
RELATIVE_TOLERANCE = 1e-10


@dataclass(frozen=True)
class EvaluationData:
    """Observed test-gene targets, every model's predictions (one frame per replicate) and the bootstrap groups."""

    observed: pd.DataFrame
    predictions: dict[str, list[pd.DataFrame]]
    groups: pd.Series | None


@dataclass(frozen=True)
class Evaluation:
    metrics: pd.DataFrame  # COLUMNS
    replicates: pd.DataFrame  # REPLICATE_COLUMNS


def resample_weights(units: np.ndarray, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of bootstrap resamples as (resamples x genes) counts; `units` labels each gene's resampling unit."""
    labels, unit_of_gene = np.unique(units, return_inverse=True)
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, CHUNK):
        size = min(CHUNK, n_boot - start)
        counts = rng.multinomial(len(labels), np.full(len(labels), 1 / len(labels)), size=size)
        yield counts[:, unit_of_gene].astype(float)


class Ranker:
    """The sorting of one vector of values (genes), reused to rank them within every weighted resample."""

    def __init__(self, values: np.ndarray):
        self.order = np.argsort(values, kind="stable")
        ordered = values[self.order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        self.tie_group = np.empty(len(values), dtype=int)
        self.tie_group[self.order] = np.repeat(np.arange(len(self.starts)), np.diff(np.r_[self.starts, len(values)]))

    def ranks(self, weights: np.ndarray) -> np.ndarray:
        """Average ranks within each resample (rows of `weights`), centred on 0; resamples x genes.

        A gene drawn k times takes k tied places: its rank is the weight below its value plus (weight at its
        value + 1) / 2.
        """
        tie_weight = weights[:, self.order]
        if len(self.starts) < len(self.order):  # ties: pool the weight of equal values (reduceat is slower)
            tie_weight = np.add.reduceat(tie_weight, self.starts, axis=1)
        midranks = np.cumsum(tie_weight, axis=1) - tie_weight / 2 + 0.5
        # The weighted mean rank of n draws is (n + 1) / 2: centring keeps the moments free of cancellation.
        return midranks[:, self.tie_group] - (weights.sum(axis=1, keepdims=True) + 1) / 2


def correlation(covariance, variance_x, variance_y, scale_x, scale_y):
    """Pearson r from weighted moments; NaN where either side is constant (variance ~0 next to its mean square)."""
    defined = (variance_x > RELATIVE_TOLERANCE * scale_x) & (variance_y > RELATIVE_TOLERANCE * scale_y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined, covariance / np.sqrt(variance_x * variance_y), np.nan)


def rank_correlation(ranks_x: np.ndarray, ranks_y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Pearson r of centred ranks (resamples x genes each), one per resample."""
    n = weights.sum(axis=1)
    wx = weights * ranks_x
    covariance = np.einsum("kg,kg->k", wx, ranks_y) / n
    variance_x = np.einsum("kg,kg->k", wx, ranks_x) / n
    variance_y = np.einsum("kg,kg->k", weights * ranks_y, ranks_y) / n
    # Centred midranks of n draws have mean square ~n^2 / 12 unless (nearly) all are tied.
    scale = n**2 / 12
    return correlation(covariance, variance_x, variance_y, scale, scale)


class Scorer:
    """Every metric of every model and replicate, for any set of weighted resamples of the test genes.

    Except for Spearman's ranks, each metric is a function of weighted means of per-gene quantities (errors,
    values, products), so one matrix product per model and replicate scores all resamples of a chunk at once.
    """

    def __init__(self, observed: np.ndarray, predicted: dict[str, np.ndarray]):
        self.observed = observed  # genes x tissues
        self.predicted = predicted  # model: replicates x genes x tissues
        self.observed_tpm = np.expm1(observed)
        # Centred once on the full test set: the weighted moments below are then free of cancellation.
        self.x = observed - observed.mean(axis=0)
        self.gene_centred_x = observed - observed.mean(axis=1, keepdims=True)
        shared = [self.x, self.x**2, self.gene_centred_x, (self.gene_centred_x**2).sum(axis=1, keepdims=True)]
        self.shared = np.hstack(shared)
        self.observed_rankers = [Ranker(observed[:, t]) for t in range(observed.shape[1])]
        self.rankers = {
            model: [[Ranker(pred[:, t]) for t in range(pred.shape[1])] for pred in replicates]
            for model, replicates in predicted.items()
        }

    def features(self, pred: np.ndarray) -> np.ndarray:
        """Per-gene quantities of one replicate, in the order `moments` unpacks them; genes x (6 tissues + 2)."""
        y = pred - pred.mean(axis=0)
        gene_centred_y = pred - pred.mean(axis=1, keepdims=True)
        return np.hstack([
            (pred - self.observed) ** 2,
            np.abs(np.expm1(np.clip(pred, 0, None)) - self.observed_tpm),
            y,
            y**2,
            self.x * y,
            gene_centred_y,
            (self.gene_centred_x * gene_centred_y).sum(axis=1, keepdims=True),
            (gene_centred_y**2).sum(axis=1, keepdims=True),
        ])  # fmt: skip

    def score(self, weights: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        """{model: {metric: replicates x resamples x tissues}} (specificity: one column); weights: resamples x genes."""
        n = weights.sum(axis=1, keepdims=True)
        tissues = self.observed.shape[1]
        split = np.cumsum([tissues] * 3)
        mean_x, mean_xx, mean_gx, mean_sgxx = np.split(weights @ self.shared / n, split, axis=1)
        scale_x = np.mean(self.x**2, axis=0)
        scale_gx = np.mean((self.gene_centred_x**2).sum(axis=1))
        observed_ranks = [ranker.ranks(weights) for ranker in self.observed_rankers]
        scores = {}
        for model, replicates in self.predicted.items():
            per_replicate = []
            for pred, rankers in zip(replicates, self.rankers[model], strict=True):
                features = self.features(pred)
                means = weights @ features / n
                mse, mae, mean_y, mean_yy, mean_xy, mean_gy = np.split(means[:, : 6 * tissues], 6, axis=1)
                mean_sgxy, mean_sgyy = means[:, -2], means[:, -1]
                scales = features.mean(axis=0)
                spearman = [rank_correlation(obs_ranks, ranker.ranks(weights), weights)
                            for obs_ranks, ranker in zip(observed_ranks, rankers, strict=True)]  # fmt: skip
                per_replicate.append({
                    "mse_log": mse,
                    "mae_tpm": mae,
                    "pearson": correlation(mean_xy - mean_x * mean_y, mean_xx - mean_x**2, mean_yy - mean_y**2,
                                           scale_x, scales[3 * tissues : 4 * tissues]),
                    "spearman": np.column_stack(spearman),
                    # Removing the resample's tissue means (mean_g*) from the gene-centred values: see the module doc.
                    SPECIFICITY: correlation(
                        mean_sgxy - (mean_gx * mean_gy).sum(axis=1),
                        mean_sgxx[:, 0] - (mean_gx**2).sum(axis=1),
                        mean_sgyy - (mean_gy**2).sum(axis=1),
                        scale_gx,
                        scales[-1],
                    )[:, None],
                })  # fmt: skip
            scores[model] = {metric: np.stack([r[metric] for r in per_replicate]) for metric in per_replicate[0]}
        return scores


def interval(resamples: np.ndarray, ci: float) -> tuple[float, float]:
    """Percentile interval over the resamples where the metric is defined (NaN if it never is)."""
    defined = resamples[np.isfinite(resamples)]
    if not len(defined):
        return float("nan"), float("nan")
    low, high = np.quantile(defined, [(1 - ci) / 2, (1 + ci) / 2])
    return float(low), float(high)


def evaluate(
    observed: pd.DataFrame,
    predictions: Mapping[str, Sequence[pd.DataFrame]],
    groups: pd.Series | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> Evaluation:
    """Every metric of every model (see the module doc) with its bootstrap interval and replicate spread.

    predictions: per model, one frame per replicate (as many for every model, or one for an ensemble), each
    holding the genes and tissues of `observed` (the caller checks and names files). groups: resampling unit per
    test gene (cluster bootstrap), None to resample genes.
    """
    replicate_counts = {model: len(replicates) for model, replicates in predictions.items()}
    if len(set(replicate_counts.values()) - {1}) > 1:
        raise ValueError(f"every model needs the same number of replicates (or one), got {replicate_counts}")
    obs = observed.to_numpy(dtype=float)
    predicted = {
        model: np.stack([frame.loc[observed.index, observed.columns].to_numpy(dtype=float) for frame in replicates])
        for model, replicates in predictions.items()
    }
    units = np.arange(len(obs)) if groups is None else groups.reindex(observed.index).to_numpy()
    scorer = Scorer(obs, predicted)
    # Row 0 weighs every gene once: the metrics themselves, computed by the same formulas as the resamples.
    chunks = [scorer.score(np.ones((1, len(obs))))]
    chunks += [scorer.score(weights) for weights in resample_weights(units, n_boot, seed)]
    scores = {
        model: {metric: np.concatenate([chunk[model][metric] for chunk in chunks], axis=1) for metric in metrics}
        for model, metrics in chunks[0].items()
    }
    for by_metric in scores.values():
        for metric in TISSUE_METRICS:
            by_metric[metric] = np.concatenate([by_metric[metric], by_metric[metric].mean(axis=2, keepdims=True)], 2)
    if REFERENCE in scores:
        for by_metric in scores.values():
            for metric in ERROR_METRICS:
                reference = scores[REFERENCE][metric]  # replicate r against const_mean's replicate r
                if len(reference) != len(by_metric[metric]):
                    reference = reference[:1]  # one fit (an ensemble) against const_mean, the same every time
                by_metric[f"pct_reduction_{metric}"] = 100 * (reference - by_metric[metric]) / reference
    return summarise(scores, [*observed.columns, ALL], ci)


def replicate_ensembles(predictions: Mapping[str, Sequence[pd.DataFrame]], models: Sequence[str]) -> dict:
    """`{model}_ensemble`: the mean prediction of a model's replicate fits, scored as one model beside them.

    Fine-tuning a small transformer for a few hundred steps is chaotic: another seed, or another CPU's rounding,
    moves a single fit by several points (BENCHMARKS.md section 12). The mean of N fits moves far less, so it is
    the figure to compare models by and the prediction to use; the single fits stay reported to show the spread.
    """
    return {f"{model}_ensemble": [sum(predictions[model]) / len(predictions[model])]
            for model in models if len(predictions[model]) > 1}  # fmt: skip


def summarise(scores: dict[str, dict[str, np.ndarray]], tissues: list[str], ci: float) -> Evaluation:
    """The tables from {model: {metric: replicates x (1 + resamples) x tissues}}, row 0 being the full test set."""
    rows, replicate_rows = [], []
    for model, by_metric in scores.items():
        for metric in (m for m in METRICS if m in by_metric):
            for column, tissue in enumerate([ALL] if metric == SPECIFICITY else tissues):
                point, resamples = by_metric[metric][:, 0, column], by_metric[metric][:, 1:, column]
                sd = float(np.std(point, ddof=1)) if len(point) > 1 else float("nan")
                low, high = interval(resamples.mean(axis=0), ci)
                rows.append((model, tissue, metric, float(point.mean()), low, high, sd, len(point)))
                replicate_rows += [(model, r, tissue, metric, float(v)) for r, v in enumerate(point, start=1)]
    return Evaluation(pd.DataFrame(rows, columns=COLUMNS), pd.DataFrame(replicate_rows, columns=REPLICATE_COLUMNS))


def study_table(metrics: pd.DataFrame, metric: str, model: str, tissues: list[str]) -> pd.DataFrame:
    """The study's table: rows tissues + All; the model, const_mean and the % reduction, each with its interval."""
    columns = {}
    for name, (source, key) in {
        model: (model, metric),
        REFERENCE: (REFERENCE, metric),
        "pct_reduction": (model, f"pct_reduction_{metric}"),
    }.items():
        rows = metrics[(metrics.model == source) & (metrics.metric == key)].set_index("tissue")
        columns[name] = rows.value
        columns[f"{name}_ci_low"] = rows.ci_low
        columns[f"{name}_ci_high"] = rows.ci_high
    table = pd.DataFrame(columns).reindex([*tissues, ALL])
    table.index.name = "tissue"
    return table


def read_groups(split_path: str, genes: pd.Index) -> pd.Series | None:
    """The split's optional `group` column for `genes` (the cluster bootstrap's unit), None without one."""
    table = pd.read_csv(split_path, sep="\t", index_col="gene_id", dtype=str)
    if "group" not in table.columns:
        return None
    groups = table["group"].reindex(genes)
    if groups.isna().any():
        missing = list(groups.index[groups.isna()][:3])
        raise InputError(split_path, f"{int(groups.isna().sum())} test gene(s) have no `group`, e.g. {missing}")
    return groups


def read_model_predictions(path: str, observed: pd.DataFrame) -> pd.DataFrame:
    """One prediction table, checked to hold a number for every test gene and tissue of `observed`."""
    try:
        predicted = read_predictions(path)
    except FileNotFoundError:
        raise InputError(path, "prediction file not found") from None
    except (ValueError, KeyError, UnicodeDecodeError) as error:
        raise InputError(path, f"not a prediction table (gene_id + <tissue>_log columns): {error}") from None
    missing_tissues = sorted(set(observed.columns) - set(predicted.columns))
    if missing_tissues:
        raise InputError(path, f"no predictions for tissue(s) {missing_tissues}")
    if predicted.index.duplicated().any():
        raise InputError(path, f"gene(s) listed twice, e.g. {list(predicted.index[predicted.index.duplicated()][:3])}")
    missing_genes = observed.index.difference(predicted.index)
    if len(missing_genes):
        raise InputError(path, f"no predictions for {len(missing_genes)} test gene(s), e.g. {list(missing_genes[:3])}")
    predicted = predicted.loc[observed.index, observed.columns]
    text = [t for t in predicted.columns if not pd.api.types.is_numeric_dtype(predicted[t])]
    if text:
        raise InputError(path, f"non-numeric predictions in column(s) {[f'{t}_log' for t in text]}")
    if predicted.isna().any().any():
        raise InputError(path, "predictions contain missing values")
    return predicted


def load_test_set(
    targets_path: str, split_path: str, prediction_paths: Sequence[str], models: Sequence[str], replicates: int
) -> EvaluationData:
    """Observed test-gene targets and each model's replicate predictions, checked to cover the same genes and tissues.

    prediction_paths are model-major: every replicate of the first model, then of the next (as the rule lists them).
    """
    if len(prediction_paths) != len(models) * replicates:
        raise ValueError(f"{len(prediction_paths)} prediction files for {len(models)} models x {replicates} replicates")
    targets = read_targets(targets_path)
    split = read_split(split_path)
    check_split(targets, split, split_path)
    observed = targets[split.reindex(targets.index).eq("test").to_numpy()]
    paths = iter(prediction_paths)
    predictions = {model: [read_model_predictions(next(paths), observed) for _ in range(replicates)]
                   for model in models}  # fmt: skip
    return EvaluationData(observed, predictions, read_groups(split_path, observed.index))


def choose_best(validation_mse: Mapping[str, float], folders: Mapping[str, str]) -> dict:
    """The best-model choice (results/best_model.json): the model with the lowest validation MSE of log(TPM+1).
    Never a test figure: the test genes stay the judge of every model, including the chosen one."""
    scored = {name: value for name, value in validation_mse.items() if np.isfinite(value)}
    if not scored:
        raise ValueError("no model has a validation error to choose by (a split without validation genes)")
    best = min(scored, key=scored.get)
    return {"model": best, "folder": str(folders[best]),
            "criterion": "lowest MSE of log(TPM+1) on the validation genes (the stacks' out of fold)",
            "validation_mse_log": {name: round(float(value), 6) for name, value in validation_mse.items()}}  # fmt: skip


def validation_figures(predicted: pd.DataFrame, targets: pd.DataFrame, split: pd.Series) -> tuple[float, float]:
    """MSE of log(TPM+1) over the validation genes of `predicted` [genes x tissues], and of each tissue's training
    mean (the reference a model card's reduction is against). NaN for both where the split has no validation genes:
    nothing to report, not a zero error."""
    labels = split.reindex(targets.index)
    validation = targets.index[labels.eq("validation").to_numpy()]
    if not len(validation):
        return float("nan"), float("nan")
    observed = targets.loc[validation]
    train_mean = targets.loc[labels.eq("train").to_numpy()].mean()
    error = float(np.mean((predicted.loc[validation, observed.columns].to_numpy() - observed.to_numpy()) ** 2))
    return error, float(np.mean((train_mean.to_numpy() - observed.to_numpy()) ** 2))
