"""What a stage sees: the dataset, the results folder, the config and an executor.

Two things here keep one bad session from sinking a run:

* :class:`SessionOpener`, the one way a stage opens a session file: the configured NWB names
  (``config.data``), the folders external files may lie in, and the metadata of a sessions
  sheet travel with it to every worker.
* :meth:`StageContext.map` runs a worker once per session and turns a session that fails
  (:class:`~thalamocortex.data.errors.DataError` or any other exception) or that the stage
  does not apply to (:class:`SkipSession`) into an *exclusion* — session, stage, kind, reason —
  instead of an aborted run. Exclusions are logged (WARNING for errors, INFO for skips),
  kept by the run (``results/<stage>/_done.json``) and collected into the table
  ``results/dataset/excluded.parquet``; a session excluded by an error is left out of every
  stage that depends on the failing one. ``pipeline.strict`` makes the first error fatal.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from thalamocortex.config import Config
from thalamocortex.data.errors import DataError
from thalamocortex.pipeline import io
from thalamocortex.pipeline.provenance import make_provenance
from thalamocortex.pipeline.runner import Executor

log = logging.getLogger("thalamocortex")
_FILE_RE = re.compile(r"^sub-(?P<mouse>[^_/\s]+)_ses-(?P<session>\d+)\.nwb$")

#: Columns of the exclusions table (``results/dataset/excluded.parquet``).
EXCLUSION_COLUMNS: tuple[str, ...] = (
    "session_id",
    "mouse",
    "session",
    "stage",
    "kind",
    "reason",
    "path",
)


class SkipSession(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by a per-session worker: this stage does not apply to this session.

    The message is the reason (``"no lever: imaging-only session"``). The session is listed in
    the exclusions table with ``kind="skipped"`` and logged once at INFO; unlike an error it is
    not a bad session (``--strict`` does not fail on it) and later stages still see it.
    """


class UndeclaredParameterError(LookupError):
    """A stage read a parameter group its :class:`~thalamocortex.pipeline.stages.StageSpec`
    does not declare (its resume digest would miss changes of that group)."""


