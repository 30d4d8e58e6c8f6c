"""Relation between thalamic drive and movement encoding of the same M1 neurons.

Inputs are long tables, one row per neuron and session: the photostimulation classification
(:func:`thalamocortex.opto.classify.classify_responses` plus ``mouse``, ``session``, ``day``,
``roi_name``) and the encoding analysis's table (``mouse``, ``session``, ``roi_name``, a
movement-encoding score and a boolean movement-related class), both keyed by
(``mouse``, ``session``, ``roi_name``); identity across sessions is resolved separately.

Primary tests (mice are the unit of replication; two-stage, :mod:`thalamocortex.stats.summary`):

* **Expert enrichment** of movement-encoding neurons among thalamus-activated neurons
  (:func:`mouse_level_tests`): per expert session the log odds ratio of (activated,
  movement-related) with the Haldane-Anscombe +0.5 correction — finite when a cell of the 2x2
  table is empty, and nearly unbiased under independence (Gart & Zweifel 1967) — averaged over
  the mouse's expert sessions; one-sample t-test across opsin mice.
* **Naive vs expert drive of the same neurons**: per mouse, on the neurons tracked in both
  stages, the expert - naive drive change of the neurons that are movement-related in the
  expert minus that of the other neurons (``paired_drive_refinement``: thalamic drive refines
  toward the neurons that come to encode the learned movement); one-sample t-test across mice.

Secondary analyses (labelled; the neuron-level ones are statements about the recorded neurons
of these mice, not about mice):

* the difference of proportions P(activated | movement-related) - P(activated | other), the
  naive enrichment and its naive-to-expert change, per-mouse t-tests, Holm within the family;
* Mantel–Haenszel odds ratio pooled over populations with a within-population permutation null
  (exact hypergeometric draws) and a hierarchical-bootstrap interval (:func:`enrichment`);
* rank correlation of drive and encoding score (:func:`drive_encoding_correlation`);
* suppression of unrelated neurons (the same enrichment machinery), per-population statistics
  and the other per-mouse naive-vs-expert contrasts of :func:`naive_vs_expert` (t-test and
  sign-flip across mice), a mixed model ``drive ~ movement_related * stage`` with a random
  intercept per mouse (no p-value when it did not converge). "The same neuron" is equal
  ``roi_name`` or the preprocess stage's cross-session tracking (``OptoParams.identity``,
  :mod:`thalamocortex.opto.identity`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from thalamocortex.data.errors import DataError
from thalamocortex.opto.params import OptoParams
from thalamocortex.stats import hierarchical_weights, mixed_model, permutation_test_paired
from thalamocortex.stats.primary import PRIMARY, SECONDARY, as_test_table, correct_family
from thalamocortex.stats.summary import mean_test

KEYS: tuple[str, ...] = ("mouse", "session", "roi_name")


def learning_stage(day: np.ndarray | pd.Series, params: OptoParams | None = None) -> np.ndarray:
    """'naive' / 'expert' / 'intermediate' from the training day (parameters set the bounds)."""
    params = params or OptoParams()
    d = np.asarray(day, dtype=np.float64)
    return np.where(
        d <= params.naive_max_day,
        "naive",
        np.where(d >= params.expert_min_day, "expert", "intermediate"),
    )


def _require(df: pd.DataFrame, cols, what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"missing columns {missing}; has {list(df.columns)}", field=what)


def merge_drive_encoding(
    drive: pd.DataFrame, encoding: pd.DataFrame, params: OptoParams | None = None
) -> pd.DataFrame:
    """Join the classification and encoding tables on (mouse, session, roi_name).

    Parameters
    ----------
    drive : DataFrame
        ``mouse``, ``session``, ``roi_name``, ``drive``, ``response_class`` (+ ``day``).
    encoding : DataFrame
        ``mouse``, ``session``, ``roi_name`` and the columns named by
        ``params.encoding_score_column`` / ``params.encoding_class_column``.

    Returns
    -------
    DataFrame with the drive columns plus ``encoding_score`` (float), ``movement_related``
    (bool), ``activated`` and ``suppressed`` (bool), and ``stage`` (from ``day`` when missing).
    """
    params = params or OptoParams()
    _require(drive, [*KEYS, "drive", "response_class"], "opto drive table")
    score, cls = params.encoding_score_column, params.encoding_class_column
    _require(encoding, [*KEYS, score, cls], "encoding table")
    enc = encoding[[*KEYS, score, cls]].rename(
        columns={score: "encoding_score", cls: "movement_related"}
    )
    if enc.duplicated(list(KEYS)).any():
        raise DataError("duplicate (mouse, session, roi_name) rows", field="encoding table")
    out = drive.drop(
        columns=[c for c in ("encoding_score", "movement_related") if c in drive.columns]
    ).merge(enc, on=list(KEYS), how="inner")
    out["encoding_score"] = out["encoding_score"].astype(np.float64)
    out["movement_related"] = out["movement_related"].astype(bool)
    out["activated"] = out["response_class"].eq("activated")
    out["suppressed"] = out["response_class"].eq("suppressed")
    out = out[out["response_class"] != "untested"].reset_index(drop=True)
    if "stage" not in out.columns:
        if "day" not in out.columns:
            raise DataError("need 'stage' or 'day' to tell naive from expert", field="drive table")
        out["stage"] = learning_stage(out["day"], params)
    return out


# ---------------------------------------------------------------------------------------------
# enrichment
# ---------------------------------------------------------------------------------------------


def _cells(df: pd.DataFrame, row: str, col: str, strata) -> pd.DataFrame:
    """2x2 counts a (row & col), b (row & ~col), c (~row & col), d (~row & ~col) per stratum."""
    r = df[row].to_numpy(bool)
    c = df[col].to_numpy(bool)
    tmp = pd.DataFrame({"a": r & c, "b": r & ~c, "c": ~r & c, "d": ~r & ~c})
    for k in strata:
        tmp[k] = df[k].to_numpy()
    cells = tmp.groupby(list(strata), sort=True, observed=True)[["a", "b", "c", "d"]].sum()
    return cells.astype(np.float64)


def mantel_haenszel_or(a, b, c, d, axis: int = -1) -> np.ndarray:
    """Mantel–Haenszel pooled odds ratio over strata (last axis) of 2x2 counts.

    ``a`` = row & col, ``b`` = row & ~col, ``c`` = ~row & col, ``d`` = ~row & ~col.
    Returns NaN when undefined (no discordant information), +inf when only a*d > 0.
    """
    a, b, c, d = (np.asarray(x, dtype=np.float64) for x in (a, b, c, d))
    n = a + b + c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.where(n > 0, a * d / n, 0.0).sum(axis=axis)
        den = np.where(n > 0, b * c / n, 0.0).sum(axis=axis)
        return np.where((num == 0) & (den == 0), np.nan, num / den)


def haldane_log_or(a, b, c, d) -> np.ndarray:
    """log odds ratio with the Haldane–Anscombe +0.5 correction (finite with empty cells)."""
    a, b, c, d = (np.asarray(x, dtype=np.float64) + 0.5 for x in (a, b, c, d))
    return np.log(a * d / (b * c))


def enrichment(
    table: pd.DataFrame,
    row: str = "activated",
    col: str = "movement_related",
    strata: tuple[str, ...] = ("mouse", "session"),
    params: OptoParams | None = None,
    alternative: str = "greater",
    bootstrap: bool = True,
) -> dict:
    """Enrichment of ``col`` among ``row`` neurons: pooled odds ratio, permutation p, CI.

    Parameters
    ----------
    table : DataFrame
        One row per neuron (and session) with boolean ``row`` and ``col`` columns and the
        ``strata`` columns (``mouse`` first).
    row, col : str
        Boolean columns (e.g. ``activated`` and ``movement_related``).
    strata : tuple of str
        Populations within which labels are permuted and 2x2 tables formed.
    params : OptoParams
        ``n_permutations``, ``n_bootstrap``, ``ci_level``, ``seed``.
    alternative : {"greater", "less", "two-sided"}
        Direction of the permutation test (enrichment: "greater").
    bootstrap : bool
        Compute the hierarchical-bootstrap CI (mice, then lower strata, then neurons).

    Returns
    -------
    dict with ``odds_ratio`` (Mantel–Haenszel), ``log_or``, ``p_perm``, ``ci_low``,
    ``ci_high`` (of the odds ratio), ``n_neurons``, ``n_row``, ``n_col``, ``n_both``,
    ``n_strata``, ``n_mice``, ``test`` (description).
    """
    params = params or OptoParams()
    _require(table, [row, col, *strata], "enrichment table")
    df = table.dropna(subset=[row, col]).reset_index(drop=True)
    out = {
        "odds_ratio": np.nan,
        "log_or": np.nan,
        "p_perm": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "n_neurons": len(df),
        "n_row": int(df[row].astype(bool).sum()) if len(df) else 0,
        "n_col": int(df[col].astype(bool).sum()) if len(df) else 0,
        "n_both": int((df[row].astype(bool) & df[col].astype(bool)).sum()) if len(df) else 0,
        "n_strata": 0,
        "n_mice": int(df[strata[0]].nunique()) if len(df) else 0,
        "test": (
            f"Mantel-Haenszel OR of {col} among {row} over {'/'.join(strata)}; "
            f"{params.n_permutations} within-population label permutations ({alternative}); "
            f"{params.ci_level:.0%} hierarchical bootstrap CI ({params.n_bootstrap})"
        ),
    }
    if len(df) == 0:
        return out
    cells = _cells(df, row, col, strata)
    a, b, c, d = (cells[k].to_numpy() for k in "abcd")
    out["n_strata"] = len(cells)
    obs = float(mantel_haenszel_or(a, b, c, d))
    out["odds_ratio"] = obs
    out["log_or"] = float(np.log(obs)) if np.isfinite(obs) and obs > 0 else np.nan
    rng = np.random.default_rng(params.seed)
    n = a + b + c + d
    n_row, n_col = a + b, a + c
    # permuting col labels within a stratum makes 'a' hypergeometric with fixed margins
    a_null = rng.hypergeometric(
        n_col.astype(np.int64),
        (n - n_col).astype(np.int64),
        n_row.astype(np.int64),
        size=(params.n_permutations, len(n)),
    ).astype(np.float64)
    null = mantel_haenszel_or(a_null, n_row - a_null, n_col - a_null, n - n_row - n_col + a_null)
    null = np.where(np.isnan(null), 1.0, null)
    if np.isfinite(obs) or np.isinf(obs):
        ge = (np.sum(null >= obs) + 1) / (len(null) + 1)
        le = (np.sum(null <= obs) + 1) / (len(null) + 1)
        out["p_perm"] = float(
            {"greater": ge, "less": le, "two-sided": min(1.0, 2 * min(ge, le))}[alternative]
        )
    if bootstrap:
        w = hierarchical_weights(df, list(strata), params.n_bootstrap, rng)
        codes = df.groupby(list(strata), sort=True, observed=True).ngroup().to_numpy()
        onehot = np.zeros((len(df), codes.max() + 1))
        onehot[np.arange(len(df)), codes] = 1.0
        r = df[row].to_numpy(bool)
        cc = df[col].to_numpy(bool)
        cell_w = [w @ (onehot * m[:, None]) for m in (r & cc, r & ~cc, ~r & cc, ~r & ~cc)]
        reps = mantel_haenszel_or(*cell_w)
        reps = reps[np.isfinite(reps) | np.isinf(reps)]
        if len(reps):
            # no interpolation: replicates may be +inf (a stratum set without discordant pairs)
            q = [(1 - params.ci_level) / 2, 1 - (1 - params.ci_level) / 2]
            lo, hi = np.quantile(reps, q, method="inverted_cdf")
            out["ci_low"], out["ci_high"] = float(lo), float(hi)
    return out


# ---------------------------------------------------------------------------------------------
# rank correlation
# ---------------------------------------------------------------------------------------------


def drive_encoding_correlation(
    table: pd.DataFrame,
    strata: tuple[str, ...] = ("mouse", "session"),
    params: OptoParams | None = None,
) -> dict:
    """Spearman correlation of drive and encoding score, pooled over populations.

    The statistic is the neuron-weighted mean over populations of Spearman's rho; its null
    permutes the encoding scores among the neurons of each population.

    Returns
    -------
    dict with ``rho`` (pooled), ``p_perm`` (two-sided), ``per_population`` (DataFrame with
    the strata, ``rho`` and ``n``), ``n_neurons``.
    """
    params = params or OptoParams()
    _require(table, ["drive", "encoding_score", *strata], "correlation table")
    df = table.dropna(subset=["drive", "encoding_score"]).reset_index(drop=True)
    rng = np.random.default_rng(params.seed + 1)
    rows = []
    obs_sum = 0.0
    null_sum = np.zeros(params.n_permutations)
    n_tot = 0
    for key, sub in df.groupby(list(strata), sort=True, observed=True):
        n = len(sub)
        if n < 3:
            continue
        rx = rankdata(sub["drive"].to_numpy())
        ry = rankdata(sub["encoding_score"].to_numpy())
        rx = (rx - rx.mean()) / (rx.std() * np.sqrt(n))
        ry = (ry - ry.mean()) / (ry.std() * np.sqrt(n))
        if not (np.all(np.isfinite(rx)) and np.all(np.isfinite(ry))):
            continue
        rho = float(rx @ ry)
        perm = np.argsort(rng.random((params.n_permutations, n)), axis=1)
        null = ry[perm] @ rx
        rows.append({**dict(zip(strata, key, strict=True)), "rho": rho, "n": n})
        obs_sum += n * rho
        null_sum += n * null
        n_tot += n
    per = pd.DataFrame(rows, columns=[*strata, "rho", "n"])
    if n_tot == 0:
        return {"rho": np.nan, "p_perm": np.nan, "per_population": per, "n_neurons": 0}
    obs = obs_sum / n_tot
    null = null_sum / n_tot
    tol = 1e-12
    p = (np.sum(np.abs(null) >= abs(obs) - tol) + 1) / (len(null) + 1)
    return {"rho": obs, "p_perm": float(p), "per_population": per, "n_neurons": n_tot}


# ---------------------------------------------------------------------------------------------
# per-mouse summaries, suppression of unrelated neurons, naive vs expert
# ---------------------------------------------------------------------------------------------


def per_population_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (mouse, session, stage): neuron counts, fractions, log OR, Spearman rho, drive."""
    _require(table, ["mouse", "session", "stage", "activated", "suppressed"], "relation table")
    rows = []
    for (mouse, session, stage), sub in table.groupby(
        ["mouse", "session", "stage"], sort=True, observed=True
    ):
        act = sub["activated"].to_numpy(bool)
        sup = sub["suppressed"].to_numpy(bool)
        mr = sub["movement_related"].to_numpy(bool)
        a, b, c, d = (act & mr).sum(), (act & ~mr).sum(), (~act & mr).sum(), (~act & ~mr).sum()
        ok = np.isfinite(sub["encoding_score"].to_numpy()) & np.isfinite(sub["drive"].to_numpy())
        rho = (
            spearmanr(sub["drive"].to_numpy()[ok], sub["encoding_score"].to_numpy()[ok])[0]
            if ok.sum() >= 3
            else np.nan
        )
        rows.append(
            {
                "mouse": mouse,
                "session": session,
                "stage": stage,
                "n_neurons": len(sub),
                "n_movement_related": int(mr.sum()),
                "frac_activated": float(act.mean()),
                "frac_suppressed": float(sup.mean()),
                "frac_activated_related": float(act[mr].mean()) if mr.any() else np.nan,
                "frac_activated_unrelated": float(act[~mr].mean()) if (~mr).any() else np.nan,
                "frac_suppressed_related": float(sup[mr].mean()) if mr.any() else np.nan,
                "frac_suppressed_unrelated": float(sup[~mr].mean()) if (~mr).any() else np.nan,
                "log_or_activated": float(haldane_log_or(a, b, c, d)),
                "rho_drive_encoding": float(rho),
                "drive_related": float(sub["drive"][mr].mean()) if mr.any() else np.nan,
                "drive_unrelated": float(sub["drive"][~mr].mean()) if (~mr).any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def tracked_neurons(
    table: pd.DataFrame, stages=("naive", "expert"), key: str = "roi_name"
) -> pd.DataFrame:
    """Rows of neurons whose ``key`` appears in every one of ``stages`` within its mouse.

    ``key`` is the cross-session identity: ``roi_name`` or the ``identity`` column of
    :func:`thalamocortex.opto.identity.assign_identity`.
    """
    _require(table, ["mouse", key, "stage"], "relation table")
    sub = table[table["stage"].isin(stages)]
    n_stages = sub.groupby(["mouse", key], observed=True)["stage"].nunique()
    keep = n_stages[n_stages == len(stages)].index
    idx = pd.MultiIndex.from_frame(sub[["mouse", key]])
    return sub[idx.isin(keep)].reset_index(drop=True)


#: Per-mouse statistics of the same neurons' naive and expert values (need the identity).
PAIRED_STATISTICS: dict[str, str] = {
    "paired_rho_drive": "Spearman rho of naive vs expert drive of the same neurons",
    "paired_drive_change_related": (
        "mean expert - naive drive of neurons movement-related in the expert"
    ),
    "paired_drive_change_unrelated": (
        "mean expert - naive drive of neurons not movement-related in the expert"
    ),
    "paired_naive_drive_related_minus_unrelated": (
        "naive drive of neurons that are movement-related in the expert minus that of the others"
    ),
    "paired_drive_refinement": (
        "expert - naive drive change of neurons movement-related in the expert minus that of "
        "the other neurons (primary)"
    ),
}


def paired_neurons(tracked: pd.DataFrame, key: str = "identity") -> pd.DataFrame:
    """One row per tracked neuron: its naive and its expert values side by side.

    Parameters
    ----------
    tracked : DataFrame
        :func:`tracked_neurons` output (``mouse``, ``key``, ``stage``, ``drive``,
        ``encoding_score``, ``movement_related``).
    key : str
        Identity column.

    Returns
    -------
    DataFrame with ``mouse``, ``key``, ``drive_naive``, ``drive_expert`` (baseline SD),
    ``encoding_naive``, ``encoding_expert``, ``related_naive``, ``related_expert`` (bool) and
    ``n_sessions_naive``, ``n_sessions_expert``. A neuron seen in several sessions of a stage
    gets the mean of its drive and score over them, and is movement-related in that stage when
    it was in at least half of them.
    """
    need = ["mouse", key, "stage", "drive", "encoding_score", "movement_related"]
    _require(tracked, need, "tracked neurons")
    cols = ["mouse", key] + [
        f"{v}_{s}"
        for s in ("naive", "expert")
        for v in ("drive", "encoding", "related", "n_sessions")
    ]
    if len(tracked) == 0:
        return pd.DataFrame(columns=cols)
    d = tracked.assign(related=tracked["movement_related"].astype(float))
    g = d.groupby(["mouse", key, "stage"], observed=True, sort=True)
    agg = g.agg(
        drive=("drive", "mean"),
        encoding=("encoding_score", "mean"),
        related=("related", "mean"),
        n_sessions=("drive", "size"),
    )
    wide = agg.unstack("stage")
    out = pd.DataFrame(index=wide.index)
    for stage in ("naive", "expert"):
        out[f"drive_{stage}"] = wide[("drive", stage)]
        out[f"encoding_{stage}"] = wide[("encoding", stage)]
        out[f"related_{stage}"] = wide[("related", stage)] >= 0.5
        out[f"n_sessions_{stage}"] = wide[("n_sessions", stage)].astype(np.int64)
    return out.reset_index()


def paired_summary(paired: pd.DataFrame) -> pd.DataFrame:
    """Per mouse the :data:`PAIRED_STATISTICS` of :func:`paired_neurons` rows.

    Returns
    -------
    DataFrame with ``mouse``, ``n_paired`` and one column per statistic (NaN when undefined:
    fewer than 3 neurons for a correlation, no neuron in a class for a mean).
    """
    rows = []
    for mouse, sub in paired.groupby("mouse", sort=True, observed=True):
        dn = sub["drive_naive"].to_numpy(np.float64)
        de = sub["drive_expert"].to_numpy(np.float64)
        rel = sub["related_expert"].to_numpy(bool)
        ok = np.isfinite(dn) & np.isfinite(de)
        rho = np.nan
        if ok.sum() >= 3 and np.ptp(dn[ok]) > 0 and np.ptp(de[ok]) > 0:
            rho = float(spearmanr(dn[ok], de[ok])[0])
        change = de - dn

        def mean(x, m):
            m = m & np.isfinite(x)
            return float(x[m].mean()) if m.any() else np.nan

        rows.append(
            {
                "mouse": mouse,
                "n_paired": len(sub),
                "paired_rho_drive": rho,
                "paired_drive_change_related": mean(change, rel),
                "paired_drive_change_unrelated": mean(change, ~rel),
                "paired_naive_drive_related_minus_unrelated": mean(dn, rel) - mean(dn, ~rel),
                "paired_drive_refinement": mean(change, rel) - mean(change, ~rel),
            }
        )
    return pd.DataFrame(rows, columns=["mouse", "n_paired", *PAIRED_STATISTICS])


#: Per-session statistics contrasted expert - naive across mice.
POPULATION_STATISTICS: tuple[str, ...] = (
    "log_or_activated",
    "rho_drive_encoding",
    "frac_activated",
    "frac_suppressed",
    "frac_suppressed_unrelated",
    "drive_unrelated",
    "drive_related",
)


def naive_vs_expert(
    table: pd.DataFrame,
    params: OptoParams | None = None,
    tracking: pd.DataFrame | None = None,
    secondary: bool = True,
) -> dict:
    """Naive vs expert on the same (tracked) neurons, mice as replicates.

    Parameters
    ----------
    table : DataFrame
        :func:`merge_drive_encoding` output including both stages.
    params : OptoParams
        ``identity`` and ``min_track_probability`` choose the cross-session identity
        (:mod:`thalamocortex.opto.identity`); ``n_permutations``, ``seed``.
    tracking : DataFrame, optional
        The preprocess stage's cross-session tracking table (``mouse``, ``cell``, ``session``,
        ``roi``, ``roi_name``, ``probability``).
    secondary : bool
        Also fit the (secondary) mixed model.

    Returns
    -------
    dict with
    ``per_mouse`` : DataFrame — per mouse and stage the statistics of
        :func:`per_population_summary` on the tracked neurons, averaged over sessions;
    ``paired_neurons`` : DataFrame — :func:`paired_neurons` (one row per tracked neuron);
    ``paired_per_mouse`` : DataFrame — :func:`paired_summary`;
    ``contrasts`` : DataFrame — one row per statistic: ``kind`` (``population``: per-session
        statistic, ``estimate`` = mean over mice of expert - naive; ``paired``: per-mouse
        statistic of the same neurons' naive and expert values, ``estimate`` = its mean over
        mice), ``ci_low``/``ci_high``/``t``/``df``/``p`` (one-sample t-test of the per-mouse
        values across mice), ``p_sign_flip`` (sign-flip permutation test of the per-mouse
        values against 0, exact when 2**n_mice <= n_permutations; its smallest p is
        ``2 / 2**n_mice``), ``exact``, ``n_mice``, ``definition``;
    ``mixed_model`` : DataFrame — fixed effects of ``drive ~ movement_related * stage`` with a
        random intercept per mouse (empty when it cannot be fitted);
    ``n_tracked`` : number of neurons (mouse x identity) seen in both stages;
    ``identity`` : ``"roi_name"`` or ``"tracking"``; ``identity_reason`` : why;
    ``identity_counts`` : DataFrame — per mouse ``n_rows``, ``n_untracked``,
        ``n_low_probability``, ``n_kept`` (:func:`~thalamocortex.opto.identity.assign_identity`)
        and ``n_tracked``.
    """
    from thalamocortex.opto.identity import IDENTITY, assign_identity, resolve_identity

    params = params or OptoParams()
    method, reason = resolve_identity(params.identity, table, tracking)
    keyed, counts = assign_identity(table, method, tracking, params.min_track_probability)
    tracked = tracked_neurons(keyed, key=IDENTITY)
    n_per_mouse = tracked.groupby("mouse", observed=True)[IDENTITY].nunique()
    counts["n_tracked"] = counts["mouse"].map(n_per_mouse).fillna(0).astype(np.int64)
    out = {
        "per_mouse": pd.DataFrame(),
        "paired_neurons": paired_neurons(tracked, IDENTITY),
        "paired_per_mouse": pd.DataFrame(),
        "contrasts": pd.DataFrame(),
        "mixed_model": pd.DataFrame(),
        "n_tracked": int(n_per_mouse.sum()),
        "identity": method,
        "identity_reason": reason,
        "identity_counts": counts,
    }
    if len(tracked) == 0:
        return out
    per_pop = per_population_summary(tracked)
    stat_cols = [c for c in per_pop.columns if c not in ("mouse", "session", "stage")]
    per_mouse = per_pop.groupby(["mouse", "stage"], observed=True)[stat_cols].mean().reset_index()
    wide = per_mouse.pivot(index="mouse", columns="stage")
    rows = []

    def add(statistic, kind, values, definition):
        res = permutation_test_paired(values, n_perm=params.n_permutations, seed=params.seed)
        t = mean_test(values, params.ci_level)
        rows.append(
            {
                "statistic": statistic,
                "kind": kind,
                "estimate": res["statistic"],
                "ci_low": t["ci_low"],
                "ci_high": t["ci_high"],
                "t": t["statistic"],
                "df": t["df"],
                "p": t["p"],
                "p_sign_flip": res["p"],
                "exact": res["exact"],
                "n_mice": res["n"],
                "definition": definition,
            }
        )

    for c in POPULATION_STATISTICS:
        if (c, "expert") in wide.columns and (c, "naive") in wide.columns:
            diff = wide[(c, "expert")].to_numpy() - wide[(c, "naive")].to_numpy()
            add(c, "population", diff, f"expert - naive of the per-session {c}, tracked neurons")
    paired = paired_summary(out["paired_neurons"])
    for c, definition in PAIRED_STATISTICS.items():
        add(c, "paired", paired[c].to_numpy(np.float64), definition)
    mm = pd.DataFrame()
    try:
        if not secondary:
            raise ValueError("secondary analyses not requested")
        d = tracked[["mouse", "drive", "movement_related", "stage"]].copy()
        d["movement_related"] = d["movement_related"].astype(float)
        d["expert"] = (d["stage"] == "expert").astype(float)
        if d["mouse"].nunique() >= 2:
            mm = mixed_model(d, "drive ~ movement_related * expert", groups="mouse")
    except (ValueError, np.linalg.LinAlgError) as err:  # singular fits on tiny data
        if secondary:
            mm = pd.DataFrame({"term": ["error"], "coef": [np.nan], "note": [str(err)]})
    out.update(per_mouse=per_mouse, paired_per_mouse=paired, contrasts=pd.DataFrame(rows))
    out["mixed_model"] = mm
    return out


def relation_summary(table: pd.DataFrame, params: OptoParams | None = None) -> pd.DataFrame:
    """Enrichment, suppression and correlation per stage, one row per (stage, test).

    Parameters
    ----------
    table : DataFrame
        :func:`merge_drive_encoding` output.

    Returns
    -------
    DataFrame with ``stage``, ``test`` (``enrichment_activated_related``,
    ``enrichment_suppressed_unrelated``, ``spearman_drive_encoding``), ``estimate``,
    ``ci_low``, ``ci_high``, ``p_perm``, ``n_neurons``, ``n_mice``, ``criterion``, ``role``
    (always ``secondary``: the permutation is over the neurons of each population, a statement
    about the recorded neurons; the mouse-level tests are :func:`mouse_level_tests`).
    """
    params = params or OptoParams()
    rows = []
    for stage, sub in table.groupby("stage", sort=True, observed=True):
        sub = sub.copy()
        sub["unrelated"] = ~sub["movement_related"].astype(bool)
        e = enrichment(sub, "activated", "movement_related", params=params)
        s = enrichment(sub, "suppressed", "unrelated", params=params)
        r = drive_encoding_correlation(sub, params=params)
        for test, res, est in (
            ("enrichment_activated_related", e, e["odds_ratio"]),
            ("enrichment_suppressed_unrelated", s, s["odds_ratio"]),
        ):
            rows.append(
                {
                    "stage": stage,
                    "test": test,
                    "estimate": est,
                    "ci_low": res["ci_low"],
                    "ci_high": res["ci_high"],
                    "p_perm": res["p_perm"],
                    "n_neurons": res["n_neurons"],
                    "n_mice": res["n_mice"],
                    "criterion": res["test"],
                }
            )
        rows.append(
            {
                "stage": stage,
                "test": "spearman_drive_encoding",
                "estimate": r["rho"],
                "ci_low": np.nan,
                "ci_high": np.nan,
                "p_perm": r["p_perm"],
                "n_neurons": r["n_neurons"],
                "n_mice": int(sub["mouse"].nunique()),
                "criterion": (
                    "neuron-weighted mean Spearman rho over sessions; "
                    f"{params.n_permutations} within-session permutations (two-sided)"
                ),
            }
        )
    return pd.DataFrame(rows).assign(role=SECONDARY)


# ---------------------------------------------------------------------------------------------
# mouse-level tests (the declared primary tests of the all-optical experiment)
# ---------------------------------------------------------------------------------------------


def per_mouse_enrichment(table: pd.DataFrame) -> pd.DataFrame:
    """Per mouse and stage: mean over its sessions of the enrichment estimators.

    Parameters
    ----------
    table : DataFrame
        :func:`merge_drive_encoding` output (all neurons, not only tracked ones).

    Returns
    -------
    DataFrame with ``mouse``, ``stage``, ``n_sessions``, ``n_neurons`` and the means of
    ``log_or_activated`` (Haldane-Anscombe log odds ratio of activated x movement-related; finite
    with empty cells) and ``diff_prop_activated`` (P(activated | movement-related) -
    P(activated | other); NaN when a class is empty).
    """
    per = per_population_summary(table)
    cols = ["mouse", "stage", "n_sessions", "n_neurons", "log_or_activated"]
    cols.append("diff_prop_activated")
    if per.empty:
        return pd.DataFrame(columns=cols)
    per["diff_prop_activated"] = per["frac_activated_related"] - per["frac_activated_unrelated"]
    g = per.groupby(["mouse", "stage"], observed=True, sort=True)
    out = g[["log_or_activated", "diff_prop_activated"]].mean()
    out["n_sessions"] = g.size()
    out["n_neurons"] = g["n_neurons"].sum()
    return out.reset_index()[cols]


def mouse_level_tests(
    table: pd.DataFrame,
    nve: dict | None = None,
    params: OptoParams | None = None,
    stats=None,
) -> pd.DataFrame:
    """The all-optical experiment's mouse-level tests (see the module docstring).

    Parameters
    ----------
    table : DataFrame
        :func:`merge_drive_encoding` output of the opsin mice (both stages).
    nve : dict, optional
        :func:`naive_vs_expert` output (computed when None).
    params : OptoParams
    stats : StatsParams, optional
        ``alpha``, ``multiple_comparisons``, ``ci_level``.

    Returns
    -------
    DataFrame in the :data:`~thalamocortex.stats.primary.TEST_COLUMNS` layout: the primary
    ``opto:expert_enrichment`` and ``opto:drive_refinement`` rows, and secondary rows (difference
    of proportions, naive enrichment, expert - naive enrichment, the other naive-vs-expert
    contrasts), Holm- (or BH-) corrected within the secondary family.
    """
    from thalamocortex.stats.params import StatsParams

    params = params or OptoParams()
    st = stats or StatsParams()
    rows = []
    enr = per_mouse_enrichment(table)
    wide = enr.pivot(index="mouse", columns="stage", values=["log_or_activated"])
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]

    def row(claim, role, family, measure, values, test, subject="M1 (opsin mice)"):
        rows.append(
            {
                "claim": claim,
                "role": role,
                "family": family,
                "subject": subject,
                "measure": measure,
                **mean_test(values, st.ci_level),
                "test": test,
            }
        )

    sec = "opto: secondary mouse-level statistics"
    for stage in ("expert", "naive"):
        e = enr[enr["stage"] == stage]
        primary = stage == "expert"
        row(
            "opto:expert_enrichment" if primary else "opto:naive_enrichment",
            PRIMARY if primary else SECONDARY,
            "opto: expert enrichment" if primary else sec,
            f"{stage} log odds ratio (activated x movement-related, +0.5 corrected)",
            e["log_or_activated"].to_numpy(np.float64),
            "per-mouse log OR (mean over its sessions), one-sample t-test across mice",
        )
        row(
            f"opto:{stage}_enrichment_difference_of_proportions",
            SECONDARY,
            sec,
            f"{stage} P(activated | movement-related) - P(activated | other)",
            e["diff_prop_activated"].to_numpy(np.float64),
            "per-mouse difference of proportions, one-sample t-test across mice",
        )
    if {"log_or_activated_expert", "log_or_activated_naive"} <= set(wide.columns):
        row(
            "opto:enrichment_change",
            SECONDARY,
            sec,
            "expert - naive log odds ratio (all neurons of each stage)",
            (wide["log_or_activated_expert"] - wide["log_or_activated_naive"]).to_numpy(np.float64),
            "per-mouse change, one-sample t-test across mice",
        )
    nve = nve if nve is not None else naive_vs_expert(table, params, secondary=False)
    con = nve.get("contrasts", pd.DataFrame())
    if len(con):
        paired = nve.get("paired_per_mouse", pd.DataFrame())
        for _, c in con.iterrows():
            primary = c["statistic"] == "paired_drive_refinement"
            vals = (
                paired[c["statistic"]].to_numpy(np.float64)
                if c["kind"] == "paired" and c["statistic"] in paired
                else None
            )
            if vals is None:  # population statistics: recompute from the per-mouse table
                pm = nve["per_mouse"]
                w = pm.pivot(index="mouse", columns="stage", values=c["statistic"])
                vals = (w.get("expert") - w.get("naive")).to_numpy(np.float64)
            row(
                "opto:drive_refinement" if primary else f"opto:nve_{c['statistic']}",
                PRIMARY if primary else SECONDARY,
                "opto: drive refinement of the same neurons" if primary else sec,
                str(c["definition"]),
                vals,
                "per-mouse statistic of tracked neurons, one-sample t-test across mice",
            )
    out = as_test_table(rows)
    if out.empty:
        return out
    return correct_family(out, "family", st.multiple_comparisons, st.alpha)
