"""Mouse-level tests on per-mouse summary statistics (the two-stage approach).

Why two stages. Every claim of the study is about mice (SCIENCE.md §3): "in motor-thalamus
mice the movement-related fraction rises with learning", "in expert mice thalamic drive is
enriched for movement-encoding neurons". The first stage reduces each mouse to one number that
answers the question for that mouse (its expert-minus-naive change, its log odds ratio, its
light-on-minus-light-off difference); the second stage tests those numbers across mice. This is
the summary-statistics approach to repeated measures (Holmes & Friston 1998, "Generalisability,
random effects and population inference"; Aarts et al. 2014, Nat Neurosci 17:491, for
neuroscience): the spread of the per-mouse numbers contains every source of variability — trials,
neurons, sessions *and* mice that differ in their change — so the test is valid whatever the
within-mouse structure, and it is exact under normality of the per-mouse values. Tests that use
within-mouse variability (trial- or neuron-level permutations, bootstraps with 3 mice, mixed
models with a random intercept only) are anti-conservative as soon as mice differ in their change
(issue 11 measured 22-44 % false positives at alpha 0.05); they are kept only as labelled
secondary analyses.

Why t-tests and not sign-flips. With the 3-8 mice per group labs use, an exact sign-flip over
mice cannot reject: its smallest two-sided p is ``2 / 2**n`` (0.25 at 3 mice). The t-test uses
the magnitude of the per-mouse values, so it can, at the price of assuming they are roughly
normal (averages over sessions, trials and neurons are). Its false-positive rate is measured on
null cohorts by ``thalamocortex validate`` rather than assumed.

Why a pooled variance for regions. Region x learning compares 3-5 mice per input region. A
one-sample t-test per region has ``n - 1 = 2`` degrees of freedom at 3 mice (critical t = 4.3),
which wastes the other regions' information about the between-mouse spread. The one-way ANOVA
model ``change_mouse = mu_region + error`` with one error variance estimated from all regions of
an experiment has ``n_mice - n_regions`` degrees of freedom (8 with 4 x 3 mice, critical t =
2.3); each region's mean is tested against 0 with that pooled variance (the classical ANOVA
contrast t-test). Its assumption, a common between-mouse variance across regions, is checked by
the calibration on null cohorts whose regions differ in baseline; ``region_variance =
"per_region"`` gives the unpooled test. Where the assumption fails for a known reason — the
sampling noise of the estimate differs between regions, as the population onset of a region
with few movement-related axons does — and that noise is measured (a trial bootstrap),
:func:`weighted_group_tests` keeps the pooled between-mouse variance and adds each region's
own sampling variance (a random-effects meta-regression).

Which region changes most. :func:`region_contrasts` compares each region with the mean of the
others (studentised with the pooled variance) and controls the family-wise error over regions
with the single-step max-T permutation method (Westfall & Young 1993): mice are exchangeable
between regions under the null that regions do not differ, so permuting region labels across
mice gives the exact null distribution of the largest |t|, with no normality assumption.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from math import factorial, prod

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.optimize import brentq

from thalamocortex.stats.models import fdr_bh, holm

#: Columns of a mouse-level test result (see :func:`mean_test`).
RESULT_KEYS: tuple[str, ...] = (
    "n_mice",
    "estimate",
    "se",
    "df",
    "statistic",
    "p",
    "ci_low",
    "ci_high",
)


def _empty(n: int = 0, estimate: float = np.nan) -> dict:
    return {
        "n_mice": n,
        "estimate": estimate,
        "se": np.nan,
        "df": np.nan,
        "statistic": np.nan,
        "p": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
    }


def mean_test(
    values: Sequence[float] | np.ndarray,
    ci_level: float = 0.95,
    alternative: str = "two-sided",
) -> dict:
    """One-sample t-test of the mean of per-mouse values against 0.

    Parameters
    ----------
    values : array (n_mice,)
        One value per mouse (NaN dropped).
    ci_level : float
        Confidence level of the interval of the mean.
    alternative : {"two-sided", "greater", "less"}

    Returns
    -------
    dict with ``n_mice``, ``estimate`` (mean), ``se``, ``df`` (n - 1), ``statistic`` (t), ``p``,
    ``ci_low``, ``ci_high``; p and CI are NaN with fewer than 2 mice or no spread.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return _empty()
    out = _empty(n, float(x.mean()))
    if n < 2 or not np.ptp(x) > 0:
        return out
    res = sps.ttest_1samp(x, 0.0, alternative=alternative)
    ci = res.confidence_interval(ci_level)
    out.update(
        se=float(x.std(ddof=1) / np.sqrt(n)),
        df=float(n - 1),
        statistic=float(res.statistic),
        p=float(res.pvalue),
        ci_low=float(ci.low),
        ci_high=float(ci.high),
    )
    return out


