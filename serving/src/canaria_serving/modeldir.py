"""The digest of a model directory (an MLflow model: ``MLmodel``, ``model.onnx``, external
tensor data files, ...), defined once for the fetch, the operator and ``canaria package``.

``digest = sha256( for each file, sorted by its relative path: "<sha256 of file>  <path>\\n" )``

``path`` is relative to the directory, with ``/`` separators, UTF-8. It is the text
``sha256sum`` prints for the files, sorted by path, so ``cd DIR && find . -type f -printf
'%P\\n' | LC_ALL=C sort | xargs sha256sum | sha256sum`` computes the same value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["directory_digest", "file_sha256", "manifest_digest"]

_CHUNK = 1 << 20


def manifest_digest(files: Iterable[tuple[str, str]]) -> str:
    """The digest of ``(relative path, file sha256)`` pairs (any order)."""
    lines = "".join(f"{sha}  {path}\n" for path, sha in sorted(files, key=lambda f: f[0]))
    return hashlib.sha256(lines.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def directory_digest(root: Path) -> str:
    """The digest of every regular file under ``root``."""
    files = [
        (p.relative_to(root).as_posix(), file_sha256(p)) for p in root.rglob("*") if p.is_file()
    ]
    return manifest_digest(files)
