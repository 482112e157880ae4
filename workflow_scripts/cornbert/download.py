"""Fetching genome files from http(s)/ftp URLs and checking SHA-256 checksums of files as given."""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from pathlib import Path

from tqdm import tqdm

from cornbert.errors import InputError
from cornbert.runtime import atomic_path

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str, name: str | None = None, config_key: str = "") -> None:
    """Raise InputError unless `path` has SHA-256 `expected` (nothing to check when `expected` is empty).

    `name` is what the error names (a URL for downloads, else the path); `config_key` says where the
    expected value was configured.
    """
    if not expected:
        return
    actual = sha256_of(path)
    if actual != expected.lower():
        where = f" ({config_key})" if config_key else ""
        raise InputError(
            name or path,
            f"SHA-256 mismatch: expected {expected.lower()}{where}, got {actual}. "
            "The file is corrupt or changed upstream; fix the file or the checksum.",
        )
    log.info("%s: SHA-256 %s verified", name or path, actual)


def download(url: str, destination: str | Path, expected_sha256: str = "", config_key: str = "") -> None:
    """Download `url` to `destination`, which appears only once complete and (if given) checksum-verified."""
    log.info("downloading %s -> %s", url, destination)
    with atomic_path(destination) as partial:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
                total = response.headers.get("Content-Length")
                with tqdm(
                    total=int(total) if total else None,
                    unit="B",
                    unit_scale=True,
                    desc=Path(destination).name,
                    mininterval=2,
                ) as progress:
                    while chunk := response.read(CHUNK_BYTES):
                        out.write(chunk)
                        progress.update(len(chunk))
        except OSError as error:  # URLError, HTTPError and socket timeouts are all OSErrors
            raise InputError(url, f"download failed: {error}") from error
        if total is not None and partial.stat().st_size != int(total):
            raise InputError(url, f"download truncated: got {partial.stat().st_size} of {total} bytes")
        verify_sha256(partial, expected_sha256, name=url, config_key=config_key)
    log.info("downloaded %s (%d bytes)", destination, Path(destination).stat().st_size)
