"""The simulated cohort: mice, sessions, :class:`~thalamocortex.data.model.Session` objects and
ground truth.

Design (one list of mice per experiment, :func:`cohort_design`):

* ``axon_imaging``: ``mice_per_region`` mice per input region, one region per mouse, imaged in
  ``axon_imaging.sessions``;
* ``all_optical``: ``n_opsin_mice`` opsin mice then ``n_no_opsin_mice`` controls, M1 L2/3
  somata imaged in ``m1.sessions`` (task, then a photostimulation block);
* ``inactivation``: ``n_mice`` expert mice, behaviour only, light on a random subset of trials.

Reproducibility: every random number comes from a generator seeded by
``SeedSequence(cfg.seed, spawn_key=(experiment, mouse, session, stream))``: mouse-level latents
(template, axons, neurons, learning rate) use ``session = 0``; each session has its own streams
(behaviour, neurons, measurement). A session is therefore identical whether simulated alone or in a
cohort, in any order or in parallel.

Ground truth is returned as DataFrames and written to ``out_dir/ground_truth`` (never into the
NWB files, so analyses stay blind).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from thalamocortex.data.model import Imaging, Lever, Session, SessionInfo, Stimulation
from thalamocortex.pipeline.io import atomic_write, write_arrays
from thalamocortex.simulate.behavior import (
    behavior_state,
    learning_progress,
    mouse_template,
    movement_table,
    simulate_behavior,
    stage_of,
)
from thalamocortex.simulate.circuits import (
    axon_properties,
    axon_rates,
    draw_axon_field,
    draw_m1_population,
    m1_properties,
    m1_rates,
    region_state,
)
from thalamocortex.simulate.effects import EFFECTS, MouseEffects
from thalamocortex.simulate.measurement import calcium_dff, measure, ou_process, spike_counts
from thalamocortex.simulate.params import SIM_EXPERIMENTS, SimulationConfig

# streams of a mouse (session 0) and of a session
_TEMPLATE, _LEARNING, _CIRCUIT, _FIELD = 0, 1, 2, 3
_BEHAVIOR, _NEURAL, _MEASURE, _STIM = 0, 1, 2, 3
_START = _dt.datetime(2025, 1, 6, 9, 0, tzinfo=_dt.UTC)


@dataclass(frozen=True)
class MouseSpec:
    """One simulated mouse."""

    experiment: str
    mouse_index: int
    mouse: str
    region: str
    opsin: bool
    sessions: tuple[int, ...]


def cohort_design(cfg: SimulationConfig, experiments: list[str] | None = None) -> list[MouseSpec]:
    """The mice of the cohort, in a fixed order (see the module docstring)."""
    experiments = list(cfg.experiments if experiments is None else experiments)
    bad = [e for e in experiments if e not in SIM_EXPERIMENTS]
    if bad:
        raise ValueError(f"experiments: unknown {bad}; expected a subset of {SIM_EXPERIMENTS}")
    mice: list[MouseSpec] = []
    if "axon_imaging" in experiments:
        ap = cfg.axon_imaging
        for ri, region in enumerate(ap.regions):
            for k in range(ap.mice_per_region):
                mice.append(
                    MouseSpec(
                        "axon_imaging",
                        ri * ap.mice_per_region + k,
                        f"ax{region}{k + 1:02d}",
                        region,
                        False,
                        tuple(ap.sessions),
                    )
                )
    if "all_optical" in experiments:
        mp = cfg.m1
        for k in range(mp.n_opsin_mice + mp.n_no_opsin_mice):
            opsin = k < mp.n_opsin_mice
            name = f"aoOpsin{k + 1:02d}" if opsin else f"aoCtrl{k - mp.n_opsin_mice + 1:02d}"
            mice.append(MouseSpec("all_optical", k, name, "M1", opsin, tuple(mp.sessions)))
    if "inactivation" in experiments:
        ip = cfg.inactivation
        for k in range(ip.n_mice):
            mice.append(
                MouseSpec("inactivation", k, f"inact{k + 1:02d}", "MTh", True, tuple(ip.sessions))
            )
    return mice


def find_mouse(cfg: SimulationConfig, experiment: str, mouse_index: int) -> MouseSpec:
    for m in cohort_design(cfg, [experiment]):
        if m.mouse_index == mouse_index:
            return m
    raise ValueError(f"no mouse {mouse_index} in experiment {experiment!r} of this config")


def _rng(cfg: SimulationConfig, spec: MouseSpec, session: int, stream: int) -> np.random.Generator:
    key = (SIM_EXPERIMENTS.index(spec.experiment), spec.mouse_index, session, stream)
    return np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=key))


def mouse_tau(cfg: SimulationConfig, spec: MouseSpec) -> float:
    """The mouse's learning time constant (sessions)."""
    rng = _rng(cfg, spec, 0, _LEARNING)
    return float(
        cfg.learning.tau_sessions * np.exp(cfg.learning.tau_jitter_sd * rng.standard_normal())
    )


