# Helpers shared by the rule files (config validation, genome sources, the list of final outputs).
import os
import re
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The cornbert package beside the Snakefile, also where Snakemake runs from an environment that lacks it.
SCRIPTS = str(Path(workflow.basedir) / "workflow_scripts")
sys.path.insert(0, SCRIPTS)
# Jobs import that same package. Snakemake appends the scripts' folder to sys.path after site-packages, so in an
# environment holding another checkout's editable install (one .venv shared by two clones) every job would run the
# other checkout's code, silently; PYTHONPATH comes before site-packages, here and in the jobs' own processes.
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SCRIPTS, os.environ.get("PYTHONPATH")])))
from cornbert.recipes import RecipeError, with_recipe

SCHEMA = yaml.safe_load(open(workflow.source_path("../config/schema.yaml")))
try:
    recipe_config = with_recipe(
        config, Path(workflow.basedir) / "config" / "recipes", SCHEMA["properties"]["recipe"]["default"]
    )
except RecipeError as error:
    raise WorkflowError(str(error)) from None
# In place: `config` is the workflow's own dict, which the rule files read.
config.clear()
config.update(recipe_config)
validate(config, schema="../config/schema.yaml")


def sorted_keys(value):
    """`value` with every mapping's keys sorted, all the way down."""
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value


# Snakemake compares a rule's params with the last run's as written, key order included: without a canonical order,
# merely reordering keys in a config file (or merging configs) would rerun every stage.
config.update(sorted_keys(config))

GENOMES = list(config["genomes"])
# Corpus sources: annotated genomes give promoters, unannotated ones (no gff) genome-wide windows, and sequence sets
# their own pre-cut sequences; a stage lists any of them by name.
ANNOTATED = [genome for genome in GENOMES if "gff" in config["genomes"][genome]]
UNANNOTATED = [genome for genome in GENOMES if genome not in ANNOTATED]
SEQUENCE_SETS = list(config["sequence_sets"])
SOURCES = GENOMES + SEQUENCE_SETS
EXPRESSION = config["expression"]
SEQUENCE_MODE = "sequences" in EXPRESSION
STAGES = ["stage1", "stage2"]
# A stage-1 model folder trained elsewhere (pretraining.stage1_model): stage 1 is then not trained here, and its
# tokenizer is the one every later stage uses.
STAGE1_MODEL = config["pretraining"].get("stage1_model")
EXCLUDE_TEST_GENES = config["pretraining"]["exclude_test_genes"]
TOKENIZER = "results/tokenizer/tokenizer.json"
# Fine-tuning variants: from the stage-2 weights, and from random weights to show what pretraining buys.
FINETUNE_VARIANTS = ["pretrained", "scratch"] if config["finetune"]["compare_scratch"] else ["pretrained"]
MODEL_NAMES = {"pretrained": "CornBERT", "scratch": "CornBERT_scratch"}
BASELINES = ["const_mean", "hand_eng", "BOW_5mer", "CNN_onehot"]
# Every model is fitted once per replicate, replicate r with seed + r - 1, so figures carry seed-to-seed spread.
REPLICATES = list(range(1, config["evaluation"]["replicates"] + 1))


def check_config_references():
    """Cross-key checks that a JSON schema cannot express, reported with the offending key."""
    shared = sorted(set(GENOMES) & set(SEQUENCE_SETS))
    if shared:
        raise WorkflowError(f"config: names used both under `genomes` and `sequence_sets`: {shared}")
    for stage in STAGES:
        unknown = [g for g in config["pretraining"][stage] if g not in SOURCES]
        if unknown:
            raise WorkflowError(
                f"config: pretraining.{stage} names genomes not defined under `genomes` or `sequence_sets`: {unknown}"
            )
    if SEQUENCE_MODE == ("matrix" in EXPRESSION or "genome" in EXPRESSION):
        raise WorkflowError("config: `expression` needs either `genome` + `matrix` or `sequences`, not both or neither")
    if not SEQUENCE_MODE and EXPRESSION["genome"] not in GENOMES:
        raise WorkflowError(f"config: expression.genome '{EXPRESSION['genome']}' is not defined under `genomes`")
    if not SEQUENCE_MODE and EXPRESSION["genome"] not in ANNOTATED:
        raise WorkflowError(f"config: expression.genome '{EXPRESSION['genome']}' has no `gff`: it must be annotated")
    if SEQUENCE_MODE and config["variants"]:
        raise WorkflowError("config: `variants` needs genome mode (expression.genome); sequences have no genome")
    if SEQUENCE_MODE and EXPRESSION["split"] == "chromosome":
        raise WorkflowError("config: expression.split `chromosome` needs genome mode; sequences have no chromosomes")
    id_keys = ["id_suffix_pattern", "strip_id_prefixes", "ignore_id_case", "id_map"]
    if SEQUENCE_MODE and any(EXPRESSION.get(key) for key in id_keys):
        raise WorkflowError(f"config: expression.{'/'.join(id_keys)} apply to genome mode; sequences keep their IDs")
    try:
        re.compile(EXPRESSION["id_suffix_pattern"])
    except re.error as error:
        raise WorkflowError(f"config: expression.id_suffix_pattern is not a regular expression: {error}") from None


