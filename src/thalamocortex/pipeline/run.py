"""Run stages over a dataset with resume, one bad session never sinking the run.

Resume: a stage is skipped when ``results/<stage>/_done.json`` holds the digest the stage would
have now. The digest covers only what the stage depends on: the parameter groups its registry
entry declares (:attr:`~thalamocortex.pipeline.stages.StageSpec.params`), the *content*
(SHA-256) of its input files, and the digests of the stages it requires. Changing
``encoding.n_folds`` therefore reruns encoding and the stages after it, never preprocess or
behaviour. File hashes are cached by path, size, mtime, ctime, inode and device
(``results/.cache/hashes.json``), so an unchanged file is read once; an in-place edit changes
the ctime even when size and mtime are restored, and is hashed again. The same hashes go into
every table's provenance, so the provenance and the resume decision cannot disagree.

Bad sessions: discovery lists every session file it cannot use (truncated, not NWB, wrong
name, recorded twice...) and every stage's per-session work turns a failing session into an
exclusion (:class:`~thalamocortex.pipeline.context.StageContext`). An excluded session is left
out of the stages that depend on the one that excluded it; the others go on. Every exclusion
is logged as a WARNING (console and ``results/pipeline.log``) and listed in
``results/dataset/excluded.parquet`` (:data:`~thalamocortex.pipeline.context.EXCLUSION_COLUMNS`).
``pipeline.strict`` (``--strict``) makes any bad session fatal.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

import pandas as pd

from thalamocortex.config import Config
from thalamocortex.data.errors import DataError
from thalamocortex.pipeline import io
from thalamocortex.pipeline.context import Exclusions, StageContext
from thalamocortex.pipeline.provenance import hash_cache, params_digest, path_sha256
from thalamocortex.pipeline.runner import Executor
from thalamocortex.pipeline.stages import STAGES, ancestors, ordered

log = logging.getLogger("thalamocortex")

DONE = "_done.json"
#: The run's exclusions table (one row per excluded or skipped session and stage).
EXCLUDED_TABLE = Path("dataset") / "excluded.parquet"
#: The run's log file (INFO and above, appended).
LOG_FILE = "pipeline.log"

# temporary files of our own atomic writes: io.atomic_write (.<name>.<random>.tmp),
# write_session (.<stem>.<pid>.<hex>.tmp.nwb), write_sessions_table, write_tiff
_OWN_TMP = re.compile(r"^\..+\.tmp(\.nwb)?$")


class StageError(RuntimeError):
    """A stage failed for a reason that is not bad input (a bug, or an unforeseen case); the
    message names the stage and the traceback is in ``results/pipeline.log``."""


def clean_stale_tmp(folder: Path, before: float) -> list[Path]:
    """Remove temporary files of our own naming older than ``before`` (a killed write).

    Files newer than ``before`` (the run's start) may belong to a concurrent writer and are
    kept.
    """
    removed = []
    if not folder.is_dir():
        return removed
    for dirpath, _, files in os.walk(folder):
        for f in files:
            p = Path(dirpath) / f
            if _OWN_TMP.match(f):
                try:
                    if p.stat().st_mtime < before:
                        p.unlink()
                        removed.append(p)
                except FileNotFoundError:
                    pass
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted write", len(removed))
    return removed


def use_preprocessed(sessions, results: Path):
    """Point sessions at their preprocessed files where the ``preprocess`` stage made one
    (its ``sessions`` table, column ``output``), with the ROI and frame counts of those files;
    others keep the dataset's."""
    out = sessions.copy()
    table = Path(results) / "preprocess" / "sessions.parquet"
    if not table.is_file():
        return out
    made = pd.read_parquet(table)
    if "output" not in made or "session_id" not in made:
        return out
    made = made[made["output"].astype(str) != ""].set_index("session_id")
    root = Path(results) / "preprocess" / "sessions"
    counts = [c for c in ("n_rois", "n_frames") if c in out.columns and c in made.columns]
    for i, row in out.iterrows():
        sid = f"sub-{row['mouse']}_ses-{int(row['session'])}"
        # the file inside *this* results folder (the table's absolute path may be a copy's)
        candidate = root / f"sub-{row['mouse']}" / f"{sid}.nwb"
        if sid in made.index and candidate.is_file():
            out.at[i, "path"] = str(candidate)
            # sessions that had only raw data (a lab's movies) have their ROIs now, not 0
            for c in counts:
                out.at[i, c] = int(made.at[sid, c])
    return out


def _stage_params(cfg: Config, groups: tuple[str, ...] | None) -> dict:
    full = cfg.model_dump(mode="json", exclude={"pipeline"})
    if groups is None:
        return full
    out: dict = {}
    for g in ("data", *groups):
        node, dst = full, out
        parts = g.split(".")
        for part in parts[:-1]:
            node = node[part]
            dst = dst.setdefault(part, {})
        dst[parts[-1]] = node[parts[-1]]
    return out


def stage_digest(name: str, cfg: Config, inputs: str, upstream: dict[str, str]) -> str:
    """Digest of what stage ``name`` depends on: its declared parameter groups, the inputs'
    content digest and its upstream stages' digests."""
    params = _stage_params(cfg, STAGES[name].params)
    return params_digest({"stage": name, "params": params, "inputs": inputs, "upstream": upstream})


def _inputs_digest(paths: list[str], base: str | Path) -> str:
    """Content digest of input files (SHA-256 per file, cached by stat), with paths relative
    to ``base`` (the dataset folder) so that a moved or copied dataset is still up to date."""
    parts = []
    for p in sorted(set(paths)):
        rel = Path(os.path.relpath(p, base)).as_posix()
        try:
            parts.append(f"{rel}:{path_sha256(p)}")
        except OSError:
            parts.append(f"{rel}:missing")
    return params_digest(parts)


def _raw_inputs(paths: list[str]) -> list[str]:
    from thalamocortex.preprocess.stage import raw_input_files

    out = []
    for p in paths:
        out += [str(f) for f in raw_input_files(p)]
    return out


def write_exclusions(results: Path, exclusions: Exclusions) -> Path:
    """``results/dataset/excluded.parquet``: every excluded or skipped session of the run."""
    return io.write_table(exclusions.table(), results / EXCLUDED_TABLE)


def _log_handler(results: Path) -> logging.Handler:
    h = logging.FileHandler(results / LOG_FILE)
    h.setLevel(logging.DEBUG)
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return h


def run_pipeline(
    dataset: str | Path,
    results: str | Path,
    config: Config | None = None,
    stages: list[str] | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, float]:
    """Run ``stages`` (default: all registered) in dependency order.

    Returns the wall time of each stage (0 for a skipped, already finished stage). Excluded
    sessions are in ``results/dataset/excluded.parquet``.

    Raises
    ------
    DataError
        The dataset has no usable session, a stage failed on every session, or (with
        ``pipeline.strict``) any session is bad.
    StageError
        A stage failed for another reason (the traceback is in ``results/pipeline.log``).
    """
    cfg = config or Config()
    results = Path(results)
    started = time.time()
    own = executor is None
    executor = executor or Executor(
        cfg.pipeline.scheduler,
        cfg.pipeline.n_workers,
        cfg.pipeline.threads_per_worker,
        progress=progress,
        start_timeout_s=cfg.pipeline.local_start_timeout_s,
    )
    timings: dict[str, float] = {}
    digests: dict[str, str] = {}
    handler = None
    logger_level = log.level
    try:
        first = StageContext(dataset, results, cfg, "dataset", executor)
        found = first.sessions  # a dataset with no usable session fails here, before any write
        exclusions = first.exclusions
        if found.empty:
            raise DataError(
                f"no usable session ({len(exclusions.records)} excluded): "
                + "; ".join(r["reason"] for r in exclusions.records[:3]),
                dataset,
            )
        results.mkdir(parents=True, exist_ok=True)
        handler = _log_handler(results)
        log.addHandler(handler)
        if log.getEffectiveLevel() > logging.INFO:
            log.setLevel(logging.INFO)  # the file gets INFO; the console handler filters
        for r in exclusions.records:  # discovery warnings, now also into the log file
            handler.handle(
                log.makeRecord(
                    log.name,
                    logging.WARNING,
                    __file__,
                    0,
                    "[dataset] %s excluded: %s",
                    (r["session_id"], r["reason"]),
                    None,
                )
            )
        cache = hash_cache(results / ".cache" / "hashes.json")
        all_files = [r["path"] for r in exclusions.records] + [str(p) for p in found["path"]]
        inputs = _inputs_digest(all_files, dataset)
        sheet = getattr(cfg.data, "sessions_sheet", None)
        if sheet:
            inputs = params_digest([inputs, _inputs_digest([str(Path(dataset) / sheet)], dataset)])
        sessions = found
        for name in ordered(stages):
            spec = STAGES[name]
            up = {r: digests.get(r, "") for r in spec.requires}
            stage_inputs = inputs
            if spec.raw_inputs:
                stage_inputs = params_digest(
                    [inputs, _inputs_digest(_raw_inputs([str(p) for p in found["path"]]), dataset)]
                )
            digest = stage_digest(name, cfg, stage_inputs, up)
            digests[name] = digest
            clean_stale_tmp(results / name, started)
            done = results / name / DONE
            if cfg.pipeline.resume and done.is_file():
                try:
                    record = json.loads(done.read_text())
                except (OSError, ValueError):
                    record = {}
                if record.get("digest") == digest:
                    log.info("stage %s: up to date, skipped", name)
                    for r in record.get("excluded", []):
                        exclusions.add(r)
                        if r["kind"] == "error":
                            log.warning(
                                "[%s] session %s excluded: %s", name, r["session_id"], r["reason"]
                            )
                    timings[name] = 0.0
                    if name == "preprocess":
                        sessions = use_preprocessed(sessions, results)
                    continue
            ctx = StageContext(dataset, results, cfg, name, executor)
            bad = exclusions.of_stages(ancestors(name) | {"dataset"})
            ctx.__dict__["sessions"] = sessions[~sessions["path"].astype(str).isin(bad)]
            ctx.__dict__["opener"] = first.opener
            t = time.perf_counter()
            if progress:
                print(f"[thalamocortex] stage {name} ...", flush=True)
            try:
                with executor.blas_limits():
                    spec.load()(ctx)
            except (DataError, FileNotFoundError):
                raise
            except Exception as err:
                from thalamocortex.config import ConfigError

                if isinstance(err, ConfigError):
                    raise
                log.exception("stage %s failed", name)
                raise StageError(
                    f"stage {name} failed ({type(err).__name__}: {err}); the traceback is in "
                    f"{results / LOG_FILE}"
                ) from err
            finally:
                for r in ctx.exclusions.records:
                    exclusions.add(r)
                write_exclusions(results, exclusions)
            if name == "preprocess":
                # later stages analyse the ROIs/traces extracted from raw data
                sessions = use_preprocessed(sessions, results)
            timings[name] = time.perf_counter() - t
            io.write_json(
                {
                    "digest": digest,
                    "seconds": timings[name],
                    "excluded": ctx.exclusions.records,
                },
                done,
            )
        write_exclusions(results, exclusions)
        n_bad = len(exclusions.errors())
        if n_bad:
            log.warning("%d session(s) excluded; see %s", n_bad, results / EXCLUDED_TABLE)
        cache.save()
    finally:
        if own:
            executor.close()
        if handler is not None:
            log.removeHandler(handler)
            handler.close()
        log.setLevel(logger_level)
    return timings
