"""Neural populations of the in-silico experiment: input axons and M1 L2/3 neurons.

Every unit fires sparse, bursty spike trains (:mod:`.activity`). Movement-related units change
their *firing regime* around each movement they respond to: the burst probability, the burst
size and the isolated-spike rate rise with a non-negative *drive*,

    drive_i(t) = respond_ik x amp_i x jitter_ik x [(1 - enc_i) x bump((t - onset_k - lag_i) / w)
                                                  + enc_i x |l_i . z_k(t - onset_k - lag_i)| / s]

summed over movements ``k`` (cued and spontaneous). ``respond_ik`` ~ Bernoulli(reliability);
``bump`` is a raised cosine of width ``w`` (a generic movement response); ``z_k`` is the
movement's motor latent (:mod:`.motor`), ``l_i`` the unit's unit-norm loading on it and ``s``
the press amplitude of the population plan, so *encoding* units follow what each movement was
made of (the lever can be decoded from them, and their responses become consistent as the
movements do). Rates: ``burst_hz = b0 + drive x 2 x response_bursts / w`` (a full bump adds
``response_bursts`` bursts), ``size = size_mean x (1 + response_size_gain x drive)``,
``isolated_hz = r0 x (1 + response_rate_gain x drive)``. Quiescence-related axons fire at
``quiescence_rate_gain`` times the baseline and drop by ``quiescence_suppression`` during
movements.

Axon imaging: one field per mouse with the *same axons every session*; each axon keeps latent
ranks across sessions, and its session properties follow the region's naive->expert
interpolation (per mouse, :mod:`.effects`). An axon is movement-related when its latent rank
``u < movement_fraction(p)``, so the movement-related set grows nestedly with learning; it is
quiescence-related when ``u > 1 - quiescence_fraction``. Its boutons see the axon's spikes
(each missed with probability ``bouton_failure``) plus rare local events, through their own
calcium step (``bouton_gain_sd``).

M1 (all-optical): the same neurons in every imaged session. Each neuron has an expert and a
naive encoding latent (rank-correlated by ``encoding_overlap``); the top fractions encode the
movement. Thalamic weights are broad and independent of encoding in naive mice and refined in
experts: encoding neurons strongly driven, the others net-suppressed (feed-forward inhibition).
Photostimulation of thalamic axons changes a neuron's isolated rate by ``gain x weight x power``
during the pulse (and its burst rate by ``stim_bursts_per_hz`` per Hz), decaying afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thalamocortex.simulate.activity import draw_rates, spike_counts
from thalamocortex.simulate.behavior import moving_mask
from thalamocortex.simulate.effects import MouseEffects
from thalamocortex.simulate.motor import Movement
from thalamocortex.simulate.params import SimulationConfig, SpikingParams


def unit_loadings(rng: np.random.Generator, n: int, n_latents: int) -> np.ndarray:
    """Random unit-norm loadings (n, n_latents) of units on the motor latent."""
    v = rng.standard_normal((n, n_latents))
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def movement_drive(
    rng: np.random.Generator,
    times: np.ndarray,
    movements: list[Movement],
    related: np.ndarray,
    lags: np.ndarray,
    reliability: np.ndarray,
    encoding: np.ndarray,
    amplitude: np.ndarray,
    loadings: np.ndarray,
    width_s: float,
    jitter_sd: float,
    latent_scale: float,
) -> np.ndarray:
    """Movement-locked drive (>= 0) of every unit, array (n_frames, n_units) float32.

    Parameters
    ----------
    times : (n_frames,) frame times (s)
    movements : list of Movement
    related : (n_units,) bool, units that respond to movements at all
    lags, reliability, encoding, amplitude : (n_units,)
        Response onset re movement onset (s), response probability per movement, weight of the
        latent-following component (0..1) and drive amplitude.
    loadings : (n_units, n_latents) unit loadings on the motor latent
    width_s : width of the generic response bump (s)
    jitter_sd : SD of the log amplitude per movement
    latent_scale : latent value (mm-equivalent) that maps to a drive of 1
    """
    n_units = len(related)
    out = np.zeros((len(times), n_units), dtype=np.float32)
    idx = np.flatnonzero(related)
    if len(idx) == 0 or len(movements) == 0 or len(times) == 0:
        return out
    lag = lags[idx]
    enc = encoding[idx]
    ld = loadings[idx]
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    for m in movements:
        respond = rng.random(len(idx)) < reliability[idx]
        amp = amplitude[idx] * np.exp(jitter_sd * rng.standard_normal(len(idx))) * respond
        if not respond.any():
            continue
        t_lo = m.onset + lag.min() - dt
        t_hi = max(m.offset, m.onset + width_s) + lag.max() + dt
        f0, f1 = np.searchsorted(times, [t_lo, t_hi])
        if f1 <= f0:
            continue
        sel = np.flatnonzero(respond)
        tau = times[f0:f1, None] - m.onset - lag[None, sel]  # (n_f, n_sel)
        bump = np.where(
            (tau >= 0) & (tau <= width_s), 0.5 * (1.0 - np.cos(2 * np.pi * tau / width_s)), 0.0
        )
        shape = (1.0 - enc[sel]) * bump
        if np.any(enc[sel] > 0):
            z = m.latent(tau)  # (n_f, n_sel, D)
            follow = np.abs(np.einsum("fsd,sd->fs", z, ld[sel])) / latent_scale
            shape += enc[sel] * follow
        out[f0:f1, idx[sel]] += (amp[sel] * shape).astype(np.float32)
    return out


def regime_rates(
    base: dict[str, np.ndarray],
    drive: np.ndarray,
    sp: SpikingParams,
    response_bursts: float,
    size_gain: float,
    rate_gain: float,
    width_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Isolated rate, burst rate (Hz) and mean burst size (frames x units) from the drive."""
    iso = base["isolated_hz"][None, :] * (1.0 + rate_gain * drive)
    bur = base["burst_hz"][None, :] + drive * (2.0 * response_bursts / width_s)
    size = sp.burst_size_mean * (1.0 + size_gain * drive)
    return iso, bur, size


