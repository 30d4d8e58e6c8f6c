"""Calibrate the simulator's measurement to a recording: fitted parameters as simulator YAML.

A lab planning an experiment on its own rig wants the in-silico experiment to look like its
data. :func:`fit_simulator` adjusts a few simulator parameters until the realism statistics of
simulated somata (one session of an all-optical control mouse, simulated in memory at the
recording's frame rate, measured exactly as the recording was) match the recording's medians.
One parameter per statistic (:data:`FIT_MAP`), each the one that moves its statistic most
distinctively; the elasticities (d log statistic / d log parameter) below were measured on the
``tiny`` preset at 15 Hz by doubling each parameter (same seed):

==================  ===========================================  =====  ======  =====  ======
statistic (median)  parameter (``SimulationConfig`` key)         noise  Fneu/F  peak   ev/min
==================  ===========================================  =====  ======  =====  ======
noise SD of dF/F    ``measurement.neuropil_photon_rate``          -0.45    0.00  -0.48   +0.38
                    (photon budget; shot noise ~ 1/sqrt photons)
Fneu / F            ``field.soma_brightness``                     -0.62   -0.30  -0.59   +0.43
                    (soma label relative to the neuropil)
event peak dF/F     ``m1.spiking.burst_size_mean``                +0.07   +0.02  +0.25   +0.50
events per minute   ``m1.spiking.burst_rate_hz``                  +0.06   -0.02  +0.05   +0.47
==================  ===========================================  =====  ======  =====  ======

The statistics are coupled: the photon budget and the soma brightness scale the noise and the
event peaks together (both are dF/F of the same neuropil-subtracted trace), and the peak is a
median over detected events, so a parameter that makes transients bigger also lets more small
ones cross the threshold. The indicator's per-spike amplitude
(``measurement.indicator.amplitude_1ap_dff``) is therefore *not* fitted: doubling it moves the
median event peak by only +0.06 (log units per doubling) but events per minute by +0.70,
which leaves the peak unreachable; the burst size moves the peak 4x more. A diagonal update
(each parameter from its own statistic) converges slowly on this coupling, so the fit is a
damped Newton iteration in log space (simulation-based calibration): the elasticity matrix of
the fitted statistics with respect to the fitted parameters is measured once by finite
differences at the starting point (one extra simulation per parameter, common random numbers:
the same seed), each step solves it for the log-parameter change that removes ``damping`` of
the log error (least squares), clipped to a factor in [1/4, 4] per parameter. The iterate
closest to the targets (largest relative error smallest) is returned. The result is the
overrides only, in the nested layout ``thalamocortex simulate --config`` reads.

These are parameters of the realistic simulator (shared photon budget, brightness relative to
the neuropil, sparse bursty spiking; issue 10 items 1-3). Skewness, fraction active and the
movie's photons per pixel are not fitted: they follow from the same parameters (the photon
budget sets the movie's photons directly).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from thalamocortex.realism.params import RealismParams

#: statistic -> the parameter (path in SimulationConfig) fitted to it (see the module docstring)
FIT_MAP: dict[str, str] = {
    "noise_sd": "measurement.neuropil_photon_rate",
    "fneu_over_f": "field.soma_brightness",
    "event_peak": "m1.spiking.burst_size_mean",
    "events_per_min": "m1.spiking.burst_rate_hz",
}
#: relative step of the finite-difference elasticities (log(1.5) per parameter)
JACOBIAN_STEP = 1.5
#: Levenberg-Marquardt ridge on the normal equations (squared elasticities). The elasticity
#: matrix of the four statistics is ill-conditioned (singular values ~1.06, 0.55, 0.22, 0.01 at
#: the defaults, 15 Hz): an undamped Newton step asks for x60 photons and x10^4 burst sizes; with
#: 0.02 the step stays within a factor ~2 and removes ~90 % of the log error
RIDGE = 0.02


def _get(cfg, path: str):
    node = cfg
    for part in path.split("."):
        node = getattr(node, part)
    return float(node)


def _bounds(cfg, path: str) -> tuple[float, float]:
    """Allowed (low, high) of a parameter from its declaration (ge/gt/le/lt); an open bound is
    kept 1e-6 (relative) inside."""
    node = cfg
    parts = path.split(".")
    for part in parts[:-1]:
        node = getattr(node, part)
    lo, hi = 0.0, np.inf
    for m in type(node).model_fields[parts[-1]].metadata:
        if getattr(m, "ge", None) is not None:
            lo = max(lo, float(m.ge))
        if getattr(m, "gt", None) is not None:
            lo = max(lo, float(m.gt) * (1 + 1e-6) + 1e-12)
        if getattr(m, "le", None) is not None:
            hi = min(hi, float(m.le))
        if getattr(m, "lt", None) is not None:
            hi = min(hi, float(m.lt) * (1 - 1e-6))
    return max(lo, 1e-12), hi


def _nested(path: str, value: float) -> dict:
    out: dict = {}
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def base_config(frame_rate: float, seed: int = 0):
    """The simulation the fit runs: the ``tiny`` preset, all-optical somata only, at
    ``frame_rate``, with the default preset's 150 M1 neurons and 40 trials (~4 min): the
    tiny session's 60 neurons and 20 trials leave the median events per minute 0.17 log units
    apart between seeds (0.065 with these; measured over seeds 0-3 at 15 Hz), more than the
    fit's tolerance."""
    from thalamocortex.simulate.params import preset

    cfg = preset("tiny")
    return cfg.with_overrides(
        {
            "seed": int(seed),
            "experiments": ["all_optical"],
            "measurement": {"frame_rate_hz": float(frame_rate)},
            "m1": {"n_neurons": 150},
            "behavior": {"n_trials": 40},
        }
    )


