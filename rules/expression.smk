# Expression targets: the checked gene x tissue matrix joined with the promoters, log(TPM+1), and the
# gene-level train/test split. In sequence mode (expression.sequences) the user's FASTA replaces the promoters.


rule prepare_targets:
    input:
        table=expression_table(),
        sequences=expression_sequences(),
    output:
        targets="results/expression/targets.tsv",
        unmatched="results/expression/unmatched.tsv",
        promoters="results/expression/promoters.fa",
    log:
        "logs/prepare_targets/all.log",
    conda:
        "../envs/expression.yaml"
    params:
        values=EXPRESSION.get("sequences", {}).get("values", "tpm"),
        split_column=expression_split_column(),
        min_max_tpm=EXPRESSION["min_max_tpm"],
        sequence_mode=SEQUENCE_MODE,
    script:
        "../workflow_scripts/prepare_targets.py"


rule split_genes:
    input:
        targets=rules.prepare_targets.output.targets,
        table=expression_table(),
    output:
        split="results/expression/split.tsv",
    log:
        "logs/split_genes/all.log",
    conda:
        "../envs/expression.yaml"
    params:
        test_fraction=EXPRESSION["test_fraction"],
        seed=config["seed"],
        split_column=expression_split_column(),
    script:
        "../workflow_scripts/split_genes.py"


rule plot_targets:
    input:
        targets=rules.prepare_targets.output.targets,
        split=rules.split_genes.output.split,
    output:
        figure=report("results/expression/targets.png", caption="../report/targets.rst", category="Expression"),
    log:
        "logs/plot_targets/all.log",
    conda:
        "../envs/expression.yaml"
    script:
        "../workflow_scripts/plot_targets.py"
