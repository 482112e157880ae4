"""Metric formulas against hand-worked values and scipy, bootstrap intervals against simulations with known truth,
replicate summaries, the loading checks, and the evaluation rules run by Snakemake on prepared predictions."""

from __future__ import annotations

import math

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from snakemake.utils import validate

from conftest import REPO, run_snakemake
from cornbert.errors import InputError
from cornbert.metrics import (
    COLUMNS,
    METRICS,
    REPLICATE_COLUMNS,
    TISSUE_METRICS,
    evaluate,
    load_test_set,
    replicate_ensembles,
    resample_weights,
    study_table,
)
from cornbert.plots import comparison_values
from cornbert.tables import write_predictions, write_tsv

LN = math.log


def frames():
    genes = pd.Index(["a", "b"], name="gene_id")
    # observed TPM: a = (0, 3), b = (1, 7); log(TPM+1) = (0, ln 4), (ln 2, ln 8)
    observed = pd.DataFrame({"leaf": [0.0, LN(2)], "root": [LN(4), LN(8)]}, index=genes)
    # model predicts TPM a = (1, 3), b = (1, 3)
    model = pd.DataFrame({"leaf": [LN(2), LN(2)], "root": [LN(4), LN(4)]}, index=genes)
    # const_mean predicts TPM 2 everywhere (and a negative log value for gene b, root: clipped to 0 TPM)
    const = pd.DataFrame({"leaf": [LN(3), LN(3)], "root": [LN(3), -1.0]}, index=genes)
    return observed, {"CornBERT": [model], "const_mean": [const]}


def value(metrics, model, tissue, metric, column="value"):
    row = metrics[(metrics.model == model) & (metrics.tissue == tissue) & (metrics.metric == metric)]
    assert len(row) == 1
    return float(row[column].iloc[0])


def world(genes=300, tissues=4, seed=0):
    """Observed log(TPM+1) with a gene level, a tissue profile and gene x tissue effects, rounded so ties occur."""
    rng = np.random.default_rng(seed)
    level = rng.gamma(1.0, 1.5, (genes, 1))
    profile = np.linspace(0, 1, tissues)
    interaction = rng.normal(0, 0.8, (genes, tissues))
    observed = np.clip(np.round(level + profile + interaction, 1), 0, None)
    # zero-padded: sorted gene names keep the row order (the cluster bootstrap test relies on it)
    index = pd.Index([f"g{i:04d}" for i in range(genes)], name="gene_id")
    return pd.DataFrame(observed, index=index, columns=[f"t{i}" for i in range(tissues)]), rng


def const_mean(observed):
    return like(observed, np.tile(observed.mean().to_numpy(), (len(observed), 1)))


def like(observed, values):
    return pd.DataFrame(values, index=observed.index, columns=observed.columns)


def test_metrics_by_hand():
    observed, predictions = frames()
    metrics = evaluate(observed, predictions, n_boot=20).metrics
    assert list(metrics.columns) == COLUMNS
    assert set(metrics.metric) == set(METRICS)
    # MSE(log): leaf errors ln2, 0 -> ln2^2/2; root errors 0, ln4 - ln8 = -ln2 -> ln2^2/2; All: ln2^2/2
    assert value(metrics, "CornBERT", "leaf", "mse_log") == pytest.approx(LN(2) ** 2 / 2)
    assert value(metrics, "CornBERT", "All", "mse_log") == pytest.approx(LN(2) ** 2 / 2)
    # MAE(TPM): leaf |1-0|, |1-1| -> 0.5; root |3-3|, |3-7| -> 2; All 1.25
    assert value(metrics, "CornBERT", "leaf", "mae_tpm") == pytest.approx(0.5)
    assert value(metrics, "CornBERT", "root", "mae_tpm") == pytest.approx(2.0)
    assert value(metrics, "CornBERT", "All", "mae_tpm") == pytest.approx(1.25)
    # const_mean MAE: leaf |2-0|, |2-1| -> 1.5; root |2-3|, |0-7| (clipped) -> 4; All 2.75
    assert value(metrics, "const_mean", "root", "mae_tpm") == pytest.approx(4.0)
    assert value(metrics, "const_mean", "All", "mae_tpm") == pytest.approx(2.75)
    assert value(metrics, "CornBERT", "All", "pct_reduction_mae_tpm") == pytest.approx(100 * (2.75 - 1.25) / 2.75)
    const_mse_leaf = (LN(3) ** 2 + (LN(3) - LN(2)) ** 2) / 2
    assert value(metrics, "CornBERT", "leaf", "pct_reduction_mse_log") == pytest.approx(
        100 * (const_mse_leaf - LN(2) ** 2 / 2) / const_mse_leaf
    )
    assert value(metrics, "const_mean", "All", "pct_reduction_mse_log") == pytest.approx(0.0)
    # CornBERT predicts one value per tissue here: no correlation in any tissue, hence none for All
    assert math.isnan(value(metrics, "CornBERT", "leaf", "pearson"))
    assert math.isnan(value(metrics, "CornBERT", "All", "spearman"))


