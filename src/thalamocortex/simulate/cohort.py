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
from thalamocortex.simulate.activity import Indicator, burn_in_frames, spike_counts
from thalamocortex.simulate.behavior import (
    behavior_state,
    learning_progress,
    mouse_template,
    movement_table,
    moving_mask,
    simulate_behavior,
    stage_of,
    submovement_table,
)
from thalamocortex.simulate.circuits import (
    AxonPopulation,
    axon_properties,
    axon_spikes,
    background_spikes,
    bouton_spikes,
    draw_axon_population,
    input_drive,
    private_gain,
    private_latents,
    region_state,
)
from thalamocortex.simulate.effects import EFFECTS, MouseEffects
from thalamocortex.simulate.fov import Field, draw_field
from thalamocortex.simulate.m1 import (
    M1Circuit,
    draw_circuit,
    effective_loadings,
    expected_pulse_response,
    inactivation_perturbation,
    input_activity,
    m1_rates,
    movement_modulation,
    net_input,
    net_thalamic_weight,
    output,
    photostim_drive,
    readout,
    training_day,
    weights_by_day,
)
from thalamocortex.simulate.measurement import measure_traces
from thalamocortex.simulate.motor import MouseMotor, Movement, population_plan
from thalamocortex.simulate.params import SIM_EXPERIMENTS, SimulationConfig
from thalamocortex.simulate.scene import Scene, neuropil_signals, session_gain

# streams of a mouse (session 0) and of a session (training day d of the plasticity: session d)
_TEMPLATE, _LEARNING, _CIRCUIT, _FIELD = 0, 1, 2, 3
_BEHAVIOR, _NEURAL, _MEASURE, _STIM, _LATENT, _INACT, _TRUTH, _TRAIN = 0, 1, 2, 3, 4, 5, 6, 7
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


