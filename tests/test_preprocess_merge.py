"""Boutons -> axons merging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from thalamocortex.preprocess.events import detect_events
from thalamocortex.preprocess.merge import (
    event_windows,
    merge_boutons,
    merge_imaging_boutons,
    union_window_correlation,
)
from thalamocortex.preprocess.params import PreprocessParams

RATE = 30.0


def _boutons(n_axons=12, n_frames=6000, seed=0, noise=0.15, rate_hz=0.05):
    """Axons with 1-6 boutons each: shared axon calcium signal + independent bouton noise."""
    rng = np.random.default_rng(seed)
    kernel = np.exp(-np.arange(int(3 * RATE)) / (0.7 * RATE))
    sizes = rng.integers(1, 7, n_axons)
    labels = np.repeat(np.arange(n_axons), sizes)
    axon = np.stack(
        [
            np.convolve(
                (rng.random(n_frames) < rate_hz / RATE) * rng.uniform(0.8, 2.0, n_frames), kernel
            )[:n_frames]
            for _ in range(n_axons)
        ],
        axis=1,
    )
    gain = rng.uniform(0.6, 1.4, len(labels))
    dff = axon[:, labels] * gain + rng.normal(0, noise, (n_frames, len(labels)))
    return dff.astype(np.float32), labels, axon


def test_union_window_correlation_matches_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (500, 5))
    x[:, 1] += x[:, 0]
    x[100:110] = np.nan  # blanked frames
    w = rng.random((500, 5)) < 0.2
    got = union_window_correlation(x, w, min_frames=2)
    ok = np.isfinite(x).all(1)
    for i in range(5):
        for j in range(5):
            if i == j:
                continue
            u = (w[:, i] | w[:, j]) & ok
            want = np.corrcoef(x[u, i], x[u, j])[0, 1]
            assert got[i, j] == pytest.approx(want, abs=1e-9)
    assert np.allclose(np.diag(got), 1.0)


def test_union_windows_separate_axons_better_than_whole_trace():
    dff, labels, _ = _boutons(n_axons=6, seed=2)
    ev = detect_events(dff, PreprocessParams())
    r_union = union_window_correlation(dff, event_windows(ev, RATE, 0.5))
    r_full = np.corrcoef(dff.T)
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    # same-axon pairs: union-window r is high, whole-trace r is diluted by inter-event noise
    assert np.median(r_union[same & off]) > 0.8
    assert np.median(r_union[same & off]) > np.median(r_full[same & off]) + 0.1
    assert np.percentile(r_union[~same], 95) < 0.5


@pytest.mark.parametrize("seed", [0, 3, 4])
def test_merge_recovers_true_axons(seed):
    dff, labels, axon = _boutons(n_axons=12, seed=seed)
    m = merge_boutons(dff, RATE, PreprocessParams())
    ari = adjusted_rand_score(labels, m.labels)
    assert ari >= 0.9, ari
    assert m.n_boutons == len(labels) and 12 <= m.n_axons <= 15  # errs towards splitting
    # merged traces track the true axon signal better than single boutons
    for a in range(m.n_axons):
        members = np.flatnonzero(m.labels == a)
        true_a = np.bincount(labels[members]).argmax()
        r_merged = np.corrcoef(m.dff[:, a], axon[:, true_a])[0, 1]
        r_single = np.corrcoef(dff[:, members[0]], axon[:, true_a])[0, 1]
        assert r_merged >= r_single - 1e-6
    assert m.axons["n_boutons"].sum() == len(labels)


def test_merge_threshold_extremes():
    dff, labels, _ = _boutons(n_axons=5, seed=5)
    m_low = merge_boutons(dff, RATE, PreprocessParams(merge_correlation_threshold=0.01))
    m_none = merge_boutons(dff, RATE, PreprocessParams(merge_correlation_threshold=0.999))
    # different axons are uncorrelated in union windows, so even r > 0.01 does not merge them
    assert m_low.n_axons == 5 and adjusted_rand_score(labels, m_low.labels) == 1.0
    assert m_none.n_axons == len(labels)


def test_merge_imaging_keeps_somata_and_nan_frames():
    dff, labels, _ = _boutons(n_axons=4, n_frames=3000, seed=6)
    dff[100:105] = np.nan
    n = dff.shape[1]
    soma = np.random.default_rng(0).normal(0, 0.1, (3000, 2)).astype(np.float32)
    soma[100:105] = np.nan
    rois = pd.DataFrame(
        {
            "roi_name": [f"s{k}" for k in range(2)] + [f"b{k}" for k in range(n)],
            "roi_type": ["soma"] * 2 + ["bouton"] * n,
            "region": ["M1"] * 2 + ["MTh"] * n,
        }
    )
    out_rois, out_dff, m = merge_imaging_boutons(rois, np.hstack([soma, dff]), RATE)
    assert out_rois["roi_type"].tolist()[:2] == ["soma", "soma"]
    assert (out_rois["roi_type"].iloc[2:] == "axon").all()
    assert (out_rois["region"].iloc[2:] == "MTh").all()
    assert out_dff.shape == (3000, 2 + m.n_axons)
    np.testing.assert_array_equal(out_dff[:, :2], soma)
    assert np.isnan(out_dff[100:105]).all() and np.isfinite(out_dff[200]).all()
    assert adjusted_rand_score(labels, m.labels) >= 0.9
