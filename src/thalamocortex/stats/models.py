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
    t_df: float | None = None,
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
    t_df : float, optional
        Degrees of freedom of t-tests of the fixed effects (e.g. ``n_groups - 1`` for an effect
        that varies between groups, a conservative small-sample choice); default: Wald z-tests.

    Returns
    -------
    DataFrame with ``term``, ``coef``, ``se``, ``z``, ``p``, ``ci_low``, ``ci_high``,
    ``converged`` (bool, same for all rows), ``n_groups``, ``n_obs``, ``df`` (``t_df``). A fit
    that did not converge reports its coefficients but no p-value, z or interval (NaN): its
    standard errors cannot be trusted.

    Notes
    -----
    Wald z-tests of statsmodels' ``MixedLM`` are anti-conservative with few groups, and a
    random intercept alone is anti-conservative whenever mice differ in the effect (issue 11:
    44 % false positives at alpha 0.05); the study's primary tests are therefore two-stage
    (:mod:`thalamocortex.stats.summary`) and mixed models are secondary analyses.
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
    # a non-converged optimiser or a Hessian that is not positive definite leaves the
    # standard errors meaningless
    converged = bool(getattr(fit, "converged", True)) and not any(
        "converge" in str(w.message).lower() or "hessian" in str(w.message).lower() for w in caught
    )
    from scipy import stats as sps

    fe = fit.fe_params
    with np.errstate(invalid="ignore"):  # a singular covariance gives NaN SEs (no p below)
        se = fit.bse_fe.loc[fe.index].to_numpy()
    coef = fe.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        z = coef / se
    if t_df is None:
        p = 2 * sps.norm.sf(np.abs(z))
        half = sps.norm.ppf(0.975) * se
    else:
        p = 2 * sps.t.sf(np.abs(z), t_df)
        half = sps.t.ppf(0.975, t_df) * se
    ok = converged and np.isfinite(se)
    return pd.DataFrame(
        {
            "term": fe.index,
            "coef": coef,
            "se": np.where(ok, se, np.nan),
            "z": np.where(ok, z, np.nan),
            "p": np.where(ok, p, np.nan),
            "ci_low": np.where(ok, coef - half, np.nan),
            "ci_high": np.where(ok, coef + half, np.nan),
            "converged": converged,
            "n_groups": d[groups].nunique(),
            "n_obs": len(d),
            "df": np.nan if t_df is None else float(t_df),
        }
    )


def _multitest(p, alpha: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels' ``multipletests`` over the finite entries of ``p`` (NaN: adjusted NaN, not
    rejected); ``reject`` is adjusted p <= ``alpha``."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=np.float64)
    adj = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        adj[ok] = multipletests(p[ok], alpha=alpha, method=method)[1]
    reject = np.zeros(p.shape, dtype=bool)
    reject[ok] = adj[ok] <= alpha
    return reject, adj


def fdr_bh(p: Sequence[float] | np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini–Hochberg false-discovery-rate control (statsmodels ``fdr_bh``).

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
    return _multitest(p, alpha, "fdr_bh")


def holm(p: Sequence[float] | np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm–Bonferroni family-wise error control (statsmodels ``holm``); returns ``(reject,
    adjusted p)``, NaN entries ignored as in :func:`fdr_bh`."""
    return _multitest(p, alpha, "holm")
