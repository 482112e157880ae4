# Scores of CornBERT and the baselines on the test genes (every replicate), with bootstrap intervals over test genes,
# the study's tables and comparison figures.


rule evaluate_models:
    input:
        targets="results/expression/targets.tsv",
        split="results/expression/split.tsv",
        predictions=evaluated_predictions(),
    output:
        metrics=report(
            "results/evaluation/metrics.tsv",
            caption="../report/metrics.rst",
            category="Evaluation",
            subcategory="Tables",
        ),
        replicates=report(
            "results/evaluation/metrics_replicates.tsv",
            caption="../report/metrics_replicates.rst",
            category="Evaluation",
            subcategory="Tables",
        ),
        table_mse=report(
            "results/evaluation/table_mse.tsv",
            caption="../report/table_mse.rst",
            category="Evaluation",
            subcategory="Tables",
        ),
        table_mae=report(
            "results/evaluation/table_mae.tsv",
            caption="../report/table_mae.rst",
            category="Evaluation",
            subcategory="Tables",
        ),
    log:
        "logs/evaluate_models/all.log",
    benchmark:
        "benchmarks/evaluate_models/all.tsv"
    conda:
        "../envs/evaluate.yaml"
    threads: rule_threads("evaluate_models")
    resources:
        **rule_resources("evaluate_models"),
    params:
        models=evaluated_models(),
        replicates=config["evaluation"]["replicates"],
        bootstrap=config["evaluation"]["bootstrap"],
        ci=config["evaluation"]["ci"],
        seed=config["seed"],
        reported_model=MODEL_NAMES["pretrained"],
        ensembles=ensembled_models(),
    script:
        "../workflow_scripts/evaluate_models.py"


rule plot_evaluation:
    input:
        metrics=rules.evaluate_models.output.metrics,
        targets="results/expression/targets.tsv",
        split="results/expression/split.tsv",
        predictions=evaluated_predictions(),
    output:
        compare_mse_log=report(
            "results/evaluation/compare_mse_log.png",
            caption="../report/compare.rst",
            category="Evaluation",
            subcategory="Model comparison",
        ),
        compare_mae_tpm=report(
            "results/evaluation/compare_mae_tpm.png",
            caption="../report/compare.rst",
            category="Evaluation",
            subcategory="Model comparison",
        ),
        compare_pearson=report(
            "results/evaluation/compare_pearson.png",
            caption="../report/compare.rst",
            category="Evaluation",
            subcategory="Model comparison",
        ),
        compare_spearman=report(
            "results/evaluation/compare_spearman.png",
            caption="../report/compare.rst",
            category="Evaluation",
            subcategory="Model comparison",
        ),
        pred_vs_obs=report(
            "results/evaluation/pred_vs_obs.png",
            caption="../report/pred_vs_obs.rst",
            category="Evaluation",
            subcategory="Model comparison",
        ),
    log:
        "logs/plot_evaluation/all.log",
    conda:
        "../envs/evaluate.yaml"
    threads: rule_threads("plot_evaluation")
    resources:
        **rule_resources("plot_evaluation"),
    params:
        models=evaluated_models(),
        replicates=config["evaluation"]["replicates"],
        ci=config["evaluation"]["ci"],
    script:
        "../workflow_scripts/plot_evaluation.py"


rule stack_models:
    input:
        targets="results/expression/targets.tsv",
        split="results/expression/split.tsv",
        predictions=stack_member_predictions,
        models=stack_member_models,
    output:
        model=directory("results/stacking/rep{rep}/{stack}"),
        predictions="results/predictions/rep{rep}/{stack}.tsv",
        weights="results/stacking/rep{rep}/{stack}.weights.tsv",
    log:
        "logs/stack_models/rep{rep}/{stack}.log",
    wildcard_constraints:
        stack="|".join(STACK_MEMBERS),
    conda:
        "../envs/ml.yaml"
    threads: rule_threads("stack_models")
    resources:
        **rule_resources("stack_models"),
    params:
        members=lambda wildcards: STACK_MEMBERS[wildcards.stack],
        seed=replicate_seed,
    script:
        "../workflow_scripts/stack_models.py"


rule choose_best_model:
    input:
        targets="results/expression/targets.tsv",
        split="results/expression/split.tsv",
        predictions=expand("results/predictions/rep1/{model}.tsv", model=evaluated_models()),
        models=[model_folder(model, 1) for model in evaluated_models()],
    output:
        choice="results/best_model.json",
    log:
        "logs/choose_best_model/all.log",
    conda:
        "../envs/evaluate.yaml"
    threads: rule_threads("choose_best_model")
    resources:
        **rule_resources("choose_best_model"),
    params:
        models=evaluated_models(),
    script:
        "../workflow_scripts/choose_best_model.py"


rule publish_model:
    input:
        model=lambda wildcards: model_folder(wildcards.model, 1),
        metrics=rules.evaluate_models.output.metrics,
    output:
        model=directory("results/models/{model}"),
    log:
        "logs/publish_model/{model}.log",
    wildcard_constraints:
        model="|".join(evaluated_models()),
    conda:
        "../envs/evaluate.yaml"
    threads: rule_threads("publish_model")
    resources:
        **rule_resources("publish_model"),
    script:
        "../workflow_scripts/publish_model.py"
