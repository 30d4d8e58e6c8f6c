"""Spiking and the calcium indicator: sparse bursty spike trains -> calcium -> dF/F.

**Spiking** (:func:`spike_counts`): per frame, isolated spikes are Poisson with rate
``isolated_hz(t)``; bursts start as a Poisson process with rate ``burst_hz(t)`` and hold
``1 + NegBin`` spikes (mean ``size(t)``, shape ``burst_size_dispersion``), ``burst_isi_s``
apart, so a long burst spills into the next frames; no frame holds more spikes than the
absolute refractory period allows. Rates are per unit and may vary in time (movement
modulation, photostimulation: see :mod:`.circuits`). Units' baseline rates are log-normal
across units, correlated between isolated and burst firing, with a fraction of nearly silent
units (:func:`draw_rates`). Rates are computed on the frame clock; a warm-up period at the
first frame's rates precedes the recording, so the calcium starts in its steady state (no
start-up ramp).

**Indicator** (:class:`Indicator`): each spike adds a double-exponential calcium transient;
fluorescence is the Hill function of :class:`~.params.IndicatorParams` (supralinear for a few
spikes, saturating for many), with per-cell spread of the calcium step and of the decay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from thalamocortex.simulate.params import IndicatorParams, SpikingParams


def draw_rates(rng: np.random.Generator, sp: SpikingParams, n: int) -> dict[str, np.ndarray]:
    """Baseline rates of ``n`` units: ``isolated_hz``, ``burst_hz`` (arrays (n,)), ``silent``.

    Log-normal around the medians with SD ``rate_sd`` (correlation
    ``rate_burst_correlation`` between the two), silent units scaled by ``silent_scale``.
    """
    z1 = rng.standard_normal(n)
    rho = sp.rate_burst_correlation
    z2 = rho * z1 + np.sqrt(max(0.0, 1.0 - rho * rho)) * rng.standard_normal(n)
    silent = rng.random(n) < sp.silent_fraction
    scale = np.where(silent, sp.silent_scale, 1.0)
    return dict(
        isolated_hz=sp.isolated_rate_hz * np.exp(sp.rate_sd * z1) * scale,
        burst_hz=sp.burst_rate_hz * np.exp(sp.rate_sd * z2) * scale,
        silent=silent,
    )


def spike_counts(
    rng: np.random.Generator,
    isolated_hz: np.ndarray,
    burst_hz: np.ndarray,
    burst_size: np.ndarray | float,
    sp: SpikingParams,
    frame_rate: float,
    burn_in_frames: int = 0,
) -> np.ndarray:
    """Spike counts per frame, array (n_frames, n_units) float32.

    Parameters
    ----------
    isolated_hz, burst_hz : arrays (n_frames, n_units) (or broadcastable)
        Rates of isolated spikes and of burst onsets (Hz).
    burst_size : array broadcastable to (n_frames, n_units) or float
        Mean spikes per burst (>= 1).
    sp : SpikingParams
    frame_rate : float (Hz)
    burn_in_frames : int
        Frames simulated before the first one at the first frame's rates and returned in
        front of the counts (the caller's calcium filter then starts in steady state; drop
        them afterwards).
    """
    iso = np.asarray(isolated_hz, dtype=np.float64)
    bur = np.asarray(burst_hz, dtype=np.float64)
    shape = np.broadcast_shapes(iso.shape, bur.shape, np.shape(burst_size))
    iso = np.broadcast_to(iso, shape)
    bur = np.broadcast_to(bur, shape)
    size = np.broadcast_to(np.asarray(burst_size, dtype=np.float64), shape)
    if burn_in_frames:
        iso = np.concatenate([np.broadcast_to(iso[:1], (burn_in_frames, shape[1])), iso])
        bur = np.concatenate([np.broadcast_to(bur[:1], (burn_in_frames, shape[1])), bur])
        size = np.concatenate([np.broadcast_to(size[:1], (burn_in_frames, shape[1])), size])
    dt = 1.0 / frame_rate
    counts = rng.poisson(np.maximum(iso, 0.0) * dt).astype(np.int32)
    # burst onsets: at most one per frame (rates x frame << 1); P(onset) = 1 - exp(-rate dt)
    p_burst = -np.expm1(-np.maximum(bur, 0.0) * dt)
    hit = np.flatnonzero(rng.random(p_burst.shape) < p_burst)
    if len(hit):
        m = np.maximum(size.ravel()[hit], 1.0) - 1.0
        r = sp.burst_size_dispersion
        # 1 + NegBin(r, p) spikes, mean 1 + m: p = r / (r + m)
        total = 1 + rng.negative_binomial(r, r / (r + m))
        # a burst lasts (size - 1) x isi: spikes beyond a frame's share spill into the next
        cap = max(int(np.floor(dt / sp.burst_isi_s)), 1)
        row, col = np.divmod(hit, counts.shape[1])
        flat = counts.reshape(-1)
        n_rows = counts.shape[0]
        for j in range(int(np.ceil(total.max() / cap))):
            part = np.clip(total - j * cap, 0, cap)
            ok = (part > 0) & (row + j < n_rows)
            np.add.at(flat, (row[ok] + j) * counts.shape[1] + col[ok], part[ok])
    cap_total = max(int(np.floor(dt / sp.refractory_s)), 1)
    np.minimum(counts, cap_total, out=counts)
    return counts.astype(np.float32)


@dataclass
class Indicator:
    """A calcium indicator applied to spike counts (see the module docstring).

    Attributes
    ----------
    params : IndicatorParams
    step_nm : float
        Calcium step of one spike (nM) of the median cell, calibrated so that one isolated
        spike peaks at ``amplitude_1ap_dff``.
    """

    params: IndicatorParams

    def __post_init__(self) -> None:
        p = self.params
        h0 = self._hill(p.resting_ca_nm)
        denom = h0 + 1.0 / (p.dynamic_range - 1.0)
        target = h0 + p.amplitude_1ap_dff * denom
        if target >= 1.0:
            raise ValueError(
                f"indicator {p.name}: amplitude_1ap_dff {p.amplitude_1ap_dff} exceeds the "
                f"indicator's maximum dF/F {(1 - h0) / denom:.2f}"
            )
        x = p.kd_nm * (target / (1.0 - target)) ** (1.0 / p.hill)
        self.step_nm = float(x - p.resting_ca_nm)
        self._h0, self._denom = h0, denom

    def _hill(self, c):
        p = self.params
        xn = (np.asarray(c, dtype=np.float64) / p.kd_nm) ** p.hill
        return xn / (1.0 + xn)

    @property
    def max_dff(self) -> float:
        return float((1.0 - self._h0) / self._denom)

    def dff_of_calcium(self, c: np.ndarray) -> np.ndarray:
        """dF/F of a calcium increment ``c`` (nM above rest)."""
        p = self.params
        c = np.maximum(np.asarray(c, dtype=np.float32), 0.0)
        x = (np.float32(p.resting_ca_nm) + c) / np.float32(p.kd_nm)
        xn = x ** np.float32(p.hill)
        h = xn / (np.float32(1.0) + xn)
        return ((h - np.float32(self._h0)) / np.float32(self._denom)).astype(np.float32)

    def cell_factors(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-cell multipliers of the calcium step and of the decay time (arrays (n,))."""
        p = self.params
        return (
            np.exp(p.cell_amplitude_sd * rng.standard_normal(n)),
            np.exp(p.cell_decay_sd * rng.standard_normal(n)),
        )

    def calcium(
        self,
        counts: np.ndarray,
        frame_rate: float,
        amplitude: np.ndarray | None = None,
        decay: np.ndarray | None = None,
        n_decay_groups: int = 12,
    ) -> np.ndarray:
        """Calcium increment (nM), array like ``counts`` (frames x units), float32.

        The per-spike transient ``step x (exp(-t/decay) - exp(-t/rise))`` (unit peak) is
        sampled at frame centres (spikes fall anywhere in a frame) by two first-order
        recursive filters; units with different decays are filtered in ``n_decay_groups``
        groups of similar decay (log-spaced), which keeps the cost linear in frames.
        """
        p = self.params
        x = np.asarray(counts, dtype=np.float32)
        n = x.shape[1]
        amp = np.ones(n) if amplitude is None else np.asarray(amplitude, dtype=np.float64)
        dec = np.ones(n) if decay is None else np.asarray(decay, dtype=np.float64)
        taus = p.decay_s * dec
        if n == 0:
            return x.copy()
        lo, hi = np.log(taus.min()), np.log(taus.max())
        edges = np.linspace(lo, hi + 1e-9, n_decay_groups + 1) if hi > lo else None
        group = np.zeros(n, dtype=int) if edges is None else np.digitize(np.log(taus), edges) - 1
        out = np.empty_like(x)
        dt = 1.0 / frame_rate
        one = np.array([1.0], np.float32)
        for g in np.unique(group):
            cols = np.flatnonzero(group == g)
            tau_d = float(np.exp(np.mean(np.log(taus[cols]))))
            tau_r = min(p.rise_s, 0.5 * tau_d)
            a_d, a_r = np.exp(-dt / tau_d), np.exp(-dt / tau_r)
            al_d, al_r = np.exp(-0.5 * dt / tau_d), np.exp(-0.5 * dt / tau_r)
            t_pk = tau_d * tau_r / (tau_d - tau_r) * np.log(tau_d / tau_r) if tau_d > tau_r else 0
            peak = np.exp(-t_pk / tau_d) - np.exp(-t_pk / tau_r)
            xs = x[:, cols]
            c = lfilter(one, np.array([1.0, -a_d], np.float32), xs, axis=0) * np.float32(al_d)
            c -= lfilter(one, np.array([1.0, -a_r], np.float32), xs, axis=0) * np.float32(al_r)
            c *= (self.step_nm / peak * amp[cols]).astype(np.float32)[None, :]
            out[:, cols] = c
        return out

    def dff(self, counts, frame_rate, amplitude=None, decay=None) -> np.ndarray:
        """Noise-free dF/F (frames x units) of spike counts."""
        return self.dff_of_calcium(self.calcium(counts, frame_rate, amplitude, decay))


def burn_in_frames(ind: IndicatorParams, frame_rate: float, decay_spread: float = 1.0) -> int:
    """Warm-up frames that bring the calcium to its steady state (~6 decay constants)."""
    return int(np.ceil(6.0 * ind.decay_s * decay_spread * frame_rate))


def ou_process(
    rng: np.random.Generator, n: int, k: int, sd: float, tau_frames: float
) -> np.ndarray:
    """Stationary Ornstein-Uhlenbeck noise, array (n, k) float32, SD ``sd``, time constant in
    frames (starts in the stationary distribution: no transient)."""
    a = np.exp(-1.0 / max(tau_frames, 1e-9))
    x = rng.standard_normal((n, k), dtype=np.float32)
    if n == 0:
        return x
    x[0] /= np.float32(np.sqrt(1 - a * a))
    x = lfilter(np.array([1.0], np.float32), np.array([1.0, -a], np.float32), x, axis=0)
    x *= np.float32(sd * np.sqrt(1 - a * a))
    return x.astype(np.float32)
