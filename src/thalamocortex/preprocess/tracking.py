"""Cross-session tracking of the same neurons / boutons.

1. **Register** each session's mean image onto the reference session's (rigid translation by
   phase correlation with sub-pixel refinement) and move its footprints accordingly.
2. **Score** every candidate pair (centroids within ``track_max_distance_px``) by the spatial
   correlation of the weighted footprints and the centroid distance.
3. **Match probability**: as in CellReg (Sheintuch et al. 2017), pair scores of candidate pairs
   form a mixture of "same cell" and "different cells"; a two-component Gaussian mixture on
   ``(logit(footprint correlation), centroid distance)`` gives each pair the posterior
   probability of the same-cell component.
4. **Assign** one-to-one with the Hungarian algorithm maximising the total probability; pairs
   below ``track_min_probability`` stay unmatched.

Sessions are matched in order against a growing registry of cells (each cell keeps its latest
footprint in reference coordinates), so a cell missing on one day can be recovered later.
Output: a sessions x cells index (ROI index per session, -1 where absent) and the match
probabilities. ROICaT (Hermes et al.) and CellReg are the field's tools; this is a dependency-free
default that runs offline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from thalamocortex.data.errors import DataError
from thalamocortex.preprocess.params import PreprocessParams


def phase_correlation(reference: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """Translation (dy, dx) such that ``image`` is ``reference`` moved by (+dy, +dx).

    Phase correlation (whitened cross-power spectrum of the mean-subtracted images); the integer
    peak is refined to 0.01 px by evaluating the inverse DFT on a fine grid around it (matrix
    multiply DFT, Guizar-Sicairos et al. 2008).
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(image, dtype=np.float64)
    if a.shape != b.shape:
        raise DataError(f"mean images differ in shape {a.shape} vs {b.shape}", field="mean_image")
    a = a - a.mean()
    b = b - b.mean()
    cross = np.fft.fft2(b) * np.conj(np.fft.fft2(a))
    cross /= np.abs(cross) + 1e-12
    corr = np.real(np.fft.ifft2(cross))
    peak = np.array(np.unravel_index(np.argmax(corr), corr.shape), dtype=np.float64)
    h, w = corr.shape
    peak[0] = peak[0] - h if peak[0] > h / 2 else peak[0]
    peak[1] = peak[1] - w if peak[1] > w / 2 else peak[1]
    ky = np.fft.fftfreq(h)
    kx = np.fft.fftfreq(w)
    centre = peak
    for half, step in ((1.0, 0.1), (0.1, 0.01)):
        grid = np.arange(-half, half + step / 2, step)
        sy = centre[0] + grid
        sx = centre[1] + grid
        ey = np.exp(2j * np.pi * np.outer(sy, ky))  # (G, h)
        ex = np.exp(2j * np.pi * np.outer(kx, sx))  # (w, G)
        vals = np.real(ey @ cross @ ex)
        i, j = np.unravel_index(np.argmax(vals), vals.shape)
        centre = np.array([sy[i], sx[j]])
    return float(centre[0]), float(centre[1])


def _dense(fp: np.ndarray, shape: tuple[int, int], shift=(0.0, 0.0)) -> np.ndarray:
    """Footprint as a dense image, moved by ``-shift`` (into reference coordinates)."""
    img = np.zeros(shape, dtype=np.float64)
    y = np.asarray(fp[:, 0], dtype=np.int64)
    x = np.asarray(fp[:, 1], dtype=np.int64)
    ok = (y >= 0) & (y < shape[0]) & (x >= 0) & (x < shape[1])
    np.add.at(img, (y[ok], x[ok]), np.asarray(fp[ok, 2], dtype=np.float64))
    if shift[0] or shift[1]:
        img = ndimage.shift(img, (-shift[0], -shift[1]), order=1, mode="constant")
    return img


@dataclass
class TrackingResult:
    """Cells tracked across sessions.

    Attributes
    ----------
    index : array (n_sessions, n_cells) int64
        ROI index of each cell in each session, -1 where the cell was not found.
    probability : array (n_sessions, n_cells) float64
        Match probability of the cell's ROI in that session to the cell's earlier footprint
        (1 for the session that founded the cell, NaN where absent).
    shifts : array (n_sessions, 2)
        Rigid shift (dy, dx) of each session's mean image relative to the reference session.
    pairs : DataFrame
        Every accepted match: ``session``, ``roi``, ``cell``, ``probability``,
        ``footprint_corr``, ``distance_px``.
    """

    index: np.ndarray
    probability: np.ndarray
    shifts: np.ndarray
    pairs: pd.DataFrame

    @property
    def n_cells(self) -> int:
        return int(self.index.shape[1])

    def table(self, session_labels=None) -> pd.DataFrame:
        """Long table: ``cell``, ``session``, ``roi`` (-1 absent), ``probability``."""
        n_s, n_c = self.index.shape
        labels = list(range(n_s)) if session_labels is None else list(session_labels)
        return pd.DataFrame(
            {
                "cell": np.tile(np.arange(n_c), n_s),
                "session": np.repeat(labels, n_c),
                "roi": self.index.ravel(),
                "probability": self.probability.ravel(),
            }
        )


def _pair_features(ref_imgs, ref_cent, imgs, cent, max_dist):
    """Candidate pairs (registry cell, roi) with footprint correlation and distance."""
    d = np.hypot(ref_cent[:, None, 0] - cent[None, :, 0], ref_cent[:, None, 1] - cent[None, :, 1])
    ci, ri = np.nonzero(d <= max_dist)
    if len(ci) == 0:
        return ci, ri, np.zeros(0), np.zeros(0)
    A = ref_imgs.reshape(len(ref_imgs), -1)
    B = imgs.reshape(len(imgs), -1)
    A = A - A.mean(1, keepdims=True)
    B = B - B.mean(1, keepdims=True)
    na = np.linalg.norm(A, axis=1)
    nb = np.linalg.norm(B, axis=1)
    num = np.einsum("ij,ij->i", A[ci], B[ri])
    corr = num / np.maximum(na[ci] * nb[ri], 1e-12)
    return ci, ri, corr, d[ci, ri]


def _same_cell_probability(corr: np.ndarray, dist: np.ndarray, params: PreprocessParams):
    """Posterior of the same-cell component of a 2-Gaussian mixture on pair features.

    Falls back to a fixed logistic rule when there are too few pairs to fit a mixture.
    """
    z = np.column_stack([np.arctanh(np.clip(corr, -0.999, 0.999)), dist])
    if len(z) >= 20:
        from sklearn.mixture import GaussianMixture

        gm = GaussianMixture(2, covariance_type="full", random_state=0, reg_covar=1e-3)
        gm.fit(z)
        same = int(np.argmax(gm.means_[:, 0] - 0.1 * gm.means_[:, 1]))
        sep = abs(gm.means_[0, 0] - gm.means_[1, 0])
        if sep > 0.5:  # two distinct populations; otherwise the mixture is meaningless
            return gm.predict_proba(z)[:, same]
    # logistic rule: correlation threshold track_min_footprint_corr, soft width 0.1
    return 1.0 / (1.0 + np.exp(-(corr - params.track_min_footprint_corr) / 0.05))


def track_sessions(
    footprints: list[list[np.ndarray]],
    image_shape: tuple[int, int],
    mean_images: list[np.ndarray] | None = None,
    params: PreprocessParams | None = None,
    reference: int = 0,
) -> TrackingResult:
    """Track ROIs across sessions of one field of view.

    Parameters
    ----------
    footprints : list (n_sessions) of list (n_rois) of (k, 3) arrays [y, x, weight]
    image_shape : (height, width)
    mean_images : list (n_sessions) of (height, width) arrays, optional
        For rigid registration between sessions; without them no shifts are applied.
    params : PreprocessParams, optional
        ``track_max_distance_px``, ``track_min_probability``, ``track_min_footprint_corr``.
    reference : int
        Session whose coordinates are the reference.

    Returns
    -------
    TrackingResult
    """
    p = params or PreprocessParams()
    n_s = len(footprints)
    if n_s == 0:
        raise DataError("no sessions to track", field="footprints")
    shifts = np.zeros((n_s, 2))
    if mean_images is not None:
        if len(mean_images) != n_s:
            raise DataError(
                f"{len(mean_images)} mean images for {n_s} sessions", field="mean_images"
            )
        for s in range(n_s):
            if s != reference:
                shifts[s] = phase_correlation(mean_images[reference], mean_images[s])

    def session_imgs(s):
        imgs = np.array([_dense(fp, image_shape, shifts[s]) for fp in footprints[s]])
        if len(imgs) == 0:
            return np.zeros((0, *image_shape)), np.zeros((0, 2))
        yy, xx = np.mgrid[0 : image_shape[0], 0 : image_shape[1]]
        tot = imgs.sum(axis=(1, 2))
        tot = np.where(tot > 0, tot, 1.0)
        cent = np.column_stack(
            [(imgs * yy).sum(axis=(1, 2)) / tot, (imgs * xx).sum(axis=(1, 2)) / tot]
        )
        return imgs, cent

    order = [reference] + [s for s in range(n_s) if s != reference]
    imgs0, cent0 = session_imgs(reference)
    reg_imgs = list(imgs0)
    reg_cent = list(cent0)
    index = [[-1] * n_s for _ in range(len(imgs0))]
    prob = [[np.nan] * n_s for _ in range(len(imgs0))]
    for c in range(len(imgs0)):
        index[c][reference] = c
        prob[c][reference] = 1.0
    rows = []
    for s in order[1:]:
        imgs, cent = session_imgs(s)
        matched_rois: set[int] = set()
        if len(imgs) and reg_imgs:
            # the mixture is fitted on pairs up to 3x the match radius, so that the
            # different-cell population is represented; only close pairs can be matched
            ci, ri, corr, dist = _pair_features(
                np.array(reg_imgs), np.array(reg_cent), imgs, cent, 3 * p.track_max_distance_px
            )
            close = dist <= p.track_max_distance_px
            if close.any():
                pr = _same_cell_probability(corr, dist, p)
                ci, ri, corr, dist, pr = ci[close], ri[close], corr[close], dist[close], pr[close]
                P = np.zeros((len(reg_imgs), len(imgs)))
                P[ci, ri] = pr
                C = np.full_like(P, np.nan)
                C[ci, ri] = corr
                D = np.full_like(P, np.nan)
                D[ci, ri] = dist
                r_idx, c_idx = linear_sum_assignment(-P)
                for cell, roi in zip(r_idx, c_idx):
                    if P[cell, roi] >= p.track_min_probability:
                        index[cell][s] = int(roi)
                        prob[cell][s] = float(P[cell, roi])
                        reg_imgs[cell] = imgs[roi]
                        reg_cent[cell] = cent[roi]
                        matched_rois.add(int(roi))
                        rows.append(
                            (s, int(roi), int(cell), P[cell, roi], C[cell, roi], D[cell, roi])
                        )
        for roi in range(len(imgs)):
            if roi not in matched_rois:
                index.append([-1] * n_s)
                prob.append([np.nan] * n_s)
                index[-1][s] = roi
                prob[-1][s] = 1.0
                reg_imgs.append(imgs[roi])
                reg_cent.append(cent[roi])
    pairs = pd.DataFrame(
        rows, columns=["session", "roi", "cell", "probability", "footprint_corr", "distance_px"]
    )
    idx = np.array(index, dtype=np.int64).reshape(-1, n_s).T
    pr = np.array(prob, dtype=np.float64).reshape(-1, n_s).T
    return TrackingResult(index=idx, probability=pr, shifts=shifts, pairs=pairs)
