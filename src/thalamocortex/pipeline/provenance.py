"""Provenance attached to every result: package version, parameters, input hashes."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from thalamocortex import __version__

_HASH_CACHE: dict[str, tuple[tuple[int, ...], str]] = {}


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    # ctime changes on every write and cannot be set back (utime sets only atime/mtime), so an
    # in-place edit that restores size and mtime is still seen; inode/device catch replacement
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's content.

    Cached per real path and (size, mtime, ctime, inode, device): an unchanged file is read
    once per run, or once ever when :func:`hash_cache` made the cache persistent.
    """
    path = Path(path)
    st = path.stat()
    real = os.path.realpath(path)
    key = _stat_key(st)
    hit = _HASH_CACHE.get(real)
    if hit is not None and hit[0] == key:
        return hit[1]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    _HASH_CACHE[real] = (key, h.hexdigest())
    return _HASH_CACHE[real][1]


def path_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or of a folder's files (names and contents, sorted)."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}:{file_sha256(f)}\n".encode())
    return h.hexdigest()


class _PersistentHashes:
    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self) -> None:
        from thalamocortex.pipeline.io import write_json

        data = {p: [list(k), h] for p, (k, h) in _HASH_CACHE.items()}
        try:
            write_json(data, self.path)
        except OSError:
            pass  # a read-only results folder only costs re-hashing next time


def hash_cache(path: str | Path) -> _PersistentHashes:
    """Load the file-hash cache saved at ``path`` (if any) into memory; ``.save()`` writes it.

    Entries are only trusted while a file's (size, mtime, ctime, inode, device) are unchanged.
    """
    path = Path(path)
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            for p, (k, h) in data.items():
                _HASH_CACHE.setdefault(p, (tuple(int(v) for v in k), str(h)))
        except (OSError, ValueError, TypeError):
            pass  # a damaged cache is ignored: files are hashed again
    return _PersistentHashes(path)


def params_dict(params: Any) -> Any:
    if params is None:
        return None
    if isinstance(params, BaseModel) or hasattr(params, "model_dump"):
        return params.model_dump(mode="json")
    return json.loads(json.dumps(params, default=str))


def make_provenance(
    params: Any = None, inputs: list[str | Path] | None = None, **extra: Any
) -> dict[str, Any]:
    """A JSON-serialisable record of how a result was made.

    Parameters
    ----------
    params : pydantic model or dict
        The parameters used (dumped in full).
    inputs : list of paths
        Input files; each is recorded with its SHA-256.
    extra : additional fields (e.g. ``stage``).
    """
    import numpy as np
    import pandas as pd

    return {
        "package": "thalamocortex",
        "version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "parameters": params_dict(params),
        "inputs": {str(p): file_sha256(p) for p in (inputs or [])},
        **extra,
    }


def params_digest(params: Any) -> str:
    """Short stable hash of parameters (used to decide whether a stored result is reusable)."""
    blob = json.dumps(params_dict(params), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