# ----------------------------------------------------------------------------- input axons
@dataclass
class AxonPopulation:
    """A mouse's imaged input axons and their boutons (stable across sessions)."""

    region: str
    rank: np.ndarray  # (n_axons,) latent rank u in [0, 1): movement-related if u < fraction
    z_lag: np.ndarray
    z_reliability: np.ndarray
    z_encoding: np.ndarray
    loadings: np.ndarray  # (n_axons, n_latents)
    rates: dict  # isolated_hz, burst_hz, silent (n_axons,)
    drive_amplitude: np.ndarray  # (n_axons,)
    bouton_axon: np.ndarray  # (n_boutons,) axon index of each bouton
    bouton_gain: np.ndarray  # (n_boutons,) calcium step multiplier
    axon_decay: np.ndarray  # (n_axons,) decay multiplier (shared by an axon's boutons)

    @property
    def n_axons(self) -> int:
        return len(self.rank)


def draw_axon_population(
    rng: np.random.Generator, cfg: SimulationConfig, region: str
) -> AxonPopulation:
    """Draw the latent properties of a mouse's axons and their boutons."""
    ap = cfg.axon_imaging
    n = ap.n_axons
    p_geom = 1.0 / ap.boutons_per_axon_mean
    n_boutons = np.minimum(rng.geometric(p_geom, n), ap.max_boutons_per_axon)
    bouton_axon = np.repeat(np.arange(n), n_boutons)
    ind = cfg.measurement.indicator
    return AxonPopulation(
        region=region,
        rank=rng.random(n),
        z_lag=rng.standard_normal(n),
        z_reliability=rng.standard_normal(n),
        z_encoding=rng.standard_normal(n),
        loadings=unit_loadings(rng, n, cfg.behavior.motor.n_latents),
        rates=draw_rates(rng, ap.spiking, n),
        drive_amplitude=np.exp(0.3 * rng.standard_normal(n)),
        bouton_axon=bouton_axon,
        bouton_gain=np.exp(
            np.hypot(ap.bouton_gain_sd, ind.cell_amplitude_sd)
            * rng.standard_normal(len(bouton_axon))
        ),
        axon_decay=np.exp(ind.cell_decay_sd * rng.standard_normal(n)),
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
    pop: AxonPopulation,
    cfg: SimulationConfig,
    progress: float,
    effects: MouseEffects | None = None,
) -> dict:
    """Per-axon session properties (arrays (n_axons,)) at learning progress ``progress``
    (``effects``: the mouse's multipliers of the learning changes; default the population's)."""
    ap = cfg.axon_imaging
    eff = ap.regions[pop.region]
    st = region_state(cfg, pop.region, progress, effects)
    fm, lag, rel, enc = st["movement_fraction"], st["lag_s"], st["reliability"], st["encoding"]
    movement = pop.rank < fm
    quiescence = (pop.rank >= 1.0 - eff.quiescence_fraction) & ~movement
    return dict(
        movement_related=movement,
        quiescence_related=quiescence,
        lag_s=lag + ap.lag_sd_s * pop.z_lag,
        reliability=np.clip(rel + ap.reliability_sd * pop.z_reliability, 0.02, 1.0),
        encoding=np.clip(enc + ap.encoding_sd * pop.z_encoding, 0.0, 1.0),
        region_movement_fraction=fm,
        region_lag_s=lag,
        region_reliability=rel,
        region_encoding=enc,
    )


