"""Movement-related and quiescence-related ROIs.

Statistic: for each ROI, mean dF/F during movement minus mean dF/F during quiescence (frames
that are NaN, e.g. blanked stimulation artefacts, are left out of both means).

Nulls that keep the temporal structure of the activity (no Python loop over resamples):

``block_shuffle`` (the lab's null; Peters, Chen & Komiyama 2014)
    The behavioural timeline is cut into its contiguous movement and quiescence epochs; the
    movement epochs are permuted among themselves and the quiescence epochs among themselves
    (so the timeline still alternates); the activity stays in place. Each epoch keeps its
    length, so the fraction of movement time and the epoch-length distributions are
    preserved. Whether the lab permuted activity blocks or the epoch order of the behaviour is
    not published; both give the same exchangeability under the null of activity independent
    of movement, and the second is the one that can be computed
    for all ROIs at once: the movement sum of a shuffled timeline is a difference of the
    activity's cumulative sum at the shuffled epoch edges, so all resamples are one sparse
    (resamples x frames) by dense (frames x ROIs) product.
``circular_shift``
    The movement mask is circularly shifted against the activity by a random lag of at least
    ``min_shift_s``; one FFT cross-correlation per ROI gives every lag at once.

p-values are exact empirical: ``p = (k + 1) / (n + 1)`` with ``k`` resamples at least as
extreme (one-sided, each tail). The lab's rule — movement-related above the 97.5th percentile
of the null, quiescence-related below the 2.5th — is ``p_movement <= alpha / 2`` and
``p_quiescence <= alpha / 2`` with ``alpha = 0.05``. ROIs with fewer than ``min_events``
calcium events (hysteresis 1x / 3x the noise SD of the mirrored negative dF/F) are "neither".
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.fft
import scipy.sparse

from thalamocortex.data.errors import DataError
from thalamocortex.encoding.params import EncodingParams

#: ``no_data``: the ROI has no finite dF/F during movement or during quiescence (an all-NaN
#: trace, for instance); it is excluded and counted, never classified.
CLASSES: tuple[str, ...] = ("movement", "quiescence", "neither", "no_data")


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def _as_dff(dff: np.ndarray) -> np.ndarray:
    dff = np.asarray(dff)
    if dff.ndim != 2:
        raise DataError(f"dff: expected a (frames x ROIs) array, got shape {dff.shape}")
    return dff


def movement_mask(frame_times: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Frames that fall inside movement epochs.

    Parameters
    ----------
    frame_times : array (n_frames,)
        Session time of each frame (s).
    epochs : array (n_epochs, 2)
        Movement onset and offset times (s), e.g. every lever movement bout (cued and
        spontaneous) from :func:`thalamocortex.behavior.detect_movements`.

    Returns
    -------
    array (n_frames,) bool
    """
    t = np.asarray(frame_times, dtype=np.float64)
    ep = np.asarray(epochs, dtype=np.float64).reshape(-1, 2)
    if np.any(ep[:, 1] < ep[:, 0]):
        raise DataError("movement epochs: every offset must be >= its onset", field="epochs")
    # +1 at each onset, -1 after each offset; a frame is moving when the running count > 0
    delta = np.zeros(len(t) + 1, dtype=np.int64)
    np.add.at(delta, np.searchsorted(t, ep[:, 0], side="left"), 1)
    np.add.at(delta, np.searchsorted(t, ep[:, 1], side="right"), -1)
    return np.cumsum(delta)[:-1] > 0


