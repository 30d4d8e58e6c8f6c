"""Power by subsampling a bank of simulated mice analysed through the whole pipeline.

Independent whole-pipeline cohorts at every (size, mice per group) cell are the exact power
estimate but cost a pipeline run each. The mice of a simulated cohort are independent (each has
its own seeds) and the primary tests read only per-session / per-neuron / per-trial tables in
which every row belongs to one mouse, so a *bank* — one large simulated cohort (e.g. 10 mice per
group) analysed once — can be re-tested on many random subsets of ``n`` mice per group
(drawn without replacement) with the package's own test functions. The share of subsets in
which a test finds the effect estimates its power at ``n`` mice for the bank's population of
mice. Caveats, stated in the output: subsets of one bank overlap (the estimate's uncertainty is
larger than a binomial interval over draws, and is bounded by the bank's size), and the few
cohort-level couplings of the pipeline (the ROI count matched across all decoded sessions) are
those of the bank.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from thalamocortex.stats.params import StatsParams
from thalamocortex.stats.stages import StageWindowWarning
from thalamocortex.validate.decisions import cohort_decisions

#: Tables of a results folder that the primary tests are recomputed from.
BANK_TABLES: dict[str, tuple[str, str]] = {
    "encoding": ("encoding", "sessions"),
    "behavior": ("behavior", "sessions"),
    "opto": ("opto", "relation_neurons"),
    "tracking": ("preprocess", "tracking"),
    "inactivation": ("inactivation", "trials"),
}


def load_bank(results: str | Path) -> dict[str, pd.DataFrame]:
    """The stage tables of a results folder that the primary tests need (missing: empty)."""
    out = {}
    for key, (stage, name) in BANK_TABLES.items():
        path = Path(results) / stage / f"{name}.parquet"
        out[key] = pd.read_parquet(path) if path.is_file() else pd.DataFrame()
    return out


def groups(bank: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """The bank's mice per group: each input region, the opsin mice, the inactivation mice."""
    g: dict[str, list[str]] = {}
    enc = bank["encoding"]
    if len(enc):
        ax = enc[enc["experiment"] == "axon_imaging"]
        for region, sub in ax.groupby("region"):
            g[f"region:{region}"] = sorted(sub["mouse"].unique())
    if len(bank["opto"]):
        g["opsin"] = sorted(bank["opto"]["mouse"].unique())
    if len(bank["inactivation"]):
        g["inactivation"] = sorted(bank["inactivation"]["mouse"].unique())
    return g


def subset_tests(
    bank: dict[str, pd.DataFrame], mice: set[str], stats: StatsParams | None = None
) -> pd.DataFrame:
    """The primary tests recomputed on the bank restricted to ``mice``."""
    from thalamocortex.behavior.learning import learning_tests
    from thalamocortex.encoding.learning import learning_contrasts, region_comparison
    from thalamocortex.opto.inactivation import light_effects
    from thalamocortex.opto.params import InactivationParams, OptoParams
    from thalamocortex.opto.relation import mouse_level_tests, naive_vs_expert
    from thalamocortex.stats.primary import collect_tests

    st = stats or StatsParams()
    # a stage with nothing to analyse writes an empty table without columns (e.g. inactivation
    # in a bank of the all-optical experiment alone)
    bank = {k: v if "mouse" in v.columns else v.iloc[0:0].assign(mouse=[]) for k, v in bank.items()}
    tables: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StageWindowWarning)
        enc = bank["encoding"]
        enc = enc[enc["mouse"].isin(mice)].drop(columns=["stage"], errors="ignore")
        if len(enc):
            metrics = tuple(st.encoding_primary_metrics)
            tables[("encoding", "learning")] = learning_contrasts(
                enc, st, metrics=metrics, secondary=False
            )
            tables[("encoding", "regions")] = region_comparison(
                enc, st, metrics=(st.comparison_metric,)
            )
        beh = bank["behavior"]
        beh = beh[beh["mouse"].isin(mice)]
        if len(beh):
            tables[("behavior", "tests")] = learning_tests(beh, st)[0]
        rel = bank["opto"]
        rel = rel[rel["mouse"].isin(mice)]
        if len(rel):
            params = OptoParams()
            tracking = bank["tracking"] if len(bank["tracking"]) else None
            nve = naive_vs_expert(rel, params, tracking=tracking, secondary=False)
            tables[("opto", "tests")] = mouse_level_tests(rel, nve, params, st)
        tr = bank["inactivation"]
        tr = tr[tr["mouse"].isin(mice)]
        if len(tr):
            eff = light_effects(tr, InactivationParams(alpha=st.alpha), st, secondary=False)
            tables[("inactivation", "tests")] = eff["tests"]
    return collect_tests(tables)


def subsample_decisions(
    bank: dict[str, pd.DataFrame],
    mice_per_group: int,
    n_draws: int,
    stats: StatsParams | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Decisions of ``n_draws`` random subsets of ``mice_per_group`` mice from every group.

    Returns
    -------
    DataFrame of :func:`~thalamocortex.validate.decisions.cohort_decisions` rows with ``draw``
    (as ``seed``), ``mice`` and ``level = "bank"``.
    """
    g = groups(bank)
    small = {k: len(v) for k, v in g.items() if len(v) < mice_per_group}
    if small:
        raise ValueError(
            f"bank: fewer than {mice_per_group} mice in {small}; simulate a larger bank"
        )
    rng = np.random.default_rng(seed)
    parts = []
    for draw in range(n_draws):
        chosen: set[str] = set()
        for members in g.values():
            chosen.update(rng.choice(members, mice_per_group, replace=False).tolist())
        # the all-optical controls and any mouse outside the groups stay out
        dec = cohort_decisions(subset_tests(bank, chosen, stats))
        parts.append(dec.assign(seed=draw, mice=mice_per_group, level="bank", kind="effect"))
    return pd.concat(parts, ignore_index=True)


def disjoint_decisions(
    bank: dict[str, pd.DataFrame],
    mice_per_group: int,
    stats: StatsParams | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Decisions of *independent* cohorts: the bank's mice split into disjoint subsets.

    Each group's mice are shuffled (``seed``) and cut into consecutive blocks of
    ``mice_per_group``; cohort ``j`` takes block ``j`` of every group, so there are as many
    cohorts as the smallest group has whole blocks. The simulator draws every mouse from its own
    seeds (and, for the ``varied`` null, its own change), so disjoint subsets are independent
    cohorts of that size — a whole-pipeline calibration at the cost of one pipeline run per bank
    instead of one per cohort (the few cohort-level couplings named in the module docstring
    aside). Unlike :func:`subsample_decisions`, binomial intervals over these cohorts are exact.

    Returns
    -------
    DataFrame of :func:`~thalamocortex.validate.decisions.cohort_decisions` rows with ``seed``
    (the cohort index), ``mice`` and ``level = "bank"``.
    """
    g = groups(bank)
    if not g:
        raise ValueError("bank: no group of mice (empty tables)")
    rng = np.random.default_rng(seed)
    blocks = {k: rng.permutation(v) for k, v in g.items()}
    n = min(len(v) for v in blocks.values()) // mice_per_group
    if n == 0:
        raise ValueError(f"bank: fewer than {mice_per_group} mice in some group of {list(g)}")
    parts = []
    for j in range(n):
        chosen: set[str] = set()
        for members in blocks.values():
            chosen.update(members[j * mice_per_group : (j + 1) * mice_per_group].tolist())
        dec = cohort_decisions(subset_tests(bank, chosen, stats))
        parts.append(dec.assign(seed=j, mice=mice_per_group, level="bank"))
    return pd.concat(parts, ignore_index=True)