check_config_references()


wildcard_constraints:
    genome="|".join(map(re.escape, GENOMES)),
    stage="|".join(STAGES),
    variant="|".join(FINETUNE_VARIANTS),
    rep=r"[1-9]\d*",
    kind="fasta|gff",
    stack="CornBERT_stack|baselines_stack",
    name=r"[A-Za-z0-9_-]+",  # a `variants` VCF name (schema pattern); no dot, so {name}.tsv is not {name}.summary.tsv
    sequence_set="|".join(map(re.escape, SEQUENCE_SETS)) or "(?!)",  # (?!) matches nothing: no sets configured


def is_url(source):
    return re.match(r"^(https?|ftp)://", source) is not None


def genome_source(genome, kind):
    """Where the workflow reads a genome's FASTA or GFF3: the local path, or the download of a URL."""
    source = config["genomes"][genome][kind]
    return f"resources/genomes/{genome}.{kind}" if is_url(source) else source


def expected_sha256(genome, kind):
    return config["genomes"][genome].get("sha256", {}).get(kind, "")


def stage_genomes(stage):
    """The sources a stage lists: genomes (annotated or not) and sequence sets, by name."""
    return config["pretraining"][stage]


def source_kind(source):
    """`promoters` (an annotated genome), `windows` (an unannotated one) or `sequence_set`."""
    if source in SEQUENCE_SETS:
        return "sequence_set"
    return "promoters" if source in ANNOTATED else "windows"


SOURCE_FOLDERS = {"promoters": "promoters", "windows": "windows", "sequence_set": "sequence_sets"}


def source_file(source, ext):
    """A source's FASTA (`fa`), statistics (`stats.tsv`) or BED (`bed`; none for a sequence set)."""
    return f"results/{SOURCE_FOLDERS[source_kind(source)]}/{source}.{ext}"


def source_lengths_file(source):
    """Where the corpus figure reads a source's sequence lengths: the BED of promoters or windows, a set's FASTA."""
    return source_file(source, "fa" if source_kind(source) == "sequence_set" else "bed")


def final_outputs():
    """Everything the default target builds; the user-facing results of every stage."""
    outputs = [
        "results/corpus/corpus_stats.tsv",
        "results/corpus/corpus_stats.png",
        "results/expression/targets.png",
        "results/expression/leakage.tsv",
        "results/expression/join.tsv",
        "results/corpus/leakage.tsv",
        "results/evaluation/metrics.tsv",
        "results/importance/importance.png",
    ]
    outputs += expand("results/models/{model}", model=evaluated_models())
    if not STAGE1_MODEL:
        outputs += ["results/tokenizer/token_lengths.png"]
    outputs += expand("results/finetune/{variant}/rep{rep}/loss.png", variant=FINETUNE_VARIANTS, rep=REPLICATES)
    outputs += evaluation_figures()
    outputs += expand("results/variants/{name}.{ext}", name=config["variants"], ext=["tsv", "png"])
    if config["saturation"]["genes"]:
        outputs += ["results/saturation/top_edits.tsv", *saturation_figures()]
    outputs += ["results/motifs/motifs.tsv", "results/motifs/logos.png"]
    return outputs


# --- evaluation (baselines, evaluate, importance) ---
# CornBERT_stack combines CornBERT with every baseline that predicts per gene (const_mean is its intercept);
# baselines_stack is the same stacking without CornBERT, the control that says how much of the stack is CornBERT's.
_STACKED_BASELINES = [b for b in BASELINES if b != "const_mean"]
STACK_MEMBERS = {
    "CornBERT_stack": [MODEL_NAMES["pretrained"]] + _STACKED_BASELINES,
    "baselines_stack": _STACKED_BASELINES,
}


