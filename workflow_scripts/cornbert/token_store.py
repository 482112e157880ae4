"""A pretraining corpus tokenised once into memory-mapped arrays (as nanoGPT's train.bin, Megatron's indexed data).

    {stage}.tokens/ids.bin      uint16 [tokens]      every promoter's ids (<s> ... </s>, truncated), back to back
    {stage}.tokens/offsets.bin  int64  [count + 1]   promoter i is ids[offsets[i] : offsets[i + 1]]
    {stage}.tokens/hashes.bin   uint64 [count]       a hash of each promoter's sequence (the held-out choice)
    {stage}.tokens/header.json  count, tokens, vocab size, max length, hashes of the tokenizer and the corpus

Pretraining reads promoters from the memory map as batches need them, so its memory does not grow with the corpus,
and reruns or resumes never tokenise again. The held-out choice is a seeded function of the stored sequence hash
(`held_out`), so the store does not depend on the seed or eval_fraction, and a promoter present in both stages'
corpora is held out of both or of neither.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
from transformers import PreTrainedTokenizerFast

from cornbert.artefacts import check_json
from cornbert.errors import InputError
from cornbert.tokenizer import encode_ids, load_tokenizer

log = logging.getLogger("cornbert.token_store")

FORMAT = 1
HEADER = "header.json"
ID_DTYPE = np.uint16  # 2 bytes a token; the tokenizer's vocabulary must fit it
CHUNK = 8192  # promoters per encode_batch call: large enough for the thread pool, small enough to stay flat
DNA = b"ACGTN"


@dataclass(frozen=True)
class TokenStore:
    path: Path
    header: dict
    ids: np.ndarray  # uint16 [tokens], memory-mapped
    offsets: np.ndarray  # int64 [count + 1], memory-mapped
    hashes: np.ndarray  # uint64 [count], memory-mapped

    def __len__(self) -> int:
        return len(self.hashes)

    def promoter(self, index: int) -> np.ndarray:
        return self.ids[self.offsets[index] : self.offsets[index + 1]]


def tokenizer_sha256(tokenizer_dir: str | Path) -> str:
    with open(Path(tokenizer_dir) / "tokenizer.json", "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_token_store(corpus: str | Path, tokenizer_dir: str | Path, output_dir: str | Path) -> dict:
    """Tokenise `corpus` (one promoter per line) into a store at `output_dir`; return its header.

    Streams the corpus in chunks through the Rust tokenizer's batch encoding (multi-threaded: RAYON_NUM_THREADS),
    so memory stays flat whatever the corpus size. Written into a sibling folder that is renamed when complete."""
    tokenizer = load_tokenizer(tokenizer_dir)
    if len(tokenizer) > np.iinfo(ID_DTYPE).max + 1:
        raise InputError(tokenizer_dir, f"vocabulary of {len(tokenizer):,} tokens does not fit the token store's "
                                        f"uint16 ids (at most {np.iinfo(ID_DTYPE).max + 1:,})")  # fmt: skip
    output = Path(output_dir)
    staging = output.with_name(f".{output.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        header = _write_arrays(corpus, tokenizer, staging)
        header |= {"vocab_size": len(tokenizer), "max_length": tokenizer.model_max_length,
                   "tokenizer_sha256": tokenizer_sha256(tokenizer_dir)}  # fmt: skip
        (staging / HEADER).write_text(json.dumps(header, indent=1) + "\n")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # never a half-written store
        raise
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)
    log.info("%s: %d promoters, %d tokens (%.1f per promoter) written to %s", corpus, header["count"],
             header["tokens"], header["tokens"] / header["count"], output)  # fmt: skip
    return header


def _write_arrays(corpus: str | Path, tokenizer: PreTrainedTokenizerFast, staging: Path) -> dict:
    corpus_digest = hashlib.sha256()
    count = tokens = 0
    with (open(staging / "ids.bin", "wb") as ids, open(staging / "offsets.bin", "wb") as offsets,
          open(staging / "hashes.bin", "wb") as hashes):  # fmt: skip
        offsets.write(np.zeros(1, np.int64).tobytes())
        for chunk in _chunks(corpus, corpus_digest):
            rows = encode_ids(tokenizer, chunk)
            lengths = np.fromiter((len(row) for row in rows), np.int64, len(rows))
            flat = np.fromiter(chain.from_iterable(rows), ID_DTYPE, int(lengths.sum()))
            ids.write(flat.tobytes())
            offsets.write((tokens + np.cumsum(lengths)).tobytes())
            hashes.write(np.array([sequence_hash(s.encode()) for s in chunk], np.uint64).tobytes())
            count += len(chunk)
            tokens += len(flat)
    if count == 0:
        raise InputError(corpus, "no sequences (expected one promoter per line)")
    return {"format": FORMAT, "count": count, "tokens": tokens, "corpus_sha256": corpus_digest.hexdigest()}


def open_token_store(path: str | Path, tokenizer_dir: str | Path) -> TokenStore:
    """Memory-map a store written by write_token_store and check it was made with this tokenizer."""
    path = Path(path)
    if not (path / HEADER).is_file():
        raise InputError(path, f"no {HEADER}: not a token store written by rule tokenize_corpus")
    header = check_json(path / HEADER)
    missing = sorted({"format", "count", "tokens", "tokenizer_sha256"} - set(header))
    if missing:
        raise InputError(path / HEADER, f"no {', '.join(missing)}: not a token store header; rerun rule tokenize_corpus")
    if header.get("format") != FORMAT:
        raise InputError(path, f"token store format {header.get('format')}, this code reads format {FORMAT}")
    if header["tokenizer_sha256"] != tokenizer_sha256(tokenizer_dir):
        raise InputError(path, f"tokenised with another tokenizer than {tokenizer_dir}; rerun rule tokenize_corpus")
    count, tokens = header["count"], header["tokens"]
    arrays = {}
    for name, dtype, length in (("ids", ID_DTYPE, tokens), ("offsets", np.int64, count + 1),
                                ("hashes", np.uint64, count)):  # fmt: skip
        file = path / f"{name}.bin"
        expected = length * np.dtype(dtype).itemsize
        if not file.is_file() or file.stat().st_size != expected:
            raise InputError(file, f"expected {expected:,} bytes for the header's {count:,} promoters / "
                                   f"{tokens:,} tokens; the store is damaged, rerun rule tokenize_corpus")  # fmt: skip
        arrays[name] = np.memmap(file, dtype=dtype, mode="r", shape=(length,))
    if arrays["offsets"][-1] != tokens:
        raise InputError(path / "offsets.bin", f"last offset {arrays['offsets'][-1]} != {tokens} tokens")
    return TokenStore(path=path, header=header, **arrays)


def sequence_hash(sequence: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(sequence, digest_size=8).digest(), "big")


def held_out(hashes: np.ndarray, seed: int, fraction: float, chunk: int = 1 << 20) -> np.ndarray:
    """bool [count]: whether each promoter is held out, a seeded function of its sequence hash alone.

    The seed enters through splitmix64's finaliser (a bijection of uint64), so each seed picks its own
    `fraction` of the promoters, and identical sequences always share one side."""
    flags = np.empty(len(hashes), dtype=bool)
    key = np.uint64(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])
    threshold = np.uint64(min(int(fraction * 2**64), 2**64 - 1))
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps, as the mixer intends
        for start in range(0, len(hashes), chunk):
            x = np.asarray(hashes[start : start + chunk]) ^ key
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            flags[start : start + chunk] = (x ^ (x >> np.uint64(31))) < threshold
    return flags


def _chunks(corpus: str | Path, digest) -> Iterator[list[str]]:
    """Promoters of `corpus` in lists of CHUNK; blank lines skipped, anything not DNA is an error."""
    chunk: list[str] = []
    with open(corpus, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            digest.update(line)
            sequence = line.strip()
            if not sequence:
                continue
            if sequence.translate(None, DNA):
                raise InputError(corpus, f"line {number} has characters other than A, C, G, T, N")
            chunk.append(sequence.decode("ascii"))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk
