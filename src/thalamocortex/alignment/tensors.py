"""Shared pieces of every cross-animal estimator: input checks, lag embedding, trial matching,
per-mouse standardisation/PCA and the shared-space decoder.

Conventions: a *cohort* is a list with one array per mouse. Neural arrays are
``(n_trials, n_time, n_units)`` (any unit count per mouse, the same ``n_time`` for all mice,
trials aligned to movement onset); behaviour arrays are ``(n_trials, n_time)`` or
``(n_trials, n_time, n_behaviour)`` (e.g. the lever position in mm, in the same time bins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from thalamocortex.data.errors import DataError

#: Ridge strengths, relative to the mean eigenvalue of the feature covariance (so one grid
#: fits features of any scale); chosen by cross-validation over trials.
DEFAULT_ALPHAS: tuple[float, ...] = tuple(10.0 ** np.arange(-4.0, 3.5, 0.5))


def as_behaviour(y: np.ndarray) -> np.ndarray:
    """Behaviour as ``(n_trials, n_time, n_behaviour)`` float64."""
    y = np.asarray(y, dtype=np.float64)
    return y[..., None] if y.ndim == 2 else y


def check_cohort(
    X: Sequence[np.ndarray], y: Sequence[np.ndarray] | None = None, what: str = "X"
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Validate a cohort; returns float64 copies (behaviour as 3-D).

    Raises
    ------
    DataError
        Naming the mouse (list position), the field and what was expected.
    """
    if isinstance(X, np.ndarray) or len(X) == 0:
        raise DataError(f"{what}: expected a non-empty list of per-mouse arrays", field=what)
    Xs = []
    for m, x in enumerate(X):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3:
            raise DataError(
                f"mouse {m}: expected (trials, time, units), got shape {x.shape}", field=what
            )
        if not np.isfinite(x).all():
            raise DataError(
                f"mouse {m}: {int((~np.isfinite(x)).sum())} non-finite values (drop or fill "
                "NaN trials/frames first)",
                field=what,
            )
        if x.shape[0] < 2 or x.shape[2] < 1:
            raise DataError(f"mouse {m}: needs >= 2 trials and >= 1 unit, got {x.shape}")
        Xs.append(x)
    n_time = {x.shape[1] for x in Xs}
    if len(n_time) > 1:
        raise DataError(f"{what}: every mouse needs the same time bins, got {sorted(n_time)}")
    if y is None:
        return Xs, None
    if len(y) != len(Xs):
        raise DataError(f"behaviour: {len(y)} mice, but {what} has {len(Xs)}", field="y")
    ys = []
    for m, (x, b) in enumerate(zip(Xs, y)):
        b = as_behaviour(b)
        if b.ndim != 3 or b.shape[:2] != x.shape[:2]:
            raise DataError(
                f"mouse {m}: behaviour shape {b.shape} does not match (trials, time) "
                f"{x.shape[:2]} of the neural array",
                field="y",
            )
        if not np.isfinite(b).all():
            raise DataError(f"mouse {m}: non-finite behaviour values", field="y")
        ys.append(b)
    if len({b.shape[2] for b in ys}) > 1:
        raise DataError("behaviour: every mouse needs the same behavioural variables", field="y")
    return Xs, ys


