"""Learning metrics: lever snippets, stereotypy, session x session matrix, learned template.

Conventions (SCIENCE.md §2): lever snippets -0.4 .. +3 s around movement onset; stereotypy is
the median Pearson correlation over all pairs of rewarded trials of the lever trace 0-3 s after
onset in 10 ms bins, **self-pairs excluded** (the lab code included them, which inflates
within-session values); the session x session matrix holds the median correlation between the
trials of two sessions (within-session on the diagonal). The learned-movement template of a
mouse is the mean binned rewarded trajectory of its last ``template_expert_sessions`` sessions;
each trial's similarity to it is a Pearson correlation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from thalamocortex.behavior.params import BehaviorParams
from thalamocortex.behavior.parse import LeverParse


def lever_snippets(
    parsed: LeverParse, onsets: np.ndarray, pre_s: float, post_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Filtered lever around each onset, relative to the position at onset.

    Parameters
    ----------
    parsed : LeverParse
    onsets : array (n_trials,)
        Movement onsets (s, session clock); NaN rows give NaN snippets.
    pre_s, post_s : float
        Window before / after onset (s).

    Returns
    -------
    snippets : array (n_trials, n_samples) float32
        Lever displacement (lever units); rows NaN where the window leaves the recording or
        touches an excluded (NaN) span.
    times : array (n_samples,)
        Time from onset (s).
    """
    rate = parsed.rate
    n_pre = int(round(pre_s * rate))
    n_post = int(round(post_s * rate))
    times = np.arange(-n_pre, n_post) / rate
    onsets = np.asarray(onsets, dtype=np.float64)
    out = np.full((len(onsets), len(times)), np.nan, dtype=np.float32)
    if len(onsets) == 0:
        return out, times
    i0 = parsed.sample_index(np.nan_to_num(onsets, nan=-1e12))
    lo = i0 - n_pre
    hi = i0 + n_post
    ok = np.isfinite(onsets) & (lo >= 0) & (hi <= parsed.n_samples)
    if not parsed.valid.all():
        inval_c = np.concatenate(([0], np.cumsum(~parsed.valid)))
        ok[ok] &= (inval_c[hi[ok]] - inval_c[lo[ok]]) == 0
    if ok.any():
        idx = lo[ok, None] + np.arange(len(times))[None, :]
        seg = parsed.position[idx]
        out[ok] = (seg - parsed.position[i0[ok], None]).astype(np.float32)
    return out, times


def bin_traces(
    snippets: np.ndarray, times: np.ndarray, start_s: float, stop_s: float, bin_s: float
) -> np.ndarray:
    """Average snippets into bins of ``bin_s`` over [start_s, stop_s) from onset.

    Returns
    -------
    array (n_trials, n_bins) float64
    """
    rate = 1.0 / np.median(np.diff(times))
    per = max(1, int(round(bin_s * rate)))
    i0 = int(np.searchsorted(times, start_s - 0.5 / rate))
    n_bins = int(round((stop_s - start_s) / bin_s))
    i1 = i0 + n_bins * per
    if i1 > snippets.shape[1]:
        raise ValueError(
            f"bin_traces: window [{start_s}, {stop_s}) s exceeds the snippets "
            f"({times[0]:.3f} .. {times[-1]:.3f} s)"
        )
    x = np.asarray(snippets[:, i0:i1], dtype=np.float64)
    return x.reshape(len(x), n_bins, per).mean(axis=2)


def _zscore_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x - mu) / sd


def usable(traces: np.ndarray) -> np.ndarray:
    """Rows that are finite and not constant (a flat trace has no Pearson correlation)."""
    traces = np.asarray(traces)
    if traces.size == 0:
        return np.zeros(len(traces), dtype=bool)
    ok = np.isfinite(traces).all(axis=1)
    ok[ok] = np.std(traces[ok], axis=1) > 0
    return ok


