"""Parallel execution on Dask: a local cluster by default, or any scheduler address.

Per-session work is submitted as independent tasks; results come back in submission order.
``scheduler="sync"`` runs everything in this process (debugging, tests, tiny data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from tqdm.auto import tqdm


class Executor:
    """Runs ``func(item)`` over items on Dask, with a progress bar.

    Parameters
    ----------
    scheduler : str
        ``"sync"``, ``"local"`` (a ``dask.distributed.LocalCluster``) or a scheduler address
        such as ``"tcp://scheduler-host:8786"`` (a cluster started with ``dask scheduler`` and
        ``dask worker``, dask-jobqueue or dask-kubernetes).
    n_workers, threads_per_worker : int
        Size of the local cluster (ignored for an address).
    progress : bool
        Show a progress bar.
    """

    def __init__(
        self,
        scheduler: str = "local",
        n_workers: int = 2,
        threads_per_worker: int = 1,
        progress: bool = True,
    ) -> None:
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.progress = progress
        self._client = None
        self._cluster = None

    @property
    def client(self):
        if self.scheduler == "sync":
            return None
        if self._client is None:
            from dask.distributed import Client, LocalCluster

            # cluster start-up/shut-down chatter is not the user's concern
            for name in ("distributed", "tornado"):
                logging.getLogger(name).setLevel(logging.ERROR)
            if self.scheduler == "local":
                self._cluster = LocalCluster(
                    n_workers=self.n_workers,
                    threads_per_worker=self.threads_per_worker,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=50,  # task errors reach the caller through gather()
                    # one BLAS thread per worker thread: oversubscribed BLAS pools made
                    # eigendecompositions 4-10x slower on a 2-core machine
                    env={
                        var: str(self.threads_per_worker)
                        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                    },
                )
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.scheduler)
        return self._client

    def map(self, func: Callable[[Any], Any], items: Iterable[Any], desc: str = "") -> list[Any]:
        items = list(items)
        if not items:
            return []
        bar = tqdm(
            total=len(items), desc=desc, unit="session", disable=not self.progress, leave=False
        )
        try:
            if self.scheduler == "sync" or len(items) == 1:
                out = []
                for it in items:
                    out.append(func(it))
                    bar.update()
                return out
            from dask.distributed import as_completed

            futures = self.client.map(func, items, pure=False)
            for _ in as_completed(futures):
                bar.update()
            return self.client.gather(futures)
        finally:
            bar.close()

    def blas_limits(self):
        """Context manager capping this process's BLAS/OpenMP pools at ``threads_per_worker``.

        Local workers get the cap through their environment; in ``sync`` mode (and for the
        stage-level statistics the client process runs) the work happens here, where an
        uncapped BLAS pool per core oversubscribes a shared machine (the encoding stage of a
        tiny cohort took 110-260 s instead of 4-7 s on a loaded 2-core machine).
        """
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.threads_per_worker)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