def mouse_effects(cfg: SimulationConfig, spec: MouseSpec) -> MouseEffects:
    """The mouse's multipliers of every learning-related change (:mod:`.effects`)."""
    return MouseEffects.draw(cfg, SIM_EXPERIMENTS.index(spec.experiment), spec.mouse_index)


#: effects that act in each experiment (the others are drawn but have no consequence)
_EXPERIMENT_EFFECTS = {
    "axon_imaging": ("behavior.", "input."),
    "all_optical": ("behavior.", "m1."),
    "inactivation": ("behavior.", "inactivation."),
}


def mouse_truth(cfg: SimulationConfig, spec: MouseSpec) -> pd.DataFrame:
    """Each effect acting on the mouse, with its population and its own naive->expert change.

    One row per effect: ``mouse, experiment, region, effect, switch, switch_on, z,
    multiplier, quantity`` (what ``naive``/``expert_*`` measure), ``naive``,
    ``expert_population``, ``expert_mouse``, ``change_population`` and ``change_mouse``
    (expert - naive, at learning progress 0 and 1). ``change_mouse`` is the truth a
    mouse-level test estimates; in a null cohort ``change_population`` is 0.
    """
    fx = mouse_effects(cfg, spec)
    pop = MouseEffects.population(cfg)
    values: dict[str, tuple[str, object]] = {}  # effect -> (quantity, function of effects)
    beh = {
        "behavior.template_weight": ("mean template weight", "template_weight"),
        "behavior.reaction_time": ("median reaction time (s)", "rt_median_s"),
        "behavior.engagement": ("probability of responding to a cue", "p_engage"),
        "behavior.spontaneous_rate": ("spontaneous movement rate (Hz)", "spont_rate_hz"),
        "inactivation.efficacy": ("fraction of thalamic drive removed by light", ""),
    }
    for e, (q, key) in beh.items():
        if key:
            values[e] = (q, lambda f, p, key=key: behavior_state(cfg, p, f)[key])
        else:
            values[e] = (q, lambda f, p: behavior_state(cfg, 1.0, f)["inactivation_loss"] * p)
    if spec.experiment == "axon_imaging":
        for e, key in (
            ("input.movement_fraction", "movement_fraction"),
            ("input.lag", "lag_s"),
            ("input.reliability", "reliability"),
            ("input.encoding", "encoding"),
        ):
            q = f"{spec.region} {key.replace('_s', ' (s)').replace('_', ' ')}"
            values[e] = (q, lambda f, p, key=key: region_state(cfg, spec.region, p, f)[key])
    if spec.experiment == "all_optical":
        m1pop = draw_m1_population(_rng(cfg, spec, 0, _CIRCUIT), cfg)
        encoders = m1pop.encoding_expert > 0

        def frac(f, p):
            return float(m1_properties(m1pop, cfg, p, f)["movement_related"].mean())

        def contrast(f, p):
            w = m1_properties(m1pop, cfg, p, f)["thalamic_weight"]
            return float(w[encoders].mean() - w[~encoders].mean()) if encoders.any() else np.nan

        values["m1.encoding"] = ("fraction of movement-encoding neurons", frac)
        values["m1.refinement"] = (
            "thalamic weight of expert-encoding neurons minus the others",
            contrast,
        )
    rows = []
    for e, (q, fn) in values.items():
        if not e.startswith(_EXPERIMENT_EFFECTS[spec.experiment]):
            continue
        naive = fn(fx, 0.0)
        ex_pop, ex_mouse = fn(pop, 1.0), fn(fx, 1.0)
        rows.append(
            dict(
                mouse=spec.mouse,
                experiment=spec.experiment,
                region=spec.region,
                effect=e,
                switch=EFFECTS[e],
                switch_on=bool(getattr(cfg.effects, EFFECTS[e])),
                z=fx.z[e],
                multiplier=fx.k[e],
                quantity=q,
                naive=naive,
                expert_population=ex_pop,
                expert_mouse=ex_mouse,
                change_population=ex_pop - fn(pop, 0.0),
                change_mouse=ex_mouse - naive,
            )
        )
    return pd.DataFrame(rows)


