"""Every GPU code path of CornBERT, end to end, with the workflow's own code (run by bench/gpu_check.sh).

Masked-LM pretraining stage 1 (from scratch) and stage 2 (from stage 1), fine-tuning across an unfreezing step,
the same fine-tuning data-parallel on every visible GPU when there are several (torchrun, as the finetune_model
rule launches it), predictions of the saved model (cornbert-predict's code) against the in-memory model, and the
mutagenesis importance. Checks: finite losses, reloaded predictions equal in-memory ones, every output exists.
Figures: step time, tokens/s, peak GPU memory and MFU of pretraining (bench/training.py's measurement), throughput
of the other stages. On a GPU it runs the paper model (6 x 768, 6 heads, 256 tokens); without one, a tiny model
and few steps (tests/test_gpu_check.py), so that the same paths stay working where CI runs.

Imports only torch, transformers, tokenizers, numpy, pandas, tqdm and matplotlib (through cornbert): the GPU
machines have no snakemake, pysam, pybedtools or lightgbm.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import training  # bench/training.py: the timed pretraining run, PEAK_BF16_FLOPS
from cornbert import distributed, finetune
from cornbert.fasta import read_fasta
from cornbert.finetune import FinetuneJob, FinetuneSettings
from cornbert.importance import ImportanceConfig, mutation_importance
from cornbert.predict import predict_sequences
from cornbert.pretrain import pretrain
from cornbert.regressor import load_regressor, predict_log
from cornbert.tokenizer import train_tokenizer

log = logging.getLogger("gpu_check")
TISSUES = ["root", "leaf", "ear", "tassel"]
MOTIF = "TATAAATA"
# model preset, BPE vocabulary, max tokens, promoter bp, promoters (pretraining corpus), genes with targets,
# steps per training stage, batch, genes of the importance map
SIZES = {
    "paper": dict(preset="paper", vocab=5000, max_length=256, bp=1000, genes=4000, targets=4000, steps=40, batch=64,
                  importance_genes=64),
    "tiny": dict(preset="demo", vocab=200, max_length=32, bp=120, genes=3000, targets=100, steps=4, batch=8,
                 importance_genes=2),
}  # fmt: skip


def make_world(root: Path, size: dict, seed: int = 0) -> dict[str, Path]:
    """Random promoters with a planted core element that raises every tissue; a 3:1:1 train/validation/test split."""
    rng = np.random.default_rng(seed)
    ids = [f"g{i:05d}" for i in range(size["genes"])]
    sequences, targets = [], []
    for _ in ids:
        bases = rng.choice(list("ACGT"), size=size["bp"])
        planted = rng.random() < 0.5
        if planted:
            bases[-30 : -30 + len(MOTIF)] = list(MOTIF)
        sequences.append("".join(bases))
        targets.append(np.clip(2.0 * planted + rng.normal(0, 0.3, len(TISSUES)), 0, None))
    files = {name: root / name for name in ("corpus.txt", "promoters.fa", "targets.tsv", "split.tsv")}
    files["corpus.txt"].write_text("\n".join(sequences) + "\n")
    files["promoters.fa"].write_text("".join(f">{gene}\n{seq}\n" for gene, seq in zip(ids, sequences)))
    supervised = ids[: size["targets"]]
    frame = pd.DataFrame(targets[: size["targets"]], index=pd.Index(supervised, name="gene_id"), columns=TISSUES)
    frame.to_csv(files["targets.tsv"], sep="\t")
    split = [("test", "validation", "train", "train", "train")[i % 5] for i in range(len(supervised))]
    pd.DataFrame({"gene_id": supervised, "split": split}).to_csv(files["split.tsv"], sep="\t", index=False)
    tokenizer = train_tokenizer(sequences, vocab_size=size["vocab"], min_frequency=2, max_length=size["max_length"])
    tokenizer.save_pretrained(root / "tokenizer")
    files["tokenizer"] = root / "tokenizer"
    return files


def finite_column(path: Path, column: str) -> list[float]:
    values = pd.read_csv(path, sep="\t")[column].dropna().tolist()
    assert values and all(math.isfinite(v) for v in values), f"{path}: {column} not finite: {values}"
    return values


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def pretraining(world: dict[str, Path], out: Path, size: dict, threads: int) -> dict:
    """Stage 1 through bench/training.py's timed run (step time, tokens/s, peak memory, MFU), then stage 2."""
    stage1 = out / "stage1"
    stage1.mkdir()
    figures = training.ours(str(world["corpus.txt"]), str(world["tokenizer"]), str(stage1), size["preset"],
                            size["batch"], size["steps"], threads)  # fmt: skip
    stage1_loss = finite_column(stage1 / "metrics.tsv", "train_loss")
    stage2 = out / "stage2"
    started = time.perf_counter()
    # Stage 2 on the same corpus: the token store stage 1's run wrote.
    pretrain(str(stage1 / "corpus.tokens"), str(world["tokenizer"]), str(stage2 / "model"), str(stage2 / "metrics.tsv"),
             str(stage2 / "checkpoints"), training._settings(size["batch"], size["steps"] // 2), {},
             init_model_dir=str(stage1 / "model"))  # fmt: skip
    synchronize()
    finite_column(stage2 / "metrics.tsv", "train_loss")
    assert (stage2 / "model" / "model.safetensors").is_file()
    return figures | {"stage1_first_loss": stage1_loss[0], "stage1_last_loss": stage1_loss[-1],
                      "stage2_s": time.perf_counter() - started}  # fmt: skip


def finetune_job(world: dict[str, Path], encoder: Path, out: Path, size: dict) -> FinetuneJob:
    steps = size["steps"]
    # The study's mechanics with the unfreezing steps scaled to the run: head alone, then layer blocks from the
    # top at a third and two thirds of the steps (DDP is re-wrapped at each).
    settings = FinetuneSettings(
        max_steps=steps, batch_size=size["batch"], micro_batch_size=size["batch"] // 2, warmup_steps=1,
        unfreeze_first_step=steps // 3, unfreeze_interval=steps // 3, eval_interval=max(1, steps // 4),
        checkpoint_interval=max(1, steps // 2), predict_batch_size=size["batch"],
    )  # fmt: skip
    return FinetuneJob(
        targets=str(world["targets.tsv"]), split=str(world["split.tsv"]), promoters=str(world["promoters.fa"]),
        tokenizer=str(world["tokenizer"]), encoder=str(encoder), pretrained=True, model_dir=str(out / "model"),
        loss_tsv=str(out / "loss.tsv"), loss_png=str(out / "loss.png"), checkpoint_dir=str(out / "checkpoints"),
        settings=settings,
    )  # fmt: skip


def fine_tuning(world: dict[str, Path], out: Path, size: dict, test: dict[str, str]) -> dict:
    """One process on this process's device; the trained model's test predictions captured before it is saved."""
    job = finetune_job(world, out / "stage2" / "model", out / "finetune", size)
    in_memory: dict[str, np.ndarray] = {}
    save = finetune.write_outputs

    def predict_then_save(job, model, tokenizer, *args, **kwargs):
        in_memory["log"] = predict_log(model, tokenizer, list(test.values()), batch_size=size["batch"])
        return save(job, model, tokenizer, *args, **kwargs)

    finetune.write_outputs = predict_then_save
    try:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        finetune.train(job, distributed.setup())
        synchronize()
        wall = time.perf_counter() - started
    finally:
        finetune.write_outputs = save
    losses = pd.read_csv(job.loss_tsv, sep="\t")
    finite_column(Path(job.loss_tsv), "loss")
    phases = sorted(set(losses["phase"]))
    assert len(phases) >= 2, f"fine-tuning never crossed an unfreezing step: phases {phases}"
    figures = {"finetune_s": wall, "finetune_steps": job.settings.max_steps, "finetune_phases": phases,
               "finetune_final_validation_mse": float(losses[losses["split"] == "validation"]["loss"].iloc[-1])}  # fmt: skip
    if torch.cuda.is_available():
        figures["finetune_peak_gpu_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return figures | {"in_memory": in_memory["log"], "model_dir": job.model_dir}


def data_parallel(world: dict[str, Path], out: Path, size: dict, processes: int) -> dict:
    """The finetune_model rule's launch for a job granted several GPUs: torchrun, one process per GPU."""
    job = finetune_job(world, out / "stage2" / "model", out / "finetune_ddp", size)
    log_file = out / "finetune_ddp.log"
    started = time.perf_counter()
    distributed.launch_job("cornbert.finetune", asdict(job), processes, out, [str(log_file), "1"])
    wall = time.perf_counter() - started
    text = log_file.read_text()
    assert f"ranks' weights identical at the end of training ({processes} processes)" in text, text[-3000:]
    finite_column(Path(job.loss_tsv), "loss")
    return {"ddp_processes": processes, "ddp_finetune_s": wall}


def predictions(model_dir: str, test: dict[str, str], in_memory: np.ndarray, batch: int) -> dict:
    """cornbert-predict's code on the saved model (what predict_test_genes runs) against the in-memory model."""
    started = time.perf_counter()
    reloaded = predict_sequences(model_dir, test, batch_size=batch)
    synchronize()
    wall = time.perf_counter() - started
    assert list(reloaded.index) == list(test)
    values = reloaded.to_numpy()
    assert np.isfinite(values).all()
    difference = float(np.abs(values - in_memory).max())
    figures = {"predict_sequences_per_s": len(test) / wall, "reloaded_vs_in_memory_max_abs_diff": difference}
    assert np.allclose(values, in_memory, rtol=1e-4, atol=1e-4), f"reloaded model predicts differently: {figures}"
    return figures


def importance(model_dir: str, test: dict[str, str], batch: int, device: str) -> dict:
    model, tokenizer, _ = load_regressor(model_dir)
    model.to(device)
    config = ImportanceConfig(genes=len(test), positions_per_sequence=10, draws=1, lengths=[1, 3, 6], batch_size=batch)
    genes = list(test.values())[: config.genes]
    started = time.perf_counter()
    table = mutation_importance(genes, lambda s: predict_log(model, tokenizer, s, batch_size=batch), config, seed=0)
    synchronize()
    wall = time.perf_counter() - started
    assert len(table) and np.isfinite(table["mean_abs_change"]).all(), table
    forwarded = len(genes) * (1 + len(config.lengths) * config.positions_per_sequence * config.draws)
    return {"importance_sequences_per_s": forwarded / wall}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), help="default: paper on a GPU, tiny without one")
    parser.add_argument("--steps", type=int, help="steps per training stage (default: 40 paper, 6 tiny)")
    parser.add_argument("--out", type=Path, default=os.environ.get("OUT"), help="figures JSON (default: $OUT)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stdout, force=True)
    gpus = torch.cuda.device_count()
    size = dict(SIZES[args.size or ("paper" if gpus else "tiny")])
    size["steps"] = args.steps or size["steps"]
    threads = max(1, min(8, os.cpu_count() or 1))
    torch.set_num_threads(threads)
    figures: dict = {
        "device": torch.cuda.get_device_name(0) if gpus else "cpu", "gpus": gpus, "torch": torch.__version__,
        "transformers": __import__("transformers").__version__, "size": size,
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cornbert-gpu-check-") as scratch:
        out = Path(scratch)
        world = make_world(out, size)
        split = pd.read_csv(world["split.tsv"], sep="\t")
        promoters = read_fasta(world["promoters.fa"])
        test = {gene: promoters[gene] for gene in split.loc[split["split"] == "test", "gene_id"]}
        figures |= pretraining(world, out, size, threads)
        log.info("pretraining: %s", {k: v for k, v in figures.items() if k != "size"})
        tuned = fine_tuning(world, out, size, test)
        in_memory, model_dir = tuned.pop("in_memory"), tuned.pop("model_dir")
        figures |= tuned
        # Without GPUs, two CPU processes (gloo) keep the launcher exercised.
        processes = gpus if gpus > 1 else (0 if gpus else 2)
        if processes:
            figures |= data_parallel(world, out, size, processes)
        else:
            log.info("one GPU: data-parallel fine-tuning skipped")
        figures |= predictions(model_dir, test, in_memory, size["batch"])
        figures |= importance(model_dir, dict(list(test.items())[: size["importance_genes"]]), size["batch"],
                              "cuda" if gpus else "cpu")  # fmt: skip
    summary = json.dumps(figures, indent=1, default=str)
    print(summary)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(summary)
    return figures


if __name__ == "__main__":
    main()
