# Fine-tuning of the expression regressor, from the stage-2 weights (`pretrained`) and from random weights of the
# same architecture (`scratch`), once per replicate (evaluation.replicates; replicate r uses seed + r - 1), then its
# predictions for the test genes. A killed job resumes from results/finetune/{variant}/rep{rep}/checkpoints/ when
# rerun (outside the outputs, so Snakemake's clean-up of a failed job leaves it); the folder is removed when training
# completes.
rule finetune_model:
    input:
        targets=rules.prepare_targets.output.targets,
        split=rules.split_genes.output.split,
        promoters=rules.prepare_targets.output.promoters,
        tokenizer=TOKENIZER,
        encoder=expand(rules.pretrain_model.output.model, stage="stage2")[0],
    output:
        model=directory("results/finetune/{variant}/rep{rep}/model"),
        loss="results/finetune/{variant}/rep{rep}/loss.tsv",
        plot=report(
            "results/finetune/{variant}/rep{rep}/loss.png",
            caption="../report/loss.rst",
            category="Training",
            subcategory="{variant}, replicate {rep}",
        ),
    log:
        "logs/finetune_model/{variant}/rep{rep}.log",
    benchmark:
        "benchmarks/finetune_model/{variant}/rep{rep}.tsv"
    conda:
        "../envs/ml.yaml"
    threads: rule_threads("finetune_model")
    resources:
        **rule_resources("finetune_model"),
    params:
        checkpoints="results/finetune/{variant}/rep{rep}/checkpoints",
        settings=config["finetune"],
        seed=replicate_seed,
    script:
        "../workflow_scripts/finetune_model.py"


rule predict_test_genes:
    input:
        model=finetuned_model,
        promoters=rules.prepare_targets.output.promoters,
        split=rules.split_genes.output.split,
    output:
        predictions="results/predictions/rep{rep}/{model}.tsv",
    log:
        "logs/predict_test_genes/rep{rep}/{model}.log",
    benchmark:
        "benchmarks/predict_test_genes/rep{rep}/{model}.tsv"
    wildcard_constraints:
        model="|".join(MODEL_NAMES[variant] for variant in FINETUNE_VARIANTS),
    conda:
        "../envs/ml.yaml"
    threads: rule_threads("predict_test_genes")
    resources:
        **rule_resources("predict_test_genes"),
    params:
        batch_size=config["finetune"]["predict_batch_size"],
    script:
        "../workflow_scripts/predict_test_genes.py"
