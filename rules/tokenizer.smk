# Byte-level BPE tokenizer trained on the stage-1 corpus (all genomes but the target species; no split or expression
# setting reaches it), saved in the Hugging Face format: transformers.AutoTokenizer.from_pretrained("results/tokenizer")
# loads it. With a stage-1 model trained elsewhere (pretraining.stage1_model) its own tokenizer is used instead.
if STAGE1_MODEL:

    rule import_stage1_model:
        input:
            model=STAGE1_MODEL,
        output:
            tokenizer=TOKENIZER,
            tokenizer_config="results/tokenizer/tokenizer_config.json",
        log:
            "logs/import_stage1_model/all.log",
        conda:
            "../envs/ml.yaml"
        threads: rule_threads("import_stage1_model")
        resources:
            **rule_resources("import_stage1_model"),
        script:
            "../workflow_scripts/import_stage1_model.py"

else:

    rule train_tokenizer:
        input:
            corpus=expand(rules.build_pretraining_corpus.output.corpus, stage="stage1"),
        output:
            tokenizer=TOKENIZER,
            tokenizer_config="results/tokenizer/tokenizer_config.json",
            lengths="results/tokenizer/token_lengths.tsv",
            plot=report("results/tokenizer/token_lengths.png", caption="../report/token_lengths.rst", category="Corpus"),
        log:
            "logs/train_tokenizer/all.log",
        benchmark:
            "benchmarks/train_tokenizer/all.tsv"
        conda:
            "../envs/ml.yaml"
        threads: rule_threads("train_tokenizer")
        resources:
            **rule_resources("train_tokenizer"),
        params:
            settings=config["tokenizer"],
        script:
            "../workflow_scripts/train_tokenizer.py"
