"""Statistics of a raw two-photon movie: photon budget, brightness, motion, ROI shapes.

Photon transfer (how many photons a pixel collects per frame)
-----------------------------------------------------------
Raw frames are in digitiser units ``a = g n + z`` (``n`` photons, ``g`` units per photon, ``z``
the zero level). Shot noise makes a pixel's variance grow linearly with its mean,
``var(a) = g (mean(a) - z)``, the photon-transfer relation (Janesick 2007; for two-photon
microscopes Lees et al. 2024, *Standardised measurements for monitoring and comparing
multiphoton microscope systems*, and its ``photon-flux-estimation`` implementation). Here:

1. per pixel, the temporal mean ``m`` and the *frame-to-frame* noise variance
   ``v = mean((a[t+1] - a[t])^2) / 2`` (differences remove slow changes: bleaching, drift and
   most of the calcium signal), over pairs of good frames;
2. the relation is fitted across *flat* pixels only: pixels within ``photon_border_px`` of the
   edge, and pixels whose squared spatial gradient of the mean image is above the
   ``photon_flat_quantile`` quantile, are left out (where the image has edges, frame-to-frame
   motion adds variance that is not shot noise: on the simulated movies, whose motion is
   frame-to-frame jitter, a fit over every pixel overestimates the gain by 40 %);
3. ``v = g m + c`` by Huber regression (scikit-learn; robust to the active pixels whose
   calcium transients add variance), on standardised variables so that the intercept
   converges (the ``photon-flux-estimation`` package fits raw intensities of 10^4 units, where
   the optimiser leaves the intercept at its start value; its fit also needs integer
   intensities spanning more than 100 levels, which photon-unit movies do not have — hence a
   reimplementation here);
4. ``g`` is the gain, ``z = -c / g`` the zero level, and photons per pixel per frame
   ``= (mean(a) - z) / g`` over every pixel and good frame.

A movie already in photons (the simulator's) gives ``g`` = 1. Additive read noise (variance
``r``) raises the intercept, so ``z`` then includes ``-r / g`` and photons are overestimated by
``r / g^2`` (2 photons of read noise: +4 photons per pixel per frame); PMT systems have
negligible read noise next to one photon's pulse. On the real mouse movie (uint16, offset
subtracted and clipped at 0) the fit gives ``z`` ~ 0, ``g`` ~ 2,250 units per photon and
~4.8 photons per pixel per frame. (A plain least-squares line through every pixel's mean and
variance gives ~6.3 there, the issue's "about 6"; its intercept of -1,750 units comes from the
curvature that motion at edges and activity add, see the tests.)

Motion
------
From registration offsets (``dy, dx`` px per frame): SD per axis, the largest displacement
from the median position, the frame-to-frame jitter (robust SD of the differences), and
*bursts*: runs of frames displaced by more than ``motion_burst_threshold_px`` from the median
position (runs closer than ``motion_burst_merge_s`` merged), with their rate, median duration
and median peak displacement.

ROI shape
---------
From pixel masks: area (pixels with weight > 0) and the eccentricity of the ellipse with the
same second moments (unweighted pixel coordinates, as ``skimage.measure.regionprops``):
``sqrt(1 - l2 / l1)`` for the eigenvalues ``l1 >= l2`` of the coordinate covariance; 0 for a
disc, towards 1 for an elongated ROI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.realism.params import RealismParams


def _good_frames(n_frames: int, bad_frames) -> np.ndarray:
    if bad_frames is None:
        return np.ones(n_frames, bool)
    good = ~np.asarray(bad_frames, bool)
    if good.shape != (n_frames,):
        raise DataError(
            f"expected ({n_frames},) flags (one per frame), got {good.shape}", field="bad_frames"
        )
    return good


def _check_movie(movie) -> np.ndarray:
    mov = np.asarray(movie)
    if mov.ndim != 3:
        raise DataError(f"expected (n_frames, height, width), got shape {mov.shape}", field="movie")
    if mov.shape[0] < 3:
        raise DataError(f"need at least 3 frames, got {mov.shape[0]}", field="movie")
    return mov


def pixel_mean_variance(movie, bad_frames=None, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel temporal mean and frame-to-frame noise variance.

    Parameters
    ----------
    movie : array (n_frames, height, width)
        Raw frames (any numeric dtype; read chunk by chunk, so a memory map works).
    bad_frames : array (n_frames,) bool, optional
        Frames left out (artefacts): from the mean, and every difference involving one.
    chunk : int
        Frames converted to float64 at a time.

    Returns
    -------
    mean : array (height, width) float64
    noise_var : array (height, width) float64
        ``mean((a[t+1] - a[t])^2) / 2`` over pairs of consecutive good frames.
    """
    mov = _check_movie(movie)
    n = mov.shape[0]
    good = _good_frames(n, bad_frames)
    pair = good[:-1] & good[1:]
    if good.sum() < 1 or pair.sum() < 1:
        raise DataError("fewer than two consecutive good frames", field="bad_frames")
    total = np.zeros(mov.shape[1:])
    sq = np.zeros(mov.shape[1:])
    for a in range(0, n, chunk):
        own = min(chunk, n - a)  # frames a .. a + own - 1, plus the next one for the difference
        block = np.asarray(mov[a : min(n, a + own + 1)], dtype=np.float64)
        total += block[:own][good[a : a + own]].sum(axis=0)
        d = np.diff(block, axis=0)  # pairs (a, a+1) .. (a + len(d) - 1, a + len(d))
        sq += (d[pair[a : a + len(d)]] ** 2).sum(axis=0)
    return total / good.sum(), sq / pair.sum() / 2.0


