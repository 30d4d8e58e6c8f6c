"""Provenance attached to every result: package version, parameters, input hashes."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from thalamocortex import __version__

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file, cached per (path, size, mtime) so a run hashes each input once."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def params_dict(params: Any) -> Any:
    if params is None:
        return None
    if isinstance(params, BaseModel):
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