def inactivated_region(cfg: SimulationConfig) -> str:
    """The region whose input to M1 light silences in the inactivation cohort."""
    return cfg.inactivation.region or cfg.circuit.thalamic_region


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
        region = inactivated_region(cfg)
        for k in range(ip.n_mice):
            mice.append(
                MouseSpec("inactivation", k, f"inact{k + 1:02d}", region, True, tuple(ip.sessions))
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


def session_progress(cfg: SimulationConfig, spec: MouseSpec, session: int) -> float:
    return learning_progress(session, cfg.learning.n_days, mouse_tau(cfg, spec))


def mouse_motor(cfg: SimulationConfig, spec: MouseSpec) -> MouseMotor:
    """The mouse's motor system: the shared naive plan and its own learned plan, the cohort's
    population plan made idiosyncratic."""
    pop = population_plan(cfg.behavior.motor, cfg.seed)
    return mouse_template(_rng(cfg, spec, 0, _TEMPLATE), cfg.behavior, pop)


def template_table(cfg: SimulationConfig, spec: MouseSpec, rate_hz: float = 100.0) -> pd.DataFrame:
    """The mouse's learned movement without trial variability (its learned plan): columns
    mouse, t (s since onset), position (mm)."""
    t, x = mouse_motor(cfg, spec).template(rate_hz)
    return pd.DataFrame({"mouse": spec.mouse, "t": t, "position": x})


def mouse_axons(cfg: SimulationConfig, spec: MouseSpec) -> AxonPopulation:
    """The mouse's imaged axons and boutons (the same every session)."""
    return draw_axon_population(_rng(cfg, spec, 0, _CIRCUIT), cfg, spec.region)


def mouse_circuit(cfg: SimulationConfig, spec: MouseSpec) -> M1Circuit:
    """The mouse's M1 circuit (the same neurons and inputs every session)."""
    return draw_circuit(_rng(cfg, spec, 0, _CIRCUIT), cfg)


def circuit_weights(
    cfg: SimulationConfig,
    spec: MouseSpec,
    last_day: int,
    effects: MouseEffects | None = None,
    circ: M1Circuit | None = None,
) -> list[np.ndarray]:
    """The mouse's thalamic weights W at the start of days 1..last_day (refined by the
    reward-gated covariance rule on the days before; m1.py), with its own multipliers (or
    ``effects``)."""
    fx = effects if effects is not None else mouse_effects(cfg, spec)
    circ = circ if circ is not None else mouse_circuit(cfg, spec)
    tau = mouse_tau(cfg, spec)
    key = (
        cfg.model_dump_json(),
        spec.experiment,
        spec.mouse_index,
        tuple(sorted(fx.k.items())),
    )
    return weights_by_day(
        circ,
        cfg,
        mouse_motor(cfg, spec),
        fx,
        lambda d: learning_progress(d, cfg.learning.n_days, tau),
        lambda d: _rng(cfg, spec, d, _TRAIN),
        last_day,
        key,
    )


#: effects that act in each experiment (the others are drawn but have no consequence)
_EXPERIMENT_EFFECTS = {
    "axon_imaging": ("behavior.", "input."),
    "all_optical": ("behavior.", "input.", "m1."),
    "inactivation": ("behavior.", "input.", "m1.", "inactivation."),
}


def _refinement_contrast(
    cfg: SimulationConfig, spec: MouseSpec, fx: MouseEffects
) -> tuple[float, float]:
    """Row sum of W of the neurons the last training day's expected activity makes
    movement-related minus the others' (naive: at day 1, expert: at the last day)."""
    circ = mouse_circuit(cfg, spec)
    n = cfg.learning.n_days
    ws = circuit_weights(cfg, spec, n, fx, circ)
    tau = mouse_tau(cfg, spec)
    day = training_day(
        _rng(cfg, spec, n, _TRAIN),
        circ,
        cfg,
        mouse_motor(cfg, spec),
        learning_progress(n, n, tau),
        fx,
    )
    y = output(net_input(circ, cfg, ws[-1], day.inputs.thalamic, day.inputs.cortical), cfg)
    onsets = day.times[:: int(round(3.5 / 0.05))] + 0.5
    mod = movement_modulation(y, day.times, onsets)
    related = mod >= cfg.m1.encoding_threshold
    if related.all() or not related.any():
        # no neuron (or every neuron) passes the threshold, e.g. a null mouse: split at the
        # median modulation so that the contrast stays defined (0 change when W never changes)
        related = mod > np.median(mod)
    if related.all() or not related.any():
        return 0.0, 0.0
    return tuple(
        float(w.sum(axis=1)[related].mean() - w.sum(axis=1)[~related].mean())
        for w in (ws[0], ws[-1])
    )


def mouse_truth(cfg: SimulationConfig, spec: MouseSpec) -> pd.DataFrame:
    """Each effect acting on the mouse, with its population and its own naive->expert change.

    One row per effect: ``mouse, experiment, region, effect, switch, switch_on, z,
    multiplier, quantity`` (what ``naive``/``expert_*`` measure), ``naive``,
    ``expert_population``, ``expert_mouse``, ``change_population`` and ``change_mouse``
    (expert - naive, at learning progress 0 and 1). ``change_mouse`` is the truth a
    mouse-level test estimates; in a null cohort ``change_population`` is 0. Input effects
    of the circuit's mice describe their thalamic population; ``m1.refinement`` is the row-sum
    contrast of W between the neurons the expert circuit makes movement-related and the others
    (split at the median modulation when none or all are).
    """
    fx = mouse_effects(cfg, spec)
    pop = MouseEffects.population(cfg)
    values: dict[str, tuple[str, object]] = {}  # effect -> (quantity, function of effects)
    beh = {
        "behavior.learned_plan": (
            "motor plan stage (0 naive plan, 1 own learned plan)",
            "plan_stage",
        ),
        "behavior.motor_variability": ("trial-to-trial motor variability scale", "variability"),
        "behavior.reaction_time": ("median reaction time (s)", "rt_median_s"),
        "behavior.engagement": ("probability of responding to a cue", "p_engage"),
        "behavior.spontaneous_rate": ("spontaneous movement rate (Hz)", "spont_rate_hz"),
        "inactivation.efficacy": ("fraction of the inactivated region's axons silenced", ""),
    }
    for e, (q, key) in beh.items():
        if key:
            values[e] = (q, lambda f, p, key=key: behavior_state(cfg, p, f)[key])
        else:
            values[e] = (q, lambda f, p: behavior_state(cfg, 1.0, f)["inactivation_loss"] * p)
    region = spec.region if spec.experiment == "axon_imaging" else cfg.circuit.thalamic_region
    for e, key in (
        ("input.movement_fraction", "movement_fraction"),
        ("input.lag", "lag_s"),
        ("input.reliability", "reliability"),
        ("input.encoding", "encoding"),
    ):
        q = f"{region} {key.replace('_s', ' (s)').replace('_', ' ')}"
        values[e] = (q, lambda f, p, key=key: region_state(cfg, region, p, f)[key])
    if spec.experiment in ("all_optical", "inactivation"):
        contrast: dict = {}  # id of the effects -> (naive, expert): one plasticity run each

        def refinement(f: MouseEffects, p: float) -> float:
            if id(f) not in contrast:
                contrast[id(f)] = _refinement_contrast(cfg, spec, f)
            return contrast[id(f)][int(p >= 1.0)]

        values["m1.refinement"] = (
            "thalamic weight (row sum of W) of the neurons the expert circuit makes "
            "movement-related minus the others",
            refinement,
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


_FIELDS: dict = {}


def mouse_field(cfg: SimulationConfig, spec: MouseSpec) -> Field:
    """The mouse's field of view (the same every session; cached for the last few mice)."""
    if spec.experiment == "axon_imaging":
        b_axon = mouse_axons(cfg, spec).bouton_axon
        types, axons = np.full(len(b_axon), "bouton"), b_axon
    else:
        types, axons = np.full(cfg.m1.n_neurons, "soma"), None
    key = (
        cfg.field.model_dump_json(),
        cfg.seed,
        spec.experiment,
        spec.mouse_index,
        len(types),
        None if axons is None else axons.tobytes(),
    )
    if key not in _FIELDS:
        if len(_FIELDS) >= 4:
            _FIELDS.pop(next(iter(_FIELDS)))
        _FIELDS[key] = draw_field(types, axons, cfg.field, _rng(cfg, spec, 0, _FIELD))
    return _FIELDS[key]


def latent_on_clock(movements: list[Movement], times: np.ndarray, n_latents: int) -> np.ndarray:
    """The executed motor latent sampled at ``times``, array (n, n_latents) float32 (0 at
    rest)."""
    out = np.zeros((len(times), n_latents), dtype=np.float32)
    for m in movements:
        f0, f1 = np.searchsorted(times, [m.onset, m.offset])
        if f1 > f0:
            out[f0:f1] += m.latent(times[f0:f1] - m.onset).astype(np.float32)
    return out


def _loading_columns(prefix: str, values: np.ndarray) -> dict[str, np.ndarray]:
    return {f"{prefix}{d}": values[:, d] for d in range(values.shape[1])}


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
        Also return, under ``truth["traces"]``, the noise-free dF/F, spike counts, the motor
        latent on the frame clock, the M1 circuit's output (all-optical), the axons' realised
        drive (axon imaging, frames x axons) and the artefact mask (arrays ``dff``,
        ``spikes``, ``latent``, ``circuit_output``, ``axon_drive``, ``artefact``), and under
        ``truth["scene"]`` the session's :class:`~.scene.Scene` (what raw movies render).

    Returns
    -------
    session : Session
        Lever, trials, imaging (F and Fneu only; ``dff`` is None) and stimulation.
    truth : dict
        DataFrames ``rois`` (with every unit's loadings on the shared and private latents),
        ``trials``, ``movements``, ``submovements``, ``sessions`` (one row) and
        ``templates``; arrays ``latents`` (``times``, ``shared``: the executed motor latent in
        mm, frames x D, ``private``: frames x n_private, on the frame clock; inactivation
        sessions on a clock at the measurement frame rate) and, for circuit mice,
        ``circuit`` (``W``, ``W_naive``, the thalamic axons' properties, the cortical weights,
        the readout).
    """
    spec = find_mouse(cfg, experiment, mouse_index)
    if not 1 <= session <= cfg.learning.n_days:
        raise ValueError(f"session {session}: expected 1..{cfg.learning.n_days}")
    p = session_progress(cfg, spec, session)
    fx = mouse_effects(cfg, spec)
    motor = mouse_motor(cfg, spec)
    mp = cfg.measurement
    keys = dict(mouse=spec.mouse, session=session)
    lp = cfg.latents
    s_press = cfg.behavior.motor.press_peak_mm

    # the circuit of all-optical and inactivation mice: W refined over the days before
    circ = None
    circuit_truth: dict = {}
    perturb = None
    w = None
    if experiment in ("all_optical", "inactivation"):
        circ = mouse_circuit(cfg, spec)
        ws = circuit_weights(cfg, spec, session, fx, circ)
        w = ws[session - 1]
        thal_props = None
        circuit_truth = dict(
            W=w.astype(np.float32),
            W_naive=circ.w_naive.astype(np.float32),
            thalamic_opsin=circ.opsin,
            thalamic_loadings=circ.thalamic.loadings,
            thalamic_private_loadings=circ.thalamic.private,
            iota=circ.iota,
            **{f"kappa_{r}": k for r, k in circ.kappa.items()},
        )
        if experiment == "inactivation":
            day = training_day(_rng(cfg, spec, session, _TRAIN), circ, cfg, motor, p, fx)
            d, r2 = readout(circ, cfg, w, day)
            loss = behavior_state(cfg, p, fx)["inactivation_loss"]
            perturb = inactivation_perturbation(
                _rng(cfg, spec, session, _INACT),
                circ,
                cfg,
                w,
                d,
                p,
                fx,
                loss,
                inactivated_region(cfg),
            )
            circuit_truth.update(readout=d.astype(np.float32), readout_r2=np.float64(r2))

    # photostimulation block after the task (all-optical): drawn first, its length extends
    # the recording
    pulses = np.zeros((0, 3))
    stim_len = 0.0
    rs = _rng(cfg, spec, session, _STIM)
    if experiment == "all_optical" and cfg.m1.n_pulses > 0:
        m1p = cfg.m1
        isi = rs.uniform(m1p.isi_min_s, m1p.isi_max_s, m1p.n_pulses)
        offsets = m1p.gap_before_stim_s + np.concatenate([[0.0], np.cumsum(isi[:-1])])
        stim_len = offsets[-1] + isi[-1]
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
        motor,
        p,
        light_fraction=light_fraction,
        extra_s=stim_len,
        effects=fx,
        perturb=perturb,
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
    truth_sub = submovement_table(beh.movements).assign(**keys)
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
    scene = None
    imaging = None
    stimulation = None

    # the latents of the session on the frame clock (the measurement's rate for behaviour-only
    # sessions): the executed motor latent (shared) and the mouse's private latents
    fr = mp.frame_rate_hz
    times = np.arange(int(np.floor(beh.duration * fr))) / fr
    zeta = private_latents(_rng(cfg, spec, session, _LATENT), len(times), lp, fr)
    latent = latent_on_clock(beh.movements, times, cfg.behavior.motor.n_latents)
    latents = dict(times=times, shared=latent, private=zeta)

    if experiment == "inactivation":
        ip = cfg.inactivation
        wdw = beh.light_windows
        stimulation = Stimulation(
            pd.DataFrame(
                {
                    "start_time": wdw[:, 0],
                    "duration": wdw[:, 1] - wdw[:, 0],
                    "power": np.full(len(wdw), ip.power_mw),
                    "target": f"{inactivated_region(cfg)} axons in M1, inactivation",
                }
            ),
            wavelength_nm=ip.wavelength_nm,
            site_description=f"{inactivated_region(cfg)} axons in M1 (cranial window)",
            device="inactivation laser",
        )
        session_row.update(
            silenced_fraction=behavior_state(cfg, p, fx)["inactivation_loss"],
            readout_r2=float(circuit_truth["readout_r2"]),
        )
    else:
        rn = _rng(cfg, spec, session, _NEURAL)
        field = mouse_field(cfg, spec)
        ind = Indicator(mp.indicator)
        burn = burn_in_frames(mp.indicator, fr, np.exp(2 * mp.indicator.cell_decay_sd))
        oof_dff = np.zeros((len(times), 0), dtype=np.float32)
        shaft_dff = np.zeros((len(times), 0), dtype=np.float32)
        light = None
        y = None
        axon_drive = None
        if experiment == "axon_imaging":
            pop = mouse_axons(cfg, spec)
            props = axon_properties(pop, cfg, p, fx)
            drives: dict = {}
            axon_counts = axon_spikes(rn, pop, props, cfg, times, beh.movements, zeta, burn, drives)
            axon_drive = drives.pop("drive")
            spikes = bouton_spikes(rn, axon_counts, pop, cfg)
            b_axon = pop.bouton_axon
            dff = ind.dff(spikes, fr, pop.bouton_gain, pop.axon_decay[b_axon])[burn:]
            spikes = spikes[burn:]
            # the visible axon shafts carry their axon's calcium (one shaft per axon)
            axons_in_field = pd.unique(b_axon)
            shaft_dff = ind.dff(
                axon_counts[:, axons_in_field], fr, None, pop.axon_decay[axons_in_field]
            )[burn:]
            n_rois = len(b_axon)
            # what each axon carries: least-squares loadings of its expected (noise-free) drive
            # on z / s during movements, like the M1 neurons' (the generative loading l_j alone
            # misses the part of the condition-invariant response that follows z)
            drive = input_drive(None, pop.units, props, cfg, times, beh.movements)
            moving_f = moving_mask(beh.movements, times)
            load = effective_loadings(drive, latent / s_press, moving_f)[b_axon]
            del drive
            priv = lp.private_sd * pop.units.private[b_axon]
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
                    "silent": pop.rates["silent"][b_axon],
                    "isolated_rate_hz": pop.rates["isolated_hz"][b_axon],
                    "burst_rate_hz": pop.rates["burst_hz"][b_axon],
                    **_loading_columns("loading_shared", load),
                    **_loading_columns("loading_private", priv),
                }
            )
            session_row.update(
                {k: v for k, v in props.items() if k.startswith("region_")},
                n_axons=pop.n_axons,
                n_boutons=n_rois,
                axon_movement_fraction=float(props["movement_related"].mean()),
            )
        else:
            # nuclear-filled (unhealthy) cells of the field fire half as much
            scale = np.where(field.filled, 0.5, 1.0)
            rates = {k: (v * scale if k != "silent" else v) for k, v in circ.rates.items()}
            inp = input_activity(rn, circ, cfg, p, fx, times, beh.movements)
            thal_props = inp.thalamic_props
            a = inp.thalamic
            if spec.opsin and len(pulses):
                a = a + photostim_drive(rs, circ, cfg, times, pulses)
            y = output(net_input(circ, cfg, w, a, inp.cortical), cfg)
            gain = private_gain(zeta, circ.private, lp.private_sd)
            iso, bur, size = m1_rates(circ, cfg, y, gain, rates)
            counts = spike_counts(rn, iso, bur, size, cfg.m1.spiking, fr, burn)
            del iso, bur, size, gain
            dff = ind.dff(counts, fr, circ.calcium_amplitude, circ.calcium_decay)[burn:]
            spikes = counts[burn:]
            oof_counts = background_spikes(
                rn, cfg.m1.spiking, field.n_oof, times, beh.movements, fr, burn_in=burn
            )
            amp, dec = ind.cell_factors(rn, field.n_oof)
            oof_dff = ind.dff(oof_counts, fr, amp, dec)[burn:]
            n_rois = circ.n_neurons
            cued = beh.truth_trials["movement_onset"].to_numpy()
            mod = movement_modulation(y, times, cued)
            thr = cfg.m1.encoding_threshold
            moving = moving_mask(beh.movements, times)
            load = effective_loadings(y, latent / s_press, moving)
            rois = pd.DataFrame(
                {
                    "roi_index": np.arange(n_rois),
                    "roi_name": [f"cell{j:04d}" for j in range(n_rois)],
                    "roi_type": "soma",
                    "axon_id": -1,
                    "movement_related": mod >= thr,
                    "quiescence_related": mod <= -thr,
                    "lag_s": np.nan,
                    "reliability": np.nan,
                    "encoding": mod,
                    "thalamic_weight": net_thalamic_weight(circ, cfg, w),
                    "thalamic_input": w.sum(axis=1),
                    "thalamic_input_naive": circ.w_naive.sum(axis=1),
                    "expected_response": "none",
                    "expected_effect_z": np.nan,
                    "opsin": spec.opsin,
                    "silent": circ.rates["silent"],
                    "filled": field.filled,
                    "isolated_rate_hz": rates["isolated_hz"],
                    "burst_rate_hz": rates["burst_hz"],
                    **_loading_columns("loading_shared", load),
                    **_loading_columns("loading_private", lp.private_sd * circ.private),
                    **{f"cortical_weight_{r}": k for r, k in circ.kappa.items()},
                }
            )
            session_row.update(
                n_neurons=n_rois,
                fraction_encoding=float(np.mean(mod >= thr)),
                thalamic_movement_fraction=float(thal_props["movement_related"].mean()),
            )
            light = np.stack([pulses[:, 0], pulses[:, 0] + pulses[:, 1]], axis=1)
            m1p = cfg.m1
            stimulation = Stimulation(
                pd.DataFrame(
                    {
                        "start_time": pulses[:, 0],
                        "duration": pulses[:, 1],
                        "power": pulses[:, 2],
                        "target": f"{cfg.circuit.thalamic_region} axons in M1, photostimulation",
                    }
                ),
                wavelength_nm=m1p.wavelength_nm,
                site_description=f"{cfg.circuit.thalamic_region} axons in the imaged M1 field",
                device="photostimulation laser",
            )
            circuit_truth.update(
                thalamic_movement_related=thal_props["movement_related"],
                thalamic_lag_s=thal_props["lag_s"],
                thalamic_reliability=thal_props["reliability"],
                thalamic_encoding=thal_props["encoding"],
            )
        rm = _rng(cfg, spec, session, _MEASURE)
        moving = moving_mask(beh.movements, times)
        np_dff, patch_dff = neuropil_signals(rm, times, moving, dff, field.patch_maps.shape[0], mp)
        scene = Scene(
            field=field,
            frame_times=times,
            roi_dff=dff.astype(np.float32),
            oof_dff=oof_dff.astype(np.float32),
            shaft_dff=shaft_dff.astype(np.float32),
            neuropil_dff=np_dff,
            patch_dff=patch_dff,
            gain=session_gain(rm, times, mp),
            neuropil_photons=mp.neuropil_photons(fr)
            * (mp.axon_field_photon_scale if experiment == "axon_imaging" else 1.0),
            light_windows=np.zeros((0, 2)) if light is None else light,
            measurement=mp,
        )
        meas = measure_traces(rm, scene)
        imaging = Imaging(
            rois=pd.DataFrame(
                {"roi_name": rois["roi_name"], "roi_type": rois["roi_type"], "region": spec.region}
            ),
            F=meas["F"],
            Fneu=meas["Fneu"],
            frame_times=times,
        )
        # one field of view per mouse: the same footprints every session (tracked cells)
        imaging.footprints = field.footprints
        imaging.image_shape = field.shape
        ft = field.table()
        rois = rois.assign(
            F0=meas["F0"],
            Fneu0=meas["Fneu0"],
            neuropil_coef=meas["neuropil_coef"],
            brightness=ft["brightness"].to_numpy(),
            centroid_y=ft["centroid_y"].to_numpy(),
            centroid_x=ft["centroid_x"].to_numpy(),
            n_pixels=ft["n_pixels"].to_numpy(),
        )
        if experiment == "all_optical" and spec.opsin and len(pulses):
            # expected pulse response relative to the frame noise (spiking + shot/read noise)
            resp, sd_rest = expected_pulse_response(
                _rng(cfg, spec, session, _TRUTH), circ, cfg, w, cfg.m1.power_mw, rates
            )
            w2 = np.asarray(field.roi_weights.multiply(field.roi_weights).sum(axis=1)).ravel()
            quiet = ~meas["artefact"]
            f_mean = meas["F"][quiet].mean(axis=0).astype(np.float64)
            shot = np.sqrt((f_mean + mp.read_noise_photons**2) * w2) / np.maximum(meas["F0"], 1e-9)
            z = resp / np.sqrt(sd_rest**2 + shot**2)
            ez = cfg.m1.expected_effect_z
            rois["expected_effect_z"] = z
            rois["expected_response"] = np.where(
                z >= ez, "activated", np.where(z <= -ez, "suppressed", "none")
            ).astype(object)
        if experiment == "all_optical":
            expected = rois["expected_response"].to_numpy()
            session_row.update(
                fraction_expected_activated=float(np.mean(expected == "activated")),
                fraction_expected_suppressed=float(np.mean(expected == "suppressed")),
            )
        session_row.update(
            n_artefact_frames=int(meas["artefact"].sum()),
            neuropil_photons_px=scene.neuropil_photons,
            field_height_px=field.shape[0],
            field_width_px=field.shape[1],
        )
        if return_traces:
            traces = dict(
                dff=dff.astype(np.float32),
                spikes=spikes.astype(np.float32),
                latent=latent,
                artefact=meas["artefact"],
            )
            if y is not None:
                traces["circuit_output"] = y.astype(np.float32)
            if axon_drive is not None:
                traces["axon_drive"] = axon_drive.astype(np.float32)

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
                "plan_stage",
                "variability",
                "n_submovements",
                "light",
                "outcome",
                "reward_time",
            ]
        ],
        movements=truth_movements[
            [
                "mouse",
                "session",
                "movement",
                "kind",
                "onset",
                "offset",
                "trial",
                "plan_stage",
                "variability",
                "light",
                "n_submovements",
                "peak",
                "lever_deviation",
                "m1_loss",
            ]
        ],
        submovements=truth_sub,
        sessions=pd.DataFrame([session_row]),
        templates=template_table(cfg, spec),
        latents=latents,
    )
    if circuit_truth:
        truth["circuit"] = circuit_truth
    if traces is not None:
        truth["traces"] = traces
        truth["scene"] = scene
    return sess, truth


# ----------------------------------------------------------------------------- writing
def _simulate_and_write(
    cfg: SimulationConfig, spec: MouseSpec, session: int, out_dir: Path
) -> dict[str, pd.DataFrame]:
    """Simulate one session, write its NWB file, latents, circuit (and true traces) atomically,
    return the truth tables."""
    from thalamocortex.data.layout import session_path
    from thalamocortex.data.nwb import write_session

    sess, truth = simulate_session(
        cfg, spec.experiment, spec.mouse_index, session, return_traces=cfg.save_true_traces
    )
    path = Path(session_path(out_dir, spec.mouse, session))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_session(sess, path, overwrite=True)  # itself atomic (temporary name, then rename)
    truth.pop("scene", None)
    gt = out_dir / "ground_truth"
    write_arrays(gt / "latents" / f"{sess.id}.npz", **truth.pop("latents"))
    if "circuit" in truth:
        write_arrays(gt / "circuits" / f"{sess.id}.npz", **truth.pop("circuit"))
    if "traces" in truth:
        write_arrays(gt / "traces" / f"{sess.id}.npz", **truth.pop("traces"))
    return truth


def _load_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {what} (simulate the cohort with simulate_cohort)")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def load_latents(out_dir: str | Path, session_id: str) -> dict[str, np.ndarray]:
    """The latents of one simulated session (``ground_truth/latents/<session_id>.npz``):
    ``times`` (n,) s, ``shared`` (n, D) the executed motor latent (mm; dim 0 is the lever's),
    ``private`` (n, n_private) the mouse's private latents."""
    return _load_npz(Path(out_dir) / "ground_truth" / "latents" / f"{session_id}.npz", "latents")


def load_circuit(out_dir: str | Path, session_id: str) -> dict[str, np.ndarray]:
    """The M1 circuit of one simulated all-optical or inactivation session
    (``ground_truth/circuits/<session_id>.npz``): ``W`` (N_M, N_T) the session's thalamic
    weights, ``W_naive``, ``iota``, ``kappa_<region>``, the thalamic axons' ``thalamic_*``
    properties and, for inactivation, the motor ``readout`` (D, N_M) and ``readout_r2``."""
    return _load_npz(Path(out_dir) / "ground_truth" / "circuits" / f"{session_id}.npz", "circuit")


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
    renamed) and ``out_dir/ground_truth/`` with ``rois``, ``trials``, ``movements``,
    ``submovements`` (what each movement was made of), ``sessions``, ``templates`` and
    ``mice`` (each mouse's own learning-related changes, :func:`mouse_truth`; Parquet),
    ``cohort.yaml`` (config, seed, package version), ``latents/<session_id>.npz`` (the
    session's ``times``, ``shared``: the executed motor latent in mm, frames x D, and
    ``private``: the mouse's private latents, frames x n_private; :func:`load_latents`),
    ``circuits/<session_id>.npz`` for all-optical and inactivation sessions (``W``,
    ``W_naive``, the thalamic axons' properties, cortical weights, the readout) and, when
    ``cfg.save_true_traces``, ``traces/<session_id>.npz`` (noise-free ``dff`` and ``spikes``,
    frames x ROIs float32, the motor ``latent`` on the frame clock, frames x dims, the
    circuit's ``circuit_output``, the axons' ``axon_drive`` and the ``artefact`` frame mask).
    Every unit's loadings on the shared and private latents are columns of ``rois``
    (``loading_shared<d>``: least-squares loadings of the unit's noise-free activity on
    ``z / s`` during movements, ``loading_private<d>``).

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
    for sub in ("latents", "circuits") + (("traces",) if cfg.save_true_traces else ()):
        (gt / sub).mkdir(exist_ok=True)
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
        k: [] for k in ("rois", "trials", "movements", "submovements", "sessions")
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


# ----------------------------------------------------------------------------- raw movies
def _reference_movie(nwb_path: Path, tiff: Path, frame_times: np.ndarray) -> None:
    """Reference ``tiff`` from the session's NWB file as an external ``TwoPhotonSeries`` (the
    file is rewritten atomically with the reference added)."""
    from thalamocortex.data.model import RawMovie
    from thalamocortex.data.nwb import read_session, write_session

    s = read_session(nwb_path, lazy=False)
    rate = (len(frame_times) - 1) / (frame_times[-1] - frame_times[0])
    s.movie = RawMovie(rate=float(rate), frame_times=np.asarray(frame_times), files=[tiff])
    write_session(s, nwb_path, overwrite=True)


def write_cohort_movies(
    cfg: SimulationConfig,
    dataset_dir: str | Path,
    params=None,
    max_frames: int | None = None,
    experiments: tuple[str, ...] = ("all_optical", "axon_imaging"),
    seed: int = 0,
) -> list[Path]:
    """Raw movies for the imaging sessions of a simulated cohort, next to their NWB files.

    Each session is re-simulated from ``cfg`` (exactly reproducible from its seeds) and its
    scene rendered (:func:`~.movies.session_movie`: the same field, activity, neuropil and
    photon budget as its F/Fneu, plus lever-locked motion, light and photon noise) as
    ``sub-<m>/sub-<m>_ses-<n>.tif``, referenced from the session's NWB file as an external
    ``TwoPhotonSeries`` (so that ``thalamocortex preprocess`` takes the raw-movie route, with
    the movie's own frame times); the ground truth of the movie (footprints as
    ``[roi, y, x, weight]`` rows and centroids in the mouse's first-session coordinates, rigid
    shifts per frame including the session's ``field_offset`` (``session_offset_sd_px``),
    artefact frames) goes to ``ground_truth/movies/sub-<m>_ses-<n>.npz``. Every session has
    its own noise and motion (seeded from ``seed``, the mouse and the session).

    Parameters
    ----------
    cfg : SimulationConfig
        The configuration the dataset was simulated with.
    dataset_dir : path
        The dataset folder (written by ``simulate_cohort``).
    params : MovieParams, optional
        Motion of the movies (the field is each mouse's own; noise and light artefacts are
        ``cfg.measurement``'s, the same as the traces').
    max_frames : int or None
        Only the first ``max_frames`` frames (None = the whole session, the default).
    experiments : experiments whose sessions get movies.

    Returns
    -------
    list of written TIFF paths.
    """
    import zlib

    from thalamocortex.data.layout import session_path
    from thalamocortex.simulate.movies import MovieParams, session_movie, write_tiff

    dataset_dir = Path(dataset_dir)
    gt = dataset_dir / "ground_truth" / "movies"
    gt.mkdir(parents=True, exist_ok=True)
    written = []
    p = params or MovieParams()
    for spec in cohort_design(cfg, list(experiments)):
        for ses in spec.sessions:
            sess, truth = simulate_session(
                cfg, spec.experiment, spec.mouse_index, ses, return_traces=True
            )
            if sess.imaging is None:
                continue
            truth["press_mm"] = cfg.behavior.motor.press_peak_mm
            frames = slice(0, max_frames)
            # each session its own noise and motion; the first session of a mouse defines the
            # field's reference position, later ones are offset (the field is found again)
            rng = np.random.default_rng([seed, zlib.crc32(spec.mouse.encode()), int(ses)])
            offset = np.zeros(2)
            if ses != min(spec.sessions):
                offset = rng.normal(0.0, p.session_offset_sd_px, 2)
            m = session_movie(
                sess, truth, p, frames=frames, seed=int(rng.integers(2**31)), field_offset=offset
            )
            nwb = session_path(dataset_dir, spec.mouse, ses)
            tif = write_tiff(nwb.with_suffix(".tif"), m.movie, sess.info.frame_rate)
            written.append(tif)
            if nwb.is_file():  # a dataset written by simulate_cohort (else: TIFF only)
                _reference_movie(nwb, tif, sess.imaging.times[: m.movie.shape[0]])
            rows = np.concatenate(
                [
                    np.column_stack([np.full(len(fp), k), fp]).astype(np.float32)
                    for k, fp in enumerate(m.footprints)
                ]
            )
            np.savez_compressed(
                gt / f"{sess.id}.npz",
                footprints=rows,
                centroids=m.rois[["centroid_y", "centroid_x"]].to_numpy(),
                shifts=m.shifts,
                field_offset=offset,
                artefact=m.artefact,
                roi_name=truth["rois"]["roi_name"].to_numpy().astype("U"),
            )
    return written
