"""Field of view of one imaging plane: every labelled structure, its brightness and the masks
an extraction would use.

One :class:`Field` per mouse (the same field every session, so cells can be tracked). Its
*spatial components* are the fixed images the scene is made of (:mod:`.scene` gives them time
courses; traces and movies are both computed from that one scene):

* **somata** (ROIs): ring-shaped cytosolic label with a darker nucleus (``nucleus_fraction``,
  ``nucleus_brightness``), elliptical, sizes and brightness drawn per cell (brightness
  log-normal: about a decade between dim and bright cells), some nuclear-filled, some
  overlapping a neighbour; the in-focus neuropil is displaced inside a soma except for the
  fraction ``neuropil_contamination`` (so Fneu / F of somata is ~0.6-1.1);
* **boutons** (ROIs): Gaussian puncta along each axon's path; the path itself (the axon shaft)
  is a dim line carrying the axon's activity;
* **out-of-focus cells**: blurred, dimmer discs with their own activity (not ROIs);
* **neuropil**: a spatially smooth field with neurites (brighter lines), in patches that each
  fluctuate on their own, and dark vessel shadows that dim everything they cross;
* **stray puncta**: static bright dots that are no ROI.

Brightness is in units of the mean neuropil brightness (photons follow from the photon budget of
:class:`~.params.MeasurementParams`). Extraction masks follow suite2p's conventions: an ROI's
weights are its footprint on pixels no other ROI claims, normalised to sum 1; its neuropil mask
is the annulus from 2 px outside the ROI, grown until it holds ``min_neuropil_pixels`` pixels,
excluding every ROI pixel (suite2p 1.x ``inner_neuropil_radius`` 2, ``min_neuropil_pixels`` 350).

This is a documented generative model of the measurement, not a reconstruction of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage, sparse

from thalamocortex.simulate.params import FieldParams

#: suite2p's default minimum number of neuropil pixels and inner neuropil radius (px)
MIN_NEUROPIL_PIXELS = 350
INNER_NEUROPIL_RADIUS = 2.0


@dataclass
class Field:
    """One imaging plane's structures (see the module docstring).

    Attributes
    ----------
    shape : (height, width) px
    roi_kind : array (n_rois,) str, "soma" or "bouton"
    footprints : list of (k, 3) float32 arrays [y, x, weight], weights peak at 1
    centroids : array (n_rois, 2) px
    roi_brightness : array (n_rois,) own label at the footprint's peak, relative to neuropil
    roi_axon : array (n_rois,) axon of each bouton (-1 for somata)
    neuropil_contamination : array (n_rois,) fraction of in-focus neuropil kept in ROI pixels
    filled : array (n_rois,) bool, nuclear-filled somata
    neuropil_map : array (n_px,) float32, neuropil brightness (vessels, neurites, occlusion)
    patch_maps : array (n_patches, n_px) float32, weights of the local neuropil patches
    oof : sparse (n_oof, n_px), out-of-focus cells (brightness included)
    shafts : sparse (n_axons, n_px), axon shafts (brightness included)
    static : array (n_px,) float32, static structures (stray puncta)
    vessel : array (n_px,) float32, transmission of vessel shadows (1 = no vessel)
    roi_weights : sparse (n_rois, n_px), extraction weights (rows sum to 1)
    neuropil_weights : sparse (n_rois, n_px), neuropil masks (rows sum to 1)
    """

    shape: tuple[int, int]
    roi_kind: np.ndarray
    footprints: list
    centroids: np.ndarray
    roi_brightness: np.ndarray
    roi_axon: np.ndarray
    neuropil_contamination: np.ndarray
    filled: np.ndarray
    neuropil_map: np.ndarray
    patch_maps: np.ndarray
    oof: sparse.csr_matrix
    shafts: sparse.csr_matrix
    static: np.ndarray
    vessel: np.ndarray
    roi_weights: sparse.csr_matrix
    neuropil_weights: sparse.csr_matrix
    _components: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def n_rois(self) -> int:
        return len(self.roi_kind)

    @property
    def n_px(self) -> int:
        return int(self.shape[0] * self.shape[1])

    @property
    def n_oof(self) -> int:
        return int(self.oof.shape[0])

    @property
    def n_axons(self) -> int:
        return int(self.shafts.shape[0])

    def footprint_matrix(self) -> sparse.csr_matrix:
        """ROI footprints as a sparse (n_rois, n_px) matrix of weights (peak 1)."""
        return _rows_to_sparse(self.footprints, self.shape)

    def table(self) -> pd.DataFrame:
        """Per ROI: kind, centroid, brightness, contamination, pixels, neuropil pixels."""
        return pd.DataFrame(
            {
                "roi_type": self.roi_kind.astype(str),
                "centroid_y": self.centroids[:, 0],
                "centroid_x": self.centroids[:, 1],
                "brightness": self.roi_brightness,
                "neuropil_contamination": self.neuropil_contamination,
                "n_pixels": np.diff(self.roi_weights.indptr),
                "n_neuropil_pixels": np.diff(self.neuropil_weights.indptr),
            }
        )


# ----------------------------------------------------------------------------- helpers
def _rows_to_sparse(rows: list, shape) -> sparse.csr_matrix:
    h, w = shape
    data, ind, ptr = [], [], [0]
    for fp in rows:
        y, x, v = fp[:, 0].astype(np.int64), fp[:, 1].astype(np.int64), fp[:, 2]
        ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        order = np.argsort(y[ok] * w + x[ok])
        ind.append((y[ok] * w + x[ok])[order])
        data.append(v[ok][order].astype(np.float32))
        ptr.append(ptr[-1] + int(ok.sum()))
    n = len(rows)
    if n == 0:
        return sparse.csr_matrix((0, h * w), dtype=np.float32)
    return sparse.csr_matrix(
        (np.concatenate(data), np.concatenate(ind), np.array(ptr)), shape=(n, h * w)
    )


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _curve(rng, start, angle, length, step=0.5, bend=0.08) -> np.ndarray:
    """Points (n, 2) of a smooth random curve (a random walk of the heading)."""
    n = max(int(length / step), 2)
    heading = angle + np.cumsum(bend * rng.standard_normal(n))
    d = np.stack([np.sin(heading), np.cos(heading)], axis=1) * step
    return np.asarray(start, dtype=np.float64) + np.cumsum(d, axis=0)


def _line_distance(points: np.ndarray, shape) -> np.ndarray:
    """Distance (px) of every pixel to the nearest of ``points`` (rasterised)."""
    h, w = shape
    img = np.ones(shape, dtype=bool)
    p = np.round(points).astype(np.int64)
    ok = (p[:, 0] >= 0) & (p[:, 0] < h) & (p[:, 1] >= 0) & (p[:, 1] < w)
    if not ok.any():
        return np.full(shape, np.inf)
    img[p[ok, 0], p[ok, 1]] = False
    return ndimage.distance_transform_edt(img)


def _smooth_field(rng, shape, sigma, cv) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    f = f / (f.std() + 1e-12)
    return np.clip(1.0 + cv * f, 0.2, None)


def _puncta(rng, centres, sigma, brightness, shape) -> np.ndarray:
    """An image of Gaussian puncta (peak = brightness)."""
    img = np.zeros(shape)
    h, w = shape
    k = int(np.ceil(3 * sigma))
    for (cy, cx), b in zip(centres, brightness):
        y0, y1 = max(int(cy) - k, 0), min(int(cy) + k + 2, h)
        x0, x1 = max(int(cx) - k, 0), min(int(cx) + k + 2, w)
        if y1 <= y0 or x1 <= x0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        img[y0:y1, x0:x1] += b * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma * sigma))
    return img


# ----------------------------------------------------------------------------- somata
def _soma_shape(rng, p: FieldParams) -> dict:
    d = p.soma_diameter_px * np.exp(p.soma_diameter_sd * rng.standard_normal())
    e = abs(p.soma_ellipticity_sd * rng.standard_normal())
    return dict(
        a=0.5 * d * np.exp(0.5 * e),
        b=0.5 * d * np.exp(-0.5 * e),
        theta=rng.uniform(0, np.pi),
        filled=bool(rng.random() < p.filled_fraction),
        diameter=d,
    )


def soma_footprint(
    cy: float, cx: float, shape: dict, p: FieldParams
) -> tuple[np.ndarray, np.ndarray]:
    """Footprint rows [y, x, weight] (peak 1) and body rows [y, x, occupancy] of one soma."""
    a, b, th = shape["a"], shape["b"], shape["theta"]
    r = max(a, b)
    y0, y1 = int(np.floor(cy - r - 2)), int(np.ceil(cy + r + 2))
    x0, x1 = int(np.floor(cx - r - 2)), int(np.ceil(cx + r + 2))
    yy, xx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
    dy, dx = yy - cy, xx - cx
    u = dx * np.cos(th) + dy * np.sin(th)
    v = -dx * np.sin(th) + dy * np.cos(th)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)  # 1 at the membrane
    soft = 0.6 / max(min(a, b), 1.0)  # edge width ~0.6 px
    body = _logistic((1.0 - rho) / soft)
    if shape["filled"]:
        w = body
    else:
        nuc = _logistic((p.nucleus_fraction - rho) / soft)
        w = body * (1.0 - (1.0 - p.nucleus_brightness) * nuc)
    w = w / max(w.max(), 1e-9)
    keep = w > 0.05
    fp = np.stack([yy[keep], xx[keep], w[keep]], axis=1).astype(np.float32)
    kb = body > 0.05
    bd = np.stack([yy[kb], xx[kb], body[kb]], axis=1).astype(np.float32)
    return fp, bd


def _place_somata(rng, shapes, p: FieldParams, hw, vessel) -> np.ndarray:
    h, w = hw
    n = len(shapes)
    out = np.zeros((n, 2))
    placed = 0
    tries = 0
    while placed < n and tries < 300 * max(n, 1):
        tries += 1
        r = max(shapes[placed]["a"], shapes[placed]["b"])
        lo = p.margin_px + r
        c = np.array([rng.uniform(lo, h - lo), rng.uniform(lo, w - lo)])
        if vessel[int(c[0]), int(c[1])] < 0.7:
            continue  # somata do not sit inside vessels
        if placed:
            dmin = (
                p.min_soma_distance
                * 0.5
                * (np.array([s["diameter"] for s in shapes[:placed]]) + shapes[placed]["diameter"])
            )
            if np.any(np.hypot(*(out[:placed] - c).T) < dmin):
                continue
        out[placed] = c
        placed += 1
    if placed < n:
        raise ValueError(
            f"FieldParams: cannot place {n} (largely) non-overlapping somata of "
            f"~{p.soma_diameter_px} px in {h}x{w} px (min_soma_distance); enlarge the field or "
            "reduce the ROIs"
        )
    return out


# ----------------------------------------------------------------------------- boutons
def _bouton_centres(rng, n_boutons: int, p: FieldParams, hw, taken=None) -> np.ndarray:
    """Centres of one axon's boutons along a smooth random path through the field.

    Each bouton is a step of ``bouton_spacing_px`` (x 0.7-1.3) from the previous one with a
    small turn; a candidate closer than ``bouton_min_distance_px`` to an already placed bouton
    (``taken``, (k, 2) px, of the other axons; and this axon's own) is redrawn, up to 50 tries
    (then the last in-field candidate is kept).
    """
    lo = p.margin_px + 2 * p.bouton_sigma_px
    hi = np.array([hw[0] - lo, hw[1] - lo])
    placed = np.zeros((0, 2)) if taken is None else np.asarray(taken, dtype=np.float64)
    dmin2 = p.bouton_min_distance_px**2

    def free(c) -> bool:
        return not len(placed) or bool(((placed - c) ** 2).sum(axis=1).min() >= dmin2)

    for _try in range(50):
        start = np.array([rng.uniform(lo, hi[0]), rng.uniform(lo, hi[1])])
        if free(start):
            break
    angle = rng.uniform(0, 2 * np.pi)
    pts = [start]
    placed = np.vstack([placed, start])
    cand = start
    for _ in range(n_boutons - 1):
        nxt = None
        for _try in range(50):
            angle_try = angle + rng.normal(0, 0.4)
            step = p.bouton_spacing_px * rng.uniform(0.7, 1.3)
            cand = pts[-1] + step * np.array([np.sin(angle_try), np.cos(angle_try)])
            if lo <= cand[0] <= hi[0] and lo <= cand[1] <= hi[1]:
                nxt = cand
                if free(cand):
                    angle = angle_try
                    break
            else:
                angle = angle + np.pi / 2  # turn away from the edge
        if nxt is None:
            nxt = np.clip(cand, lo, hi)
        pts.append(nxt)
        placed = np.vstack([placed, nxt])
    return np.array(pts)


def bouton_footprint(cy: float, cx: float, p: FieldParams) -> np.ndarray:
    s = p.bouton_sigma_px
    k = int(np.ceil(3 * s))
    yy, xx = np.mgrid[int(cy) - k : int(cy) + k + 2, int(cx) - k : int(cx) + k + 2]
    w = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    keep = w > 0.05
    return np.stack([yy[keep], xx[keep], w[keep]], axis=1).astype(np.float32)


def _axon_shaft(rng, centres: np.ndarray, hw, extend_px: float = 12.0) -> np.ndarray:
    """Points of an axon's visible segment: through its boutons, extended at both ends."""
    if len(centres) == 1:
        ang = rng.uniform(0, 2 * np.pi)
        d = np.array([np.sin(ang), np.cos(ang)])
        ends = [centres[0] - extend_px * d, centres[0] + extend_px * d]
        path = np.array(ends)
    else:
        d0 = centres[0] - centres[1]
        d1 = centres[-1] - centres[-2]
        d0 /= np.linalg.norm(d0) + 1e-9
        d1 /= np.linalg.norm(d1) + 1e-9
        path = np.vstack([centres[0] + extend_px * d0, centres, centres[-1] + extend_px * d1])
    pts = []
    for a, b in zip(path[:-1], path[1:]):
        n = max(int(np.ceil(np.linalg.norm(b - a) / 0.5)), 1)
        pts.append(a + (b - a) * np.linspace(0.0, 1.0, n, endpoint=False)[:, None])
    pts.append(path[-1:])
    return np.vstack(pts)


# ----------------------------------------------------------------------------- field size
def field_size(roi_types, p: FieldParams) -> tuple[int, int]:
    """The field (height, width) holding ``roi_types`` at the configured densities.

    Random sequential packing reaches about half the hexagonal density: somata get 2.5 x the
    area of their exclusion discs; boutons ``bouton_area_px2`` each inside the margins. Never
    smaller than ``height_px`` x ``width_px``.
    """
    roi_types = np.asarray(roi_types, dtype=object)
    n_soma = int((roi_types == "soma").sum())
    d = p.min_soma_distance * p.soma_diameter_px * np.exp(p.soma_diameter_sd)
    side = int(np.ceil(np.sqrt(2.5 * n_soma * d * d) + 2 * (p.margin_px + d))) if n_soma else 0
    n_boutons = int((roi_types == "bouton").sum())
    if n_boutons:
        lo_b = p.margin_px + 2 * p.bouton_sigma_px
        side = max(side, int(np.ceil(np.sqrt(n_boutons * p.bouton_area_px2) + 2 * lo_b)))
    return max(side, p.height_px), max(side, p.width_px)


# ----------------------------------------------------------------------------- masks
def extraction_masks(
    footprints: sparse.csr_matrix, centroids: np.ndarray, radii: np.ndarray, shape
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """suite2p-style ROI weights and neuropil masks (both row-normalised to sum 1).

    ROI weights: the footprint on pixels where no other ROI's weight exceeds 0.1 (overlapping
    pixels are left out, suite2p's ``allow_overlap=False``); the whole footprint when that
    leaves fewer than 3 pixels. Neuropil: pixels from ``radius + 2`` px of the centroid outwards,
    the disc grown until it holds ``MIN_NEUROPIL_PIXELS``, excluding every ROI pixel.
    """
    h, w = shape
    n = footprints.shape[0]
    fp = footprints.tocsc(copy=True)
    claimed = np.asarray((footprints > 0.1).sum(axis=0)).ravel()
    any_roi = np.asarray((footprints > 0.05).sum(axis=0)).ravel() > 0
    rows_w, rows_n = [], []
    yy, xx = np.divmod(np.arange(h * w), w)
    free_idx = np.flatnonzero(~any_roi)
    fy, fx = yy[free_idx], xx[free_idx]
    for i in range(n):
        row = footprints.getrow(i)
        idx, val = row.indices, row.data
        mine = (claimed[idx] <= 1) | (val <= 0.1)
        keep = mine & (val > 0.1)
        if keep.sum() < 3:
            keep = val > 0.05
        wts = np.zeros(h * w, dtype=np.float32)
        wts[idx[keep]] = val[keep]
        rows_w.append(wts[idx[keep]] / max(wts.sum(), 1e-12))
        rows_w[-1] = (idx[keep], rows_w[-1])
        d = np.hypot(fy - centroids[i, 0], fx - centroids[i, 1])
        inner = radii[i] + INNER_NEUROPIL_RADIUS
        cand = d >= inner
        dd = np.sort(d[cand])
        outer = dd[min(MIN_NEUROPIL_PIXELS, len(dd)) - 1] if len(dd) else inner
        sel = free_idx[cand & (d <= outer)]
        rows_n.append((sel, np.full(len(sel), 1.0 / max(len(sel), 1), dtype=np.float32)))
    del fp

    def build(rows):
        if not rows:
            return sparse.csr_matrix((0, h * w), dtype=np.float32)
        ind = [r[0] for r in rows]
        dat = [r[1] for r in rows]
        ptr = np.r_[0, np.cumsum([len(i) for i in ind])]
        order = [np.argsort(i) for i in ind]
        return sparse.csr_matrix(
            (
                np.concatenate([d[o] for d, o in zip(dat, order)]).astype(np.float32),
                np.concatenate([i[o] for i, o in zip(ind, order)]),
                ptr,
            ),
            shape=(len(rows), h * w),
        )

    return build(rows_w), build(rows_n)


# ----------------------------------------------------------------------------- the field
def draw_field(
    roi_types,
    axon_ids=None,
    params: FieldParams | None = None,
    seed: int | np.random.Generator = 0,
    fit_field: bool = True,
    footprints: list | None = None,
) -> Field:
    """Draw one imaging plane (see the module docstring).

    Parameters
    ----------
    roi_types : sequence of {"soma", "bouton"} (n_rois,)
    axon_ids : array (n_rois,), optional
        Axon of each bouton (default: every bouton its own axon).
    params : FieldParams (or a subclass such as MovieParams)
    seed : int or Generator
    fit_field : bool
        Enlarge the field to :func:`field_size` (else use ``height_px`` x ``width_px``).
    footprints : list of (k, 3) arrays [y, x, weight], optional
        Given ROI footprints (placed already, in a ``height_px`` x ``width_px`` field): the rest
        of the field is drawn around them (somata occlude the neuropil where their weight is
        high; bouton shafts run through each axon's boutons).

    Returns
    -------
    Field
    """
    p = params or FieldParams()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    roi_types = np.asarray(roi_types, dtype=object)
    bad = set(roi_types) - {"soma", "bouton"}
    if bad:
        raise ValueError(f"draw_field: roi_types must be 'soma' or 'bouton', got {bad}")
    n_rois = len(roi_types)
    given = footprints is not None
    if given and len(footprints) != n_rois:
        raise ValueError(f"draw_field: {len(footprints)} footprints for {n_rois} ROIs")
    hw = field_size(roi_types, p) if (fit_field and not given) else (p.height_px, p.width_px)
    h, w = hw
    area = h * w / 1e4
    is_soma = roi_types == "soma"
    somata = np.flatnonzero(is_soma)
    boutons = np.flatnonzero(~is_soma)
    axon_ids = np.arange(n_rois) if axon_ids is None else np.asarray(axon_ids)

    # vessels first: somata avoid them, everything else is dimmed by them
    vessel = np.ones(hw)
    for _ in range(int(rng.poisson(p.vessels_per_10k_px * area))):
        start = (rng.uniform(0, h), -5.0) if rng.random() < 0.5 else (-5.0, rng.uniform(0, w))
        ang = rng.uniform(-0.6, 0.6) + (np.pi / 2 if start[1] < 0 else 0.0)
        pts = _curve(rng, start, ang, 2.0 * (h + w), bend=0.02)
        width = p.vessel_width_px * np.exp(0.3 * rng.standard_normal())
        dist = _line_distance(pts, hw)
        inside = _logistic((0.5 * width - dist) / 1.0)
        vessel = np.minimum(vessel, 1.0 - (1.0 - p.vessel_transmission) * inside)

    given_fp = footprints
    footprints = [None] * n_rois
    bodies: list = []
    brightness = np.zeros(n_rois)
    contamination = np.ones(n_rois)
    radii = np.zeros(n_rois)
    # somata
    shapes = [_soma_shape(rng, p) for _ in somata]
    filled = np.zeros(n_rois, dtype=bool)
    filled[somata] = [sh["filled"] for sh in shapes]
    if given:
        centres = np.zeros((len(somata), 2))
    else:
        centres = _place_somata(rng, shapes, p, hw, vessel) if len(somata) else np.zeros((0, 2))
    for k, (c, sh) in zip(somata, zip(centres, shapes)):
        if given:
            fp = np.asarray(given_fp[k], dtype=np.float32)
            bd = fp.copy()
            bd[:, 2] = np.clip(bd[:, 2] / max(bd[:, 2].max(), 1e-9) * 1.5, 0.0, 1.0)
            sh["diameter"] = 2.0 * np.sqrt(max((fp[:, 2] > 0.3).sum(), 1) / np.pi)
        else:
            fp, bd = soma_footprint(c[0], c[1], sh, p)
        footprints[k] = fp
        bodies.append(bd)
        b = p.soma_brightness * np.exp(p.soma_brightness_sd * rng.standard_normal())
        brightness[k] = b * (2.5 if sh["filled"] else 1.0)
        contamination[k] = np.clip(
            p.neuropil_contamination + p.neuropil_contamination_sd * rng.standard_normal(),
            0.2,
            1.0,
        )
        radii[k] = 0.5 * sh["diameter"]
    # boutons along their axons, and the axons' shafts
    taken = np.zeros((0, 2))
    shaft_rows = []
    axon_order = pd.unique(axon_ids[boutons]) if len(boutons) else []
    for a in axon_order:
        members = boutons[axon_ids[boutons] == a]
        if given:
            cs = np.array(
                [np.average(given_fp[k][:, :2], axis=0, weights=given_fp[k][:, 2]) for k in members]
            )
        else:
            cs = _bouton_centres(rng, len(members), p, hw, taken)
        taken = np.vstack([taken, cs])
        for k, (cy, cx) in zip(members, cs):
            footprints[k] = (
                np.asarray(given_fp[k], dtype=np.float32) if given else bouton_footprint(cy, cx, p)
            )
            brightness[k] = p.bouton_brightness * np.exp(
                p.bouton_brightness_sd * rng.standard_normal()
            )
            radii[k] = 1.5 * p.bouton_sigma_px
        dist = _line_distance(_axon_shaft(rng, cs, hw), hw)
        line = p.axon_shaft_brightness * np.exp(-0.5 * (dist / 0.7) ** 2)
        shaft_rows.append(line.ravel())
    for k, fp in enumerate(footprints):
        y, x = fp[:, 0], fp[:, 1]
        footprints[k] = fp[(y >= 0) & (y < h) & (x >= 0) & (x < w)]
    fpm = _rows_to_sparse(footprints, hw)
    cent = np.zeros((n_rois, 2))
    for k, fp in enumerate(footprints):
        if len(fp):
            cent[k] = np.average(fp[:, :2], axis=0, weights=fp[:, 2])

    # neuropil: smooth field x neurites x vessels x occlusion by somata
    base = _smooth_field(rng, hw, max(h, w) / 8, p.neuropil_spatial_cv)
    n_neurites = int(rng.poisson(p.neurites_per_10k_px * area))
    if n_neurites:
        pts = [
            _curve(
                rng,
                (rng.uniform(0, h), rng.uniform(0, w)),
                rng.uniform(0, 2 * np.pi),
                rng.uniform(15, 60),
                bend=0.1,
            )
            for _ in range(n_neurites)
        ]
        dist = _line_distance(np.vstack(pts), hw)
        base = base * (1.0 + p.neurite_brightness * np.exp(-0.5 * (dist / 0.6) ** 2))
    occupancy = np.zeros(h * w)
    if bodies:
        bm = _rows_to_sparse(bodies, hw)
        occupancy = np.asarray(
            (sparse.diags(1.0 - contamination[somata]) @ bm).max(axis=0).todense()
        ).ravel()
    occlusion = np.clip(1.0 - occupancy, 0.0, 1.0)
    neuropil = (base.ravel() * vessel.ravel() * occlusion).astype(np.float32)
    neuropil /= max(float(neuropil.mean()), 1e-9)  # mean neuropil = 1 (the photon unit)
    n_patch = max(int(round(p.neuropil_patches * area)), 1 if p.neuropil_patches > 0 else 0)
    yy, xx = np.mgrid[0:h, 0:w]
    patches = np.zeros((n_patch, h * w), dtype=np.float32)
    for j in range(n_patch):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * p.neuropil_patch_sigma_px**2))
        patches[j] = g.ravel()

    # out-of-focus cells (somata fields): blurred discs, dimmed by vessels
    n_oof = int(round(p.out_of_focus_per_soma * len(somata)))
    oof_rows = []
    for _ in range(n_oof):
        d = 1.3 * p.soma_diameter_px * np.exp(p.soma_diameter_sd * rng.standard_normal())
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        disc = (np.hypot(yy - cy, xx - cx) <= 0.5 * d).astype(np.float64)
        blur = ndimage.gaussian_filter(disc, max(p.out_of_focus_blur_px, 1e-3))
        blur *= (
            p.out_of_focus_brightness * np.exp(0.4 * rng.standard_normal()) / max(blur.max(), 1e-9)
        )
        blur *= vessel
        blur[blur < 0.01 * blur.max()] = 0.0
        oof_rows.append(sparse.csr_matrix(blur.ravel()))
    oof = (
        sparse.vstack(oof_rows, format="csr").astype(np.float32)
        if oof_rows
        else sparse.csr_matrix((0, h * w), dtype=np.float32)
    )
    shafts = (
        sparse.csr_matrix(np.vstack(shaft_rows) * vessel.ravel()[None, :]).astype(np.float32)
        if shaft_rows
        else sparse.csr_matrix((0, h * w), dtype=np.float32)
    )
    shafts.eliminate_zeros()
    shafts.data[shafts.data < 1e-3] = 0.0
    shafts.eliminate_zeros()

    # stray puncta: static, no ROI
    n_stray = int(rng.poisson(p.stray_puncta_per_10k_px * area))
    stray_c = np.column_stack([rng.uniform(0, h, n_stray), rng.uniform(0, w, n_stray)])
    stray_b = p.stray_punctum_brightness * np.exp(0.4 * rng.standard_normal(n_stray))
    static = (_puncta(rng, stray_c, p.bouton_sigma_px, stray_b, hw) * vessel).ravel()

    roi_w, neu_w = extraction_masks(fpm, cent, radii, hw)
    return Field(
        shape=(int(h), int(w)),
        roi_kind=roi_types.astype(str),
        footprints=footprints,
        centroids=cent,
        roi_brightness=brightness,
        roi_axon=np.where(is_soma, -1, axon_ids).astype(np.int64),
        neuropil_contamination=np.where(is_soma, contamination, 1.0),
        filled=filled,
        neuropil_map=neuropil,
        patch_maps=patches,
        oof=oof,
        shafts=shafts,
        static=static.astype(np.float32),
        vessel=vessel.ravel().astype(np.float32),
        roi_weights=roi_w,
        neuropil_weights=neu_w,
    )
