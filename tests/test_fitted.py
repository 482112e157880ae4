"""Every fitted model saved, reloaded in a fresh process, predicting as before; damaged files named; what each model
reads; `best` behind the tools, with alleles inside and outside each member's window."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cornbert import distributed, fitted, model_folder
from cornbert.baselines import BowConfig, HandEngConfig, fit
from cornbert.cnn import CnnConfig
from cornbert.errors import InputError
from cornbert.fasta import read_fasta
from cornbert.finetune import train
from cornbert.metrics import choose_best
from cornbert.stacking import fit_weights, out_of_fold
from finetune_world import make_job, make_world, small_settings

BIN = Path(sys.executable).parent
BASELINES = ["const_mean", "hand_eng", "BOW_5mer", "CNN_onehot"]
SMALL_CNN = CnnConfig(channels=[8, 8], kernel_sizes=[9, 5], pool_sizes=[4, 2], position_bins=3, max_epochs=4,
                      patience=2)  # fmt: skip


def world_tables(world: Path):
    targets = pd.read_csv(world / "targets.tsv", sep="\t", index_col="gene_id")
    split = pd.read_csv(world / "split.tsv", sep="\t", index_col="gene_id")["split"]
    promoters = read_fasta(world / "promoters.fa")
    return targets, split, [promoters[g] for g in targets.index]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    """A fine-tuned transformer, the four baselines and a stack of all but const_mean, each saved as a folder."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("fitted")
    world = make_world(root / "world")
    train(make_job(world, root / "transformer", small_settings(standardize_targets=True, max_steps=30)),
          distributed.setup(prefer_cuda=False))  # fmt: skip
    targets, split, sequences = world_tables(world)
    folders = {"CornBERT": root / "transformer" / "model"}
    in_memory = {}
    for name in BASELINES:
        model = fit(name, targets, split, sequences, HandEngConfig(n_estimators=20, min_child_samples=3), BowConfig(k=3), seed=1,
                    cnn_config=SMALL_CNN)  # fmt: skip
        folders[name] = root / "models" / name
        model_folder.save(model, folders[name], name, card=f"# {name}\n")
        in_memory[name] = model
    members = {m: folders[m] for m in ["CornBERT", "hand_eng", "BOW_5mer", "CNN_onehot"]}
    validation = targets.index[split.reindex(targets.index).eq("validation").to_numpy()]
    by_gene = dict(zip(targets.index, sequences))
    predictions = {
        m: pd.DataFrame(fitted.load_model(f).predict([by_gene[g] for g in validation]), index=validation,
                        columns=targets.columns)
        for m, f in members.items()
    }  # fmt: skip
    stack = fitted.Stack.from_folders(members, fit_weights(predictions, targets.loc[validation]))
    folders["stack"] = root / "models" / "stack"
    model_folder.save(stack, folders["stack"], "stack", card="# stack\n")
    in_memory["stack"] = stack
    in_memory["CornBERT"] = fitted.load_model(folders["CornBERT"])
    # Probes of several lengths: shorter, as long as and longer than the training promoters (300 bp).
    rng = np.random.default_rng(5)
    probes = [sequences[0], sequences[1][100:], "".join(rng.choice(list("ACGT"), 420)), sequences[2][:40] + "N" * 5]
    return {"root": root, "world": world, "folders": folders, "models": in_memory, "probes": probes}


