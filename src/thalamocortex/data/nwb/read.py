"""Reading NWB files (ours and other tools') into a lazy
:class:`~thalamocortex.data.model.Session` (:func:`read_session`)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.data.model import (
    EXPERIMENT_KINDS,
    KIND_ROI_TYPE,
    Imaging,
    Lever,
    RawMovie,
    Session,
    SessionInfo,
    Stimulation,
)
from thalamocortex.data.nwb.names import (
    _INFO_COLUMNS,
    NWBNames,
    _as_array,
    _regular_rate,
)

__all__ = ["read_session"]


class _LazyTransformed:
    """Lazy view of a dataset: optional column of a 2-D array, then ``x * scale + offset``.

    Used when a foreign file stores a lever as a column of a 2-D series or with a
    ``conversion``/``offset`` other than 1/0, so the Session still sees physical units lazily.
    """

    def __init__(self, ds: Any, column: int | None, scale: float, offset: float):
        self.ds, self.column, self.scale, self.offset = ds, column, float(scale), float(offset)
        self.shape = tuple(ds.shape[:1]) if column is not None else tuple(ds.shape)
        self.dtype = np.dtype(np.float64)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if key is Ellipsis or (isinstance(key, tuple) and key == ()):
            key = slice(None)
        raw = self.ds[key, self.column] if self.column is not None else self.ds[key]
        return np.asarray(raw, dtype=np.float64) * self.scale + self.offset


def _physical(data: Any, ts: Any, column: int | None = None) -> Any:
    conv = float(getattr(ts, "conversion", 1.0) or 1.0)
    off = float(getattr(ts, "offset", 0.0) or 0.0)
    if column is None and conv == 1.0 and off == 0.0:
        return data
    return _LazyTransformed(data, column, conv, off)


#: Lever units the reader converts, to the unit of their quantity: positions in mm, voltages
#: in V, angles in degrees. (name -> (unit, factor)); SI prefixes and spelled-out names.
_LEVER_UNITS: dict[str, tuple[str, float]] = {
    **{u: ("mm", 1000.0) for u in ("m", "meter", "meters", "metre", "metres")},
    **{u: ("mm", 10.0) for u in ("cm", "centimeter", "centimeters", "centimetre", "centimetres")},
    **{u: ("mm", 1.0) for u in ("mm", "millimeter", "millimeters", "millimetre", "millimetres")},
    **{
        u: ("mm", 1e-3)
        for u in ("um", "µm", "μm", "micrometer", "micrometers", "micron", "microns")
    },
    **{u: ("V", 1.0) for u in ("v", "volt", "volts")},
    **{u: ("V", 1e-3) for u in ("mv", "millivolt", "millivolts")},
    **{u: ("V", 1e-6) for u in ("uv", "µv", "μv", "microvolt", "microvolts")},
    **{u: ("deg", 1.0) for u in ("deg", "degree", "degrees", "°")},
    **{u: ("deg", 180.0 / np.pi) for u in ("rad", "radian", "radians")},
}


def lever_unit(unit: str | None, fallback: str | None = None) -> tuple[str, float] | None:
    """``(unit, factor)`` converting a lever in ``unit`` to mm, V or degrees, or None when the
    unit is not one of :data:`_LEVER_UNITS` (then ``fallback``, when given, is tried)."""
    for u in (unit, fallback):
        if u is None:
            continue
        key = str(u).strip()
        for k in (key, key.lower()):
            if k in _LEVER_UNITS:
                return _LEVER_UNITS[k]
    return None


def check_lever_unit(unit: str | None, names: NWBNames, path: Path, series: str) -> tuple:
    """:func:`lever_unit` or a DataError naming the series and the units understood."""
    got = lever_unit(unit, names.lever_unit_fallback)
    if got is None:
        raise DataError(
            f"lever series {series!r} is in unit {unit!r}, which is not a length, voltage or "
            f"angle unit the reader converts (mm, cm, m, um, V, mV, deg, rad...); sessions in "
            "different units cannot be pooled, so set data.lever_unit_fallback to the lever's "
            "real unit",
            path,
            field="lever.unit",
        )
    return got


def _check_file(path: Path) -> None:
    if not path.exists():
        if path.is_symlink():
            raise DataError(
                f"broken symbolic link to {os.readlink(path)!r} (a git-annex/DataLad file whose "
                "content is not present? `datalad get` / `git annex get` it)",
                path,
            )
        raise DataError("file not found", path)
    if not path.is_file():
        raise DataError("not a file (expected an .nwb file)", path)
    if path.stat().st_size == 0 or not h5py.is_hdf5(path):
        raise DataError("not an HDF5 file, so not an NWB file (NWB files are HDF5)", path)
    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("nwb_version")
            groups = sorted(f.keys())
    except OSError as err:
        raise DataError(
            f"cannot open as HDF5, the file is truncated or corrupt ({err})", path
        ) from None
    if version is None:
        raise DataError(
            f"HDF5 file without the 'nwb_version' attribute, so not an NWB file; "
            f"top-level groups: {groups}",
            path,
        )


def _children(obj: Any) -> list[Any]:
    return list(getattr(obj, "children", []) or [])


def _contents(nwb: Any) -> str:
    def names(container: Any) -> list[str]:
        out = []
        for name, obj in container.items():
            kids = [c.name for c in _children(obj) if hasattr(c, "name")]
            out.append(f"{name}[{', '.join(kids)}]" if kids else name)
        return out

    acq = names(nwb.acquisition)
    proc = {m: names(mod.data_interfaces) for m, mod in nwb.processing.items()}
    return f"acquisition: {acq}, processing: {proc}"


def _find_series(container: Any, name: str) -> Any:
    """A TimeSeries named ``name`` in a dict of interfaces, directly or one level down."""
    from pynwb import TimeSeries

    obj = container.get(name)
    if isinstance(obj, TimeSeries):
        return obj
    for obj in container.values():
        for kid in _children(obj):
            if isinstance(kid, TimeSeries) and kid.name == name:
                return kid
    return None


def _series_times(ts: Any) -> tuple[float | None, float, Any]:
    """(rate or None, t0, timestamps dataset or None)."""
    if ts.timestamps is not None:
        stamps = ts.timestamps
        return None, float(stamps[0]) if len(stamps) else 0.0, stamps
    return float(ts.rate), float(ts.starting_time or 0.0), None


def _read_lever(nwb: Any, path: Path, names: NWBNames, required: bool = True) -> Lever | None:
    mod = nwb.processing.get(names.behavior_module)
    places = [mod.data_interfaces] if mod is not None else []
    places.append(nwb.acquisition)
    ts = None
    for name in names.lever_series:
        for place in places:
            ts = _find_series(place, name)
            if ts is not None:
                break
        if ts is not None:
            break
    if ts is None:
        if not (required and names.require_lever):
            return None
        raise DataError(
            f"no lever series: looked for {names.lever_series} in "
            f"processing[{names.behavior_module!r}] and acquisition; the file contains: "
            f"{_contents(nwb)}",
            path,
            field="lever",
        )
    data = ts.data
    column = None
    if len(data.shape) == 2:
        if names.lever_column >= data.shape[1]:
            raise DataError(
                f"lever series {ts.name!r} has {data.shape[1]} columns; lever_column="
                f"{names.lever_column} is out of range",
                path,
                field="lever",
            )
        column = names.lever_column
    elif len(data.shape) != 1:
        raise DataError(f"lever series {ts.name!r} has shape {data.shape}", path, field="lever")
    rate, t0, stamps = _series_times(ts)
    if stamps is not None:
        t = np.asarray(stamps[()], dtype=np.float64)
        rate = _regular_rate(t, tol=0.25 * np.median(np.diff(t)) if len(t) > 1 else 0.0)
        if rate is None:
            raise DataError(
                f"lever series {ts.name!r} has irregular timestamps; the Lever model needs a "
                f"regular sampling rate (resample it before writing)",
                path,
                field="lever",
            )
    unit, factor = check_lever_unit(ts.unit, names, path, ts.name)
    conv = float(getattr(ts, "conversion", 1.0) or 1.0) * factor
    off = float(getattr(ts, "offset", 0.0) or 0.0) * factor
    lever_data = (
        data
        if column is None and conv == 1.0 and off == 0.0
        else _LazyTransformed(data, column, conv, off)
    )
    return Lever(data=lever_data, rate=rate, units=unit, t0=t0)


def _decode(arr: Any) -> Any:
    arr = np.asarray(arr)
    if arr.dtype.kind in "OS" and len(arr) and isinstance(arr.flat[0], bytes):
        return np.array([v.decode() for v in arr], dtype=object)
    return arr


def _scalar_columns(table: Any, skip: set[str]) -> dict[str, np.ndarray]:
    """1-D, non-ragged, non-reference columns of a DynamicTable as numpy arrays."""
    from hdmf.common import DynamicTableRegion, VectorIndex

    out = {}
    for name in table.colnames:
        if name in skip:
            continue
        col = table[name]
        if isinstance(col, VectorIndex | DynamicTableRegion) or not hasattr(col, "data"):
            continue
        data = col.data
        if hasattr(data, "shape") and len(data.shape) != 1:
            continue
        arr = _decode(data[()] if hasattr(data, "shape") else data)
        if arr.dtype.names is not None:  # compound columns are not scalar
            continue
        out[name] = arr
    return out


def _pick(columns: dict[str, Any], candidates: list[str]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _read_trials(nwb: Any, path: Path, names: NWBNames, task: bool = True) -> pd.DataFrame | None:
    """The trials table with its columns renamed to :data:`~thalamocortex.data.model.
    TRIAL_COLUMNS`. In a lever task (``task``) a table without a recognised reward column is
    an error: success would silently be 0 and every reaction time NaN."""
    if nwb.trials is None:
        return None
    cols = _scalar_columns(nwb.trials, set())
    out: dict[str, Any] = {
        "start_time": cols.pop("start_time").astype(np.float64),
        "stop_time": cols.pop("stop_time").astype(np.float64),
    }
    for target, candidates in names.trial_columns.items():
        found = _pick(cols, candidates)
        if found is None:
            if target == "cue_time":
                raise DataError(
                    f"trials table has no cue time column: looked for {candidates}; the table "
                    f"has {list(nwb.trials.colnames)}",
                    path,
                    field="trials.cue_time",
                )
            if target == "reward_time" and task:
                raise DataError(
                    f"trials table has no reward column: looked for {candidates}; the table has "
                    f"{list(nwb.trials.colnames)}. Name yours in data.trial_columns.reward_time "
                    "(times in s, NaN for unrewarded trials)",
                    path,
                    field="trials.reward_time",
                )
            continue
        out[target] = cols.pop(found)
    out.update(cols)
    df = pd.DataFrame(out)
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].astype(str)
    return df


#: The study's experiments: lever tasks whose trials must say when the reward came.
_LEVER_TASKS: tuple[str, ...] = ("axon_imaging", "all_optical", "inactivation")


def _read_info(nwb: Any, path: Path, names: NWBNames, has_imaging: bool, has_stim: bool) -> dict:
    mod_name, _, table_name = names.metadata_table.partition("/")
    mod = nwb.processing.get(mod_name)
    table = mod.data_interfaces.get(table_name) if mod is not None else None
    start = nwb.session_start_time.isoformat() if nwb.session_start_time else None
    if table is not None:
        cols = _scalar_columns(table, set())
        row = {k: (v[0].item() if hasattr(v[0], "item") else v[0]) for k, v in cols.items()}
        shape = (int(row.pop("image_height", -1)), int(row.pop("image_width", -1)))
        if "session_description" in row:
            row["description"] = row.pop("session_description")
        info = {k: row[k] for k in (*_INFO_COLUMNS, "description") if k in row}
        info["image_shape"] = shape if min(shape) > 0 else None
    else:
        info = {"image_shape": None}
        mouse = nwb.subject.subject_id if nwb.subject is not None else None
        m = re.match(r"^sub-(?P<mouse>[^_]+)_ses-(?P<session>\d+)", path.name)
        sid = re.search(r"ses-(\d+)", nwb.session_id or "") if nwb.session_id else None
        if mouse is None and m is not None:
            mouse = m["mouse"]
        if mouse is None:
            raise DataError(
                "no subject: the file has no subject.subject_id and its name is not "
                "sub-<mouse>_ses-<n>.nwb",
                path,
                field="subject",
            )
        if sid is not None:
            session = int(sid.group(1))
        elif m is not None:
            session = int(m["session"])
        elif nwb.session_id and nwb.session_id.isdigit():
            session = int(nwb.session_id)
        else:
            raise DataError(
                f"no session number: session_id {nwb.session_id!r} has no 'ses-<n>' and the "
                f"file name is not sub-<mouse>_ses-<n>.nwb",
                path,
                field="session_id",
            )
        experiment = names.default_experiment
        if experiment is None:
            raw = [] if nwb.keywords is None else _as_array(nwb.keywords).ravel().tolist()
            keywords = [k.decode() if isinstance(k, bytes) else str(k) for k in raw]
            experiment = next((k for k in keywords if k in EXPERIMENT_KINDS), None)
        if experiment is None:
            # stimulation says which experiment; without it nothing says whether a session is
            # the study's axon imaging: a plain imaging session (its ROI type then has to be
            # declared, see SessionInfo.declared_roi_type)
            experiment = (
                "all_optical"
                if has_imaging and has_stim
                else "inactivation"
                if has_stim
                else "imaging"
            )
        info.update(
            mouse=str(mouse).replace("_", "-"),
            session=session,
            experiment=experiment,
            region=None,  # from the ROI table's region column, else names.default_region
            indicator=names.default_indicator,
            description=nwb.session_description or "",
        )
        planes = list(nwb.imaging_planes.values())
        if planes and planes[0].indicator:
            info["indicator"] = planes[0].indicator
    if start is not None:
        info["session_start_time"] = start
    return info


def _read_imaging(nwb: Any, path: Path, names: NWBNames, info: dict) -> Imaging | None:
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation

    mod = nwb.processing.get(names.ophys_module)
    if mod is None:
        return None
    interfaces = mod.data_interfaces
    segs = [o for o in interfaces.values() if isinstance(o, ImageSegmentation)]
    planes = [ps for s in segs for ps in s.plane_segmentations.values()]
    fluo = sorted(
        (o for o in interfaces.values() if isinstance(o, Fluorescence)),
        key=lambda o: (o.name != "Fluorescence", o.name == "Deconvolved"),
    )
    dffs = [o for o in interfaces.values() if isinstance(o, DfOverF)]
    if not planes and not fluo and not dffs:
        return None

    def find(kind: str, containers: list[Any], exclude: set[int]) -> Any:
        for name in names.response_series.get(kind, []):
            for c in containers:
                s = c.roi_response_series.get(name)
                if s is not None and id(s) not in exclude:
                    return s
        return None

    used: set[int] = set()
    found = {}
    for kind, containers in (
        ("F", [c for c in fluo if c.name != "Deconvolved"] or fluo),
        ("Fneu", fluo),
        ("events", sorted(fluo, key=lambda c: c.name != "Deconvolved")),
        ("dff", dffs),
    ):
        s = find(kind, containers, used)
        if s is not None:
            used.add(id(s))
        found[kind] = s
    if found["F"] is None:
        raise DataError(
            f"no raw fluorescence series: looked for {names.response_series.get('F', [])} in the "
            f"Fluorescence containers of processing[{names.ophys_module!r}]; the file contains: "
            f"{_contents(nwb)}",
            path,
            field="imaging.F",
        )
    F = found["F"]
    if len(F.data.shape) != 2:
        raise DataError(
            f"RoiResponseSeries {F.name!r} has shape {F.data.shape}; expected (frames, ROIs)",
            path,
            field="imaging.F",
        )
    n_frames, n_rois = F.data.shape
    ps = F.rois.table if F.rois is not None else (planes[0] if planes else None)
    rate, t0, stamps = _series_times(F)
    if stamps is not None and len(stamps) != n_frames:
        raise DataError(
            f"{len(stamps)} frame timestamps for {n_frames} frames of {F.name!r}",
            path,
            field=f"imaging.{F.name}.timestamps",
        )
    frame_times = stamps if stamps is not None else t0 + np.arange(n_frames) / rate

    # ROI table
    region_default = info.get("region") or names.default_region
    roi_type_default = (
        names.default_roi_type or info.get("roi_type") or KIND_ROI_TYPE.get(info.get("experiment"))
    )

    def roi_types(n: int) -> np.ndarray:
        # the ROIs' type when the ROI table has none: declared, or implied by the experiment
        # kind; a plain imaging session could hold somata or boutons, so it is not guessed
        if roi_type_default is None:
            raise DataError(
                f"the ROI type is not declared: the ROI table has no "
                f"{names.roi_columns.get('roi_type', [])} column, session_info has no roi_type and "
                f"experiment kind {info.get('experiment')!r} implies none; declare it "
                f"(data.default_roi_type: soma or bouton, or a roi_type column of the sessions "
                f"sheet given to convert)",
                path,
                field="roi_type",
            )
        return np.full(n, roi_type_default, dtype=object)

    footprints, image_shape = None, info.get("image_shape")
    if ps is not None:
        cols = _scalar_columns(ps, {"image_mask"})
        ids = np.asarray(ps.id.data[()])
        if F.rois is not None:  # the series' own ROI selection, in its order
            sel = np.asarray(F.rois.data[()], dtype=np.int64)
            cols = {k: v[sel] for k, v in cols.items()}
            ids = ids[sel]
        else:
            sel = np.arange(len(ids))
        rois: dict[str, Any] = {}
        for target, candidates in names.roi_columns.items():
            found_col = _pick(cols, candidates)
            if found_col is not None:
                rois[target] = cols.pop(found_col).astype(str)
        rois.setdefault("roi_name", np.array([f"roi{i:04d}" for i in ids], dtype=object))
        if "roi_type" not in rois:
            rois["roi_type"] = roi_types(len(ids))
        rois.setdefault("region", np.full(len(ids), region_default, dtype=object))
        rois.update(cols)
        roi_df = pd.DataFrame(rois)
        for c in roi_df.columns:
            if roi_df[c].dtype == object:
                roi_df[c] = roi_df[c].astype(str)
        footprints, shape_from_masks = _read_masks(ps, sel)
        image_shape = image_shape or shape_from_masks
    else:
        roi_df = pd.DataFrame(
            {
                "roi_name": [f"roi{i:04d}" for i in range(n_rois)],
                "roi_type": roi_types(n_rois),
                "region": region_default,
            }
        )
    if len(roi_df) != n_rois:
        raise DataError(
            f"ROI table has {len(roi_df)} rows but {F.name!r} has {n_rois} columns",
            path,
            field="imaging.rois",
        )
    mean_image = None
    summary = interfaces.get("SummaryImages")
    if summary is not None and "mean" in getattr(summary, "images", {}):
        mean_image = np.asarray(summary.images["mean"].data[()], dtype=np.float32)
        image_shape = image_shape or tuple(mean_image.shape[:2])
    traces = {}
    for kind in ("Fneu", "dff", "events"):
        s = found[kind]
        if s is not None and tuple(s.data.shape) != (n_frames, n_rois):
            raise DataError(
                f"{kind} series {s.name!r} has shape {s.data.shape}; expected "
                f"{(n_frames, n_rois)} like {F.name!r}",
                path,
                field=f"imaging.{kind}",
            )
        traces[kind] = None if s is None else _physical(s.data, s)
    try:
        return Imaging(
            rois=roi_df,
            F=_physical(F.data, F),
            frame_times=frame_times,
            footprints=footprints,
            image_shape=image_shape,
            mean_image=mean_image,
            **traces,
        )
    except ValueError as err:
        raise DataError(str(err), path, field="imaging") from None


def _read_masks(ps: Any, sel: np.ndarray) -> tuple[list | None, tuple | None]:
    """Footprints [y, x, weight] per selected ROI from pixel_mask (or image_mask)."""
    from hdmf.common import VectorIndex

    if "pixel_mask" in ps.colnames:
        vi = ps["pixel_mask"]
        if isinstance(vi, VectorIndex):
            ends = np.asarray(vi.data[()], dtype=np.int64)
            values = vi.target.data[()] if len(vi.target.data) else np.zeros(0)
            if len(values) == 0:
                return None, None
            values = np.asarray(values)
            if values.dtype.names is not None:
                x, y, w = (values[f].astype(np.float64) for f in values.dtype.names[:3])
            else:
                x, y, w = (values[:, i].astype(np.float64) for i in range(3))
            yxw = np.column_stack([y, x, w])
            starts = np.concatenate([[0], ends[:-1]])
            return [yxw[starts[i] : ends[i]] for i in sel], None
    if "image_mask" in ps.colnames:
        masks = ps["image_mask"].data
        out = []
        for i in sel:
            m = np.asarray(masks[int(i)])
            yy, xx = np.nonzero(m)
            out.append(np.column_stack([yy, xx, m[yy, xx]]).astype(np.float64))
        return out, tuple(masks.shape[1:3])
    return None, None


def _read_stimulation(nwb: Any, path: Path, names: NWBNames) -> Stimulation | None:
    from pynwb.ogen import OptogeneticSeries

    sites = list(nwb.ogen_sites.values())
    site = sites[0] if sites else None
    table = next((nwb.intervals[n] for n in names.pulse_tables if n in nwb.intervals), None)
    default_target = site.location if site is not None else "unknown"
    if table is not None:
        cols = _scalar_columns(table, set())
        start = cols.pop("start_time").astype(np.float64)
        stop = cols.pop("stop_time").astype(np.float64)
        pulses: dict[str, Any] = {"start_time": start, "duration": stop - start}
        p = _pick(cols, names.pulse_columns.get("power", []))
        pulses["power"] = (
            cols.pop(p).astype(np.float64) if p is not None else np.full(len(start), np.nan)
        )
        tcol = _pick(cols, names.pulse_columns.get("target", []))
        pulses["target"] = (
            cols.pop(tcol).astype(str)
            if tcol is not None
            else np.full(len(start), default_target, dtype=object)
        )
        pulses.update(cols)
        df = pd.DataFrame(pulses)
    else:
        series = [
            s
            for place in (nwb.stimulus, nwb.acquisition)
            for s in place.values()
            if isinstance(s, OptogeneticSeries)
        ]
        if not series:
            return None
        s = series[0]
        site = s.site
        df = _pulses_from_series(s, site.location if site is not None else "unknown")
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].astype(str)
    return Stimulation(
        pulses=df,
        wavelength_nm=float(site.excitation_lambda) if site is not None else float("nan"),
        site_description=site.description if site is not None else "",
        device=site.device.name if site is not None and site.device is not None else "",
    )


def _pulses_from_series(s: Any, target: str) -> pd.DataFrame:
    """Pulses (power > 0 bouts) of an OptogeneticSeries in W, for files without a pulse table."""
    v = np.asarray(s.data[()], dtype=np.float64) * float(s.conversion or 1.0)
    if v.ndim == 2:
        v = v.max(axis=1)
    rate, t0, stamps = _series_times(s)
    t = np.asarray(stamps[()], np.float64) if stamps is not None else t0 + np.arange(len(v)) / rate
    on = v > 0
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    # a bout ends at the first sample that is off (or, for sampled series, one period later)
    end_t = np.array([t[j] if j < len(t) else t[-1] + (1.0 / rate if rate else 0.0) for j in stops])
    power = np.array([v[a:b].max() * 1000.0 for a, b in zip(starts, stops)])
    return pd.DataFrame(
        {
            "start_time": t[starts],
            "duration": end_t - t[starts],
            "power": power,
            "target": [target] * len(starts),
        }
    )


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _inside(p: str, roots: tuple[str, ...]) -> bool:
    return any(os.path.commonpath([p, r]) == r for r in roots)


def check_external_files(
    files: list[str], base: Path, roots: tuple[str, ...], path: Path, field: str
) -> None:
    """Refuse external files that lie outside every root folder.

    Paths are normalised lexically (``..`` removed, symbolic links *not* followed): a dataset
    whose files are links into an annex (git-annex, DataLad) stays valid, while a reference
    such as ``../../../outside/x.tif`` or an absolute path elsewhere is refused.
    """
    for f in files:
        full = os.path.normpath(os.path.join(os.path.abspath(base), f))
        if not _inside(full, roots):
            raise DataError(
                f"external file {f!r} points to {full}, outside the dataset "
                f"({', '.join(roots)}); move it into the dataset or set "
                "data.allow_external_files_outside_dataset: true",
                path,
                field=field,
            )


def _read_movie(
    nwb: Any, path: Path, names: NWBNames, roots: tuple[str, ...] | None
) -> RawMovie | None:
    """The raw movie: a TwoPhotonSeries in acquisition (external files or internal frames)."""
    from pynwb.ophys import TwoPhotonSeries

    found = [o for o in nwb.acquisition.values() if isinstance(o, TwoPhotonSeries)]
    if not found:
        return None
    by_name = {o.name: o for o in found}
    ts = next((by_name[n] for n in names.movie_series if n in by_name), None)
    if ts is None:
        if len(found) > 1:
            raise DataError(
                f"several TwoPhotonSeries in acquisition ({sorted(by_name)}) and none is named "
                f"{names.movie_series}; set data.movie_series",
                path,
                field="acquisition",
            )
        ts = found[0]
    rate, t0, stamps = _series_times(ts)
    rate = np.nan if rate is None else rate
    where = f"acquisition/{ts.name}"
    if stamps is not None:
        rate = 1.0 / float(np.median(np.diff(stamps[:]))) if len(stamps) > 1 else np.nan
    if not (np.isfinite(rate) and rate > 0):
        rate = float(getattr(ts.imaging_plane, "imaging_rate", np.nan) or np.nan)
    if not (np.isfinite(rate) and rate > 0):
        raise DataError("no frame rate (rate, timestamps or imaging_rate)", path, field=where)
    external = getattr(ts, "external_file", None)
    common = {"rate": float(rate), "starting_time": float(t0 or 0.0), "frame_times": stamps}
    try:
        if external is not None and len(external) > 0:
            files = [f.decode() if isinstance(f, bytes) else str(f) for f in external[:]]
            if roots is not None and not names.allow_external_files_outside_dataset:
                check_external_files(files, path.parent, roots, path, f"{where}.external_file")
            start = ts.starting_frame
            return RawMovie(
                files=files,
                starting_frame=None if start is None else [int(v) for v in start],
                n_frames=len(stamps) if stamps is not None else _opt_int(ts.num_samples),
                base=path.parent,
                **common,
            )
        if ts.data is None or len(ts.data.shape) != 3:
            raise DataError(
                "expected internal frames (frames x height x width) or external_file",
                path,
                field=where,
            )
        # NWB ImageSeries data are [frame, x, y] (width before height)
        return RawMovie(data=ts.data, frame_axes="xy", **common)
    except ValueError as err:
        if isinstance(err, DataError):
            raise
        raise DataError(str(err), path, field=where) from None


#: SessionInfo fields a sessions sheet may set (see :func:`thalamocortex.data.layout.
#: read_sessions_sheet`).
SHEET_FIELDS: tuple[str, ...] = ("region", "experiment", "indicator", "opsin", "day", "roi_type")


def _session_from_nwbfile(
    nwb: Any,
    path: Path,
    names: NWBNames,
    roots: tuple[str, ...] | None,
    metadata: dict | None = None,
) -> Session:
    stim = _read_stimulation(nwb, path, names)
    movie = _read_movie(nwb, path, names, roots)
    mod = nwb.processing.get(names.ophys_module)
    has_imaging = (mod is not None and len(mod.data_interfaces) > 0) or movie is not None
    info = _read_info(nwb, path, names, has_imaging, stim is not None)
    for key, value in (metadata or {}).items():  # a sessions sheet: the experimenter's word
        if key in SHEET_FIELDS and value is not None:
            info[key] = value
    # the study's experiments are lever tasks, and so is any session with trials; a plain
    # imaging session without trials may have no behaviour
    task = info.get("experiment") != "imaging" or nwb.trials is not None
    lever = _read_lever(nwb, path, names, required=task)
    trials = _read_trials(nwb, path, names, task=info.get("experiment") in _LEVER_TASKS)
    imaging = _read_imaging(nwb, path, names, info)
    if info.get("region") is None:
        # other tools keep the source region in a column of the ROI table: one value there is
        # the session's region (several: the session's region stays the default)
        regions = set() if imaging is None else set(imaging.rois["region"].astype(str))
        regions.discard(names.default_region)
        info["region"] = regions.pop() if len(regions) == 1 else names.default_region
    image_shape = info.pop("image_shape", None)
    if imaging is not None and imaging.image_shape is None and image_shape is not None:
        imaging.image_shape = image_shape
    if not np.isfinite(info.get("frame_rate", np.nan)):
        # the ROI traces' frames, else the raw movie's (a file holding only raw frames)
        if imaging is not None:
            info["frame_rate"] = imaging.frame_rate
        elif movie is not None:
            info["frame_rate"] = movie.rate
    try:
        session_info = SessionInfo(**info)
    except (TypeError, ValueError) as err:
        raise DataError(f"invalid session metadata: {err}", path, field="session_info") from None
    try:
        return Session(
            info=session_info,
            lever=lever,
            trials=trials,
            imaging=imaging,
            stimulation=stim,
            source=str(path),
            movie=movie,
        )
    except ValueError as err:
        raise DataError(str(err), path) from None


def read_session(
    path: str | os.PathLike,
    names: NWBNames | None = None,
    lazy: bool = True,
    roots: tuple[str | os.PathLike, ...] | None = None,
    metadata: dict | None = None,
) -> Session:
    """Read one session from an NWB file.

    Parameters
    ----------
    path : path-like
        An NWB (HDF5) file, written by :func:`write_session` or by another tool.
    names : NWBNames, optional
        Where to look for each part in files written by other tools.
    lazy : bool
        True: traces and the lever stay ``h5py.Dataset`` objects and the file stays open until
        ``session.close()`` (use ``with read_session(p) as s:``); ``session.load()`` reads
        them. False: everything is read and the file is closed before returning.
    roots : tuple of path-like, optional
        Folders that external files (a raw movie's ``external_file``) must lie in, unless
        ``names.allow_external_files_outside_dataset``; a reference outside them (e.g.
        ``../../../elsewhere/x.tif``) is a DataError. Discovery and the pipeline's session
        opener always pass the dataset (and results) folder; None = no check (a file read
        on its own, such as a preprocess output referencing the dataset's movies). Paths are
        compared after lexical normalisation; symbolic links are not followed, so the link's
        own location counts (git-annex/DataLad datasets).
    metadata : dict, optional
        Session metadata that take precedence over the file's (:data:`SHEET_FIELDS`: region,
        experiment, indicator, opsin, day, roi_type), e.g. a row of a sessions sheet.

    Returns
    -------
    Session

    Raises
    ------
    DataError
        Missing file, not HDF5/NWB, truncated or corrupt file, or a required part (the lever,
        the raw fluorescence of an imaging module, the trials' cue times) is missing; the
        message names the file, what was looked for and what the file contains.
    """
    from pynwb import NWBHDF5IO

    path = Path(os.path.abspath(path))  # absolute, symbolic links kept
    names = names or NWBNames()
    _check_file(path)
    root_t = None if roots is None else tuple(os.path.normpath(os.path.abspath(r)) for r in roots)
    try:
        io = NWBHDF5IO(str(path), "r")
    except Exception as err:
        raise DataError(f"cannot open as NWB ({type(err).__name__}: {err})", path) from None
    try:
        nwb = io.read()
        session = _session_from_nwbfile(nwb, path, names, root_t, metadata)
        if not lazy:
            session.load()
    except DataError:
        io.close()
        raise
    except Exception as err:
        io.close()
        raise DataError(
            f"cannot read as NWB, the file may be truncated or corrupt "
            f"({type(err).__name__}: {err})",
            path,
        ) from None
    if lazy:
        session._closer = io.close
    else:
        io.close()
    return session
