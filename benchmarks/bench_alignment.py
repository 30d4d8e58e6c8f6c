"""Benchmarks of the alignment package.

1. Fit time of SharedRepresentation for 8 mice x 200 trials x 60 time bins x 300 units, as
   ratios to CCAAlignment and CEBRA multi-session fitted on the same data in the same run
   (CEBRA: CPU, ``CEBRA_ITERATIONS`` iterations, skipped with a note when not installed).
2. The study's permutation null for one region x stage group of the demo's size (3 mice x 50
   trials x 38 bins x 80 units, default AlignmentParams, ``N_PERM`` permutations): batched fits
   on activity prepared once (``sharing_permutation_test``) against the reference computed in
   the same run, the whole cross-validated fit repeated from scratch for every permutation (the
   stage's algorithm before the batching); the two nulls must agree to rounding.

SharedRepresentation includes its cross-validated choice of the shared dimensionality (5 folds
x up to 8 dimensions) and the private latents; CCAAlignment includes PCA, trial matching and
multiset CCA. All fits are single-threaded BLAS when run by ``make bench``.
"""

from __future__ import annotations

import time

import numpy as np

import thalamocortex.config  # noqa: F401
from thalamocortex.alignment.baselines import CCAAlignment
from thalamocortex.alignment.params import AlignmentParams
from thalamocortex.alignment.shared import SharedRepresentation
from thalamocortex.alignment.study import cross_validated_sharing, sharing_permutation_test
from thalamocortex.alignment.synthetic import latent_cohort

N_MICE, N_TRIALS, N_TIME, N_UNITS = 8, 200, 60, 300
CEBRA_ITERATIONS = 500
N_PERM = 20


def _time(fit) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fit()
    return time.perf_counter() - w, time.process_time() - c


def permutation_null() -> None:
    c = latent_cohort(n_mice=3, n_trials=50, n_time=38, units=(60, 100), seed=0)
    p, rate = AlignmentParams(), 15.0
    print(f"   study null: 3 mice x 50 trials x 38 bins x 60-100 units, {N_PERM} permutations")
    out = {}
    t_fast = _time(lambda: out.update(fast=sharing_permutation_test(c.X, c.y, p, rate, 0, N_PERM)))

    def scratch():
        rng = np.random.default_rng(0)  # the permutations sharing_permutation_test draws
        null = []
        for _ in range(N_PERM):
            yp = [b[rng.permutation(len(b))] for b in c.y]
            null.append(cross_validated_sharing(c.X, yp, p, rate, 0)["decode_r2"].mean())
        out["ref"] = np.array(null)

    t_ref = _time(scratch)
    diff = abs(out["fast"]["null_mean"] - out["ref"].mean())
    print(f"   batched null:           {t_fast[0]:.2f} s wall, {t_fast[1]:.2f} s CPU")
    print(f"   refit per permutation:  {t_ref[0]:.2f} s wall, {t_ref[1]:.2f} s CPU")
    print(
        f"   ratio batched / refit (CPU): {t_fast[1] / t_ref[1]:.3f} "
        f"(null means differ by {diff:.1e})"
    )


def main() -> None:
    permutation_null()
    c = latent_cohort(
        n_mice=N_MICE, n_trials=N_TRIALS, n_time=N_TIME, units=(N_UNITS, N_UNITS), seed=0
    )
    print(f"   data: {N_MICE} mice x {N_TRIALS} trials x {N_TIME} bins x {N_UNITS} units")
    shared = SharedRepresentation()
    t_shared = _time(lambda: shared.fit(c.X, c.y))
    t_cca = _time(lambda: CCAAlignment().fit(c.X, c.y))
    print(
        f"   SharedRepresentation: {t_shared[0]:.2f} s wall, {t_shared[1]:.2f} s CPU "
        f"(d = {shared.n_shared_} by CV)"
    )
    print(f"   CCAAlignment:         {t_cca[0]:.2f} s wall, {t_cca[1]:.2f} s CPU")
    print(f"   ratio SharedRepresentation / CCAAlignment (CPU): {t_shared[1] / t_cca[1]:.2f}")
    try:
        from thalamocortex.alignment.anchor import CEBRAMultiSession

        t_cebra = _time(lambda: CEBRAMultiSession(max_iterations=CEBRA_ITERATIONS).fit(c.X, c.y))
    except ImportError as err:
        print(f"   CEBRA not installed ({err}); no CEBRA ratio")
        return
    print(f"   CEBRA ({CEBRA_ITERATIONS} it.):     {t_cebra[0]:.2f} s wall, {t_cebra[1]:.2f} s CPU")
    print(f"   ratio SharedRepresentation / CEBRA (CPU): {t_shared[1] / t_cebra[1]:.3f}")


if __name__ == "__main__":
    main()
