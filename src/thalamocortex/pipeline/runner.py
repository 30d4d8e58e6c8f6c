"""Parallel execution on Dask: a local cluster by default, or any scheduler address.

Per-session work is submitted as independent tasks; results come back in submission order.
``scheduler="sync"`` runs everything in this process (debugging, tests, tiny data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from tqdm.auto import tqdm

log = logging.getLogger("thalamocortex")


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
        start_timeout_s: float = 10.0,
    ) -> None:
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.progress = progress
        self.start_timeout_s = start_timeout_s
        self._client = None
        self._cluster = None

    def _start_local(self):
        """A LocalCluster, or None (with a warning) when it cannot start in time.

        Without loopback networking (a locked-down cluster node, a sandbox) LocalCluster
        waits ~60 s and then fails; a connection test on 127.0.0.1 finds that at once, and a
        start that takes longer than ``start_timeout_s`` for any other reason falls back too.
        """
        import socket
        import threading

        from dask.distributed import LocalCluster

        def fallback(why: str) -> None:
            log.warning(
                "the local Dask cluster cannot start (%s); running in this process "
                "(scheduler 'sync')",
                why,
            )
            self.scheduler = "sync"

        try:
            with socket.socket() as server:
                server.bind(("127.0.0.1", 0))
                server.listen(1)
                socket.create_connection(server.getsockname(), timeout=2).close()
        except OSError as err:
            fallback(f"no loopback networking: {err}")
            return None
        box: dict = {}
        abandoned = threading.Event()

        def start() -> None:
            try:
                cluster = LocalCluster(
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
            except Exception as err:  # reported by the caller
                box["error"] = err
                return
            if abandoned.is_set():
                cluster.close()  # too late: the run went on without it
            else:
                box["cluster"] = cluster

        thread = threading.Thread(target=start, daemon=True, name="thalamocortex-cluster")
        thread.start()
        thread.join(self.start_timeout_s)
        if thread.is_alive():
            abandoned.set()
            fallback(f"not started within {self.start_timeout_s:g} s")
            return None
        if "error" in box:
            fallback(f"{type(box['error']).__name__}: {box['error']}")
            return None
        return box["cluster"]

    @property
    def client(self):
        if self.scheduler == "sync":
            return None
        if self._client is None:
            from dask.distributed import Client

            # cluster start-up/shut-down chatter is not the user's concern
            for name in ("distributed", "tornado"):
                logging.getLogger(name).setLevel(logging.ERROR)
            if self.scheduler == "local":
                self._cluster = self._start_local()
                if self._cluster is None:
                    return None
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
            if self.scheduler == "sync" or len(items) == 1 or self.client is None:
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
