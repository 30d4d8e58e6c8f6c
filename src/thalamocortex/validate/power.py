"""``thalamocortex power``: detection probability against effect size and mice per group.

For a simulator effect (a switch of :class:`thalamocortex.simulate.params.EffectSwitches`), each
(size, mice per group) cell runs ``cohorts`` seeded effect cohorts and records how often each
primary test of that effect finds it (right region and sign,
:func:`thalamocortex.validate.decisions.detected`):

* ``level="table"``: synthetic tables (:mod:`thalamocortex.stats.synthetic`), the effect scaled
  by ``size`` and the others untouched — seconds per cell;
* ``level="pipeline"``: independent simulated experiments through every stage (only the
  experiment the effect acts in is simulated) — exact, one pipeline run (one task, one file
  ``OUT/cells/pipeline-...-mice<n>-s<seed>.parquet``) per cohort;
* ``level="bank"``: per size one simulated cohort of ``bank_mice`` mice per group analysed
  through every stage, re-tested on random subsets of ``n`` mice per group
  (:mod:`thalamocortex.validate.bank`) — one pipeline run per size.

At the pipeline and bank levels ``size`` is the simulator's ``effect_scale``, which scales every
effect of the simulated experiment together (the simulator has no per-switch scale yet); with
the effect's experiment alone this differs from scaling the one effect only where effects
interact (the inactivation effect acts on the learned movement that behavioural learning builds).

Cells are independent tasks on Dask and are written to ``OUT/cells/`` (resumable).
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from thalamocortex.pipeline.io import atomic_write
from thalamocortex.stats.params import StatsParams
from thalamocortex.stats.summary import rate_ci
from thalamocortex.validate.cohorts import TableDesign, pipeline_cohort, table_cohort
from thalamocortex.validate.decisions import detected

#: simulator switch -> (the primary tests that detect it, the experiment it acts in, the
#: table-level design group)
EFFECT_TESTS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "input_learning": (
        (
            "learning:frac_movement",
            "learning:population_onset_latency",
            "learning:median_reliability",
            "learning:decode_r2",
            "region_comparison:frac_movement",
        ),
        "axon_imaging",
        "encoding",
    ),
    "m1_refinement": (
        ("opto:expert_enrichment", "opto:drive_refinement"),
        "all_optical",
        "opto",
    ),
    "inactivation": (("inactivation:learned_movement",), "inactivation", "inactivation"),
    "behavior_learning": (("behavior:learning",), "axon_imaging", "behavior"),
}


#: every primary test at once (``--effect all``, bank level): the whole design is simulated
ALL = "all"


def _tests_of(effect: str) -> tuple[str, ...]:
    if effect == ALL:
        return tuple(t for v in EFFECT_TESTS.values() for t in v[0])
    return EFFECT_TESTS[effect][0]


def _check_effect(effect: str, level: str = "table") -> None:
    if effect == ALL:
        if level != "bank":
            raise ValueError("power: --effect all needs --level bank (the whole design at once)")
        return
    if effect not in EFFECT_TESTS:
        raise ValueError(
            f"power: effect {effect!r} has no primary test; choose one of {sorted(EFFECT_TESTS)} "
            "(m1_encoding is tested only as a secondary analysis)"
        )


def table_design(effect: str, size: float, mice: int, base: TableDesign | None = None):
    """The synthetic design of one cell: ``mice`` per group, the effect scaled by ``size``."""
    _check_effect(effect)
    base = base or TableDesign()
    group = EFFECT_TESTS[effect][2]
    d = dataclasses.replace(base, claims=(group,))
    if group == "encoding":
        d.encoding = dataclasses.replace(base.encoding, mice_per_region=mice, effect_scale=size)
    elif group == "opto":
        d.opto = dataclasses.replace(base.opto, n_mice=mice, effect_scale=size)
    elif group == "inactivation":
        d.inactivation = dataclasses.replace(base.inactivation, n_mice=mice, effect_scale=size)
    else:
        # behavioural learning is tested over every mouse imaged naive and expert: one group
        d.behavior = dataclasses.replace(
            base.behavior, n_axon=mice, n_all_optical=0, n_inactivation=0, effect_scale=size
        )
    return d


def pipeline_design(effect: str, size: float, mice: int, base):
    """The simulated design of one cell (a copy of ``base``, a SimulationConfig)."""
    cfg = base.model_copy(deep=True)
    cfg.effect_scale = float(size)
    if effect == ALL:
        cfg.axon_imaging.mice_per_region = int(mice)
        cfg.m1.n_opsin_mice = int(mice)
        cfg.inactivation.n_mice = int(mice)
        return cfg
    _check_effect(effect)
    experiment = EFFECT_TESTS[effect][1]
    cfg.experiments = [experiment]
    if experiment == "axon_imaging":
        cfg.axon_imaging.mice_per_region = int(mice)
    elif experiment == "all_optical":
        cfg.m1.n_opsin_mice = int(mice)
    else:
        cfg.inactivation.n_mice = int(mice)
    return cfg


def _bank_cell(task: dict) -> str:
    """Worker: simulate and analyse one bank (one size), then subsample every mice count."""
    from thalamocortex.validate.bank import load_bank, subsample_decisions
    from thalamocortex.validate.cohorts import simulate_and_analyse

    effect, size = task["effect"], task["size"]
    tests = _tests_of(effect)
    results = simulate_and_analyse(
        task["seed"], "effect", task["sim"], task["config"], task["workdir"]
    )
    bank = load_bank(results)
    parts = []
    for m in task["mice_list"]:
        dec = subsample_decisions(bank, m, task["draws"], task["stats"], task["seed"])
        rows = []
        for draw, d in dec.groupby("seed"):
            for t in tests:
                hit = detected(d, t, task.get("effect_region", "MTh"))
                if hit is not None:
                    rows.append({"test": t, "seed": draw, "detected": hit, "mice": m})
        parts.append(pd.DataFrame(rows, columns=["test", "seed", "detected", "mice"]))
    out = pd.concat(parts, ignore_index=True).assign(effect=effect, size=size, level="bank")
    atomic_write(Path(task["path"]), partial(out.to_parquet, index=False))
    return task["path"]


def _cell(task: dict) -> str:
    """Worker: the cohorts of one (size, mice) cell; writes per-cohort detections."""
    effect, size, mice = task["effect"], task["size"], task["mice"]
    tests = EFFECT_TESTS[effect][0]
    rows = []
    for seed in task["seeds"]:
        if task["level"] == "table":
            dec = table_cohort(seed, "effect", task["design"], task["stats"])
        else:
            dec, _ = pipeline_cohort(seed, "effect", task["sim"], task["config"], task["workdir"])
        for t in tests:
            hit = detected(dec, t, task.get("effect_region", "MTh"))
            if hit is not None:
                rows.append({"test": t, "seed": seed, "detected": hit})
    out = pd.DataFrame(rows, columns=["test", "seed", "detected"]).assign(
        effect=effect, size=size, mice=mice, level=task["level"]
    )
    atomic_write(Path(task["path"]), partial(out.to_parquet, index=False))
    return task["path"]


def _cell_path(cells: Path, level: str, effect: str, size: float, tag: str, seed: int) -> Path:
    return cells / f"{level}-{effect}-size{size:g}-{tag}-s{seed}.parquet"


def power_curves(
    effect: str,
    sizes: list[float],
    mice: list[int],
    cohorts: int,
    out: str | Path,
    level: str = "table",
    sim=None,
    config=None,
    stats: StatsParams | None = None,
    scheduler: str = "local",
    n_workers: int = 2,
    seed: int = 0,
    progress: bool = True,
    bank_mice: int | None = None,
) -> pd.DataFrame:
    """Detection probability per (test, size, mice per group), with Clopper-Pearson CIs.

    Parameters
    ----------
    effect : str
        Simulator switch (:data:`EFFECT_TESTS`).
    sizes : list of float
        Effect sizes (multiples of the default).
    mice : list of int
        Mice per group.
    cohorts : int
        Cohorts per cell (``level="bank"``: random subsets per cell).
    level : {"table", "pipeline", "bank"}
    bank_mice : int, optional
        Mice per group of each bank (default ``max(mice) + 4``).

    Writes ``OUT/power_curves.parquet``, ``OUT/power_curves.png`` and ``OUT/power.html``.

    Returns
    -------
    DataFrame with ``effect``, ``level``, ``test``, ``size``, ``mice``, ``n_cohorts``,
    ``power``, ``ci_low``, ``ci_high``.
    """
    from thalamocortex.config import Config
    from thalamocortex.pipeline.runner import Executor
    from thalamocortex.validate.run import calibration_design

    _check_effect(effect, level)
    if level not in ("table", "pipeline", "bank"):
        raise ValueError(f"power: level must be 'table', 'pipeline' or 'bank', got {level!r}")
    out = Path(out)
    cells = out / "cells"
    config = config or Config()
    stats = stats or config.stats
    sim = sim or calibration_design()
    bank_mice = bank_mice or max(mice) + 4
    tasks, files = [], []
    for size in sizes:
        if level == "bank":
            tag = f"bank{bank_mice}-mice{'_'.join(map(str, mice))}-n{cohorts}"
            path = _cell_path(cells, level, effect, size, tag, seed)
            files.append(path)
            if not path.is_file():
                tasks.append(
                    {
                        "effect": effect,
                        "size": float(size),
                        "mice_list": [int(m) for m in mice],
                        "draws": cohorts,
                        "seed": seed,
                        "path": str(path),
                        "stats": stats,
                        "sim": pipeline_design(effect, size, bank_mice, sim),
                        "config": config,
                        "workdir": str(out / "work" / f"size{size:g}"),
                    }
                )
            continue
        for m in mice:
            # table level: one task per cell; pipeline level: one task (and file) per cohort,
            # so that cohorts run in parallel and an interrupted or larger run reuses them
            if level == "table":
                chunks = [(f"mice{m}-n{cohorts}", seed, list(range(seed, seed + cohorts)))]
            else:
                chunks = [(f"mice{m}", s, [s]) for s in range(seed, seed + cohorts)]
            for tag, first, seeds in chunks:
                path = _cell_path(cells, level, effect, size, tag, first)
                files.append(path)
                if path.is_file():
                    continue
                task = {
                    "effect": effect,
                    "size": float(size),
                    "mice": int(m),
                    "level": level,
                    "seeds": seeds,
                    "path": str(path),
                    "stats": stats,
                }
                if level == "table":
                    task["design"] = table_design(effect, size, m)
                else:
                    task.update(
                        sim=pipeline_design(effect, size, m, sim),
                        config=config,
                        workdir=str(out / "work"),
                    )
                tasks.append(task)
    if tasks:
        worker = _bank_cell if level == "bank" else _cell
        with Executor(scheduler, n_workers=n_workers, progress=progress) as ex:
            ex.map(worker, tasks, desc=f"power cells ({effect})")
    det = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    rows = []
    for (test, size, m), g in det.groupby(["test", "size", "mice"], sort=True):
        k, n = int(g["detected"].sum()), len(g)
        lo, hi = rate_ci(k, n)
        rows.append(
            {
                "effect": effect,
                "level": level,
                "test": test,
                "size": size,
                "mice": m,
                "n_cohorts": n,
                "power": k / n,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    table = pd.DataFrame(rows)
    if level == "bank":
        table["bank_mice"] = bank_mice
    atomic_write(out / "power_curves.parquet", partial(table.to_parquet, index=False))
    _write_page(table, out)
    return table


def _write_page(table: pd.DataFrame, out: Path) -> None:
    import html

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = sorted(table["test"].unique())
    fig, axes = plt.subplots(1, len(tests), figsize=(3.6 * len(tests), 3.2), squeeze=False)
    for ax, t in zip(axes[0], tests, strict=True):
        g = table[table["test"] == t]
        for size, gs in g.groupby("size"):
            gs = gs.sort_values("mice")
            ax.errorbar(
                gs["mice"],
                gs["power"],
                yerr=[gs["power"] - gs["ci_low"], gs["ci_high"] - gs["power"]],
                fmt="o-",
                capsize=2,
                label=f"size x{size:g}",
            )
        ax.axhline(0.8, color="r", ls="--", lw=0.8)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("mice per group")
        ax.set_ylabel("detection probability")
        ax.set_title(t, fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = out / "power_curves.png"
    atomic_write(png, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    body = table.to_html(index=False, border=0, float_format=lambda x: f"{x:.3g}")
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'><title>power</title></head><body>"
        f"<h1>Power: {html.escape(str(table['effect'].iloc[0]))} "
        f"({html.escape(str(table['level'].iloc[0]))} level)</h1>"
        "<p>Share of effect cohorts in which each primary test found the effect (right region "
        "and sign), 95 % Clopper-Pearson intervals; red: 0.8.</p>"
        f"<img src='power_curves.png'/>{body}</body></html>"
    )
    atomic_write(out / "power.html", lambda p: p.write_text(doc))


def mice_needed(table: pd.DataFrame, target: float = 0.8) -> pd.DataFrame:
    """Fewest mice per group reaching ``target`` power per (test, size) (NaN: none did)."""
    rows = []
    for (test, size), g in table.groupby(["test", "size"]):
        ok = g[g["power"] >= target].sort_values("mice")
        rows.append({"test": test, "size": size, "mice": ok["mice"].iloc[0] if len(ok) else np.nan})
    return pd.DataFrame(rows)
