"""Input populations of the in-silico experiment: axons that carry the motor latents.

**Shared and private latents.** Every movement ``k`` (onset ``o_k``) has a motor latent
``z_k(tau)`` (D dims, :mod:`.motor`; 0 at rest, dim 0 read out as the lever), shared across mice
up to the mouse's idiosyncrasy. Every mouse also has ``n_private`` private latents ``zeta(t)``
(:func:`private_latents`: stationary OU processes of unit variance, independent of the task).

**Drive of an input unit** (an axon of region ``r``; dimensionless, 0 = rest)::

    m_j(t) = sum_k b_jk A_j J_jk [ (1 - e_j) B_w(tau_jk)
                                   + e_j (|z_k(tau_jk)| + l_j . z_k(tau_jk)) / (2 s) ] ,
    tau_jk = t - o_k - lambda_j

for movement-related units (the others: 0; quiescence-related units ``-quiescence_suppression``
while a movement is under way). ``b_jk ~ Bernoulli(reliability_j)`` (the unit responds to that
movement), ``A_j`` its amplitude, ``J_jk`` log-normal jitter, ``B_w`` a raised cosine of width
``w`` (the condition-invariant movement signal, the same for every movement), ``e_j`` the
weight of the motor-latent-following part: cosine tuning to the latent, ``|z| (1 + cos)``, with
the unit's unit-norm loading ``l_j`` as preferred direction (never negative, and linear in
``z`` up to the condition-invariant ``|z|``, so the latent is linearly decodable from a
population; ``s`` = the population press, so ``z / s`` is O(1)), ``lambda_j`` the unit's lag
(region lag + spread: motor thalamus leads the movement in experts). Region-specific
properties (movement fraction, lag, reliability, encoding ``e``) follow the region's naive ->
expert interpolation with the mouse's own multipliers (:mod:`.effects`).

**Firing regime** (:func:`regime_rates`): with the unit's baseline isolated and burst rates
``r0, b0`` (sparse, log-normal across units) and private gain
``g_j(t) = exp(sigma_p q_j . zeta(t) - sigma_p^2 |q_j|^2 / 2)``::

    m >= 0:  isolated = g r0 (1 + rate_gain m),  bursts = g (b0 + m x 2 response_bursts / w),
             burst size = size_mean (1 + size_gain m)
    m <  0:  isolated = g r0 (1 + m)_+,          bursts = g b0 (1 + m)_+

(a rectifying nonlinearity: drive -1 silences the unit). The same regime turns M1 neurons'
circuit output into spikes (:mod:`.m1`).

Axon imaging: one field per mouse with the *same axons every session*; each axon keeps latent
ranks across sessions, and its session properties follow the region's naive->expert
interpolation. An axon is movement-related when its latent rank ``u < movement_fraction(p)``,
so the movement-related set grows nestedly with learning; it is quiescence-related when
``u > 1 - quiescence_fraction``. Its boutons see the axon's spikes (each missed with
probability ``bouton_failure``) plus rare local events, through their own calcium step
(``bouton_gain_sd``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from thalamocortex.simulate.activity import draw_rates, spike_counts
from thalamocortex.simulate.behavior import moving_mask
from thalamocortex.simulate.effects import MouseEffects
from thalamocortex.simulate.motor import Movement
from thalamocortex.simulate.params import LatentParams, SimulationConfig, SpikingParams

#: sampling step of a movement's latent when units read it at their own lags (s)
_LATENT_STEP = 0.005


def unit_loadings(rng: np.random.Generator, n: int, n_latents: int) -> np.ndarray:
    """Random unit-norm loadings (n, n_latents) of units on the motor latent."""
    v = rng.standard_normal((n, n_latents))
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def private_loadings(rng: np.random.Generator, n: int, lp: LatentParams) -> np.ndarray:
    """Loadings (n, n_private) of units on the mouse's private latents, N(0, 1 / n_private)."""
    return rng.standard_normal((n, lp.n_private)) / np.sqrt(lp.n_private)


