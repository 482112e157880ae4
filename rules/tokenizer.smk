# Byte-level BPE tokenizer trained on the stage-1 promoters (all genomes), saved in the Hugging Face format:
# transformers.AutoTokenizer.from_pretrained("results/tokenizer") loads it.
rule train_tokenizer:
    input:
        corpus=expand(rules.build_pretraining_corpus.output.corpus, stage="stage1"),
    output:
        tokenizer="results/tokenizer/tokenizer.json",
        tokenizer_config="results/tokenizer/tokenizer_config.json",
        lengths="results/tokenizer/token_lengths.tsv",
        plot=report("results/tokenizer/token_lengths.png", caption="../report/token_lengths.rst", category="Corpus"),
    log:
        "logs/train_tokenizer/all.log",
    benchmark:
        "benchmarks/train_tokenizer/all.tsv"
    conda:
        "../envs/ml.yaml"
    params:
        settings=config["tokenizer"],
    script:
        "../workflow_scripts/train_tokenizer.py"
