"""The token store of rule tokenize_corpus: the tokenizer's exact ids, reloaded in a fresh process, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from cornbert.errors import InputError
from cornbert.pretrain import PretrainSettings, split_promoters, step_batch
from cornbert.token_store import held_out, open_token_store, write_token_store
from cornbert.tokenizer import load_tokenizer, train_tokenizer
from test_tokenizer import random_promoters

RUN = PretrainSettings(batch_size=7, eval_fraction=0.1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """A corpus of 300 promoters (some longer than the 64-token limit, one blank line) and its tokenizer."""
    root = tmp_path_factory.mktemp("token_store")
    promoters = random_promoters(300, 250, seed=3) + random_promoters(20, 40, seed=4)
    train_tokenizer(promoters, 300, min_frequency=2, max_length=64).save_pretrained(root / "tokenizer")
    lines = promoters[:100] + [""] + promoters[100:]
    (root / "stage1.txt").write_text("\n".join(lines) + "\n")
    return {"root": root, "corpus": root / "stage1.txt", "tokenizer": root / "tokenizer", "promoters": promoters}


def test_store_holds_the_tokenizers_ids_truncated_on_the_left(corpus, tmp_path):
    header = write_token_store(corpus["corpus"], corpus["tokenizer"], tmp_path / "stage1.tokens")
    store = open_token_store(tmp_path / "stage1.tokens", corpus["tokenizer"])
    tokenizer = load_tokenizer(corpus["tokenizer"])
    expected = tokenizer(corpus["promoters"], truncation=True)["input_ids"]
    assert len(store) == header["count"] == 320 and header["tokens"] == sum(map(len, expected))
    assert header["vocab_size"] == len(tokenizer) and store.ids.dtype == np.uint16
    for index, ids in enumerate(expected):
        assert store.promoter(index).tolist() == ids
    assert max(len(ids) for ids in expected) == 64 and min(len(ids) for ids in expected) < 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage1.tokens"]  # no staging folder left


def test_store_reloaded_in_a_fresh_process_gives_the_same_batches(corpus, tmp_path):
    write_token_store(corpus["corpus"], corpus["tokenizer"], tmp_path / "stage1.tokens")
    script = """
import sys, torch
from cornbert.pretrain import PretrainSettings, split_promoters, step_batch
from cornbert.token_store import open_token_store
from cornbert.tokenizer import load_tokenizer
store, tokenizer = open_token_store(sys.argv[1], sys.argv[2]), load_tokenizer(sys.argv[2])
run = PretrainSettings(batch_size=7, eval_fraction=0.1)
train, held_out = split_promoters(store, run)
torch.save({"held_out": torch.from_numpy(held_out),
            "batches": [step_batch(tokenizer, store, train, run, step) for step in (0, 1, 40, 41, 42)]}, sys.argv[3])
"""
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "stage1.tokens"), str(corpus["tokenizer"]),
                    str(tmp_path / "batches.pt")], check=True, cwd=REPO)  # fmt: skip
    reloaded = torch.load(tmp_path / "batches.pt")

    store, tokenizer = open_token_store(tmp_path / "stage1.tokens", corpus["tokenizer"]), load_tokenizer(corpus["tokenizer"])
    train, held = split_promoters(store, RUN)
    assert torch.equal(reloaded["held_out"], torch.from_numpy(held))
    assert 41 * 7 < len(train) < 42 * 7  # step 41 straddles the first and second epochs
    for step, batch in zip((0, 1, 40, 41, 42), reloaded["batches"]):
        for here, there in zip(step_batch(tokenizer, store, train, RUN, step), batch):
            assert torch.equal(here, there), step
    # The batch is the tokenizer's own left padding of the chosen promoters.
    inputs, attention, labels = step_batch(tokenizer, store, train, RUN, 0)
    chosen = [corpus["promoters"][i] for i in train[np.random.default_rng(
        np.random.SeedSequence([RUN.seed, 0, 2]).generate_state(1)[0]).permutation(len(train))[:7]]]  # fmt: skip
    padded = tokenizer(chosen, truncation=True, padding=True, return_tensors="pt")
    assert torch.equal(attention, padded["attention_mask"])
    assert torch.equal(torch.where(labels == -100, inputs, labels), padded["input_ids"])


def test_held_out_fraction_follows_the_seed():
    hashes = np.random.default_rng(0).integers(0, 2**64, size=200_000, dtype=np.uint64)
    first, second = held_out(hashes, 42, 0.05), held_out(hashes, 7, 0.05)
    assert abs(first.mean() - 0.05) < 0.003 and abs(second.mean() - 0.05) < 0.003
    assert (first & second).mean() < 0.005  # another seed, another (nearly independent) set
    assert np.array_equal(first, held_out(hashes, 42, 0.05, chunk=1000))
    assert held_out(hashes, 42, 0.2)[first].all()  # a larger fraction keeps the smaller one's promoters


@pytest.mark.parametrize("content, problem", [("ACGT\nacgt\n", "line 2 has characters"), ("\n\n", "no sequences")])
def test_bad_corpus_is_reported_and_leaves_no_store(corpus, tmp_path, content, problem):
    path = tmp_path / "stage1.txt"
    path.write_text(content)
    with pytest.raises(InputError, match=problem) as error:
        write_token_store(path, corpus["tokenizer"], tmp_path / "stage1.tokens")
    assert str(path) in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage1.txt"]


def test_vocabulary_beyond_uint16_is_refused(corpus, tmp_path):
    tokenizer = load_tokenizer(corpus["tokenizer"])
    tokenizer.add_tokens([f"t{i}" for i in range(65_536 - len(tokenizer) + 1)])
    tokenizer.save_pretrained(tmp_path / "big")
    with pytest.raises(InputError, match="65,537 tokens does not fit the token store's uint16 ids"):
        write_token_store(corpus["corpus"], tmp_path / "big", tmp_path / "stage1.tokens")
    assert not (tmp_path / "stage1.tokens").exists()


def test_store_of_another_tokenizer_or_damaged_is_refused(corpus, tmp_path):
    write_token_store(corpus["corpus"], corpus["tokenizer"], tmp_path / "stage1.tokens")
    train_tokenizer(corpus["promoters"], 200, 2, 64).save_pretrained(tmp_path / "other")
    with pytest.raises(InputError, match="another tokenizer"):
        open_token_store(tmp_path / "stage1.tokens", tmp_path / "other")
    with open(tmp_path / "stage1.tokens" / "ids.bin", "r+b") as ids:
        ids.truncate(100)
    with pytest.raises(InputError, match="ids.bin: expected .* bytes"):
        open_token_store(tmp_path / "stage1.tokens", corpus["tokenizer"])
    header = json.loads((tmp_path / "stage1.tokens" / "header.json").read_text())
    assert header["corpus_sha256"] and header["format"] == 1
    with pytest.raises(InputError, match="not a token store"):
        open_token_store(tmp_path, corpus["tokenizer"])
    (tmp_path / "stage1.tokens" / "header.json").write_text('{"format": 1, "count"')  # cut mid-write
    with pytest.raises(InputError, match="header.json: damaged or not JSON"):
        open_token_store(tmp_path / "stage1.tokens", corpus["tokenizer"])
