"""Parameters of mice-as-replicates statistics."""

from __future__ import annotations

from thalamocortex.config import ParamGroup, param


class StatsParams(ParamGroup):
    alpha: float = param(0.05, "", "significance level of group tests", gt=0, lt=1)
    n_bootstrap: int = param(
        2000, "resamples", "hierarchical bootstrap resamples (mice, then trials/ROIs)", ge=100
    )
    n_permutations: int = param(2000, "resamples", "permutations of permutation nulls", ge=100)
    seed: int = param(0, "", "seed of every resampling generator", ge=0)
    ci_level: float = param(0.95, "", "confidence level of bootstrap intervals", gt=0, lt=1)
    multiple_comparisons: str = param(
        "fdr_bh",
        "",
        "control across regions: 'fdr_bh' (Benjamini-Hochberg) or 'holm' (family-wise)",
        pattern="^(fdr_bh|holm)$",
    )
    min_mice: int = param(
        3,
        "mice",
        "fewest mice for bootstrap p-values and mixed-model tests (fewer mice: the resampling "
        "cannot see between-mouse variability, so those p-values are withheld as NaN)",
        ge=1,
    )
