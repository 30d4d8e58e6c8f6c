"""Run stages over a dataset with resume: a stage is skipped when its outputs exist and were made
from the same parameters and the same input files."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import pandas as pd

from thalamocortex.config import Config
from thalamocortex.pipeline import io
from thalamocortex.pipeline.context import StageContext
from thalamocortex.pipeline.provenance import params_digest
from thalamocortex.pipeline.runner import Executor
from thalamocortex.pipeline.stages import STAGES, ordered

log = logging.getLogger("thalamocortex")

DONE = "_done.json"


def _inputs_digest(sessions) -> str:
    h = hashlib.sha256()
    for p in sorted(str(x) for x in sessions["path"]):
        st = Path(p).stat()
        h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def use_preprocessed(sessions, results: Path):
    """Point sessions at their preprocessed files (``results/preprocess/sessions/...``) where the
    ``preprocess`` stage made one from raw movies or suite2p output; others keep the dataset's."""
    out = sessions.copy()
    root = Path(results) / "preprocess" / "sessions"
    if not root.is_dir():
        return out
    for i, p in out["path"].items():
        candidate = root / Path(p).parent.name / Path(p).name
        if candidate.is_file():
            out.at[i, "path"] = str(candidate)
    # sessions that had only raw data (a lab's movies) have their ROIs now, not the dataset's 0
    table = Path(results) / "preprocess" / "sessions.parquet"
    if table.is_file() and {"n_rois", "n_frames"} <= set(out.columns):
        pre = pd.read_parquet(table)
        if {"mouse", "session", "n_rois", "n_frames", "output"} <= set(pre.columns):
            pre = pre[pre["output"].astype(str) != ""]
            key = dict(zip(zip(pre["mouse"].astype(str), pre["session"].astype(int)), pre.index))
            for i, (m, s) in enumerate(zip(out["mouse"].astype(str), out["session"].astype(int))):
                j = key.get((m, s))
                if j is not None:
                    out.iloc[i, out.columns.get_loc("n_rois")] = int(pre.at[j, "n_rois"])
                    out.iloc[i, out.columns.get_loc("n_frames")] = int(pre.at[j, "n_frames"])
    return out


def _stage_digest(name: str, cfg: Config, inputs: str, upstream: dict[str, str]) -> str:
    params = cfg.model_dump(mode="json", exclude={"pipeline"})
    blob = {"stage": name, "params": params, "inputs": inputs, "upstream": upstream}
    return params_digest(blob)


def run_pipeline(
    dataset: str | Path,
    results: str | Path,
    config: Config | None = None,
    stages: list[str] | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, float]:
    """Run ``stages`` (default: all registered) in dependency order.

    Returns the wall time of each stage (0 for a skipped, already finished stage).
    """
    cfg = config or Config()
    results = Path(results)
    own = executor is None
    executor = executor or Executor(
        cfg.pipeline.scheduler,
        cfg.pipeline.n_workers,
        cfg.pipeline.threads_per_worker,
        progress=progress,
    )
    timings: dict[str, float] = {}
    digests: dict[str, str] = {}
    try:
        first = StageContext(dataset, results, cfg, "_", executor)
        inputs = _inputs_digest(first.sessions)  # a broken dataset fails here, before any write
        results.mkdir(parents=True, exist_ok=True)
        sessions = use_preprocessed(first.sessions, results)
        for name in ordered(stages):
            spec = STAGES[name]
            up = {r: digests.get(r, "") for r in spec.requires}
            digest = _stage_digest(name, cfg, inputs, up)
            digests[name] = digest
            done = results / name / DONE
            if cfg.pipeline.resume and done.is_file():
                import json

                if json.loads(done.read_text()).get("digest") == digest:
                    log.info("stage %s: up to date, skipped", name)
                    timings[name] = 0.0
                    if name == "preprocess":
                        sessions = use_preprocessed(sessions, results)
                    continue
            ctx = StageContext(dataset, results, cfg, name, executor)
            ctx.__dict__["sessions"] = sessions  # discovered once per run
            t = time.perf_counter()
            if progress:
                print(f"[thalamocortex] stage {name} ...", flush=True)
            spec.load()(ctx)
            if name == "preprocess":
                # later stages analyse the ROIs/traces extracted from raw data
                sessions = use_preprocessed(sessions, results)
            timings[name] = time.perf_counter() - t
            io.write_json({"digest": digest, "seconds": timings[name]}, done)
    finally:
        if own:
            executor.close()
    return timings
