"""Everything the encoding analysis computes for one session, from arrays and the data model.

:func:`encode_session` takes a :class:`~thalamocortex.data.model.Session`, its dF/F and the
movement bouts (from :func:`thalamocortex.behavior.detect_movements`, or any table with
``onset``/``offset`` columns) and returns tidy tables; it does no file I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError
from thalamocortex.data.model import Session, lever_to_frames
from thalamocortex.encoding.decoding import (
    decode_trajectory,
    lagged_trial_design,
    trial_pattern_similarity,
)
from thalamocortex.encoding.movement_related import classify_movement_related
from thalamocortex.encoding.params import EncodingParams
from thalamocortex.encoding.peri import (
    baseline_subtract,
    peri_event_tensor,
    timing_with_ci,
    trial_average,
    trial_reliability,
)


@dataclass
class SessionEncoding:
    """Tables of one session (every table carries ``mouse``, ``session``, ``region``)."""

    rois: pd.DataFrame  # one row per ROI: class, p-values, timing, reliability
    summary: dict  # one row of the region x session table
    peri: pd.DataFrame  # long: roi, align, time_s, dff (all / odd / even trials' averages)
    trials: pd.DataFrame  # per rewarded trial: onset, decoding r, pattern/lever similarity
    rasters: pd.DataFrame  # long: the top movement-related units' single-trial dF/F
    examples: pd.DataFrame  # long: lever and top units' dF/F over an example stretch


def rewarded_movement_onsets(trials: pd.DataFrame | None, movements: pd.DataFrame) -> pd.DataFrame:
    """Onset of each trial's rewarded movement: the bout containing the reward time.

    Trials without a reward time (misses) or whose reward falls outside every bout get NaN.
    A ``movement_onset`` column already in ``trials`` (e.g. from the behaviour stage) is used
    where present.

    Returns
    -------
    DataFrame with ``trial`` (row position), ``cue_time``, ``reward_time``, ``onset``.
    """
    if trials is None or len(trials) == 0:
        return pd.DataFrame(columns=["trial", "cue_time", "reward_time", "onset"])
    reward = (
        trials["reward_time"].to_numpy(np.float64)
        if "reward_time" in trials
        else np.full(len(trials), np.nan)
    )
    on = movements["onset"].to_numpy(np.float64)
    off = movements["offset"].to_numpy(np.float64)
    onset = np.full(len(trials), np.nan)
    if len(on):
        i = np.searchsorted(on, reward, side="right") - 1
        ok = np.isfinite(reward) & (i >= 0)
        ok[ok] &= reward[ok] <= off[i[ok]]
        onset[ok] = on[i[ok]]
    if "movement_onset" in trials:
        given = trials["movement_onset"].to_numpy(np.float64)
        onset = np.where(np.isfinite(given), given, onset)
    return pd.DataFrame(
        {
            "trial": np.arange(len(trials)),
            "cue_time": trials["cue_time"].to_numpy(np.float64),
            "reward_time": reward,
            "onset": onset,
        }
    )


def lever_similarity(lever_frames: np.ndarray, frame_times: np.ndarray, onsets, window_s):
    """Per trial, correlation of its lever trajectory with the mean of the other trials'.

    A within-session stand-in for the similarity to the mouse's learned template when the
    behaviour stage's per-trial template similarity is not available.
    """
    tens, _ = peri_event_tensor(lever_frames[:, None], frame_times, onsets, window_s)
    return trial_pattern_similarity(tens)


def exclude_light_periods(
    dff: np.ndarray, frame_times: np.ndarray, session: Session, after_s: float
) -> np.ndarray:
    """dF/F with the frames of every light pulse (onset to end + ``after_s``) set to NaN.

    Returns ``dff`` itself when the session has no pulses, else a copy.
    """
    stim = session.stimulation
    if stim is None or len(stim.pulses) == 0:
        return dff
    start = stim.pulses["start_time"].to_numpy(np.float64)
    stop = stim.stop_times + after_s
    t = np.asarray(frame_times, dtype=np.float64)
    # frames inside any [start, stop): count interval starts minus ends up to each frame
    inside = np.searchsorted(np.sort(start), t, side="right") - np.searchsorted(
        np.sort(stop), t, side="right"
    )
    out = np.array(dff, dtype=np.float32, copy=True)
    out[inside > 0] = np.nan
    return out


def encode_session(
    session: Session,
    dff: np.ndarray,
    movements: pd.DataFrame,
    params: EncodingParams | None = None,
    n_rois_matched: int = 0,
    seed: int = 0,
    template_similarity: np.ndarray | None = None,
    trial_onsets: pd.DataFrame | None = None,
    units: pd.DataFrame | None = None,
) -> SessionEncoding:
    """Movement encoding of one session.

    Parameters
    ----------
    session : Session
        Needs imaging (frame times, ROI table), lever and trials.
    dff : array (n_frames, n_units)
        dF/F (NaN on blanked frames) of the analysis units: the session's ROIs, or e.g. the
        somata and merged axons of :func:`thalamocortex.preprocess.traces.analysis_traces`.
    movements : DataFrame
        Movement bouts with ``onset``/``offset`` (s), all movements (cued and spontaneous).
    params : EncodingParams
    n_rois_matched : int
        ROIs per decoder (0 = skip decoding). Sessions with fewer ROIs are not decoded.
    seed : int
    template_similarity : array (n_trials,), optional
        Per-trial similarity of the lever trajectory to the learned template (behaviour
        stage), aligned with ``trial_onsets`` rows (or the session's trials); by default the
        within-session leave-one-out similarity is used.
    trial_onsets : DataFrame, optional
        ``trial``, ``cue_time``, ``onset`` (NaN = no rewarded movement), e.g. from
        :func:`thalamocortex.behavior.rewarded_movement_onsets`; by default derived from the
        session's trials (bout containing the reward time).
    units : DataFrame, optional
        ``roi_name`` and ``roi_type`` of each column of ``dff`` (default: the session's ROI
        table, when ``dff`` has one column per ROI).
    """
    p = params or EncodingParams()
    im = session.imaging
    if im is None or session.lever is None:
        raise DataError("encoding needs imaging and a lever trace", path=session.source)
    t = im.times
    units = im.rois if units is None else units
    n_units = int(np.asarray(dff).shape[1])
    if len(units) != n_units:
        raise DataError(
            f"{n_units} dF/F columns for {len(units)} units", path=session.source, field="units"
        )
    info = session.info
    keys = {"mouse": info.mouse, "session": int(info.session), "region": info.region}
    rng_seed = int(np.random.SeedSequence([seed, int(info.session)]).generate_state(1)[0])

    dff = exclude_light_periods(dff, t, session, p.exclude_after_light_s)
    epochs = movements[["onset", "offset"]].to_numpy(np.float64)
    cls = classify_movement_related(dff, t, epochs, p, seed=rng_seed)

    onsets_tbl = (
        rewarded_movement_onsets(session.trials, movements)
        if trial_onsets is None
        else trial_onsets.reset_index(drop=True)
    )
    has_onset = np.isfinite(onsets_tbl["onset"].to_numpy(np.float64))
    rewarded = onsets_tbl[has_onset].reset_index(drop=True)
    onsets = rewarded["onset"].to_numpy()
    window = (-p.window_pre_s, p.window_post_s)
    tens, time_s = peri_event_tensor(dff, t, onsets, window)
    tens = baseline_subtract(tens, time_s, tuple(p.baseline_s))
    decay = 0.0
    indicator_key: str | None = None
    if p.deconvolve_latency:
        decay, indicator_key = indicator_decay(
            info.indicator, p.indicator_decay_s, p.default_decay_s
        )
    timing = timing_with_ci(
        tens,
        time_s,
        tuple(p.timing_window_s),
        p.onset_fraction,
        p.onset_method,
        decay,
        n_boot=p.n_bootstrap_timing,
        seed=rng_seed,
        roi_chunk=p.roi_chunk,
    )
    rel = trial_reliability(tens, time_s, tuple(p.reliability_window_s))
    rois = pd.DataFrame(keys | {"roi": np.arange(n_units)})
    for col in ("roi_name", "roi_type"):
        rois[col] = units[col].to_numpy()
    rois = rois.merge(cls, on="roi")
    for k, v in timing.items():
        rois[k] = v
    rois["reliability"] = rel
    rois["n_trials"] = len(onsets)

    cue_tens, cue_time = peri_event_tensor(dff, t, rewarded["cue_time"].to_numpy(), window)
    cue_tens = baseline_subtract(cue_tens, cue_time, (-p.window_pre_s, 0.0))
    peri = _peri_table(keys, tens, time_s, cue_tens, cue_time)

    move = rois["movement_related"].to_numpy()
    valid = rois["has_data"].to_numpy(bool)
    n_valid = int(valid.sum())
    summary = keys | {
        "experiment": info.experiment,
        "indicator": info.indicator,
        "n_rois": n_units,
        # units without valid dF/F are excluded (counted here), never classified
        "n_rois_no_data": n_units - n_valid,
        "n_trials": len(onsets),
        "n_movements": len(epochs),
        "frac_movement": float(move[valid].mean()) if n_valid else np.nan,
        "frac_quiescence": (
            float(rois["quiescence_related"].to_numpy()[valid].mean()) if n_valid else np.nan
        ),
        "n_movement_related": int(move.sum()),
    }
    sel = move & np.isfinite(rois["onset_latency"].to_numpy())
    summary["median_onset_latency"] = (
        float(np.median(rois.loc[sel, "onset_latency"])) if sel.any() else np.nan
    )
    summary["median_peak_time"] = (
        float(np.median(rois.loc[sel, "peak_time"])) if sel.any() else np.nan
    )
    summary["decay_s"] = decay
    summary["indicator_matched"] = indicator_key or ""
    summary["median_reliability"] = _finite_median(rel[move])
    summary["mean_reliability_all"] = float(np.nanmean(rel)) if np.isfinite(rel).any() else np.nan
    if move.any():
        # population timing: timing of the average response of the movement-related ROIs
        pop = timing_with_ci(
            np.nanmean(tens[:, :, move], axis=2, keepdims=True),
            time_s,
            tuple(p.timing_window_s),
            p.onset_fraction,
            p.onset_method,
            decay,
            n_boot=p.n_bootstrap_timing,
            seed=rng_seed,
        )
        for k in ("onset_latency", "peak_time"):
            summary[f"population_{k}"] = float(pop[k][0])
            summary[f"population_{k}_ci_low"] = float(pop[f"{k}_ci_low"][0])
            summary[f"population_{k}_ci_high"] = float(pop[f"{k}_ci_high"][0])

    trials = rewarded.assign(**keys)
    lever_f = lever_to_frames(session.lever, t)
    sim = (
        np.asarray(template_similarity, dtype=np.float64)[np.flatnonzero(has_onset)]
        if template_similarity is not None
        else lever_similarity(lever_f, t, onsets, tuple(p.decode_window_s))
    )
    trials["lever_similarity"] = sim
    dec_tens, _ = peri_event_tensor(dff, t, onsets, tuple(p.decode_window_s))
    trials["pattern_similarity"] = trial_pattern_similarity(dec_tens) if len(onsets) > 1 else np.nan
    trials["decode_r"] = np.nan
    summary.update(decode_r2=np.nan, decode_r=np.nan, n_rois_decoded=0)
    if n_rois_matched >= p.min_rois and n_valid >= n_rois_matched and len(onsets) >= p.min_trials:
        X, y, ts = lagged_trial_design(
            dff[:, valid],
            lever_f,
            t,
            onsets,
            tuple(p.decode_window_s),
            tuple(p.decode_lags_s),
            max(1, int(round(p.decode_lag_step_s / np.median(np.diff(t))))),
        )
        res = decode_trajectory(
            X,
            y,
            ts,
            n_rois_matched,
            tuple(p.ridge_alphas),
            p.n_folds,
            p.n_subsamples,
            rng_seed,
            p.alpha_selection,
        )
        trials["decode_r"] = res.trial_r
        summary.update(decode_r2=res.r2, decode_r=res.r, n_rois_decoded=n_rois_matched)
    summary["decode_note"] = _decode_note(n_rois_matched, n_valid, len(onsets), p)
    summary["lever_units"] = str(getattr(session.lever, "units", ""))
    summary["decode_vs_similarity_rho"] = _spearman(trials["decode_r"], trials["lever_similarity"])
    summary["pattern_vs_similarity_rho"] = _spearman(
        trials["pattern_similarity"], trials["lever_similarity"]
    )
    top = _top_units(rois, p.n_example_units)
    rasters = _rasters(keys, tens, time_s, rois, top)
    examples = _example_traces(keys, dff, lever_f, t, onsets, rois, top, p.example_window_s)
    return SessionEncoding(
        rois=rois, summary=summary, peri=peri, trials=trials, rasters=rasters, examples=examples
    )


def _peri_table(keys: dict, tens, time_s, cue_tens, cue_time) -> pd.DataFrame:
    """Long table of trial-averaged dF/F per unit: all trials, and odd and even trials apart
    (``dff_odd``/``dff_even``: one half orders a heatmap, the other is plotted, so the order is
    not fitted to the noise it shows)."""
    n_units = tens.shape[2]
    parts = []
    for align, x, ts in (("movement", tens, time_s), ("cue", cue_tens, cue_time)):
        cols = {
            "dff": trial_average(x),
            "dff_odd": trial_average(x[1::2]),
            "dff_even": trial_average(x[0::2]),
        }
        parts.append(
            pd.DataFrame(
                keys
                | {
                    "roi": np.tile(np.arange(n_units), len(ts)),
                    "align": align,
                    "time_s": np.repeat(ts, n_units),
                }
                | {k: v.reshape(-1).astype(np.float32) for k, v in cols.items()}
            )
        )
    return pd.concat(parts, ignore_index=True)


def _decode_note(n_matched: int, n_units: int, n_trials: int, p: EncodingParams) -> str:
    """Why a session was not decoded ("" when it was); ``n_units`` = units with data."""
    if n_matched < p.min_rois:
        return f"matched unit count {n_matched} < min_rois {p.min_rois}"
    if n_units < n_matched:
        return f"{n_units} units with data < the {n_matched} matched across sessions"
    if n_trials < p.min_trials:
        return f"{n_trials} rewarded trials < min_trials {p.min_trials}"
    return ""


def _top_units(rois: pd.DataFrame, k: int) -> np.ndarray:
    """Column indices of the ``k`` most movement-related units (smallest p, largest contrast)."""
    move = rois[rois["movement_related"].astype(bool)]
    if move.empty or k <= 0:
        return np.zeros(0, np.int64)
    order = move.sort_values(["p_movement", "contrast"], ascending=[True, False])
    return order["roi"].to_numpy(np.int64)[:k]


def _rasters(keys: dict, tens, time_s, rois: pd.DataFrame, top: np.ndarray) -> pd.DataFrame:
    """Single-trial movement-aligned dF/F of the ``top`` units: roi, roi_name, trial, time_s."""
    if len(top) == 0 or tens.shape[0] == 0:
        return pd.DataFrame()
    n_tr, n_t = tens.shape[:2]
    names = rois.set_index("roi")["roi_name"]
    parts = [
        pd.DataFrame(
            keys
            | {
                "roi": int(j),
                "roi_name": str(names[j]),
                "rank": r,
                "trial": np.repeat(np.arange(n_tr), n_t),
                "time_s": np.tile(time_s, n_tr),
                "dff": tens[:, :, j].reshape(-1).astype(np.float32),
            }
        )
        for r, j in enumerate(top)
    ]
    return pd.concat(parts, ignore_index=True)


def _example_traces(keys, dff, lever_f, t, onsets, rois, top, window_s: float) -> pd.DataFrame:
    """The lever and the ``top`` units' dF/F over the ``window_s`` stretch holding the most
    rewarded movement onsets (``series`` = ``"lever"`` or the unit's name)."""
    ons = np.asarray(onsets, dtype=np.float64)
    ons = ons[np.isfinite(ons)]
    if len(top) == 0 or len(ons) == 0 or window_s <= 0:
        return pd.DataFrame()
    # start 2 s before an onset; pick the start whose window holds the most onsets
    starts = ons - 2.0
    count = np.searchsorted(ons, starts + window_s) - np.searchsorted(ons, starts)
    t0 = starts[int(np.argmax(count))]
    sel = (t >= t0) & (t < t0 + window_s)
    names = rois.set_index("roi")["roi_name"]
    series = [("lever", "lever", lever_f[sel])] + [
        (str(names[j]), "unit", dff[sel, j]) for j in top
    ]
    return pd.concat(
        [
            pd.DataFrame(
                keys | {"series": n, "kind": kind, "time_s": t[sel], "value": v.astype(np.float32)}
            )
            for n, kind, v in series
        ],
        ignore_index=True,
    )


def _indicator_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def indicator_decay(
    indicator: str, table: dict[str, float], default: float
) -> tuple[float, str | None]:
    """Decay constant of an indicator from the table, matching names robustly.

    Case, punctuation and prefixes/suffixes are ignored: ``jGCaMP7f``, ``GCaMP6s-axon``,
    ``axon-GCaMP6s`` or ``AAV1-syn-GCaMP8m`` match ``GCaMP7f``/``GCaMP6s``/``GCaMP8m``; the
    longest table name contained in the indicator wins (``GCaMP6s`` before ``GCaMP6``).

    Returns
    -------
    (decay_s, matched table name or None when ``default`` was used)
    """
    key = _indicator_key(indicator)
    found = [k for k in table if _indicator_key(k) and _indicator_key(k) in key]
    if not found:
        return float(default), None
    best = max(found, key=lambda k: len(_indicator_key(k)))
    return float(table[best]), best


def _finite_median(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else np.nan


def _spearman(a: pd.Series, b: pd.Series) -> float:
    ok = np.isfinite(a.to_numpy(np.float64)) & np.isfinite(b.to_numpy(np.float64))
    if ok.sum() < 4:
        return np.nan
    ra = a[ok].rank().to_numpy()
    rb = b[ok].rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])
