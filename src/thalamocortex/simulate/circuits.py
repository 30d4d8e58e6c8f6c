"""Neural populations of the in-silico experiment: input axons and M1 L2/3 neurons.

Firing rates are computed on the imaging frame clock (Hz per frame). Movement-locked responses
are built per movement (cued and spontaneous alike): a unit responds to a movement with its
*reliability*, with a log-normally jittered amplitude, starting at its *lag* relative to
movement onset (negative = leads). The response shape mixes a generic bump (weight
``1 - encoding``) with a copy of that movement's own lever trajectory shifted by the lag
(weight ``encoding``), so the lever can be decoded from the population and better so when
encoding is stronger.

Axon imaging: one field of view per mouse with the *same axons every session* (stable
``roi_name``); each axon keeps latent ranks across sessions, and its session properties follow
the region's naive->expert interpolation. An axon is movement-related when its latent rank
``u < movement_fraction(p)``, so the movement-related set grows nestedly with learning; it is
quiescence-related when ``u > 1 - quiescence_fraction``. Real axon imaging tracks the same field
across days; the per-session analyses do not rely on the tracking.

M1 (all-optical): the same neurons in every imaged session. Each neuron has an expert and a
naive encoding latent (rank-correlated by ``encoding_overlap``); the top fractions encode the
movement. Thalamic weights are broad and independent of encoding in naive mice and refined in
experts: encoding neurons strongly driven, the others net-suppressed (feed-forward inhibition).
Photostimulation of thalamic axons changes a neuron's rate by ``gain * weight * power`` during the
pulse, decaying afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thalamocortex.simulate.behavior import Movement, moving_mask
from thalamocortex.simulate.effects import MouseEffects
from thalamocortex.simulate.params import SimulationConfig


def movement_locked_rates(
    rng: np.random.Generator,
    times: np.ndarray,
    movements: list[Movement],
    related: np.ndarray,
    lags: np.ndarray,
    reliability: np.ndarray,
    encoding: np.ndarray,
    amplitude: np.ndarray,
    width_s: float,
    jitter_sd: float,
    trajectory_scale: float,
) -> np.ndarray:
    """Movement-locked rate increments (Hz), array (n_frames, n_units).

    Parameters
    ----------
    times : (n_frames,) frame times (s)
    movements : list of Movement
    related : (n_units,) bool, units that respond to movements at all
    lags, reliability, encoding, amplitude : (n_units,)
        Response onset re movement onset (s), response probability per movement, weight of the
        trajectory copy in the shape (0..1) and peak rate (Hz).
    width_s : float, width of the generic response bump (s)
    jitter_sd : float, SD of the log amplitude per movement
    trajectory_scale : float, lever displacement (mm) mapped to a shape value of 1
    """
    n_units = len(related)
    out = np.zeros((len(times), n_units))
    idx = np.flatnonzero(related)
    if len(idx) == 0 or len(movements) == 0:
        return out
    lag = lags[idx]
    enc = encoding[idx]
    dt = np.median(np.diff(times)) if len(times) > 1 else 1.0
    for m in movements:
        respond = rng.random(len(idx)) < reliability[idx]
        amp = amplitude[idx] * np.exp(jitter_sd * rng.standard_normal(len(idx))) * respond
        t_lo = m.onset + lag.min() - dt
        t_hi = max(m.offset, m.onset + width_s) + lag.max() + dt
        f0, f1 = np.searchsorted(times, [t_lo, t_hi])
        if f1 <= f0 or not respond.any():
            continue
        tau = times[f0:f1, None] - m.onset - lag[None, :]
        bump = np.where(
            (tau >= 0) & (tau <= width_s), 0.5 * (1.0 - np.cos(2 * np.pi * tau / width_s)), 0.0
        )
        copy = m.position(tau) / trajectory_scale
        out[f0:f1, idx] += amp * ((1.0 - enc) * bump + enc * copy)
    return out


# ----------------------------------------------------------------------------- input axons
@dataclass
class AxonField:
    """A mouse's field of view of input axons (stable across sessions)."""

    region: str
    rank: np.ndarray  # (n_axons,) latent rank u in [0, 1): movement-related if u < fraction
    z_lag: np.ndarray
    z_reliability: np.ndarray
    z_encoding: np.ndarray
    baseline_hz: np.ndarray
    peak_hz: np.ndarray
    bouton_axon: np.ndarray  # (n_boutons,) axon index of each bouton
    bouton_gain: np.ndarray  # (n_boutons,)

    @property
    def n_axons(self) -> int:
        return len(self.rank)


