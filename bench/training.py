"""Masked-LM training speed and memory, one contender per process (started by bench/run.py via run_isolated).

- `ours`: cornbert.pretrain.pretrain (the code of rule pretrain_model) for a few steps. Step times are read from
  the learning-rate scheduler's step() calls, which the loop makes once per optimizer step, so nothing of the
  loop is re-implemented here.
- `hf_trainer`: a stock transformers Trainer + RobertaForMaskedLM of the same size (cornbert.model.roberta_config),
  default AdamW, fed exactly the batches (sequences, padding and masks) our loop draws for the same steps.

- `ours_eager`: `ours` without torch.compile (what compiling buys on a GPU; the same as `ours` on a CPU).

On a GPU both run bf16 autocast with SDPA attention and torch.compile. Throughput counts real (non-pad) tokens; MFU
counts the FLOPs the task needs for the padded batch: the encoder on every token, the masked-LM head on the masked
tokens (the stock model also projects the other ~85 % onto the vocabulary; that work is not counted for either).
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

import machine

# Dense bf16 peak of the GPUs we may be lent (FLOP/s), for MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def _setup(threads: int) -> torch.device:
    torch.set_num_threads(threads)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _settings(batch_size: int, steps: int, seed: int = 42, compile_on_gpu: bool = True) -> dict[str, Any]:
    from dataclasses import asdict

    from cornbert.pretrain import PretrainSettings

    # eval_fraction as small as allowed: held-out evaluation is not what is measured.
    return asdict(PretrainSettings(max_steps=steps, batch_size=batch_size, micro_batch_size=batch_size,
                                   eval_fraction=0.002, eval_steps=10**6, checkpoint_steps=10**6, warmup_steps=1,
                                   compile_on_gpu=compile_on_gpu, seed=seed))  # fmt: skip


class StepClock:
    """End-of-step timestamps -> seconds per step after the warm-up steps (compilation, allocator growth).

    On a CPU: the median step. On a GPU the clock synchronises only at the end of the last warm-up step and of the
    last step, and gives the mean between them: synchronising every step would add the very host waits the
    training loop avoids (while the GPU runs a step, the host prepares the next batch)."""

    def __init__(self, device: torch.device, steps: int):
        self.gpu = device.type == "cuda"
        self.steps = steps
        self.warm = min(5, steps - 2) if self.gpu else 0
        self.stamps: list[float] = []

    def tick(self) -> None:
        if self.gpu and len(self.stamps) in (self.warm, self.steps - 1):
            torch.cuda.synchronize()
        self.stamps.append(time.perf_counter())

    def step_s(self) -> float:
        stamps = self.stamps[self.warm :]
        if self.gpu:
            return (stamps[-1] - stamps[0]) / (len(stamps) - 1)
        return machine.median([later - earlier for earlier, later in zip(stamps, stamps[1:])])

    def timed(self, batches: list) -> list:
        """The batches of the steps `step_s` covers."""
        return batches[self.warm + 1 :]


def _token_store(corpus: str, tokenizer_dir: str, workdir: str) -> str:
    """The corpus's token store (rule tokenize_corpus's code), written once per contender's folder."""
    from cornbert.token_store import write_token_store

    tokens = Path(workdir) / "corpus.tokens"
    write_token_store(corpus, tokenizer_dir, tokens)
    return str(tokens)


def _step_batches(tokens: str, tokenizer_dir: str, settings: dict[str, Any]) -> list:
    """The (inputs, attention, labels) our loop uses at steps 0..max_steps-1."""
    from cornbert.pretrain import PretrainSettings, split_promoters, step_batch
    from cornbert.token_store import open_token_store
    from cornbert.tokenizer import load_tokenizer

    run = PretrainSettings(**settings)
    tokenizer = load_tokenizer(tokenizer_dir)
    store = open_token_store(tokens, tokenizer_dir)
    train_index, _ = split_promoters(store, run)
    return [step_batch(tokenizer, store, train_index, run, step) for step in range(run.max_steps)]


def _figures(clock: StepClock, batches: list, config, device: torch.device) -> dict[str, Any]:
    """Step time after the warm-up steps, tokens/s, and MFU on a GPU."""
    step = clock.step_s()
    batches = clock.timed(batches)
    real_tokens = sum(int(attention.sum()) for _, attention, _ in batches) / len(batches)
    padded_tokens = sum(attention.numel() for _, attention, _ in batches) / len(batches)
    figures = {
        "step_s": step,
        "steps_timed": len(batches),
        "real_tokens_per_step": real_tokens,
        "tokens_per_s": real_tokens / step,
        "padded_tokens_per_s": padded_tokens / step,
        "device": str(device),
    }
    if device.type == "cuda":
        figures["peak_gpu_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
        name = torch.cuda.get_device_name(0)
        peak = next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)
        if peak:
            figures["mfu"] = _flops_per_step(config, batches) / step / peak
    return figures