def group_tests(
    values: Sequence[float] | np.ndarray,
    groups: Sequence | np.ndarray,
    pooled: bool = True,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Test each group's mean of per-mouse values against 0.

    Parameters
    ----------
    values : array (n_mice,)
        One value per mouse (e.g. its expert - naive change); NaN dropped.
    groups : array (n_mice,)
        Group of each mouse (e.g. its input region).
    pooled : bool
        One residual variance from all groups (one-way ANOVA, ``df = n_mice - n_groups``);
        else each group's own variance (``df = n_group - 1``).
    ci_level : float

    Returns
    -------
    DataFrame indexed by group (sorted) with :data:`RESULT_KEYS`.
    """
    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(groups)
    ok = np.isfinite(v)
    v, g = v[ok], g[ok]
    keys = sorted(pd.unique(g)) if len(g) else []
    if not pooled:
        rows = {k: mean_test(v[g == k], ci_level) for k in keys}
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(RESULT_KEYS))
    n = np.array([(g == k).sum() for k in keys])
    means = np.array([v[g == k].mean() for k in keys])
    ss = float(sum(((v[g == k] - m) ** 2).sum() for k, m in zip(keys, means, strict=True)))
    df = int(n.sum() - len(keys))
    rows = {
        k: _t_result(int(nk), float(mk), np.sqrt(ss / df / nk) if df > 0 else np.nan, df, ci_level)
        for k, nk, mk in zip(keys, n, means, strict=True)
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(RESULT_KEYS))


def _t_result(n: int, estimate: float, se: float, df: int, ci_level: float) -> dict:
    """A :data:`RESULT_KEYS` row of the t-test of ``estimate`` against 0 with standard error
    ``se`` on ``df`` degrees of freedom (p and CI NaN when ``se`` is not positive or df < 1)."""
    r = _empty(n, estimate)
    if df > 0 and se > 0:
        t = estimate / se
        half = sps.t.ppf(0.5 + ci_level / 2, df) * se
        r.update(
            se=se,
            df=float(df),
            statistic=t,
            p=float(2 * sps.t.sf(abs(t), df)),
            ci_low=estimate - half,
            ci_high=estimate + half,
        )
    return r


def _paule_mandel_tau2(y: np.ndarray, s2: np.ndarray, x: np.ndarray) -> float:
    """Between-mouse variance of a meta-regression by the Paule-Mandel (generalised Q) method.

    The tau² at which the weighted residual sum of squares ``Q(tau²) = sum w_i r_i²`` (weights
    ``1 / (tau² + s2_i)``, residuals of the weighted least-squares fit) equals its expectation
    ``n - p``; 0 when ``Q(0) <= n - p``. Recommended over DerSimonian-Laird for few studies
    (Veroniki et al. 2016, Res Synth Methods 7:55). statsmodels implements it only for a single
    mean (``combine_effects``), not with group indicators, hence these lines.
    """
    n, k = x.shape

    def q(tau2: float) -> float:
        w = 1.0 / (tau2 + s2)
        sw = np.sqrt(w)
        beta = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
        return float(np.sum(w * (y - x @ beta) ** 2)) - (n - k)

    if q(0.0) <= 0:
        return 0.0
    hi = max(float(np.var(y)), float(np.max(s2)), 1e-12)
    while q(hi) > 0:
        hi *= 4.0
    return float(brentq(q, 0.0, hi, xtol=1e-12 * hi))


def weighted_group_tests(
    values: Sequence[float] | np.ndarray,
    variances: Sequence[float] | np.ndarray,
    groups: Sequence | np.ndarray,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Test each group's mean of per-mouse values against 0 when the values' sampling noise
    differs between groups.

    The per-mouse values are estimates with a known sampling variance (e.g. from a trial
    bootstrap) that is larger in some groups than in others — a region with few movement-related
    axons times its responses poorly — so the common variance of :func:`group_tests` would
    make that group's test too liberal and the others' too strict. Two-stage random-effects
    model (a meta-regression with group indicators): ``value_i = mu_g + u_i + e_i`` with
    ``u_i ~ N(0, tau²)`` the between-mouse spread of the true change, common to the groups as
    in :func:`group_tests`, and ``e_i`` the sampling error, of variance ``vbar_g`` = the mean
    of the group's per-mouse sampling variances. Within a group the mice count equally (the
    estimate is the plain mean, whose variance is exactly ``(tau² + vbar_g) / n_g``); per-
    mouse weights ``1 / (tau² + variance_i)`` were tried and rejected: a bootstrap variance of
    one mouse is too noisy to weight by (on whole-pipeline null banks it made the onset test
    reject 15 % of null cohorts; docs/statistics.md). tau² by Paule-Mandel, each mean tested
    with the Knapp-Hartung t (weighted least squares with its residual scale, ``df = n_mice -
    n_groups``; Knapp & Hartung 2003, Stat Med 22:2693). With equal variances in every group
    the test is exactly the pooled-variance t of :func:`group_tests`.

    Parameters
    ----------
    values, variances : array (n_mice,)
        Per-mouse value and the sampling variance of that value; mice with a non-finite value
        or variance are dropped.
    groups : array (n_mice,)
    ci_level : float

    Returns
    -------
    DataFrame indexed by group (sorted) with :data:`RESULT_KEYS`.
    """
    import statsmodels.api as sm

    v = np.asarray(values, dtype=np.float64)
    s2 = np.asarray(variances, dtype=np.float64)
    g = np.asarray(groups)
    ok = np.isfinite(v) & np.isfinite(s2) & (s2 >= 0)
    v, s2, g = v[ok], s2[ok], g[ok]
    keys = sorted(pd.unique(g)) if len(g) else []
    df = len(v) - len(keys)
    rows = {k: _empty(int((g == k).sum()), float(v[g == k].mean())) for k in keys}
    if not keys or df <= 0 or not np.ptp(v) > 0:
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(RESULT_KEYS))
    x = np.column_stack([(g == k).astype(np.float64) for k in keys])
    vbar = x @ np.array([s2[g == k].mean() for k in keys])
    tau2 = _paule_mandel_tau2(v, vbar, x)
    w = 1.0 / np.maximum(tau2 + vbar, np.finfo(np.float64).tiny)
    fit = sm.WLS(v, x, weights=w).fit()  # its scale sum(w r²) / df is the Knapp-Hartung factor
    for j, k in enumerate(keys):
        rows[k] = _t_result(
            rows[k]["n_mice"], float(fit.params[j]), float(fit.bse[j]), df, ci_level
        )
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(RESULT_KEYS))