def test_correlations_match_scipy_and_all_is_the_mean_of_tissues():
    observed, rng = world(genes=200)
    predicted = np.round(observed + rng.normal(0, 0.7, observed.shape), 1)  # rounded: ties on both sides
    metrics = evaluate(observed, {"m": [predicted], "const_mean": [const_mean(observed)]}, n_boot=50).metrics
    for tissue in observed.columns:
        obs, pred = observed[tissue], predicted[tissue]
        assert value(metrics, "m", tissue, "pearson") == pytest.approx(stats.pearsonr(obs, pred).statistic)
        assert value(metrics, "m", tissue, "spearman") == pytest.approx(stats.spearmanr(obs, pred).statistic)
        assert value(metrics, "m", tissue, "mse_log") == pytest.approx(np.mean((pred - obs) ** 2))
    for metric in TISSUE_METRICS:
        per_tissue = [value(metrics, "m", tissue, metric) for tissue in observed.columns]
        assert value(metrics, "m", "All", metric) == pytest.approx(np.mean(per_tissue))
    # the reduction of 'All' is that of the 'All' errors, so each row of the study's table is consistent
    model_mse, const_mse = value(metrics, "m", "All", "mse_log"), value(metrics, "const_mean", "All", "mse_log")
    reduction = 100 * (const_mse - model_mse) / const_mse
    assert value(metrics, "m", "All", "pct_reduction_mse_log") == pytest.approx(reduction)


def test_const_mean_has_no_correlation_anywhere():
    observed, _ = world(genes=100)
    metrics = evaluate(observed, {"const_mean": [const_mean(observed)]}, n_boot=50).metrics
    undefined = metrics[metrics.metric.isin(["pearson", "spearman", "specificity_pearson"])]
    assert set(undefined.tissue) == {*observed.columns, "All"}
    assert undefined[["value", "ci_low", "ci_high"]].isna().all().all()
    assert metrics[metrics.metric == "mse_log"][["value", "ci_low", "ci_high"]].notna().all().all()


def test_specificity_is_one_for_a_perfect_predictor_and_zero_for_gene_levels_only():
    observed, rng = world(genes=400)
    gene_level = np.tile(observed.mean(axis=1).to_numpy()[:, None], (1, observed.shape[1]))
    noisy_levels = like(observed, gene_level + rng.normal(0, 0.5, observed.shape))
    exact_levels = like(observed, gene_level) + observed.mean()
    models = {"perfect": [observed], "levels": [noisy_levels], "exact": [exact_levels]}
    metrics = evaluate(observed, models, n_boot=100).metrics
    assert value(metrics, "perfect", "All", "specificity_pearson") == pytest.approx(1.0)
    assert value(metrics, "perfect", "All", "specificity_pearson", "ci_low") == pytest.approx(1.0)
    # knowing each gene's level gives high per-tissue correlations but no tissue specificity
    assert value(metrics, "levels", "All", "pearson") > 0.6
    assert abs(value(metrics, "levels", "All", "specificity_pearson")) < 0.06
    low, high = (value(metrics, "levels", "All", "specificity_pearson", c) for c in ("ci_low", "ci_high"))
    assert low < 0 < high
    # gene level + tissue level exactly: nothing left to correlate
    assert math.isnan(value(metrics, "exact", "All", "specificity_pearson"))


