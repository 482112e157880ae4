# The bundled demo world: three small synthetic genomes and a maize-like expression matrix with a planted
# promoter grammar (docs/demo_world.md), calibrated to the real B73 matrix shipped in resources/maize_b73.


rule generate_demo_world:
    input:
        calibration_matrix=f"{workflow.basedir}/resources/maize_b73/B73_v5_gene_by_tissue_TPM.tsv.gz",
    output:
        grass_a_fasta="resources/demo/grass_a.fa.gz",
        grass_a_gff="resources/demo/grass_a.gff3",
        grass_b_fasta="resources/demo/grass_b.fa.bgz",
        grass_b_gff="resources/demo/grass_b.gff3.gz",
        maize_fasta="resources/demo/maize.fa",
        maize_gff="resources/demo/maize.gff3",
        maize_variants="resources/demo/maize_variants.vcf",
        matrix="resources/demo/maize_tpm.tsv",
        rule="resources/demo/planted_rule.json",
    log:
        "logs/generate_demo_world/all.log",
    conda:
        "../envs/expression.yaml"
    threads: rule_threads("generate_demo_world")
    resources:
        **rule_resources("generate_demo_world"),
    script:
        "../workflow_scripts/generate_demo_world.py"
