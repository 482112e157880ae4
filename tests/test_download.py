"""Real downloads from a local HTTP server: checksum verified, and nothing left behind on failure."""

from __future__ import annotations

import functools
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cornbert.download import download, sha256_of, verify_sha256
from cornbert.errors import InputError

PAYLOAD = b">chr1\n" + b"ACGT" * 300_000 + b"\n"  # 1.2 MB: several read chunks


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields the base URL."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "genome.fa").write_bytes(PAYLOAD)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_with_matching_checksum(server, tmp_path):
    destination = tmp_path / "resources" / "genomes" / "g.fasta"
    download(f"{server}/genome.fa", destination, hashlib.sha256(PAYLOAD).hexdigest().upper())
    assert destination.read_bytes() == PAYLOAD
    assert leftovers(destination.parent) == ["g.fasta"]


def test_download_without_checksum(server, tmp_path):
    destination = tmp_path / "g.fasta"
    download(f"{server}/genome.fa", destination)
    assert sha256_of(destination) == hashlib.sha256(PAYLOAD).hexdigest()


def test_checksum_mismatch_names_url_and_both_checksums_and_leaves_nothing(server, tmp_path):
    destination = tmp_path / "out" / "g.fasta"
    wrong = "0" * 64
    with pytest.raises(InputError) as caught:
        download(f"{server}/genome.fa", destination, wrong, config_key="genomes.g.sha256.fasta")
    message = str(caught.value)
    assert caught.value.path == f"{server}/genome.fa"
    assert wrong in message and hashlib.sha256(PAYLOAD).hexdigest() in message
    assert "genomes.g.sha256.fasta" in message
    assert leftovers(destination.parent) == []


def test_http_error_names_url_and_leaves_nothing(server, tmp_path):
    destination = tmp_path / "out" / "g.fasta"
    with pytest.raises(InputError) as caught:
        download(f"{server}/missing.fa", destination)
    assert caught.value.path == f"{server}/missing.fa"
    assert "404" in caught.value.problem
    assert leftovers(destination.parent) == []


def test_unreachable_host(tmp_path):
    with pytest.raises(InputError, match="download failed"):
        download("http://127.0.0.1:9/genome.fa", tmp_path / "g.fasta")  # port 9 (discard): refused
    assert leftovers(tmp_path) == []


def test_local_file_checksum(tmp_path):
    local = tmp_path / "genome.fa"
    local.write_bytes(PAYLOAD)
    verify_sha256(local, hashlib.sha256(PAYLOAD).hexdigest())
    verify_sha256(local, "")  # nothing configured: nothing to check
    with pytest.raises(InputError) as caught:
        verify_sha256(local, "f" * 64, config_key="genomes.g.sha256.fasta")
    assert caught.value.path == str(local)
    assert "f" * 64 in caught.value.problem and hashlib.sha256(PAYLOAD).hexdigest() in caught.value.problem
