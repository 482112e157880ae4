# Promoters per genome (samtools faidx + bedtools getfasta -s), the statistics of every corpus source (promoters here,
# windows and sequence sets in rules/sources.smk), and the pretraining corpora.


rule extract_promoters:
    input:
        fasta=lambda wildcards: genome_source(wildcards.genome, "fasta"),
        gff=lambda wildcards: genome_source(wildcards.genome, "gff"),
    output:
        bed="results/promoters/{genome}.bed",
        fasta="results/promoters/{genome}.fa",
        stats="results/promoters/{genome}.stats.tsv",
    log:
        "logs/extract_promoters/{genome}.log",
    benchmark:
        "benchmarks/extract_promoters/{genome}.tsv"
    conda:
        "../envs/genomes.yaml"
    threads: rule_threads("extract_promoters")
    resources:
        **rule_resources("extract_promoters"),
    params:
        settings=extraction_settings(),
        chrom_map=lambda wildcards: config["genomes"][wildcards.genome].get("chrom_map", {}),
        sha256=lambda wildcards: {kind: expected_sha256(wildcards.genome, kind) for kind in ("fasta", "gff")},
    script:
        "../workflow_scripts/extract_promoters.py"


rule summarize_corpus:
    input:
        stats=[source_file(source, "stats.tsv") for source in SOURCES],
        lengths=[source_lengths_file(source) for source in SOURCES],
    output:
        table="results/corpus/corpus_stats.tsv",
        figure=report("results/corpus/corpus_stats.png", caption="../report/corpus_stats.rst", category="Corpus"),
    log:
        "logs/summarize_corpus/all.log",
    conda:
        "../envs/genomes.yaml"
    threads: rule_threads("summarize_corpus")
    resources:
        **rule_resources("summarize_corpus"),
    params:
        sources={source: source_kind(source) for source in SOURCES},
    script:
        "../workflow_scripts/summarize_corpus.py"


# Stage 2's held-out set comes from rule split_genes (rules/expression.smk, included later), hence paths, not
# rules.x. Stage 1 reads no expression setting: see corpus_held_out (rules/common.smk).
rule build_pretraining_corpus:
    input:
        unpack(pretraining_corpus_inputs),
    output:
        corpus="results/corpus/{stage}.txt",
        sources="results/corpus/{stage}.sources.tsv",
    log:
        "logs/build_pretraining_corpus/{stage}.log",
    benchmark:
        "benchmarks/build_pretraining_corpus/{stage}.tsv"
    conda:
        "../envs/genomes.yaml"
    threads: rule_threads("build_pretraining_corpus")
    resources:
        **rule_resources("build_pretraining_corpus"),
    params:
        genomes=lambda wildcards: stage_genomes(wildcards.stage),
        kinds=lambda wildcards: {source: source_kind(source) for source in stage_genomes(wildcards.stage)},
        held_out=lambda wildcards: corpus_held_out(wildcards.stage),
        expression_genome=corpus_expression_genome,
        min_length=config["promoters"]["corpus"]["min_length"],
        max_n_fraction=config["promoters"]["corpus"]["max_n_fraction"],
        identity=config["pretraining"]["exclude_identity"],
        coverage=config["pretraining"]["exclude_coverage"],
    script:
        "../workflow_scripts/build_pretraining_corpus.py"