def correlation_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlations between the rows of ``a`` and of ``b`` (default ``a``).

    Returns
    -------
    array (len(a), len(b))
    """
    za = _zscore_rows(a)
    zb = za if b is None else _zscore_rows(b)
    return za @ zb.T / za.shape[1]


def stereotypy(traces: np.ndarray, min_trials: int = 3) -> float:
    """Median pairwise Pearson correlation of the rows, self-pairs excluded.

    Parameters
    ----------
    traces : array (n_trials, n_bins)
        Binned lever traces of rewarded trials (unusable rows are dropped).
    min_trials : int
        Fewer usable trials give NaN.
    """
    x = np.asarray(traces)[usable(traces)]
    if len(x) < max(2, min_trials):
        return float("nan")
    c = correlation_matrix(x)
    iu = np.triu_indices(len(x), k=1)
    return float(np.median(c[iu]))


def session_matrix(traces_by_session: dict[int, np.ndarray], min_trials: int = 3) -> pd.DataFrame:
    """Session x session median trial-to-trial correlation (self-pairs excluded on the diagonal).

    Parameters
    ----------
    traces_by_session : dict session -> array (n_trials, n_bins)

    Returns
    -------
    DataFrame: ``session_a``, ``session_b``, ``correlation``, ``n_pairs`` (all ordered pairs
    of sessions, symmetric).
    """
    clean = {s: np.asarray(x)[usable(x)] for s, x in traces_by_session.items()}
    sessions = sorted(clean)
    rows = []
    for i, sa in enumerate(sessions):
        for sb in sessions[i:]:
            xa, xb = clean[sa], clean[sb]
            if sa == sb:
                n_pairs = len(xa) * (len(xa) - 1) // 2
                r = stereotypy(xa, min_trials)
            else:
                n_pairs = len(xa) * len(xb)
                ok = len(xa) >= min_trials and len(xb) >= min_trials
                r = float(np.median(correlation_matrix(xa, xb))) if ok else float("nan")
            rows.append((sa, sb, r, n_pairs))
            if sa != sb:
                rows.append((sb, sa, r, n_pairs))
    df = pd.DataFrame(rows, columns=["session_a", "session_b", "correlation", "n_pairs"])
    return df.sort_values(["session_a", "session_b"]).reset_index(drop=True)


def expert_sessions(sessions, n_last: int) -> list[int]:
    """The last ``n_last`` sessions (by number) of a mouse."""
    return sorted(int(s) for s in sessions)[-n_last:]


def movement_template(
    traces_by_session: dict[int, np.ndarray], sessions: list[int]
) -> tuple[np.ndarray, int]:
    """Mean binned rewarded trajectory over the given sessions.

    Returns
    -------
    template : array (n_bins,) (NaN if no usable trial)
    n_trials : int
    """
    parts = [np.asarray(traces_by_session[s]) for s in sessions if s in traces_by_session]
    parts = [x[usable(x)] for x in parts if len(x)]
    parts = [x for x in parts if len(x)]
    if not parts:
        n_bins = next((x.shape[1] for x in traces_by_session.values() if x.ndim == 2), 0)
        return np.full(n_bins, np.nan), 0
    allx = np.concatenate(parts)
    return allx.mean(axis=0), len(allx)


def template_similarity(traces: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row with the template (NaN for unusable rows/template)."""
    traces = np.asarray(traces, dtype=np.float64)
    out = np.full(len(traces), np.nan)
    template = np.asarray(template, dtype=np.float64)
    if len(traces) == 0 or not (np.isfinite(template).all() and np.std(template) > 0):
        return out
    ok = usable(traces)
    if ok.any():
        out[ok] = correlation_matrix(traces[ok], template[None, :])[:, 0]
    return out


def learning_trend(
    sessions: pd.DataFrame, metric: str, x: str = "session", min_sessions: int = 2
) -> dict:
    """Across-mice test of a trend of ``metric`` over sessions (secondary analysis).

    Per mouse an ordinary least-squares slope of ``metric`` on ``x``; the slopes (mice are the
    replicates) are tested against 0 with a two-sided one-sample t-test. Only mice with at
    least ``min_sessions`` distinct sessions enter: a slope through two sessions (e.g. an
    all-optical mouse imaged on days 1 and 14, or an inactivation mouse on days 13-14) is not
    the learning curve of a 14-session mouse and must not be weighted like one.

    Returns
    -------
    dict: ``slopes`` (Series by mouse), ``mean_slope``, ``t``, ``p``, ``n_mice``.
    """
    slopes = {}
    for mouse, g in sessions.groupby("mouse"):
        g = g[np.isfinite(g[metric].to_numpy(np.float64))]
        if len(g) >= max(2, min_sessions) and g[x].nunique() >= max(2, min_sessions):
            slopes[mouse] = float(np.polyfit(g[x].to_numpy(float), g[metric].to_numpy(float), 1)[0])
    s = pd.Series(slopes, name=f"{metric}_slope", dtype=float)
    if len(s) >= 2 and s.std() > 0:
        t, pval = stats.ttest_1samp(s.to_numpy(), 0.0)
    else:
        t, pval = np.nan, np.nan
    return {
        "slopes": s,
        "mean_slope": float(s.mean()) if len(s) else np.nan,
        "t": float(t),
        "p": float(pval),
        "n_mice": len(s),
    }


def binned_for_correlation(
    snippets: np.ndarray, times: np.ndarray, params: BehaviorParams
) -> np.ndarray:
    """Snippets binned as the stereotypy convention needs (0..window s, ``stereotypy_bin_s``)."""
    return bin_traces(snippets, times, 0.0, params.stereotypy_window_s, params.stereotypy_bin_s)