@dataclass
class PhotonTransfer:
    """Result of :func:`photon_transfer`.

    Attributes
    ----------
    gain : float
        Digitiser units per photon.
    zero_level : float
        Digitiser value of zero photons (x-intercept of the mean-variance line).
    photons_per_pixel_frame : float
        Mean photons per pixel per frame over every pixel and good frame.
    n_pixels_fit : int
        Pixels that entered the fit.
    mean_image : array (height, width)
        Temporal mean (digitiser units).
    noise_var : array (height, width)
        Frame-to-frame noise variance (digitiser units^2).
    fit_mask : array (height, width) bool
        Pixels used in the fit.
    """

    gain: float
    zero_level: float
    photons_per_pixel_frame: float
    n_pixels_fit: int
    mean_image: np.ndarray = field(repr=False)
    noise_var: np.ndarray = field(repr=False)
    fit_mask: np.ndarray = field(repr=False)

    @property
    def photon_image(self) -> np.ndarray:
        """Mean image in photons per pixel per frame."""
        return (self.mean_image - self.zero_level) / self.gain


def photon_transfer(
    movie, bad_frames=None, exclude=None, params: RealismParams | None = None
) -> PhotonTransfer:
    """Gain, zero level and photons per pixel per frame of a raw movie (module docstring).

    Parameters
    ----------
    movie : array (n_frames, height, width)
        Raw, unregistered frames in digitiser units (or photons).
    bad_frames : array (n_frames,) bool, optional
        Frames to leave out (photostimulation artefacts).
    exclude : array (height, width) bool, optional
        Pixels kept out of the fit, typically the ROIs: the interior of an active cell is
        flat, but its calcium transients add frame-to-frame variance that is not shot noise
        (on the synthetic movies of the tests, fitting over active somata overestimates the
        gain by 2-4 %).
    params : RealismParams, optional

    Returns
    -------
    PhotonTransfer
    """
    from sklearn.linear_model import HuberRegressor

    p = params or RealismParams()
    mean, var = pixel_mean_variance(movie, bad_frames)
    h, w = mean.shape
    b = int(p.photon_border_px)
    interior = np.zeros((h, w), bool)
    if 2 * b < min(h, w) - 2:
        interior[b : h - b, b : w - b] = True
    else:
        interior[:] = True
    gy, gx = np.gradient(mean)
    grad2 = gy**2 + gx**2
    ok = interior & np.isfinite(mean) & np.isfinite(var)
    if exclude is not None:
        exclude = np.asarray(exclude, bool)
        if exclude.shape != (h, w):
            raise DataError(
                f"expected a ({h}, {w}) pixel mask, got {exclude.shape}", field="exclude"
            )
        if (ok & ~exclude).sum() >= 10:
            ok &= ~exclude
    flat = ok & (grad2 <= np.quantile(grad2[ok], p.photon_flat_quantile))
    if flat.sum() < 10:
        raise DataError(
            f"only {int(flat.sum())} pixels to fit the mean-variance relation", field="movie"
        )
    x, y = mean[flat], var[flat]
    sx, sy = x.std(), y.std()
    if not (sx > 0 and sy > 0):
        raise DataError("the movie's pixels have no spread of mean or variance", field="movie")
    mx, my = x.mean(), y.mean()
    reg = HuberRegressor(max_iter=1000).fit(((x - mx) / sx)[:, None], (y - my) / sy)
    gain = float(reg.coef_[0] * sy / sx)
    if not gain > 0:
        raise DataError(
            "the pixel variance does not grow with the mean (no shot-noise relation): is this "
            "a raw, unprocessed movie?",
            field="movie",
        )
    intercept = my + sy * reg.intercept_ - gain * mx
    zero = float(-intercept / gain)
    photons = float((mean.mean() - zero) / gain)
    return PhotonTransfer(
        gain=gain,
        zero_level=zero,
        photons_per_pixel_frame=photons,
        n_pixels_fit=int(flat.sum()),
        mean_image=mean,
        noise_var=var,
        fit_mask=flat,
    )


