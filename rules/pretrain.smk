# Masked-LM pretraining in two stages: stage1 from scratch on all genomes but the target species (or a stage-1 model
# folder trained elsewhere, pretraining.stage1_model), stage2 from stage1 on the target species.


# Each stage's corpus tokenised once (uint16 ids + offsets, memory-mapped), so pretraining, its resumes and reruns
# never tokenise again and read batches without holding the corpus in memory.
rule tokenize_corpus:
    input:
        corpus=rules.build_pretraining_corpus.output.corpus,
        tokenizer=TOKENIZER,
    output:
        tokens=directory("results/corpus/{stage}.tokens"),
    log:
        "logs/tokenize_corpus/{stage}.log",
    benchmark:
        "benchmarks/tokenize_corpus/{stage}.tsv"
    conda:
        "../envs/ml.yaml"
    threads: rule_threads("tokenize_corpus")
    resources:
        **rule_resources("tokenize_corpus"),
    script:
        "../workflow_scripts/tokenize_corpus.py"


# A killed job resumes from results/pretrain/{stage}/checkpoints/ when rerun (kept outside the outputs, so
# Snakemake's clean-up of a failed job leaves it); the folder is removed when the stage completes.
rule pretrain_model:
    input:
        tokens=rules.tokenize_corpus.output.tokens,
        tokenizer=TOKENIZER,
        init_model=pretrain_init_model,
    output:
        model=directory("results/pretrain/{stage}/model"),
        metrics="results/pretrain/{stage}/metrics.tsv",
    log:
        "logs/pretrain_model/{stage}.log",
    benchmark:
        "benchmarks/pretrain_model/{stage}.tsv"
    conda:
        "../envs/ml.yaml"
    threads: rule_threads("pretrain_model")
    resources:
        **rule_resources("pretrain_model"),
    params:
        checkpoints="results/pretrain/{stage}/checkpoints",
        settings=pretraining_settings,
        model=config["model"],
        seed=config["seed"],
    script:
        "../workflow_scripts/pretrain_model.py"