def noise_sd(dff: np.ndarray) -> np.ndarray:
    """Noise SD per ROI from the mirrored negative dF/F (SD of ``{x < 0} U {-x}``), (n_rois,)."""
    x = _as_dff(dff)
    neg = np.where(x < 0, x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ROIs without negative frames: NaN
        return np.sqrt(np.nanmean(neg.astype(np.float64) ** 2, axis=0))


def count_events(dff: np.ndarray, low: float = 1.0, high: float = 3.0) -> np.ndarray:
    """Calcium events per ROI by hysteresis thresholding, (n_rois,) int.

    An event is a contiguous run of frames above ``low`` x noise SD that reaches
    ``high`` x noise SD somewhere (the lab's convention, 1x and 3x). NaN frames end a run.
    """
    x = _as_dff(dff)
    sd = noise_sd(x)
    with np.errstate(invalid="ignore"):
        above_low = x > low * sd
        above_high = x >= high * sd
    prev = np.zeros_like(above_low)
    prev[1:] = above_low[:-1]
    run_id = np.cumsum(above_low & ~prev, axis=0, dtype=np.int32)
    # run ids grow along time, so a high frame opens a new event when its run id exceeds the
    # id of the last high frame before it
    high_ids = np.where(above_high, run_id, 0)
    last = np.maximum.accumulate(high_ids, axis=0)
    last_before = np.zeros_like(last)
    last_before[1:] = last[:-1]
    return (above_high & (run_id > last_before)).sum(axis=0)


# ---------------------------------------------------------------------------------------------
# statistic and nulls
# ---------------------------------------------------------------------------------------------


def _contrast(sum_move, n_move, total, n_valid):
    """Mean during movement minus mean during quiescence from movement sums and counts."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return sum_move / n_move - (total - sum_move) / (n_valid - n_move)


def _prepare(dff: np.ndarray):
    x = _as_dff(dff)
    valid = np.isfinite(x)
    common = bool(valid.all()) or bool((valid == valid[:, :1]).all())
    x0 = np.where(valid, x, 0.0).astype(np.float64)
    v = valid[:, 0].astype(np.float64) if common else valid.astype(np.float64)
    return x0, v, common


def movement_contrast(dff: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Observed statistic: mean dF/F in movement minus in quiescence per ROI, (n_rois,)."""
    x0, v, common = _prepare(dff)
    m = np.asarray(mask, dtype=np.float64)
    vv = v[:, None] if common else v
    return _contrast(m @ x0, m @ vv, x0.sum(0), vv.sum(0))


def circular_shift_null(
    dff: np.ndarray, mask: np.ndarray, shifts: np.ndarray, chunk: int = 256
) -> np.ndarray:
    """Null statistics for circular shifts of the movement mask, all ROIs at once.

    Parameters
    ----------
    dff : array (n_frames, n_rois)
    mask : array (n_frames,) bool
        Movement frames.
    shifts : array (n_resamples,) int
        Shifts in frames (mask moved later by ``shift``, wrapping around).
    chunk : int
        ROIs per FFT batch (bounds memory at ~ 16 x n_frames x chunk bytes).

    Returns
    -------
    array (n_resamples, n_rois) float64
    """
    x0, v, common = _prepare(dff)
    n_frames, n_rois = x0.shape
    m = np.asarray(mask, dtype=np.float64)
    shifts = np.asarray(shifts, dtype=np.int64) % n_frames
    nfft = n_frames  # circular shifts need the exact period (pocketfft handles any length)
    conj_m = np.conj(scipy.fft.rfft(m, n=nfft))

    def xcorr(a):  # sum_t m[t - k] a[t] for every k
        return scipy.fft.irfft(scipy.fft.rfft(a, n=nfft, axis=0) * conj_m[:, None], n=nfft, axis=0)

    out = np.empty((len(shifts), n_rois))
    if common:
        n_move = np.rint(xcorr(v[:, None])[shifts, 0])[:, None]
        n_valid = v.sum()
    for lo in range(0, n_rois, chunk):
        sl = slice(lo, min(lo + chunk, n_rois))
        s_move = xcorr(x0[:, sl])[shifts]
        if not common:
            n_move = np.rint(xcorr(v[:, sl])[shifts])
            n_valid = v[:, sl].sum(0)
        out[:, sl] = _contrast(s_move, n_move, x0[:, sl].sum(0), n_valid)
    return out


def epochs_of_mask(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous runs of a boolean mask: ``(lengths, labels)`` in time order."""
    m = np.asarray(mask, dtype=bool)
    edges = np.flatnonzero(np.diff(m.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(m)]])
    return ends - starts, m[starts]


def block_shuffle_operator(
    mask: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> scipy.sparse.csr_matrix:
    """Sparse operator whose product with a cumulative sum gives shuffled movement sums.

    Each row is one resample: the movement epochs of ``mask`` in a random order in the
    movement slots, the quiescence epochs likewise in the quiescence slots.
    Row ``r`` has +1 at the end and -1 at the start of every movement epoch of resample ``r``,
    so ``W @ C`` with ``C = [0, cumsum(x)]`` (n_frames + 1, n_rois) is the sum of ``x`` over
    the shuffled movement frames.

    Returns
    -------
    csr_matrix (n_resamples, n_frames + 1)
    """
    lengths, labels = epochs_of_mask(mask)
    n_ep = len(lengths)
    # shuffle movement epochs among movement slots and quiescence epochs among quiescence
    # slots: the alternation of the timeline is kept, so two movement epochs never merge
    # (merging would inflate the null variance of autocorrelated activity: a conservative test)
    order = np.empty((n_resamples, n_ep), dtype=np.int64)
    for lab in (True, False):
        slots = np.flatnonzero(labels == lab)
        if len(slots):
            order[:, slots] = slots[np.argsort(rng.random((n_resamples, len(slots))), axis=1)]
    plen = lengths[order]
    ends = np.cumsum(plen, axis=1)
    starts = ends - plen
    # CSR built directly in canonical form: per row the movement slots in time order, each
    # as (start: -1, end: +1); epochs have >= 1 frame and two movement slots are separated
    # by a quiescence slot, so the column indices increase strictly within a row
    moving = np.flatnonzero(labels)
    k = 2 * len(moving)
    cols = np.stack([starts[:, moving], ends[:, moving]], axis=2).reshape(n_resamples, k)
    data = np.tile(np.array([-1.0, 1.0]), n_resamples * len(moving))
    indptr = np.arange(n_resamples + 1, dtype=np.int64) * k
    return scipy.sparse.csr_matrix(
        (data, cols.reshape(-1), indptr), shape=(n_resamples, len(mask) + 1)
    )


def block_shuffle_null(
    dff: np.ndarray,
    mask: np.ndarray,
    n_resamples: int,
    rng: np.random.Generator,
    chunk: int = 256,
) -> np.ndarray:
    """Null statistics for shuffled movement/quiescence epoch order, (n_resamples, n_rois)."""
    x0, v, common = _prepare(dff)
    n_frames, n_rois = x0.shape
    w = block_shuffle_operator(mask, n_resamples, rng)
    out = np.empty((n_resamples, n_rois))
    if common:
        cv = np.concatenate([[0.0], np.cumsum(v)])
        n_move = (w @ cv)[:, None]
        n_valid = v.sum()
    for lo in range(0, n_rois, chunk):
        sl = slice(lo, min(lo + chunk, n_rois))
        c = np.zeros((n_frames + 1, sl.stop - sl.start))
        np.cumsum(x0[:, sl], axis=0, out=c[1:])
        s_move = w @ c
        if not common:
            cv = np.zeros_like(c)
            np.cumsum(v[:, sl], axis=0, out=cv[1:])
            n_move = np.rint(w @ cv)
            n_valid = v[:, sl].sum(0)
        out[:, sl] = _contrast(s_move, n_move, c[-1], n_valid)
    return out


def random_shifts(
    n_frames: int, n_resamples: int, min_shift: int, rng: np.random.Generator
) -> np.ndarray:
    """Circular shifts in ``[min_shift, n_frames - min_shift]`` (no replacement if possible)."""
    lo, hi = int(min_shift), int(n_frames - min_shift)
    if hi < lo:
        raise DataError(
            f"circular-shift null: recording of {n_frames} frames is shorter than twice the "
            f"minimum shift ({min_shift} frames)"
        )
    span = hi - lo + 1
    if span >= n_resamples:
        return lo + rng.choice(span, size=n_resamples, replace=False)
    return lo + rng.integers(0, span, size=n_resamples)


# ---------------------------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------------------------


def classify_movement_related(
    dff: np.ndarray,
    frame_times: np.ndarray,
    movement_epochs: np.ndarray,
    params: EncodingParams | None = None,
    seed: int = 0,
    nulls: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Classify every ROI as movement-related, quiescence-related or neither.

    Parameters
    ----------
    dff : array (n_frames, n_rois)
        dF/F (NaN on blanked frames).
    frame_times : array (n_frames,)
        Session time of each frame (s).
    movement_epochs : array (n_epochs, 2)
        Onset and offset (s) of every movement bout.
    params : EncodingParams
        ``n_shuffles``, ``null`` (the null used for the class), ``alpha``, ``min_events``,
        ``event_low_sd``/``event_high_sd``, ``min_shift_s``, ``roi_chunk``.
    seed : int
        Seed of the resampling generator.
    nulls : tuple of {"block_shuffle", "circular_shift"}, optional
        Nulls to compute (default both; the one in ``params.null`` decides the class).

    Returns
    -------
    DataFrame, one row per ROI: ``roi`` (column index), ``contrast`` (dF/F, movement minus
    quiescence), ``n_events``, ``p_movement_<null>``/``p_quiescence_<null>`` for each null,
    ``p_movement``/``p_quiescence`` of the deciding null, ``cls`` ("movement"/"quiescence"/
    "neither"/"no_data"), ``movement_related`` and ``quiescence_related`` (bool), ``has_data``
    (bool). An ROI without a finite dF/F value during movement or during quiescence has
    ``cls = "no_data"``, NaN p-values and is neither movement- nor quiescence-related (its
    contrast is undefined; a NaN statistic would otherwise get the smallest p-value).
    """
    p = params or EncodingParams()
    x = _as_dff(dff)
    t = np.asarray(frame_times, dtype=np.float64)
    if len(t) != x.shape[0]:
        raise DataError(f"frame_times: {len(t)} times for {x.shape[0]} dF/F frames")
    mask = movement_mask(t, movement_epochs)
    n_move = int(mask.sum())
    if n_move == 0 or n_move == len(mask):
        raise DataError(
            f"movement epochs cover {n_move} of {len(mask)} frames; need both movement and "
            "quiescence to classify movement-related ROIs",
            field="movement_epochs",
        )
    nulls = nulls or ("block_shuffle", "circular_shift")
    if p.null not in nulls:
        nulls = (*nulls, p.null)
    rng = np.random.default_rng(seed)
    finite = np.isfinite(x)
    has_data = finite[mask].any(axis=0) & finite[~mask].any(axis=0)
    obs = movement_contrast(x, mask)
    out = pd.DataFrame({"roi": np.arange(x.shape[1]), "contrast": obs})
    out["n_events"] = count_events(x, p.event_low_sd, p.event_high_sd)
    frame_rate = (len(t) - 1) / (t[-1] - t[0])
    for name in nulls:
        if name == "block_shuffle":
            null = block_shuffle_null(x, mask, p.n_shuffles, rng, chunk=p.roi_chunk)
        elif name == "circular_shift":
            min_shift = max(1, int(round(p.min_shift_s * frame_rate)))
            shifts = random_shifts(len(t), p.n_shuffles, min_shift, rng)
            null = circular_shift_null(x, mask, shifts, chunk=p.roi_chunk)
        else:
            raise ValueError(f"unknown null {name!r}; expected 'block_shuffle' or 'circular_shift'")
        n = null.shape[0]
        out[f"p_movement_{name}"] = ((null >= obs).sum(0) + 1) / (n + 1)
        out[f"p_quiescence_{name}"] = ((null <= obs).sum(0) + 1) / (n + 1)
        out.loc[~has_data, [f"p_movement_{name}", f"p_quiescence_{name}"]] = np.nan
    out["p_movement"] = out[f"p_movement_{p.null}"]
    out["p_quiescence"] = out[f"p_quiescence_{p.null}"]
    enough = (out["n_events"].to_numpy() >= p.min_events) & has_data
    thr = p.alpha / 2
    is_move = enough & (out["p_movement"].to_numpy() <= thr)
    is_quiet = enough & (out["p_quiescence"].to_numpy() <= thr) & ~is_move
    out["cls"] = np.where(
        ~has_data,
        "no_data",
        np.where(is_move, "movement", np.where(is_quiet, "quiescence", "neither")),
    )
    out["movement_related"] = is_move
    out["quiescence_related"] = is_quiet
    out["has_data"] = has_data
    return out
