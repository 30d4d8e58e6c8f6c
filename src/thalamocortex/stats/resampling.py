"""Resampling statistics with mice as the unit of replication.

Hierarchical bootstrap (Saravanan, Berman & Sober 2020, "Application of the hierarchical
bootstrap to multi-level data in neuroscience"): resample the top level (mice) with
replacement, then, within every drawn unit, the next level (sessions, ROIs, trials), and so on.
Drawing a unit ``c`` times and resampling its ``n`` children independently each time is the
same, in distribution, as one multinomial draw of ``c * n`` children, so every level is drawn
for all bootstrap replicates at once as a weight matrix (replicates x rows); the loop runs over
groups, never over replicates.

Permutation tests: paired sign-flip tests over units (exact enumeration when there are few
units), label permutations between groups of units, and exact empirical p-values
``(k + 1) / (n + 1)`` (Phipson & Smyth 2010) for random resamples.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from thalamocortex.data.errors import DataError

StatFunc = Callable[[np.ndarray, np.ndarray], np.ndarray]


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of ``values`` (rows,) under each row of ``weights`` (replicates x rows)."""
    tot = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ values) / tot


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted median of ``values`` under each row of ``weights`` (replicates x rows)."""
    order = np.argsort(values)
    v = values[order]
    cw = np.cumsum(weights[:, order], axis=1)
    half = cw[:, -1:] / 2.0
    idx = (cw < half).sum(axis=1)
    return v[np.minimum(idx, len(v) - 1)]


_STATS: dict[str, StatFunc] = {"mean": weighted_mean, "median": weighted_median}


def _check_columns(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"{what}: missing columns {missing}; has {list(df.columns)}")


def hierarchical_weights(
    df: pd.DataFrame,
    levels: Sequence[str],
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Bootstrap weights of every row of ``df`` for a nested resampling over ``levels``.

    Parameters
    ----------
    df : DataFrame
        One row per observation (the lowest level is the row itself, unless ``levels`` names a
        column that uniquely identifies rows).
    levels : sequence of str
        Columns from the top level (e.g. ``"mouse"``) down. Each level is nested in the one
        above it (identified by the tuple of all columns so far). Rows are resampled within the
        lowest listed level.
    n_boot : int
        Replicates.
    rng : Generator

    Returns
    -------
    weights : array (n_boot, n_rows) float64
        How often each row appears in each replicate.
    """
    levels = list(levels)
    _check_columns(df, levels, "hierarchical_weights")
    return _nested_given_counts(df, levels, np.ones(n_boot, dtype=np.int64), rng)


@dataclass
class BootstrapResult:
    """A hierarchical-bootstrap estimate per group.

    Attributes
    ----------
    groups : list
        Group keys (``None`` when no grouping).
    estimate : array (n_groups,)
        The statistic on the original data.
    replicates : array (n_boot, n_groups)
        The statistic on each replicate; replicates share the top-level draw across groups
        (paired), so contrasts between groups keep the pairing of units.
    """

    groups: list
    estimate: np.ndarray
    replicates: np.ndarray
    ci_level: float = 0.95

    def ci(self, level: float | None = None) -> np.ndarray:
        """Percentile confidence interval per group, shape (n_groups, 2)."""
        level = self.ci_level if level is None else level
        q = [(1 - level) / 2, 1 - (1 - level) / 2]
        return np.nanquantile(self.replicates, q, axis=0).T

    def table(self) -> pd.DataFrame:
        lo_hi = self.ci()
        return pd.DataFrame(
            {
                "group": self.groups,
                "estimate": self.estimate,
                "ci_low": lo_hi[:, 0],
                "ci_high": lo_hi[:, 1],
                "se": np.nanstd(self.replicates, axis=0, ddof=1),
            }
        )

    def contrast(self, a, b) -> dict:
        """Difference ``a - b`` between two groups: estimate, CI and a two-sided bootstrap p.

        The p-value is the two-sided fraction of replicate differences on the far side of
        zero, ``min(1, 2 * (k + 1) / (n + 1))`` with ``k`` the count of replicates of the
        opposite sign to the estimate (a percentile-bootstrap test; Saravanan et al. 2020).
        """
        ia, ib = self.groups.index(a), self.groups.index(b)
        d = self.replicates[:, ia] - self.replicates[:, ib]
        d = d[np.isfinite(d)]
        est = float(self.estimate[ia] - self.estimate[ib])
        k = int((d <= 0).sum()) if est > 0 else int((d >= 0).sum())
        p = min(1.0, 2.0 * (k + 1) / (len(d) + 1))
        lo, hi = np.quantile(d, [(1 - self.ci_level) / 2, 1 - (1 - self.ci_level) / 2])
        return {"a": a, "b": b, "difference": est, "ci_low": lo, "ci_high": hi, "p": p}


