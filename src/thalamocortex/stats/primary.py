"""Declared tests: one table layout for every claim's primary test and its secondary analyses.

Every stage that decides a claim of the study writes its tests as rows of this layout
(:data:`TEST_COLUMNS`), so that the ``stats`` stage can collect the primary ones into
``results/stats/primary_tests.parquet``, the report can show them side by side, and
``thalamocortex validate`` can measure each one's false-positive rate and power.

* ``claim``: what is decided, e.g. ``learning:frac_movement`` (which input regions change their
  movement-related fraction with learning) or ``inactivation:learned_movement``;
* ``role``: ``primary`` (the one declared test of the claim: mouse as the unit, calibrated) or
  ``secondary`` (labelled extra analyses: other measures, corrected within their own family;
  within-mouse resampling that is a statement about the recorded trials or neurons);
* ``family``: the set of tests whose error is controlled together (``correction``), e.g. the
  input regions of one metric; ``subject``: the member of the family (a region, a measure);
* ``estimate`` with ``ci_low``/``ci_high`` (``ci_level``), ``n_mice``, ``test`` (the test in
  words), ``statistic``, ``df``, ``p`` (unadjusted), ``p_adjusted`` (within the family) and
  ``reject`` (``p_adjusted <= alpha``; never set from a trial- or neuron-level p-value).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from thalamocortex.stats.summary import adjust

TEST_COLUMNS: tuple[str, ...] = (
    "claim",
    "role",
    "family",
    "subject",
    "measure",
    "estimate",
    "ci_low",
    "ci_high",
    "n_mice",
    "test",
    "statistic",
    "df",
    "p",
    "p_adjusted",
    "correction",
    "reject",
)

PRIMARY, SECONDARY = "primary", "secondary"


def as_test_table(rows: list[dict]) -> pd.DataFrame:
    """Rows (dicts with :data:`TEST_COLUMNS` keys, extra keys kept) as a typed table."""
    df = pd.DataFrame(rows)
    for c in TEST_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan if c not in ("reject",) else False
    for c in ("claim", "role", "family", "subject", "measure", "test", "correction"):
        df[c] = df[c].fillna("").astype(object)
    extra = [c for c in df.columns if c not in TEST_COLUMNS]
    df = df[list(TEST_COLUMNS) + extra]
    for c in ("estimate", "ci_low", "ci_high", "statistic", "df", "p", "p_adjusted"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(np.float64)
    df["n_mice"] = pd.to_numeric(df["n_mice"], errors="coerce").fillna(0).astype(np.int64)
    df["reject"] = df["reject"].fillna(False).astype(bool)
    return df


def correct_family(
    table: pd.DataFrame, by: str | list[str] = "family", method: str = "holm", alpha: float = 0.05
) -> pd.DataFrame:
    """Fill ``p_adjusted``, ``reject`` and ``correction`` within each family of ``table``."""
    out = table.copy()
    if out.empty:
        return out
    name = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}[method]
    for _, idx in out.groupby(by, sort=False, dropna=False).groups.items():
        p = out.loc[idx, "p"].to_numpy(np.float64)
        rej, adj = adjust(p, method, alpha)
        m = int(np.isfinite(p).sum())
        out.loc[idx, "p_adjusted"] = adj
        out.loc[idx, "reject"] = rej
        out.loc[idx, "correction"] = f"{name} over {m} test{'s' if m != 1 else ''}" if m else ""
    out["reject"] = out["reject"].astype(bool)
    return out


def _fmt(x: float, digits: int = 3) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g}"


def _mice(n) -> str:
    n = int(n)
    return f"n = {n} mouse" if n == 1 else f"n = {n} mice"


def format_p(p: float) -> str:
    if not np.isfinite(p):
        return "p n/a"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def headline(row: pd.Series | dict, what: str = "", ci_level: float = 0.95) -> str:
    """One sentence for a test row: estimate, CI, n mice, test and its (adjusted) p."""
    r = dict(row)
    what = what or f"{r.get('subject', '')} {r.get('measure', '')}".strip()
    est = r.get("estimate", np.nan)
    lo, hi = r.get("ci_low", np.nan), r.get("ci_high", np.nan)
    p = r.get("p_adjusted", np.nan)
    if not np.isfinite(p):
        p = r.get("p", np.nan)
    stat = r.get("statistic", np.nan)
    df = r.get("df", np.nan)
    stat_txt = f"t({_fmt(df)}) = {stat:.2f}, " if np.isfinite(stat) and np.isfinite(df) else ""
    corr = r.get("correction", "")
    corr_txt = f", {corr}" if isinstance(corr, str) and corr and "over 1 test" not in corr else ""
    verdict = "significant" if r.get("reject", False) else "not significant"
    return (
        f"{what}: {_fmt(est)} ({ci_level:.0%} CI {_fmt(lo)} to {_fmt(hi)}; "
        f"{_mice(r.get('n_mice', 0))}; {r.get('test', '')}; {stat_txt}"
        f"{format_p(p)}{corr_txt}) — {verdict}."
    )


#: Where each stage writes its tests (``results/<stage>/<table>.parquet``).
TEST_TABLES: tuple[tuple[str, str], ...] = (
    ("behavior", "tests"),
    ("encoding", "learning"),
    ("encoding", "regions"),
    ("opto", "tests"),
    ("inactivation", "tests"),
)

#: Words for claims in headline sentences.
CLAIM_LABELS: dict[str, str] = {
    "behavior:learning": "Movements became more stereotyped with learning",
    "opto:expert_enrichment": (
        "In expert mice, thalamus-activated M1 neurons were enriched for movement-related neurons"
    ),
    "opto:drive_refinement": (
        "Thalamic drive of the same neurons refined toward those that came to encode the movement"
    ),
    "inactivation:learned_movement": (
        "Inactivating thalamic inputs changed the similarity of movements to the learned movement"
    ),
}


def collect_tests(tables: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """Every test row of the stages' test tables, with the ``stage`` and ``table`` it came from
    (the :data:`TEST_COLUMNS` first, then each table's own extra columns).

    Parameters
    ----------
    tables : dict
        ``(stage, table name) -> DataFrame`` in the :data:`TEST_COLUMNS` layout (empty or
        missing tables are skipped).
    """
    parts = []
    for (stage, name), df in tables.items():
        if df is None or df.empty or "claim" not in df.columns:
            continue
        parts.append(df.assign(stage=stage, table=name))
    if not parts:
        return as_test_table([]).assign(
            stage=pd.Series(dtype=object), table=pd.Series(dtype=object)
        )
    out = pd.concat(parts, ignore_index=True)
    first = [*TEST_COLUMNS, "stage", "table"]
    return out[first + [c for c in out.columns if c not in first]]


def _short(r: pd.Series) -> str:
    p = r["p_adjusted"] if np.isfinite(r["p_adjusted"]) else r["p"]
    return (
        f"{r['subject']} {r['estimate']:+.3g} (CI {_fmt(r['ci_low'])} to {_fmt(r['ci_high'])}, "
        f"{_mice(r['n_mice'])}, {format_p(p)})"
    )


def headlines(primary: pd.DataFrame, alpha: float = 0.05, ci_level: float = 0.95) -> pd.DataFrame:
    """One sentence per primary claim.

    Parameters
    ----------
    primary : DataFrame
        Primary rows of :func:`collect_tests`.

    Returns
    -------
    DataFrame with ``claim``, ``sentence``, ``decision`` (what was found significant, or
    ``"none"``).
    """
    rows = []
    for claim, g in primary.groupby("claim", sort=False):
        kind, _, metric = claim.partition(":")
        if kind == "learning":
            from thalamocortex.encoding.learning import METRIC_LABELS

            label = METRIC_LABELS.get(metric, metric)
            sig = g[g["reject"]]
            rest = g[~g["reject"]]
            found = (
                "changed in " + "; ".join(_short(r) for _, r in sig.iterrows())
                if len(sig)
                else "changed in no input region"
            )
            other = (
                "; not significant in " + "; ".join(_short(r) for _, r in rest.iterrows())
                if len(rest)
                else ""
            )
            test = g["test"].iloc[0]
            corr = g["correction"].iloc[0]
            corr_txt = f"; {corr}, p adjusted" if corr else ""
            rows.append(
                {
                    "claim": claim,
                    "sentence": (
                        f"Expert − naive {label} {found}{other} ({test}; {ci_level:.0%} CI"
                        f"{corr_txt})."
                    ),
                    "decision": ", ".join(sig["subject"]) if len(sig) else "none",
                }
            )
        elif kind == "region_comparison":
            from thalamocortex.encoding.learning import METRIC_LABELS

            label = METRIC_LABELS.get(metric, metric)
            top = g.sort_values("rank").iloc[0] if "rank" in g else g.iloc[0]
            named = bool(top["reject"])
            head = (
                f"{top['subject']}'s learning change in {label} differs most from the other inputs'"
                if named
                else f"No input region's learning change in {label} differs significantly from "
                f"the others' (largest: {top['subject']})"
            )
            rows.append(
                {
                    "claim": claim,
                    "sentence": (
                        f"{head}: {top['estimate']:+.3g} relative to their mean "
                        f"({ci_level:.0%} CI {_fmt(top['ci_low'])} to {_fmt(top['ci_high'])}; "
                        f"{_mice(top['n_mice'])}; {top['test']}; "
                        f"{format_p(top['p_adjusted'])}, {top['correction']})."
                    ),
                    "decision": str(top["subject"]) if named else "none",
                }
            )
        else:
            r = g.iloc[0]
            rows.append(
                {
                    "claim": claim,
                    "sentence": headline(r, CLAIM_LABELS.get(claim, claim), ci_level),
                    "decision": "reject" if bool(r["reject"]) else "none",
                }
            )
    return pd.DataFrame(rows, columns=["claim", "sentence", "decision"])
