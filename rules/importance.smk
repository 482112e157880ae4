# In-silico mutagenesis of `analysis_model` (default: the best by validation error): which promoter positions its
# predictions depend on, and which it cannot see.


rule compute_importance:
    input:
        model=analysed_model(config["analysis_model"]),
        targets="results/expression/targets.tsv",
        split="results/expression/split.tsv",
        promoters="results/expression/promoters.fa",
    output:
        table=report(
            "results/importance/importance.tsv",
            caption="../report/importance_table.rst",
            category="Importance",
        ),
        heatmap=report(
            "results/importance/importance.png",
            caption="../report/importance.rst",
            category="Importance",
        ),
    log:
        "logs/compute_importance/all.log",
    benchmark:
        "benchmarks/compute_importance/all.tsv"
    conda:
        "../envs/ml.yaml"
    threads: rule_threads("compute_importance")
    resources:
        **rule_resources("compute_importance"),
    params:
        importance=config["importance"],
        seed=config["seed"],
    script:
        "../workflow_scripts/compute_importance.py"