def evaluated_models():
    """Every model scored on the test genes: the baselines, each fine-tuned CornBERT variant, then the stacks."""
    models = BASELINES + [MODEL_NAMES[variant] for variant in FINETUNE_VARIANTS]
    return models + list(STACK_MEMBERS) if config["evaluation"]["stack"] else models


def ensembled_models():
    """The models whose replicate fits differ (trained from a seed), scored also as their mean: `{model}_ensemble`."""
    return [MODEL_NAMES[variant] for variant in FINETUNE_VARIANTS] + ["CNN_onehot"]


def stack_member_predictions(wildcards):
    return [f"results/predictions/rep{wildcards.rep}/{model}.tsv" for model in STACK_MEMBERS[wildcards.stack]]


def model_folder(model, rep):
    """The saved folder of a fitted model (cornbert.fitted loads every kind)."""
    if model in BASELINES:
        return f"results/baselines/rep{rep}/{model}"
    if model in STACK_MEMBERS:
        return f"results/stacking/rep{rep}/{model}"
    return finetuned_model_dir(model, rep)


def stack_member_models(wildcards):
    return [model_folder(model, wildcards.rep) for model in STACK_MEMBERS[wildcards.stack]]


def evaluated_predictions():
    """Every replicate's test predictions of every model, model-major (the order load_test_set reads them in)."""
    replicates = range(1, config["evaluation"]["replicates"] + 1)
    return [f"results/predictions/rep{rep}/{model}.tsv" for model in evaluated_models() for rep in replicates]


def evaluation_figures():
    """The comparison and predicted-vs-observed figures of plot_evaluation (the rule)."""
    return expand(
        "results/evaluation/compare_{metric}.png",
        metric=["mse_log", "mae_tpm", "pearson", "spearman"],
    ) + ["results/evaluation/pred_vs_obs.png"]


# --- variant effects and saturation mutagenesis ---------------------------------------------------------------
def saturation_figures():
    """One figure per configured gene (the schema keeps gene IDs to characters safe in file names)."""
    return expand("results/saturation/{gene}.png", gene=config["saturation"]["genes"])


# --- genomes + promoters stage -------------------------------------------------------------------------------
def extraction_settings():
    """The `promoters` keys that shape extraction (the corpus filter keys do not, so they trigger no rerun)."""
    return {key: value for key, value in config["promoters"].items() if key != "corpus"}


# Leakage control where each stage can afford it (pretraining.exclude_test_genes): stage 1 leaves out the expression
# genome's promoters (or the user's sequences) and any near-identical to one, so it depends on no split, test
# fraction or matrix and is trained once; stage 2 leaves out the test genes' groups and promoters near-identical to
# a test promoter.
# A stage 1 that lists the expression genome itself (a project with one genome) can only leave out the test
# groups, like stage 2, and so depends on the split.
def corpus_held_out(stage):
    """What a stage's corpus leaves out: `expression_sequences` (stage 1), `test_groups` (stage 2, and a stage 1
    that lists the expression genome) or nothing."""
    if not EXCLUDE_TEST_GENES:
        return ""
    if stage == "stage1" and EXPRESSION.get("genome") not in stage_genomes("stage1"):
        return "expression_sequences"
    return "test_groups"


def expression_held_out_fasta():
    """Stage 1's held-out set: every promoter of the expression genome (split-independent), or the user's FASTA."""
    if SEQUENCE_MODE:
        return EXPRESSION["sequences"]["fasta"]
    return f"results/promoters/{EXPRESSION['genome']}.fa"


def pretraining_corpus_inputs(wildcards):
    """A stage's source FASTAs, plus what its corpus must leave out (stage 2: the split and test promoters)."""
    inputs = {"sources": [source_file(source, "fa") for source in stage_genomes(wildcards.stage)]}
    held_out = corpus_held_out(wildcards.stage)
    if held_out == "expression_sequences":
        inputs["held_out"] = expression_held_out_fasta()
    elif held_out == "test_groups":
        inputs["split"] = "results/expression/split.tsv"
        inputs["held_out"] = "results/expression/promoters.fa"
    return inputs