def private_latents(
    rng: np.random.Generator, n_frames: int, lp: LatentParams, frame_rate: float
) -> np.ndarray:
    """The mouse's private latents on a clock (n_frames, n_private) float32: independent
    stationary OU processes, unit variance, time constant ``private_tau_s``."""
    a = np.exp(-1.0 / max(lp.private_tau_s * frame_rate, 1e-9))
    x = rng.standard_normal((n_frames, lp.n_private))
    if n_frames == 0:
        return x.astype(np.float32)
    x[0] /= np.sqrt(1 - a * a)
    x = lfilter([np.sqrt(1 - a * a)], [1.0, -a], x, axis=0)
    return x.astype(np.float32)


def private_gain(zeta: np.ndarray, q: np.ndarray, sd: float) -> np.ndarray | None:
    """Gain ``exp(sd q.zeta - sd^2 |q|^2 / 2)`` of every unit (frames x units) float32, or None
    when ``sd`` is 0 (no private latents)."""
    if sd <= 0 or zeta.shape[1] == 0:
        return None
    g = (zeta.astype(np.float32) @ (sd * q.T).astype(np.float32)) - np.float32(0.5 * sd * sd) * (
        q * q
    ).sum(axis=1).astype(np.float32)[None, :]
    return np.exp(g, out=g)


def bump(tau: np.ndarray, width_s: float) -> np.ndarray:
    """Raised cosine of width ``width_s`` starting at ``tau = 0`` (0 outside)."""
    return np.where(
        (tau >= 0) & (tau <= width_s), 0.5 * (1.0 - np.cos(2 * np.pi * tau / width_s)), 0.0
    )