def template_for(templates: pd.DataFrame, mouse: str) -> np.ndarray:
    """One mouse's learned template from the behaviour stage's ``templates`` table.

    Returns
    -------
    array (n_bins,)
        Binned like :func:`binned_for_correlation`, ready for
        :func:`~thalamocortex.behavior.session.analyse_session` (``template=``).

    Raises
    ------
    KeyError
        If the table has no template for ``mouse``.
    """
    g = templates[templates["mouse"] == mouse]
    if g.empty:
        raise KeyError(
            f"templates: no learned template for mouse {mouse!r}; "
            f"has {sorted(templates['mouse'].unique())}"
        )
    return g.sort_values("t")["position"].to_numpy(np.float64)


#: Behavioural learning metrics tested naive vs expert (columns of the behaviour sessions table).
LEARNING_METRICS: tuple[str, ...] = (
    "stereotypy",
    "success_rate",
    "median_reaction_time",
    "intertrial_movement_rate",
)


def learning_tests(
    sessions: pd.DataFrame, stats=None, metrics: tuple[str, ...] = LEARNING_METRICS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Behavioural learning, mice as units: each mouse's expert - naive change, t-test.

    Naive and expert sessions are chosen per mouse (:func:`thalamocortex.stats.stages.
    learning_stages`: its first and last sessions by training day; mice never imaged naive,
    such as an inactivation cohort trained before its days 13-14, contribute no change). Each
    mouse gives one change whatever its number of sessions, and the changes are tested across
    mice with a one-sample t-test. ``stats.behavior_primary_metric`` (stereotypy) is the primary
    test; the other metrics are secondary, corrected within their family.

    Parameters
    ----------
    sessions : DataFrame
        The behaviour stage's sessions table (``mouse``, ``session``, ``day`` and the metrics;
        excluded sessions, ``status != "ok"``, are ignored).
    stats : StatsParams

    Returns
    -------
    tests : DataFrame in the :data:`~thalamocortex.stats.primary.TEST_COLUMNS` layout, one row
        per metric (plus ``naive``, ``expert``: means over mice).
    per_mouse : DataFrame with ``mouse``, ``experiment``, ``metric``, ``naive``, ``expert``,
        ``change``.
    """
    from thalamocortex.stats.params import StatsParams
    from thalamocortex.stats.primary import PRIMARY, SECONDARY, as_test_table, correct_family
    from thalamocortex.stats.stages import learning_stages
    from thalamocortex.stats.summary import mean_test

    st = stats or StatsParams()
    d = sessions
    if "status" in d.columns:
        d = d[d["status"] == "ok"]
    d = d.copy()
    d["stage"], _ = learning_stages(d, st, what="behaviour: ")
    staged = d[d["stage"].isin(["naive", "expert"])]
    rows, per_rows = [], []
    for metric in metrics:
        if metric not in staged.columns:
            continue
        v = staged[["mouse", "stage", metric]].copy()
        v[metric] = pd.to_numeric(v[metric], errors="coerce")
        w = v.dropna().groupby(["mouse", "stage"])[metric].mean().unstack()
        w = w.reindex(columns=["naive", "expert"]).dropna()
        change = w["expert"] - w["naive"]
        exp_of = d.drop_duplicates("mouse").set_index("mouse").get("experiment")
        for mouse, r in w.iterrows():
            per_rows.append(
                {
                    "mouse": mouse,
                    "experiment": exp_of.get(mouse, "") if exp_of is not None else "",
                    "metric": metric,
                    "naive": r["naive"],
                    "expert": r["expert"],
                    "change": r["expert"] - r["naive"],
                }
            )
        primary = metric == st.behavior_primary_metric
        rows.append(
            {
                "claim": "behavior:learning" if primary else f"behavior:{metric}",
                "role": PRIMARY if primary else SECONDARY,
                "family": (
                    "behavioural learning" if primary else "behavioural learning: secondary"
                ),
                "subject": "all mice imaged naive and expert",
                "measure": f"expert - naive {metric}",
                **mean_test(change.to_numpy(), st.ci_level),
                "test": "per-mouse expert - naive (first / last sessions), one-sample t-test",
                "naive": float(w["naive"].mean()) if len(w) else np.nan,
                "expert": float(w["expert"].mean()) if len(w) else np.nan,
            }
        )
    tests = as_test_table(rows)
    if len(tests):
        tests = correct_family(tests, "family", st.multiple_comparisons, st.alpha)
    per_mouse = pd.DataFrame(
        per_rows, columns=["mouse", "experiment", "metric", "naive", "expert", "change"]
    )
    return tests, per_mouse