def brightness_statistics(photon_image) -> dict[str, float]:
    """Distribution of the mean image's brightness (photons per pixel per frame).

    Returns
    -------
    dict
        ``brightness_p10``, ``brightness_median``, ``brightness_p90``, ``brightness_p99``
        (photons/px/frame) and ``brightness_contrast`` = p99 / median.
    """
    img = np.asarray(photon_image, dtype=np.float64)
    v = img[np.isfinite(img)]
    p10, p50, p90, p99 = np.percentile(v, [10, 50, 90, 99])
    return {
        "brightness_p10": float(p10),
        "brightness_median": float(p50),
        "brightness_p90": float(p90),
        "brightness_p99": float(p99),
        "brightness_contrast": float(p99 / p50) if p50 > 0 else float("nan"),
    }


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def motion_statistics(
    shifts, frame_rate: float, bad_frames=None, params: RealismParams | None = None
) -> dict[str, float]:
    """Size and burstiness of brain motion from registration offsets (module docstring).

    Parameters
    ----------
    shifts : array (n_frames, 2)
        Rigid offset (dy, dx) of each frame in px.
    frame_rate : float (Hz)
    bad_frames : array (n_frames,) bool, optional
        Frames whose offsets are not trusted (left out).
    params : RealismParams, optional

    Returns
    -------
    dict
        ``motion_sd_y_px``, ``motion_sd_x_px``, ``motion_max_px`` (largest displacement from the
        median position), ``motion_jitter_px`` (robust SD of frame-to-frame displacement,
        ``sqrt(sy^2 + sx^2)`` of the per-axis robust difference SDs / sqrt 2),
        ``motion_bursts_per_min``, ``motion_burst_duration_s`` and ``motion_burst_peak_px``
        (medians over bursts; NaN without bursts).
    """
    p = params or RealismParams()
    fr = float(frame_rate)
    if not (np.isfinite(fr) and fr > 0):
        raise DataError(
            f"expected a positive frame rate in Hz, got {frame_rate}", field="frame_rate"
        )
    s = np.asarray(shifts, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 2:
        raise DataError(f"expected (n_frames, 2) offsets (dy, dx), got {s.shape}", field="shifts")
    good = _good_frames(s.shape[0], bad_frames) & np.isfinite(s).all(axis=1)
    if good.sum() < 2:
        raise DataError("fewer than two frames with finite offsets", field="shifts")
    centre = np.median(s[good], axis=0)
    disp = np.hypot(*(s - centre).T)
    disp[~good] = np.nan
    d = np.diff(s, axis=0)[good[:-1] & good[1:]]
    jitter = 1.4826 * np.median(np.abs(d), axis=0) / np.sqrt(2.0) if len(d) else np.full(2, np.nan)
    starts, stops = _runs(np.nan_to_num(disp, nan=0.0) > p.motion_burst_threshold_px)
    if len(starts) > 1:
        gap = max(0, int(round(p.motion_burst_merge_s * fr)))
        keep = np.concatenate([[True], (starts[1:] - stops[:-1]) > gap])
        idx = np.flatnonzero(keep)
        starts, stops = starts[idx], np.concatenate([stops[idx[1:] - 1], stops[-1:]])
    minutes = good.sum() / fr / 60.0
    peaks = [np.nanmax(disp[a:b]) for a, b in zip(starts, stops)]
    return {
        "motion_sd_y_px": float(np.std(s[good, 0])),
        "motion_sd_x_px": float(np.std(s[good, 1])),
        "motion_max_px": float(np.nanmax(disp)),
        "motion_jitter_px": float(np.hypot(*jitter)),
        "motion_bursts_per_min": float(len(starts) / minutes),
        "motion_burst_duration_s": float(np.median(stops - starts) / fr) if len(starts) else np.nan,
        "motion_burst_peak_px": float(np.median(peaks)) if peaks else np.nan,
    }


def roi_shape_statistics(footprints) -> pd.DataFrame:
    """Area and eccentricity of ROI pixel masks.

    Parameters
    ----------
    footprints : sequence of array (k, 3)
        ``[y, x, weight]`` per pixel of each ROI (``Imaging.footprints``); pixels with weight
        <= 0 are not part of the ROI.

    Returns
    -------
    DataFrame
        One row per ROI (index ``roi``): ``area_px``, ``eccentricity`` (0 disc .. 1 line),
        ``major_axis_px`` and ``minor_axis_px`` (4 sqrt of the covariance eigenvalues, the
        axes of the ellipse with the same second moments).
    """
    rows = []
    for k, fp in enumerate(footprints):
        a = np.asarray(fp, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] < 2:
            raise DataError(
                f"ROI {k}: expected a (k, 3) [y, x, weight] array, got {a.shape}",
                field="footprints",
            )
        if a.shape[1] > 2:
            a = a[a[:, 2] > 0]
        if len(a) == 0:
            rows.append((0, np.nan, np.nan, np.nan))
            continue
        yx = a[:, :2]
        if len(yx) < 2:
            rows.append((len(yx), 0.0, 0.0, 0.0))
            continue
        ev = np.sort(np.linalg.eigvalsh(np.cov(yx.T, bias=True)))[::-1]
        ev = np.maximum(ev, 0.0)
        ecc = float(np.sqrt(1.0 - ev[1] / ev[0])) if ev[0] > 0 else 0.0
        rows.append((len(yx), ecc, 4 * np.sqrt(ev[0]), 4 * np.sqrt(ev[1])))
    table = pd.DataFrame(
        rows, columns=["area_px", "eccentricity", "major_axis_px", "minor_axis_px"]
    )
    table.index.name = "roi"
    return table


def movie_statistics(
    movie,
    frame_rate: float,
    shifts=None,
    bad_frames=None,
    exclude=None,
    params: RealismParams | None = None,
) -> dict[str, float]:
    """Photon budget, brightness and (with offsets) motion statistics of a raw movie.

    Parameters
    ----------
    movie : array (n_frames, height, width)
        Raw, unregistered frames.
    frame_rate : float (Hz)
    shifts : array (n_frames, 2), optional
        Registration offsets (dy, dx) px; adds the motion statistics.
    bad_frames : array (n_frames,) bool, optional
    exclude : array (height, width) bool, optional
        Pixels kept out of the photon-transfer fit (the ROIs; see :func:`photon_transfer`).
    params : RealismParams, optional

    Returns
    -------
    dict
        ``photons_per_pixel_frame``, ``gain``, ``zero_level``, the keys of
        :func:`brightness_statistics` and, with ``shifts``, of :func:`motion_statistics`.
    """
    ptc = photon_transfer(movie, bad_frames, exclude, params)
    out = {
        "photons_per_pixel_frame": ptc.photons_per_pixel_frame,
        "gain": ptc.gain,
        "zero_level": ptc.zero_level,
    }
    out.update(brightness_statistics(ptc.photon_image))
    if shifts is not None:
        out.update(motion_statistics(shifts, frame_rate, bad_frames, params))
    return out


__all__ = [
    "PhotonTransfer",
    "brightness_statistics",
    "motion_statistics",
    "movie_statistics",
    "photon_transfer",
    "pixel_mean_variance",
    "roi_shape_statistics",
]
