"""What a stage sees: the dataset, the results folder, the config and an executor."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from thalamocortex.config import Config
from thalamocortex.pipeline import io
from thalamocortex.pipeline.provenance import make_provenance
from thalamocortex.pipeline.runner import Executor

log = logging.getLogger("thalamocortex")


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
        Name of the running stage.
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
        self.dataset = Path(dataset)
        self.results = Path(results)
        self.config = config
        self.stage = stage
        self.executor = executor or Executor("sync", progress=False)

    @property
    def out_dir(self) -> Path:
        d = self.results / self.stage
        d.mkdir(parents=True, exist_ok=True)
        return d

    @cached_property
    def sessions(self) -> pd.DataFrame:
        from thalamocortex.data.layout import discover
        from thalamocortex.data.nwb import NWBNames

        # default names: the fast h5py discovery path; custom names need the full NWB reader
        names = None if self.config.data == NWBNames() else self.config.data
        return discover(self.dataset, names=names)

    def open(self, path: str | Path):
        """Open one session lazily with the configured NWB names (use as a context manager)."""
        from thalamocortex.data.nwb import read_session

        return read_session(path, names=self.config.data)

    def traces(self, session):
        """A session's analysis traces (dF/F of somata / merged axons): the preprocess stage's
        file when present, else computed
        (:func:`thalamocortex.preprocess.stage.session_traces`)."""
        from thalamocortex.preprocess.stage import session_traces

        return session_traces(session, self.results, self.config.preprocess)

    def map(self, func, items, desc: str = "") -> list[Any]:
        return self.executor.map(func, items, desc=desc or self.stage)

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
