"""Boutons -> axons: merge boutons whose activity is highly correlated.

Boutons of one axon carry the same spikes, so their dF/F is highly correlated during activity,
while between active periods the traces are dominated by independent noise. Following the field's
convention (e.g. Petreanu et al. 2012; Liang et al. 2015; the Komiyama lab), the correlation of
a pair is computed over the *union of their event windows* (frames where either bouton has an
event, padded by ``merge_event_pad_s``), boutons are clustered hierarchically on ``1 - r`` and the
tree is cut at ``1 - merge_correlation_threshold``. The merged axon trace is the (inverse noise
variance) weighted mean of its boutons' dF/F.

All pairwise union-window correlations are computed at once from a handful of frames x ROIs
matrix products (inclusion-exclusion over the two windows), O(T n^2) in BLAS rather than a loop
over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from thalamocortex.data.errors import DataError
from thalamocortex.preprocess.events import detect_events, mirrored_negative_noise, resting_mode
from thalamocortex.preprocess.params import PreprocessParams


def event_windows(events, frame_rate: float, pad_s: float) -> np.ndarray:
    """Frames within ``pad_s`` of an event, per ROI.

    Parameters
    ----------
    events : array (n_frames, n_rois)
        Thresholded dF/F (> 0 inside events).
    frame_rate : float (Hz)
    pad_s : float (s)

    Returns
    -------
    array (n_frames, n_rois) bool
    """
    on = np.nan_to_num(np.asarray(events, dtype=np.float64), nan=0.0) > 0
    pad = int(round(pad_s * frame_rate))
    if pad > 0 and on.any():
        # dilation along frames by a running count (linear time, any pad)
        c = np.concatenate([np.zeros((1, on.shape[1]), np.int64), np.cumsum(on, axis=0)])
        n = on.shape[0]
        hi = np.minimum(np.arange(n) + pad + 1, n)
        lo = np.maximum(np.arange(n) - pad, 0)
        on = (c[hi] - c[lo]) > 0
    return on


def union_window_correlation(dff, windows, min_frames: int = 10) -> np.ndarray:
    """Pearson correlation of every ROI pair over the union of their windows.

    Parameters
    ----------
    dff : array (n_frames, n_rois)
        NaN frames are excluded from every window.
    windows : array (n_frames, n_rois) bool
    min_frames : int
        Pairs whose union has fewer valid frames get correlation 0.

    Returns
    -------
    array (n_rois, n_rois) float64, symmetric, 1 on the diagonal (for ROIs with a window).
    """
    x = np.asarray(dff, dtype=np.float64)
    w = np.asarray(windows, dtype=bool) & np.isfinite(x)
    # a frame NaN in any ROI (blanked) is dropped for all pairs, so each pair sees one mask
    w &= np.isfinite(x).all(axis=1, keepdims=True)
    x = np.where(np.isfinite(x), x, 0.0)
    W = w.astype(np.float64)
    WX = W * x
    WX2 = WX * x
    G = W.T @ W  # |Wi & Wj|
    cnt = np.diag(G)
    n_u = cnt[:, None] + cnt[None, :] - G
    B = W.T @ x  # B[j, i] = sum_t Wj xi
    M = WX.T @ W  # M[i, j] = sum_t Wi xi Wj
    B2 = W.T @ (x * x)
    M2 = WX2.T @ W
    # sums of xi over U_ij, as [i, j]
    s_i = np.diag(B)[:, None] + B.T - M
    s2_i = np.diag(B2)[:, None] + B2.T - M2
    C = WX.T @ x  # C[i, j] = sum_t Wi xi xj
    s_ij = C + C.T - (WX.T @ WX)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.maximum(n_u, 1.0)
        cov = s_ij - s_i * s_i.T / n
        var_i = s2_i - s_i**2 / n
        r = cov / np.sqrt(var_i * var_i.T)
    r = np.where((n_u >= min_frames) & np.isfinite(r), r, 0.0)
    r = np.clip(0.5 * (r + r.T), -1.0, 1.0)
    np.fill_diagonal(r, np.where(cnt > 0, 1.0, 0.0))
    return r


def _nan_smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along frames; NaN frames get no weight and stay NaN."""
    from scipy.ndimage import gaussian_filter1d

    valid = np.isfinite(x)
    num = gaussian_filter1d(np.where(valid, x, 0.0).astype(np.float64), sigma_frames, axis=0)
    den = gaussian_filter1d(valid.astype(np.float64), sigma_frames, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~valid] = np.nan
    return out


