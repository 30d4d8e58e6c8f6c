"""Movement-related classification: masks, events, the two nulls, calibration and power."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

import thalamocortex.config  # noqa: F401  (import order: config first)
from thalamocortex.data.errors import DataError
from thalamocortex.encoding.movement_related import (
    block_shuffle_null,
    block_shuffle_operator,
    circular_shift_null,
    classify_movement_related,
    count_events,
    epochs_of_mask,
    movement_contrast,
    movement_mask,
    noise_sd,
)
from thalamocortex.encoding.params import EncodingParams

FR = 10.0


def _session(rng, n_frames=4000, n_rois=200, n_tuned=40, n_moves=60, tuned_rate=0.08):
    t = np.arange(n_frames) / FR
    on = np.sort(rng.uniform(5, t[-1] - 8, n_moves))
    epochs = np.c_[on, on + rng.uniform(0.5, 2.5, n_moves)]
    mask = movement_mask(t, epochs)
    spikes = (rng.random((n_frames, n_rois)) < 0.015).astype(float)
    spikes[:, :n_tuned] += (rng.random((n_frames, n_tuned)) < tuned_rate) * mask[:, None]
    dff = scipy.signal.lfilter([1.0], [1.0, -0.9], spikes, axis=0)
    dff += rng.normal(0, 0.1, dff.shape)
    return t, epochs, mask, dff.astype(np.float32)


def test_movement_mask_edges_and_overlaps():
    t = np.arange(10) * 0.1
    m = movement_mask(t, [[0.2, 0.4], [0.35, 0.5], [0.9, 2.0]])
    assert m.tolist() == [False, False, True, True, True, True, False, False, False, True]
    with pytest.raises(DataError, match="offset"):
        movement_mask(t, [[0.5, 0.2]])


def test_noise_and_hysteresis_events():
    x = np.zeros((40, 2), dtype=np.float32)
    x[::2, :] = -0.1  # mirrored negative values: noise SD 0.1 (rms of 0 and -0.1 -> 0.1)
    x[5:8, 0] = [0.2, 0.5, 0.15]  # reaches 3 SD: one event
    x[20:23, 0] = [0.2, 0.25, 0.2]  # never reaches 3 SD: no event
    x[30:32, 0] = [0.4, 0.4]  # another event
    x[10:12, 1] = [0.35, 0.05]  # one event in ROI 1
    assert noise_sd(x)[0] == pytest.approx(0.1)
    assert count_events(x).tolist() == [2, 1]


def test_nulls_equal_direct_computation():
    rng = np.random.default_rng(0)
    t, epochs, mask, dff = _session(rng, n_frames=1500, n_rois=6, n_tuned=2, n_moves=20)
    dff[100:110] = np.nan  # blanked frames shared by all ROIs
    dff[400:405, 2] = np.nan  # and a ROI-specific gap
    shifts = np.array([37, 500, 1499])
    null = circular_shift_null(dff, mask, shifts, chunk=4)
    for k, s in enumerate(shifts):
        np.testing.assert_allclose(null[k], movement_contrast(dff, np.roll(mask, s)), rtol=1e-9)
    w = block_shuffle_operator(mask, 5, np.random.default_rng(1))
    null = block_shuffle_null(dff, mask, 5, np.random.default_rng(1), chunk=4)
    lengths, labels = epochs_of_mask(mask)
    for r in range(5):
        shuffled = -np.cumsum(w[r].toarray().ravel())[:-1] > 0.5
        sl, slab = epochs_of_mask(shuffled)
        # same alternation, same epoch lengths per label (movement epochs never merge)
        assert slab.tolist() == labels.tolist()
        assert sorted(sl[slab]) == sorted(lengths[labels])
        np.testing.assert_allclose(null[r], movement_contrast(dff, shuffled), rtol=1e-9)


def test_block_shuffle_operator_is_the_canonical_csr_of_its_entries():
    """The operator is built directly as CSR; it must equal scipy's canonical CSR of the same
    (row, column, +-1) entries (so products sum in the same order)."""
    import scipy.sparse

    rng = np.random.default_rng(3)
    _, _, mask, _ = _session(rng, n_frames=1200, n_rois=2, n_tuned=1, n_moves=25)
    for m in (mask, ~mask):  # starting in movement or in quiescence
        w = block_shuffle_operator(m, 40, np.random.default_rng(5))
        coo = w.tocoo()
        ref = scipy.sparse.csr_matrix((coo.data, (coo.row, coo.col)), shape=w.shape)
        assert w.has_canonical_format
        np.testing.assert_array_equal(w.indptr, ref.indptr)
        np.testing.assert_array_equal(w.indices, ref.indices)
        np.testing.assert_array_equal(w.data, ref.data)
        assert (w.data == 1).sum() == (w.data == -1).sum() == 40 * epochs_of_mask(m)[1].sum()


def test_classification_power_and_false_positive_rate():
    rng = np.random.default_rng(1)
    t, epochs, _, dff = _session(rng, n_frames=5000, n_rois=600, n_tuned=60)
    res = classify_movement_related(dff, t, epochs, EncodingParams(n_shuffles=1000))
    tuned = np.arange(600) < 60
    assert res.loc[tuned, "movement_related"].mean() >= 0.95
    for null in ("block_shuffle", "circular_shift"):
        p_m = res.loc[~tuned, f"p_movement_{null}"]
        p_q = res.loc[~tuned, f"p_quiescence_{null}"]
        fpr = np.mean((p_m <= 0.025) | (p_q <= 0.025))
        assert 0.02 <= fpr <= 0.08, (null, fpr)
    # exact empirical p-values: never below 1 / (n + 1)
    assert res["p_movement"].min() == pytest.approx(1 / 1001)
    assert set(res["cls"]) <= {"movement", "quiescence", "neither"}


def test_quiescence_related_and_min_events():
    rng = np.random.default_rng(2)
    t, epochs, mask, dff = _session(rng, n_frames=3000, n_rois=20, n_tuned=0)
    quiet = scipy.signal.lfilter([1.0], [1.0, -0.9], (rng.random(3000) < 0.08) * ~mask)
    dff[:, 0] = quiet + rng.normal(0, 0.1, 3000)
    # movement-modulated square wave: its negative half sets the noise SD, so it never
    # crosses 3 noise SDs — no calcium events, hence "neither" despite the modulation
    dff[:, 1] = np.where(mask, 0.05, -0.05) + rng.normal(0, 0.001, 3000)
    res = classify_movement_related(dff, t, epochs, EncodingParams(n_shuffles=500, min_events=5))
    assert res.loc[0, "cls"] == "quiescence"
    assert res.loc[1, "n_events"] < 5 and res.loc[1, "cls"] == "neither"


def test_bad_inputs():
    t = np.arange(100) / FR
    x = np.zeros((100, 3), np.float32)
    with pytest.raises(DataError, match="frame_times"):
        classify_movement_related(x, t[:-1], [[1, 2]])
    with pytest.raises(DataError, match="quiescence"):
        classify_movement_related(x, t, [[-1, 20]])