def axon_spikes(
    rng: np.random.Generator,
    pop: AxonPopulation,
    props: dict,
    cfg: SimulationConfig,
    times: np.ndarray,
    movements: list[Movement],
    burn_in: int = 0,
) -> np.ndarray:
    """Spike counts of every axon, array (burn_in + n_frames, n_axons) float32."""
    ap = cfg.axon_imaging
    fr = cfg.measurement.frame_rate_hz
    drive = movement_drive(
        rng,
        times,
        movements,
        props["movement_related"],
        props["lag_s"],
        props["reliability"],
        props["encoding"],
        pop.drive_amplitude,
        pop.loadings,
        ap.response_width_s,
        ap.amplitude_jitter_sd,
        cfg.behavior.motor.press_peak_mm,
    )
    q = props["quiescence_related"]
    base = {
        k: np.where(q, ap.quiescence_rate_gain, 1.0) * pop.rates[k]
        for k in ("isolated_hz", "burst_hz")
    }
    iso, bur, size = regime_rates(
        base,
        drive,
        ap.spiking,
        ap.response_bursts,
        ap.response_size_gain,
        ap.response_rate_gain,
        ap.response_width_s,
    )
    if q.any():
        still = np.where(
            moving_mask(movements, times)[:, None] & q[None, :],
            1.0 - ap.quiescence_suppression,
            1.0,
        )
        iso = iso * still
        bur = bur * still
    return spike_counts(rng, iso, bur, size, ap.spiking, fr, burn_in)


def bouton_spikes(
    rng: np.random.Generator, axon_counts: np.ndarray, pop: AxonPopulation, cfg: SimulationConfig
) -> np.ndarray:
    """Spikes seen by every bouton (frames x boutons): its axon's spikes, each missed with
    probability ``bouton_failure``, plus local events at ``bouton_extra_rate_hz``."""
    ap = cfg.axon_imaging
    fr = cfg.measurement.frame_rate_hz
    ax = axon_counts[:, pop.bouton_axon].astype(np.int64)
    seen = rng.binomial(ax, 1.0 - ap.bouton_failure).astype(np.float32)
    if ap.bouton_extra_rate_hz > 0:
        seen += rng.poisson(ap.bouton_extra_rate_hz / fr, seen.shape).astype(np.float32)
    return seen


# ----------------------------------------------------------------------------- M1 neurons
@dataclass
class M1Population:
    """A mouse's M1 L2/3 neurons (stable across sessions)."""

    encoding_naive: np.ndarray  # (n_neurons,) encoding strength in naive mice (0 = none)
    encoding_expert: np.ndarray
    weight_naive: np.ndarray  # thalamic weight, naive (broad, independent of encoding)
    weight_expert: np.ndarray  # refined weight, expert
    z_lag: np.ndarray
    loadings: np.ndarray  # (n_neurons, n_latents)
    rates: dict  # isolated_hz, burst_hz, silent
    calcium_amplitude: np.ndarray  # per-cell calcium step multiplier
    calcium_decay: np.ndarray  # per-cell decay multiplier

    @property
    def n_neurons(self) -> int:
        return len(self.encoding_expert)


