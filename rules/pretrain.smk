# Masked-LM pretraining in two stages: stage1 from scratch on all genomes, stage2 from stage1 on the target species.


# Each stage's corpus tokenised once (uint16 ids + offsets, memory-mapped), so pretraining, its resumes and reruns
# never tokenise again and read batches without holding the corpus in memory.
rule tokenize_corpus:
    input:
        corpus=rules.build_pretraining_corpus.output.corpus,
        tokenizer=rules.train_tokenizer.output.tokenizer,
    output:
        tokens=directory("results/corpus/{stage}.tokens"),
    log:
        "logs/tokenize_corpus/{stage}.log",
    benchmark:
        "benchmarks/tokenize_corpus/{stage}.tsv"
    conda:
        "../envs/ml.yaml"
    script:
        "../workflow_scripts/tokenize_corpus.py"


# A killed job resumes from results/pretrain/{stage}/checkpoints/ when rerun (kept outside the outputs, so
# Snakemake's clean-up of a failed job leaves it); the folder is removed when the stage completes.
rule pretrain_model:
    input:
        tokens=rules.tokenize_corpus.output.tokens,
        tokenizer=rules.train_tokenizer.output.tokenizer,
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
    params:
        checkpoints="results/pretrain/{stage}/checkpoints",
        settings=config["pretraining"],
        model=config["model"],
        seed=config["seed"],
    script:
        "../workflow_scripts/pretrain_model.py"