def _n_assignments(counts: np.ndarray) -> int:
    return factorial(int(counts.sum())) // prod(factorial(int(c)) for c in counts)


def _all_assignments(codes: np.ndarray) -> np.ndarray:
    """Every distinct assignment of the group labels ``codes`` to positions (rows)."""
    counts = np.bincount(codes)
    n = len(codes)
    out: list[np.ndarray] = []

    def fill(pos_left: tuple[int, ...], g: int, current: np.ndarray) -> None:
        if g == len(counts) - 1:
            cur = current.copy()
            cur[list(pos_left)] = g
            out.append(cur)
            return
        for chosen in itertools.combinations(pos_left, int(counts[g])):
            cur = current.copy()
            cur[list(chosen)] = g
            rest = tuple(p for p in pos_left if p not in chosen)
            fill(rest, g + 1, cur)

    fill(tuple(range(n)), 0, np.zeros(n, dtype=np.int64))
    return np.array(out)


def label_permutations(
    codes: np.ndarray, n_perm: int, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """Permuted group labels, observed first: all distinct ones when there are at most
    ``n_perm``, else ``n_perm`` random ones.

    Returns
    -------
    labels : array (n_rows, n_units) int
        Row 0 is ``codes``.
    exact : bool
        True when every distinct assignment is enumerated (row 0 is one of them).
    """
    codes = np.asarray(codes, dtype=np.int64)
    counts = np.bincount(codes)
    if _n_assignments(counts) <= n_perm:
        allp = _all_assignments(codes)
        same = np.all(allp == codes, axis=1)
        return np.vstack([codes[None, :], allp[~same]]), True
    perm = np.argsort(rng.random((n_perm, len(codes))), axis=1)
    return np.vstack([codes[None, :], codes[perm]]), False


def _contrast_t(v: np.ndarray, lab: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Contrasts (group mean - mean of the other groups' means) and their pooled-variance t.

    ``lab`` (rows, units) holds group codes; returns (contrast, t), each (rows, groups).
    """
    onehot = lab[..., None] == np.arange(n_groups)  # rows x units x groups
    cnt = onehot.sum(axis=1).astype(np.float64)  # the same in every row
    sums = np.einsum("u,rug->rg", v, onehot)
    means = sums / cnt
    ss = (v**2).sum() - (cnt * means**2).sum(axis=1)
    df = len(v) - n_groups
    s2 = np.maximum(ss, 0.0) / df if df > 0 else np.full(len(ss), np.nan)
    others = (means.sum(axis=1, keepdims=True) - means) / (n_groups - 1)
    contrast = means - others
    inv = 1.0 / cnt[0]
    factor = inv + (inv.sum() - inv) / (n_groups - 1) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        t = contrast / np.sqrt(s2[:, None] * factor[None, :])
    return contrast, t


def region_contrasts(
    values: Sequence[float] | np.ndarray,
    groups: Sequence | np.ndarray,
    n_perm: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Which group differs from the others: each group's mean against the mean of the others.

    Parameters
    ----------
    values : array (n_mice,)
        One value per mouse (its change); NaN dropped.
    groups : array (n_mice,)
        Group (region) of each mouse.
    n_perm : int
        Label permutations (every distinct one when there are fewer).
    seed : int
    ci_level : float

    Returns
    -------
    DataFrame indexed by group (sorted): ``n_mice``, ``change`` (group mean), ``contrast``
    (group mean - unweighted mean of the other groups' means), ``se``, ``df``, ``statistic``
    (pooled-variance t), ``p_parametric`` (unadjusted, t distribution), ``ci_low``/``ci_high``
    (of the contrast), ``p_maxt`` (family-wise adjusted over groups, single-step max-T
    permutation), ``exact`` (all label assignments enumerated), ``n_permutations``. Empty with
    fewer than 2 groups; p-values NaN when ``n_mice - n_groups < 1``.
    """
    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(groups)
    ok = np.isfinite(v)
    v, g = v[ok], g[ok]
    keys = sorted(pd.unique(g)) if len(g) else []
    cols = [
        "n_mice",
        "change",
        "contrast",
        "se",
        "df",
        "statistic",
        "p_parametric",
        "ci_low",
        "ci_high",
        "p_maxt",
        "exact",
        "n_permutations",
    ]
    if len(keys) < 2:
        return pd.DataFrame(columns=cols)
    codes = np.array([keys.index(x) for x in g], dtype=np.int64)
    counts = np.bincount(codes, minlength=len(keys))
    df = len(v) - len(keys)
    contrast, t = _contrast_t(v, codes[None, :], len(keys))
    contrast, t = contrast[0], t[0]
    out = pd.DataFrame(index=pd.Index(keys), columns=cols, dtype=object)
    out["n_mice"] = counts
    out["change"] = [v[codes == i].mean() for i in range(len(keys))]
    out["contrast"] = contrast
    out["df"] = float(df) if df > 0 else np.nan
    se = np.where(np.isfinite(t) & (t != 0), np.abs(contrast / np.where(t == 0, 1, t)), np.nan)
    out["se"] = se
    out["statistic"] = t
    if df > 0 and np.all(np.isfinite(t)):
        half = sps.t.ppf(0.5 + ci_level / 2, df) * se
        out["p_parametric"] = 2 * sps.t.sf(np.abs(t), df)
        out["ci_low"] = contrast - half
        out["ci_high"] = contrast + half
        lab, exact = label_permutations(codes, n_perm, np.random.default_rng(seed))
        _, tp = _contrast_t(v, lab, len(keys))
        maxt = np.nanmax(np.abs(tp), axis=1)
        obs = np.abs(t)[None, :]
        k = (maxt[:, None] >= obs - 1e-12 * np.maximum(1.0, obs)).sum(axis=0)
        # exact: the share of all assignments; random: (k + 1) / (n + 1) (Phipson & Smyth
        # 2010), the observed labels (row 0) counting as the "+1"
        out["p_maxt"] = k / len(maxt)
        out["exact"] = exact
        out["n_permutations"] = len(maxt) - (0 if exact else 1)
    else:
        out["exact"] = False
        out["n_permutations"] = 0
    return out.astype(
        {c: np.float64 for c in cols if c not in ("exact", "n_mice", "n_permutations")}
    )


def adjust(p: Sequence[float] | np.ndarray, method: str = "holm", alpha: float = 0.05):
    """Multiple-comparison control within one family: ``(reject, adjusted p)``.

    ``method``: "holm" (family-wise error) or "fdr_bh" (false discovery rate); NaN p-values
    are not counted in the family and stay NaN / not rejected.
    """
    if method == "holm":
        return holm(p, alpha)
    if method == "fdr_bh":
        return fdr_bh(p, alpha)
    raise ValueError(f"adjust: method must be 'holm' or 'fdr_bh', got {method!r}")


def rate_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact binomial) interval of a rate ``k / n`` (NaN when ``n == 0``)."""
    if n == 0:
        return (np.nan, np.nan)
    ci = sps.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)
