# What breeders ask the model: the predicted effect of their alleles (VCFs under `variants`) and of every single
# edit of chosen promoters (`saturation`), with `analysis_model` (default: the best by validation error).


rule predict_variant_effects:
    input:
        model=analysed_model(config["analysis_model"]),
        vcf=lambda wildcards: config["variants"][wildcards.name],
        fasta=lambda wildcards: genome_source(EXPRESSION["genome"], "fasta"),
        gff=lambda wildcards: genome_source(EXPRESSION["genome"], "gff"),
    output:
        table="results/variants/{name}.tsv",
        summary="results/variants/{name}.summary.tsv",
        figure=report(
            "results/variants/{name}.png",
            caption="../report/variants.rst",
            category="Variant effects",
        ),
    log:
        "logs/predict_variant_effects/{name}.log",
    benchmark:
        "benchmarks/predict_variant_effects/{name}.tsv"
    conda:
        "../envs/ml.yaml"
    threads: rule_threads("predict_variant_effects")
    resources:
        **rule_resources("predict_variant_effects"),
    params:
        promoters=extraction_settings(),
        chrom_map=lambda wildcards: config["genomes"][EXPRESSION["genome"]].get("chrom_map", {}),
    script:
        "../workflow_scripts/predict_variant_effects.py"


rule saturate_promoters:
    input:
        model=analysed_model(config["analysis_model"]),
        promoters="results/expression/promoters.fa",
    output:
        table="results/saturation/saturation.tsv",
        edits="results/saturation/top_edits.tsv",
        figures=report(
            saturation_figures(),
            caption="../report/saturation.rst",
            category="Saturation mutagenesis",
        ),
    log:
        "logs/saturate_promoters/all.log",
    benchmark:
        "benchmarks/saturate_promoters/all.tsv"
    conda:
        "../envs/ml.yaml"
    threads: rule_threads("saturate_promoters")
    resources:
        **rule_resources("saturate_promoters"),
    params:
        saturation=config["saturation"],
    script:
        "../workflow_scripts/saturate_promoters.py"
