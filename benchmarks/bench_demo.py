"""Benchmark: the whole demo (``thalamocortex demo``), time per stage.

Simulates the preset's cohort, runs every analysis stage in order on the default executor (a
local Dask cluster of ``pipeline.n_workers`` processes) and builds the report, as ``make demo``
does (installation excluded). For each step it prints the wall time, the CPU time of every
process that did the work (this process plus the Dask workers, read on each worker before and
after the stage; the simulation's worker processes through ``RUSAGE_CHILDREN``) and the CPU
seconds per session the step handled.

CPU time is what a loaded machine inflates least, so it is the figure to compare between
versions; wall time is what a user waits. Reference measured in the same run: one pass that
opens every session file with the package's NWB reader and loads it (the I/O floor of any
per-session stage); each step is also given in units of that pass.

Environment: ``THALAMOCORTEX_BENCH_PRESET`` (default ``demo``), ``THALAMOCORTEX_BENCH_OUT``
(a folder to keep the dataset and results in; default a temporary folder, removed),
``THALAMOCORTEX_BENCH_SCHEDULER`` (default ``local``).
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _own_cpu() -> float:
    return time.process_time()


def _worker_cpu(executor) -> float:
    """Summed CPU seconds of the Dask workers (0 in sync mode)."""
    if executor.scheduler == "sync":
        return 0.0
    return float(sum(executor.client.run(time.process_time).values()))


def _read_pass(paths: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds to open and load every session file once."""
    from thalamocortex.data.nwb import read_session

    w, c = time.perf_counter(), _own_cpu()
    for p in paths:
        with read_session(p) as s:
            s.load()
    return time.perf_counter() - w, _own_cpu() - c


class _TimedStage:
    """A registered stage whose function records its wall and CPU time (all processes)."""

    def __init__(self, name: str, spec, executor, rows: list, n_sessions: int) -> None:
        self._name, self._spec, self._ex, self._rows, self._n = (
            name,
            spec,
            executor,
            rows,
            n_sessions,
        )

    def __getattr__(self, attr):
        return getattr(self._spec, attr)

    def load(self):
        func = self._spec.load()

        def timed(ctx):
            w, c, wc = time.perf_counter(), _own_cpu(), _worker_cpu(self._ex)
            func(ctx)
            self._rows.append(
                {
                    "step": self._name,
                    "wall_s": time.perf_counter() - w,
                    "cpu_s": _own_cpu() - c + _worker_cpu(self._ex) - wc,
                    "sessions": self._n,
                }
            )

        return timed


def run(preset: str, out: Path, scheduler: str = "local") -> pd.DataFrame:
    """Simulate, analyse and report; one row per step (wall_s, cpu_s, sessions)."""
    from thalamocortex.config import Config
    from thalamocortex.pipeline import stages
    from thalamocortex.pipeline.run import run_pipeline
    from thalamocortex.pipeline.runner import Executor
    from thalamocortex.report.html import build_report
    from thalamocortex.simulate.cohort import simulate_cohort
    from thalamocortex.simulate.params import preset as get_preset

    cfg = Config()
    cfg.pipeline.scheduler = scheduler
    dataset, results = out / "dataset", out / "results"
    rows: list[dict] = []
    w, c, cc = time.perf_counter(), _own_cpu(), _children_cpu()
    workers = cfg.pipeline.n_workers if scheduler != "sync" else 1
    simulate_cohort(get_preset(preset), dataset, progress=False, n_workers=workers)
    paths = sorted(str(p) for p in dataset.glob("sub-*/sub-*_ses-*.nwb"))
    rows.append(
        {
            "step": "simulation",
            "wall_s": time.perf_counter() - w,
            "cpu_s": _own_cpu() - c + _children_cpu() - cc,
            "sessions": len(paths),
        }
    )
    original = dict(stages.STAGES)
    with Executor(
        scheduler, cfg.pipeline.n_workers, cfg.pipeline.threads_per_worker, progress=False
    ) as ex:
        _worker_cpu(ex)  # start the cluster outside the first stage's time
        for name, spec in original.items():
            stages.STAGES[name] = _TimedStage(name, spec, ex, rows, len(paths))
        try:
            w, c, wc = time.perf_counter(), _own_cpu(), _worker_cpu(ex)
            run_pipeline(dataset, results, cfg, progress=False, executor=ex)
            total_w, total_c = time.perf_counter() - w, _own_cpu() - c + _worker_cpu(ex) - wc
        finally:
            stages.STAGES.update(original)
    staged = pd.DataFrame(rows[1:])
    rows.append(
        {
            "step": "(pipeline overhead)",
            "wall_s": total_w - staged["wall_s"].sum(),
            "cpu_s": total_c - staged["cpu_s"].sum(),
            "sessions": len(paths),
        }
    )
    w, c = time.perf_counter(), _own_cpu()
    build_report(results)
    rows.append(
        {
            "step": "report",
            "wall_s": time.perf_counter() - w,
            "cpu_s": _own_cpu() - c,
            "sessions": 0,
        }
    )
    table = pd.DataFrame(rows)
    rw, rc = _read_pass(paths)
    table.attrs.update(read_wall_s=rw, read_cpu_s=rc, n_sessions=len(paths))
    return table


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    preset = os.environ.get("THALAMOCORTEX_BENCH_PRESET", "demo")
    scheduler = os.environ.get("THALAMOCORTEX_BENCH_SCHEDULER", "local")
    keep = os.environ.get("THALAMOCORTEX_BENCH_OUT")
    out = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench_demo_"))
    if keep and out.exists():
        shutil.rmtree(out)
    try:
        table = run(preset, out, scheduler)
        n = table.attrs["n_sessions"]
        read_cpu = table.attrs["read_cpu_s"]
        table["cpu_per_session_s"] = table["cpu_s"] / n
        table["read_passes"] = table["cpu_s"] / read_cpu
        print(
            f"   preset {preset}, {n} sessions, scheduler {scheduler}, load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end"
        )
        print(
            f"   reference: one pass reading every session file: {read_cpu:.1f} s CPU "
            f"({read_cpu / n * 1000:.0f} ms per session)"
        )
        with pd.option_context("display.width", 120, "display.float_format", "{:.2f}".format):
            print("   " + table.to_string(index=False).replace("\n", "\n   "))
        analysis = table[~table["step"].isin(["simulation"])]
        print(
            f"   total: {table['wall_s'].sum():.0f} s wall, {table['cpu_s'].sum():.0f} s CPU "
            f"(analysis + report {analysis['wall_s'].sum():.0f} s wall); dataset "
            f"{_size_mb(out / 'dataset'):.0f} MB, results {_size_mb(out / 'results'):.0f} MB"
        )
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
