# The study's comparison models, fitted on the same training genes as CornBERT and scored on the same test genes;
# each saved as a folder that every tool loads (cornbert.fitted).


rule fit_baseline:
    input:
        targets="results/expression/targets.tsv",
        split="results/expression/split.tsv",
        promoters="results/expression/promoters.fa",
    output:
        model=directory("results/baselines/rep{rep}/{baseline}"),
        predictions="results/predictions/rep{rep}/{baseline}.tsv",
    log:
        "logs/fit_baseline/rep{rep}/{baseline}.log",
    benchmark:
        "benchmarks/fit_baseline/rep{rep}/{baseline}.tsv"
    wildcard_constraints:
        baseline="|".join(BASELINES),
    conda:
        "../envs/baselines.yaml"
    threads: rule_threads("fit_baseline")
    resources:
        **rule_resources("fit_baseline"),
    params:
        baselines=config["baselines"],
        seed=replicate_seed,
    script:
        "../workflow_scripts/fit_baseline.py"