def movement_drive(
    rng: np.random.Generator | None,
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

    ``sum_k b_jk A_j J_jk [(1 - e_j) B_w(tau) + e_j (|z_k(tau)| + l_j . z_k(tau)) / 2s]``
    (module docstring).

    Parameters
    ----------
    rng : numpy Generator, or None for the *expected* drive (``b_jk`` replaced by the
        reliability, ``J_jk`` by 1; used by the plasticity rule and the readout)
    times : (n_frames,) times (s) on which to evaluate
    movements : list of Movement
    related : (n_units,) bool, units that respond to movements at all
    lags, reliability, encoding, amplitude : (n_units,)
        Response onset re movement onset (s), response probability per movement, weight ``e``
        of the cosine-tuned latent part and drive amplitude ``A``.
    loadings : (n_units, n_latents) unit loadings on the motor latent
    width_s : width of the condition-invariant burst ``B`` (s)
    jitter_sd : SD of the log amplitude per movement
    latent_scale : ``s``, the latent value (mm-equivalent) that maps to a drive of 1
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
        if rng is None:
            amp = amplitude[idx] * reliability[idx]
        else:
            respond = rng.random(len(idx)) < reliability[idx]
            amp = amplitude[idx] * np.exp(jitter_sd * rng.standard_normal(len(idx))) * respond
        if not np.any(amp > 0):
            continue
        t_lo = m.onset + lag.min() - dt
        t_hi = max(m.offset, m.onset + width_s) + lag.max() + dt
        f0, f1 = np.searchsorted(times, [t_lo, t_hi])
        if f1 <= f0:
            continue
        sel = np.flatnonzero(amp > 0)
        tau = times[f0:f1, None] - m.onset - lag[None, sel]  # (n_f, n_sel)
        shape = (1.0 - enc[sel]) * bump(tau, width_s)
        if np.any(enc[sel] > 0):
            # cosine tuning (|z| + l.z) / 2s, sampled on a 5 ms grid and read at each unit's
            # own lag (nearest sample; the latent is smooth at that scale)
            lo, hi = max(float(tau.min()), 0.0), min(float(tau.max()), m.duration)
            if hi > lo:
                grid = np.arange(lo, hi + _LATENT_STEP, _LATENT_STEP)
                z = m.latent(grid)
                tuned = (np.linalg.norm(z, axis=1, keepdims=True) + z @ ld[sel].T) / (
                    2.0 * latent_scale
                )  # (n_grid, n_sel)
                k = np.clip(np.rint((tau - lo) / _LATENT_STEP).astype(np.int64), 0, len(grid) - 1)
                inside = (tau >= 0) & (tau <= m.duration)
                shape += enc[sel] * np.take_along_axis(tuned, k, axis=0) * inside
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
    gain: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Isolated rate, burst rate (Hz) and mean burst size (frames x units) from a signed drive
    and an optional private gain (module docstring)."""
    d = np.asarray(drive, dtype=np.float32)
    pos = np.maximum(d, 0.0)
    neg = np.maximum(1.0 + np.minimum(d, 0.0), 0.0)  # 1 at d >= 0, (1 + d)_+ below
    r0 = base["isolated_hz"].astype(np.float32)[None, :]
    b0 = base["burst_hz"].astype(np.float32)[None, :]
    iso = r0 * (1.0 + np.float32(rate_gain) * pos) * neg
    bur = (b0 + pos * np.float32(2.0 * response_bursts / width_s)) * neg
    size = np.float32(sp.burst_size_mean) * (1.0 + np.float32(size_gain) * pos)
    if gain is not None:
        iso *= gain
        bur *= gain
    return iso, bur, size


# ----------------------------------------------------------------------------- input units
@dataclass
class InputUnits:
    """Stable latent properties of a set of input units (axons) of one region.

    ``rank`` in [0, 1) (movement-related if ``rank < movement_fraction``), standard-normal
    ``z_lag``, ``z_reliability``, ``z_encoding``, unit-norm ``loadings`` (n, n_latents) on the
    motor latent, ``drive_amplitude`` ``A`` and private loadings ``private`` (n, n_private).
    """

    region: str
    rank: np.ndarray
    z_lag: np.ndarray
    z_reliability: np.ndarray
    z_encoding: np.ndarray
    loadings: np.ndarray
    drive_amplitude: np.ndarray
    private: np.ndarray

    def __len__(self) -> int:
        return len(self.rank)


def draw_input_units(
    rng: np.random.Generator, cfg: SimulationConfig, region: str, n: int
) -> InputUnits:
    """Draw ``n`` input units of ``region``."""
    return InputUnits(
        region=region,
        rank=rng.random(n),
        z_lag=rng.standard_normal(n),
        z_reliability=rng.standard_normal(n),
        z_encoding=rng.standard_normal(n),
        loadings=unit_loadings(rng, n, cfg.behavior.motor.n_latents),
        drive_amplitude=np.exp(0.3 * rng.standard_normal(n)),
        private=private_loadings(rng, n, cfg.latents),
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


def unit_properties(
    units: InputUnits,
    cfg: SimulationConfig,
    progress: float,
    effects: MouseEffects | None = None,
) -> dict:
    """Per-unit session properties (arrays (n,)) at learning progress ``progress``
    (``effects``: the mouse's multipliers of the learning changes; default the population's)."""
    ap = cfg.axon_imaging
    eff = ap.regions[units.region]
    st = region_state(cfg, units.region, progress, effects)
    fm, lag, rel, enc = st["movement_fraction"], st["lag_s"], st["reliability"], st["encoding"]
    movement = units.rank < fm
    quiescence = (units.rank >= 1.0 - eff.quiescence_fraction) & ~movement
    return dict(
        movement_related=movement,
        quiescence_related=quiescence,
        lag_s=lag + ap.lag_sd_s * units.z_lag,
        reliability=np.clip(rel + ap.reliability_sd * units.z_reliability, 0.02, 1.0),
        encoding=np.clip(enc + ap.encoding_sd * units.z_encoding, 0.0, 1.0),
        region_movement_fraction=fm,
        region_lag_s=lag,
        region_reliability=rel,
        region_encoding=enc,
    )


def input_drive(
    rng: np.random.Generator | None,
    units: InputUnits,
    props: dict,
    cfg: SimulationConfig,
    times: np.ndarray,
    movements: list[Movement],
) -> np.ndarray:
    """Drive (frames x units) float32 of input units: the movement drive of movement-related
    units, ``-quiescence_suppression`` of quiescence-related units while a movement is under way
    (``rng`` None: the expected drive)."""
    ap = cfg.axon_imaging
    drive = movement_drive(
        rng,
        times,
        movements,
        props["movement_related"],
        props["lag_s"],
        props["reliability"],
        props["encoding"],
        units.drive_amplitude,
        units.loadings,
        ap.response_width_s,
        ap.amplitude_jitter_sd,
        cfg.behavior.motor.press_peak_mm,
    )
    q = props["quiescence_related"]
    if q.any():
        moving = moving_mask(movements, times)
        drive[np.ix_(moving, q)] -= np.float32(ap.quiescence_suppression)
    return drive


# ----------------------------------------------------------------------------- input axons
@dataclass
class AxonPopulation:
    """A mouse's imaged input axons and their boutons (stable across sessions)."""

    units: InputUnits
    rates: dict  # isolated_hz, burst_hz, silent (n_axons,)
    bouton_axon: np.ndarray  # (n_boutons,) axon index of each bouton
    bouton_gain: np.ndarray  # (n_boutons,) calcium step multiplier
    axon_decay: np.ndarray  # (n_axons,) decay multiplier (shared by an axon's boutons)

    @property
    def region(self) -> str:
        return self.units.region

    @property
    def n_axons(self) -> int:
        return len(self.units)


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
    units = draw_input_units(rng, cfg, region, n)
    return AxonPopulation(
        units=units,
        rates=draw_rates(rng, ap.spiking, n),
        bouton_axon=bouton_axon,
        bouton_gain=np.exp(
            np.hypot(ap.bouton_gain_sd, ind.cell_amplitude_sd)
            * rng.standard_normal(len(bouton_axon))
        ),
        axon_decay=np.exp(ind.cell_decay_sd * rng.standard_normal(n)),
    )


def axon_properties(
    pop: AxonPopulation,
    cfg: SimulationConfig,
    progress: float,
    effects: MouseEffects | None = None,
) -> dict:
    """Per-axon session properties (arrays (n_axons,)) at learning progress ``progress``."""
    return unit_properties(pop.units, cfg, progress, effects)


def axon_spikes(
    rng: np.random.Generator,
    pop: AxonPopulation,
    props: dict,
    cfg: SimulationConfig,
    times: np.ndarray,
    movements: list[Movement],
    zeta: np.ndarray | None = None,
    burn_in: int = 0,
    drives: dict | None = None,
) -> np.ndarray:
    """Spike counts of every axon, array (burn_in + n_frames, n_axons) float32 (``zeta``: the
    mouse's private latents on the frame clock; ``drives``, if given, receives the realised
    drive (frames, n_axons) under ``"drive"``: the noise-free input of the spiking)."""
    ap = cfg.axon_imaging
    fr = cfg.measurement.frame_rate_hz
    drive = input_drive(rng, pop.units, props, cfg, times, movements)
    if drives is not None:
        drives["drive"] = drive
    q = props["quiescence_related"]
    base = {
        k: np.where(q, ap.quiescence_rate_gain, 1.0) * pop.rates[k]
        for k in ("isolated_hz", "burst_hz")
    }
    gain = None if zeta is None else private_gain(zeta, pop.units.private, cfg.latents.private_sd)
    iso, bur, size = regime_rates(
        base,
        drive,
        ap.spiking,
        ap.response_bursts,
        ap.response_size_gain,
        ap.response_rate_gain,
        ap.response_width_s,
        gain,
    )
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
    a fraction responding to movements with the condition-invariant burst (frames x n)."""
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
