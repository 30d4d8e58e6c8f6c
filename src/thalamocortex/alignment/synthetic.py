"""A small latent-variable cohort with known shared and private latents (validation data).

Until the simulator's mechanistic circuit (issue 12) saves shared motor latents in its ground
truth, the alignment methods are validated on this generator. Every mouse shares one motor
latent system and differs in everything else:

* **shared latents** ``s(t)`` (``n_shared`` dims): a damped rotational linear dynamical system,
  common to all mice, kicked at movement onset by a trial-specific input (a common template
  plus trial-to-trial variability) and driven by small process noise;
* **behaviour**: the lever ``y(t) = c's(t) + noise`` through a readout ``c`` common to all mice;
* **private latents** ``p_m(t)`` (``n_private`` dims per mouse): smooth AR(1) processes, not
  time-locked and unrelated to the lever, with SD ``private_sd``;
* **units**: ``x_m = L_m s + Q_m p_m + noise``, with random per-mouse loadings and a random
  number of units per mouse (``units`` range), so mice share no neurons.

``shared_in_neurons=False`` gives the null: neurons carry only private latents and noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


@dataclass
class LatentCohort:
    """Per-mouse arrays of a synthetic cohort (lists, one entry per mouse).

    X : (n_trials, n_time, n_units_m) activity; y : (n_trials, n_time) lever;
    shared : (n_trials, n_time, n_shared) true shared latents; private : (n_trials, n_time,
    n_private) true private latents; onset_bin : index of movement onset in the time axis.
    """

    X: list[np.ndarray]
    y: list[np.ndarray]
    shared: list[np.ndarray]
    private: list[np.ndarray]
    onset_bin: int


def shared_dynamics(n_shared: int, rng: np.random.Generator, dt: float = 0.05) -> np.ndarray:
    """A stable, rotational state matrix (discrete time, bin ``dt`` s): pairs of damped
    oscillators at 0.5-1.5 Hz with 0.5-1.5 s decay, randomly rotated."""
    M = np.zeros((n_shared, n_shared))
    for i in range(0, n_shared - 1, 2):
        tau, f = rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5)
        M[i : i + 2, i : i + 2] = [[-1 / tau, -2 * np.pi * f], [2 * np.pi * f, -1 / tau]]
    if n_shared % 2:
        M[-1, -1] = -1 / rng.uniform(0.5, 1.5)
    R = np.linalg.qr(rng.standard_normal((n_shared, n_shared)))[0]
    return R @ scipy.linalg.expm(M * dt) @ R.T


def latent_cohort(
    n_mice: int = 6,
    n_trials: int = 120,
    n_time: int = 50,
    units: tuple[int, int] = (40, 120),
    n_shared: int = 3,
    n_private: int = 4,
    private_sd: float = 1.0,
    noise_sd: float = 1.0,
    trial_variability: float = 0.6,
    private_tau_bins: float = 5.0,
    lever_noise_sd: float = 0.05,
    shared_in_neurons: bool = True,
    seed: int = 0,
) -> LatentCohort:
    """Simulate a cohort (see the module docstring).

    Parameters
    ----------
    n_mice, n_trials, n_time : int
        Mice, trials per mouse, time bins per trial (movement onset at 20 % of the window).
    units : (int, int)
        Range of the number of units per mouse (inclusive).
    n_shared, n_private : int
        Dimensionalities of the shared and of each mouse's private latents.
    private_sd : float
        SD of every private latent (shared latents are scaled to unit SD).
    noise_sd : float
        SD of each unit's independent noise.
    trial_variability : float
        SD of the trial-specific onset input relative to the common template's norm.
    shared_in_neurons : bool
        False: units do not load on the shared latents (null cohort).
    seed : int
    """
    rng = np.random.default_rng(seed)
    A = shared_dynamics(n_shared, rng)
    c = rng.standard_normal(n_shared)
    c /= np.linalg.norm(c)
    template = rng.standard_normal(n_shared)
    template /= np.linalg.norm(template)
    onset = int(round(0.2 * n_time))
    a_p = np.exp(-1.0 / private_tau_bins)

    def shared_trials(r: np.random.Generator) -> np.ndarray:
        s = np.zeros((n_trials, n_time, n_shared))
        kick = template + trial_variability * r.standard_normal((n_trials, n_shared))
        w = 0.05 * r.standard_normal((n_trials, n_time, n_shared))
        for t in range(1, n_time):
            s[:, t] = s[:, t - 1] @ A.T + w[:, t] + (kick if t == onset else 0.0)
        return s

    # one scale for all mice: shared latents have unit SD over a large reference sample
    scale = shared_trials(np.random.default_rng(seed + 1)).reshape(-1, n_shared).std(0).mean()
    X, Y, S, P = [], [], [], []
    for _ in range(n_mice):
        s = shared_trials(rng) / scale
        y = s @ c + lever_noise_sd * rng.standard_normal((n_trials, n_time))
        p = np.zeros((n_trials, n_time, n_private))
        p[:, 0] = rng.standard_normal((n_trials, n_private))
        innov = np.sqrt(1 - a_p**2) * rng.standard_normal((n_trials, n_time, n_private))
        for t in range(1, n_time):
            p[:, t] = a_p * p[:, t - 1] + innov[:, t]
        p *= private_sd
        n_units = int(rng.integers(units[0], units[1] + 1))
        L = rng.standard_normal((n_shared, n_units)) / np.sqrt(n_shared)
        if not shared_in_neurons:
            L[:] = 0.0
        Q = rng.standard_normal((n_private, n_units)) / np.sqrt(max(n_private, 1))
        x = s @ L + p @ Q + noise_sd * rng.standard_normal((n_trials, n_time, n_units))
        X.append(x.astype(np.float32))
        Y.append(y)
        S.append(s)
        P.append(p)
    return LatentCohort(X=X, y=Y, shared=S, private=P, onset_bin=onset)
