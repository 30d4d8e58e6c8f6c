"""Matching ROI footprints between two sets (detected vs true, session vs session).

Footprints are compared as binary masks (pixels whose weight is at least ``mask_threshold`` of
the footprint's maximum). Pairs are assigned one-to-one by the Hungarian algorithm
(:func:`scipy.optimize.linear_sum_assignment`) maximising the total score, and kept when the
score passes a threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linear_sum_assignment


def footprint_matrix(
    footprints, image_shape: tuple[int, int], mask_threshold: float | None = 0.2
) -> sparse.csr_matrix:
    """(n_rois, height*width) sparse matrix of footprints.

    Parameters
    ----------
    footprints : list of (k, 3) arrays [y, x, weight]
    image_shape : (height, width)
    mask_threshold : float or None
        Binarise at this fraction of each footprint's maximum weight; None keeps the weights.
    """
    h, w = image_shape
    rows, cols, vals = [], [], []
    for k, fp in enumerate(footprints):
        fp = np.asarray(fp, dtype=np.float64)
        if fp.size == 0:
            continue
        y = np.rint(fp[:, 0]).astype(np.int64)
        x = np.rint(fp[:, 1]).astype(np.int64)
        wt = fp[:, 2]
        ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        if mask_threshold is not None:
            ok &= wt >= mask_threshold * wt.max()
            wt = np.ones_like(wt)
        rows.append(np.full(ok.sum(), k))
        cols.append(y[ok] * w + x[ok])
        vals.append(wt[ok])
    if not rows:
        return sparse.csr_matrix((len(footprints), h * w))
    m = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(footprints), h * w),
    )
    m.sum_duplicates()
    if mask_threshold is not None:
        m.data[:] = 1.0
    return m


def iou_matrix(a: sparse.csr_matrix, b: sparse.csr_matrix) -> np.ndarray:
    """Intersection over union of every pair of binary masks (rows of ``a`` x rows of ``b``)."""
    inter = (a @ b.T).toarray()
    na = np.asarray(a.sum(axis=1)).ravel()
    nb = np.asarray(b.sum(axis=1)).ravel()
    union = na[:, None] + nb[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def match_footprints(
    detected, truth, image_shape: tuple[int, int], iou_threshold: float = 0.5
) -> pd.DataFrame:
    """One-to-one matching of detected to true footprints by IoU (Hungarian).

    Returns
    -------
    DataFrame with columns ``detected``, ``truth``, ``iou`` (matched pairs with IoU at least
    ``iou_threshold``).
    """
    a = footprint_matrix(detected, image_shape)
    b = footprint_matrix(truth, image_shape)
    iou = iou_matrix(a, b)
    if iou.size == 0:
        return pd.DataFrame({"detected": [], "truth": [], "iou": []})
    r, c = linear_sum_assignment(-iou)
    ok = iou[r, c] >= iou_threshold
    return pd.DataFrame({"detected": r[ok], "truth": c[ok], "iou": iou[r[ok], c[ok]]})


def detection_scores(n_detected: int, n_true: int, n_matched: int) -> dict[str, float]:
    """Precision, recall and F1 of a detection."""
    precision = n_matched / n_detected if n_detected else float("nan")
    recall = n_matched / n_true if n_true else float("nan")
    f1 = 2 * n_matched / (n_detected + n_true) if (n_detected + n_true) else float("nan")
    return {"precision": precision, "recall": recall, "f1": f1}