def test_replicate_ensemble_is_scored_as_the_mean_fit_against_const_mean():
    """Three noisy fits: their mean prediction is one model whose error is below every fit's (the noise averages)."""
    observed, rng = world(genes=300, tissues=2)
    fits = [observed + rng.normal(0, 1, observed.shape) for _ in range(3)]
    predictions = {"m": fits, "const_mean": [const_mean(observed)] * 3}
    predictions |= replicate_ensembles(predictions, ["m"])
    metrics = evaluate(observed, predictions, n_boot=50).metrics
    mean_fit = sum(fits) / 3
    assert value(metrics, "m_ensemble", "All", "mse_log") == pytest.approx(((mean_fit - observed) ** 2).mean().mean())
    assert value(metrics, "m_ensemble", "All", "mse_log", "n_replicates") == 1
    assert value(metrics, "m_ensemble", "All", "mse_log") < 0.5 * value(metrics, "m", "All", "mse_log")
    reference = value(metrics, "const_mean", "All", "mse_log")
    ensemble = value(metrics, "m_ensemble", "All", "mse_log")
    reduction = value(metrics, "m_ensemble", "All", "pct_reduction_mse_log")
    assert reduction == pytest.approx(100 * (reference - ensemble) / reference)
    assert replicate_ensembles({"m": fits[:1]}, ["m"]) == {}


def test_bootstrap_resamples_equal_explicit_resampling():
    """Each resample's weighted statistics equal scipy on the genes drawn explicitly (duplicates included)."""
    from cornbert.metrics import Scorer

    observed, rng = world(genes=60, tissues=3)
    predicted = np.round(observed.to_numpy() + rng.normal(0, 1, observed.shape), 1)
    weights = next(resample_weights(np.arange(60), 5, seed=1))
    scores = Scorer(observed.to_numpy(), {"m": predicted[None]}).score(weights)["m"]
    for k in range(5):
        drawn = np.repeat(np.arange(60), weights[k].astype(int))
        obs, pred = observed.to_numpy()[drawn], predicted[drawn]
        for t in range(3):
            assert scores["mse_log"][0, k, t] == pytest.approx(np.mean((pred[:, t] - obs[:, t]) ** 2))
            assert scores["pearson"][0, k, t] == pytest.approx(stats.pearsonr(obs[:, t], pred[:, t]).statistic)
            assert scores["spearman"][0, k, t] == pytest.approx(stats.spearmanr(obs[:, t], pred[:, t]).statistic)
        x, y = obs - obs.mean(axis=1, keepdims=True), pred - pred.mean(axis=1, keepdims=True)
        x, y = x - x.mean(axis=0), y - y.mean(axis=0)
        assert scores["specificity_pearson"][0, k, 0] == pytest.approx(np.corrcoef(x.ravel(), y.ravel())[0, 1])


def test_bootstrap_interval_covers_the_true_mse_at_the_nominal_rate():
    """200 simulated test sets with errors of known variance (true MSE 1): 95 % intervals cover it ~95 % of the time.
    (Measured 0.95; with ci=0.8 the same simulation covers 0.835, so a wrong interval fails.)"""
    covered = []
    for seed in range(200):
        observed, rng = world(genes=120, tissues=2, seed=seed)
        predicted = observed + rng.normal(0, 1, observed.shape)
        metrics = evaluate(observed, {"m": [predicted]}, n_boot=400, seed=seed).metrics
        low, high = (value(metrics, "m", "All", "mse_log", c) for c in ("ci_low", "ci_high"))
        covered.append(low <= 1.0 <= high)
    assert 0.90 <= np.mean(covered) <= 0.99, np.mean(covered)


def test_reduction_interval_is_paired():
    """The model's errors are 70 % of const_mean's plus a little noise: the two MSE intervals overlap widely, but the
    paired interval of the reduction is narrow and equals the one recomputed from explicitly resampled genes."""
    observed, rng = world(genes=80, tissues=2)
    const = const_mean(observed)
    model = const + 0.3 * (observed - const) + rng.normal(0, 0.05, observed.shape)
    metrics = evaluate(observed, {"m": [model], "const_mean": [const]}, n_boot=300, seed=7).metrics
    weights = np.vstack(list(resample_weights(np.arange(80), 300, seed=7)))
    reductions = []
    for counts in weights.astype(int):
        drawn = np.repeat(np.arange(80), counts)
        mse = {name: ((frame.to_numpy()[drawn] - observed.to_numpy()[drawn]) ** 2).mean(axis=0).mean()
               for name, frame in (("m", model), ("c", const))}  # fmt: skip
        reductions.append(100 * (mse["c"] - mse["m"]) / mse["c"])
    expected = np.quantile(reductions, [0.025, 0.975])
    paired = [value(metrics, "m", "All", "pct_reduction_mse_log", c) for c in ("ci_low", "ci_high")]
    np.testing.assert_allclose(paired, expected, rtol=1e-9)
    mse_low, mse_high = (value(metrics, "m", "All", "mse_log", c) for c in ("ci_low", "ci_high"))
    const_low, const_high = (value(metrics, "const_mean", "All", "mse_log", c) for c in ("ci_low", "ci_high"))
    unpaired_width = 100 * (mse_high / const_low - mse_low / const_high)
    assert paired[1] - paired[0] < unpaired_width / 5
    assert paired[0] < value(metrics, "m", "All", "pct_reduction_mse_log") < paired[1]


