"""What report sections read: the results tables and their provenance (nothing else, except
the ground-truth validation section, which also reads the simulated dataset's ``ground_truth/``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def read(results_dir: str | Path, stage: str, name: str) -> pd.DataFrame:
    """A stage's table, or an empty DataFrame when it was not written."""
    path = Path(results_dir) / stage / f"{name}.parquet"
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame()


def provenance(results_dir: str | Path, stage: str, name: str) -> dict:
    """The provenance sidecar of a table ({} when absent)."""
    path = Path(results_dir) / stage / f"{name}.parquet.provenance.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def parameters(results_dir: str | Path) -> dict[str, Any]:
    """The analysis parameters the results were made with, group by group (merged over the
    stages' provenance records; a group a stage did not record comes from another stage)."""
    out: dict[str, Any] = {}
    root = Path(results_dir)
    for side in sorted(root.glob("*/*.parquet.provenance.json")):
        try:
            params = json.loads(side.read_text()).get("parameters") or {}
        except (OSError, json.JSONDecodeError):
            continue
        for group, values in params.items():
            out.setdefault(group, values)
    return out


def dataset_dir(results_dir: str | Path) -> Path | None:
    """The dataset folder the results were computed from (from the provenance records)."""
    root = Path(results_dir)
    for side in sorted(root.glob("*/*.parquet.provenance.json")):
        try:
            ds = json.loads(side.read_text()).get("dataset")
        except (OSError, json.JSONDecodeError):
            continue
        if ds:
            return Path(ds)
    return None


def ground_truth_dir(results_dir: str | Path) -> Path | None:
    """``<dataset>/ground_truth`` when the dataset is a simulated one, else None."""
    ds = dataset_dir(results_dir)
    if ds is None:
        return None
    gt = ds / "ground_truth"
    return gt if (gt / "rois.parquet").is_file() else None


def get(params: dict, key: str, default: Any = None) -> Any:
    """``params["a"]["b"]`` for ``key="a.b"`` (default when any part is missing)."""
    cur: Any = params
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur
