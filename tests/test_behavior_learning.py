"""Learning metrics: stereotypy, session x session matrix, template, similarity, trends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thalamocortex.behavior.learning import (
    bin_traces,
    correlation_matrix,
    expert_sessions,
    learning_trend,
    movement_template,
    session_matrix,
    stereotypy,
    template_similarity,
    usable,
)


def _traces(n, noise, seed, n_bins=300):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 3, n_bins)
    shape = np.sin(2 * np.pi * t / 3) + 0.5 * np.sin(2 * np.pi * t)
    return shape + noise * rng.standard_normal((n, n_bins)), shape


def test_stereotypy_excludes_self_pairs():
    x, _ = _traces(3, 0.0, 0)
    x[2] = -x[2]  # pairs: (0,1)=1, (0,2)=-1, (1,2)=-1
    assert stereotypy(x) == pytest.approx(-1.0)
    # with self-pairs the lab's median would have been 1 (6 of 9 entries are +1)
    c = correlation_matrix(x)
    assert np.median(c) == pytest.approx(1.0)


def test_stereotypy_matches_known_noise_level():
    # signal variance s2, noise variance n2 -> expected pairwise r = s2 / (s2 + n2)
    x, shape = _traces(60, 0.5, 1)
    expected = shape.var() / (shape.var() + 0.25)
    assert stereotypy(x) == pytest.approx(expected, abs=0.03)


def test_unusable_rows_are_dropped_and_few_trials_give_nan():
    x, _ = _traces(5, 0.3, 2)
    x[1, 10] = np.nan
    x[3] = 0.0
    assert usable(x).tolist() == [True, False, True, False, True]
    assert np.isfinite(stereotypy(x, min_trials=3))
    assert np.isnan(stereotypy(x, min_trials=4))


def test_session_matrix_symmetric_with_within_session_diagonal():
    a, _ = _traces(20, 0.2, 3)
    b, _ = _traces(20, 1.0, 4)
    m = session_matrix({1: b, 2: a})
    assert len(m) == 4
    piv = m.pivot(index="session_a", columns="session_b", values="correlation")
    assert piv.loc[1, 2] == piv.loc[2, 1]
    assert piv.loc[2, 2] == pytest.approx(stereotypy(a))
    assert piv.loc[2, 2] > piv.loc[1, 2] > piv.loc[1, 1]
    assert m.set_index(["session_a", "session_b"]).loc[(1, 1), "n_pairs"] == 190


def test_template_and_similarity():
    x, shape = _traces(40, 0.3, 5)
    by = {
        1: x[:10] * 0 + np.random.default_rng(9).standard_normal((10, 300)),
        13: x[10:25],
        14: x[25:],
    }
    assert expert_sessions(by, 2) == [13, 14]
    tpl, n = movement_template(by, expert_sessions(by, 2))
    assert n == 30
    assert np.corrcoef(tpl, shape)[0, 1] > 0.98
    sim = template_similarity(np.vstack([shape, -shape, np.full(300, np.nan)]), tpl)
    assert sim[0] > 0.98 and sim[1] < -0.98 and np.isnan(sim[2])
    assert np.isnan(template_similarity(x[:2], np.zeros(300))).all()


def test_bin_traces_averages_10ms_bins():
    times = np.arange(-400, 3000) / 1000.0
    snip = np.tile(times, (2, 1))
    b = bin_traces(snip, times, 0.0, 3.0, 0.01)
    assert b.shape == (2, 300)
    assert b[0, 0] == pytest.approx(0.0045)
    assert b[0, -1] == pytest.approx(2.9945)
    with pytest.raises(ValueError, match="exceeds"):
        bin_traces(snip, times, 0.0, 3.5, 0.01)


def test_learning_trend_detects_slopes_across_mice():
    rng = np.random.default_rng(0)
    rows = []
    for m in range(6):
        for s in (1, 4, 7, 10, 14):
            rows.append({"mouse": f"m{m}", "session": s, "y": 0.3 + 0.03 * s + 0.02 * rng.normal()})
    tr = learning_trend(pd.DataFrame(rows), "y")
    assert tr["n_mice"] == 6
    assert tr["mean_slope"] == pytest.approx(0.03, abs=0.005)
    assert tr["p"] < 1e-4
    flat = pd.DataFrame(rows).assign(y=lambda d: 0.5 + 0.02 * rng.normal(size=len(d)))
    assert learning_trend(flat, "y")["p"] > 0.01