def _flops_per_step(config, batches: list) -> float:
    """6 x parameters x tokens (forward + backward) + attention scores: the encoder over the padded batch, the
    masked-LM head (dense + tied decoder) over the masked tokens."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    encoder = layers * (4 * hidden * hidden + 2 * hidden * config.intermediate_size)
    head = hidden * hidden + hidden * config.vocab_size
    flops = 0.0
    for inputs, _, labels in batches:
        batch, length = inputs.shape
        masked = int((labels != -100).sum())
        flops += 6 * (encoder * batch * length + head * masked) + 12 * layers * hidden * length * length * batch
    return flops / len(batches)


def ours(corpus: str, tokenizer_dir: str, workdir: str, preset: str, batch_size: int, steps: int,
         threads: int, compile_on_gpu: bool = True) -> dict[str, Any]:  # fmt: skip
    import cornbert.pretrain as pretrain_module
    from cornbert.model import roberta_config
    from cornbert.tokenizer import load_tokenizer

    device = _setup(threads)
    settings = _settings(batch_size, steps, compile_on_gpu=compile_on_gpu)
    clock = StepClock(device, steps)
    real_optimizer = pretrain_module._optimizer

    def timed_optimizer(*args, **kwargs):
        optimizer = real_optimizer(*args, **kwargs)
        step = optimizer.step

        def stamped_step(*a, **k):
            result = step(*a, **k)
            clock.tick()  # one optimizer step done
            return result

        optimizer.step = stamped_step
        return optimizer

    pretrain_module._optimizer = timed_optimizer
    out = Path(workdir)
    tokens = _token_store(corpus, tokenizer_dir, workdir)
    start = time.perf_counter()
    pretrain_module.pretrain(tokens, tokenizer_dir, str(out / "model"), str(out / "metrics.tsv"),
                             str(out / "checkpoints"), settings, {"preset": preset})  # fmt: skip
    wall = time.perf_counter() - start
    tokenizer = load_tokenizer(tokenizer_dir)
    config = roberta_config(preset, {}, len(tokenizer), tokenizer.model_max_length)
    batches = _step_batches(tokens, tokenizer_dir, settings)
    compiled = compile_on_gpu and device.type == "cuda"
    return _figures(clock, batches, config, device) | {"run_s": wall, "optimizer": "LAMB", "compiled": compiled}


def hf_trainer(corpus: str, tokenizer_dir: str, workdir: str, preset: str, batch_size: int, steps: int,
               threads: int) -> dict[str, Any]:  # fmt: skip
    from transformers import RobertaForMaskedLM, Trainer, TrainerCallback, TrainingArguments

    from cornbert.model import roberta_config
    from cornbert.tokenizer import load_tokenizer

    device = _setup(threads)
    gpu = device.type == "cuda"
    tokens = _token_store(corpus, tokenizer_dir, workdir)
    batches = _step_batches(tokens, tokenizer_dir, _settings(batch_size, steps))
    tokenizer = load_tokenizer(tokenizer_dir)
    config = roberta_config(preset, {}, len(tokenizer), tokenizer.model_max_length)
    torch.manual_seed(42)
    model = RobertaForMaskedLM(config)

    class Batches(torch.utils.data.Dataset):
        """Each item is one whole pre-built batch, so the Trainer sees our batches unchanged."""

        def __len__(self):
            return len(batches)

        def __getitem__(self, index):
            inputs, attention, labels = batches[index]
            return {"input_ids": inputs, "attention_mask": attention, "labels": labels}

    clock = StepClock(device, steps)

    class Ticks(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            clock.tick()

    arguments = TrainingArguments(
        output_dir=str(Path(workdir) / "trainer"), max_steps=steps, per_device_train_batch_size=1,
        learning_rate=1e-4, warmup_steps=1, weight_decay=0.01, logging_steps=10**6, save_strategy="no",
        report_to=[], disable_tqdm=True, use_cpu=not gpu, bf16=gpu, torch_compile=gpu, dataloader_num_workers=0,
        seed=42,
    )  # fmt: skip
    trainer = Trainer(model=model, args=arguments, train_dataset=Batches(), data_collator=lambda items: items[0],
                      callbacks=[Ticks()])  # fmt: skip
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    return _figures(clock, batches, config, device) | {"run_s": wall, "optimizer": f"AdamW ({arguments.optim.value})",
                                                       "compiled": gpu}  # fmt: skip


if __name__ == "__main__":
    machine.child_main({"ours": ours, "ours_eager": partial(ours, compile_on_gpu=False), "hf_trainer": hf_trainer})
