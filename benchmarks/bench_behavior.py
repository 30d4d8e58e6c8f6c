"""Benchmark: parse one hour of 1 kHz lever signal.

The lever is the in-silico mouse's (raised-cosine presses, white sensor noise, slow drift,
50 Hz pick-up; ~360 trials plus spontaneous movements). The vectorised parser
(:func:`thalamocortex.behavior.parse.parse_lever`) runs on the full hour; the straightforward
per-sample Python reference of the same algorithm
(:func:`thalamocortex.behavior.reference.reference_movements`) runs on the first
``REF_MINUTES`` minutes and its time is scaled linearly to one hour (its cost is linear in the
number of samples). Both are checked to give the same movements on that piece.
"""

from __future__ import annotations

import time

import numpy as np

from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.behavior.parse import lever_speed, lowpass, parse_lever
from thalamocortex.behavior.reference import reference_movements
from thalamocortex.data.model import Lever
from thalamocortex.simulate.behavior import mouse_template, simulate_behavior
from thalamocortex.simulate.params import SimulationConfig

HOUR_S = 3600.0
REF_MINUTES = 5.0


def one_hour_lever(seed: int = 0) -> Lever:
    """One hour of simulated 1 kHz lever (mm)."""
    cfg = SimulationConfig()
    cfg.behavior.lever_rate_hz = 1000.0
    cfg.behavior.n_trials = 420  # ~8.6 s per trial: comfortably more than one hour
    rng = np.random.default_rng(seed)
    res = simulate_behavior(rng, cfg, mouse_template(rng, cfg.behavior), 0.5)
    n = int(HOUR_S * res.rate)
    if len(res.lever) < n:
        raise RuntimeError(f"simulated lever is {len(res.lever) / res.rate:.0f} s, need 3600 s")
    return Lever(np.asarray(res.lever[:n], dtype=np.float64), res.rate, "mm")


def main() -> None:
    params = BehaviorParams()
    t = time.perf_counter()
    lever = one_hour_lever()
    print(
        f"   data: {lever.n_samples:,} samples ({lever.duration / 60:.0f} min at "
        f"{lever.rate:g} Hz), simulated in {time.perf_counter() - t:.1f} s"
    )
    parse_lever(Lever(lever.data[:10_000], lever.rate, lever.units), params)  # warm-up
    t = time.perf_counter()
    parsed = parse_lever(lever, params)
    t_vec = time.perf_counter() - t
    n_ref = int(REF_MINUTES * 60 * lever.rate)
    piece = Lever(lever.data[:n_ref], lever.rate, lever.units)
    t = time.perf_counter()
    ref = reference_movements(piece, params)
    t_ref_piece = time.perf_counter() - t
    t_ref = t_ref_piece * lever.n_samples / n_ref
    vec_piece = parse_lever(piece, params).movements[["onset_sample", "offset_sample"]]
    same = vec_piece.shape == ref.shape and bool((vec_piece.to_numpy() == ref).all())
    print(f"   vectorised parser, 1 h: {t_vec:.2f} s ({len(parsed.movements)} movements)")
    print(
        f"   per-sample Python reference: {t_ref_piece:.2f} s on the first {REF_MINUTES:g} min, "
        f"scaled linearly to 1 h: {t_ref:.1f} s"
    )
    print(f"   speed-up (reference / vectorised): {t_ref / t_vec:.1f}x")
    # both share the filtering and the Hilbert envelope (SciPy); the rest is the bout logic
    x = lever.values
    t = time.perf_counter()
    pos = lowpass(x, params.resample_hz, params.lowpass_hz, params.filter_order)
    lowpass(x, params.resample_hz, params.refine_lowpass_hz, params.filter_order)
    lever_speed(pos, params.resample_hz, params.velocity_smooth_samples)
    t_front = time.perf_counter() - t
    vec_logic = max(t_vec - t_front, 1e-9)
    ref_logic = max(t_ref - t_front, 1e-9)
    print(
        f"   shared front end (2 zero-phase filters + Hilbert envelope), 1 h: {t_front:.2f} s; "
        f"bout logic + refinement: vectorised {vec_logic:.2f} s vs reference {ref_logic:.1f} s "
        f"({ref_logic / vec_logic:.0f}x)"
    )
    print(f"   identical movements on the {REF_MINUTES:g} min piece: {same}")


if __name__ == "__main__":
    main()