def corpus_expression_genome(wildcards):
    """The genome whose test genes stage 2 leaves out by ID (none for stage 1, which leaves them all out)."""
    return EXPRESSION.get("genome") if corpus_held_out(wildcards.stage) == "test_groups" else None


# Keys of `pretraining` that say which data a stage reads, not how it trains: they reach the corpus rule as inputs
# and params, so that changing stage 2's genomes does not retrain stage 1.
DATA_KEYS = ("stage1", "stage2", "stage1_model", "exclude_test_genes", "exclude_identity", "exclude_coverage")


def pretraining_settings(wildcards):
    return {key: value for key, value in config["pretraining"].items() if key not in DATA_KEYS}


def audited_corpora():
    """The corpora the fine-tuned model descends from, by stage (stage 1's only where it is trained here)."""
    stages = ["stage2"] if STAGE1_MODEL else STAGES
    return {stage: f"results/corpus/{stage}.txt" for stage in stages}


# --- tokenizer + pretraining stage ---------------------------------------------------------------------------
def pretrain_init_model(wildcards):
    """Each stage after the first starts from the previous stage's weights (stage 2 from pretraining.stage1_model
    where it is set); the first starts from scratch."""
    index = STAGES.index(wildcards.stage)
    if index and STAGE1_MODEL:
        return STAGE1_MODEL
    return f"results/pretrain/{STAGES[index - 1]}/model" if index else []


# --- expression stage ----------------------------------------------------------------------------------------
def expression_table():
    """The measurements: the expression matrix, or in sequence mode the table of the user's sequences."""
    return EXPRESSION["sequences"]["table"] if SEQUENCE_MODE else EXPRESSION["matrix"]


def expression_sequences():
    """The sequences the targets are joined with: expression.genome's promoters, or the user's FASTA."""
    if SEQUENCE_MODE:
        return EXPRESSION["sequences"]["fasta"]
    return expand(rules.extract_promoters.output.fasta, genome=EXPRESSION["genome"])[0]


def expression_id_rules():
    """How matrix IDs become gene IDs (genome mode); a user's sequences and table share their IDs as written."""
    if SEQUENCE_MODE:
        return {"suffix_pattern": "", "strip_prefixes": [], "ignore_case": False}
    return {
        "suffix_pattern": EXPRESSION["id_suffix_pattern"],
        "strip_prefixes": EXPRESSION["strip_id_prefixes"],
        "ignore_case": EXPRESSION["ignore_id_case"],
    }


def expression_id_map(wildcards):
    """The user's two-column table of matrix ID -> gene ID (named input `id_map`), if any."""
    return {"id_map": EXPRESSION["id_map"]} if EXPRESSION.get("id_map") and not SEQUENCE_MODE else {}


def expression_split_column():
    return EXPRESSION["sequences"].get("split_column") if SEQUENCE_MODE else None


def expression_bed():
    """The expression genome's promoter windows (named input `bed`) that link overlapping genes; none for sequences."""
    if SEQUENCE_MODE:
        return {}
    return {"bed": expand(rules.extract_promoters.output.bed, genome=EXPRESSION["genome"])[0]}


# --- fine-tuning stage ---------------------------------------------------------------------------------------
def replicate_seed(wildcards):
    return config["seed"] + int(wildcards.rep) - 1


def finetuned_model_dir(model, rep):
    """The model directory behind a model name (CornBERT -> the `pretrained` variant) and replicate."""
    variant = {name: variant for variant, name in MODEL_NAMES.items()}[model]
    return f"results/finetune/{variant}/rep{rep}/model"


def finetuned_model(wildcards):
    return finetuned_model_dir(wildcards.model, wildcards.rep)


def analysed_model(name):
    """The first replicate of a model by name; `best`: the choice file (the tools resolve it to its folder)."""
    return "results/best_model.json" if name == "best" else model_folder(name, 1)


def motifs_model():
    return analysed_model(config["motifs"]["model"])


# --- compute resources ---------------------------------------------------------------------------------------
# In the rules, not in a profile: Snakemake's --set-threads/--set-resources then change only the key they name,
# whereas on the command line they replace a profile's whole set-threads/set-resources section.
def rule_threads(rule):
    return config["resources"][rule]["threads"]


def rule_resources(rule):
    """A rule's `resources:` (config `resources`, sized for maize in the schema), everything but its threads."""
    return {key: value for key, value in config["resources"][rule].items() if key != "threads"}
