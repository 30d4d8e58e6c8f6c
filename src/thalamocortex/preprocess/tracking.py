"""Cross-session tracking of the same neurons / boutons.

The method follows CellReg (Sheintuch et al. 2017): score every pair of ROIs from *different*
sessions, turn the scores into same-cell probabilities with a mixture model fitted on all pairs,
and cluster ROIs of all sessions jointly, a cluster holding at most one ROI per session.

1. **Register** each session's mean image onto the reference session's (rigid translation by
   phase correlation with sub-pixel refinement) and move its footprints accordingly (bilinear).
2. **Score** every candidate pair of ROIs of two different sessions (registered centroids within
   ``track_max_distance_px``) by the spatial (Pearson) correlation of the weighted footprints and
   the centroid distance.
3. **Match probability**: pair scores of all session pairs together form a mixture of "same
   cell" and "different cells", fitted on the pairs within ``track_fit_radius_factor`` x the
   candidate radius (so that the different-cell population is represented). Default
   (``track_probability_model="gmm"``): a two-component Gaussian mixture on
   ``(arctanh(footprint correlation), centroid distance)``; option ``"distance"``: CellReg's
   centroid-distance model (Rayleigh same-cell distances, different-cell neighbours at uniform
   areal density), more conservative. Too few pairs, or no separated components, fall back to a
   logistic rule on the correlation.
4. **Cluster** jointly: constrained average-linkage agglomeration on the pair probabilities
   (pairs that are not candidates count as probability 0). Two clusters merge, best first, while
   the mean probability over all their cross pairs is at least ``track_min_probability`` and
   they share no session; merges whose mean probabilities tie (within 0.01: the posterior
   saturates at 1 for neighbouring puncta) go in order of mean footprint correlation. Each ROI
   is thereby compared with *every* observation of a cell, not with its latest footprint, and
   no order of sessions is privileged; a cell absent on a day is simply absent from its
   cluster. A member whose mean probability to the rest of its cluster
   is below ``track_min_probability`` is split off.
5. **Refine the registration** (``track_refine_iterations`` times): tracked ROI centroids are
   modelled as cell position + session offset (reference offset 0), fitted by alternating
   trimmed means; each session's offset (a second, ROI-based estimate of the residual shift,
   robust to a mean image dominated by neuropil or vessels) is added to its phase-correlation
   shift when smaller than ``track_max_refine_px``, and steps 2-4 are repeated.

Output: a sessions x cells index (ROI index per session, -1 where absent) and per observation
the mean same-cell probability to the cell's other observations. ROICaT (Hermes et al.) and
CellReg are the field's tools; this is a dependency-free default that runs offline.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree
from scipy.stats import trim_mean

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


@dataclass
class TrackingResult:
    """Cells tracked across sessions.

    Attributes
    ----------
    index : array (n_sessions, n_cells) int64
        ROI index of each cell in each session, -1 where the cell was not found. Every ROI of
        every session appears exactly once. Cells are ordered by the first session (reference
        first, then session order) in which they appear, then by ROI index there.
    probability : array (n_sessions, n_cells) float64
        Mean same-cell probability of the cell's ROI in that session to the cell's ROIs in the
        other sessions (>= ``track_min_probability``); 1 for a cell seen in one session only
        (it founds its own cell); NaN where absent.
    shifts : array (n_sessions, 2)
        Rigid shift (dy, dx) of each session relative to the reference session (phase
        correlation of the mean images plus the ROI-based refinement), px.
    pairs : DataFrame
        One row per ROI of a cell seen in >= 2 sessions: ``session``, ``roi``, ``cell``,
        ``probability`` (as above), ``footprint_corr`` (mean footprint correlation to the
        cell's other ROIs), ``distance_px`` (registered centroid distance to the mean centroid
        of the cell's other ROIs).
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


@dataclass
class _Observations:
    """All ROIs of all sessions in reference coordinates."""

    session: np.ndarray  # (n,) session of each ROI
    roi: np.ndarray  # (n,) ROI index within its session
    centroid: np.ndarray  # (n, 2) registered weighted centroid, px (NaN for empty footprints)
    footprints: sparse.csr_matrix  # (n, height*width) registered footprint weights


def _observations(footprints, shape, shifts) -> _Observations:
    """Footprints moved by ``-shift`` (bilinear splatting, the transpose of linear interpolation,
    identical for a translation) into one sparse matrix, with their weighted centroids."""
    h, w = shape
    rows, cols, vals, sess, rois = [], [], [], [], []
    k = 0
    for s, fps in enumerate(footprints):
        for r, fp in enumerate(fps):
            fp = np.asarray(fp, dtype=np.float64).reshape(-1, 3)
            y = fp[:, 0] - shifts[s][0]
            x = fp[:, 1] - shifts[s][1]
            y0 = np.floor(y)
            x0 = np.floor(x)
            fy = y - y0
            fx = x - x0
            for dy, wy in ((0, 1 - fy), (1, fy)):
                for dx, wx in ((0, 1 - fx), (1, fx)):
                    yy = (y0 + dy).astype(np.int64)
                    xx = (x0 + dx).astype(np.int64)
                    ww = fp[:, 2] * wy * wx
                    ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w) & (ww != 0)
                    rows.append(np.full(ok.sum(), k))
                    cols.append(yy[ok] * w + xx[ok])
                    vals.append(ww[ok])
            sess.append(s)
            rois.append(r)
            k += 1
    n = k
    rows_a = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    cols_a = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    vals_a = np.concatenate(vals) if vals else np.zeros(0)
    mat = sparse.csr_matrix((vals_a, (rows_a, cols_a)), shape=(n, h * w))
    mat.sum_duplicates()
    tot = np.asarray(mat.sum(axis=1)).ravel()
    coo = mat.tocoo()
    cy = np.bincount(coo.row, coo.data * (coo.col // w), minlength=n)
    cx = np.bincount(coo.row, coo.data * (coo.col % w), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        cent = np.column_stack([cy / tot, cx / tot])
    cent[tot <= 0] = np.nan
    return _Observations(
        np.asarray(sess, dtype=np.int64), np.asarray(rois, dtype=np.int64), cent, mat
    )


def _pair_features(obs: _Observations, radius: float, n_pixels: int):
    """Pairs of ROIs of different sessions with centroids within ``radius``.

    Returns
    -------
    i, j : arrays (n_pairs,) observation indices, i < j
    corr : array (n_pairs,) Pearson correlation of the registered footprints over the field
    dist : array (n_pairs,) registered centroid distance, px
    """
    ok = np.flatnonzero(np.isfinite(obs.centroid).all(axis=1))
    if len(ok) < 2:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0), np.zeros(0)
    pairs = cKDTree(obs.centroid[ok]).query_pairs(radius, output_type="ndarray")
    i, j = ok[pairs[:, 0]], ok[pairs[:, 1]]
    diff = obs.session[i] != obs.session[j]
    i, j = np.minimum(i[diff], j[diff]), np.maximum(i[diff], j[diff])
    dist = np.hypot(*(obs.centroid[i] - obs.centroid[j]).T)
    m = obs.footprints
    s1 = np.asarray(m.sum(axis=1)).ravel()
    s2 = np.asarray(m.multiply(m).sum(axis=1)).ravel()
    var = np.maximum(s2 - s1 * s1 / n_pixels, 0.0)
    gram = (m @ m.T).tocsr()
    dot = np.asarray(gram[i, j]).ravel() if len(i) else np.zeros(0)
    cov = dot - s1[i] * s1[j] / n_pixels
    corr = cov / np.maximum(np.sqrt(var[i] * var[j]), 1e-12)
    return i, j, corr, dist


def _posterior(d, w, s2, radius):
    """w f1 / (w f1 + (1 - w) f0) for f1 = truncated Rayleigh(s2), f0 = 2 d / radius^2 (the
    common factor d cancels, so d = 0 is well defined)."""
    d = np.asarray(d, dtype=np.float64)
    s2 = np.asarray(s2, dtype=np.float64)
    ratio = (
        (1.0 - w)
        / max(w, 1e-12)
        * (2.0 * s2 / radius**2)
        * (1.0 - np.exp(-(radius**2) / (2 * s2)))
        * np.exp(np.minimum(d * d / (2 * s2), 700.0))
    )
    return 1.0 / (1.0 + ratio)


def _distance_mixture(dist: np.ndarray, radius: float, n_iter: int):
    """Same-cell posterior from a mixture model of centroid distances (CellReg's centroid model).

    Same cell: registration error and day-to-day centroid jitter are 2-D Gaussian, so the
    distance is Rayleigh(sigma) (truncated at ``radius``). Different cells: neighbours of
    independently placed cells have a uniform areal density, so their number grows linearly
    with distance, density ``2 d / radius**2`` on [0, radius]. The weight and sigma are fitted
    by EM.

    Returns
    -------
    posterior : array (n_pairs,)
    weight : float, fraction of same-cell pairs
    sigma : float, px
    """
    d = np.asarray(dist, dtype=np.float64)
    w, s2 = 0.5, (radius / 12.0) ** 2
    post = np.zeros_like(d)
    for _ in range(n_iter):
        post = _posterior(d, w, s2, radius)
        w_new = float(post.mean())
        s2_new = max(float((post * d * d).sum() / (2 * max(post.sum(), 1e-12))), 1e-4)
        done = abs(w_new - w) < 1e-6 and abs(s2_new - s2) < 1e-8
        w, s2 = w_new, s2_new
        if done:
            break
    return post, w, float(np.sqrt(s2))


def _same_cell_probability(
    corr: np.ndarray, dist: np.ndarray, params: PreprocessParams, radius: float
):
    """Same-cell probability of each pair from the model ``track_probability_model``.

    ``"distance"``: :func:`_distance_mixture` fitted on the pairs within ``radius`` (the fit
    window), with pairs whose footprint correlation is below ``track_min_pair_corr`` set to 0.
    ``"gmm"``: posterior of the same-cell component of a 2-Gaussian mixture on
    ``(arctanh(corr), distance)``. Either falls back to a logistic rule on the correlation
    (``track_min_footprint_corr`` gives 0.5, soft width 0.05) with fewer than
    ``track_min_fit_pairs`` pairs, or (gmm) when the components are not separated by
    ``track_min_separation`` in arctanh(correlation).
    """
    if len(dist) >= params.track_min_fit_pairs:
        if params.track_probability_model == "distance":
            post, _, _ = _distance_mixture(dist, radius, params.track_em_iterations)
            return np.where(corr >= params.track_min_pair_corr, post, 0.0)
        from sklearn.mixture import GaussianMixture

        z = np.column_stack([np.arctanh(np.clip(corr, -0.999, 0.999)), dist])
        gm = GaussianMixture(2, covariance_type="full", random_state=0, reg_covar=1e-3)
        gm.fit(z)
        same = int(np.argmax(gm.means_[:, 0] - 0.1 * gm.means_[:, 1]))
        sep = abs(gm.means_[0, 0] - gm.means_[1, 0])
        if sep > params.track_min_separation:
            return gm.predict_proba(z)[:, same]
    return 1.0 / (1.0 + np.exp(-(corr - params.track_min_footprint_corr) / 0.05))


def _cluster(
    n: int, session: np.ndarray, i, j, prob, threshold: float, similarity=None, tie: float = 0.01
) -> list[list[int]]:
    """Constrained average-linkage clustering of ``n`` observations.

    Two clusters merge (highest mean first) while the mean of ``prob`` over all their cross
    pairs (absent pairs count 0) is >= ``threshold`` and they have no session in common.
    Merges whose mean probabilities lie within the same ``tie`` step are ordered by the mean
    ``similarity`` of their cross pairs (the footprint correlation), highest first: where
    the same-cell model is saturated (posteriors of 1 for neighbours a punctum apart, as for
    two boutons 2-3 px apart on one axon), the order of merges would otherwise follow the
    ROI numbering, and an early merge with the wrong neighbour cannot be undone.
    Returns the clusters as lists of observation indices.
    """
    members = {k: [k] for k in range(n)}
    smask = {k: 1 << int(session[k]) for k in range(n)}
    links: list[dict] = [dict() for _ in range(n)]
    sims: list[dict] = [dict() for _ in range(n)]
    sim = np.zeros(len(prob)) if similarity is None else np.asarray(similarity, float)
    for a, b, p, c in zip(i.tolist(), j.tolist(), prob.tolist(), sim.tolist()):
        if p > 0:
            links[a][b] = links[a].get(b, 0.0) + p
            links[b][a] = links[b].get(a, 0.0) + p
            sims[a][b] = sims[a].get(b, 0.0) + c
            sims[b][a] = sims[b].get(a, 0.0) + c

    def key(p_mean, s_mean):
        return (-np.floor(p_mean / tie + 1e-9) * tie, -s_mean)

    version = [0] * n
    heap = [
        (*key(p, sims[a][b]), -p, a, b, 0, 0)
        for a in range(n)
        for b, p in links[a].items()
        if a < b
    ]
    heapq.heapify(heap)
    while heap:
        _, _, neg, a, b, va, vb = heapq.heappop(heap)
        if a not in members or b not in members or version[a] != va or version[b] != vb:
            continue
        if -neg < threshold:
            continue
        if smask[a] & smask[b]:
            continue
        members[a].extend(members.pop(b))
        smask[a] |= smask.pop(b)
        for tab in (links, sims):
            ta, tb = tab[a], tab[b]
            ta.pop(b, None)
            tb.pop(a, None)
            for c, v in tb.items():
                ta[c] = ta.get(c, 0.0) + v
                tc = tab[c]
                tc[a] = tc.get(a, 0.0) + v
                tc.pop(b, None)
            tab[b] = {}
        version[a] += 1
        size = len(members[a])
        la, sa = links[a], sims[a]
        for c, p in la.items():
            if not smask[a] & smask[c]:
                m = size * len(members[c])
                heapq.heappush(
                    heap, (*key(p / m, sa.get(c, 0.0) / m), -p / m, a, c, version[a], version[c])
                )
    return list(members.values())


def _member_means(clusters, lookup):
    """Mean of a pair quantity of each member to the other members of its cluster."""
    out = {}
    for cl in clusters:
        for a in cl:
            others = [b for b in cl if b != a]
            out[a] = np.mean([lookup(a, b) for b in others]) if others else np.nan
    return out


def _track_once(footprints, shape, shifts, p: PreprocessParams):
    """Steps 2-4 for given shifts.

    Returns
    -------
    obs : _Observations
    clusters : list of lists of observation indices
    prob : dict observation -> same-cell probability to its cluster's other ROIs (NaN alone)
    corr_map : dict (a, b) -> footprint correlation of candidate pairs
    """
    obs = _observations(footprints, shape, shifts)
    n = len(obs.session)
    n_pix = shape[0] * shape[1]
    fit_radius = p.track_fit_radius_factor * p.track_max_distance_px
    i, j, corr, dist = _pair_features(obs, fit_radius, n_pix)
    prob = np.zeros(len(i))
    if len(i):
        prob = _same_cell_probability(corr, dist, p, fit_radius)
        prob[dist > p.track_max_distance_px] = 0.0
    clusters = _cluster(n, obs.session, i, j, prob, p.track_min_probability, similarity=corr)
    pmap = {(a, b): v for a, b, v in zip(i.tolist(), j.tolist(), prob.tolist())}
    pmap.update({(b, a): v for (a, b), v in list(pmap.items())})
    # split off members that the rest of their cluster does not vouch for
    final = []
    for cl in clusters:
        cl = list(cl)
        while len(cl) > 1:
            means = [np.mean([pmap.get((a, b), 0.0) for b in cl if b != a]) for a in cl]
            worst = int(np.argmin(means))
            if means[worst] >= p.track_min_probability:
                break
            final.append([cl.pop(worst)])
        final.append(cl)
    member_prob = {}
    for cl in final:
        for a in cl:
            others = [b for b in cl if b != a]
            member_prob[a] = (
                float(np.mean([pmap.get((a, b), 0.0) for b in others])) if others else np.nan
            )
    cmap = {(a, b): v for a, b, v in zip(i.tolist(), j.tolist(), corr.tolist())}
    cmap.update({(b, a): v for (a, b), v in list(cmap.items())})
    return obs, final, member_prob, cmap


def _refined_shifts(obs: _Observations, clusters, shifts, reference, max_step, trim, n_iter=20):
    """Shifts corrected by a per-session offset fitted to the clustered ROIs.

    Model: registered centroid of ROI a = position of its cell + offset of its session + noise.
    Cell positions and session offsets (reference fixed at 0) are estimated by alternating
    means (least squares); the session offsets use a trimmed mean (robust to the odd wrong
    match; not the median, which snaps to whole pixels when centroids lie on a pixel grid).
    Offsets larger than ``max_step`` px are not applied.
    """
    n_s = len(shifts)
    cl = [c for c in clusters if len(c) >= 2 and np.isfinite(obs.centroid[c]).all()]
    out = np.array(shifts, dtype=np.float64)
    if not cl:
        return out
    members = np.concatenate(cl)
    cell = np.repeat(np.arange(len(cl)), [len(c) for c in cl])
    sess = obs.session[members]
    cent = obs.centroid[members]
    size = np.bincount(cell).astype(np.float64)
    off = np.zeros((n_s, 2))
    for _ in range(n_iter):
        x = cent - off[sess]
        mu = np.column_stack([np.bincount(cell, x[:, k]) / size for k in range(2)])
        resid = cent - mu[cell]
        new = np.zeros((n_s, 2))
        for s in range(n_s):
            r = resid[sess == s]
            if len(r) >= 3:
                new[s] = trim_mean(r, trim, axis=0)
        new -= new[reference]
        if np.allclose(new, off, atol=1e-4):
            off = new
            break
        off = new
    ok = np.hypot(off[:, 0], off[:, 1]) <= max_step
    out[ok] += off[ok]
    return out


def track_sessions(
    footprints: list[list[np.ndarray]],
    image_shape: tuple[int, int],
    mean_images: list[np.ndarray] | None = None,
    params: PreprocessParams | None = None,
    reference: int = 0,
) -> TrackingResult:
    """Track ROIs across sessions of one field of view (see the module docstring).

    Parameters
    ----------
    footprints : list (n_sessions) of list (n_rois) of (k, 3) arrays [y, x, weight]
        Pixel masks in each session's own coordinates (px).
    image_shape : (height, width)
    mean_images : list (n_sessions) of (height, width) arrays, optional
        For rigid registration between sessions; without them the sessions start unshifted
        and only the ROI-based refinement (at most ``track_max_refine_px``) moves them.
    params : PreprocessParams, optional
        The ``track_*`` parameters.
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
    if not 0 <= reference < n_s:
        raise DataError(f"reference session {reference} of {n_s}", field="reference")
    shape = (int(image_shape[0]), int(image_shape[1]))
    shifts = np.zeros((n_s, 2))
    if mean_images is not None:
        if len(mean_images) != n_s:
            raise DataError(
                f"{len(mean_images)} mean images for {n_s} sessions", field="mean_images"
            )
        for s in range(n_s):
            if s != reference:
                shifts[s] = phase_correlation(mean_images[reference], mean_images[s])

    obs, clusters, pmap, cmap = _track_once(footprints, shape, shifts, p)
    for _ in range(p.track_refine_iterations):
        new = _refined_shifts(
            obs, clusters, shifts, reference, p.track_max_refine_px, p.track_refine_trim
        )
        if np.allclose(new, shifts, atol=1e-3):
            break
        shifts = new
        obs, clusters, pmap, cmap = _track_once(footprints, shape, shifts, p)

    # order cells by first session (reference first) and ROI index there
    rank = np.empty(n_s, dtype=np.int64)
    rank[[reference] + [s for s in range(n_s) if s != reference]] = np.arange(n_s)
    key = [min((rank[obs.session[a]], obs.roi[a]) for a in cl) for cl in clusters]
    clusters = [clusters[k] for k in sorted(range(len(clusters)), key=key.__getitem__)]
    index = np.full((n_s, len(clusters)), -1, dtype=np.int64)
    prob = np.full((n_s, len(clusters)), np.nan)
    rows = []
    for c, cl in enumerate(clusters):
        for a in cl:
            s, r = int(obs.session[a]), int(obs.roi[a])
            index[s, c] = r
            others = [b for b in cl if b != a]
            if not others:
                prob[s, c] = 1.0
                continue
            pr = float(pmap[a])
            prob[s, c] = pr
            fcs = [cmap[(a, b)] for b in others if (a, b) in cmap]
            fc = float(np.mean(fcs)) if fcs else np.nan
            d = float(np.hypot(*(obs.centroid[a] - obs.centroid[others].mean(axis=0))))
            rows.append((s, r, c, pr, fc, d))
    pairs = pd.DataFrame(
        rows, columns=["session", "roi", "cell", "probability", "footprint_corr", "distance_px"]
    )
    return TrackingResult(index=index, probability=prob, shifts=shifts, pairs=pairs)