def cluster_boutons(corr, threshold: float = 0.7, method: str = "average") -> np.ndarray:
    """Hierarchical clustering on ``1 - r`` cut at ``1 - threshold``.

    Returns
    -------
    array (n_rois,) int64 axon labels 0..k-1, numbered by first appearance.
    """
    n = corr.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    d = 1.0 - np.asarray(corr, dtype=np.float64)
    np.fill_diagonal(d, 0.0)
    d = np.clip(0.5 * (d + d.T), 0.0, 2.0)
    Z = linkage(squareform(d, checks=False), method=method)
    raw = fcluster(Z, t=1.0 - threshold, criterion="distance")
    _, first = np.unique(raw, return_index=True)
    order = {lab: k for k, lab in enumerate(raw[np.sort(first)])}
    return np.array([order[v] for v in raw], dtype=np.int64)


@dataclass
class AxonMerge:
    """Result of merging boutons into axons.

    Attributes
    ----------
    labels : array (n_boutons,) int64
        Axon index of each input bouton.
    dff : array (n_frames, n_axons) float32
        Weighted-mean dF/F per axon (NaN where all its boutons are NaN).
    axons : DataFrame
        One row per axon: ``axon``, ``n_boutons``, ``boutons`` (comma-separated bouton names),
        ``mean_within_r`` (mean union-window correlation among its boutons; NaN for singletons).
    boutons : DataFrame
        One row per bouton: ``roi_index``, ``roi_name``, ``axon``, ``weight``.
    corr : array (n_boutons, n_boutons)
        Union-window correlations.
    """

    labels: np.ndarray
    dff: np.ndarray
    axons: pd.DataFrame
    boutons: pd.DataFrame
    corr: np.ndarray

    @property
    def n_boutons(self) -> int:
        return len(self.labels)

    @property
    def n_axons(self) -> int:
        return int(self.dff.shape[1])


def merge_boutons(
    dff,
    frame_rate: float,
    params: PreprocessParams | None = None,
    events=None,
    roi_names=None,
    cluster_dff=None,
) -> AxonMerge:
    """Cluster boutons into putative axons and merge their traces.

    Parameters
    ----------
    dff : array (n_frames, n_boutons)
        Bouton dF/F, NaN on blanked frames.
    frame_rate : float (Hz)
    params : PreprocessParams, optional
        ``merge_correlation_threshold``, ``merge_linkage``, ``merge_event_pad_s``,
        ``merge_min_union_frames``, ``merge_weighting``, ``merge_smooth_s`` and the event
        parameters.
    events : array (n_frames, n_boutons), optional
        Thresholded dF/F; detected with :func:`detect_events` when None.
    roi_names : sequence of str, optional
    cluster_dff : array (n_frames, n_boutons), optional
        dF/F used for the correlations only (e.g. with a per-bouton fitted neuropil
        coefficient, see :func:`thalamocortex.preprocess.traces.session_axons`); the merged
        traces are always weighted means of ``dff``.

    Returns
    -------
    AxonMerge
    """
    p = params or PreprocessParams()
    x = np.asarray(dff, dtype=np.float32)
    if x.ndim != 2:
        raise DataError(f"expected a frames x boutons array, got shape {x.shape}", field="dff")
    n = x.shape[1]
    names = [f"roi{j}" for j in range(n)] if roi_names is None else [str(s) for s in roi_names]
    if len(names) != n:
        raise DataError(f"{len(names)} names for {n} boutons", field="roi_names")
    base = x if cluster_dff is None else np.asarray(cluster_dff, dtype=np.float32)
    if base.shape != x.shape:
        raise DataError(f"shape {base.shape} does not match dff {x.shape}", field="cluster_dff")
    # event windows from the traces that are correlated
    ev = detect_events(base, p) if events is None else np.asarray(events, dtype=np.float32)
    if ev.shape != x.shape:
        raise DataError(f"shape {ev.shape} does not match dff {x.shape}", field="events")
    win = event_windows(ev, frame_rate, p.merge_event_pad_s)
    xs = base
    if p.merge_smooth_s > 0:
        # shot/read noise is white while calcium transients last ~1 s: smoothing before
        # correlating raises the correlation of same-axon boutons towards their true value
        xs = _nan_smooth(xs, p.merge_smooth_s * frame_rate)
    corr = union_window_correlation(xs, win, p.merge_min_union_frames)
    labels = cluster_boutons(corr, p.merge_correlation_threshold, p.merge_linkage)

    if p.merge_weighting == "inverse_noise":
        noise = mirrored_negative_noise(x, resting_mode(x))
        weight = np.where(np.isfinite(noise) & (noise > 0), 1.0 / np.maximum(noise, 1e-12) ** 2, 0)
        weight = np.where(weight > 0, weight, 1.0)
    else:
        weight = np.ones(n)
    k = int(labels.max()) + 1 if n else 0
    # weighted mean per axon via a (n_boutons x n_axons) weight matrix, NaN-aware
    A = np.zeros((n, k))
    A[np.arange(n), labels] = weight
    finite = np.isfinite(x)
    num = np.where(finite, x, 0.0).astype(np.float64) @ A
    den = finite.astype(np.float64) @ A
    with np.errstate(invalid="ignore", divide="ignore"):
        merged = np.where(den > 0, num / den, np.nan).astype(np.float32)
    rows = []
    for a in range(k):
        idx = np.flatnonzero(labels == a)
        sub = corr[np.ix_(idx, idx)]
        within = float(sub[np.triu_indices(len(idx), 1)].mean()) if len(idx) > 1 else np.nan
        rows.append((a, len(idx), ",".join(names[i] for i in idx), within))
    axons = pd.DataFrame(rows, columns=["axon", "n_boutons", "boutons", "mean_within_r"])
    boutons = pd.DataFrame(
        {"roi_index": np.arange(n), "roi_name": names, "axon": labels, "weight": weight}
    )
    return AxonMerge(labels=labels, dff=merged, axons=axons, boutons=boutons, corr=corr)


