"""Slow validation sweeps of the alignment methods (``make test-slow``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

import thalamocortex.config  # noqa: F401
from thalamocortex.alignment.params import AlignmentParams
from thalamocortex.alignment.study import sharing_permutation_test
from thalamocortex.alignment.synthetic import latent_cohort
from thalamocortex.alignment.validation import default_methods, summarize, validate_alignment

pytestmark = pytest.mark.slow


def test_study_test_rejects_at_nominal_rate_on_null_cohorts():
    """100 null cohorts (no shared latent in the neurons): rejections <= alpha, with the
    Clopper-Pearson 95 % CI printed (measured: 5/100, CI [0.016, 0.113]; 10/100 at p <= 0.1,
    56/100 at p <= 0.5: uniform p); and power on 10 matching effect cohorts. (20 null cohorts
    before the null was batched; the sweep now costs well under a minute of CPU.)"""
    p = AlignmentParams(n_folds=3, n_pcs=10, n_shared=2)
    kw = dict(n_mice=3, n_trials=40, n_time=30, units=(15, 30))
    alpha, n_seeds, n_perm = 0.05, 100, 39
    null_p = [
        sharing_permutation_test(
            *_xy(latent_cohort(**kw, shared_in_neurons=False, seed=100 + s)),
            p,
            20.0,
            seed=s,
            n_permutations=n_perm,
        )["p"]
        for s in range(n_seeds)
    ]
    k = int(np.sum(np.asarray(null_p) <= alpha))
    ci = binomtest(k, n_seeds).proportion_ci(0.95)
    print(f"null rejections {k}/{n_seeds}, 95% CI [{ci.low:.3f}, {ci.high:.3f}]")
    assert k / n_seeds <= alpha
    power = np.mean(
        [
            sharing_permutation_test(
                *_xy(latent_cohort(**kw, private_sd=3.0, seed=200 + s)),
                p,
                20.0,
                seed=s,
                n_permutations=n_perm,
            )["p"]
            <= alpha
            for s in range(10)
        ]
    )
    print(f"power (private SD 3) {power:.2f}")
    assert power >= 0.8


def _xy(c):
    return c.X, c.y


def test_four_way_comparison_with_cebra():
    pytest.importorskip("cebra")
    c = latent_cohort(n_mice=5, n_trials=100, private_sd=4.0, n_private=10, seed=0)
    tab = validate_alignment(
        c.X, c.y, c.shared, methods=default_methods(cebra_iterations=800), seeds=(0, 1, 2)
    )
    s = summarize(tab).set_index("method")
    print(s.round(3).to_string())
    shared = s.loc["SharedRepresentation", "lomo_r2_mean"]
    assert shared >= s.loc["CCAAlignment", "lomo_r2_mean"] + 0.1
    assert shared >= s.loc["SRM", "lomo_r2_mean"] + 0.1
    assert shared >= s.loc["CEBRA", "lomo_r2_mean"]