class ConfigView:
    """The analysis config restricted to the parameter groups a stage declared.

    ``view.behavior`` is the real ``BehaviorParams`` when ``"behavior"`` is declared; a dotted
    declaration (``"opto.inactivation"``) exposes only that sub-group. ``pipeline`` is always
    readable (execution settings, not analysis parameters). Reading anything else raises
    :class:`UndeclaredParameterError`, so a stage's digest can never miss a parameter it uses.
    """

    def __init__(self, target: Any, allowed: tuple[str, ...], stage: str, prefix: str = ""):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_allowed", tuple(allowed))
        object.__setattr__(self, "_stage", stage)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        target = object.__getattribute__(self, "_target")
        allowed = object.__getattribute__(self, "_allowed")
        prefix = object.__getattribute__(self, "_prefix")
        stage = object.__getattribute__(self, "_stage")
        key = prefix + name
        if key in allowed or key == "pipeline":
            return getattr(target, name)
        inner = tuple(a for a in allowed if a.startswith(key + "."))
        if inner:
            return ConfigView(getattr(target, name), inner, stage, key + ".")
        raise UndeclaredParameterError(
            f"stage {stage!r} reads the parameters {key!r}, which its entry in "
            f"pipeline/stages.py does not declare (params={allowed}); declare them so that "
            "a change of them reruns the stage"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the stage's config is read-only")

    def model_dump(self, mode: str = "json") -> dict[str, Any]:
        """The declared groups as a dict (what the stage's provenance records)."""
        target = object.__getattribute__(self, "_target")
        prefix = object.__getattribute__(self, "_prefix")
        out: dict[str, Any] = {}
        for a in object.__getattribute__(self, "_allowed"):
            obj = target
            parts = a[len(prefix) :].split(".")
            for part in parts:
                obj = getattr(obj, part)
            node = out
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = obj.model_dump(mode=mode) if hasattr(obj, "model_dump") else obj
        return out


@dataclass(frozen=True, eq=False)
class SessionOpener:
    """Opens a session file with the run's configuration (picklable: handed to workers).

    Parameters
    ----------
    names : NWBNames
        ``config.data``: where each part of a session lives in files of other tools.
    roots : tuple of str
        Folders a raw movie's external files may lie in (the dataset and the results folder).
    """

    names: Any = None
    roots: tuple[str, ...] | None = None
    sheet: Any = None  # the sessions sheet (data.sessions_sheet) as a DataFrame

    def __call__(self, path: str | Path, lazy: bool = True):
        from thalamocortex.data.layout import sheet_metadata
        from thalamocortex.data.nwb import read_session

        meta = None
        if self.sheet is not None:
            m = _FILE_RE.match(Path(path).name)
            if m is not None:
                meta = sheet_metadata(self.sheet, m["mouse"], int(m["session"]))
        return read_session(path, names=self.names, lazy=lazy, roots=self.roots, metadata=meta)


@dataclass
class _Excluded:
    kind: str  # "error" | "skipped"
    reason: str
    detail: str = ""


def _guarded(item: Any, func: Callable[[Any], Any]) -> Any:
    """Run ``func(item)``; a failure or a skip comes back as an :class:`_Excluded` value."""
    try:
        return func(item)
    except SkipSession as err:
        return _Excluded("skipped", str(err))
    except DataError as err:
        return _Excluded("error", str(err))
    except MemoryError:
        raise
    except Exception as err:  # a crash on one session must not abort the others
        return _Excluded("error", f"{type(err).__name__}: {err}", traceback.format_exc())


def session_path_of(item: Any) -> str:
    """The session file a per-session work item is about: the item itself when it is a path,
    else its first element (``(path, extra)`` tuples)."""
    if isinstance(item, str | os.PathLike):
        return str(item)
    return str(item[0])


@dataclass
class Exclusions:
    """Exclusions collected during a run (a list of :data:`EXCLUSION_COLUMNS` records)."""

    records: list[dict] = field(default_factory=list)

    def add(self, record: dict) -> None:
        key = (record["path"], record["stage"])
        if any((r["path"], r["stage"]) == key for r in self.records):
            return
        self.records.append(record)

    def errors(self) -> set[str]:
        return {r["path"] for r in self.records if r["kind"] == "error"}

    def of_stages(self, stages: set[str]) -> set[str]:
        """Paths excluded by an error at any of ``stages``."""
        return {r["path"] for r in self.records if r["kind"] == "error" and r["stage"] in stages}

    def table(self) -> pd.DataFrame:
        df = pd.DataFrame(self.records, columns=list(EXCLUSION_COLUMNS))
        df["session"] = pd.array(df["session"], dtype="Int64")
        return df


class StageContext:
    """Context handed to ``run(ctx)`` of every stage.

    Parameters
    ----------
    dataset : Path
        Dataset root in the DANDI layout (``sub-<mouse>/sub-<mouse>_ses-<n>.nwb``).
    results : Path
        Results root; the stage writes under ``results/<stage>/``.
    config : Config
    stage : str
        Name of the running stage. For a registered stage, ``ctx.config`` exposes only the
        parameter groups its registry entry declares (:class:`ConfigView`).
    executor : Executor, optional
    """

    def __init__(
        self,
        dataset: str | Path,
        results: str | Path,
        config: Config,
        stage: str,
        executor: Executor | None = None,
    ) -> None:
        from thalamocortex.pipeline.stages import STAGES

        self.dataset = Path(dataset)
        self.results = Path(results)
        self.full_config = config
        spec = STAGES.get(stage)
        self.config = (
            ConfigView(config, ("data", *spec.params), stage)
            if spec is not None and spec.params is not None
            else config
        )
        self.stage = stage
        self.executor = executor or Executor("sync", progress=False)
        self.exclusions = Exclusions()
        self.strict = bool(config.pipeline.strict)
        self.session_meta: dict[str, dict] = {}  # path -> mouse/session of excluded files

    @property
    def out_dir(self) -> Path:
        d = self.results / self.stage
        d.mkdir(parents=True, exist_ok=True)
        return d

    @cached_property
    def sessions(self) -> pd.DataFrame:
        from thalamocortex.data.layout import scan

        table, problems = scan(self.dataset, names=self.full_config.data)
        for p in problems:
            self.exclude(p["path"], p["reason"], mouse=p.get("mouse"), session=p.get("session"))
        return table

    @cached_property
    def opener(self) -> SessionOpener:
        """The session opener of this run (picklable; pass it to workers)."""
        from thalamocortex.data.layout import load_sheet

        roots = (os.path.abspath(self.dataset), os.path.abspath(self.results))
        sheet = load_sheet(self.dataset, self.full_config.data)
        return SessionOpener(self.full_config.data, roots, sheet)

    def open(self, path: str | Path):
        """Open one session lazily with the configured NWB names (use as a context manager)."""
        return self.opener(path)

    def traces(self, session):
        """A session's analysis traces (dF/F of somata / merged axons): the preprocess stage's
        file when it was made from this session file with the run's preprocess parameters and
        NWB names, else computed (:func:`thalamocortex.preprocess.stage.session_traces`)."""
        from thalamocortex.preprocess.stage import session_traces

        # through ctx.config: a stage reading traces must declare the preprocess parameters
        return session_traces(session, self.results, self.config.preprocess, self.config.data)

    # --- per-session work and exclusions -------------------------------------------------
    def _identify(self, path: str) -> dict:
        row = {"session_id": Path(path).stem, "mouse": None, "session": None}
        table = self.__dict__.get("sessions")
        if table is not None and "path" in table and len(table):
            hit = table[table["path"].astype(str) == str(path)]
            if len(hit):
                m, s = hit["mouse"].iloc[0], int(hit["session"].iloc[0])
                return {"session_id": f"sub-{m}_ses-{s}", "mouse": m, "session": s}
        meta = self.session_meta.get(str(path))
        if meta:
            row.update(meta)
        return row

    def exclude(
        self,
        path: str | Path,
        reason: str,
        kind: str = "error",
        mouse: str | None = None,
        session: int | None = None,
    ) -> None:
        """Record that this stage excluded (``kind="error"``) or skipped (``"skipped"``) a
        session, and log it once (WARNING for errors, INFO for skips).

        Raises
        ------
        DataError
            ``kind="error"`` under ``pipeline.strict``.
        """
        if kind not in ("error", "skipped"):
            raise ValueError(f"exclude: kind must be 'error' or 'skipped', got {kind!r}")
        ident = self._identify(str(path))
        if mouse is not None:
            ident.update(mouse=mouse, session=session)
            if session is not None:
                ident["session_id"] = f"sub-{mouse}_ses-{session}"
        record = {**ident, "stage": self.stage, "kind": kind, "reason": reason, "path": str(path)}
        self.exclusions.add(record)
        if kind == "error":
            log.warning("[%s] session %s excluded: %s", self.stage, ident["session_id"], reason)
            if self.strict:
                raise DataError(
                    f"stage {self.stage}: session {ident['session_id']} is bad (--strict): {reason}"
                )
        else:
            log.info("[%s] session %s skipped: %s", self.stage, ident["session_id"], reason)

    def map(
        self, func, items, desc: str = "", per_session: bool = True, key=session_path_of
    ) -> list[Any]:
        """``func(item)`` for every item, in parallel, results in item order.

        With ``per_session`` (the default) every item is one session's work (a session path,
        or a tuple whose first element is the path; ``key`` says otherwise): a session whose
        worker raises :class:`SkipSession`, a :class:`DataError` or any other exception gets
        ``None`` in the result list and is recorded with :meth:`exclude`. When every session
        fails, the stage fails (the data or the parameters are wrong for all of them, not one
        bad session).
        """
        items = list(items)
        if not per_session:
            return self.executor.map(func, items, desc=desc or self.stage)
        raw = self.executor.map(partial(_guarded, func=func), items, desc=desc or self.stage)
        out: list[Any] = []
        failed: list[tuple[str, _Excluded]] = []
        for item, r in zip(items, raw, strict=True):
            if isinstance(r, _Excluded):
                path = key(item)
                if r.detail:
                    log.debug("[%s] %s: %s", self.stage, path, r.detail)
                if r.kind == "error":
                    failed.append((path, r))
                self.exclude(path, r.reason, r.kind)
                out.append(None)
            else:
                out.append(r)
        if failed and len(failed) == len(items):
            path, first = failed[0]
            raise DataError(
                f"stage {self.stage} failed on every session ({len(items)}); the first: "
                f"{first.reason}"
            )
        return out

    # --- results ---------------------------------------------------------------------------
    def provenance(self, inputs: list[str | Path] | None = None) -> dict:
        if inputs is None and "path" in getattr(self, "sessions", pd.DataFrame()).columns:
            inputs = list(self.sessions["path"])
        return make_provenance(self.config, inputs, stage=self.stage, dataset=str(self.dataset))

    def write_table(self, df: pd.DataFrame, name: str) -> Path:
        return io.write_table(df, self.out_dir / f"{name}.parquet", self.provenance())

    def read_table(self, stage: str, name: str) -> pd.DataFrame:
        path = self.results / stage / f"{name}.parquet"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: table {name!r} of stage {stage!r} not found; run "
                f"`thalamocortex {stage} {self.dataset} --out {self.results}` first"
            )
        return pd.read_parquet(path)

    def write_array(self, name: str, **arrays: np.ndarray) -> Path:
        return io.write_arrays(self.out_dir / f"{name}.npz", self.provenance(), **arrays)

    def log(self, msg: str) -> None:
        log.info("[%s] %s", self.stage, msg)