def test_cluster_bootstrap_resamples_groups():
    """Each gene copied five times (a family of identical genes): resampling genes pretends there are five times as
    many independent genes, resampling the families gives exactly the intervals of the genes without copies."""
    observed, rng = world(genes=100, tissues=2)
    predicted = observed + rng.normal(0, 1, observed.shape)
    copies = pd.Index([f"{gene}_{c}" for gene in observed.index for c in range(5)], name="gene_id")
    family = pd.Series(np.repeat(observed.index, 5), index=copies)

    def copied(frame):
        return pd.DataFrame(np.repeat(frame.to_numpy(), 5, axis=0), index=copies, columns=frame.columns)

    plain = evaluate(observed, {"m": [predicted]}, n_boot=200, seed=3).metrics
    by_family = evaluate(copied(observed), {"m": [copied(predicted)]}, family, n_boot=200, seed=3).metrics
    by_gene = evaluate(copied(observed), {"m": [copied(predicted)]}, n_boot=200, seed=3).metrics
    for metric in ("mse_log", "pearson"):
        interval = [value(plain, "m", "All", metric, c) for c in ("ci_low", "ci_high")]
        np.testing.assert_allclose([value(by_family, "m", "All", metric, c) for c in ("ci_low", "ci_high")], interval)
        gene_width = value(by_gene, "m", "All", metric, "ci_high") - value(by_gene, "m", "All", metric, "ci_low")
        assert gene_width < 0.6 * (interval[1] - interval[0])


def test_replicates_are_averaged_with_their_spread():
    observed, rng = world(genes=150, tissues=3)
    fits = [observed + rng.normal(0, 0.5 + 0.3 * r, observed.shape) for r in range(3)]
    const = const_mean(observed)
    result = evaluate(observed, {"m": fits, "const_mean": [const] * 3}, n_boot=100)
    metrics = result.metrics
    assert list(result.replicates.columns) == REPLICATE_COLUMNS
    assert set(metrics.n_replicates) == {3}
    for metric in ("mse_log", "spearman", "pct_reduction_mse_log", "specificity_pearson"):
        single = [value(evaluate(observed, {"m": [fit], "const_mean": [const]}, n_boot=1).metrics, "m", "All", metric)
                  for fit in fits]  # fmt: skip
        assert value(metrics, "m", "All", metric) == pytest.approx(np.mean(single))
        assert value(metrics, "m", "All", metric, "sd_replicates") == pytest.approx(np.std(single, ddof=1))
        rows = result.replicates[(result.replicates.model == "m") & (result.replicates.metric == metric)
                                 & (result.replicates.tissue == "All")]  # fmt: skip
        assert list(rows.replicate) == [1, 2, 3]
        np.testing.assert_allclose(rows.value, single)
    # a deterministic model repeats itself: no spread, and the same interval as a single fit
    assert value(metrics, "const_mean", "t0", "mse_log", "sd_replicates") == 0
    once = evaluate(observed, {"const_mean": [const]}, n_boot=100).metrics
    assert value(once, "const_mean", "t0", "mse_log", "ci_high") == pytest.approx(
        value(metrics, "const_mean", "t0", "mse_log", "ci_high")
    )
    assert math.isnan(value(once, "const_mean", "t0", "mse_log", "sd_replicates"))
    assert set(once.n_replicates) == {1}


