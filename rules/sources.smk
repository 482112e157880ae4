# Corpus sources besides annotated genomes' promoters (rules/promoters.smk): genome-wide windows of an unannotated
# genome (a `genomes` entry without gff) and pre-cut sequence sets (`sequence_sets`). Both come out as promoters
# do, one uppercase FASTA record per sequence plus a statistics row, and build_pretraining_corpus treats them alike.


rule cut_windows:
    input:
        fasta=lambda wildcards: genome_source(wildcards.genome, "fasta"),
    output:
        bed="results/windows/{genome}.bed",
        fasta="results/windows/{genome}.fa",
        stats="results/windows/{genome}.stats.tsv",
    log:
        "logs/cut_windows/{genome}.log",
    benchmark:
        "benchmarks/cut_windows/{genome}.tsv"
    conda:
        "../envs/genomes.yaml"
    threads: rule_threads("cut_windows")
    resources:
        **rule_resources("cut_windows"),
    params:
        settings=config["windows"],
        ambiguous_bases=config["promoters"]["ambiguous_bases"],
        sha256=lambda wildcards: expected_sha256(wildcards.genome, "fasta"),
    script:
        "../workflow_scripts/cut_windows.py"


rule prepare_sequence_set:
    input:
        fasta=lambda wildcards: config["sequence_sets"][wildcards.sequence_set]["fasta"],
    output:
        fasta="results/sequence_sets/{sequence_set}.fa",
        stats="results/sequence_sets/{sequence_set}.stats.tsv",
    log:
        "logs/prepare_sequence_set/{sequence_set}.log",
    benchmark:
        "benchmarks/prepare_sequence_set/{sequence_set}.tsv"
    conda:
        "../envs/genomes.yaml"
    threads: rule_threads("prepare_sequence_set")
    resources:
        **rule_resources("prepare_sequence_set"),
    params:
        ambiguous_bases=config["promoters"]["ambiguous_bases"],
    script:
        "../workflow_scripts/prepare_sequence_set.py"
