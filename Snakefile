# CornBERT: promoter DNA -> per-tissue gene expression, as a Snakemake workflow.
# Run the bundled demo:   snakemake
# Run on a SLURM cluster: snakemake --profile slurm --configfile my_config.yaml
from snakemake.utils import min_version

min_version("9.0")


# The demo's config applies only when no --configfile is given: a user's config stands alone (what it leaves out
# comes from its recipe, then the schema's defaults) instead of inheriting the demo's data and settings.
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


# The image of containers/ (built by the site from tools/containerize.py's definitions): used only under
# `--sdm conda apptainer`, where every rule runs in its conda environment inside it (docs/hpc.md, "Containers").
containerized: config["container"]


include: "rules/demo.smk"
include: "rules/genomes.smk"
include: "rules/promoters.smk"
include: "rules/sources.smk"
include: "rules/expression.smk"
include: "rules/tokenizer.smk"
include: "rules/pretrain.smk"
include: "rules/finetune.smk"
include: "rules/baselines.smk"
include: "rules/evaluate.smk"
include: "rules/importance.smk"
include: "rules/variants.smk"
include: "rules/motifs.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
