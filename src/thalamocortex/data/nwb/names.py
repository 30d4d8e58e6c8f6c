"""Names, parameters and shared conventions of the NWB layout (:mod:`thalamocortex.data.nwb`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import model_validator

from thalamocortex.config import ParamGroup, param

__all__ = ["NWBNames", "NWBWriteParams"]


class NWBNames(ParamGroup):
    """Where the reader looks for each part of a session in an NWB file.

    Every list is tried in order; the first name present wins. The defaults cover files written
    by :func:`write_session` and common conventions of other tools (neuroconv, suite2p's NWB
    export). Names given in a config *extend* the defaults (they are tried first, then the
    defaults), and a dict of lists extends per key, so a partial ``response_series: {F: [raw]}``
    keeps the defaults of Fneu, dff and events; ``replace_default_names: true`` replaces them.
    """

    replace_default_names: bool = param(
        False,
        "",
        "names given in the config replace the default lists instead of being tried before them",
    )

    lever_series: list[str] = param(
        ["lever", "Lever", "lever_position", "LeverPosition", "lever_trace", "LeverTrace"],
        "",
        "names of the lever TimeSeries, searched in processing[behavior_module] (directly or "
        "inside any container such as BehavioralTimeSeries/Position) and then in acquisition",
    )
    lever_column: int = param(
        0, "", "column of a 2-D lever series (e.g. a SpatialSeries) holding the lever", ge=0
    )
    require_lever: bool = param(True, "", "raise DataError when no lever series is found")
    behavior_module: str = param("behavior", "", "processing module holding behaviour")
    ophys_module: str = param("ophys", "", "processing module holding ROIs and traces")
    metadata_table: str = param(
        "misc/session_info", "", "'<module>/<table>' one-row table of SessionInfo fields"
    )
    trial_columns: dict[str, list[str]] = param(
        {
            "cue_time": ["cue_time", "cue", "cue_onset", "tone_time", "go_cue_time", "cue_times"],
            "reward_time": [
                "reward_time",
                "reward",
                "reward_times",
                "reward_start_time",
                "reward_onset",
                "reward_delivery_time",
                "rewarded_time",
                "water_time",
                "water_delivery_time",
                "water_onset",
                "water",
                "valve_time",
                "valve_open_time",
                "solenoid_time",
                "liquid_reward_time",
            ],
            "outcome": ["outcome", "result", "trial_outcome"],
            "light": ["light", "laser", "opto", "stim", "light_on"],
        },
        "",
        "trial column -> candidate column names in nwbfile.trials (cue_time is required)",
    )
    roi_columns: dict[str, list[str]] = param(
        {
            "roi_name": ["roi_name", "name", "roi_id", "cell_id"],
            "roi_type": ["roi_type", "type", "cell_type"],
            "region": ["region", "source_region", "brain_region", "location"],
        },
        "",
        "ROI column -> candidate PlaneSegmentation column names",
    )
    response_series: dict[str, list[str]] = param(
        {
            "F": ["F", "RoiResponseSeries", "Fluorescence", "fluorescence"],
            "Fneu": ["Fneu", "Neuropil", "neuropil"],
            "dff": ["dff", "DfOverF", "RoiResponseSeries", "dF_F"],
            "events": ["events", "Deconvolved", "deconvolved", "spikes"],
        },
        "",
        "trace -> candidate RoiResponseSeries names (F/Fneu/events in Fluorescence containers, "
        "dff in DfOverF containers, searched in processing[ophys_module])",
    )
    movie_series: list[str] = param(
        ["TwoPhotonSeries", "raw", "movie", "TwoPhotonSeriesRaw"],
        "",
        "names of the raw-movie TwoPhotonSeries in acquisition (the only TwoPhotonSeries there "
        "is used when none of these names exists)",
    )
    pulse_tables: list[str] = param(
        ["light_pulses", "optogenetic_stimulation", "OptogeneticStimulation", "laser_pulses"],
        "",
        "names of the TimeIntervals pulse table in nwbfile.intervals",
    )
    pulse_columns: dict[str, list[str]] = param(
        {
            "power": ["power", "power_mW", "laser_power", "intensity"],
            "target": ["target", "location", "site"],
        },
        "",
        "pulse column -> candidate column names in the pulse table (power in mW)",
    )
    default_roi_type: str | None = param(
        None,
        "",
        "roi_type when the ROI table has none; None = the session's declared roi_type, else "
        "'bouton' for axon_imaging and 'soma' for all_optical; other kinds are an error",
    )
    default_experiment: str | None = param(
        None,
        "",
        "experiment kind when the file has no session_info table; None = its keywords, else "
        "imaging + stimulation -> all_optical, stimulation only -> inactivation, else 'imaging' "
        "(a plain imaging session: its ROI type must be declared, never guessed)",
    )
    default_region: str = param(
        "unknown", "", "source region when neither session_info nor the ROI table gives one"
    )
    default_indicator: str = param("unknown", "", "indicator when the file names none")
    sessions_sheet: str | None = param(
        None,
        "",
        "TSV/CSV beside the sub-<mouse> folders (path relative to the dataset) whose columns "
        "mouse[, session] and any of region, experiment, indicator, opsin, day, roi_type "
        "override the files' metadata (e.g. each mouse's input region for files of other tools)",
    )
    lever_unit_fallback: str | None = param(
        None,
        "",
        "unit of the lever when the file's unit is missing or not recognised (e.g. 'a.u.'); "
        "None = such a file is refused. Recognised units are converted: positions to mm, "
        "voltages to V, angles to degrees, so sessions recorded in cm and mm pool correctly",
    )
    allow_external_files_outside_dataset: bool = param(
        False,
        "",
        "read raw-movie external_file paths that point outside the dataset folder (off: such "
        "a reference, e.g. '../../../elsewhere/x.tif', is refused with an error)",
    )

    @model_validator(mode="after")
    def _extend_defaults(self) -> NWBNames:
        """Given name lists are tried first, then the defaults (unless replace_default_names)."""
        if self.replace_default_names:
            return self
        for name in self.model_fields_set:
            default = type(self).model_fields[name].default
            value = getattr(self, name)
            if isinstance(default, list) and isinstance(value, list):
                merged = _merge(value, default)
            elif isinstance(default, dict) and isinstance(value, dict):
                merged = dict(value)
                for key, names in default.items():
                    merged[key] = _merge(list(value.get(key, [])), names)
            else:
                continue
            if merged != value:
                object.__setattr__(self, name, merged)  # no re-validation loop
        return self


def _merge(first: list, then: list) -> list:
    return list(dict.fromkeys([*first, *then]))


class NWBWriteParams(ParamGroup):
    """How :func:`write_session` writes a session (storage and fixed metadata)."""

    compression: str = param("gzip", "", "HDF5 compression filter of arrays (gzip is portable)")
    compression_level: int = param(4, "", "gzip level", ge=0, le=9)
    shuffle: bool = param(True, "", "HDF5 byte-shuffle filter before compression")
    chunk_kib: float = param(
        1024.0, "KiB", "target HDF5 chunk size; traces are chunked as whole frames x all ROIs", gt=0
    )
    frame_time_tolerance: float = param(
        1e-6,
        "s",
        "frame times within this of starting_time + i/rate are written as rate (else timestamps)",
        ge=0,
    )
    subject_age: str = param("P90D", "ISO 8601 duration", "subject age (unknown -> P90D)")
    subject_sex: str = param("U", "", "subject sex: M, F, U (unknown) or O")
    species: str = param("Mus musculus", "", "subject species (Latin binomial)")
    imaging_location: str = param(
        "MOp2/3", "", "Allen CCF term of the imaged area (ImagingPlane.location): M1 layer 2/3"
    )
    excitation_lambda: float = param(920.0, "nm", "two-photon excitation wavelength", gt=0)
    emission_lambda: float = param(510.0, "nm", "emission wavelength of the green channel", gt=0)
    microscope: str = param("two-photon microscope", "", "Device description of the microscope")


_INFO_COLUMNS = (
    "mouse",
    "session",
    "day",
    "experiment",
    "region",
    "indicator",
    "opsin",
    "frame_rate",
    "session_description",
    "image_height",
    "image_width",
    "roi_type",
)


def _as_array(x: Any, dtype: Any = None) -> np.ndarray:
    """Materialise an array-like (numpy, h5py.Dataset, lazy wrapper) as numpy."""
    if isinstance(x, np.ndarray):
        arr = x
    elif hasattr(x, "shape") and hasattr(x, "__getitem__"):
        arr = np.asarray(x[()])
    else:
        arr = np.asarray(x)
    return arr if dtype is None else arr.astype(dtype, copy=False)


def _regular_rate(times: np.ndarray, tol: float) -> float | None:
    """The rate if ``times`` are ``t0 + i / rate`` within ``tol`` seconds, else None."""
    n = len(times)
    if n < 2 or not np.all(np.isfinite(times)):
        return None
    rate = (n - 1) / (times[-1] - times[0]) if times[-1] > times[0] else None
    if rate is None or not np.isfinite(rate) or rate <= 0:
        return None
    ideal = times[0] + np.arange(n) / rate
    return float(rate) if np.max(np.abs(ideal - times)) <= tol else None
