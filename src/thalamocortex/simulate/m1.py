"""The M1 L2/3 circuit: thalamic input through W, cortical input, feed-forward inhibition,
reward-gated refinement of W, photostimulation and inactivation through the same circuit.

**Inputs** (drive units of :mod:`.circuits`, 0 = rest). ``a_j(t)``, ``j = 1..N_T``: the
thalamic axons converging on the field, units of ``circuit.thalamic_region`` whose properties
follow that region's naive -> expert interpolation with the mouse's multipliers (the same
population model as the axon-imaging cohort: by default motor thalamus becomes more
movement-related, more reliable, latent-following and leading). ``c_ir(t)``: one input unit of
every other region ``r`` of ``axon_imaging.regions`` per M1 neuron, with weight ``kappa_ir``
(strong with probability ``cortical_connection``, else weak).

**M1 neuron i**::

    x_i(t) = sum_j W_ij a_j(t) - iota_i g_I mean_j a_j(t)
             + sum_r kappa_ir (c_ir(t) - beta_c mean_units c_r(t))
    y_i(t) = max(x_i(t), -1)  for x_i <= 0,   y_max tanh(x_i(t) / y_max)  above

Feed-forward inhibition is *balanced*: every long-range input drives interneurons that pool
the input population's activity, and a neuron gets inhibition in proportion to its own
excitation from that input. Thalamic: ``g_I = ffi_ratio x weight_mean`` and ``iota_i =
exp(ffi_sd xi_i) (R0_i / weight_mean)^ffi_balance`` with ``R0_i = sum_j W_naive_ij`` the
neuron's structural innervation (fixed; the refinement changes W, not the interneurons'
targets). With the defaults (ratio 1, balance 1) a uniform thalamic volley cancels in a naive
neuron up to its E/I spread ``ffi_sd``, so a neuron is excited or suppressed by how its weights
fall on the active axons relative to the pooled activity -- photostimulation of a random opsin
subset activates some naive neurons and suppresses others, and the common movement drive of a
better-innervated neuron no longer makes it movement-related (the rule-off confound of
docs/circuit.md). Cortical: ``beta_c = cortical_ffi``; silencing a cortical region then shifts
its target neurons by ``kappa (fraction silenced - own unit silenced)``, not ``-kappa``. The
rectified, saturating output ``y_i`` (``y_max = circuit.output_max``) sets the neuron's sparse
bursty spiking (:func:`~.circuits.regime_rates`, -1 = silent) with its private gain. Movement
encoding is therefore whatever ``W`` and the inputs make of it; nothing labels a neuron.

**Naive weights** ``W_ij = (weight_mean / N_T) c_i eps_ij``, ``c_i`` log-normal (SD
``weight_row_sd``: innervation differs between neurons, unrelated to movement), ``eps_ij``
log-normal of mean 1 (``weight_synapse_sd``).

**Refinement** (training days ``d = 1 .. session - 1``; reward-gated covariance rule with
presynaptic normalisation)::

    u_i     = (1 - rho) y_i + rho sum_r kappa_ir (c_ir - beta_c mean_units c_r)
    C_ij(d) = < R_k (u_i - <u_i>) (a_j - <a_j>) >      over the day's cued movements k
    W(d + 1) = N( clip(W(d) + eta_m (weight_mean / N_T) C(d) / 0.01, 0, W_max) )

``u_i`` is the postsynaptic factor: with ``rho = rule_cortical_weight`` = 1 (default) the
neuron's cortical (dendritic) drive gates the potentiation of its thalamic synapses, so each
neuron's thalamic weights follow its own cortical tuning (with ``rho = 0``, the output-Hebbian
rule, every neuron converges onto the leading component of the thalamic activity and expert
loadings become collinear). ``R_k = 1`` for a rewarded movement (the mouse responded and the
lever crossed the threshold), else 0; ``<.>`` are averages over -0.5..3 s around every
movement's onset on a 20 Hz grid, with the *expected* drives (reliability-weighted) of the
mouse's populations at that day's learning stage and plan; ``N`` rescales every column to its
naive sum (each thalamic axon keeps its total synaptic strength: what one M1 neuron gains, the
others lose); ``eta_m = refinement_rate x k[m, m1.refinement]`` (0 = no refinement; the
mouse's multiplier of :mod:`.effects`). Neurons whose cortical drive follows the rewarded
movement gain weight from the movement-related thalamic axons (more than their fixed
inhibition), so in experts the thalamus drives the neurons that encode the learned movement,
and the neurons that lost weight are net inhibited by a thalamic volley.

**Photostimulation** of thalamic terminals: each opsin-expressing axon (``opsin_fraction``) is
recruited by a pulse of power ``P`` with probability ``recruit_max P / (P + recruit_half_mw)``
(the rest are failures, drawn per axon and pulse) and its drive rises by ``stim_drive`` during
the pulse, decaying with ``response_decay_s`` after it; M1 responds through ``W`` and the
inhibition. The ground truth "expected activated / suppressed" is the circuit's expected pulse
response (simulated over ``truth_pulses`` virtual pulses) relative to the neuron's frame noise.

**Inactivation**: on a light trial each axon of the inactivated region is silenced (drive -1)
with the mouse's silenced fraction. The learned part of the movement depends on M1: the other
motor pathways alone would make the movement's *naive twin* ``z_naive`` (the same trial noise
around the naive plan), and M1 carries the refinement ``z_plan - z_naive`` with weight
``m1_motor_weight``. The light removes the fraction
``phi = clip(-<D dy, D y> / <D y, D y>, 0, 1)`` of M1's readout of the movement (``y`` M1's
output for that very movement, ``dy`` its change under light, both relative to 0.5 s before
onset: a tonic change is no movement command; ``D`` the ridge readout of ``z / s`` from M1's
expected activity on that day's movements; sums over the movement), and the executed latent
is ``z_exec = z_plan - m1_motor_weight x phi x (z_plan - z_naive)``: the learned movement
degrades towards the naive one by as much as M1's representation of it depends on the
silenced input (a region without movement signal: ``phi ~ 0``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from thalamocortex.simulate.activity import Indicator, burn_in_frames, draw_rates, spike_counts
from thalamocortex.simulate.behavior import behavior_state
from thalamocortex.simulate.circuits import (
    InputUnits,
    draw_input_units,
    input_drive,
    private_loadings,
    regime_rates,
    unit_properties,
)
from thalamocortex.simulate.effects import MouseEffects
from thalamocortex.simulate.motor import MouseMotor, Movement, blend, draw_movement, lever_readout
from thalamocortex.simulate.params import SimulationConfig

#: covariance that one unit of refinement_rate turns into one mean naive synapse per day
COV_REFERENCE = 0.01
#: grid of the plasticity and readout computations
TRAIN_STEP_S = 0.05
TRAIN_WINDOW_S = (-0.5, 3.0)


@dataclass
class M1Circuit:
    """A mouse's M1 field and its inputs (stable across sessions).

    Attributes
    ----------
    thalamic : InputUnits (N_T) -- thalamic axons converging on the field
    opsin : (N_T,) bool -- axons expressing the opsin (all-optical mice)
    w_naive : (N_M, N_T) -- naive thalamic weights
    iota : (N_M,) -- feed-forward inhibition weight of each neuron (times g_I)
    cortical : region -> InputUnits (N_M; one input unit per M1 neuron)
    kappa : region -> (N_M,) cortical weights
    rates : baseline isolated_hz, burst_hz, silent of the M1 neurons
    private : (N_M, n_private) private loadings
    calcium_amplitude, calcium_decay : (N_M,) indicator factors
    """

    thalamic: InputUnits
    opsin: np.ndarray
    w_naive: np.ndarray
    iota: np.ndarray
    cortical: dict[str, InputUnits]
    kappa: dict[str, np.ndarray]
    rates: dict
    private: np.ndarray
    calcium_amplitude: np.ndarray
    calcium_decay: np.ndarray

    @property
    def n_neurons(self) -> int:
        return self.w_naive.shape[0]

    @property
    def n_thalamic(self) -> int:
        return self.w_naive.shape[1]


def cortical_regions(cfg: SimulationConfig) -> list[str]:
    """The regions of ``axon_imaging.regions`` other than the thalamic one (cortical inputs)."""
    return [r for r in cfg.axon_imaging.regions if r != cfg.circuit.thalamic_region]


def draw_circuit(rng: np.random.Generator, cfg: SimulationConfig) -> M1Circuit:
    """Draw a mouse's circuit (thalamic axons, naive W, inhibition, cortical inputs, neurons)."""
    cp, mp = cfg.circuit, cfg.m1
    n, nt = mp.n_neurons, cp.n_thalamic
    ind = cfg.measurement.indicator
    rates = draw_rates(rng, mp.spiking, n)
    amp = np.exp(ind.cell_amplitude_sd * rng.standard_normal(n))
    dec = np.exp(ind.cell_decay_sd * rng.standard_normal(n))
    thal = draw_input_units(rng, cfg, cp.thalamic_region, nt)
    opsin = rng.random(nt) < mp.opsin_fraction
    row = np.exp(cp.weight_row_sd * rng.standard_normal(n))
    syn = np.exp(
        cp.weight_synapse_sd * rng.standard_normal((n, nt)) - 0.5 * cp.weight_synapse_sd**2
    )
    w = (cp.weight_mean / nt) * row[:, None] * syn
    # balanced feed-forward inhibition: in proportion to the neuron's own (structural)
    # thalamic innervation, with a small spread of the E/I ratio
    iota = np.exp(cp.ffi_sd * rng.standard_normal(n)) * (w.sum(axis=1) / cp.weight_mean) ** (
        cp.ffi_balance
    )
    cortical, kappa = {}, {}
    for r in cortical_regions(cfg):
        cortical[r] = draw_input_units(rng, cfg, r, n)
        strong = rng.random(n) < cp.cortical_connection
        kappa[r] = np.where(
            strong,
            cp.cortical_weight * np.exp(cp.cortical_weight_sd * rng.standard_normal(n)),
            cp.cortical_weak_weight,
        )
    return M1Circuit(
        thalamic=thal,
        opsin=opsin,
        w_naive=w,
        iota=iota,
        cortical=cortical,
        kappa=kappa,
        rates=rates,
        private=private_loadings(rng, n, cfg.latents),
        calcium_amplitude=amp,
        calcium_decay=dec,
    )


