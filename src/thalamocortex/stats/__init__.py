"""Statistics with mice as the unit of replication: hierarchical bootstrap, mixed models,
permutation tests and multiple-comparison control."""

from thalamocortex.stats.models import fdr_bh, holm, mixed_model
from thalamocortex.stats.resampling import (
    BootstrapResult,
    empirical_p,
    hierarchical_bootstrap,
    hierarchical_weights,
    permutation_test_groups,
    permutation_test_paired,
    unit_slopes,
    weighted_mean,
    weighted_median,
)

__all__ = [
    "BootstrapResult",
    "empirical_p",
    "fdr_bh",
    "hierarchical_bootstrap",
    "hierarchical_weights",
    "holm",
    "mixed_model",
    "permutation_test_groups",
    "permutation_test_paired",
    "unit_slopes",
    "weighted_mean",
    "weighted_median",
]
