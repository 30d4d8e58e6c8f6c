"""What a cohort's primary tests decided, in one tidy table shared by every calibration level.

A cohort (simulated through the whole pipeline, or drawn as synthetic tables) yields its primary
tests (:data:`thalamocortex.stats.primary.TEST_COLUMNS`). :func:`cohort_decisions` flattens them
into rows ``(test, subject)``: one ``subject = "any"`` row per claim (did the claim's family
reject anything: its family-wise false positive under a null) and one row per member of the
family (a region). For the region comparison, ``named`` holds the region reported as changing
differently from the others (empty when none).

:data:`EXPECTED` says what each claim should find in a cohort with the simulator's default
effects (the effect region and the sign of the change), which :func:`detected` uses to score
power.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from thalamocortex.stats.primary import PRIMARY

#: claim -> (subject that carries the default effect, sign of its estimate); for the region
#: comparison the subject must be the one named. ``"*"`` = the claim's only subject.
EXPECTED: dict[str, tuple[str, int]] = {
    "learning:frac_movement": ("MTh", +1),
    "learning:median_reliability": ("MTh", +1),
    "learning:population_onset_latency": ("MTh", -1),
    "learning:decode_r2": ("MTh", +1),
    "region_comparison:frac_movement": ("MTh", +1),
    "opto:expert_enrichment": ("*", +1),
    "opto:drive_refinement": ("*", +1),
    "inactivation:learned_movement": ("*", -1),
    "behavior:learning": ("*", +1),
}

DECISION_COLUMNS: tuple[str, ...] = (
    "test",
    "subject",
    "reject",
    "estimate",
    "p",
    "p_adjusted",
    "n_mice",
    "named",
)


def cohort_decisions(tests: pd.DataFrame) -> pd.DataFrame:
    """One row per (primary claim, subject) plus one ``subject = "any"`` row per claim.

    Parameters
    ----------
    tests : DataFrame
        A cohort's tests (``results/stats/tests.parquet`` or ``primary_tests.parquet``); only the
        primary rows are used.
    """
    prim = tests[tests["role"] == PRIMARY] if "role" in tests.columns else tests
    rows = []
    for claim, g in prim.groupby("claim", sort=True):
        named = ""
        if claim.startswith("region_comparison") and "named" in g.columns:
            hit = g[g["named"].fillna(False).astype(bool)]
            named = str(hit["subject"].iloc[0]) if len(hit) else ""
        rows.append(
            {
                "test": claim,
                "subject": "any",
                "reject": bool(g["reject"].any()),
                "estimate": np.nan,
                "p": float(g["p"].min()) if g["p"].notna().any() else np.nan,
                "p_adjusted": float(g["p_adjusted"].min())
                if g["p_adjusted"].notna().any()
                else np.nan,
                "n_mice": int(g["n_mice"].max()),
                "named": named,
            }
        )
        for _, r in g.iterrows():
            rows.append(
                {
                    "test": claim,
                    "subject": str(r["subject"]),
                    "reject": bool(r["reject"]),
                    "estimate": float(r["estimate"]),
                    "p": float(r["p"]),
                    "p_adjusted": float(r["p_adjusted"]),
                    "n_mice": int(r["n_mice"]),
                    "named": named,
                }
            )
    return pd.DataFrame(rows, columns=list(DECISION_COLUMNS))


def detected(decisions: pd.DataFrame, test: str, effect_region: str = "MTh") -> bool | None:
    """Did the cohort find the default effect of ``test`` (right subject, right sign)?

    None when the cohort has no such test.
    """
    subject, sign = EXPECTED[test]
    g = decisions[decisions["test"] == test]
    if g.empty:
        return None
    if subject == "MTh":
        subject = effect_region
    if test.startswith("region_comparison"):
        return bool(g["named"].iloc[0] == subject)
    rows = g[g["subject"] != "any"]
    if subject != "*":
        rows = rows[rows["subject"] == subject]
    if rows.empty:
        return None
    r = rows.iloc[0]
    return bool(r["reject"] and np.sign(r["estimate"]) == sign)
