"""Atomic writes of result tables, arrays and JSON (temporary name, then rename)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``; a failure leaves ``path`` untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def provenance_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".provenance.json")


def write_json(obj: Any, path: str | Path) -> Path:
    text = json.dumps(obj, indent=2, default=str)
    return atomic_write(path, lambda p: p.write_text(text))


def write_table(df: pd.DataFrame, path: str | Path, provenance: dict | None = None) -> Path:
    """Write a tidy table as Parquet (atomically) with an optional provenance sidecar."""
    df = df.reset_index(drop=True)
    # object columns of mixed type break Parquet: store them as strings
    for col in df.columns:
        if df[col].dtype == object:
            kinds = {type(v) for v in df[col].dropna()}
            if len(kinds) > 1:
                df[col] = df[col].astype(str)
    atomic_write(path, lambda p: df.to_parquet(p, index=False))
    if provenance is not None:
        write_json(provenance, provenance_path(path))
    return Path(path)


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"result table {path} does not exist (has its stage run?)")
    return pd.read_parquet(path)


def write_arrays(path: str | Path, provenance: dict | None = None, **arrays: np.ndarray) -> Path:
    def _save(p: Path) -> None:
        with open(p, "wb") as f:  # a file object: savez would append ".npz" to a path
            np.savez_compressed(f, **arrays)

    atomic_write(path, _save)
    if provenance is not None:
        write_json(provenance, provenance_path(path))
    return Path(path)
