"""Measure recordings and put them side by side (pure: data objects in, tables out).

A :class:`RecordingData` holds what one imaging plane offers (traces, ROI masks, optionally the
raw movie and registration offsets); :mod:`thalamocortex.realism.load` builds them from files.
:func:`measure` applies the statistics of :mod:`.traces` and :mod:`.movie` to each plane and
groups the result by ROI type; :func:`side_by_side` makes the comparison table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from thalamocortex.realism.movie import (
    brightness_statistics,
    motion_statistics,
    photon_transfer,
    roi_shape_statistics,
)
from thalamocortex.realism.params import RealismParams
from thalamocortex.realism.summary import summarize
from thalamocortex.realism.traces import TRACE_COLUMNS, trace_statistics

#: per-ROI statistics summarised as median [10th-90th percentile] in the side-by-side table
ROI_STATISTICS = (
    "noise_sd",
    "skewness",
    "fraction_active",
    "events_per_min",
    "event_peak",
    "fneu_over_f",
    "area_px",
    "eccentricity",
)
#: per-plane movie statistics (median over planes in the table)
MOVIE_STATISTICS = (
    "photons_per_pixel_frame",
    "brightness_median",
    "brightness_contrast",
    "motion_sd_y_px",
    "motion_sd_x_px",
    "motion_max_px",
    "motion_jitter_px",
    "motion_bursts_per_min",
)


@dataclass
class RecordingData:
    """One imaging plane as the realism statistics need it.

    Attributes
    ----------
    label : str
        Name of the plane (file or session).
    roi_type : str
        ``soma`` or ``bouton`` (statistics are grouped by it).
    frame_rate : float (Hz)
    F, Fneu : array (n_frames, n_rois)
        Raw ROI and neuropil fluorescence (Fneu may be None).
    footprints : list of (k, 3) arrays [y, x, weight], optional
    image_shape : (height, width), optional
    mean_image : array (height, width), optional
    blank_mask : array (n_frames,) bool, optional
        Trace frames to ignore (artefacts).
    movie : array (n_movie_frames, height, width), optional
        Raw, unregistered frames (photon transfer, brightness).
    bad_frames : array (n_movie_frames,) bool, optional
    shifts : array (n_movie_frames, 2), optional
        Registration offsets (dy, dx) px.
    """

    label: str
    roi_type: str
    frame_rate: float
    F: np.ndarray
    Fneu: np.ndarray | None = None
    footprints: list | None = None
    image_shape: tuple[int, int] | None = None
    mean_image: np.ndarray | None = None
    blank_mask: np.ndarray | None = None
    movie: np.ndarray | None = field(default=None, repr=False)
    bad_frames: np.ndarray | None = None
    shifts: np.ndarray | None = None

    def roi_mask(self) -> np.ndarray | None:
        """Pixels covered by any ROI (height, width) bool, or None without footprints."""
        shape = self.image_shape
        if shape is None and self.movie is not None:
            shape = self.movie.shape[1:]
        if self.footprints is None or shape is None:
            return None
        mask = np.zeros(shape, bool)
        for fp in self.footprints:
            a = np.asarray(fp)
            if len(a) == 0:
                continue
            y, x = a[:, 0].astype(int), a[:, 1].astype(int)
            ok = (y >= 0) & (y < shape[0]) & (x >= 0) & (x < shape[1])
            mask[y[ok], x[ok]] = True
        return mask


@dataclass
class Measurement:
    """The statistics of one or more planes of one ROI type.

    Attributes
    ----------
    label : str
        ``<recording label> <roi_type>`` as shown in the table.
    roi_type : str
    rois : DataFrame
        One row per ROI: ``plane`` and the columns of :func:`trace_statistics` and
        :func:`roi_shape_statistics`.
    planes : DataFrame
        One row per plane: ``plane``, ``n_rois``, ``frame_rate`` and the movie statistics
        (NaN where the plane has no raw movie or offsets).
    dff : dict
        Plane label -> dF/F (n_frames, n_rois) float32 used for the statistics (figure).
    images : dict
        Plane label -> mean image in photons per pixel per frame (or the file's mean image).
    shifts : dict
        Plane label -> registration offsets (n, 2).
    """

    label: str
    roi_type: str
    rois: pd.DataFrame
    planes: pd.DataFrame
    dff: dict = field(default_factory=dict, repr=False)
    images: dict = field(default_factory=dict, repr=False)
    shifts: dict = field(default_factory=dict, repr=False)
    frame_rates: dict = field(default_factory=dict, repr=False)


def measure_plane(rec: RecordingData, params: RealismParams | None = None):
    """Statistics of one plane.

    Returns
    -------
    rois : DataFrame
        Per ROI (trace statistics and shape, ``plane`` column).
    plane : dict
        Movie statistics (NaN where not available), ``n_rois``, ``frame_rate``.
    image : array or None
        Mean image (photons when the movie was measured).
    dff : array (n_frames, n_rois) float32
        The dF/F the statistics were measured on.
    """
    p = params or RealismParams()
    rois, dff = trace_statistics(
        rec.F,
        rec.Fneu,
        rec.frame_rate,
        blank_mask=rec.blank_mask,
        params=p,
        return_dff=True,
    )
    if rec.footprints is not None and len(rec.footprints) == rois.shape[0]:
        shapes = roi_shape_statistics(rec.footprints)
        rois = pd.concat([rois, shapes[["area_px", "eccentricity"]]], axis=1)
    else:
        rois["area_px"] = np.nan
        rois["eccentricity"] = np.nan
    rois.insert(0, "plane", rec.label)
    plane = {k: np.nan for k in MOVIE_STATISTICS}
    plane.update(
        {
            "plane": rec.label,
            "n_rois": int(rois.shape[0]),
            "frame_rate": float(rec.frame_rate),
            "gain": np.nan,
            "zero_level": np.nan,
        }
    )
    image = None if rec.mean_image is None else np.asarray(rec.mean_image, np.float64)
    if rec.movie is not None:
        ptc = photon_transfer(rec.movie, rec.bad_frames, rec.roi_mask(), p)
        plane.update(
            photons_per_pixel_frame=ptc.photons_per_pixel_frame,
            gain=ptc.gain,
            zero_level=ptc.zero_level,
            **brightness_statistics(ptc.photon_image),
        )
        image = ptc.photon_image
    if rec.shifts is not None:
        bad = rec.bad_frames
        if bad is not None and len(bad) != len(rec.shifts):
            bad = None
        plane.update(motion_statistics(rec.shifts, rec.frame_rate, bad, p))
    return rois, plane, image, dff


def measure(
    recordings: list[RecordingData], label: str, params: RealismParams | None = None
) -> list[Measurement]:
    """Statistics of a recording's planes, one :class:`Measurement` per ROI type.

    Parameters
    ----------
    recordings : list of RecordingData
        The planes (a movie, a suite2p folder, an NWB file, or sessions of a dataset).
    label : str
        Name of the recording in the table.
    params : RealismParams, optional
    """
    p = params or RealismParams()
    by_type: dict[str, list] = {}
    for rec in recordings:
        rois, plane, image, dff = measure_plane(rec, p)
        entry = by_type.setdefault(rec.roi_type, [[], [], {}, {}, {}, {}])
        entry[0].append(rois)
        entry[1].append(plane)
        entry[2][rec.label] = dff
        if image is not None:
            entry[3][rec.label] = image
        if rec.shifts is not None:
            entry[4][rec.label] = np.asarray(rec.shifts)
        entry[5][rec.label] = float(rec.frame_rate)
    out = []
    for roi_type, (rois, planes, dffs, images, shifts, rates) in by_type.items():
        out.append(
            Measurement(
                label=f"{label} {roi_type}",
                roi_type=roi_type,
                rois=pd.concat(rois, ignore_index=True),
                planes=pd.DataFrame(planes),
                dff=dffs,
                images=images,
                shifts=shifts,
                frame_rates=rates,
            )
        )
    return out


def summary_table(m: Measurement) -> pd.DataFrame:
    """Numeric summary of one measurement: index statistic; median, p10, p90, n.

    ROI statistics are summarised over ROIs (pooled over planes), movie statistics over planes.
    """
    rois = summarize(m.rois, [c for c in ROI_STATISTICS if c in m.rois.columns])
    planes = summarize(m.planes, [c for c in MOVIE_STATISTICS if c in m.planes.columns])
    return pd.concat([rois, planes])


def side_by_side(measurements: list[Measurement], digits: int = 2):
    """The comparison table.

    Returns
    -------
    text : DataFrame
        Index statistic, one column per measurement: ``median [p10-p90]`` strings (movie
        statistics: median over planes, with the range when there are several).
    numbers : DataFrame
        Long format: measurement, roi_type, statistic, median, p10, p90, n.
    """
    texts, longs = {}, []
    for m in measurements:
        s = summary_table(m)
        col = {}
        for stat, r in s.iterrows():
            if not np.isfinite(r["median"]):
                col[stat] = "n/a"
            elif r["n"] > 1:
                col[stat] = (
                    f"{r['median']:.{digits}f} [{r['p10']:.{digits}f}-{r['p90']:.{digits}f}]"
                )
            else:
                col[stat] = f"{r['median']:.{digits}f}"
        col["n_rois"] = str(int(m.rois.shape[0]))
        col["n_planes"] = str(int(m.planes.shape[0]))
        texts[m.label] = col
        long = s.reset_index()
        long.insert(0, "roi_type", m.roi_type)
        long.insert(0, "measurement", m.label)
        longs.append(long)
    text = pd.DataFrame(texts)
    text.index.name = "statistic"
    return text, pd.concat(longs, ignore_index=True)


STATISTIC_NAMES = {
    **TRACE_COLUMNS,
    "area_px": "ROI area (px)",
    "eccentricity": "ROI eccentricity (0 disc .. 1 line)",
    "photons_per_pixel_frame": "photons per pixel per frame (photon transfer)",
    "brightness_median": "median pixel brightness (photons/px/frame)",
    "brightness_contrast": "99th percentile / median pixel brightness",
    "motion_sd_y_px": "motion SD, y (px)",
    "motion_sd_x_px": "motion SD, x (px)",
    "motion_max_px": "largest displacement (px)",
    "motion_jitter_px": "frame-to-frame jitter (px)",
    "motion_bursts_per_min": "motion bursts per minute (> 2 px)",
}
