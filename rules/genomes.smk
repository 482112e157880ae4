# Genome files given as http(s)/ftp URLs are fetched once into resources/genomes/ (see genome_source()).
# Downloads run on the submitting host: compute nodes of many clusters have no internet access.


localrules:
    download_genome_file,


rule download_genome_file:
    output:
        file="resources/genomes/{genome}.{kind}",
    log:
        "logs/download_genome_file/{genome}.{kind}.log",
    conda:
        "../envs/genomes.yaml"
    threads: rule_threads("download_genome_file")
    resources:
        **rule_resources("download_genome_file"),
    params:
        url=lambda wildcards: config["genomes"][wildcards.genome][wildcards.kind],
        sha256=lambda wildcards: expected_sha256(wildcards.genome, wildcards.kind),
    script:
        "../workflow_scripts/download_genome_file.py"