def simulated_soma_statistics(
    cfg, params: RealismParams | None = None, session: int = 1
) -> pd.DataFrame:
    """Per-ROI realism statistics of one simulated all-optical control session (in memory)."""
    from thalamocortex.preprocess.dff import artefact_mask
    from thalamocortex.realism.traces import trace_statistics
    from thalamocortex.simulate.cohort import cohort_design, simulate_session

    mice = [m for m in cohort_design(cfg, ["all_optical"]) if not m.opsin] or cohort_design(
        cfg, ["all_optical"]
    )
    s, _ = simulate_session(cfg, "all_optical", mice[0].mouse_index, session)
    im = s.imaging
    fr = im.frame_rate
    blank = None
    if s.stimulation is not None and len(s.stimulation.pulses):
        blank = artefact_mask(im.times, s.stimulation.pulses, fr)
    return trace_statistics(
        np.asarray(im.f), np.asarray(im.fneu), fr, blank_mask=blank, params=params
    )


@dataclass
class FitResult:
    """Result of :func:`fit_simulator`.

    Attributes
    ----------
    overrides : dict
        Nested simulator parameters (``simulate --config`` YAML layout), including the frame
        rate.
    history : DataFrame
        One row per iteration: the parameters used, the medians they gave, ``max_log_error``
        and ``chosen`` (the returned iterate).
    target : dict
        The recording's medians that were fitted.
    elasticity : DataFrame or None
        d log(statistic) / d log(parameter) at the starting point (statistics x parameters),
        measured by finite differences; None when the first simulation already met the
        tolerance or only one iteration was allowed.
    """

    overrides: dict
    history: pd.DataFrame
    target: dict = field(default_factory=dict)
    elasticity: pd.DataFrame | None = None

    def to_yaml(self) -> str:
        import yaml

        lines = ["# thalamocortex realism --fit: simulator parameters fitted to a recording"]
        for k, v in self.target.items():
            lines.append(f"#   target median {k}: {v:.4g}")
        last = self.history[self.history["chosen"]].iloc[0]
        for k in self.target:
            lines.append(f"#   simulated     {k}: {last[k]:.4g}")
        return "\n".join(lines) + "\n" + yaml.safe_dump(self.overrides, sort_keys=False)


