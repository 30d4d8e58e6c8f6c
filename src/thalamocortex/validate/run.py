"""``thalamocortex validate``: every primary test on many seeded null and effect cohorts.

Cohorts are independent tasks on Dask (:class:`thalamocortex.pipeline.runner.Executor`: a
``LocalCluster`` by default, or any scheduler address). Each task writes its decisions to
``OUT/cohorts/`` atomically, so a killed run resumes where it stopped and a larger run reuses a
smaller one's cohorts; the parameters are stamped in ``OUT/parameters.json`` and a run with other
parameters into the same folder is refused. The summary (false-positive rates with Clopper-
Pearson intervals, power, named regions, ground-truth recovery) is rebuilt from the cohort files
into ``OUT/*.parquet`` and ``OUT/validation.html``.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pandas as pd

from thalamocortex.pipeline.io import atomic_write
from thalamocortex.stats.params import StatsParams
from thalamocortex.stats.synthetic import NULL_KINDS
from thalamocortex.validate.cohorts import TableDesign, pipeline_cohort, table_cohort


@dataclasses.dataclass
class ValidationPlan:
    """How many cohorts of each kind.

    Attributes
    ----------
    table_cohorts : int
        Synthetic (table-level) cohorts per null kind and for the effect.
    pipeline_cohorts : int
        Whole-pipeline cohorts per null kind.
    effect_cohorts : int
        Whole-pipeline cohorts with the design's effects (power at the design).
    kinds : tuple of str
        Null kinds.
    moved_region : str
        Region the input-learning effect is moved to in the ``effect@<region>`` cohorts ("" =
        none): the region comparison must follow it.
    moved_cohorts : int
        Whole-pipeline cohorts with the moved effect (table level: ``table_cohorts``).
    seed : int
        First cohort seed (cohort ``i`` of a kind uses ``seed + i``).
    chunk : int
        Table-level cohorts per task.
    """

    table_cohorts: int = 200
    pipeline_cohorts: int = 40
    effect_cohorts: int = 40
    kinds: tuple[str, ...] = NULL_KINDS
    moved_region: str = "M2"
    moved_cohorts: int = 10
    seed: int = 0
    chunk: int = 25

    def all_kinds(self) -> tuple[str, ...]:
        moved = (f"effect@{self.moved_region}",) if self.moved_region else ()
        return (*self.kinds, "effect", *moved)


def calibration_design():
    """The simulated design of the whole-pipeline calibration cohorts: a reduced demo.

    The demo's groups at the fewest mice with which every primary test can reject (4 input
    regions x 3 mice, 3 opsin + 1 control mice, 3 inactivation mice; fixed here, not taken from
    the demo preset, so that resizing the demo does not invalidate a calibration folder), every
    effect at its default size with the default between-mouse spread, and less data per mouse,
    so that ~100 whole-pipeline cohorts fit in about an hour of one core: two imaged sessions
    per axon-imaging mouse (days 1 and 14: each mouse's naive and expert stage, as the stage
    windows take half of a 2-session mouse's sessions each), 30 trials per session, 20 axons,
    80 M1 neurons, 20 pulses, 10 Hz. Measured cost: ~50 s CPU per cohort (simulation 8 s).
    The tests' validity does not depend on these sizes; their power does, and is measured at
    the demo's own design by ``thalamocortex power`` (docs/statistics.md).
    """
    from thalamocortex.simulate.params import preset

    cfg = preset("demo")
    cfg.axon_imaging.mice_per_region = 3
    cfg.axon_imaging.sessions = [1, 14]
    cfg.axon_imaging.n_axons = 20
    cfg.behavior.n_trials = 30
    cfg.measurement.frame_rate_hz = 10.0
    cfg.m1.n_opsin_mice = 3
    cfg.m1.n_no_opsin_mice = 1
    cfg.m1.n_neurons = 80
    cfg.m1.n_pulses = 20
    cfg.inactivation.n_mice = 3
    cfg.inactivation.sessions = [13, 14]
    return cfg


def _task(task: dict) -> str:
    """Worker: run one task (a chunk of table cohorts or one pipeline cohort), write its file."""
    path = Path(task["path"])
    if task["level"] == "table":
        parts = [
            table_cohort(s, task["kind"], task["design"], task["stats"]) for s in task["seeds"]
        ]
        out = pd.concat(parts, ignore_index=True)
        atomic_write(path, partial(out.to_parquet, index=False))
        return str(path)
    dec, rec = pipeline_cohort(
        task["seed"], task["kind"], task["sim"], task["config"], task["workdir"]
    )
    rec_path = path.with_name(path.name.replace("pipeline-", "recovery-"))
    atomic_write(rec_path, partial(rec.to_parquet, index=False))
    atomic_write(path, partial(dec.to_parquet, index=False))
    return str(path)


def _parameters(plan, design, sim, config) -> dict:
    return {
        "plan": dataclasses.asdict(plan),
        "table_design": json.loads(json.dumps(dataclasses.asdict(design), default=str)),
        "simulation": sim.model_dump(mode="json"),
        "analysis": config.model_dump(mode="json", exclude={"pipeline"}),
    }


def _check_parameters(out: Path, params: dict) -> None:
    """Refuse to mix cohorts made with other parameters into ``out``."""
    meta = out / "parameters.json"
    if not meta.is_file():
        return
    old = json.loads(meta.read_text())
    differ = [
        k
        for k in ("table_design", "simulation", "analysis")
        if json.dumps(old.get(k), sort_keys=True) != json.dumps(params[k], sort_keys=True)
    ]
    if differ:
        raise FileExistsError(
            f"{meta}: this folder holds cohorts made with other {' and '.join(differ)} "
            "parameters; use another --out (or delete the folder) to calibrate these"
        )


def plan_tasks(
    out: Path, plan: ValidationPlan, design: TableDesign, stats: StatsParams, sim, config
) -> list[dict]:
    """The tasks whose files are not in ``out/cohorts`` yet."""
    cohorts = out / "cohorts"
    tasks = []
    for kind in plan.all_kinds():
        seeds = list(range(plan.seed, plan.seed + plan.table_cohorts))
        for i in range(0, len(seeds), plan.chunk):
            chunk = seeds[i : i + plan.chunk]
            path = cohorts / f"table-{kind}-{chunk[0]:05d}-{chunk[-1]:05d}.parquet"
            if not path.is_file():
                tasks.append(
                    {
                        "level": "table",
                        "kind": kind,
                        "seeds": chunk,
                        "path": str(path),
                        "design": design,
                        "stats": stats,
                    }
                )
    work = out / "work"
    for kind in plan.all_kinds():
        n = {"effect": plan.effect_cohorts}.get(kind, plan.pipeline_cohorts)
        if "@" in kind:
            n = plan.moved_cohorts
        for seed in range(plan.seed, plan.seed + n):
            path = cohorts / f"pipeline-{kind}-{seed:05d}.parquet"
            if not path.is_file():
                tasks.append(
                    {
                        "level": "pipeline",
                        "kind": kind,
                        "seed": seed,
                        "path": str(path),
                        "sim": sim,
                        "config": config,
                        "workdir": str(work),
                    }
                )
    # the quick table-level tasks first (their summary is available early), then the pipeline
    # cohorts by seed with the kinds interleaved (so that a partial run covers every kind)
    return sorted(
        tasks,
        key=lambda t: (
            t["level"] != "table",
            t.get("seed", 0),
            plan.all_kinds().index(t["kind"]),
        ),
    )


def load_cohorts(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All decisions and recovery rows written so far under ``out/cohorts``."""
    files = sorted((Path(out) / "cohorts").glob("*.parquet"))
    dec = [pd.read_parquet(f) for f in files if not f.name.startswith("recovery-")]
    rec = [pd.read_parquet(f) for f in files if f.name.startswith("recovery-")]
    dec = pd.concat(dec, ignore_index=True) if dec else pd.DataFrame()
    rec = [r for r in rec if len(r)]
    rec = pd.concat(rec, ignore_index=True) if rec else pd.DataFrame()
    return dec, rec


def run_validation(
    out: str | Path,
    plan: ValidationPlan | None = None,
    design: TableDesign | None = None,
    sim=None,
    config=None,
    scheduler: str = "local",
    n_workers: int = 2,
    progress: bool = True,
) -> Path:
    """Run (or resume) the calibration and write its summary; returns ``OUT/validation.html``.

    Parameters
    ----------
    out : path
        Output folder (created; resumed when it holds cohorts of the same parameters).
    plan : ValidationPlan
    design : TableDesign
        Synthetic design of the table-level cohorts.
    sim : SimulationConfig
        Design of the whole-pipeline cohorts (default :func:`calibration_design`).
    config : Config
        Analysis parameters (default: the package defaults).
    scheduler, n_workers : the Dask executor (``"local"``, ``"sync"`` or an address).
    """
    from thalamocortex.config import Config
    from thalamocortex.pipeline.runner import Executor
    from thalamocortex.validate.page import write_page

    out = Path(out)
    plan = plan or ValidationPlan()
    design = design or TableDesign()
    sim = sim or calibration_design()
    config = config or Config()
    if plan.moved_region:
        from thalamocortex.config import ConfigError

        known = set(design.encoding.regions) & set(sim.axon_imaging.regions)
        if plan.moved_region == "MTh" or plan.moved_region not in known:
            raise ConfigError(
                f"moved_region {plan.moved_region!r}: expected one of "
                f"{sorted(known - {'MTh'})} (a region imaged in both designs, not MTh) or ''"
            )
    params = _parameters(plan, design, sim, config)
    _check_parameters(out, params)
    out.mkdir(parents=True, exist_ok=True)
    from thalamocortex import __version__

    stamp = {"package_version": __version__, "created": datetime.now(UTC).isoformat()}
    meta = out / "parameters.json"
    if not meta.is_file():
        text = json.dumps({**stamp, **params}, indent=1)
        atomic_write(meta, lambda p: p.write_text(text))
    tasks = plan_tasks(out, plan, design, config.stats, sim, config)
    if tasks:
        with Executor(scheduler, n_workers=n_workers, progress=progress) as ex:
            ex.map(_task, tasks, desc="validation tasks")
    return write_page(out, config.stats, plan)