def session_progress(cfg: SimulationConfig, spec: MouseSpec, session: int) -> float:
    return learning_progress(session, cfg.learning.n_days, mouse_tau(cfg, spec))


def template_table(cfg: SimulationConfig, spec: MouseSpec, rate_hz: float = 100.0) -> pd.DataFrame:
    """The mouse's learned trajectory: columns mouse, t (s since onset), position (mm)."""
    tpl = mouse_template(_rng(cfg, spec, 0, _TEMPLATE), cfg.behavior)
    t = np.arange(int(np.ceil(tpl.duration * rate_hz)) + 1) / rate_hz
    return pd.DataFrame({"mouse": spec.mouse, "t": t, "position": tpl(t)})


def simulate_session(
    cfg: SimulationConfig,
    experiment: str,
    mouse_index: int,
    session: int,
    return_traces: bool = False,
) -> tuple[Session, dict]:
    """Simulate one session of one mouse in memory.

    Parameters
    ----------
    cfg : SimulationConfig
    experiment : {"axon_imaging", "all_optical", "inactivation"}
    mouse_index : int
        Index of the mouse within its experiment (order of :func:`cohort_design`).
    session : int
        Training session number (1-based; need not be in the config's session list).
    return_traces : bool
        Also return the noise-free dF/F and spike counts under ``truth["traces"]`` (a dict of
        arrays ``dff``, ``spikes``, frames x ROIs float32).

    Returns
    -------
    session : Session
        Lever, trials, imaging (F and Fneu only; ``dff`` is None) and stimulation.
    truth : dict of DataFrames
        ``rois``, ``trials``, ``movements``, ``sessions`` (one row) and ``templates``.
    """
    spec = find_mouse(cfg, experiment, mouse_index)
    if not 1 <= session <= cfg.learning.n_days:
        raise ValueError(f"session {session}: expected 1..{cfg.learning.n_days}")
    p = session_progress(cfg, spec, session)
    fx = mouse_effects(cfg, spec)
    template = mouse_template(_rng(cfg, spec, 0, _TEMPLATE), cfg.behavior)
    mp = cfg.measurement
    keys = dict(mouse=spec.mouse, session=session)

    # photostimulation block after the task (all-optical): drawn first, its length extends
    # the recording
    pulses = np.zeros((0, 3))
    stim_len = 0.0
    if experiment == "all_optical":
        m1p = cfg.m1
        rs = _rng(cfg, spec, session, _STIM)
        isi = rs.uniform(m1p.isi_min_s, m1p.isi_max_s, m1p.n_pulses)
        offsets = m1p.gap_before_stim_s + np.concatenate([[0.0], np.cumsum(isi[:-1])])
        stim_len = (offsets[-1] + isi[-1]) if m1p.n_pulses else 0.0
        pulses = np.stack(
            [
                offsets,
                np.full(m1p.n_pulses, m1p.pulse_duration_s),
                np.full(m1p.n_pulses, m1p.power_mw),
            ],
            axis=1,
        )

    light_fraction = cfg.inactivation.light_fraction if experiment == "inactivation" else 0.0
    beh = simulate_behavior(
        _rng(cfg, spec, session, _BEHAVIOR),
        cfg,
        template,
        p,
        light_fraction=light_fraction,
        extra_s=stim_len,
        effects=fx,
    )
    if len(pulses):
        pulses[:, 0] += beh.task_end

    info = SessionInfo(
        mouse=spec.mouse,
        session=session,
        experiment=experiment,
        region=spec.region,
        indicator=mp.indicator.name,
        frame_rate=mp.frame_rate_hz if experiment != "inactivation" else float("nan"),
        opsin=(
            cfg.m1.opsin
            if experiment == "all_optical" and spec.opsin
            else cfg.inactivation.opsin
            if experiment == "inactivation"
            else "none"
        ),
        session_start_time=(_START + _dt.timedelta(days=session - 1)).isoformat(),
        description=f"simulated {experiment} session (thalamocortex in-silico experiment)",
    )
    lever = Lever(beh.lever, beh.rate, "mm", 0.0)

    truth_trials = beh.truth_trials.assign(**keys)
    truth_movements = movement_table(beh.movements).assign(**keys)
    session_row = dict(
        mouse=spec.mouse,
        session=session,
        experiment=experiment,
        region=spec.region,
        learning_progress=p,
        stage=stage_of(p, cfg),
        opsin=spec.opsin,
        duration_s=beh.duration,
        n_trials=len(beh.trials),
        **beh.summary,
    )
    rois = pd.DataFrame()
    traces = None
    imaging = None
    stimulation = None

    if experiment == "inactivation":
        ip = cfg.inactivation
        w = beh.light_windows
        stimulation = Stimulation(
            pd.DataFrame(
                {
                    "start_time": w[:, 0],
                    "duration": w[:, 1] - w[:, 0],
                    "power": np.full(len(w), ip.power_mw),
                    "target": "MTh axons in M1, inactivation",
                }
            ),
            wavelength_nm=ip.wavelength_nm,
            site_description="MTh axons in M1 (cranial window)",
            device="inactivation laser",
        )
    else:
        fr = mp.frame_rate_hz
        times = np.arange(int(np.floor(beh.duration * fr))) / fr
        rn = _rng(cfg, spec, session, _NEURAL)
        if experiment == "axon_imaging":
            field = draw_axon_field(_rng(cfg, spec, 0, _CIRCUIT), cfg, spec.region)
            props = axon_properties(field, cfg, p, fx)
            rates = axon_rates(rn, field, props, cfg, times, beh.movements)
            axon_spikes = spike_counts(rn, rates, fr)
            ap = cfg.axon_imaging
            b_axon = field.bouton_axon
            extra = spike_counts(rn, ap.bouton_spike_fraction * rates[:, b_axon], fr)
            spikes = axon_spikes[:, b_axon] + extra
            dff = field.bouton_gain * calcium_dff(spikes, mp.indicator, fr)
            dff += ou_process(rn, len(times), len(b_axon), ap.bouton_noise_dff, 0.5 * fr)
            n_rois = len(b_axon)
            roi_type = np.full(n_rois, "bouton")
            rois = pd.DataFrame(
                {
                    "roi_index": np.arange(n_rois),
                    "roi_name": [f"bouton{j:04d}" for j in range(n_rois)],
                    "roi_type": "bouton",
                    "axon_id": b_axon.astype(np.int64),
                    "movement_related": props["movement_related"][b_axon],
                    "quiescence_related": props["quiescence_related"][b_axon],
                    "lag_s": props["lag_s"][b_axon],
                    "reliability": props["reliability"][b_axon],
                    "encoding": props["encoding"][b_axon],
                    "thalamic_weight": np.nan,
                    "expected_response": None,
                    "opsin": False,
                }
            )
            session_row.update(
                {k: v for k, v in props.items() if k.startswith("region_")},
                n_axons=field.n_axons,
                n_boutons=n_rois,
                axon_movement_fraction=float(props["movement_related"].mean()),
            )
            light = None
        else:
            pop = draw_m1_population(_rng(cfg, spec, 0, _CIRCUIT), cfg)
            props = m1_properties(pop, cfg, p, fx)
            rates = m1_rates(rn, pop, props, cfg, times, beh.movements, pulses, spec.opsin)
            spikes = spike_counts(rn, rates, fr)
            dff = calcium_dff(spikes, mp.indicator, fr)
            n_rois = len(pop.baseline_hz)
            roi_type = np.full(n_rois, "soma")
            expected = props["expected_response"] if spec.opsin else np.full(n_rois, "none")
            rois = pd.DataFrame(
                {
                    "roi_index": np.arange(n_rois),
                    "roi_name": [f"cell{j:04d}" for j in range(n_rois)],
                    "roi_type": "soma",
                    "axon_id": -1,
                    "movement_related": props["movement_related"],
                    "quiescence_related": props["quiescence_related"],
                    "lag_s": props["lag_s"],
                    "reliability": props["reliability"],
                    "encoding": props["encoding"],
                    "thalamic_weight": props["thalamic_weight"],
                    "expected_response": expected.astype(object),
                    "opsin": spec.opsin,
                }
            )
            session_row.update(
                n_neurons=n_rois,
                fraction_encoding=float(props["movement_related"].mean()),
                fraction_expected_activated=float(np.mean(expected == "activated")),
                fraction_expected_suppressed=float(np.mean(expected == "suppressed")),
            )
            light = np.stack([pulses[:, 0], pulses[:, 0] + pulses[:, 1]], axis=1)
            m1p = cfg.m1
            stimulation = Stimulation(
                pd.DataFrame(
                    {
                        "start_time": pulses[:, 0],
                        "duration": pulses[:, 1],
                        "power": pulses[:, 2],
                        "target": "MTh axons in M1, photostimulation",
                    }
                ),
                wavelength_nm=m1p.wavelength_nm,
                site_description="MTh axons in the imaged M1 field",
                device="photostimulation laser",
            )
        meas = measure(_rng(cfg, spec, session, _MEASURE), dff, times, mp, roi_type, light)
        imaging = Imaging(
            rois=pd.DataFrame(
                {"roi_name": rois["roi_name"], "roi_type": rois["roi_type"], "region": spec.region}
            ),
            F=meas["F"],
            Fneu=meas["Fneu"],
            frame_times=times,
        )
        # one field of view per mouse: the same footprints every session (tracked cells)
        from thalamocortex.simulate.movies import plane_footprints

        axon_ids = rois["axon_id"].to_numpy() if "axon_id" in rois else None
        imaging.footprints, fov = plane_footprints(
            rois["roi_type"].to_numpy(), axon_ids, seed=_rng(cfg, spec, 0, _FIELD)
        )
        imaging.image_shape = (fov.height_px, fov.width_px)
        rois = rois.assign(F0=meas["F0"], neuropil_coef=meas["neuropil_coef"])
        session_row["n_artefact_frames"] = int(meas["artefact"].sum())
        if return_traces:
            traces = dict(
                dff=dff.astype(np.float32),
                spikes=spikes.astype(np.float32),
                artefact=meas["artefact"],
            )

    if len(rois):
        rois.insert(0, "mouse", spec.mouse)
        rois.insert(1, "session", session)
        rois.insert(2, "experiment", experiment)
        rois.insert(3, "region", spec.region)
    sess = Session(
        info=info, lever=lever, trials=beh.trials, imaging=imaging, stimulation=stimulation
    )
    truth = dict(
        rois=rois,
        trials=truth_trials[
            [
                "mouse",
                "session",
                "trial",
                "cue_time",
                "engaged",
                "movement_onset",
                "movement_offset",
                "reaction_time",
                "template_weight",
                "light",
                "outcome",
                "reward_time",
            ]
        ],
        movements=truth_movements[
            ["mouse", "session", "kind", "onset", "offset", "trial", "template_weight"]
        ],
        sessions=pd.DataFrame([session_row]),
        templates=template_table(cfg, spec),
    )
    if traces is not None:
        truth["traces"] = traces
    return sess, truth