def lag_embed(z: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Hankel (time-lag) embedding within trials.

    Parameters
    ----------
    z : array (n_trials, n_time, n_features)
    lags : sequence of int
        Lags in time bins; lag ``l`` puts ``z[:, t - l]`` at ``t`` (positive = the past,
        negative = the future). Bins beyond the trial edge repeat the edge bin.

    Returns
    -------
    array (n_trials, n_time, n_features * len(lags)), lag-major.
    """
    n_time = z.shape[1]
    t = np.arange(n_time)
    return np.concatenate([z[:, np.clip(t - int(l), 0, n_time - 1)] for l in lags], axis=2)


def flat(z: np.ndarray) -> np.ndarray:
    """``(n_trials, n_time, k)`` -> ``(n_trials * n_time, k)``."""
    return z.reshape(-1, z.shape[-1])


@dataclass
class UnitScaler:
    """Per-mouse centring, optional scaling to unit SD, and PCA (fitted on training trials).

    Attributes
    ----------
    mean, scale : array (n_units,)
    components : array (n_units, n_pcs)
        Orthonormal principal axes of the standardised activity.
    variance : array (n_pcs,)
        Variance along each axis (training data).
    """

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    variance: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, n_pcs: int, standardize: bool = True) -> UnitScaler:
        f = flat(x)
        mean = f.mean(axis=0)
        fc = f - mean
        scale = fc.std(axis=0) if standardize else np.ones(f.shape[1])
        scale = np.where(scale > 1e-12, scale, 1.0)
        fc = fc / scale
        # eigen-decomposition of the units x units covariance: cheaper than an SVD of the
        # (trials * time) x units matrix, and exact
        cov = fc.T @ fc / len(fc)
        w, v = np.linalg.eigh(cov)
        order = np.argsort(w)[::-1]
        k = max(1, min(int(n_pcs), f.shape[1], len(fc) - 1))
        comps = v[:, order[:k]]
        # a deterministic sign: the largest loading of every axis is positive
        signs = np.sign(comps[np.abs(comps).argmax(axis=0), np.arange(k)])
        return cls(mean, scale, comps * np.where(signs == 0, 1, signs), np.maximum(w[order[:k]], 0))

    def standardize(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale

    def transform(self, x: np.ndarray) -> np.ndarray:
        """PCA scores, ``(n_trials, n_time, n_pcs)``."""
        return self.standardize(x) @ self.components


@dataclass
class TrialMatcher:
    """Trial matching across mice by behaviour (for the trial-matched baselines).

    Trials of different mice do not correspond, so the trial-matched methods (CCA alignment
    as in Safaie et al. 2023, SRM) need a pairing. Every trial's behaviour trajectory is
    scored on the first principal axis of the pooled trajectories (fitted on the training
    mice); each mouse's trials are sorted by that score and ``n_slots`` trials are taken at
    evenly spaced ranks, so slot ``k`` holds a trial of similar behaviour in every mouse.
    """

    mean: np.ndarray
    axis: np.ndarray

    @classmethod
    def fit(cls, ys: Sequence[np.ndarray]) -> TrialMatcher:
        f = np.concatenate([y.reshape(len(y), -1) for y in ys])
        mean = f.mean(axis=0)
        _, _, vt = np.linalg.svd(f - mean, full_matrices=False)
        axis = vt[0] * (np.sign(vt[0].sum()) or 1.0)
        return cls(mean, axis)

    def score(self, y: np.ndarray) -> np.ndarray:
        return (y.reshape(len(y), -1) - self.mean) @ self.axis

    def slots(self, y: np.ndarray, n_slots: int) -> np.ndarray:
        """Trial index of each slot (evenly spaced ranks; repeats when trials < slots)."""
        order = np.argsort(self.score(y), kind="stable")
        ranks = np.round(np.linspace(0, len(order) - 1, n_slots)).astype(int)
        return order[ranks]


def trial_folds(n_trials: int, n_folds: int, seed: int) -> np.ndarray:
    """Fold label of every trial: a seeded permutation cut into ``n_folds`` near-equal parts."""
    k = max(2, min(int(n_folds), n_trials))
    folds = np.empty(n_trials, dtype=np.int64)
    folds[np.random.default_rng(seed).permutation(n_trials)] = np.arange(n_trials) % k
    return folds


@dataclass
class FoldGrams:
    """Sufficient statistics of a least-squares problem per fold of trials.

    With them every ridge fit, every fold's held-out error and every reduced-rank projection
    is a small matrix computation: the data are read once.

    Attributes
    ----------
    G : array (n_folds, n_features, n_features)   Z'Z per fold
    C : array (n_folds, n_features, n_targets)    Z'Y per fold
    yy : array (n_folds, n_targets)               sum of Y**2 per fold
    ysum : array (n_folds, n_targets)             sum of Y per fold
    n : array (n_folds,)                          samples (trials x time bins) per fold
    """

    G: np.ndarray
    C: np.ndarray
    yy: np.ndarray
    ysum: np.ndarray
    n: np.ndarray

    @classmethod
    def compute(cls, z: np.ndarray, y: np.ndarray, folds: np.ndarray) -> FoldGrams:
        k = int(folds.max()) + 1
        f, t = z.shape[-1], y.shape[-1]
        G = np.zeros((k, f, f))
        C = np.zeros((k, f, t))
        yy = np.zeros((k, t))
        ys = np.zeros((k, t))
        n = np.zeros(k)
        for j in range(k):
            zj, yj = flat(z[folds == j]), flat(y[folds == j])
            G[j], C[j] = zj.T @ zj, zj.T @ yj
            yy[j], ys[j], n[j] = (yj**2).sum(0), yj.sum(0), len(zj)
        return cls(G, C, yy, ys, n)

    def sse(self, beta: np.ndarray, folds, proj: np.ndarray | None = None) -> np.ndarray:
        """Sum of squared errors per target of ``Y ~ Z beta (proj)`` on the given folds."""
        folds = list(folds)
        G, C = self.G[folds].sum(0), self.C[folds].sum(0)
        b = beta if proj is None else beta @ proj
        return (
            self.yy[folds].sum(0)
            - 2 * np.einsum("ft,ft->t", b, C)
            + np.einsum("ft,fg,gt->t", b, G, b)
        )

    def sst(self, folds) -> np.ndarray:
        """Total sum of squares per target around the folds' own mean."""
        folds = list(folds)
        n = self.n[folds].sum()
        return self.yy[folds].sum(0) - self.ysum[folds].sum(0) ** 2 / max(n, 1)


def ridge_solve(G: np.ndarray, C: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """Ridge coefficients for every relative strength: array (n_alphas, n_features, n_targets).

    ``alpha`` multiplies the mean eigenvalue of ``G`` (scale-free grid).
    """
    w, v = np.linalg.eigh(G)
    w = np.maximum(w, 0)
    scale = max(w.mean(), 1e-12)
    q = v.T @ C
    return np.stack([v @ (q / (w + a * scale)[:, None]) for a in alphas])


def ridge_cv(grams: FoldGrams, alphas: Sequence[float], folds=None) -> tuple[np.ndarray, float]:
    """Ridge fit on ``folds`` (default all) with the strength chosen by leave-one-fold-out
    cross-validation over those folds (trials, not time bins, are held out: samples within a
    trial are autocorrelated). Returns ``(beta (n_features, n_targets), alpha)``."""
    folds = list(range(len(grams.n))) if folds is None else list(folds)
    err = np.zeros(len(alphas))
    if len(folds) >= 2:
        for j in folds:
            train = [f for f in folds if f != j]
            betas = ridge_solve(grams.G[train].sum(0), grams.C[train].sum(0), alphas)
            err += [grams.sse(b, [j]).sum() for b in betas]
    best = int(np.argmin(err))
    beta = ridge_solve(grams.G[folds].sum(0), grams.C[folds].sum(0), [alphas[best]])[0]
    return beta, float(alphas[best])


class LatentDecoder:
    """The shared-space decoder: ridge regression of behaviour on time-lagged latents.

    Fitted on the training mice's shared latents pooled, then applied unchanged to any mouse
    mapped into the same space (held-out-mouse decoding). Every method is scored with this
    same decoder so that differences come from the shared space alone.
    """

    def __init__(
        self,
        lags: Sequence[int] = (0,),
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        n_folds: int = 3,
        seed: int = 0,
    ):
        self.lags = tuple(int(l) for l in lags)
        self.alphas = tuple(alphas)
        self.n_folds = n_folds
        self.seed = seed

    def fit(self, latents: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> LatentDecoder:
        z = np.concatenate([lag_embed(s, self.lags) for s in latents])
        b = np.concatenate([as_behaviour(y) for y in ys])
        self.z_mean_ = flat(z).mean(axis=0)
        self.y_mean_ = flat(b).mean(axis=0)
        folds = trial_folds(len(z), self.n_folds, self.seed)
        grams = FoldGrams.compute(z - self.z_mean_, b - self.y_mean_, folds)
        self.coef_, self.alpha_ = ridge_cv(grams, self.alphas)
        return self

    def predict(self, latents: np.ndarray) -> np.ndarray:
        """Behaviour ``(n_trials, n_time, n_behaviour)`` from latents ``(n_trials, n_time, d)``."""
        z = lag_embed(latents, self.lags) - self.z_mean_
        return z @ self.coef_ + self.y_mean_


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination pooled over trials, time and behavioural variables
    (sum of squared errors over the total sum of squares around the data's own mean); 0 is
    chance, negative is worse than predicting the mean."""
    y = flat(as_behaviour(y))
    pred = flat(as_behaviour(pred))
    sst = ((y - y.mean(axis=0)) ** 2).sum()
    return float(1.0 - ((y - pred) ** 2).sum() / sst) if sst > 0 else np.nan


class Encoder:
    """A fitted mouse's map into a shared space, plus the shared decoder (base class)."""

    decoder: LatentDecoder | None = None

    def transform(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Behaviour decoded from the shared latents of ``x`` (trials, time, units)."""
        return self.decoder.predict(self.transform(np.asarray(x, dtype=np.float64)))


class AlignmentMixin:
    """Cohort-level ``transform``/``predict``/``score`` for estimators with ``encoders_``."""

    def _encoders(self, n: int, mice: Sequence[int] | None) -> list:
        if not hasattr(self, "encoders_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(X, y) first")
        mice = list(range(n)) if mice is None else list(mice)
        if len(mice) != n:
            raise ValueError(f"mice: {len(mice)} indices for {n} arrays")
        bad = [m for m in mice if not 0 <= m < len(self.encoders_)]
        if bad:
            raise ValueError(f"mice {bad}: the model was fitted on {len(self.encoders_)} mice")
        return [self.encoders_[m] for m in mice]

    def transform(self, X, mice: Sequence[int] | None = None) -> list[np.ndarray]:
        """Shared latents ``(n_trials, n_time, n_shared)`` of each array.

        ``mice`` gives the fitted mouse of each array (default: the fitting order).
        """
        Xs, _ = check_cohort(X)
        return [e.transform(x) for e, x in zip(self._encoders(len(Xs), mice), Xs)]

    def predict(self, X, mice: Sequence[int] | None = None) -> list[np.ndarray]:
        """Behaviour decoded through the shared space, one ``(trials, time, n_beh)`` per mouse."""
        Xs, _ = check_cohort(X)
        return [e.predict(x) for e, x in zip(self._encoders(len(Xs), mice), Xs)]

    def score(self, X, y, mice: Sequence[int] | None = None) -> float:
        """Mean over mice of the decoding R² of the behaviour through the shared space."""
        Xs, ys = check_cohort(X, y)
        preds = self.predict(Xs, mice)
        return float(np.mean([r2_score(b, p) for b, p in zip(ys, preds)]))
