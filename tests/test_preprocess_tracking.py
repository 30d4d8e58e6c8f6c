"""Cross-session tracking against ground-truth identities."""

from __future__ import annotations

import numpy as np
import pytest

from thalamocortex.preprocess.params import PreprocessParams
from thalamocortex.preprocess.tracking import phase_correlation, track_sessions
from thalamocortex.simulate.movies import MovieParams, simulate_movie

SHAPE = (96, 96)


def _resolvable(footprints, n, min_distance_px):
    """The first ``n`` footprints whose weighted centroids keep ``min_distance_px`` from every
    footprint kept before them."""
    cent = np.array([(f[:, :2] * f[:, 2:]).sum(0) / f[:, 2].sum() for f in footprints])
    keep: list[int] = []
    for k, c in enumerate(cent):
        if not keep or np.hypot(*(cent[keep] - c).T).min() >= min_distance_px:
            keep.append(k)
        if len(keep) == n:
            return [footprints[k] for k in keep]
    raise ValueError(f"only {len(keep)} of {n} footprints fit at {min_distance_px} px")


def _gaussian_footprint(cy, cx, sigma):
    """A bouton punctum (Gaussian, weights > 0.05) rendered at a sub-pixel centre."""
    k = int(np.ceil(3 * sigma))
    yy, xx = np.mgrid[int(cy) - k : int(cy) + k + 2, int(cx) - k : int(cx) + k + 2]
    w = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma * sigma))
    keep = w > 0.05
    return np.stack([yy[keep], xx[keep], w[keep]], axis=1).astype(np.float64)


def _sessions(
    n_sessions=5,
    n_cells=30,
    p_absent=0.1,
    n_new=3,
    seed=0,
    kind="soma",
    min_distance_px=2.5,
    rerender=False,
    jitter_px=0.4,
):
    """The same cells imaged on several days: a global shift per day, small per-cell centroid
    jitter and footprint deformation, some cells absent, some new ROIs each day.

    Boutons (``kind="bouton"``) are drawn with the simulator's placement and then kept only
    if their centres are at least ``min_distance_px`` apart: two puncta of SD 0.9 px closer
    than about their FWHM (2.1 px) form one blob that ROI detection returns as one ROI, so a
    field with two ROIs there is not a possible input (the simulator's own
    ``bouton_min_distance_px``, 2.5 px, encodes the same limit). ``rerender`` draws each day's
    bouton footprint afresh at its jittered sub-pixel centre with a +-10 % (SD) width change,
    instead of moving the reference footprint by whole pixels (which keeps its exact pixel
    pattern from day to day).
    """
    from scipy import ndimage

    from thalamocortex.simulate.movies import plane_footprints

    rng = np.random.default_rng(seed)
    mp = MovieParams(height_px=SHAPE[0], width_px=SHAPE[1], soma_diameter_px=8)
    n_tot = n_cells + n_sessions * n_new
    footprints = None
    if kind == "bouton":
        many, _ = plane_footprints(["bouton"] * (4 * n_tot), params=mp, seed=seed, fit_field=False)
        footprints = _resolvable(many, n_tot, min_distance_px)
    base = simulate_movie(
        np.zeros((2, n_tot)),
        [kind] * n_tot,
        np.arange(2) / 30.0,
        params=mp,
        seed=seed,
        footprints=footprints,
    )
    cent = np.array([(f[:, :2] * f[:, 2:]).sum(0) / f[:, 2].sum() for f in base.footprints])
    fps_all, imgs, ids = [], [], []
    for s in range(n_sessions):
        shift = rng.uniform(-5, 5, 2) if s else np.zeros(2)
        present = np.flatnonzero(rng.random(n_cells) >= p_absent)
        new = n_cells + s * n_new + np.arange(n_new)
        cells = np.concatenate([present, new])
        rng.shuffle(cells)
        fps = []
        for c in cells:
            jit = rng.normal(0, jitter_px, 2)
            if rerender:
                sigma = mp.bouton_sigma_px * (1 + 0.1 * rng.standard_normal())
                fp = _gaussian_footprint(*(cent[c] + shift + jit), sigma)
            else:
                fp = base.footprints[c].copy()
                fp[:, 0] += shift[0] + jit[0]
                fp[:, 1] += shift[1] + jit[1]
                fp[:, :2] = np.rint(fp[:, :2])
            fp[:, 2] *= rng.uniform(0.7, 1.3, len(fp))  # footprint weights change across days
            ok = (fp[:, 0] >= 0) & (fp[:, 0] < SHAPE[0]) & (fp[:, 1] >= 0) & (fp[:, 1] < SHAPE[1])
            fps.append(fp[ok])
        # the mean image moves with the field
        img = ndimage.shift(base.mean_image, shift, order=1, mode="reflect")
        imgs.append(img + rng.normal(0, 0.5, SHAPE))
        fps_all.append(fps)
        ids.append(cells)
    return fps_all, imgs, ids


