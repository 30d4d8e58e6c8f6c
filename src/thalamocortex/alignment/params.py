"""Parameters of the cross-animal alignment stage (the ShaReD-style shared representation).

The published method's objective and settings are unknown (SCIENCE.md §1); every value here is
this project's documented choice (docs/alignment.md).
"""

from __future__ import annotations

import numpy as np

from thalamocortex.config import ParamGroup, param


class AlignmentParams(ParamGroup):
    window_s: tuple[float, float] = param(
        (-0.5, 2.0), "s", "movement-aligned window of the trial tensors (activity and lever)"
    )
    neural_lags_s: tuple[float, float] = param(
        (-0.3, 0.3),
        "s",
        "span of activity lags of the Hankel embedding (negative = activity after the bin)",
    )
    lag_step_s: float = param(
        0.1, "s", "step between activity lags (rounded to whole frames, >= 1 frame)", gt=0
    )
    behavior_horizon_s: tuple[float, float] = param(
        (-0.5, 1.5),
        "s",
        "span of the behaviour window the shared latents must predict (PSID's future "
        "behaviour, extended into the past for offline analysis)",
    )
    horizon_step_s: float = param(0.2, "s", "step between behaviour offsets", gt=0)
    n_shared: int = param(
        3,
        "dims",
        "shared dimensionality of the study analysis (fixed so that the permutation null "
        "repeats exactly the same procedure; the cross-validated choice is reported beside it)",
        ge=1,
    )
    max_shared: int = param(6, "dims", "largest shared dimensionality tried by the CV", ge=1)
    n_pcs: int = param(20, "dims", "principal axes per mouse before the lag embedding", ge=1)
    n_folds: int = param(3, "folds", "folds over trials of the study-level cross-validation", ge=2)
    inner_folds: int = param(
        5,
        "folds",
        "folds over training trials of the cross-validation inside every fit (ridge strength, "
        "shared dimensionality); the permutation null repeats it in every resample",
        ge=2,
    )
    ridge_log10_range: tuple[float, float] = param(
        (-4.0, 3.0),
        "log10",
        "smallest and largest ridge strength of the inner cross-validation grid, relative to the "
        "mean eigenvalue of the features' Gram matrix",
    )
    ridge_n_alphas: int = param(
        15, "values", "ridge strengths in the grid (log-spaced over ridge_log10_range)", ge=1
    )
    n_permutations: int = param(
        200,
        "resamples",
        "behaviour-trial permutations (within every mouse) of the shared-structure null "
        "(smallest attainable p = 1 / (n + 1))",
        ge=10,
    )
    permutation_batch: int = param(
        50,
        "resamples",
        "permutations fitted side by side (memory ~ batch x features^2 x 8 bytes per mouse and "
        "fold; results do not depend on it)",
        ge=1,
    )
    min_mice: int = param(2, "mice", "fewest mice per region and stage to align", ge=2)
    min_trials: int = param(10, "trials", "fewest complete rewarded trials per mouse", ge=4)
    max_trials: int = param(
        0, "trials", "cap of trials per mouse and stage (0 = all; bounds the run time)", ge=0
    )

    def alphas(self) -> tuple[float, ...]:
        """The ridge grid: ``ridge_n_alphas`` strengths log-spaced over ``ridge_log10_range``."""
        lo, hi = self.ridge_log10_range
        return tuple(float(a) for a in np.logspace(lo, hi, self.ridge_n_alphas))