def fresh_process(folder: Path, probes: list[str], out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Load `folder` in a new interpreter and return its predictions and reads of `probes`."""
    (out / "probes.json").write_text(json.dumps(probes))
    code = (
        "import json, sys, numpy as np\n"
        "from cornbert.fitted import load_model\n"
        f"probes = json.load(open({str(out / 'probes.json')!r}))\n"
        f"model = load_model({str(folder)!r})\n"
        f"np.save({str(out / 'predicted.npy')!r}, model.predict(probes))\n"
        f"np.save({str(out / 'reads.npy')!r}, model.reads(probes))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return np.load(out / "predicted.npy"), np.load(out / "reads.npy")


@pytest.mark.parametrize("name", [*BASELINES, "CornBERT", "stack"])
def test_saved_model_reloads_in_a_fresh_process_and_predicts_the_same(saved, name, tmp_path):
    model, probes = saved["models"][name], saved["probes"]
    predicted, reads = fresh_process(saved["folders"][name], probes, tmp_path)
    expected = model.predict(probes)
    assert predicted.shape == (len(probes), 3)
    np.testing.assert_allclose(predicted, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(reads, model.reads(probes))
    if name != "const_mean":  # the model depends on its input, so equal predictions say something
        assert np.ptp(expected, axis=0).max() > 1e-4


@pytest.mark.parametrize("name", ["hand_eng", "CornBERT", "stack"])
def test_a_published_model_states_its_test_figures_and_predicts_as_its_fit(saved, name, tmp_path):
    """rule publish_model: a copy whose card carries the test figures (Markdown and Hub metadata); the fitted
    folder's own card is left alone (the copy's files are hard links), and the copy loads and predicts the same."""
    import yaml

    metrics = pd.DataFrame([
        {"model": name, "tissue": tissue, "metric": metric, "value": value, "ci_low": value - 0.1,
         "ci_high": value + 0.1, "sd_replicates": 0.0, "n_replicates": 3}
        for tissue in ["All", "leaf"] for metric, value in [("mse_log", 1.234), ("pct_reduction_mse_log", 12.5)]
    ])  # fmt: skip
    source = copy_of(saved["folders"][name], tmp_path)
    before = (source / "README.md").read_text() if (source / "README.md").is_file() else None
    stamp = source / ".snakemake_timestamp"  # what Snakemake leaves in a finished directory output
    stamp.touch()
    os.utime(stamp, (1e9, 1e9))
    section, entries = model_folder.card_test_figures(metrics, name, "results/evaluation/metrics.tsv")
    target = tmp_path / "models" / name
    model_folder.publish(source, target, section, entries)
    (target / ".snakemake_timestamp").touch()  # Snakemake stamping the copy must not make the fit look newer
    assert stamp.stat().st_mtime == 1e9
    card = (target / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---\n")[1])
    values = {m["type"]: m["value"] for m in metadata["model-index"][0]["results"][0]["metrics"]}
    assert values["mse_log"] == 1.234 and values["pct_reduction_mse_log"] == 12.5
    assert "| leaf | 1.234 (1.134 to 1.334)" in card and "3 fit(s)" in card
    assert ((source / "README.md").read_text() if before is not None else None) == before
    predicted, _ = fresh_process(target, saved["probes"], tmp_path)
    np.testing.assert_allclose(predicted, saved["models"][name].predict(saved["probes"]), rtol=0, atol=1e-6)
    with pytest.raises(InputError, match="no test figures of other"):
        model_folder.card_test_figures(metrics, "other", "metrics.tsv")


def test_each_model_says_which_bases_it_reads(saved):
    models, probes = saved["models"], saved["probes"]
    lengths = np.array([len(p) for p in probes])
    assert (models["const_mean"].reads(probes) == 0).all()
    np.testing.assert_array_equal(models["hand_eng"].reads(probes), lengths)
    np.testing.assert_array_equal(models["BOW_5mer"].reads(probes), lengths)
    cnn = models["CNN_onehot"]
    assert cnn.length == 304  # the 300-bp training promoters padded to the pooling's multiple of 8
    np.testing.assert_array_equal(cnn.reads(probes), np.minimum(lengths, 304))
    transformer = models["CornBERT"].reads(probes)
    assert (transformer[:3] < lengths[:3]).all()  # 64 tokens: not the whole promoter, so windows matter
    stack = models["stack"]
    assert stack.used  # members with a weight somewhere; the stack reads what the widest of them reads
    np.testing.assert_array_equal(stack.reads(probes), np.max([stack.members[m].reads(probes) for m in stack.used], 0))
    # A base the transformer does not read cannot change its prediction; the stack's members see it.
    far = probes[0][:5] + ("A" if probes[0][5] != "A" else "C") + probes[0][6:]
    assert 300 - 5 > transformer[0]
    np.testing.assert_array_equal(models["CornBERT"].predict([far]), models["CornBERT"].predict(probes[:1]))
    assert np.abs(models["stack"].predict([far]) - models["stack"].predict(probes[:1])).max() > 0


def copy_of(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


@pytest.mark.parametrize("name, damaged_file", [
    ("hand_eng", "lightgbm/tissue01.txt"),
    ("CNN_onehot", "model.safetensors"),
    ("BOW_5mer", "coefficients.safetensors"),
    ("stack", "members/hand_eng/lightgbm/tissue00.txt"),
])  # fmt: skip
def test_a_truncated_model_file_is_named(saved, tmp_path, name, damaged_file):
    folder = copy_of(saved["folders"][name], tmp_path)
    path = folder / damaged_file
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="damaged") as caught:
        fitted.load_model(folder)
    assert caught.value.path == str(path)


def test_a_corrupt_descriptor_or_a_missing_file_is_named(saved, tmp_path):
    folder = copy_of(saved["folders"]["hand_eng"], tmp_path)
    (folder / "lightgbm" / "tissue02.txt").unlink()
    with pytest.raises(InputError, match="missing") as caught:
        fitted.load_model(folder)
    assert caught.value.path == str(folder / "lightgbm" / "tissue02.txt")
    (folder / model_folder.DESCRIPTOR).write_text('{"format": "cornbert-fitted-model", "kind": ')
    with pytest.raises(InputError, match="damaged or not JSON") as caught:
        fitted.load_model(folder)
    assert caught.value.path == str(folder / model_folder.DESCRIPTOR)
    with pytest.raises(InputError, match="not a model folder"):
        fitted.load_model(tmp_path)


def test_the_predict_command_on_a_damaged_model_says_one_line_and_writes_nothing(saved, tmp_path):
    folder = copy_of(saved["folders"]["CNN_onehot"], tmp_path)
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    fasta = tmp_path / "p.fa"
    fasta.write_text(f">a\n{saved['probes'][0]}\n")
    result = subprocess.run([str(BIN / "cornbert-predict"), "--model", str(folder), "--fasta", str(fasta),
                             "--output", str(tmp_path / "out.tsv")], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{folder / 'model.safetensors'}: damaged" in result.stderr
    assert not (tmp_path / "out.tsv").exists()


def test_save_is_all_or_nothing(saved, tmp_path):
    class Failing:
        kind, tissues = "const_mean", ["a"]

        def save_files(self, folder):
            (folder / "half.bin").write_bytes(b"x")
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        model_folder.save(Failing(), tmp_path / "model", "x", "card")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its partial build


def test_best_is_the_lowest_validation_error_and_the_tools_resolve_it(saved, tmp_path):
    choice = choose_best({"a": 2.0, "b": 1.5, "c": float("nan")}, {"a": "x", "b": "results/y", "c": "z"})
    assert choice["model"] == "b" and choice["folder"] == "results/y"
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    (run / "results" / "best_model.json").write_text(json.dumps({"model": "stack", "folder": str(saved["folders"]["stack"])}))
    assert fitted.resolve(run / "results" / "best_model.json") == saved["folders"]["stack"]
    with pytest.raises(InputError, match="run from the workflow's directory"):
        fitted.resolve("best")  # the tests' working directory has no results/


def test_out_of_fold_stack_predictions_do_not_score_their_own_fit():
    rng = np.random.default_rng(0)
    genes = pd.Index([f"g{i}" for i in range(200)])
    truth = pd.DataFrame({"t": rng.normal(size=200)}, index=genes)
    members = {"good": truth + rng.normal(0, 0.5, (200, 1)), "noise": pd.DataFrame({"t": rng.normal(size=200)}, index=genes)}
    in_sample = ((fit_weights(members, truth).loc["t", "good"] * members["good"]["t"]
                  + fit_weights(members, truth).loc["t", "noise"] * members["noise"]["t"]
                  + fit_weights(members, truth).loc["t", "intercept"] - truth["t"]) ** 2).mean()  # fmt: skip
    oof = out_of_fold(members, truth, folds=5, seed=1)
    assert list(oof.index) == list(genes)
    assert ((oof["t"] - truth["t"]) ** 2).mean() > in_sample  # honest: worse than the fit scoring itself


# --- variants with `best`: the stack against a transformer that reads part of the promoter ----------------------


def variant_world(root: Path, promoters: list[str]) -> dict[str, Path]:
    """One chromosome: two '+' genes, each behind a 300-bp promoter of the fine-tuning world."""
    gene = "ATG" + "C" * 57
    chromosome = promoters[0] + gene + "T" * 400 + promoters[1] + gene + "T" * 100
    root.mkdir(parents=True, exist_ok=True)
    (root / "genome.fa").write_text(f">c1\n{chromosome}\n")
    first, second = 301, 300 + 60 + 400 + 300 + 1
    (root / "genes.gff3").write_text("##gff-version 3\n"
                                     f"c1\tt\tgene\t{first}\t{first + 59}\t.\t+\t.\tID=A\n"
                                     f"c1\tt\tgene\t{second}\t{second + 59}\t.\t+\t.\tID=B\n")  # fmt: skip
    # Per gene: an SNV 3 bp from the gene (every model reads it) and one 290 bp upstream (beyond the transformer).
    records = []
    for start, promoter in ((0, promoters[0]), (760, promoters[1])):
        for distance in (3, 290):
            index = 300 - distance
            ref = promoter[index]
            records.append(f"c1\t{start + index + 1}\t{'near' if distance == 3 else 'far'}_{start}\t{ref}\t"
                           f"{'A' if ref != 'A' else 'G'}\t.\t.\t.\n")  # fmt: skip
    (root / "variants.vcf").write_text("##fileformat=VCFv4.2\n##contig=<ID=c1,length=2000>\n"
                                       "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "".join(records))  # fmt: skip
    return {"genome": root / "genome.fa", "gff": root / "genes.gff3", "vcf": root / "variants.vcf"}


def run_variants(model: str, paths: dict[str, Path], output: Path, cwd: Path) -> pd.DataFrame:
    command = [str(BIN / "cornbert-variants"), "--model", model, "--genome", str(paths["genome"]), "--gff",
               str(paths["gff"]), "--vcf", str(paths["vcf"]), "--output", str(output), "--promoter-length", "300",
               "--threads", "1"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return pd.read_csv(output, sep="\t")


def test_variants_with_best_score_alleles_anywhere_and_the_transformer_marks_what_it_cannot_see(saved, tmp_path):
    promoters = read_fasta(saved["world"] / "promoters.fa")
    probes = [promoters["g001"], promoters["g002"]]
    paths = variant_world(tmp_path / "in", probes)
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    (run / "results" / "best_model.json").write_text(json.dumps({"model": "stack", "folder": str(saved["folders"]["stack"])}))

    stack = run_variants("best", paths, tmp_path / "stack.tsv", cwd=run)
    assert stack["model_reads"].all() and len(stack) == 4 * 3  # 4 alleles x 3 tissues, every one scored
    model = saved["models"]["stack"]
    for (variant, gene), rows in stack.groupby(["variant_id", "gene_id"]):
        promoter = probes[0 if gene == "A" else 1]
        row = rows.iloc[0]
        index = 300 - int(row["distance"])
        alt = promoter[:index] + row["alt"] + promoter[index + 1 :]
        expected = model.predict([alt])[0] - model.predict([promoter])[0]
        np.testing.assert_allclose(rows.set_index("tissue").loc[model.tissues, "delta"], expected, atol=1e-4)

    transformer = run_variants(str(saved["folders"]["CornBERT"]), paths, tmp_path / "t.tsv", cwd=run)
    read = transformer.groupby("variant_id")["model_reads"].all()
    assert read[read.index.str.startswith("near")].all() and not read[read.index.str.startswith("far")].any()
    assert (transformer.loc[~transformer["model_reads"], "delta"] == 0).all()  # unseen, hence marked


@pytest.mark.slow
def test_demo_publishes_every_model_with_its_test_figures(demo_run: Path):
    import yaml

    metrics = pd.read_csv(demo_run / "results/evaluation/metrics.tsv", sep="\t")
    overall = metrics[(metrics.tissue == "All") & (metrics.metric == "mse_log")].set_index("model")["value"]
    published = sorted(p.name for p in (demo_run / "results/models").iterdir())
    assert published == sorted(m for m in overall.index if not m.endswith("_ensemble"))
    best = json.loads((demo_run / "results/best_model.json").read_text())["model"]
    card = (demo_run / "results/models" / best / "README.md").read_text()
    entries = yaml.safe_load(card.split("---\n")[1])["model-index"][0]["results"][0]["metrics"]
    assert {e["type"]: e["value"] for e in entries}["mse_log"] == round(overall[best], 4)
    assert "validation" in card and "## Test figures" in card
