# What the model learned (rules/motifs.smk): motifs in the fine-tuned model's in-silico mutagenesis of test
# promoters (first replicate of motifs.model), found by TF-MoDISco and matched against JASPAR.


rule discover_motifs:
    input:
        model=motifs_model(),
        promoters="results/expression/promoters.fa",
        split="results/expression/split.tsv",
    output:
        table=report(
            "results/motifs/motifs.tsv",
            caption="../report/motifs_table.rst",
            category="Learned motifs",
        ),
        logos=report(
            "results/motifs/logos.png",
            caption="../report/motifs.rst",
            category="Learned motifs",
        ),
        attributions="results/motifs/attributions.npz",
        modisco="results/motifs/modisco.h5",
    log:
        "logs/discover_motifs/all.log",
    benchmark:
        "benchmarks/discover_motifs/all.tsv"
    conda:
        "../envs/ml.yaml"
    threads: rule_threads("discover_motifs")
    resources:
        **rule_resources("discover_motifs"),
    params:
        motifs=config["motifs"],
        seed=config["seed"],
    script:
        "../workflow_scripts/discover_motifs.py"