def draw_m1_population(rng: np.random.Generator, cfg: SimulationConfig) -> M1Population:
    """Draw the latent encoding, thalamic weights and firing regime of a mouse's M1 neurons."""
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
    ind = cfg.measurement.indicator
    rates = draw_rates(rng, mp.spiking, n)
    return M1Population(
        encoding_naive=enc_naive,
        encoding_expert=enc_expert,
        weight_naive=w_naive,
        weight_expert=w_expert,
        z_lag=rng.standard_normal(n),
        loadings=unit_loadings(rng, n, cfg.behavior.motor.n_latents),
        rates=rates,
        calcium_amplitude=np.exp(ind.cell_amplitude_sd * rng.standard_normal(n)),
        calcium_decay=np.exp(ind.cell_decay_sd * rng.standard_normal(n)),
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


def m1_spikes(
    rng: np.random.Generator,
    pop: M1Population,
    props: dict,
    cfg: SimulationConfig,
    times: np.ndarray,
    movements: list[Movement],
    pulses: np.ndarray,
    opsin: bool,
    burn_in: int = 0,
) -> np.ndarray:
    """Spike counts of every M1 neuron, array (burn_in + n_frames, n_neurons) float32.

    ``pulses`` is (n_pulses, 3): start (s), duration (s), power (mW). Without opsin the light
    has no effect on the neurons (the artefact is added by the measurement).
    """
    mp = cfg.m1
    fr = cfg.measurement.frame_rate_hz
    drive = movement_drive(
        rng,
        times,
        movements,
        props["movement_related"],
        props["lag_s"],
        props["reliability"],
        props["encoding"],
        props["encoding"],
        pop.loadings,
        mp.response_width_s,
        mp.amplitude_jitter_sd,
        cfg.behavior.motor.press_peak_mm,
    )
    iso, bur, size = regime_rates(
        pop.rates,
        drive,
        mp.spiking,
        mp.response_bursts,
        mp.response_size_gain,
        mp.response_rate_gain,
        mp.response_width_s,
    )
    if opsin and len(pulses):
        w = props["thalamic_weight"]
        n = len(w)
        iso = np.array(iso, dtype=np.float64)
        bur = np.array(bur, dtype=np.float64)
        for start, dur, power in pulses:
            stop = start + dur
            f0, f1 = np.searchsorted(times, [start, stop + 5 * mp.response_decay_s])
            t = times[f0:f1]
            profile = np.where(t < stop, 1.0, np.exp(-(t - stop) / mp.response_decay_s))
            gain = 1.0 + mp.pulse_jitter_sd * rng.standard_normal(n)
            stim = profile[:, None] * (mp.gain_hz_per_mw * power * w * gain)[None, :]
            before = iso[f0:f1].copy()
            iso[f0:f1] = np.maximum(before + stim, 0.0)
            # suppression lowers the burst rate in proportion to the isolated rate it removes
            keep = np.where(stim < 0, iso[f0:f1] / np.maximum(before, 1e-12), 1.0)
            bur[f0:f1] = np.maximum(bur[f0:f1] + mp.stim_bursts_per_hz * stim, 0.0) * keep
    return spike_counts(rng, iso, bur, size, mp.spiking, fr, burn_in)


def background_spikes(
    rng: np.random.Generator,
    sp: SpikingParams,
    n: int,
    times: np.ndarray,
    movements: list[Movement],
    frame_rate: float,
    related_fraction: float = 0.3,
    burn_in: int = 0,
) -> np.ndarray:
    """Spike counts of cells that are no ROI (out-of-focus somata): the same firing regime,
    a fraction responding to movements with a generic burst (frames x n)."""
    if n == 0:
        return np.zeros((burn_in + len(times), 0), dtype=np.float32)
    rates = draw_rates(rng, sp, n)
    related = rng.random(n) < related_fraction
    drive = movement_drive(
        rng,
        times,
        movements,
        related,
        0.2 * rng.standard_normal(n),
        np.full(n, 0.5),
        np.zeros(n),
        np.ones(n),
        np.zeros((n, 1)),
        0.8,
        0.3,
        1.0,
    )
    iso, bur, size = regime_rates(rates, drive, sp, 1.5, 0.5, 3.0, 0.8)
    return spike_counts(rng, iso, bur, size, sp, frame_rate, burn_in)