def fit_simulator(
    target: dict,
    frame_rate: float,
    iterations: int = 8,
    tolerance: float = 0.05,
    damping: float = 0.7,
    seed: int = 0,
    params: RealismParams | None = None,
    base=None,
) -> FitResult:
    """Fit the simulator's measurement parameters to a recording's median statistics.

    Parameters
    ----------
    target : dict
        Median of each statistic of :data:`FIT_MAP` for the recording (e.g. from
        :func:`~thalamocortex.realism.summary.summarize`); statistics missing or not finite
        are not fitted.
    frame_rate : float
        The recording's frame rate (Hz); the simulation runs at it.
    iterations : int
        Most iterates simulated (the first is the starting point; the elasticities cost one
        more simulation per fitted parameter).
    tolerance : float
        Stop when every fitted median is within this relative distance of its target.
    damping : float
        Fraction of each Newton step applied (< 1: the elasticities are measured once, at the
        start, and the statistics are not log-linear far from it).
    seed : int
        Simulation seed.
    base : SimulationConfig, optional
        Starting configuration (default :func:`base_config`).

    Returns
    -------
    FitResult
    """
    cfg = base if base is not None else base_config(frame_rate, seed)
    goals = {k: float(v) for k, v in target.items() if k in FIT_MAP and np.isfinite(v) and v > 0}
    if not goals:
        raise ValueError(f"fit_simulator: no finite positive target among {list(FIT_MAP)}")
    keys = list(goals)
    paths = [FIT_MAP[k] for k in keys]
    goal = np.array([goals[k] for k in keys])
    bounds = np.log(np.array([_bounds(cfg, p) for p in paths]))  # (n, 2): log low, log high
    max_step = np.log(4.0)

    def simulate(logp: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
        over: dict = {"measurement": {"frame_rate_hz": float(frame_rate)}}
        for path, v in zip(paths, np.exp(logp)):
            over = _merge(over, _nested(path, float(v)))
        table = simulated_soma_statistics(cfg.with_overrides(over, "realism fit"), params)
        medians = np.array([float(np.nanmedian(table[k])) for k in keys])
        # a statistic that vanished (no events at all) counts as a factor 4 below its target
        log_error = np.where(
            np.isfinite(medians) & (medians > 0),
            np.log(np.where(medians > 0, medians, 1.0) / goal),
            -max_step,
        )
        return over, medians, log_error

    logp = np.log([_get(cfg, p) for p in paths])
    rows, best, jac = [], None, None
    for it in range(max(1, iterations)):
        over, medians, log_error = simulate(logp)
        error = float(np.max(np.abs(log_error)))
        rows.append(
            {
                "iteration": it,
                **dict(zip(paths, np.exp(logp).tolist())),
                **dict(zip(keys, medians.tolist())),
                "max_log_error": error,
            }
        )
        if best is None or error < best[0]:
            best = (error, over)
        if error <= np.log1p(tolerance) or it == max(1, iterations) - 1:
            break
        if jac is None:  # elasticities at the start, one parameter at a time (same seed)
            h = np.log(JACOBIAN_STEP)
            jac = np.zeros((len(keys), len(keys)))
            for j in range(len(keys)):
                dj = h if logp[j] + h <= bounds[j, 1] else -h
                probe = logp.copy()
                probe[j] += dj
                jac[:, j] = (simulate(probe)[2] - log_error) / dj
        # Levenberg-Marquardt step: the ridge keeps the nearly unidentifiable direction (the
        # photon budget, the soma brightness and the burst size trade off against each other)
        # from taking the step; shrunk as a whole (direction kept) to at most x4 per parameter
        normal = jac.T @ jac + RIDGE * np.eye(len(keys))
        step = -damping * np.linalg.solve(normal, jac.T @ log_error)
        step *= min(1.0, max_step / max(float(np.max(np.abs(step))), 1e-12))
        logp = np.clip(logp + step, bounds[:, 0], bounds[:, 1])
    history = pd.DataFrame(rows)
    history["chosen"] = history["max_log_error"] == best[0]
    elasticity = None if jac is None else pd.DataFrame(jac, index=keys, columns=paths)
    return FitResult(overrides=best[1], history=history, target=goals, elasticity=elasticity)