# ----------------------------------------------------------------------------- writing
def _simulate_and_write(
    cfg: SimulationConfig, spec: MouseSpec, session: int, out_dir: Path
) -> dict[str, pd.DataFrame]:
    """Simulate one session, write its NWB file (and true traces) atomically, return truth."""
    from thalamocortex.data.layout import session_path
    from thalamocortex.data.nwb import write_session

    sess, truth = simulate_session(
        cfg, spec.experiment, spec.mouse_index, session, return_traces=cfg.save_true_traces
    )
    path = Path(session_path(out_dir, spec.mouse, session))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_session(sess, path, overwrite=True)  # itself atomic (temporary name, then rename)
    if "traces" in truth:
        tr = truth.pop("traces")
        write_arrays(out_dir / "ground_truth" / "traces" / f"{sess.id}.npz", **tr)
    return truth


def simulate_cohort(
    cfg: SimulationConfig,
    out_dir: str | Path,
    progress: bool = True,
    experiments: list[str] | None = None,
    n_workers: int = 1,
) -> Path:
    """Simulate the whole cohort and write it as a dataset with its ground truth.

    Writes ``out_dir/sub-<mouse>/sub-<mouse>_ses-<n>.nwb`` (via
    :func:`thalamocortex.data.nwb.write_session`, each file written under a temporary name and
    renamed) and ``out_dir/ground_truth/`` with ``rois``, ``trials``, ``movements``, ``sessions``,
    ``templates`` and ``mice`` (each mouse's own learning-related changes, :func:`mouse_truth`;
    Parquet), ``cohort.yaml`` (config, seed, package version) and, when
    ``cfg.save_true_traces``, ``traces/<session_id>.npz`` (noise-free ``dff`` and ``spikes``,
    frames x ROIs float32, and the ``artefact`` frame mask).

    Parameters
    ----------
    cfg : SimulationConfig
    out_dir : path of the dataset folder (created)
    progress : show a progress bar over sessions
    experiments : subset of ``cfg.experiments`` to simulate (default: all of them)
    n_workers : sessions simulated and written in parallel processes (1 = in this process).
        Results are identical for any value: every session has its own seeds.

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    import yaml
    from tqdm.auto import tqdm

    from thalamocortex import __version__

    if n_workers < 1:
        raise ValueError(f"simulate_cohort: n_workers must be >= 1, got {n_workers}")
    out_dir = Path(out_dir)
    gt = out_dir / "ground_truth"
    gt.mkdir(parents=True, exist_ok=True)
    if cfg.save_true_traces:
        (gt / "traces").mkdir(exist_ok=True)
    mice = cohort_design(cfg, experiments)
    jobs = [(m, s) for m in mice for s in m.sessions]
    bar = tqdm(total=len(jobs), desc="simulating sessions", disable=not progress, unit="session")
    results: list[dict[str, pd.DataFrame] | None] = [None] * len(jobs)
    if n_workers == 1:
        for i, (spec, s) in enumerate(jobs):
            results[i] = _simulate_and_write(cfg, spec, s, out_dir)
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            futures = {
                pool.submit(_simulate_and_write, cfg, spec, s, out_dir): i
                for i, (spec, s) in enumerate(jobs)
            }
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update()
    bar.close()
    # assemble in job order, so the tables do not depend on scheduling
    tables: dict[str, list[pd.DataFrame]] = {
        k: [] for k in ("rois", "trials", "movements", "sessions")
    }
    templates = []
    seen = set()
    for (spec, _), truth in zip(jobs, results):
        for k in tables:
            if len(truth[k]):
                tables[k].append(truth[k])
        if spec.mouse not in seen:
            seen.add(spec.mouse)
            templates.append(truth["templates"])
    for k, frames in tables.items():
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        atomic_write(gt / f"{k}.parquet", partial(df.to_parquet, index=False))
    templates_df = pd.concat(templates, ignore_index=True) if templates else pd.DataFrame()
    atomic_write(gt / "templates.parquet", partial(templates_df.to_parquet, index=False))
    mice_df = pd.concat([mouse_truth(cfg, m) for m in mice], ignore_index=True)
    atomic_write(gt / "mice.parquet", partial(mice_df.to_parquet, index=False))
    meta = dict(
        seed=cfg.seed,
        package_version=__version__,
        experiments=sorted({m.experiment for m in mice}),
        config=cfg.model_dump(mode="json"),
    )
    text = yaml.safe_dump(meta, sort_keys=False)
    atomic_write(gt / "cohort.yaml", lambda p: p.write_text(text))
    return out_dir
