"""Calibrate the simulator's measurement to a recording: fitted parameters as simulator YAML.

A lab planning an experiment on its own rig wants the in-silico experiment to look like its
data. :func:`fit_simulator` adjusts a few simulator parameters until the realism statistics of
simulated somata (one session of an all-optical control mouse, simulated in memory at the
recording's frame rate, measured exactly as the recording was) match the recording's medians:

========================  =======================================  =========================
statistic (median)        parameter (``SimulationConfig`` key)     update per iteration
========================  =======================================  =========================
noise SD of dF/F          ``measurement.f0_soma_photons``          x (sim / target)^2
                          (photon budget; shot noise ~ 1/sqrt F0)
Fneu / F                  ``measurement.neuropil_photons``         x target / sim
event peak dF/F           ``measurement.indicator.amplitude_dff``  x target / sim
events per minute         ``m1.baseline_rate_hz``                  x target / sim
========================  =======================================  =========================

Each update is the inverse of the statistic's leading-order dependence on its parameter
(shot-noise scaling, proportionality); the parameters interact (the neuropil adds noise, the
rate changes peaks through summation), so the updates are iterated (simulation-based
calibration; at most ``iterations`` simulations), damped (``damping`` x the exponent) and
clipped to a factor in [1/4, 4] per step; the iterate closest to the targets (largest
relative error smallest) is returned. The result is the overrides only, in the nested layout
``thalamocortex simulate --config`` reads.

These are the parameters of the simulator as it stands (trace-level photon budget, neuropil,
indicator amplitude, tonic baseline rate); the map is the one table above
(:data:`FIT_MAP`), to be extended when the simulator gains a shared photon budget, bursty
spiking and a movie-level brightness (issue 10 items 1-3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from thalamocortex.realism.params import RealismParams

#: statistic -> (parameter path in SimulationConfig, exponent of the multiplicative update)
FIT_MAP: dict[str, tuple[str, float]] = {
    "noise_sd": ("measurement.f0_soma_photons", 2.0),
    "fneu_over_f": ("measurement.neuropil_photons", -1.0),
    "event_peak": ("measurement.indicator.amplitude_dff", -1.0),
    "events_per_min": ("m1.baseline_rate_hz", -1.0),
}


def _get(cfg, path: str):
    node = cfg
    for part in path.split("."):
        node = getattr(node, part)
    return float(node)


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
    ``frame_rate``."""
    from thalamocortex.simulate.params import preset

    cfg = preset("tiny")
    return cfg.with_overrides(
        {
            "seed": int(seed),
            "experiments": ["all_optical"],
            "measurement": {"frame_rate_hz": float(frame_rate)},
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
    """

    overrides: dict
    history: pd.DataFrame
    target: dict = field(default_factory=dict)

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
        Most simulations run (the last one measures the returned parameters).
    tolerance : float
        Stop when every fitted median is within this relative distance of its target.
    damping : float
        Fraction of each update's exponent applied (< 1 damps the oscillation that the
        coupling between photon budget and neuropil ratio causes).
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
    values = {FIT_MAP[k][0]: _get(cfg, FIT_MAP[k][0]) for k in goals}
    rows, best = [], None
    for it in range(max(1, iterations)):
        over: dict = {"measurement": {"frame_rate_hz": float(frame_rate)}}
        for path, v in values.items():
            over = _merge(over, _nested(path, v))
        table = simulated_soma_statistics(cfg.with_overrides(over, "realism fit"), params)
        medians = {k: float(np.nanmedian(table[k])) for k in goals}
        error = max(abs(np.log(max(medians[k], 1e-12) / goals[k])) for k in goals)
        rows.append({"iteration": it, **values, **medians, "max_log_error": error})
        if best is None or error < best[0]:
            best = (error, over)
        if error <= np.log1p(tolerance):
            break
        for k, goal in goals.items():
            path, exponent = FIT_MAP[k]
            ratio = medians[k] / goal if medians[k] > 0 else 0.25
            values[path] *= float(np.clip(ratio ** (damping * exponent), 0.25, 4.0))
    history = pd.DataFrame(rows)
    history["chosen"] = history["max_log_error"] == best[0]
    return FitResult(overrides=best[1], history=history, target=goals)