def hierarchical_bootstrap(
    df: pd.DataFrame,
    value: str,
    levels: Sequence[str] = ("mouse",),
    stat: str | StatFunc = "mean",
    by: str | Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
) -> BootstrapResult:
    """Hierarchical bootstrap of a statistic of ``value``, optionally per group ``by``.

    Parameters
    ----------
    df : DataFrame
        Long table, one row per lowest-level observation (e.g. ROI x session).
    value : str
        Column of the measured value (NaN rows are dropped).
    levels : sequence of str
        Nesting from the top, e.g. ``("mouse", "session")``; rows are resampled within the
        last level.
    stat : "mean", "median" or callable(values (rows,), weights (n_boot, rows)) -> (n_boot,)
    by : column(s), optional
        Groups compared with paired replicates: the top level is drawn once per replicate and
        shared by all groups (a mouse drawn twice counts twice in every group), lower levels
        are resampled within each group.
    n_boot : int
    seed : int
    ci_level : float

    Returns
    -------
    BootstrapResult
    """
    _check_columns(df, [value, *levels], "hierarchical_bootstrap")
    f = _STATS[stat] if isinstance(stat, str) else stat
    d = df[np.isfinite(df[value].to_numpy(dtype=np.float64))].reset_index(drop=True)
    if len(d) == 0:
        raise DataError(f"hierarchical_bootstrap: no finite values in column {value!r}")
    rng = np.random.default_rng(seed)
    top = levels[0]
    if by is None:
        keys = [None]
        group_idx = [np.arange(len(d))]
    else:
        by_cols = [by] if isinstance(by, str) else list(by)
        _check_columns(d, by_cols, "hierarchical_bootstrap")
        g = d.groupby(by_cols, sort=True, observed=True)
        ind = g.indices
        keys = [k[0] if isinstance(k, tuple) and len(k) == 1 else k for k in ind]
        group_idx = [np.asarray(ix) for ix in ind.values()]
    # shared top-level draw (paired across groups)
    units = np.sort(d[top].unique())
    top_w = rng.multinomial(np.full(n_boot, len(units)), np.full(len(units), 1 / len(units)))
    unit_pos = {u: i for i, u in enumerate(units)}
    est = np.empty(len(keys))
    reps = np.empty((n_boot, len(keys)))
    vals_all = d[value].to_numpy(np.float64)
    for gi, ix in enumerate(group_idx):
        sub = d.iloc[ix]
        vals = vals_all[ix]
        est[gi] = f(vals, np.ones((1, len(vals))))[0]
        w = np.zeros((n_boot, len(sub)))
        sub_units = sub[top].to_numpy()
        for u in np.unique(sub_units):
            rows = np.flatnonzero(sub_units == u)
            c = top_w[:, unit_pos[u]]
            # resample lower levels of this unit as c independent copies
            wu = _nested_given_counts(sub.iloc[rows], list(levels[1:]), c, rng)
            w[:, rows] = wu
        with np.errstate(invalid="ignore", divide="ignore"):
            reps[:, gi] = f(vals, w)
    return BootstrapResult(groups=keys, estimate=est, replicates=reps, ci_level=ci_level)


