"""Benchmark: fit time of SharedRepresentation for 8 mice x 200 trials x 60 time bins x 300
units, as ratios to CCAAlignment and CEBRA multi-session fitted on the same data in the same
run (CEBRA: CPU, ``CEBRA_ITERATIONS`` iterations, skipped with a note when not installed).

SharedRepresentation includes its cross-validated choice of the shared dimensionality (5 folds
x up to 8 dimensions) and the private latents; CCAAlignment includes PCA, trial matching and
multiset CCA. All fits are single-threaded BLAS when run by ``make bench``.
"""

from __future__ import annotations

import time

import thalamocortex.config  # noqa: F401
from thalamocortex.alignment.baselines import CCAAlignment
from thalamocortex.alignment.shared import SharedRepresentation
from thalamocortex.alignment.synthetic import latent_cohort

N_MICE, N_TRIALS, N_TIME, N_UNITS = 8, 200, 60, 300
CEBRA_ITERATIONS = 500


def _time(fit) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fit()
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
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