def test_study_tables():
    observed, predictions = frames()
    table = study_table(evaluate(observed, predictions, n_boot=50).metrics, "mae_tpm", "CornBERT", ["leaf", "root"])
    assert list(table.index) == ["leaf", "root", "All"]
    names = ("CornBERT", "const_mean", "pct_reduction")
    assert list(table.columns) == [f"{name}{suffix}" for name in names for suffix in ("", "_ci_low", "_ci_high")]
    assert table.loc["All", "CornBERT"] == pytest.approx(1.25)
    assert table.loc["leaf", "pct_reduction"] == pytest.approx(100 * (1.5 - 0.5) / 1.5)
    assert (table.CornBERT_ci_low <= table.CornBERT_ci_high).all()


def test_comparison_plot_normalises_intervals_like_the_bars():
    metrics = pd.DataFrame({
        "model": ["a", "b"], "tissue": ["All", "All"], "metric": ["mse_log", "mse_log"],
        "value": [2.0, 4.0], "ci_low": [1.5, 3.0], "ci_high": [2.5, 5.0],
    })  # fmt: skip
    tables = comparison_values(metrics, "mse_log")
    assert tables["value"].loc["All"].tolist() == [0.5, 1.0]
    assert tables["ci_low"].loc["All"].tolist() == [0.375, 0.75]
    assert tables["ci_high"].loc["All"].tolist() == [0.625, 1.25]


def write_test_set(directory, models, replicates, split_extra=None):
    """The evaluation's inputs as the workflow lays them out under `directory`: results/expression/targets.tsv,
    split.tsv (two training genes) and results/predictions/rep{r}/{model}.tsv. Returns the truth and the predictions."""
    observed, rng = world(genes=60, tissues=3)
    expression = directory / "results" / "expression"
    expression.mkdir(parents=True, exist_ok=True)
    train = observed.iloc[:2].rename(index=lambda g: f"train_{g}")
    write_tsv(pd.concat([observed, train]), expression / "targets.tsv")
    split = pd.DataFrame({"split": ["test"] * 60 + ["train"] * 2}, index=[*observed.index, *train.index])
    split.index.name = "gene_id"
    write_tsv(split if split_extra is None else split.assign(**split_extra), expression / "split.tsv")
    predictions = {}
    for model in models:
        for r in range(1, replicates + 1):
            frame = const_mean(observed) if model == "const_mean" else observed + rng.normal(0, 0.5, observed.shape)
            predictions[model, r] = frame
            path = directory / "results" / "predictions" / f"rep{r}" / f"{model}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_predictions(frame, path)
    return observed, predictions


def test_load_test_set_reads_replicates_model_major_and_groups(tmp_path):
    observed, truth = write_test_set(tmp_path, ["m", "n"], 2, {"group": ["fam1", "fam2"] * 31})
    targets, split = tmp_path / "results/expression/targets.tsv", tmp_path / "results/expression/split.tsv"
    paths = [tmp_path / "results" / "predictions" / f"rep{r}" / f"{m}.tsv" for m in ("m", "n") for r in (1, 2)]
    data = load_test_set(targets, split, paths, ["m", "n"], 2)
    assert list(data.observed.index) == list(observed.index)
    np.testing.assert_allclose(data.predictions["n"][1].to_numpy(), truth["n", 2].to_numpy(), rtol=1e-5)
    assert data.groups.tolist() == ["fam1", "fam2"] * 30
    with pytest.raises(ValueError, match="3 prediction files for 2 models x 2 replicates"):
        load_test_set(targets, split, paths[:3], ["m", "n"], 2)