def net_input(
    circ: M1Circuit,
    cfg: SimulationConfig,
    w: np.ndarray,
    a: np.ndarray,
    cortical: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """``x = a W' - iota g_I mean(a) + sum_r kappa_r (c_r - beta_c mean(c_r))``, array
    (frames, N_M) float32.

    ``a``: thalamic drives (frames, N_T); ``cortical``: region -> drives (frames, N_M)."""
    g = cfg.circuit.ffi_ratio * cfg.circuit.weight_mean
    a = np.asarray(a, dtype=np.float32)
    x = a @ w.T.astype(np.float32)
    x -= np.float32(g) * a.mean(axis=1, keepdims=True) * circ.iota.astype(np.float32)[None, :]
    for term in _cortical_terms(circ, cfg, cortical):
        x += term
    return x


def _cortical_terms(circ: M1Circuit, cfg: SimulationConfig, cortical):
    """Each cortical region's term ``kappa_r (c_r - beta_c mean(c_r))`` of :func:`net_input`,
    (frames, N_M) per region (``cortical``: region -> drives, or None)."""
    fc = np.float32(cfg.circuit.cortical_ffi)
    for r, c in (cortical or {}).items():
        k = circ.kappa[r].astype(np.float32)[None, :]
        yield k * (c - fc * c.mean(axis=1, keepdims=True)) if fc > 0 else k * c


def output(x: np.ndarray, cfg: SimulationConfig) -> np.ndarray:
    """The rectifying, saturating nonlinearity: ``y = max(x, -1)`` for ``x <= 0`` (-1 =
    silent), ``y = y_max tanh(x / y_max)`` above (``y_max = circuit.output_max``: a neuron's
    rate saturates)."""
    x = np.asarray(x, dtype=np.float32)
    top = np.float32(cfg.circuit.output_max)
    return np.where(x > 0, top * np.tanh(x / top), np.maximum(x, np.float32(-1.0))).astype(
        np.float32
    )


@dataclass
class InputActivity:
    """Drives of a circuit's inputs on a clock: thalamic (frames, N_T), cortical per region
    (frames, N_M), and the session properties of the thalamic units."""

    thalamic: np.ndarray
    cortical: dict[str, np.ndarray]
    thalamic_props: dict


def input_activity(
    rng: np.random.Generator | None,
    circ: M1Circuit,
    cfg: SimulationConfig,
    progress: float,
    fx: MouseEffects,
    times: np.ndarray,
    movements: list[Movement],
) -> InputActivity:
    """Drives of the thalamic and cortical inputs (``rng`` None: expected drives)."""
    tp = unit_properties(circ.thalamic, cfg, progress, fx)
    a = input_drive(rng, circ.thalamic, tp, cfg, times, movements)
    cort = {}
    for r, units in circ.cortical.items():
        props = unit_properties(units, cfg, progress, fx)
        cort[r] = input_drive(rng, units, props, cfg, times, movements)
    return InputActivity(a, cort, tp)


def recruitment(cfg: SimulationConfig, power_mw: float) -> float:
    """Probability that an opsin axon is recruited by a pulse of ``power_mw``."""
    mp = cfg.m1
    return float(mp.recruit_max * power_mw / (power_mw + mp.recruit_half_mw))


def photostim_drive(
    rng: np.random.Generator,
    circ: M1Circuit,
    cfg: SimulationConfig,
    times: np.ndarray,
    pulses: np.ndarray,
) -> np.ndarray:
    """Added thalamic drive (frames, N_T) float32 of pulses (n, 3: start s, duration s, power
    mW): recruited opsin axons (failures drawn per axon and pulse) get ``stim_drive`` during
    the pulse, decaying with ``response_decay_s`` after it."""
    mp = cfg.m1
    out = np.zeros((len(times), circ.n_thalamic), dtype=np.float32)
    for start, dur, power in np.asarray(pulses).reshape(-1, 3):
        stop = start + dur
        rec = circ.opsin & (rng.random(circ.n_thalamic) < recruitment(cfg, power))
        f0, f1 = np.searchsorted(times, [start, stop + 5 * mp.response_decay_s])
        if f1 <= f0 or not rec.any():
            continue
        t = times[f0:f1]
        profile = np.where(t < stop, 1.0, np.exp(-(t - stop) / mp.response_decay_s))
        out[f0:f1, rec] += (mp.stim_drive * profile).astype(np.float32)[:, None]
    return out


def m1_rates(circ: M1Circuit, cfg: SimulationConfig, y: np.ndarray, gain=None, rates=None):
    """Isolated rate, burst rate and burst size (frames, N_M) of the M1 neurons for output
    ``y`` (``rates``: baseline rates, default the circuit's)."""
    mp = cfg.m1
    return regime_rates(
        rates if rates is not None else circ.rates,
        y,
        mp.spiking,
        mp.response_bursts,
        mp.response_size_gain,
        mp.response_rate_gain,
        mp.response_width_s,
        gain,
    )


# ----------------------------------------------------------------------------- plasticity
@dataclass
class TrainingDay:
    """The expected activity of one day's cued movements on the plasticity grid."""

    times: np.ndarray
    latent: np.ndarray  # (n_t, D) motor latent / s
    reward: np.ndarray  # (n_t,) reward gate R of the movement each bin belongs to
    inputs: InputActivity


def training_day(
    rng: np.random.Generator,
    circ: M1Circuit,
    cfg: SimulationConfig,
    motor: MouseMotor,
    progress: float,
    fx: MouseEffects,
) -> TrainingDay:
    """Draw a day's cued movements (the mouse's plan and variability at ``progress``) and the
    expected drives of the circuit's inputs around them."""
    bp = cfg.behavior
    mp = bp.motor
    st = behavior_state(cfg, progress, fx)
    plan = motor.plan(st["plan_stage"])
    n = cfg.circuit.train_movements
    lo, hi = TRAIN_WINDOW_S
    span = hi - lo
    n_bins = int(round(span / TRAIN_STEP_S))
    times = np.arange(n * n_bins) * TRAIN_STEP_S
    movements, reward = [], np.zeros(n * n_bins)
    latent = np.zeros((n * n_bins, mp.n_latents))
    for k in range(n):
        sub = draw_movement(rng, mp, plan, st["variability"])
        engaged = rng.random() < st["p_engage"]
        onset = k * span - lo
        rate = 1.0 / TRAIN_STEP_S
        n_s = int(np.ceil(min(sub.end, hi) * rate)) + 1
        mv = Movement("cued", onset, np.zeros(n_s), rate, sub)
        movements.append(mv)
        sl = slice(k * n_bins, (k + 1) * n_bins)
        tau = times[sl] - onset
        z = mv.latent(tau)
        latent[sl] = z
        hit = lever_readout(z[:, 0], mp).max() >= bp.threshold_mm
        reward[sl] = float(engaged and hit)
    inputs = input_activity(None, circ, cfg, progress, fx, times, movements)
    return TrainingDay(times, latent / mp.press_peak_mm, reward, inputs)


def refine_step(circ: M1Circuit, cfg: SimulationConfig, w: np.ndarray, day: TrainingDay, eta):
    """One day of the reward-gated covariance rule with presynaptic normalisation (the
    postsynaptic factor mixes the output and the cortical drive, ``rule_cortical_weight``)."""
    cp = cfg.circuit
    unit = cp.weight_mean / circ.n_thalamic
    if eta == 0:
        return w
    a = day.inputs.thalamic.astype(np.float64)
    da = a - a.mean(axis=0)
    wc = cp.rule_cortical_weight
    y = 0.0
    if wc < 1:
        y = (1.0 - wc) * output(net_input(circ, cfg, w, a, day.inputs.cortical), cfg).astype(
            np.float64
        )
    if wc > 0:
        # the neuron's cortical drive alone (net_input's cortical terms, same float32 sums)
        xc = np.zeros((len(a), len(w)), dtype=np.float32)
        for term in _cortical_terms(circ, cfg, day.inputs.cortical):
            xc += term
        y = y + wc * xc.astype(np.float64)
    dy = (y - y.mean(axis=0)) * day.reward[:, None]
    cov = dy.T @ da / len(a)  # (N_M, N_T)
    new = np.clip(w + eta * unit * cov / COV_REFERENCE, 0.0, cp.weight_max * unit)
    col = new.sum(axis=0)
    target = circ.w_naive.sum(axis=0)
    scale = np.where(col > 0, target / np.maximum(col, 1e-300), 1.0)
    return new * scale[None, :]


_WEIGHTS: dict = {}


def weights_by_day(
    circ: M1Circuit,
    cfg: SimulationConfig,
    motor: MouseMotor,
    fx: MouseEffects,
    progress_of_day: Callable[[int], float],
    rng_of_day: Callable[[int], np.random.Generator],
    last_day: int,
    key=None,
) -> list[np.ndarray]:
    """``W`` at the start of days 1..last_day (index ``d - 1``): day 1 is the naive ``W``,
    each later day the previous one refined by that day's training (cached by ``key``)."""
    eta = cfg.circuit.refinement_rate * fx.k["m1.refinement"]
    cached = _WEIGHTS.get(key) if key is not None else None
    out = list(cached) if cached else [circ.w_naive]
    for d in range(len(out), last_day):
        if eta == 0:
            out.append(out[-1])
            continue
        day = training_day(rng_of_day(d), circ, cfg, motor, progress_of_day(d), fx)
        out.append(refine_step(circ, cfg, out[-1], day, eta))
    if key is not None:
        if len(_WEIGHTS) >= 16:
            _WEIGHTS.pop(next(iter(_WEIGHTS)))
        _WEIGHTS[key] = out
    return out[:last_day]


def readout(circ: M1Circuit, cfg: SimulationConfig, w: np.ndarray, day: TrainingDay):
    """Ridge readout ``D`` (D, N_M) of ``z / s`` from M1's expected output on a day's
    movements, and its R^2 there."""
    y = output(net_input(circ, cfg, w, day.inputs.thalamic, day.inputs.cortical), cfg).astype(
        np.float64
    )
    z = day.latent
    g = y.T @ y
    lam = cfg.circuit.readout_ridge * np.trace(g) / max(g.shape[0], 1)
    d = np.linalg.solve(g + lam * np.eye(g.shape[0]), y.T @ z).T
    resid = z - y @ d.T
    r2 = 1.0 - (resid**2).sum() / max(((z - z.mean(0)) ** 2).sum(), 1e-300)
    return d, float(r2)


# ----------------------------------------------------------------------------- inactivation
def inactivation_perturbation(
    rng: np.random.Generator,
    circ: M1Circuit,
    cfg: SimulationConfig,
    w: np.ndarray,
    d: np.ndarray,
    progress: float,
    fx: MouseEffects,
    silenced_fraction: float,
    region: str,
):
    """``perturb(sub, naive_sub) -> (executed, m1_loss)`` for
    :func:`~.behavior.simulate_behavior` (module docstring).

    The movement's inputs drive the circuit with and without ``region``'s input silenced;
    ``m1_loss`` = ``clip(-<D dy, D y> / <D y, D y>, 0, 1)`` over the movement, the fraction of
    M1's readout of the movement (``D y``, from 0.5 s before onset) the light removes. The
    executed sub-movements blend the plan and its naive twin with weight ``m1_motor_weight x
    m1_loss`` (:func:`~.motor.blend`); None when that weight is 0.
    """
    cp = cfg.circuit
    step = 0.01
    rate = 1.0 / step

    def perturb(sub, naive_sub):
        end = sub.end
        tau = np.arange(int(np.floor(-0.6 * rate)), int(np.ceil(end * rate)) + 1) * step
        mv = Movement("cued", 0.0, np.zeros(int(np.ceil(end * rate)) + 1), rate, sub)
        inp = input_activity(rng, circ, cfg, progress, fx, tau, [mv])
        a, cort = inp.thalamic, dict(inp.cortical)
        if region == cp.thalamic_region:
            a_l, cort_l = _silence(rng, a, silenced_fraction), cort
        else:
            a_l, cort_l = a, dict(cort)
            cort_l[region] = _silence(rng, cort[region], silenced_fraction)
        y = output(net_input(circ, cfg, w, a, cort), cfg).astype(np.float64)
        y_l = output(net_input(circ, cfg, w, a_l, cort_l), cfg).astype(np.float64)
        i0 = int(np.searchsorted(tau, -0.5))
        during = tau >= 0
        r = (y - y[i0])[during] @ d.T  # M1's readout of the movement (z / s units)
        dr = (y_l - y_l[i0])[during] @ d.T - r  # its change under light (tonic part removed)
        norm = float((r * r).sum())
        loss = float(np.clip(-(dr * r).sum() / norm, 0.0, 1.0)) if norm > 0 else 0.0
        weight = cp.m1_motor_weight * loss
        return (blend(sub, naive_sub, weight) if weight > 0 else None), loss

    return perturb


def _silence(rng: np.random.Generator, a: np.ndarray, fraction: float) -> np.ndarray:
    """Drives with each unit silenced (drive -1) with probability ``fraction``; a negative
    fraction (a varied null's mirror image) strengthens every unit's drive by ``1 - fraction``
    instead."""
    if fraction >= 0:
        off = rng.random(a.shape[1]) < fraction
        out = a.copy()
        out[:, off] = -1.0
        return out
    return a * np.float32(1.0 - fraction)


# ----------------------------------------------------------------------------- ground truth
def expected_pulse_response(
    rng: np.random.Generator,
    circ: M1Circuit,
    cfg: SimulationConfig,
    w: np.ndarray,
    power_mw: float,
    rates: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each neuron's expected pulse response and its noise-free frame SD at rest.

    ``truth_pulses`` virtual pulses (own generator, ``pulse_duration_s`` long, 8 s apart) drive
    the circuit at rest; the response is the mean noise-free dF/F in ``truth_window_s`` after
    the pulse (from the first frame starting after it) minus the same length before it.

    Returns
    -------
    mean_response : (N_M,) dF/F
    sd_rest : (N_M,) SD of the noise-free dF/F over the pre-pulse frames
    """
    mp, ms = cfg.m1, cfg.measurement
    fr = ms.frame_rate_hz
    k, period, win, dur = mp.truth_pulses, 8.0, mp.truth_window_s, mp.pulse_duration_s
    times = np.arange(int(round(k * period * fr))) / fr
    starts = 2.0 + period * np.arange(k)
    keep = starts + dur + win + 1.0 / fr < times[-1]
    starts = starts[keep]
    pulses = np.stack([starts, np.full(len(starts), dur), np.full(len(starts), power_mw)], 1)
    da = photostim_drive(rng, circ, cfg, times, pulses)
    y = output(net_input(circ, cfg, w, da), cfg)
    iso, bur, size = m1_rates(circ, cfg, y, rates=rates)
    ind = Indicator(ms.indicator)
    burn = burn_in_frames(ms.indicator, fr, np.exp(2 * ms.indicator.cell_decay_sd))
    counts = spike_counts(rng, iso, bur, size, mp.spiking, fr, burn)
    dff = ind.dff(counts, fr, circ.calcium_amplitude, circ.calcium_decay)[burn:]
    resp, pre_frames = [], np.zeros(len(times), dtype=bool)
    for st in starts:
        pre = (times >= st - win) & (times < st)
        t_post = st + dur + 1.0 / fr
        post = (times >= t_post) & (times < t_post + win)
        pre_frames |= pre
        resp.append(dff[post].mean(axis=0) - dff[pre].mean(axis=0))
    return np.mean(resp, axis=0), dff[pre_frames].std(axis=0)


def net_thalamic_weight(circ: M1Circuit, cfg: SimulationConfig, w: np.ndarray) -> np.ndarray:
    """Drive of each neuron per unit drive of every opsin axon: ``sum_j W_ij o_j - iota_i g_I
    mean_j o_j`` (the circuit's thalamic weight as photostimulation sees it)."""
    g = cfg.circuit.ffi_ratio * cfg.circuit.weight_mean
    o = circ.opsin.astype(np.float64)
    return w @ o - circ.iota * g * o.mean()


def movement_modulation(y: np.ndarray, times: np.ndarray, onsets, window_s=(0.0, 1.5)):
    """Mean noise-free output ``y`` (frames, N) in ``window_s`` after each onset, averaged over
    onsets (N,); NaN without onsets."""
    onsets = np.asarray(onsets, dtype=np.float64)
    onsets = onsets[np.isfinite(onsets)]
    if len(onsets) == 0:
        return np.full(y.shape[1], np.nan)
    out = np.zeros(y.shape[1])
    n = 0
    for o in onsets:
        f0, f1 = np.searchsorted(times, [o + window_s[0], o + window_s[1]])
        if f1 > f0:
            out += y[f0:f1].mean(axis=0)
            n += 1
    return out / max(n, 1)


def effective_loadings(y: np.ndarray, latent: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Least-squares loadings (N, D) of each neuron's output on ``z / s`` over the frames
    where a movement is under way (with an intercept): the circuit's effective loadings."""
    if moving.sum() <= latent.shape[1] + 1:
        return np.full((y.shape[1], latent.shape[1]), np.nan)
    z = np.column_stack([latent[moving], np.ones(int(moving.sum()))]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(z, y[moving].astype(np.float64), rcond=None)
    return coef[:-1].T
