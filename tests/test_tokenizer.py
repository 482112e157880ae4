"""The BPE tokenizer: Hugging Face round trip, RoBERTa specials, left padding, gene-proximal truncation."""

from __future__ import annotations

import random

import numpy as np
import pytest
from transformers import AutoTokenizer

from cornbert.errors import InputError
from cornbert.tokenizer import (
    bases_read,
    encode_ids,
    length_table,
    load_tokenizer,
    plot_lengths,
    read_corpus,
    token_lengths,
    train_tokenizer,
)

VOCAB_SIZE = 400
MAX_LENGTH = 64
MOTIFS = ["TATAAATA", "GCCGCCGC", "CACGTGAC", "AAGCTTAA"]


def random_promoters(n: int, length: int, seed: int) -> list[str]:
    """Random DNA with a few recurring 8-mers, so BPE has frequent pairs to merge."""
    rng = random.Random(seed)
    promoters = []
    for _ in range(n):
        bases = [rng.choice("ACGT") for _ in range(length)]
        for motif in rng.sample(MOTIFS, 2):
            start = rng.randrange(length - len(motif))
            bases[start : start + len(motif)] = motif
        promoters.append("".join(bases))
    return promoters


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return random_promoters(300, 300, seed=1)


@pytest.fixture(scope="module")
def saved_tokenizer(corpus, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(corpus, VOCAB_SIZE, min_frequency=2, max_length=MAX_LENGTH).save_pretrained(directory)
    return directory


def test_auto_tokenizer_loads_the_full_vocabulary(saved_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(saved_tokenizer)
    assert len(tokenizer) == VOCAB_SIZE + 5
    assert tokenizer.model_max_length == MAX_LENGTH
    assert (tokenizer.padding_side, tokenizer.truncation_side) == ("left", "left")
    assert len(load_tokenizer(saved_tokenizer)) == VOCAB_SIZE + 5


def test_special_tokens_have_roberta_ids_and_wrap_every_sequence(saved_tokenizer, corpus):
    tokenizer = load_tokenizer(saved_tokenizer)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]}
    assert ids == {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    encoded = tokenizer(corpus[0][:100])["input_ids"]
    assert encoded[0] == 0 and encoded[-1] == 2
    assert 0 not in encoded[1:-1] and 2 not in encoded[1:-1]


def test_round_trip_without_prefix_space(saved_tokenizer, corpus):
    tokenizer = load_tokenizer(saved_tokenizer)
    for sequence in corpus[:50]:
        short = sequence[:150]  # fits in MAX_LENGTH tokens untruncated
        ids = tokenizer(short)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == short
        assert not any("Ġ" in token for token in tokenizer.convert_ids_to_tokens(ids))
    # Merges were learnt: DNA needs fewer tokens than bases.
    assert len(tokenizer(corpus[0][:150])["input_ids"]) < 100


def test_padding_is_on_the_left(saved_tokenizer, corpus):
    tokenizer = load_tokenizer(saved_tokenizer)
    batch = tokenizer([corpus[0][:120], corpus[1][:30]], padding=True)
    long_ids, short_ids = batch["input_ids"]
    n_short = len(tokenizer(corpus[1][:30])["input_ids"])
    n_pad = len(long_ids) - n_short
    assert n_pad > 0
    assert short_ids[:n_pad] == [tokenizer.pad_token_id] * n_pad
    assert short_ids[n_pad] == tokenizer.bos_token_id and short_ids[-1] == tokenizer.eos_token_id
    assert batch["attention_mask"][1] == [0] * n_pad + [1] * n_short


def test_truncation_keeps_the_gene_proximal_end(saved_tokenizer):
    tokenizer = load_tokenizer(saved_tokenizer)
    long_promoter = random_promoters(1, 2000, seed=7)[0]
    ids = tokenizer(long_promoter, truncation=True)["input_ids"]
    assert len(ids) == MAX_LENGTH
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    kept = tokenizer.decode(ids, skip_special_tokens=True)
    assert 0 < len(kept) < len(long_promoter)
    assert long_promoter.endswith(kept)  # the END of the promoter string is next to the gene


def test_bases_read_are_those_whose_change_reaches_the_model(saved_tokenizer):
    tokenizer = load_tokenizer(saved_tokenizer)
    promoters = random_promoters(5, 2000, seed=8) + ["ACGT" * 10]
    read = bases_read(tokenizer, promoters)
    for promoter, n in zip(promoters, read):
        kept = tokenizer.decode(tokenizer(promoter, truncation=True)["input_ids"], skip_special_tokens=True)
        assert n == len(kept)  # exactly the decoded window
        (ids,) = encode_ids(tokenizer, [promoter])
        for distance in (1, n // 2, n):  # bp upstream of the gene, 1 = next to it; inside the window ...
            base = len(promoter) - distance
            mutant = promoter[:base] + ("A" if promoter[base] != "A" else "C") + promoter[base + 1:]
            assert encode_ids(tokenizer, [mutant])[0] != ids, distance  # ... every change reaches the model
    assert read[-1] == 40 and (read[:-1] < 2000).all()  # a short one is read whole, long ones are cut


def test_token_length_report(saved_tokenizer, corpus, tmp_path):
    tokenizer = load_tokenizer(saved_tokenizer)
    lengths = token_lengths(tokenizer, corpus, batch_size=64)
    assert lengths.shape == (len(corpus),)
    assert lengths.max() > MAX_LENGTH  # 300 bp do not fit 64 tokens: the report counts them untruncated
    table = length_table(lengths, MAX_LENGTH)
    assert table["sequences"].sum() == len(corpus)
    assert table.loc[table["truncated"], "sequences"].sum() == int((lengths > MAX_LENGTH).sum())
    assert (table.loc[table["truncated"], "tokens"] > MAX_LENGTH).all()
    plot_lengths(lengths, MAX_LENGTH, tmp_path / "lengths.png")
    assert (tmp_path / "lengths.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "content, problem",
    [("ACGT\nacgt\n", "line 2 has characters"), ("ACGT\nAC GT\n", "line 2 has characters"), ("\n\n", "no sequences")],
)
def test_bad_corpus_is_reported_with_file_and_line(tmp_path, content, problem):
    path = tmp_path / "stage1.txt"
    path.write_text(content)
    with pytest.raises(InputError, match=problem) as error:
        read_corpus(path)
    assert str(path) in str(error.value)


def test_corpus_skips_blank_lines(tmp_path):
    path = tmp_path / "stage1.txt"
    path.write_text("ACGTN\n\nTTTT\n")
    assert read_corpus(path) == ["ACGTN", "TTTT"]


def test_loading_a_folder_without_tokenizer_fails_clearly(tmp_path):
    with pytest.raises(InputError, match="no tokenizer.json"):
        load_tokenizer(tmp_path)


def test_vocabulary_size_counts_learnt_tokens_without_specials(corpus):
    tokenizer = train_tokenizer(corpus, 300, min_frequency=2, max_length=MAX_LENGTH)
    assert len(tokenizer) == 305
    assert np.all(np.array(tokenizer.all_special_ids) < 5)


def test_model_batches_match_the_transformers_call(saved_tokenizer):
    """regressor.tokenize (the Rust backend straight) gives what tokenizer(...) gives, padding and truncation included."""
    import torch

    from cornbert.regressor import tokenize

    tokenizer = load_tokenizer(saved_tokenizer)
    sequences = ["", "acgtn", *random_promoters(5, 2000, seed=3), *random_promoters(5, 90, seed=4)]
    random.Random(0).shuffle(sequences)
    ours = tokenize(tokenizer, sequences)
    reference = tokenizer([s.upper() for s in sequences], padding="longest", truncation=True, return_tensors="pt")
    assert ours["input_ids"].shape[1] == MAX_LENGTH  # the long ones were truncated, the others padded
    for key in ("input_ids", "attention_mask"):
        assert ours[key].dtype == reference[key].dtype == torch.int64
        assert torch.equal(ours[key], reference[key])
