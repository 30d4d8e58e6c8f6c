"""False-positive rates and power from many cohorts' decisions, with exact intervals.

The false-positive rate of a claim is the share of null cohorts in which its primary test (its
whole family, e.g. any input region) rejected; its interval is Clopper-Pearson (exact binomial).
A test passes the calibration target when that interval contains alpha and the point estimate is
at most ``max_rate`` (0.07 by default): compatible with its nominal level and not visibly above
it. Power is the share of effect cohorts in which the claim found the simulated effect
(:func:`thalamocortex.validate.decisions.detected`: the right region, the right sign).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from thalamocortex.stats.summary import rate_ci
from thalamocortex.stats.synthetic import NULL_KINDS
from thalamocortex.validate.decisions import EXPECTED, detected


def false_positive_rates(
    decisions: pd.DataFrame, alpha: float = 0.05, max_rate: float = 0.07, level: float = 0.95
) -> pd.DataFrame:
    """Per (level, test, null kind): cohorts, rejections, rate, Clopper-Pearson CI, ``passes``.

    Parameters
    ----------
    decisions : DataFrame
        Rows of many cohorts (``level``, ``kind``, ``seed``, ``test``, ``subject``, ``reject``).
    """
    cols = ["level", "test", "kind", "n_cohorts", "n_reject", "rate", "ci_low", "ci_high"]
    cols.append("passes")
    d = decisions[(decisions["subject"] == "any") & decisions["kind"].isin(NULL_KINDS)]
    rows = []
    for (lvl, test, kind), g in d.groupby(["level", "test", "kind"], sort=True):
        n, k = len(g), int(g["reject"].sum())
        lo, hi = rate_ci(k, n, level)
        rate = k / n if n else np.nan
        rows.append(
            {
                "level": lvl,
                "test": test,
                "kind": kind,
                "n_cohorts": n,
                "n_reject": k,
                "rate": rate,
                "ci_low": lo,
                "ci_high": hi,
                "passes": bool(n and lo <= alpha <= hi and rate <= max_rate),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def power(decisions: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (level, kind, test) of the effect kinds: cohorts, detections, power, CI.

    The effect region of kind ``"effect@<region>"`` is ``<region>`` (``"MTh"`` for
    ``"effect"``): the region comparison must name it, region x learning must reject it.
    """
    from thalamocortex.validate.cohorts import split_kind

    cols = ["level", "kind", "test", "n_cohorts", "n_detected", "power", "ci_low", "ci_high"]
    d = decisions[decisions["kind"].str.startswith("effect")]
    rows = []
    for (lvl, kind, test), g in d.groupby(["level", "kind", "test"], sort=True):
        if test not in EXPECTED:
            continue
        region = split_kind(kind)[1]
        hits = [detected(c, test, region) for _, c in g.groupby("seed")]
        hits = [h for h in hits if h is not None]
        n, k = len(hits), int(np.sum(hits))
        lo, hi = rate_ci(k, n, level)
        rows.append(
            {
                "level": lvl,
                "kind": kind,
                "test": test,
                "n_cohorts": n,
                "n_detected": k,
                "power": k / n if n else np.nan,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return pd.DataFrame(rows, columns=cols)


def calibration_table(fpr: pd.DataFrame, pw: pd.DataFrame) -> pd.DataFrame:
    """test | level | null kind | FPR [CI] | n cohorts | passes | power at the design [CI]."""
    if fpr.empty:
        return pd.DataFrame()
    out = fpr.copy()
    out["false_positive_rate"] = [
        f"{r:.3f} [{lo:.3f}, {hi:.3f}]"
        for r, lo, hi in zip(out["rate"], out["ci_low"], out["ci_high"], strict=True)
    ]
    pw = pw[pw["kind"] == "effect"] if len(pw) else pw
    if len(pw):
        p = pw.assign(
            power_text=[
                f"{x:.2f} [{lo:.2f}, {hi:.2f}] (n {n})"
                for x, lo, hi, n in zip(pw["power"], pw["ci_low"], pw["ci_high"], pw["n_cohorts"])
            ]
        )[["level", "test", "power_text"]]
        out = out.merge(p, on=["level", "test"], how="left")
    else:
        out["power_text"] = ""
    out = out.rename(columns={"power_text": "power"})
    return out[
        ["test", "level", "kind", "false_positive_rate", "n_cohorts", "passes", "power"]
    ].fillna({"power": ""})


def named_regions(decisions: pd.DataFrame, test: str = "region_comparison:frac_movement"):
    """How often each region was named by the region comparison, per (level, kind)."""
    d = decisions[(decisions["test"] == test) & (decisions["subject"] == "any")]
    if d.empty:
        return pd.DataFrame(columns=["level", "kind", "named", "n", "share"])
    counts = (
        d.assign(named=d["named"].replace("", "none"))
        .groupby(["level", "kind", "named"])
        .size()
        .rename("n")
        .reset_index()
    )
    counts["share"] = counts["n"] / counts.groupby(["level", "kind"])["n"].transform("sum")
    return counts