def draw_axon_field(rng: np.random.Generator, cfg: SimulationConfig, region: str) -> AxonField:
    """Draw the latent properties of a mouse's axons and their boutons."""
    ap = cfg.axon_imaging
    n = ap.n_axons
    p_geom = 1.0 / ap.boutons_per_axon_mean
    n_boutons = np.minimum(rng.geometric(p_geom, n), ap.max_boutons_per_axon)
    bouton_axon = np.repeat(np.arange(n), n_boutons)
    return AxonField(
        region=region,
        rank=rng.random(n),
        z_lag=rng.standard_normal(n),
        z_reliability=rng.standard_normal(n),
        z_encoding=rng.standard_normal(n),
        baseline_hz=ap.baseline_rate_hz * np.exp(0.5 * rng.standard_normal(n)),
        peak_hz=ap.response_rate_hz * np.exp(0.3 * rng.standard_normal(n)),
        bouton_axon=bouton_axon,
        bouton_gain=np.exp(ap.bouton_gain_sd * rng.standard_normal(len(bouton_axon))),
    )


def region_state(
    cfg: SimulationConfig, region: str, progress: float, effects: MouseEffects | None = None
) -> dict[str, float]:
    """An input region's population properties at ``progress`` for one mouse: keys
    ``movement_fraction``, ``lag_s``, ``reliability``, ``encoding`` (``effects``: the mouse's
    multipliers of the learning changes; default the population's)."""
    eff = cfg.axon_imaging.regions[region]
    fx = effects if effects is not None else MouseEffects.population(cfg)
    n, x = eff.naive, eff.expert
    return dict(
        movement_fraction=float(
            np.clip(
                fx.value(
                    "input.movement_fraction", n.movement_fraction, x.movement_fraction, progress
                ),
                0,
                1,
            )
        ),
        lag_s=fx.value("input.lag", n.lag_s, x.lag_s, progress),
        reliability=float(
            np.clip(fx.value("input.reliability", n.reliability, x.reliability, progress), 0, 1)
        ),
        encoding=float(np.clip(fx.value("input.encoding", n.encoding, x.encoding, progress), 0, 1)),
    )


def axon_properties(
    field: AxonField,
    cfg: SimulationConfig,
    progress: float,
    effects: MouseEffects | None = None,
) -> dict:
    """Per-axon session properties (arrays (n_axons,)) at learning progress ``progress``
    (``effects``: the mouse's multipliers of the learning changes; default the population's)."""
    ap = cfg.axon_imaging
    eff = ap.regions[field.region]
    st = region_state(cfg, field.region, progress, effects)
    fm, lag, rel, enc = st["movement_fraction"], st["lag_s"], st["reliability"], st["encoding"]
    movement = field.rank < fm
    quiescence = (field.rank >= 1.0 - eff.quiescence_fraction) & ~movement
    return dict(
        movement_related=movement,
        quiescence_related=quiescence,
        lag_s=lag + ap.lag_sd_s * field.z_lag,
        reliability=np.clip(rel + ap.reliability_sd * field.z_reliability, 0.02, 1.0),
        encoding=np.clip(enc + ap.encoding_sd * field.z_encoding, 0.0, 1.0),
        region_movement_fraction=fm,
        region_lag_s=lag,
        region_reliability=rel,
        region_encoding=enc,
    )


def axon_rates(
    rng: np.random.Generator,
    field: AxonField,
    props: dict,
    cfg: SimulationConfig,
    times: np.ndarray,
    movements: list[Movement],
) -> np.ndarray:
    """Firing rate (Hz) of every axon at every frame, array (n_frames, n_axons)."""
    ap = cfg.axon_imaging
    base = np.where(props["quiescence_related"], ap.quiescence_rate_hz, field.baseline_hz)
    rates = np.broadcast_to(base, (len(times), field.n_axons)).copy()
    moving = moving_mask(movements, times)
    q = props["quiescence_related"]
    rates[np.ix_(moving, q)] *= 1.0 - ap.quiescence_suppression
    rates += movement_locked_rates(
        rng,
        times,
        movements,
        props["movement_related"],
        props["lag_s"],
        props["reliability"],
        props["encoding"],
        field.peak_hz,
        ap.response_width_s,
        ap.amplitude_jitter_sd,
        cfg.behavior.template_peak_mm,
    )
    return rates


# ----------------------------------------------------------------------------- M1 neurons
@dataclass
class M1Population:
    """A mouse's M1 L2/3 neurons (stable across sessions)."""

    encoding_naive: np.ndarray  # (n_neurons,) encoding strength in naive mice (0 = none)
    encoding_expert: np.ndarray
    weight_naive: np.ndarray  # thalamic weight, naive (broad, independent of encoding)
    weight_expert: np.ndarray  # refined weight, expert
    z_lag: np.ndarray
    baseline_hz: np.ndarray


