"""One calibration cohort: synthetic tables or a whole simulated experiment, and its decisions.

* :func:`table_cohort` draws the tables the primary tests read (:mod:`thalamocortex.stats.
  synthetic`) for one seed and runs the package's own test functions on them;
* :func:`pipeline_cohort` simulates a cohort (:func:`thalamocortex.simulate.cohort.
  simulate_cohort`), runs every pipeline stage on it in this process, reads the ``stats`` stage's
  tests, and compares each mouse's estimated change with the simulator's truth
  (``ground_truth/mice.parquet``).

Both return :func:`~thalamocortex.validate.decisions.cohort_decisions` rows plus ``level``,
``kind`` and ``seed`` columns, so the calibration summary treats them alike.

Kinds: ``"zero"`` and ``"varied"`` (null cohorts), ``"effect"`` (the design's effects) and
``"effect@<region>"`` (the input-learning effect moved from the motor thalamus to ``<region>``,
which takes motor thalamus's naive and expert states while the motor thalamus takes the
region's: the finding must move with it).
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from thalamocortex.stats.params import StatsParams
from thalamocortex.stats.stages import StageWindowWarning
from thalamocortex.stats.synthetic import (
    BehaviorDesign,
    EncodingDesign,
    InactivationDesign,
    OptoDesign,
    behavior_sessions,
    encoding_sessions,
    inactivation_trials,
    opto_neurons,
)
from thalamocortex.validate.decisions import cohort_decisions

#: Encoding metrics of the primary region x learning claims (see StatsParams).
_ENCODING_METRICS = ("frac_movement", "median_reliability", "population_onset_latency", "decode_r2")


@dataclass
class TableDesign:
    """The synthetic cohort of the table-level Monte Carlo (one design per experiment)."""

    encoding: EncodingDesign = field(default_factory=EncodingDesign)
    opto: OptoDesign = field(default_factory=OptoDesign)
    inactivation: InactivationDesign = field(default_factory=InactivationDesign)
    behavior: BehaviorDesign = field(default_factory=BehaviorDesign)
    claims: tuple[str, ...] = ("encoding", "opto", "inactivation", "behavior")


def split_kind(kind: str) -> tuple[str, str]:
    """``"effect@M2"`` -> ``("effect", "M2")``; other kinds -> ``(kind, "MTh")``."""
    base, _, region = kind.partition("@")
    return base, region or "MTh"


def moved_effect(sim_config, region: str):
    """A copy of ``sim_config`` whose input-learning pattern sits in ``region`` instead of MTh
    (the two regions swap their naive/expert states)."""
    cfg = sim_config.model_copy(deep=True)
    regions = dict(cfg.axon_imaging.regions)
    if region != "MTh":
        if region not in regions or "MTh" not in regions:
            raise ValueError(f"moved effect: region {region!r} or MTh not in {list(regions)}")
        regions["MTh"], regions[region] = regions[region], regions["MTh"]
        cfg.axon_imaging.regions = regions
    return cfg


def table_tests(seed: int, kind: str, design: TableDesign, stats: StatsParams) -> pd.DataFrame:
    """The primary (and cheap secondary) tests of one synthetic cohort."""
    import dataclasses

    kind, region = split_kind(kind)
    if region != "MTh":
        design = dataclasses.replace(
            design, encoding=dataclasses.replace(design.encoding, effect_region=region)
        )
    from thalamocortex.behavior.learning import learning_tests
    from thalamocortex.encoding.learning import learning_contrasts, region_comparison
    from thalamocortex.opto.inactivation import add_learned_similarity, light_effects
    from thalamocortex.opto.params import InactivationParams
    from thalamocortex.opto.relation import mouse_level_tests
    from thalamocortex.stats.primary import collect_tests

    def rng(k: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))

    tables: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StageWindowWarning)
        if "encoding" in design.claims:
            enc = encoding_sessions(rng(0), kind, design.encoding)
            metrics = tuple(m for m in _ENCODING_METRICS if m in stats.encoding_primary_metrics)
            tables[("encoding", "learning")] = learning_contrasts(
                enc, stats, metrics=metrics, secondary=False
            )
            tables[("encoding", "regions")] = region_comparison(
                enc, stats, metrics=(stats.comparison_metric,)
            )
        if "opto" in design.claims:
            neurons = opto_neurons(rng(1), kind, design.opto)
            tables[("opto", "tests")] = mouse_level_tests(neurons, stats=stats)
        if "inactivation" in design.claims:
            trials, traj = inactivation_trials(rng(2), kind, design.inactivation)
            trials = add_learned_similarity(trials, traj)
            eff = light_effects(
                trials, InactivationParams(alpha=stats.alpha), stats, secondary=False
            )
            tables[("inactivation", "tests")] = eff["tests"]
        if "behavior" in design.claims:
            beh = behavior_sessions(rng(3), kind, design.behavior)
            tables[("behavior", "tests")] = learning_tests(beh, stats)[0]
    return collect_tests(tables)


def table_cohort(
    seed: int, kind: str, design: TableDesign | None = None, stats: StatsParams | None = None
) -> pd.DataFrame:
    """Decisions of one synthetic cohort (``level = "table"``)."""
    design = design or TableDesign()
    stats = stats or StatsParams()
    dec = cohort_decisions(table_tests(seed, kind, design, stats))
    return dec.assign(level="table", kind=kind, seed=seed)


# ---------------------------------------------------------------------------------------------
# whole simulated experiment
# ---------------------------------------------------------------------------------------------

#: simulator effect -> (table of the pipeline with per-mouse estimates, metric column or
#: claim, how to read it). Used for the ground-truth recovery figures.
RECOVERY: dict[str, tuple[str, str]] = {
    "input.movement_fraction": ("encoding", "frac_movement"),
    "input.lag": ("encoding", "population_onset_latency"),
    "input.reliability": ("encoding", "median_reliability"),
    "behavior.learned_plan": ("behavior", "stereotypy"),
    "inactivation.efficacy": ("inactivation", "similarity_to_learned"),
}


def recovery_table(dataset: Path, results: Path) -> pd.DataFrame:
    """Per mouse and effect: the simulated change and the pipeline's per-mouse estimate.

    Returns
    -------
    DataFrame with ``mouse``, ``effect``, ``true_change`` (``change_mouse`` of
    ``ground_truth/mice.parquet``), ``metric``, ``estimate`` (the mouse's expert - naive change,
    or light-on - light-off difference, from the stage's per-mouse table).
    """
    truth_path = Path(dataset) / "ground_truth" / "mice.parquet"
    cols = ["mouse", "effect", "true_change", "metric", "estimate"]
    if not truth_path.is_file():
        return pd.DataFrame(columns=cols)
    truth = pd.read_parquet(truth_path)
    parts = []
    for effect, (stage, metric) in RECOVERY.items():
        t = truth[truth["effect"] == effect][["mouse", "change_mouse"]]
        if t.empty:
            continue
        path = Path(results) / stage / "per_mouse.parquet"
        if not path.is_file():
            continue
        est = pd.read_parquet(path)
        if est.empty:
            continue
        if stage == "inactivation":
            est = est[est["measure"] == metric].rename(columns={"difference": "estimate"})
        else:
            est = est[est["metric"] == metric].rename(columns={"change": "estimate"})
        m = t.merge(est[["mouse", "estimate"]], on="mouse", how="inner")
        parts.append(
            m.rename(columns={"change_mouse": "true_change"}).assign(effect=effect, metric=metric)
        )
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def simulate_and_analyse(
    seed: int, kind: str, sim_config, config=None, workdir: str | Path = ".", keep: bool = True
) -> Path:
    """Simulate one cohort and run every stage the primary tests need (``stats`` and the stages
    it requires) in this process.

    Returns the results folder (``WORKDIR/<kind>-<seed>/results``, next to ``dataset``); with
    ``keep=False`` the caller removes ``WORKDIR/<kind>-<seed>`` when done.
    """
    from thalamocortex.config import Config
    from thalamocortex.pipeline.run import run_pipeline
    from thalamocortex.pipeline.runner import Executor
    from thalamocortex.simulate.cohort import simulate_cohort

    base, region = split_kind(kind)
    cfg = moved_effect(sim_config, region).model_copy(update={"seed": int(seed)}, deep=True)
    if base != "effect":
        cfg = cfg.null(base)
    analysis = (config or Config()).model_copy(deep=True)
    analysis.pipeline.scheduler = "sync"
    root = Path(workdir) / f"{kind}-{seed:05d}"
    if root.exists():
        shutil.rmtree(root)
    dataset, results = root / "dataset", root / "results"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StageWindowWarning)
        simulate_cohort(cfg, dataset, progress=False)
        with Executor("sync", progress=False) as ex:
            # the stages the primary tests need (not e.g. alignment, which decides nothing)
            run_pipeline(dataset, results, analysis, stages=["stats"], progress=False, executor=ex)
    return results


def pipeline_cohort(
    seed: int,
    kind: str,
    sim_config,
    config=None,
    workdir: str | Path = ".",
    keep: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate one cohort, run the whole pipeline on it, return its decisions and recovery.

    Parameters
    ----------
    seed : int
        Root seed of the simulated cohort.
    kind : {"zero", "varied", "effect", "effect@<region>"}
        Null kind (:meth:`thalamocortex.simulate.params.SimulationConfig.null`), the config's
        own effects, or those effects with the input-learning pattern moved to ``<region>``.
    sim_config : SimulationConfig
        The design (effects as configured; the null is derived from it).
    config : Config, optional
        Analysis parameters (the pipeline runs in this process: ``scheduler = "sync"``).
    workdir : path
        Where the dataset and results are written (removed afterwards unless ``keep``).

    Returns
    -------
    decisions : DataFrame (``level = "pipeline"``, ``kind``, ``seed``)
    recovery : DataFrame (:func:`recovery_table` plus ``kind``, ``seed``)
    """
    root = Path(workdir) / f"{kind}-{seed:05d}"
    try:
        results = simulate_and_analyse(seed, kind, sim_config, config, workdir)
        tests = pd.read_parquet(results / "stats" / "tests.parquet")
        dec = cohort_decisions(tests).assign(level="pipeline", kind=kind, seed=seed)
        rec = recovery_table(root / "dataset", results).assign(kind=kind, seed=seed)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return dec, rec