def _pair_scores(res, ids):
    """Fraction of true cross-session pairs recovered and fraction of predicted pairs false."""
    true_pairs, pred_pairs = set(), set()
    n_s = len(ids)
    for a in range(n_s):
        for b in range(a + 1, n_s):
            common = set(ids[a]) & set(ids[b])
            true_pairs |= {(a, b, c) for c in common}
            for cell in range(res.n_cells):
                ra, rb = res.index[a, cell], res.index[b, cell]
                if ra >= 0 and rb >= 0:
                    pred_pairs.add((a, b, ids[a][ra], ids[b][rb]))
    correct = {(a, b, ca) for a, b, ca, cb in pred_pairs if ca == cb}
    false = [1 for a, b, ca, cb in pred_pairs if ca != cb]
    recovered = len(correct & true_pairs) / len(true_pairs) if true_pairs else np.nan
    return recovered, len(false) / max(len(pred_pairs), 1)


def test_phase_correlation_recovers_subpixel_shift():
    from scipy import ndimage

    rng = np.random.default_rng(1)
    img = ndimage.gaussian_filter(rng.random(SHAPE), 2)
    moved = ndimage.shift(img, (3.4, -2.6), order=3, mode="grid-wrap")
    dy, dx = phase_correlation(img, moved)
    assert abs(dy - 3.4) < 0.25 and abs(dx + 2.6) < 0.25


@pytest.mark.parametrize("seed", [0, 1])
def test_tracking_accuracy_and_false_matches(seed):
    fps, imgs, ids = _sessions(seed=seed)
    res = track_sessions(fps, SHAPE, imgs, PreprocessParams())
    acc, false = _pair_scores(res, ids)
    assert acc >= 0.95 and false <= 0.02, (acc, false)
    assert res.index.shape[0] == 5
    # every ROI of every session appears exactly once in the index
    for s in range(5):
        got = np.sort(res.index[s][res.index[s] >= 0])
        np.testing.assert_array_equal(got, np.arange(len(fps[s])))
    # probabilities: 1 where the cell was founded, within [min_probability, 1] for matches
    found = res.index >= 0
    assert np.isnan(res.probability[~found]).all()
    assert (res.probability[found] >= 0.5).all()


def test_tracking_without_registration_fails_on_large_shifts():
    fps, imgs, ids = _sessions(seed=2)
    with_reg = _pair_scores(track_sessions(fps, SHAPE, imgs), ids)
    without = _pair_scores(track_sessions(fps, SHAPE, None), ids)
    # observed: with 1.000 / 0.000; without (day shifts up to 5 px per axis, 8 px somata)
    # 0.911 recovered / 0.053 false: joint clustering still pairs many shifted somata, but
    # misses and false matches appear
    assert with_reg[0] >= 0.95 and with_reg[1] <= 0.02
    assert without[0] <= with_reg[0] - 0.05 and without[1] >= 0.03


def _scores_and_contract(fps, imgs, ids, params=None):
    res = track_sessions(fps, SHAPE, imgs, params or PreprocessParams())
    for s in range(len(fps)):  # every ROI of every session exactly once
        got = np.sort(res.index[s][res.index[s] >= 0])
        np.testing.assert_array_equal(got, np.arange(len(fps[s])))
    found = res.index >= 0
    assert np.isnan(res.probability[~found]).all()
    assert (res.probability[found] >= 0.5).all() and (res.probability[found] <= 1).all()
    return _pair_scores(res, ids), res


@pytest.mark.parametrize(
    ("seed", "rerender"), [(3, False), (4, False), (5, False), (3, True), (4, True), (5, True)]
)
def test_tracking_boutons(seed, rerender):
    # default parameters (the stage uses the same ones for somata and boutons); resolvable
    # bouton fields (see _sessions). Observed (recovered / false): seeds 3, 4, 5, whole-pixel
    # moves or re-rendered footprints, 1.000/0.000 each. With the realistic simulator's
    # placement (boutons in rows along axons, many neighbours 2.5-3 px apart) seed 5
    # re-rendered gave 0.975/0.025 before merges tied in probability were ordered by footprint
    # correlation (_cluster): two boutons 1.7 px apart on day 1 swapped identities because the
    # same-cell posterior is 1.0 for both neighbours. The previous sequential tracker
    # (radius 2 px) gave 0.980/0.000, 1.000/0.000, 0.941/0.000 on the first three. With the
    # unresolvable overlapping pairs of the original generator, even a matcher told the true
    # shifts and true positions reached only 0.962-1.000 recovered / 0.000-0.038 false
    # (seeds 3-12).
    fps, imgs, ids = _sessions(seed=seed, kind="bouton", n_cells=40, rerender=rerender)
    (acc, false), _ = _scores_and_contract(fps, imgs, ids)
    assert acc >= 0.95 and false <= 0.02, (acc, false)