def _nested_given_counts(
    df: pd.DataFrame, levels: list[str], counts: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Row weights below one top-level unit drawn ``counts`` (n_boot,) times."""
    n_boot = len(counts)
    codes = [
        df.groupby(levels[: i + 1], sort=True, observed=True).ngroup().to_numpy()
        for i in range(len(levels))
    ]
    codes.append(np.arange(len(df)))
    parent_code = np.zeros(len(df), dtype=np.int64)
    parent_w = counts.reshape(n_boot, 1).astype(np.int64)
    for code in codes:
        n_units = int(code.max()) + 1
        unit_parent = np.zeros(n_units, dtype=np.int64)
        unit_parent[code] = parent_code
        w = np.zeros((n_boot, n_units), dtype=np.int64)
        for p in range(parent_w.shape[1]):
            children = np.flatnonzero(unit_parent == p)
            k = len(children)
            w[:, children] = rng.multinomial(parent_w[:, p] * k, np.full(k, 1.0 / k))
        parent_code, parent_w = code, w
    return parent_w.astype(np.float64)


# ---------------------------------------------------------------------------------------------
# permutation tests
# ---------------------------------------------------------------------------------------------


def empirical_p(null: np.ndarray, observed: np.ndarray | float, tail: str = "two-sided"):
    """Exact empirical p-value ``(k + 1) / (n + 1)`` of ``observed`` against ``null``.

    ``null`` has the resamples on axis 0; ``observed`` broadcasts against ``null[0]``.
    ``tail``: "greater" (k = #null >= observed), "less", or "two-sided" (twice the smaller
    one-sided p, capped at 1).
    """
    null = np.asarray(null)
    obs = np.asarray(observed)
    n = null.shape[0]
    ge = ((null >= obs).sum(axis=0) + 1) / (n + 1)
    le = ((null <= obs).sum(axis=0) + 1) / (n + 1)
    if tail == "greater":
        return ge
    if tail == "less":
        return le
    if tail == "two-sided":
        return np.minimum(1.0, 2 * np.minimum(ge, le))
    raise ValueError(f"empirical_p: tail must be 'greater', 'less' or 'two-sided', got {tail!r}")


def _sign_matrix(n: int, n_perm: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Sign flips (rows) for a paired test: all 2**n when that is <= n_perm, else random."""
    if 2**n <= n_perm:
        return np.array(list(itertools.product((1.0, -1.0), repeat=n))), True
    return rng.choice((-1.0, 1.0), size=(n_perm, n)), False


def permutation_test_paired(
    a: np.ndarray,
    b: np.ndarray | None = None,
    n_perm: int = 10000,
    seed: int = 0,
    tail: str = "two-sided",
) -> dict:
    """Paired sign-flip permutation test of the mean difference ``a - b`` over units.

    Parameters
    ----------
    a, b : array (n_units,)
        Paired values per unit (e.g. per mouse: expert and naive). With ``b`` None, ``a`` are
        the differences. NaN pairs are dropped.
    n_perm : int
        Random sign flips; when ``2**n_units <= n_perm`` all flips are enumerated and the
        p-value is exact (``k / 2**n``, identity included).
    tail : "two-sided", "greater" or "less"

    Returns
    -------
    dict with ``statistic`` (mean difference), ``p``, ``n`` (units), ``exact`` (bool).
    """
    d = np.asarray(a, dtype=np.float64)
    if b is not None:
        d = d - np.asarray(b, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return {"statistic": np.nan, "p": np.nan, "n": 0, "exact": False}
    rng = np.random.default_rng(seed)
    signs, exact = _sign_matrix(n, n_perm, rng)
    obs = d.mean()
    null = signs @ d / n
    tol = 1e-12 * max(1.0, abs(obs))
    if tail == "two-sided":
        k = (np.abs(null) >= abs(obs) - tol).sum()
    elif tail == "greater":
        k = (null >= obs - tol).sum()
    elif tail == "less":
        k = (null <= obs + tol).sum()
    else:
        raise ValueError(f"permutation_test_paired: unknown tail {tail!r}")
    p = k / len(null) if exact else (k + 1) / (len(null) + 1)
    return {"statistic": float(obs), "p": float(p), "n": n, "exact": exact}


def permutation_test_groups(
    values: np.ndarray,
    labels: np.ndarray,
    n_perm: int = 10000,
    seed: int = 0,
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> dict:
    """Two-sided permutation test of a difference between groups of units.

    Parameters
    ----------
    values : array (n_units,)
        One value per unit (e.g. per mouse).
    labels : array (n_units,)
        Group label per unit; permuted across units.
    statistic : callable(values, label_matrix (n_perm, n_units) int codes) -> (n_perm,)
        Default: the F-like between-group variance of group means (any number of groups).

    Returns
    -------
    dict with ``statistic``, ``p`` (exact empirical), ``n_perm``.
    """
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    v = v[ok]
    codes = pd.factorize(np.asarray(labels)[ok])[0]
    rng = np.random.default_rng(seed)
    perm = np.argsort(rng.random((n_perm, len(v))), axis=1)
    lab = np.vstack([codes[None, :], codes[perm]])
    f = statistic or _between_group_variance
    s = f(v, lab)
    p = empirical_p(s[1:], s[0], tail="greater")
    return {"statistic": float(s[0]), "p": float(p), "n_perm": n_perm}


def _between_group_variance(v: np.ndarray, lab: np.ndarray) -> np.ndarray:
    k = lab.max() + 1
    onehot = lab[..., None] == np.arange(k)  # (rows, units, groups)
    cnt = onehot.sum(axis=1)
    means = np.einsum("u,rug->rg", v, onehot) / np.maximum(cnt, 1)
    return (cnt * (means - v.mean()) ** 2).sum(axis=1)


def unit_slopes(df: pd.DataFrame, x: str, y: str, unit: str = "mouse") -> pd.DataFrame:
    """Least-squares slope of ``y`` on ``x`` within each unit (e.g. a mouse's learning trend).

    Returns a DataFrame with ``unit``, ``slope``, ``n`` (points); units with fewer than two
    distinct ``x`` get NaN.
    """
    _check_columns(df, [x, y, unit], "unit_slopes")
    d = df[[unit, x, y]].dropna()
    rows = []
    for u, g in d.groupby(unit, sort=True):
        xv = g[x].to_numpy(np.float64)
        yv = g[y].to_numpy(np.float64)
        xc = xv - xv.mean()
        den = (xc**2).sum()
        slope = (xc * (yv - yv.mean())).sum() / den if den > 0 else np.nan
        rows.append({unit: u, "slope": slope, "n": len(g)})
    return pd.DataFrame(rows, columns=[unit, "slope", "n"])
