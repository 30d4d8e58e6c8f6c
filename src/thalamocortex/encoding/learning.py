"""Across learning: naive vs expert contrasts and trends per region, mice as replicates.

Input is the region x session table (one row per mouse and session, from
:func:`thalamocortex.encoding.session.encode_session` summaries). For every region and metric:

- per mouse, the mean over its naive sessions and over its expert sessions; the expert-minus-
  naive difference is tested with an exact paired sign-flip permutation test over mice
  (:func:`thalamocortex.stats.permutation_test_paired`) — the primary test;
- a hierarchical bootstrap (mice, then sessions) of the naive and expert means with a paired
  top-level draw gives the difference's confidence interval and a bootstrap p-value;
- the learning trend (slope over all sessions) from a random-intercept mixed model
  (statsmodels) when there are >= ``min_mice`` mice, else the mean per-mouse least-squares
  slope without a p-value; bootstrap p-values are likewise withheld below ``min_mice``;
- multiple-comparison control across regions within each metric (BH FDR by default).

Between regions, the per-mouse changes are compared with a label-permutation test (which
region changes most is then read off the per-region mean change).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from thalamocortex.encoding.params import EncodingParams
from thalamocortex.stats import (
    fdr_bh,
    hierarchical_bootstrap,
    holm,
    mixed_model,
    permutation_test_groups,
    permutation_test_paired,
    unit_slopes,
)
from thalamocortex.stats.params import StatsParams

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


def learning_stage(session: pd.Series | np.ndarray, params: EncodingParams) -> np.ndarray:
    """'naive', 'expert' or '' (in between) for each session number."""
    s = np.asarray(session)
    lo_n, hi_n = params.naive_sessions
    lo_e, hi_e = params.expert_sessions
    return np.where(
        (s >= lo_n) & (s <= hi_n), "naive", np.where((s >= lo_e) & (s <= hi_e), "expert", "")
    )


def learning_contrasts(
    sessions: pd.DataFrame,
    params: EncodingParams | None = None,
    stats: StatsParams | None = None,
    metrics: tuple[str, ...] = METRICS,
) -> pd.DataFrame:
    """Naive vs expert contrast and learning trend of every metric in every region.

    Parameters
    ----------
    sessions : DataFrame
        Columns ``mouse``, ``session``, ``region`` and the metrics.

    Returns
    -------
    DataFrame, one row per (region, metric): ``n_mice``, ``naive``, ``expert``, ``change``
    (mean over mice of expert - naive), ``ci_low``/``ci_high`` (hierarchical bootstrap),
    ``p_perm`` (paired sign-flip over mice), ``p_boot``, ``slope``/``p_slope``
    (per session), ``q`` and ``reject`` (multiple-comparison control across regions).
    """
    p = params or EncodingParams()
    st = stats or StatsParams()
    d = sessions.copy()
    d["stage"] = learning_stage(d["session"], p)
    rows = []
    for metric in metrics:
        if metric not in d.columns:
            continue
        for region, g in d.groupby("region", sort=True):
            g = g[np.isfinite(g[metric].to_numpy(np.float64))]
            per = g[g["stage"] != ""].groupby(["mouse", "stage"])[metric].mean().unstack()
            row = {"region": region, "metric": metric, "n_mice": 0}
            if {"naive", "expert"} <= set(per.columns):
                per = per.dropna(subset=["naive", "expert"])
                delta = per["expert"] - per["naive"]
                test = permutation_test_paired(
                    delta.to_numpy(), n_perm=st.n_permutations, seed=st.seed
                )
                row.update(
                    n_mice=len(per),
                    naive=per["naive"].mean(),
                    expert=per["expert"].mean(),
                    change=delta.mean(),
                    p_perm=test["p"],
                )
                staged = g[g["stage"].isin(["naive", "expert"])]
                staged = staged[staged["mouse"].isin(per.index)]
                if len(per) and len(staged):
                    boot = hierarchical_bootstrap(
                        staged,
                        metric,
                        levels=("mouse", "session"),
                        by="stage",
                        n_boot=st.n_bootstrap,
                        seed=st.seed,
                        ci_level=st.ci_level,
                    )
                    c = boot.contrast("expert", "naive")
                    row.update(ci_low=c["ci_low"], ci_high=c["ci_high"])
                    if len(per) >= st.min_mice:
                        row["p_boot"] = c["p"]
            row.update(_trend(g, metric, st.min_mice))
            rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    for col in ("naive", "expert", "change", "ci_low", "ci_high", "p_perm", "p_boot"):
        if col not in out:
            out[col] = np.nan
    control = fdr_bh if st.multiple_comparisons == "fdr_bh" else holm
    out["q"] = np.nan
    out["reject"] = False
    for _metric, idx in out.groupby("metric").groups.items():
        rej, q = control(out.loc[idx, "p_perm"].to_numpy(), st.alpha)
        out.loc[idx, "q"] = q
        out.loc[idx, "reject"] = rej
    return out


def _trend(g: pd.DataFrame, metric: str, min_mice: int) -> dict:
    if g["session"].nunique() < 2:
        return {"slope": np.nan, "p_slope": np.nan}
    if g["mouse"].nunique() >= max(2, min_mice):
        try:
            fit = mixed_model(g, f"{metric} ~ session", groups="mouse")
            r = fit.set_index("term").loc["session"]
            return {"slope": float(r["coef"]), "p_slope": float(r["p"])}
        except (ValueError, np.linalg.LinAlgError):  # singular fits on tiny cohorts
            pass
    s = unit_slopes(g, "session", metric)
    return {"slope": float(s["slope"].mean()), "p_slope": np.nan}


def region_comparison(
    sessions: pd.DataFrame,
    params: EncodingParams | None = None,
    stats: StatsParams | None = None,
    metrics: tuple[str, ...] = METRICS,
) -> pd.DataFrame:
    """Do input regions differ in their learning change? Per metric, mice as units.

    Only axon-imaging sessions are compared when the table has an ``experiment`` column.

    Returns
    -------
    DataFrame, one row per metric: ``largest_increase`` / ``largest_decrease`` (region with
    the largest mean expert - naive change), per-region mean changes as ``change_<region>``,
    and ``p_regions`` (label-permutation test of the per-mouse changes across regions; NaN
    with fewer than three mice or one region).
    """
    p = params or EncodingParams()
    st = stats or StatsParams()
    d = sessions.copy()
    if "experiment" in d.columns and (d["experiment"] == "axon_imaging").any():
        # the question is which *input* region changes: M1 somata (all-optical) are another
        # experiment with another ROI type and are not compared with the inputs
        d = d[d["experiment"] == "axon_imaging"]
    d["stage"] = learning_stage(d["session"], p)
    rows = []
    for metric in metrics:
        if metric not in d.columns:
            continue
        per = (
            d[d["stage"] != ""]
            .groupby(["region", "mouse", "stage"])[metric]
            .mean()
            .unstack()
            .reindex(columns=["naive", "expert"])
        )
        delta = (per["expert"] - per["naive"]).dropna().reset_index(name="change")
        if delta.empty:
            continue
        means = delta.groupby("region")["change"].mean()
        row = {
            "metric": metric,
            "largest_increase": means.idxmax(),
            "largest_decrease": means.idxmin(),
            **{f"change_{r}": v for r, v in means.items()},
            "p_regions": np.nan,
        }
        if means.size >= 2 and len(delta) >= 3:
            row["p_regions"] = permutation_test_groups(
                delta["change"].to_numpy(), delta["region"].to_numpy(), st.n_permutations, st.seed
            )["p"]
        rows.append(row)
    return pd.DataFrame(rows)
