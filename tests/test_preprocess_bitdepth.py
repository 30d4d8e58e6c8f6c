"""Movies at their native bit depth: uint16 values above 32,767 are not clipped on their way
into suite2p (which works on int16)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from thalamocortex.preprocess.params import PreprocessParams

pytestmark = pytest.mark.imaging
pytest.importorskip("torch")
if importlib.util.find_spec("suite2p") is None:
    pytest.skip("suite2p not installed", allow_module_level=True)

RATE = 30.0


def test_int16_conversion_scales_instead_of_clipping():
    from thalamocortex.preprocess.suite2p_run import _int16_movie

    small = np.array([[[0.4, 100.6], [-5.0, 32767.0]]], np.float32)
    out, scale = _int16_movie(small)
    assert scale == 1.0 and out.dtype == np.int16
    assert out.ravel().tolist() == [0, 101, -5, 32767]
    big = np.array([[[0, 1000], [40000, 65535]]], np.uint16)
    out, scale = _int16_movie(big)
    assert scale == 2.0
    np.testing.assert_allclose(out.astype(float) * scale, big.astype(float), atol=2)
    huge = np.array([[[0.0, 200000.0]]], np.float32)
    out, scale = _int16_movie(huge)
    assert scale == 8.0 and abs(out[0, 0, 1] * scale - 200000) <= 8


def _uint16_movie(n_frames=400, size=64, seed=3):
    """A motion-free uint16 movie of 9 somata on a bright background whose transients reach
    about 60,000 (a digitiser's range), with Gaussian noise; returns (movie, masks)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    centres = [(12 + 20 * i, 12 + 20 * j) for i in range(3) for j in range(3)]
    masks = [((yy - cy) ** 2 + (xx - cx) ** 2 <= 16).astype(float) for cy, cx in centres]
    kernel = np.exp(-np.arange(60) / (0.5 * RATE))
    movie = np.full((n_frames, size, size), 12000.0)
    for k, m in enumerate(masks):
        spikes = (rng.random(n_frames) < 0.03) * rng.uniform(0.6, 1.0, n_frames)
        spikes[50 + 30 * k] = 1.5  # one large transient per cell
        trace = np.convolve(spikes, kernel)[:n_frames]
        movie += m[None] * (8000.0 + 26000.0 * trace)[:, None, None]
    movie += rng.normal(0, 600.0, movie.shape)
    return np.clip(np.rint(movie), 0, 65535).astype(np.uint16), masks


def test_uint16_movie_above_32767_keeps_its_peaks():
    from thalamocortex.preprocess.suite2p_run import run_suite2p

    movie, masks = _uint16_movie()
    assert (movie > 32767).mean() > 0.001  # the premise: real values above int16's range
    res = run_suite2p(
        movie,
        RATE,
        PreprocessParams(suite2p_diameter_px=8, suite2p_threshold_scaling=1.0),
        save_dir=None,
    )
    assert res.n_rois >= 7
    frames = movie.astype(np.float64)
    ratios = []
    for st, f in zip(res.stat, res.F.T):
        y, x, lam = (np.asarray(st[k]) for k in ("ypix", "xpix", "lam"))
        truth = (frames[:, y, x] * (lam / lam.sum())).sum(axis=1)  # suite2p's weighted mean
        ratios.append(f.max() / truth.max())
        assert np.corrcoef(f, truth)[0, 1] > 0.99
    ratios = np.array(ratios)
    # peaks kept to within registration's sub-pixel resampling (clipping at 32,767, the old
    # int16 conversion, gave ratios of 0.50-0.53 here)
    assert np.all(np.abs(ratios - 1) < 0.04) and abs(np.median(ratios) - 1) < 0.015, ratios
    assert res.F.max() > 40000
    assert res.mean_image.max() > 20000
