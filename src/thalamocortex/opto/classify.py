"""Classification of neurons as activated / suppressed / not responsive by photostimulation.

Per neuron: a paired Wilcoxon signed-rank test across pulses of post- vs pre-window dF/F
(equivalently: a one-sample signed-rank test of the per-pulse responses), Benjamini–Hochberg FDR
within each population (all neurons of one session, i.e. one imaged field), a minimum effect
size (mean response in baseline-SD units) and a minimum number of valid pulses (SCIENCE.md §2; field
convention, the paper's exact criteria are unknown). Every result carries a ``criterion``
string stating what was applied.

The signed-rank test is vectorised across neurons: ranks of ``|response|`` per column with
ties averaged, ``W+`` = sum of ranks of positive responses, exact null distribution (dynamic
programming, no ties, ``n <= wilcoxon_exact_max_n``) or the normal approximation with tie and
continuity correction. Zero responses are dropped (Wilcoxon's convention, scipy's default
``zero_method="wilcox"``).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import special, stats

from thalamocortex.data.errors import DataError
from thalamocortex.opto.params import OptoParams
from thalamocortex.opto.responses import (
    StimulusResponses,
    artefact_mask,
    pseudo_pulses,
    stimulus_responses,
)
from thalamocortex.stats import fdr_bh

RESPONSE_CLASSES: tuple[str, ...] = ("activated", "suppressed", "not_responsive", "untested")


@lru_cache(maxsize=8)
def _signed_rank_cdf_table(n_max: int) -> tuple[np.ndarray, ...]:
    """Exact null CDFs of ``W+`` for n = 0..n_max (no ties), tuple of arrays (index = W+)."""
    tables = [np.array([1.0])]
    pmf = np.array([1.0])
    for n in range(1, n_max + 1):
        # including rank n with probability 1/2 shifts the distribution by n
        new = np.zeros(len(pmf) + n)
        new[: len(pmf)] += 0.5 * pmf
        new[n:] += 0.5 * pmf
        pmf = new
        tables.append(np.cumsum(pmf))
    return tuple(tables)


def _tie_correction(absd: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Sum over tie groups of ``t^3 - t`` for the given columns (rare: a loop is fine)."""
    out = np.zeros(len(columns))
    for i, j in enumerate(columns):
        x = absd[:, j]
        _, counts = np.unique(x[np.isfinite(x)], return_counts=True)
        out[i] = float(np.sum(counts.astype(np.float64) ** 3 - counts))
    return out


