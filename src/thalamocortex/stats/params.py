"""Parameters of mice-as-replicates statistics: learning stages, primary tests, resampling."""

from __future__ import annotations

from typing import Literal

from thalamocortex.config import ParamGroup, param


class StatsParams(ParamGroup):
    alpha: float = param(0.05, "", "significance level of every mouse-level test", gt=0, lt=1)
    # --- learning stages (naive / expert) relative to each mouse's own sessions ---------------
    stage_method: Literal["first_last", "day"] = param(
        "first_last",
        "",
        "how naive and expert sessions are chosen: 'first_last' = each mouse's first and last "
        "stage_sessions sessions (ordered by training day from the metadata, else session "
        "number); 'day' = training days within naive_days / expert_days",
    )
    stage_sessions: int = param(
        3,
        "sessions",
        "'first_last': sessions per stage (a mouse with fewer than 2 x this many sessions gets "
        "half of its sessions in each stage)",
        ge=1,
    )
    naive_start_max_day: int = param(
        3,
        "day",
        "'first_last': a mouse contributes a naive-vs-expert contrast only if its first session "
        "is on or before this training day (mice imaged only as experts, e.g. an inactivation "
        "cohort on days 13-14, are left out with a warning)",
        ge=1,
    )
    naive_days: tuple[int, int] = param(
        (1, 3), "day", "'day': first and last training day counted as naive"
    )
    expert_days: tuple[int, int] = param(
        (12, 14), "day", "'day': first and last training day counted as expert"
    )
    # --- primary tests --------------------------------------------------------------------------
    multiple_comparisons: Literal["holm", "fdr_bh"] = param(
        "holm",
        "",
        "control within each claim's family (e.g. the input regions of one metric): 'holm' "
        "(family-wise error) or 'fdr_bh' (Benjamini-Hochberg false discovery rate)",
    )
    region_variance: Literal["pooled", "per_region"] = param(
        "pooled",
        "",
        "variance of the per-mouse changes in the region x learning t-tests: 'pooled' across the "
        "regions of one experiment (one-way ANOVA residual variance, df = mice - regions; the "
        "power to reject with 3 mice per region; it assumes the regions' between-mouse spread is "
        "equal) or 'per_region' (df = mice - 1 per region; little power at 3 mice). Where the "
        "pooled assumption fails and what per_region costs: docs/statistics.md",
    )
    precision_weighted_metrics: tuple[str, ...] = param(
        ("population_onset_latency",),
        "",
        "region x learning metrics whose regions are weighted by the sampling precision of "
        "their per-mouse changes when every session carries a <metric>_ci_low/_ci_high "
        "interval: each region's variance is the between-mouse variance common to the regions "
        "(Paule-Mandel) plus the region's mean sampling variance, Knapp-Hartung t, df = mice - "
        "regions (equal sampling variances give the pooled t); with region_variance 'pooled' "
        "only. Default: the population onset latency, whose noise grows as a region's "
        "movement-related axons get few (docs/statistics.md)",
    )
    encoding_primary_metrics: tuple[str, ...] = param(
        ("frac_movement", "median_reliability", "population_onset_latency", "decode_r2"),
        "",
        "encoding metrics whose region x learning family is a primary claim (movement "
        "fraction, reliability, timing shift, decoding); the other metrics are secondary",
    )
    comparison_metric: str = param(
        "frac_movement",
        "",
        "metric of the primary region comparison ('which input changes most'); the comparison "
        "of the other metrics is secondary",
    )
    behavior_primary_metric: str = param(
        "stereotypy",
        "",
        "behavioural-learning metric of the primary test (the others are secondary, corrected)",
    )
    # --- resampling (secondary analyses and the region comparison) -----------------------------
    n_bootstrap: int = param(
        2000, "resamples", "hierarchical bootstrap resamples (mice, then trials/ROIs)", ge=100
    )
    n_permutations: int = param(
        2000,
        "resamples",
        "label permutations of permutation tests (all of them when there are fewer)",
        ge=100,
    )
    seed: int = param(0, "", "seed of every resampling generator", ge=0)
    ci_level: float = param(0.95, "", "confidence level of every interval", gt=0, lt=1)
    min_mice: int = param(
        3,
        "mice",
        "fewest mice for the secondary bootstrap and mixed-model p-values (fewer mice: the "
        "resampling cannot see between-mouse variability, so those p-values are withheld)",
        ge=1,
    )
