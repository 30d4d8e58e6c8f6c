"""Mixed-effects models (statsmodels) and multiple-comparison control.

Mice are the unit of replication: repeated measures of one mouse (sessions, ROIs) share a
random intercept (and optionally random slopes) so that fixed effects such as
``stage`` (naive/expert) or ``session`` are tested against between-mouse variability.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError


def mixed_model(
    df: pd.DataFrame,
    formula: str,
    groups: str = "mouse",
    re_formula: str | None = None,
    reml: bool = True,
) -> pd.DataFrame:
    """Fit a linear mixed-effects model and return its fixed effects as a tidy table.

    Parameters
    ----------
    df : DataFrame
        Long table with the columns of ``formula`` and ``groups``.
    formula : str
        Patsy formula of the fixed effects, e.g. ``"frac ~ C(stage) * C(region)"``.
    groups : str
        Column of the random-effect grouping (the unit of replication).
    re_formula : str, optional
        Random-effects formula (default: random intercept per group), e.g. ``"~session"``.
    reml : bool
        Restricted maximum likelihood (default) or ML.

    Returns
    -------
    DataFrame with ``term``, ``coef``, ``se``, ``z``, ``p``, ``ci_low``, ``ci_high``,
    ``converged`` (bool, same for all rows), ``n_groups``, ``n_obs``.

    Notes
    -----
    Wald z-tests of statsmodels' ``MixedLM``; with few groups they are anti-conservative —
    pair them with a permutation null (:func:`thalamocortex.stats.permutation_test_paired`)
    when there are fewer than ~10 mice.
    """
    import statsmodels.formula.api as smf

    if groups not in df.columns:
        raise DataError(f"mixed_model: grouping column {groups!r} not in {list(df.columns)}")
    d = df.dropna(subset=[c for c in df.columns if c in formula or c == groups])
    if d[groups].nunique() < 2:
        raise DataError(f"mixed_model: need >= 2 levels of {groups!r}, got {d[groups].nunique()}")
    model = smf.mixedlm(formula, d, groups=d[groups], re_formula=re_formula)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(reml=reml)
    converged = bool(getattr(fit, "converged", True)) and not any(
        "converge" in str(w.message).lower() for w in caught
    )
    fe = fit.fe_params
    ci = fit.conf_int().loc[fe.index]
    return pd.DataFrame(
        {
            "term": fe.index,
            "coef": fe.to_numpy(),
            "se": fit.bse_fe.loc[fe.index].to_numpy(),
            "z": fit.tvalues.loc[fe.index].to_numpy(),
            "p": fit.pvalues.loc[fe.index].to_numpy(),
            "ci_low": ci.iloc[:, 0].to_numpy(),
            "ci_high": ci.iloc[:, 1].to_numpy(),
            "converged": converged,
            "n_groups": d[groups].nunique(),
            "n_obs": len(d),
        }
    )


def fdr_bh(p: Sequence[float] | np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini–Hochberg false-discovery-rate control.

    Parameters
    ----------
    p : array (n,)
        p-values; NaN entries are ignored (q = NaN, not rejected).
    alpha : float
        FDR level.

    Returns
    -------
    reject : array (n,) bool
    q : array (n,) float — BH-adjusted p-values (monotone, capped at 1).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    pv = p[ok]
    m = len(pv)
    if m:
        order = np.argsort(pv)
        ranked = pv[order] * m / np.arange(1, m + 1)
        adj = np.minimum.accumulate(ranked[::-1])[::-1]
        out = np.empty(m)
        out[order] = np.minimum(adj, 1.0)
        q[ok] = out
    reject = np.zeros(p.shape, dtype=bool)
    reject[ok] = q[ok] <= alpha
    return reject, q


def holm(p: Sequence[float] | np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm–Bonferroni family-wise error control; returns ``(reject, adjusted p)``."""
    p = np.asarray(p, dtype=np.float64)
    adj = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    pv = p[ok]
    m = len(pv)
    if m:
        order = np.argsort(pv)
        stepped = np.maximum.accumulate(pv[order] * (m - np.arange(m)))
        out = np.empty(m)
        out[order] = np.minimum(stepped, 1.0)
        adj[ok] = out
    reject = np.zeros(p.shape, dtype=bool)
    reject[ok] = adj[ok] <= alpha
    return reject, adj
