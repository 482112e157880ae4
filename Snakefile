# CornBERT: promoter DNA -> per-tissue gene expression, as a Snakemake workflow.
# Run the bundled demo:   snakemake --profile profiles/local
# Run on a SLURM cluster: snakemake --profile profiles/slurm --configfile my_config.yaml
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/genomes.smk"
include: "rules/promoters.smk"
include: "rules/expression.smk"
include: "rules/tokenizer.smk"
include: "rules/pretrain.smk"
include: "rules/finetune.smk"
include: "rules/baselines.smk"
include: "rules/evaluate.smk"
include: "rules/importance.smk"


rule all:
    default_target: True
include: "rules/variants.smk"
    input:
        final_outputs(),