def draw_m1_population(rng: np.random.Generator, cfg: SimulationConfig) -> M1Population:
    """Draw the latent encoding and thalamic weights of a mouse's M1 neurons."""
    mp = cfg.m1
    n = mp.n_neurons
    u = rng.standard_normal(n)
    rho = mp.encoding_overlap
    v = rho * u + np.sqrt(max(0.0, 1.0 - rho * rho)) * rng.standard_normal(n)

    def top(latent: np.ndarray, fraction: float) -> np.ndarray:
        k = int(round(fraction * n))
        member = np.zeros(n, dtype=bool)
        if k:
            member[np.argsort(-latent)[:k]] = True
        return member

    enc_expert = top(u, mp.encoding_fraction_expert) * rng.uniform(0.3, 1.0, n)
    enc_naive = top(v, mp.encoding_fraction_naive) * rng.uniform(0.3, 1.0, n)
    w_naive = mp.weight_naive_mean + mp.weight_naive_sd * rng.standard_normal(n)
    w_expert = np.where(
        enc_expert > 0,
        mp.weight_expert_offset + mp.weight_expert_encoding_gain * enc_expert,
        mp.weight_expert_unrelated,
    ) + mp.weight_expert_sd * rng.standard_normal(n)
    return M1Population(
        encoding_naive=enc_naive,
        encoding_expert=enc_expert,
        weight_naive=w_naive,
        weight_expert=w_expert,
        z_lag=rng.standard_normal(n),
        baseline_hz=mp.baseline_rate_hz * np.exp(0.4 * rng.standard_normal(n)),
    )


def m1_properties(
    pop: M1Population,
    cfg: SimulationConfig,
    progress: float,
    effects: MouseEffects | None = None,
) -> dict:
    """Per-neuron session properties (arrays (n_neurons,)) at learning progress ``progress``.

    Encoding and weights interpolate from the naive to the expert values with the mouse's
    multipliers (``effects``, default the population's); with ``effects.m1_encoding`` /
    ``effects.m1_refinement`` off they stay naive in the zero null.
    """
    mp = cfg.m1
    fx = effects if effects is not None else MouseEffects.population(cfg)
    se = fx.k["m1.encoding"]
    sr = fx.k["m1.refinement"]
    enc = np.clip(
        pop.encoding_naive + se * progress * (pop.encoding_expert - pop.encoding_naive), 0.0, 1.0
    )
    w = pop.weight_naive + sr * progress * (pop.weight_expert - pop.weight_naive)
    expected = np.where(
        w > mp.activated_threshold,
        "activated",
        np.where(w < mp.suppressed_threshold, "suppressed", "none"),
    )
    return dict(
        encoding=enc,
        movement_related=enc >= 0.05,
        quiescence_related=np.zeros(len(enc), dtype=bool),
        lag_s=mp.lag_mean_s + mp.lag_sd_s * pop.z_lag,
        reliability=np.full(len(enc), mp.reliability),
        thalamic_weight=w,
        expected_response=expected,
    )


def m1_rates(
    rng: np.random.Generator,
    pop: M1Population,
    props: dict,
    cfg: SimulationConfig,
    times: np.ndarray,
    movements: list[Movement],
    pulses: np.ndarray,
    opsin: bool,
) -> np.ndarray:
    """Firing rate (Hz) of every M1 neuron at every frame, array (n_frames, n_neurons).

    ``pulses`` is (n_pulses, 3): start (s), duration (s), power (mW). Without opsin the light
    has no effect on the neurons (the artefact is added by the measurement).
    """
    mp = cfg.m1
    n = len(pop.baseline_hz)
    rates = np.broadcast_to(pop.baseline_hz, (len(times), n)).copy()
    rates += movement_locked_rates(
        rng,
        times,
        movements,
        props["movement_related"],
        props["lag_s"],
        props["reliability"],
        props["encoding"],
        mp.response_rate_hz * props["encoding"],
        mp.response_width_s,
        mp.amplitude_jitter_sd,
        cfg.behavior.template_peak_mm,
    )
    if opsin:
        w = props["thalamic_weight"]
        for start, dur, power in pulses:
            stop = start + dur
            f0, f1 = np.searchsorted(times, [start, stop + 5 * mp.response_decay_s])
            t = times[f0:f1]
            profile = np.where(t < stop, 1.0, np.exp(-(t - stop) / mp.response_decay_s))
            gain = 1.0 + mp.pulse_jitter_sd * rng.standard_normal(n)
            rates[f0:f1] += profile[:, None] * (mp.gain_hz_per_mw * power * w * gain)[None, :]
    return np.maximum(rates, 0.0)