def merge_imaging_boutons(
    rois: pd.DataFrame,
    dff,
    frame_rate: float,
    params: PreprocessParams | None = None,
    events=None,
) -> tuple[pd.DataFrame, np.ndarray, AxonMerge | None]:
    """Replace the bouton ROIs of a session by merged axons; other ROIs pass through.

    Parameters
    ----------
    rois : DataFrame
        The session's ROI table (``roi_name``, ``roi_type``, ``region``).
    dff : array (n_frames, n_rois)
    frame_rate : float (Hz)
    events : array (n_frames, n_rois), optional

    Returns
    -------
    rois_out : DataFrame
        Non-bouton ROIs, then one ``roi_type="axon"`` row per axon: ``roi_name`` ``axon-<k>``,
        ``region`` of its boutons, ``n_boutons`` and ``boutons`` (comma-separated names).
    dff_out : array (n_frames, n_rois_out) float32
    merge : AxonMerge or None
        None when the session has no boutons.
    """
    for col in ("roi_name", "roi_type", "region"):
        if col not in rois.columns:
            raise DataError(f"missing column {col!r}", field="rois")
    x = np.asarray(dff, dtype=np.float32)
    is_b = (rois["roi_type"] == "bouton").to_numpy()
    if not is_b.any():
        return rois.reset_index(drop=True), x, None
    ev = None if events is None else np.asarray(events)[:, is_b]
    names = rois.loc[is_b, "roi_name"].astype(str).tolist()
    m = merge_boutons(x[:, is_b], frame_rate, params, events=ev, roi_names=names)
    region = rois.loc[is_b, "region"].to_numpy()
    axon_rows = pd.DataFrame(
        {
            "roi_name": [f"axon-{a}" for a in m.axons["axon"]],
            "roi_type": "axon",
            "region": [region[m.labels == a][0] for a in m.axons["axon"]],
            "n_boutons": m.axons["n_boutons"].to_numpy(),
            "boutons": m.axons["boutons"].to_numpy(),
        }
    )
    keep = rois.loc[~is_b].reset_index(drop=True)
    out = pd.concat([keep, axon_rows], ignore_index=True)
    return out, np.concatenate([x[:, ~is_b], m.dff], axis=1), m
