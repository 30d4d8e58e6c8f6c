"""How realistic is a recording? Statistics that compare real and simulated two-photon data.

Pure functions (no file I/O):

- :func:`trace_statistics` (F, Fneu -> one row per ROI: noise SD, skewness, fraction of time
  active, events per minute, event peak, Fneu/F, F median) and :func:`dff_statistics`;
- :func:`summarize` (median [10th-90th percentile] over ROIs);
- :func:`movie_statistics` (photons per pixel per frame by photon transfer, brightness,
  motion from registration offsets), :func:`photon_transfer`, :func:`motion_statistics`,
  :func:`roi_shape_statistics` (area, eccentricity).

Definitions are in the docstrings of :mod:`.traces` and :mod:`.movie`; parameters in
:class:`RealismParams`. :mod:`.compare` measures recordings and puts them side by side,
:mod:`.figure` draws the comparison, :mod:`.fit` calibrates the simulator's measurement
parameters to a recording, and :mod:`.load` (the only module touching disk) reads TIFF movies,
suite2p folders, NWB files and datasets for ``thalamocortex realism``.
"""

from thalamocortex.realism.movie import (
    PhotonTransfer,
    brightness_statistics,
    motion_statistics,
    movie_statistics,
    photon_transfer,
    pixel_mean_variance,
    roi_shape_statistics,
)
from thalamocortex.realism.params import RealismParams
from thalamocortex.realism.summary import format_summary, summarize
from thalamocortex.realism.traces import (
    TRACE_COLUMNS,
    dff_statistics,
    robust_noise_sd,
    trace_statistics,
)

__all__ = [
    "TRACE_COLUMNS",
    "PhotonTransfer",
    "RealismParams",
    "brightness_statistics",
    "dff_statistics",
    "format_summary",
    "motion_statistics",
    "movie_statistics",
    "photon_transfer",
    "pixel_mean_variance",
    "robust_noise_sd",
    "roi_shape_statistics",
    "summarize",
    "trace_statistics",
]