@pytest.mark.parametrize("seed", [3, 4])
def test_tracking_boutons_null_no_shared_cells(seed):
    # every session images a new set of boutons in the same field (complete turnover): any
    # cross-session match is false. Observed: 0 and 0 of 200 ROIs in multi-session cells
    # (seeds 3-6: 0, 0, 2, 0 of 200, i.e. <= 1 %)
    fps, imgs, ids = _sessions(seed=seed, kind="bouton", n_cells=0, n_new=40, rerender=True)
    _, res = _scores_and_contract(fps, imgs, ids)
    multi = (res.index >= 0).sum(axis=0) >= 2
    frac = (res.index[:, multi] >= 0).sum() / sum(len(f) for f in fps)
    assert frac <= 0.02, frac


def test_tracking_refines_biased_registration():
    # mean-image registration off by 1.0-1.4 px (a mean image dominated by neuropil or
    # vessels): boutons are lost, the ROI-based refinement recovers them. Observed seed 3:
    # without refinement 0.239 recovered / 0.099 false, with 2 iterations 1.000 / 0.000
    from scipy import ndimage

    fps, imgs, ids = _sessions(seed=3, kind="bouton", n_cells=40)
    bias = [(0, 0), (1.2, -0.8), (-1.0, 1.0), (0.8, 0.8), (-1.2, -0.6)]
    imgs = [ndimage.shift(im, b, order=1, mode="reflect") for im, b in zip(imgs, bias)]
    plain, _ = _scores_and_contract(fps, imgs, ids, PreprocessParams(track_refine_iterations=0))
    refined, res = _scores_and_contract(fps, imgs, ids)
    assert plain[0] < 0.5 and refined[0] >= 0.95 and refined[1] <= 0.02, (plain, refined)


def test_tracking_distance_model_and_edge_cases():
    # CellReg's centroid-distance model (option): conservative. Observed seed 4 bouton 1.000 /
    # 0.000, somata seed 0 0.987 / 0.000
    p = PreprocessParams(track_probability_model="distance")
    fps, imgs, ids = _sessions(seed=4, kind="bouton", n_cells=40, rerender=True)
    (acc, false), _ = _scores_and_contract(fps, imgs, ids, p)
    assert acc >= 0.95 and false <= 0.01, (acc, false)
    fps, imgs, ids = _sessions(seed=0)
    (acc, false), _ = _scores_and_contract(fps, imgs, ids, p)
    assert acc >= 0.95 and false <= 0.01, (acc, false)
    # one session: every ROI its own cell; an empty session and an empty footprint are kept
    res = track_sessions([fps[0]], SHAPE, [imgs[0]])
    assert res.index.shape == (1, len(fps[0])) and (res.probability == 1).all()
    two = [fps[0] + [np.zeros((0, 3))], []]
    res = track_sessions(two, SHAPE, None)
    assert res.index.shape == (2, len(fps[0]) + 1) and (res.index[1] == -1).all()


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"rerender": True},
        {"rerender": True, "n_sessions": 10, "p_absent": 0.3, "n_new": 5},
        {"rerender": True, "n_cells": 70, "n_new": 5},
    ],
)
def test_tracking_boutons_sweep(variant):
    # seeds 3-10 of the bouton generator; harder variants: 10 days with 30 % absent and 5 new
    # boutons a day, or 70 boutons (denser field). Observed worst seed (lowest recovered /
    # highest false) on the realistic simulator's bouton placement, with merges tied in
    # probability ordered by footprint correlation: 1.000/0.000, 0.990/0.003, 1.000/0.012,
    # 1.000/0.002 (without that order: 0.975/0.025 on one seed of the first two). Not
    # asserted: day-to-day jitter 0.7 px per axis (about a punctum SD) gives 0.943/0.019 at
    # worst, mean 0.976/0.005 (the previous sequential tracker: 3 of 8 seeds passing)
    kw = {"n_cells": 40, **variant}
    scores = []
    for seed in range(3, 11):
        fps, imgs, ids = _sessions(seed=seed, kind="bouton", **kw)
        scores.append(_scores_and_contract(fps, imgs, ids)[0])
    scores = np.array(scores)
    assert (scores[:, 0] >= 0.95).all() and (scores[:, 1] <= 0.02).all(), scores.round(3)
