# Expression targets: the checked gene x tissue matrix joined with the promoters, log(TPM+1), the gene-level
# train/validation/test split by leakage groups, and the audit of what still links genes across the split.
# In sequence mode (expression.sequences) the user's FASTA replaces the promoters.


rule prepare_targets:
    input:
        unpack(expression_id_map),
        table=expression_table(),
        sequences=expression_sequences(),
    output:
        targets="results/expression/targets.tsv",
        unmatched="results/expression/unmatched.tsv",
        summary=report("results/expression/join.tsv", caption="../report/join.rst", category="Expression"),
        promoters="results/expression/promoters.fa",
    log:
        "logs/prepare_targets/all.log",
    conda:
        "../envs/expression.yaml"
    threads: rule_threads("prepare_targets")
    resources:
        **rule_resources("prepare_targets"),
    params:
        values=EXPRESSION.get("sequences", {}).get("values", "tpm"),
        split_column=expression_split_column(),
        min_max_tpm=EXPRESSION["min_max_tpm"],
        sequence_mode=SEQUENCE_MODE,
        id_rules=expression_id_rules(),
        min_matched_fraction=EXPRESSION["min_matched_fraction"],
    script:
        "../workflow_scripts/prepare_targets.py"


rule split_genes:
    input:
        **expression_bed(),
        targets=rules.prepare_targets.output.targets,
        table=expression_table(),
        promoters=rules.prepare_targets.output.promoters,
    output:
        split="results/expression/split.tsv",
    log:
        "logs/split_genes/all.log",
    benchmark:
        "benchmarks/split_genes/all.tsv"
    conda:
        "../envs/expression.yaml"
    threads: rule_threads("split_genes")
    resources:
        **rule_resources("split_genes"),
    params:
        mode=EXPRESSION["split"],
        test_fraction=EXPRESSION["test_fraction"],
        validation_fraction=EXPRESSION["validation_fraction"],
        test_chromosomes=EXPRESSION["test_chromosomes"],
        overlap_bp=EXPRESSION["split_overlap_bp"],
        identity=EXPRESSION["split_identity"],
        coverage=EXPRESSION["split_coverage"],
        seed=config["seed"],
        split_column=expression_split_column(),
    script:
        "../workflow_scripts/split_genes.py"


# Recomputes the links from the sequences and windows alone, with its own search at a looser criterion than the
# split's (expression.audit_identity/audit_coverage, any window overlap), so it judges any split, however it was
# made, and reports related promoters the split did not group.
rule audit_leakage:
    input:
        **expression_bed(),
        split=rules.split_genes.output.split,
        promoters=rules.prepare_targets.output.promoters,
    output:
        leakage=report(
            "results/expression/leakage.tsv",
            caption="../report/leakage.rst",
            category="Expression",
        ),
    log:
        "logs/audit_leakage/all.log",
    benchmark:
        "benchmarks/audit_leakage/all.tsv"
    conda:
        "../envs/expression.yaml"
    threads: rule_threads("audit_leakage")
    resources:
        **rule_resources("audit_leakage"),
    params:
        audit_identity=EXPRESSION["audit_identity"],
        audit_coverage=EXPRESSION["audit_coverage"],
        identity=EXPRESSION["split_identity"],
        coverage=EXPRESSION["split_coverage"],
    script:
        "../workflow_scripts/audit_leakage.py"


# Every test promoter searched in the pretraining corpora the fine-tuned model descends from: none identical or
# near-identical (pretraining.exclude_identity/coverage) may be there; similar ones (the audit's criterion) are
# counted. A stage-1 model trained elsewhere has no corpus here: its rows say so.
rule audit_corpora:
    input:
        **audited_corpora(),
        split=rules.split_genes.output.split,
        promoters=rules.prepare_targets.output.promoters,
    output:
        leakage=report("results/corpus/leakage.tsv", caption="../report/corpus_leakage.rst", category="Corpus"),
    log:
        "logs/audit_corpora/all.log",
    benchmark:
        "benchmarks/audit_corpora/all.tsv"
    conda:
        "../envs/expression.yaml"
    threads: rule_threads("audit_corpora")
    resources:
        **rule_resources("audit_corpora"),
    params:
        audit_identity=EXPRESSION["audit_identity"],
        audit_coverage=EXPRESSION["audit_coverage"],
        identity=config["pretraining"]["exclude_identity"],
        coverage=config["pretraining"]["exclude_coverage"],
        stage1_model=STAGE1_MODEL,
    script:
        "../workflow_scripts/audit_corpora.py"


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
    threads: rule_threads("plot_targets")
    resources:
        **rule_resources("plot_targets"),
    script:
        "../workflow_scripts/plot_targets.py"