def test_load_test_set_names_the_bad_file(tmp_path):
    observed, truth = write_test_set(tmp_path, ["m"], 1)
    targets, split = tmp_path / "results/expression/targets.tsv", tmp_path / "results/expression/split.tsv"
    frame = truth["m", 1]
    write_predictions(frame.iloc[:-1], tmp_path / "short.tsv")
    write_tsv(frame.add_suffix("_log").reset_index(drop=True), tmp_path / "no_gene_id.tsv")
    write_tsv(frame.add_suffix("_log").astype(object).assign(t1_log="high"), tmp_path / "text.tsv")
    write_tsv(frame.add_suffix("_log").iloc[[0, *range(len(frame))]], tmp_path / "twice.tsv")
    (tmp_path / "empty.tsv").write_text("")
    expected = {
        "short.tsv": r"short\.tsv: no predictions for 1 test gene",
        "no_gene_id.tsv": r"no_gene_id\.tsv: not a prediction table",
        "text.tsv": r"text\.tsv: non-numeric predictions in column\(s\) \['t1_log'\]",
        "twice.tsv": r"twice\.tsv: gene\(s\) listed twice",
        "empty.tsv": r"empty\.tsv: not a prediction table",
        "missing.tsv": r"missing\.tsv: prediction file not found",
    }
    for name, message in expected.items():
        with pytest.raises(InputError, match=message):
            load_test_set(targets, split, [tmp_path / name], ["m"], 1)
    groups_missing = pd.read_csv(split, sep="\t").assign(group=[None] + ["f1"] * 61)
    write_tsv(groups_missing, tmp_path / "split_groups.tsv", index=False)
    with pytest.raises(InputError, match=r"split_groups\.tsv: 1 test gene\(s\) have no `group`"):
        load_test_set(targets, tmp_path / "split_groups.tsv", [tmp_path / "results/predictions/rep1/m.tsv"], ["m"], 1)


def test_evaluation_settings_default_from_the_schema():
    config = {
        "genomes": {"maize": {"fasta": "a.fa", "gff": "a.gff3"}},
        "pretraining": {"stage1": ["maize"], "stage2": ["maize"]},
        "expression": {"genome": "maize", "matrix": "tpm.tsv"},
    }
    validate(config, str(REPO / "config" / "schema.yaml"))
    assert config["evaluation"] == {"replicates": 1, "bootstrap": 1000, "ci": 0.95, "stack": True}
    with pytest.raises(Exception, match="replicates"):
        validate({**config, "evaluation": {"replicates": 0}}, str(REPO / "config" / "schema.yaml"))


def scored_models(param: str = "models") -> list[str]:
    """The models rule evaluate_models scores (params.models; params.ensembles: also as replicate means), as
    Snakemake loads the workflow: the list grows with new baselines, so the test does not write it down."""
    from workflow_rules import loaded_workflow

    with loaded_workflow() as workflow:
        return list(getattr(workflow.get_rule("evaluate_models").params, param))


@pytest.mark.slow
def test_evaluation_rules_score_and_plot_every_replicate(tmp_path):
    """Snakemake runs evaluate_models and plot_evaluation on prepared predictions of two replicates; every table reads
    back equal to scoring the same files in-process."""
    models = scored_models()
    assert {"const_mean", "CornBERT"} <= set(models)
    observed, _ = write_test_set(tmp_path / "run", models, 2)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(seed=5, evaluation={"replicates": 2, "bootstrap": 200})
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    outputs = ["results/evaluation/metrics.tsv", "results/evaluation/compare_spearman.png"]
    run_snakemake(tmp_path / "run", "--cores", "1", "--allowed-rules", "evaluate_models", "plot_evaluation",
                  "--", *outputs, configfile=configfile)  # fmt: skip

    results = tmp_path / "run" / "results" / "evaluation"
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    run = tmp_path / "run"
    paths = [run / "results" / "predictions" / f"rep{r}" / f"{m}.tsv" for m in models for r in (1, 2)]
    data = load_test_set(run / "results/expression/targets.tsv", run / "results/expression/split.tsv", paths, models, 2)
    ensembles = replicate_ensembles(data.predictions, scored_models("ensembles"))
    assert {"CornBERT_ensemble", "CornBERT_scratch_ensemble"} <= set(ensembles)
    expected = evaluate(data.observed, data.predictions | ensembles, n_boot=200, seed=5)
    assert list(metrics.columns) == COLUMNS
    pd.testing.assert_frame_equal(metrics, expected.metrics, rtol=1e-5, check_dtype=False)
    replicates = pd.read_csv(results / "metrics_replicates.tsv", sep="\t")
    pd.testing.assert_frame_equal(replicates, expected.replicates, rtol=1e-5, check_dtype=False)
    table = pd.read_csv(results / "table_mse.tsv", sep="\t", index_col="tissue")
    pd.testing.assert_frame_equal(table, study_table(expected.metrics, "mse_log", "CornBERT", list(observed.columns)),
                                  rtol=1e-5, check_dtype=False, check_names=False)  # fmt: skip
    for figure in ("compare_mse_log", "compare_mae_tpm", "compare_pearson", "compare_spearman", "pred_vs_obs"):
        assert matplotlib.image.imread(results / f"{figure}.png").shape[0] > 300