def signed_rank_test(
    differences: np.ndarray, exact_max_n: int = 50
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided Wilcoxon signed-rank test of each column against zero, vectorised.

    Parameters
    ----------
    differences : array (n_pulses, n_neurons)
        Paired differences (post - pre); NaN marks missing pulses. Zeros are dropped.
    exact_max_n : int
        Exact null distribution up to this many non-zero differences when there are no ties.

    Returns
    -------
    w_plus : array (n_neurons,)
        Sum of ranks of the positive differences.
    n : array (n_neurons,) int
        Number of non-zero finite differences.
    p_value : array (n_neurons,)
        Two-sided p-value; NaN when ``n == 0``.
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 2:
        raise DataError(f"expected (n_pulses, n_neurons) differences, got shape {d.shape}")
    d = np.where(d == 0, np.nan, d)
    finite = np.isfinite(d)
    n = finite.sum(axis=0)
    absd = np.abs(d)
    ranks = stats.rankdata(absd, axis=0, nan_policy="omit")
    w_plus = np.where(finite & (d > 0), ranks, 0.0).sum(axis=0)
    # ties: adjacent equal values after sorting each column
    srt = np.sort(absd, axis=0)
    has_ties = np.any((srt[1:] == srt[:-1]) & np.isfinite(srt[1:]), axis=0)
    p = np.full(d.shape[1], np.nan)
    exact = (~has_ties) & (n <= exact_max_n) & (n > 0)
    if np.any(exact):
        tables = _signed_rank_cdf_table(int(n[exact].max()))
        for nn in np.unique(n[exact]):
            cols = np.flatnonzero(exact & (n == nn))
            cdf = tables[nn]
            w = np.rint(w_plus[cols]).astype(np.int64)
            lower = cdf[w]  # P(W+ <= w)
            upper = 1.0 - np.where(w > 0, cdf[np.maximum(w - 1, 0)], 0.0)  # P(W+ >= w)
            p[cols] = np.minimum(1.0, 2.0 * np.minimum(lower, upper))
    approx = (~exact) & (n > 0)
    if np.any(approx):
        nn = n[approx].astype(np.float64)
        mean = nn * (nn + 1) / 4.0
        var = nn * (nn + 1) * (2 * nn + 1) / 24.0
        tie_cols = np.flatnonzero(approx & has_ties)
        if len(tie_cols):
            corr = np.zeros(d.shape[1])
            corr[tie_cols] = _tie_correction(absd, tie_cols)
            var = var - corr[approx] / 48.0
        dev = w_plus[approx] - mean
        # continuity correction of 0.5 toward the mean (conservative)
        num = np.maximum(np.abs(dev) - 0.5, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(var > 0, num / np.sqrt(var), 0.0)
        p[approx] = np.minimum(1.0, 2.0 * special.ndtr(-z))
    return w_plus, n, p


def criterion_text(params: OptoParams) -> str:
    """The classification criterion in words (stored with every result)."""
    return (
        f"Wilcoxon signed-rank across pulses (post-pre, {params.window_s:g} s windows), "
        f"BH-FDR q<={params.fdr_alpha:g} within the session's neurons, "
        f"|mean response|>={params.min_effect_z:g} baseline SD, "
        f">={params.min_valid_pulses} valid pulses"
    )


def classify_responses(
    amplitude: np.ndarray,
    amplitude_z: np.ndarray,
    params: OptoParams | None = None,
) -> pd.DataFrame:
    """Classify the neurons of one population from their per-pulse responses.

    Parameters
    ----------
    amplitude : array (n_pulses, n_neurons)
        Response (post - pre) in dF/F, NaN where a pulse is invalid for a neuron.
    amplitude_z : array (n_pulses, n_neurons)
        The same in baseline-SD units (used for the effect-size criterion and as ``drive``).
    params : OptoParams

    Returns
    -------
    DataFrame, one row per neuron (index 0..n_neurons-1): ``n_valid_pulses``,
    ``mean_response`` (dF/F), ``median_response`` (dF/F), ``drive`` (mean response in baseline
    SD), ``w_plus``, ``p_value``, ``q_value``, ``response_class`` (one of
    :data:`RESPONSE_CLASSES`), ``criterion``.
    """
    params = params or OptoParams()
    amplitude = np.asarray(amplitude, dtype=np.float64)
    amplitude_z = np.asarray(amplitude_z, dtype=np.float64)
    if amplitude.shape != amplitude_z.shape or amplitude.ndim != 2:
        raise DataError(
            f"amplitude {amplitude.shape} and amplitude_z {amplitude_z.shape} must be equal "
            "(n_pulses, n_neurons) arrays"
        )
    valid = np.isfinite(amplitude) & np.isfinite(amplitude_z)
    amp = np.where(valid, amplitude, np.nan)
    n_valid = valid.sum(axis=0)
    w_plus, n_nonzero, p = signed_rank_test(amp, params.wilcoxon_exact_max_n)
    testable = n_valid >= params.min_valid_pulses
    p = np.where(testable, p, np.nan)
    _, q = fdr_bh(p, params.fdr_alpha)
    cnt = np.maximum(n_valid, 1)
    drive = np.where(valid, amplitude_z, 0.0).sum(axis=0) / cnt
    mean_resp = np.where(valid, amplitude, 0.0).sum(axis=0) / cnt
    drive = np.where(n_valid > 0, drive, np.nan)
    mean_resp = np.where(n_valid > 0, mean_resp, np.nan)
    with warnings.catch_warnings():
        # neurons without a valid pulse have an all-NaN column: NaN median is intended
        warnings.simplefilter("ignore", RuntimeWarning)
        median_resp = np.nanmedian(amp, axis=0) if len(amp) else np.full(amp.shape[1], np.nan)
    expected = n_nonzero * (n_nonzero + 1) / 4.0
    significant = testable & (q <= params.fdr_alpha)
    activated = significant & (w_plus > expected) & (drive >= params.min_effect_z)
    suppressed = significant & (w_plus < expected) & (drive <= -params.min_effect_z)
    cls = np.where(
        activated,
        "activated",
        np.where(suppressed, "suppressed", np.where(testable, "not_responsive", "untested")),
    )
    return pd.DataFrame(
        {
            "n_valid_pulses": n_valid.astype(np.int64),
            "mean_response": mean_resp,
            "median_response": median_resp,
            "drive": drive,
            "w_plus": w_plus,
            "p_value": p,
            "q_value": q,
            "response_class": cls,
            "criterion": criterion_text(params),
        }
    )


def classify_session(
    dff: np.ndarray,
    frame_times: np.ndarray,
    pulses: pd.DataFrame,
    params: OptoParams | None = None,
    frame_rate: float | None = None,
) -> tuple[pd.DataFrame, StimulusResponses]:
    """Responses and classes of every neuron of one session (one population).

    Parameters
    ----------
    dff : array (n_frames, n_rois)
    frame_times : array (n_frames,)
    pulses : DataFrame
        Pulse table (real pulses, sham pulses or pseudo-pulses: all processed identically).
    params : OptoParams
    frame_rate : float, optional

    Returns
    -------
    table : DataFrame
        :func:`classify_responses` output plus ``baseline_sd``.
    responses : StimulusResponses
    """
    params = params or OptoParams()
    resp = stimulus_responses(dff, frame_times, pulses, params, frame_rate)
    table = classify_responses(resp.amplitude, resp.amplitude_z, params)
    table["baseline_sd"] = resp.baseline_sd
    return table, resp


def pseudo_pulse_null(
    dff: np.ndarray,
    frame_times: np.ndarray,
    pulses: pd.DataFrame,
    params: OptoParams | None = None,
    rng: np.random.Generator | None = None,
    excluded_intervals: np.ndarray | None = None,
    frame_rate: float | None = None,
) -> pd.DataFrame:
    """Classification on pseudo-pulses drawn from spontaneous periods (the no-stimulus null).

    Uses the real pulses' durations, the same blanking, windows and criteria; the fraction of
    neurons called responsive should then be at most ``fdr_alpha``.

    Parameters
    ----------
    dff, frame_times, pulses, params, frame_rate
        As :func:`classify_session`.
    rng : numpy Generator, optional
        Defaults to ``np.random.default_rng(params.seed)``.
    excluded_intervals : array (k, 2), optional
        Intervals (s) to keep pseudo-pulses out of (e.g. movements).

    Returns
    -------
    DataFrame as :func:`classify_session` plus ``null`` = ``"pseudo_pulses"``.
    """
    params = params or OptoParams()
    rng = rng if rng is not None else np.random.default_rng(params.seed)
    n = params.n_pseudo_pulses or len(pulses)
    fake = pseudo_pulses(
        frame_times,
        pulses,
        n,
        rng,
        params.pseudo_exclusion_s,
        params.window_s + params.post_delay_s,
        excluded_intervals,
    )
    # the real artefacts must not enter pseudo windows either: blank them first
    dff = np.array(dff, dtype=np.float32, copy=True)
    dff[artefact_mask(frame_times, pulses, frame_rate, params.extra_blank_frames)] = np.nan
    table, _ = classify_session(dff, frame_times, fake, params, frame_rate)
    table["null"] = "pseudo_pulses"
    return table


def response_fractions(table: pd.DataFrame) -> dict[str, float]:
    """Fractions of tested neurons that are activated / suppressed / responsive."""
    tested = table[table["response_class"] != "untested"]
    n = len(tested)
    if n == 0:
        return {"n_tested": 0, "activated": np.nan, "suppressed": np.nan, "responsive": np.nan}
    a = float((tested["response_class"] == "activated").mean())
    s = float((tested["response_class"] == "suppressed").mean())
    return {"n_tested": n, "activated": a, "suppressed": s, "responsive": a + s}
