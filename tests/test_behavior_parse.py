"""Lever movement parsing on small seeded synthetic levers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _references import min_jerk_onset_direct
from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.behavior.parse import absolute_threshold, detect_movements, parse_lever, runs
from thalamocortex.behavior.reference import reference_movements
from thalamocortex.data.errors import DataError
from thalamocortex.data.model import Lever


def _rise(u: np.ndarray, shape: str) -> np.ndarray:
    """Rise profile on [0, 1]: minimum jerk (leaves rest like u^3) or raised cosine (u^2)."""
    u = np.clip(u, 0.0, 1.0)
    if shape == "min_jerk":
        return u**3 * (10 - 15 * u + 6 * u**2)
    return 0.5 * (1 - np.cos(np.pi * u))


def press(
    t: np.ndarray,
    onset: float,
    rise: float = 0.2,
    amp: float = 2.0,
    hold: float = 0.3,
    shape: str = "min_jerk",
):
    """A press: smooth rise from rest (zero velocity at onset), hold, smooth return."""
    u = t - onset
    x = amp * _rise(u / rise, shape) * (u >= 0)
    down = u >= rise + hold
    x[down] = amp * (1 - _rise((u[down] - rise - hold) / rise, shape))
    return x


def synthetic_lever(
    onsets, duration=20.0, rate=1000.0, noise=0.01, seed=0, scale=1.0, units="mm", **kw
):
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * rate)) / rate
    x = sum(press(t, o, **kw) for o in onsets) if len(onsets) else np.zeros_like(t)
    x = x + noise * rng.standard_normal(len(t)) + 0.3
    return Lever(x * scale, rate, units)


ONSETS = [2.0, 5.5, 9.0, 13.2, 16.0]


def test_onsets_within_10ms_of_truth():
    mv = detect_movements(synthetic_lever(ONSETS))
    assert len(mv) == len(ONSETS)
    err = mv["onset"].to_numpy() - np.array(ONSETS)
    assert np.all(np.abs(err) < 0.005), err  # the minimum-jerk fit of the rise
    # the lab's threshold rule alone crosses late on presses leaving rest like t^3
    thr = detect_movements(synthetic_lever(ONSETS), BehaviorParams(refine_fit="none"))
    err_thr = thr["onset"].to_numpy() - np.array(ONSETS)
    assert np.all(err_thr > 0.01), err_thr
    # offsets: the lever is back at rest 2*rise+hold = 0.7 s after onset
    assert np.all(np.abs(mv["offset"].to_numpy() - (np.array(ONSETS) + 0.7)) < 0.03)
    # the 5 Hz zero-phase Butterworth (4th order) overshoots a 0.2 s rise by ~3 %
    assert np.allclose(mv["peak_amplitude"], 2.0, atol=0.07)


def test_onset_bias_of_a_raised_cosine_press():
    """The fit assumes a minimum-jerk start; a press leaving rest like t^2 (raised cosine,
    rise 0.2 s) gets onsets ~5 % of the rise time early (measured 8-11 ms)."""
    mv = detect_movements(synthetic_lever(ONSETS, shape="raised_cosine"))
    err = mv["onset"].to_numpy() - np.array(ONSETS)
    assert np.all((err < 0) & (err > -0.015)), err


def test_units_free_default_is_scale_invariant():
    a = detect_movements(synthetic_lever(ONSETS))
    b = detect_movements(synthetic_lever(ONSETS, scale=1e-3, units="m"))
    assert np.array_equal(a["onset_sample"], b["onset_sample"])
    assert np.allclose(b["peak_amplitude"], a["peak_amplitude"] * 1e-3)


def test_absolute_threshold_units():
    p = BehaviorParams(speed_threshold_mode="absolute", speed_threshold_abs=0.0007)
    assert absolute_threshold(p, "V") == pytest.approx(0.0007)
    assert absolute_threshold(p, "mV") == pytest.approx(0.7)
    p2 = BehaviorParams(
        speed_threshold_mode="absolute", speed_threshold_abs=0.7, speed_threshold_units="V/s"
    )
    assert absolute_threshold(p2, "V") == pytest.approx(0.0007)
    with pytest.raises(DataError, match="lever.units"):
        absolute_threshold(p, "mm")
    # a lever in mm with a threshold in mm/ms: 0.01 mm/ms finds the presses too
    p3 = BehaviorParams(
        speed_threshold_mode="absolute", speed_threshold_abs=0.002, speed_threshold_units="mm/ms"
    )
    mv = detect_movements(synthetic_lever(ONSETS), p3)
    assert len(mv) == len(ONSETS)


def test_gaps_shorter_than_merge_gap_are_merged():
    # two presses with 2 s of rest between them (3.0-3.7 s and 5.7-6.4 s)
    lever = synthetic_lever([3.0, 5.7, 15.0])
    sep = detect_movements(lever)
    assert len(sep) == 3
    assert np.allclose(sep["onset"], [3.0, 5.7, 15.0], atol=0.01)
    merged = detect_movements(lever, BehaviorParams(merge_gap_s=3.0))
    assert len(merged) == 2
    assert merged["onset"].iloc[0] == pytest.approx(3.0, abs=0.01)
    assert merged["offset"].iloc[0] == pytest.approx(6.4, abs=0.03)


def test_edge_bouts_dropped_and_counted():
    lever = synthetic_lever([0.0, 5.0, 19.6])
    mv = detect_movements(lever)
    assert len(mv) == 1 and mv["onset"].iloc[0] == pytest.approx(5.0, abs=0.01)
    assert mv.attrs["counts"]["n_bouts_dropped_edge"] == 2
    kept = detect_movements(lever, BehaviorParams(drop_edge_bouts=False))
    assert len(kept) == 3


def test_nan_runs_interpolated_or_excluded():
    lever = synthetic_lever(ONSETS)
    lever.data[1000:1020] = np.nan  # 20 ms: interpolated
    lever.data[5600:6000] = np.nan  # 400 ms inside the second press: excluded
    parsed = parse_lever(lever)
    assert parsed.counts["n_nan_samples_interpolated"] == 20
    assert parsed.counts["n_samples_excluded"] == 400
    assert parsed.counts["n_bouts_dropped_nan"] == 1
    on = parsed.movements["onset"].to_numpy()
    assert np.allclose(on, [2.0, 9.0, 13.2, 16.0], atol=0.01)
    assert not parsed.moving[~parsed.valid].any()


def test_bad_levers_raise_clear_errors():
    flat = Lever(np.full(5000, 1.25), 1000.0, "V")
    with pytest.raises(DataError, match="flat"):
        parse_lever(flat, source="sub-A_ses-1.nwb")
    with pytest.raises(DataError, match="sub-A_ses-1.nwb"):
        parse_lever(flat, source="sub-A_ses-1.nwb")
    with pytest.raises(DataError, match="entirely NaN"):
        parse_lever(Lever(np.full(5000, np.nan), 1000.0))
    with pytest.raises(DataError, match="too short"):
        parse_lever(Lever(np.random.default_rng(0).standard_normal(50), 1000.0))


def test_resampled_lever_keeps_session_times():
    lever = synthetic_lever(ONSETS, rate=500.0)
    lever.t0 = 12.5
    mv = detect_movements(lever)
    assert np.allclose(mv["onset"].to_numpy(), np.array(ONSETS) + 12.5, atol=0.012)
    # samples are at the parser's rate (1 kHz), not the input's
    assert mv["onset_sample"].iloc[0] == pytest.approx(2000, abs=12)


def test_vectorised_parser_equals_per_sample_reference():
    lever = synthetic_lever([1.5, 3.1, 7.0, 7.9, 12.0, 19.7], noise=0.02, seed=3)
    lever.data[9000:9400] = np.nan
    vec = parse_lever(lever).movements[["onset_sample", "offset_sample"]].to_numpy()
    ref = reference_movements(lever)
    assert vec.shape == ref.shape and vec.shape[0] >= 3
    assert np.array_equal(vec, ref)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=0, max_size=200))
def test_runs_reconstructs_mask(bits):
    mask = np.array(bits, dtype=bool)
    starts, stops = runs(mask)
    rebuilt = np.zeros(len(mask), dtype=bool)
    for a, b in zip(starts, stops):
        assert b > a
        rebuilt[a:b] = True
    assert np.array_equal(rebuilt, mask)
    # runs are separated by at least one False sample
    assert np.all(starts[1:] > stops[:-1])


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.lists(st.floats(1.0, 17.0), min_size=0, max_size=4),
    st.floats(0.003, 0.03),
)
def test_parser_never_returns_inconsistent_bouts(seed, onsets, noise):
    mv = detect_movements(synthetic_lever(sorted(onsets), noise=noise, seed=seed))
    on = mv["onset"].to_numpy()
    off = mv["offset"].to_numpy()
    assert np.all(off > on)
    assert np.all(on[1:] >= off[:-1])  # sorted, non-overlapping
    assert np.all((on > 0) & (off < 20.0))


@pytest.mark.parametrize("seed", range(6))
def test_min_jerk_onset_moments_equal_direct_profile_fit(seed):
    """The fit combines power moments of the time axis instead of evaluating the profile on
    the whole (t0, fraction, sample) grid; it must choose the same onset as the direct fit."""
    from thalamocortex.behavior.parse import min_jerk_onset

    rng = np.random.default_rng(seed)
    rate = 1000.0
    t = np.arange(3000) / rate
    moved = 0
    for k in range(20):
        onset = rng.uniform(0.8, 1.2)
        shape = "min_jerk" if k % 2 else "cosine"
        x = press(t, onset, rise=rng.uniform(0.08, 0.6), amp=2.0, shape=shape)
        x = x + rng.uniform(0.002, 0.05) * rng.standard_normal(len(t)) + 0.3
        on = int(np.argmax(np.abs(x - 0.3) > 0.2))  # a late threshold onset
        args = (x, 0.3, on, on + 700, max(0, on - 200), 0.3 * 2.0)
        got = min_jerk_onset(*args)
        assert got == min_jerk_onset_direct(*args)
        moved += got < on
        # a previous movement ending inside the fit's lead-in (``first``) shortens the window
        first = max(0, on - 200) - int(rng.integers(0, 20))
        assert min_jerk_onset(*args, first) == min_jerk_onset_direct(*args, first)
    assert moved >= 15  # the fit moved most onsets back (the rest: fit rejected, kept)
