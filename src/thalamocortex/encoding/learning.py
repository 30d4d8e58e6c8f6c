"""Across learning: naive vs expert per region and the comparison of regions, mice as units.

Input is the region x session table (one row per mouse and session, from
:func:`thalamocortex.encoding.session.encode_session` summaries, with the training ``day`` when
known). Naive and expert sessions are chosen per mouse (:mod:`thalamocortex.stats.stages`).

Primary tests (two-stage, :mod:`thalamocortex.stats.summary`; why: see there):

* **region x learning** of each metric: per mouse the mean over its expert sessions minus the
  mean over its naive sessions; per region, the mean change is tested against 0 with a t-test
  whose variance is pooled over the regions of the experiment (``StatsParams.region_variance``)
  — for the population onset latency, whose sampling noise differs between regions, scaled by
  each region's trial-bootstrap sampling variance (``StatsParams.precision_weighted_metrics``,
  :func:`~thalamocortex.stats.summary.weighted_group_tests`); Holm (or BH) over the regions of
  the experiment. Primary for the input regions and the metrics
  in ``StatsParams.encoding_primary_metrics`` (movement fraction, reliability, timing shift,
  decoding); the M1 somata of the all-optical experiment and the other metrics are secondary.
* **which input changes most** (``StatsParams.comparison_metric``): each input region's mean
  change against the mean of the other regions' changes, pooled-variance t, family-wise error
  over regions by the max-T permutation of region labels across mice; the region named is the
  one with the largest |t| when its adjusted p is at most alpha.

Secondary analyses (labelled ``secondary``, never deciding): the exact sign-flip test over mice
(its smallest p is ``2 / 2**n``), a hierarchical bootstrap (mice, then sessions) of the change,
and the learning trend over all sessions from a mixed model with a random intercept and a
random slope per mouse (t-test with ``n_mice - 1`` df; no p when the fit did not converge).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from thalamocortex.encoding.peri import TIMING_CI_Z
from thalamocortex.stats import hierarchical_bootstrap, mixed_model, permutation_test_paired
from thalamocortex.stats.params import StatsParams
from thalamocortex.stats.primary import PRIMARY, SECONDARY, as_test_table, correct_family
from thalamocortex.stats.stages import EXPERT, NAIVE, learning_stages
from thalamocortex.stats.summary import group_tests, region_contrasts, weighted_group_tests

#: Session-level metrics compared across learning (columns of the region x session table).
METRICS: tuple[str, ...] = (
    "frac_movement",
    "frac_quiescence",
    "median_reliability",
    "median_onset_latency",
    "population_onset_latency",
    "median_peak_time",
    "decode_r2",
    "decode_r",
)

#: Words for metrics in sentences.
METRIC_LABELS: dict[str, str] = {
    "frac_movement": "movement-related fraction",
    "frac_quiescence": "quiescence-related fraction",
    "median_reliability": "trial-to-trial reliability",
    "median_onset_latency": "median onset latency (s)",
    "population_onset_latency": "population onset latency (s)",
    "median_peak_time": "median peak time (s)",
    "decode_r2": "lever decoding R²",
    "decode_r": "lever decoding r",
}

INPUT_EXPERIMENT = "axon_imaging"


def with_stages(sessions: pd.DataFrame, stats: StatsParams | None = None) -> pd.DataFrame:
    """Copy of ``sessions`` with its ``stage`` column (naive / expert / '') per mouse."""
    d = sessions.copy()
    d["stage"], _ = learning_stages(d, stats, what="encoding: ")
    return d


def session_variance(sessions: pd.DataFrame, metric: str) -> pd.Series:
    """Sampling variance of each session's ``metric`` from its ``<metric>_ci_low`` /
    ``<metric>_ci_high`` interval, ``(width / (2 z))²`` with ``z`` =
    :data:`~thalamocortex.encoding.peri.TIMING_CI_Z` (the trial-bootstrap percentile
    interval of the encoding stage; read off the interval rather than the bootstrap SD, so a
    few resamples without an onset do not dominate it). NaN where the table has no interval.
    """
    lo, hi = f"{metric}_ci_low", f"{metric}_ci_high"
    if lo not in sessions.columns or hi not in sessions.columns:
        return pd.Series(np.nan, index=sessions.index)
    width = pd.to_numeric(sessions[hi], errors="coerce") - pd.to_numeric(
        sessions[lo], errors="coerce"
    )
    return (width / (2 * TIMING_CI_Z)) ** 2


def per_mouse_changes(
    sessions: pd.DataFrame,
    stats: StatsParams | None = None,
    metrics: tuple[str, ...] = METRICS,
) -> pd.DataFrame:
    """Each mouse's naive and expert means and its change, per metric.

    Parameters
    ----------
    sessions : DataFrame
        ``mouse``, ``session``, ``region`` (``day``, ``experiment``, ``stage`` optional; the
        stage is computed when missing) and the metric columns.

    Returns
    -------
    DataFrame: ``experiment``, ``region``, ``mouse``, ``metric``, ``naive``, ``expert``,
    ``change`` (expert - naive), ``n_naive``, ``n_expert`` (sessions with a finite value),
    ``change_var``: the sampling variance of the change when the sessions carry a
    ``<metric>_ci_low`` / ``<metric>_ci_high`` interval (the population timing's trial
    bootstrap), else NaN (:func:`session_variance`).
    """
    d = sessions if "stage" in sessions.columns else with_stages(sessions, stats)
    if "experiment" not in d.columns:
        d = d.assign(experiment="")
    cols = ["experiment", "region", "mouse", "metric", "naive", "expert", "change"]
    cols += ["n_naive", "n_expert", "change_var"]
    staged = d[d["stage"].isin([NAIVE, EXPERT])]
    parts = []
    for metric in metrics:
        if metric not in staged.columns:
            continue
        v = staged[["experiment", "region", "mouse", "stage", metric]].copy()
        v[metric] = pd.to_numeric(v[metric], errors="coerce")
        v["var"] = session_variance(staged, metric)
        v = v[np.isfinite(v[metric].to_numpy(np.float64))]
        if v.empty:
            continue
        g = v.groupby(["experiment", "region", "mouse", "stage"], observed=True)
        mean = g[metric].mean().unstack("stage").reindex(columns=[NAIVE, EXPERT])
        count = g.size().unstack("stage").reindex(columns=[NAIVE, EXPERT]).fillna(0)
        # variance of a mean of independent session estimates: sum of variances / n²
        # (a session without an interval makes its stage's variance NaN)
        var = g["var"].agg(lambda x: x.sum(min_count=len(x)) / len(x) ** 2)
        var = var.unstack("stage").reindex(columns=[NAIVE, EXPERT])
        per = pd.DataFrame(
            {
                "naive": mean[NAIVE],
                "expert": mean[EXPERT],
                "change": mean[EXPERT] - mean[NAIVE],
                "n_naive": count[NAIVE].astype(np.int64),
                "n_expert": count[EXPERT].astype(np.int64),
                "change_var": var[NAIVE] + var[EXPERT],
            }
        ).reset_index()
        per.insert(3, "metric", metric)
        parts.append(per.dropna(subset=["change"]))
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def learning_contrasts(
    sessions: pd.DataFrame,
    stats: StatsParams | None = None,
    metrics: tuple[str, ...] = METRICS,
    secondary: bool = True,
) -> pd.DataFrame:
    """Region x learning tests of every metric (see the module docstring).

    Parameters
    ----------
    sessions : DataFrame
        ``mouse``, ``session``, ``region`` (+ ``day``, ``experiment``) and the metrics.
    stats : StatsParams
    secondary : bool
        Also compute the secondary analyses (sign-flip, bootstrap, mixed-model trend); off in
        the calibration's Monte Carlo, which only needs the primary decisions.

    Returns
    -------
    DataFrame in the layout of :data:`thalamocortex.stats.primary.TEST_COLUMNS`, one row per
    (experiment, region, metric): ``claim`` = ``learning:<metric>``, ``subject`` = region,
    ``estimate`` = mean change over mice with its CI, the pooled t-test and its family-adjusted
    p; plus ``experiment``, ``region``, ``metric``, ``naive``, ``expert`` (means over mice)
    and the secondary ``p_sign_flip``, ``boot_ci_low``/``boot_ci_high``/``p_boot``,
    ``slope``/``p_slope``/``slope_converged``.
    """
    st = stats or StatsParams()
    d = with_stages(sessions, st) if "stage" not in sessions.columns else sessions
    if "experiment" not in d.columns:
        d = d.assign(experiment="")
    changes = per_mouse_changes(d, st, metrics)
    rows = []
    for (experiment, metric), ch in changes.groupby(["experiment", "metric"], sort=True):
        tests, var_txt = _region_tests(ch, metric, st)
        primary = experiment == INPUT_EXPERIMENT and metric in st.encoding_primary_metrics
        for region, r in tests.iterrows():
            mice = ch[ch["region"] == region]
            row = {
                "claim": f"learning:{metric}",
                "role": PRIMARY if primary else SECONDARY,
                "family": f"{experiment or 'all'} regions x learning: {metric}",
                "subject": region,
                "measure": f"expert - naive {metric}",
                **r.to_dict(),
                "test": f"per-mouse expert - naive, t-test ({var_txt})",
                "experiment": experiment,
                "region": region,
                "metric": metric,
                "naive": float(mice["naive"].mean()),
                "expert": float(mice["expert"].mean()),
            }
            if secondary:
                row["p_sign_flip"] = permutation_test_paired(
                    mice["change"].to_numpy(), n_perm=st.n_permutations, seed=st.seed
                )["p"]
                g = d[(d["experiment"] == experiment) & (d["region"] == region)]
                row.update(_bootstrap(g, metric, mice["mouse"], st))
                row.update(_trend(g, metric, st))
            rows.append(row)
    out = as_test_table(rows)
    if out.empty:
        return out
    return correct_family(out, "family", st.multiple_comparisons, st.alpha)


def _region_tests(ch: pd.DataFrame, metric: str, st: StatsParams) -> tuple[pd.DataFrame, str]:
    """Each region's mean change tested against 0, and the words for the test used.

    Pooled variance (``StatsParams.region_variance``); for the metrics of
    ``StatsParams.precision_weighted_metrics`` whose every mouse has a sampling variance of its
    change, the pooled between-mouse variance plus each region's mean sampling variance
    (:func:`~thalamocortex.stats.summary.weighted_group_tests`).
    """
    n = ch["region"].nunique()
    over = f"over {n} region{'s' if n > 1 else ''}"
    if st.region_variance != "pooled":
        return group_tests(ch["change"], ch["region"], False, st.ci_level), "per-region variance"
    var = ch["change_var"].to_numpy(np.float64)
    if metric in st.precision_weighted_metrics and len(var) and np.isfinite(var).all():
        tests = weighted_group_tests(ch["change"], var, ch["region"], st.ci_level)
        return tests, f"between-mouse variance pooled {over} + each region's sampling variance"
    return group_tests(ch["change"], ch["region"], True, st.ci_level), f"variance pooled {over}"


def _bootstrap(g: pd.DataFrame, metric: str, mice: pd.Series, st: StatsParams) -> dict:
    """Secondary: hierarchical bootstrap (mice, then sessions) of the expert - naive change."""
    out = {"boot_ci_low": np.nan, "boot_ci_high": np.nan, "p_boot": np.nan}
    staged = g[g["stage"].isin([NAIVE, EXPERT]) & g["mouse"].isin(set(mice))]
    staged = staged[np.isfinite(pd.to_numeric(staged[metric], errors="coerce"))]
    if staged.empty or staged["stage"].nunique() < 2:
        return out
    boot = hierarchical_bootstrap(
        staged.assign(**{metric: pd.to_numeric(staged[metric])}),
        metric,
        levels=("mouse", "session"),
        by="stage",
        n_boot=st.n_bootstrap,
        seed=st.seed,
        ci_level=st.ci_level,
    )
    c = boot.contrast(EXPERT, NAIVE)
    out.update(boot_ci_low=c["ci_low"], boot_ci_high=c["ci_high"])
    if len(set(mice)) >= st.min_mice:
        out["p_boot"] = c["p"]
    return out


def _trend(g: pd.DataFrame, metric: str, st: StatsParams) -> dict:
    """Secondary: slope per session, random intercept and slope per mouse, df = mice - 1."""
    out = {"slope": np.nan, "p_slope": np.nan, "slope_converged": False}
    v = g[["mouse", "session", metric]].copy()
    v[metric] = pd.to_numeric(v[metric], errors="coerce")
    v = v.dropna()
    if v["session"].nunique() < 2 or v.empty:
        return out
    n_mice = v["mouse"].nunique()
    slopes = []
    for _, gm in v.groupby("mouse"):
        if gm["session"].nunique() >= 2:
            slopes.append(np.polyfit(gm["session"].to_numpy(float), gm[metric].to_numpy(), 1)[0])
    out["slope"] = float(np.mean(slopes)) if slopes else np.nan
    if n_mice < max(3, st.min_mice) or v.groupby("mouse")["session"].nunique().min() < 3:
        return out  # a random slope needs >= 3 sessions per mouse and a few mice
    try:
        fit = mixed_model(
            v.rename(columns={metric: "y"}),
            "y ~ session",
            groups="mouse",
            re_formula="~session",
            t_df=n_mice - 1,
        )
    except (ValueError, np.linalg.LinAlgError):  # singular fits on tiny cohorts
        return out
    r = fit.set_index("term").loc["session"]
    out.update(slope=float(r["coef"]), p_slope=float(r["p"]), slope_converged=bool(r["converged"]))
    return out


def region_comparison(
    sessions: pd.DataFrame,
    stats: StatsParams | None = None,
    metrics: tuple[str, ...] = METRICS,
) -> pd.DataFrame:
    """Which input region changes most with learning, per metric; mice as units.

    Only axon-imaging sessions are compared when the table has an ``experiment`` column (M1
    somata are another experiment with another ROI type).

    Returns
    -------
    DataFrame in the :data:`~thalamocortex.stats.primary.TEST_COLUMNS` layout, one row per
    (metric, region): ``claim`` = ``region_comparison:<metric>``, ``estimate`` = the region's
    mean change minus the mean of the other regions' mean changes (``ci_low``/``ci_high``,
    pooled-variance t ``statistic``, ``df``, unadjusted ``p``), ``p_adjusted`` = max-T
    permutation p (family-wise over regions), ``reject``; plus ``metric``, ``region``,
    ``change`` (the region's mean change), ``rank`` (1 = largest |t|, ties broken by the
    larger |change|), ``named`` (rank 1 and
    rejected: the region reported as changing differently from the others), ``exact`` and
    ``n_permutations``.
    """
    st = stats or StatsParams()
    d = sessions
    if "experiment" in d.columns and (d["experiment"] == INPUT_EXPERIMENT).any():
        d = d[d["experiment"] == INPUT_EXPERIMENT]
    changes = per_mouse_changes(d, st, metrics)
    rows = []
    for metric, ch in changes.groupby("metric", sort=True):
        res = region_contrasts(ch["change"], ch["region"], st.n_permutations, st.seed, st.ci_level)
        if res.empty:
            continue
        # rank by |t|; ties (two regions have mirror-image contrasts) by the larger |change|
        key = res.assign(at=res["statistic"].abs().round(9), ac=res["change"].abs())
        ranked = key.sort_values(["at", "ac"], ascending=False).index
        order = pd.Series(np.arange(1, len(ranked) + 1), index=ranked)
        for region, r in res.iterrows():
            rows.append(
                {
                    "claim": f"region_comparison:{metric}",
                    "role": PRIMARY if metric == st.comparison_metric else SECONDARY,
                    "family": f"input regions compared: {metric}",
                    "subject": region,
                    "measure": f"change in {metric} minus the other regions' mean change",
                    "estimate": r["contrast"],
                    "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"],
                    "n_mice": int(res["n_mice"].sum()),
                    "test": (
                        "per-mouse expert - naive; region vs mean of the other regions, "
                        "pooled-variance t; max-T permutation of region labels across mice"
                    ),
                    "statistic": r["statistic"],
                    "df": r["df"],
                    "p": r["p_parametric"],
                    "p_adjusted": r["p_maxt"],
                    "correction": f"max-T over {len(res)} regions",
                    "reject": bool(np.isfinite(r["p_maxt"]) and r["p_maxt"] <= st.alpha),
                    "metric": metric,
                    "region": region,
                    "change": r["change"],
                    "n_mice_region": int(r["n_mice"]),
                    "rank": int(order[region]),
                    "exact": bool(r["exact"]),
                    "n_permutations": int(r["n_permutations"]),
                }
            )
    out = as_test_table(rows)
    if not out.empty:
        out["named"] = out["reject"] & (out["rank"] == 1)
    return out
