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
    return Xs, check_behaviour([x.shape[:2] for x in Xs], y, what)


def check_behaviour(
    shapes: Sequence[tuple[int, int]], y: Sequence[np.ndarray], what: str = "X"
) -> list[np.ndarray]:
    """Validate per-mouse behaviour against the ``(n_trials, n_time)`` of each neural array;
    returns float64 3-D copies. Raises :class:`DataError` naming the mouse and field."""
    if len(y) != len(shapes):
        raise DataError(f"behaviour: {len(y)} mice, but {what} has {len(shapes)}", field="y")
    ys = []
    for m, (shape, b) in enumerate(zip(shapes, y)):
        b = as_behaviour(b)
        if b.ndim != 3 or b.shape[:2] != tuple(shape):
            raise DataError(
                f"mouse {m}: behaviour shape {b.shape} does not match (trials, time) "
                f"{tuple(shape)} of the neural array",
                field="y",
            )
        if not np.isfinite(b).all():
            raise DataError(f"mouse {m}: non-finite behaviour values", field="y")
        ys.append(b)
    if len({b.shape[2] for b in ys}) > 1:
        raise DataError("behaviour: every mouse needs the same behavioural variables", field="y")
    return ys


def lag_embed(z: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Hankel (time-lag) embedding within trials.

    Parameters
    ----------
    z : array (..., n_trials, n_time, n_features)
    lags : sequence of int
        Lags in time bins; lag ``l`` puts ``z[:, t - l]`` at ``t`` (positive = the past,
        negative = the future). Bins beyond the trial edge repeat the edge bin.

    Returns
    -------
    array (..., n_trials, n_time, n_features * len(lags)), lag-major.
    """
    n_time = z.shape[-2]
    t = np.arange(n_time)
    return np.concatenate([z[..., np.clip(t - int(l), 0, n_time - 1), :] for l in lags], axis=-1)


def flat(z: np.ndarray) -> np.ndarray:
    """``(..., n_trials, n_time, k)`` -> ``(..., n_trials * n_time, k)`` (leading axes, e.g.
    one per permutation, are kept)."""
    return z.reshape(z.shape[:-3] + (-1, z.shape[-1]))


def _t(a: np.ndarray) -> np.ndarray:
    """Transpose of the last two axes."""
    return np.swapaxes(a, -1, -2)


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


class FoldDesign:
    """The target-independent half of a least-squares problem cross-validated over folds of
    trials: per-fold Gram matrices of the features and, cached, their sums over any set of
    folds with eigen-decompositions.

    The features (e.g. one mouse's embedded activity) are read once; every later set of targets
    (the behaviour, or a batch of its permutations across trials for a null) costs one product
    ``Z'Y`` per fold (:meth:`grams`), and every ridge fit or held-out error after that is a
    small matrix computation.

    Parameters
    ----------
    z : array (..., n_trials, n_time, n_features)
        Leading axes (optional) are a batch of problems solved side by side.
    folds : array (n_trials,) of int
        Fold label of every trial (trials, not time bins, are held out: samples within a trial
        are autocorrelated).
    """

    def __init__(self, z: np.ndarray, folds: np.ndarray):
        folds = np.asarray(folds)
        k = int(folds.max()) + 1
        #: trial indices of each fold
        self.index = [np.flatnonzero(folds == j) for j in range(k)]
        #: per fold, the features flattened to (..., trials * time, n_features), contiguous
        self.z = [np.ascontiguousarray(flat(z[..., i, :, :])) for i in self.index]
        self.G = np.stack([_t(zj) @ zj for zj in self.z])  # (n_folds, ..., F, F)
        self.n = np.array([zj.shape[-2] for zj in self.z], dtype=np.float64)
        self._sums: dict[tuple[int, ...], np.ndarray] = {}
        self._eigs: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._rotated: dict[tuple[tuple[int, ...], int], np.ndarray] = {}

    @property
    def n_folds(self) -> int:
        return len(self.index)

    def gram(self, folds) -> np.ndarray:
        """``Z'Z`` summed over ``folds`` (cached)."""
        key = tuple(sorted(int(f) for f in folds))
        if key not in self._sums:
            self._sums[key] = self.G[list(key)].sum(0)
        return self._sums[key]

    def eig(self, folds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eigenvalues (clipped at 0), eigenvectors and mean eigenvalue (floored at 1e-12) of
        :meth:`gram` (cached): the ridge path on these folds for any targets and strengths."""
        key = tuple(sorted(int(f) for f in folds))
        if key not in self._eigs:
            w, v = np.linalg.eigh(self.gram(key))
            w = np.maximum(w, 0)
            self._eigs[key] = (w, v, np.maximum(w.mean(-1), 1e-12))
        return self._eigs[key]

    def rotated(self, folds, j: int) -> np.ndarray:
        """Fold ``j``'s ``Z'Z`` in the eigenbasis of :meth:`gram` of ``folds`` (cached)."""
        key = (tuple(sorted(int(f) for f in folds)), int(j))
        if key not in self._rotated:
            v = self.eig(key[0])[1]
            self._rotated[key] = _t(v) @ self.G[j] @ v
        return self._rotated[key]

    def grams(self, y: np.ndarray) -> FoldGrams:
        """The per-fold statistics of targets ``y`` (..., n_trials, n_time, n_targets); leading
        axes of ``y`` (e.g. permutations) broadcast against the design's."""
        ys = [flat(y[..., i, :, :]) for i in self.index]
        return FoldGrams(
            self,
            np.stack([_t(zj) @ yj for zj, yj in zip(self.z, ys)]),
            np.stack([(yj**2).sum(-2) for yj in ys]),
            np.stack([yj.sum(-2) for yj in ys]),
        )


@dataclass
class FoldGrams:
    """Sufficient statistics of a least-squares problem per fold of trials (the fold is the
    first axis; any further leading axes are a batch of problems).

    Attributes
    ----------
    design : FoldDesign                                the features' half (``G``, ``n``, eigens)
    C : array (n_folds, ..., n_features, n_targets)    Z'Y per fold
    yy : array (n_folds, ..., n_targets)               sum of Y**2 per fold
    ysum : array (n_folds, ..., n_targets)             sum of Y per fold
    """

    design: FoldDesign
    C: np.ndarray
    yy: np.ndarray
    ysum: np.ndarray

    @classmethod
    def compute(cls, z: np.ndarray, y: np.ndarray, folds: np.ndarray) -> FoldGrams:
        return FoldDesign(z, folds).grams(y)

    @property
    def G(self) -> np.ndarray:
        return self.design.G

    @property
    def n(self) -> np.ndarray:
        return self.design.n

    def sse(self, beta: np.ndarray, folds, proj: np.ndarray | None = None) -> np.ndarray:
        """Sum of squared errors per target of ``Y ~ Z beta (proj)`` on the given folds."""
        folds = list(folds)
        G, C = self.design.gram(folds), self.C[folds].sum(0)
        b = beta if proj is None else beta @ proj
        return self.yy[folds].sum(0) - 2 * (b * C).sum(-2) + (b * (G @ b)).sum(-2)

    def sst(self, folds) -> np.ndarray:
        """Total sum of squares per target around the folds' own mean."""
        folds = list(folds)
        n = self.n[folds].sum()
        return self.yy[folds].sum(0) - self.ysum[folds].sum(0) ** 2 / max(n, 1)


def ridge_cv(grams: FoldGrams, alphas: Sequence[float], folds=None):
    """Ridge fit on ``folds`` (default all) with the strength chosen by leave-one-fold-out
    cross-validation over those folds (trials, not time bins, are held out: samples within a
    trial are autocorrelated). Strengths are relative to the mean eigenvalue of the training
    ``Z'Z`` (one grid fits features of any scale).

    Returns ``(beta (..., n_features, n_targets), alpha)``; ``alpha`` is a float for an
    unbatched problem, else an array over the batch (each problem chooses its own).

    The held-out error of every strength is closed-form in the eigenbasis ``V`` of the training
    Gram matrix (eigenvalues ``w``, mean ``s``): with ``q = V'C_train``, ``c = V'C_j``,
    ``H = V'G_j V`` and ``d_a = 1 / (w + a s)``, the coefficients are ``V diag(d_a) q`` and

        SSE_j(a) = Σ y_j² − 2 d_a'(q ∘ c) 1 + d_a' (H ∘ q q') d_a,

    so the whole grid costs a few products of the size of one fit (``V`` and ``H`` depend on
    the features only and are cached across targets).
    """
    folds = list(range(len(grams.n))) if folds is None else list(folds)
    a = np.asarray(alphas, dtype=np.float64)
    err = np.zeros(grams.C.shape[1:-2] + (len(a),))
    if len(folds) >= 2:
        for j in folds:
            train = [f for f in folds if f != j]
            w, v, scale = grams.design.eig(train)
            q = _t(v) @ grams.C[train].sum(0)
            c = _t(v) @ grams.C[j]
            d = 1.0 / (w[..., None, :] + a[:, None] * scale[..., None, None])  # (..., A, F)
            M = grams.design.rotated(train, j) * (q @ _t(q))
            err = err + (
                grams.yy[j].sum(-1)[..., None]
                - 2 * (d * (q * c).sum(-1)[..., None, :]).sum(-1)
                + ((d @ M) * d).sum(-1)
            )
    best = np.argmin(err, axis=-1)
    w, v, scale = grams.design.eig(folds)
    q = _t(v) @ grams.C[folds].sum(0)
    beta = v @ (q / (w + a[best][..., None] * scale[..., None])[..., :, None])
    return beta, (float(a[best]) if np.ndim(best) == 0 else a[best])


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
        """Fit on per-mouse latents ``(..., n_trials, n_time, d)`` and behaviour ``(...,
        n_trials, n_time[, n_behaviour])``, pooled over mice; leading axes (a batch of
        problems, e.g. permutations) give batched coefficients."""
        z = np.concatenate([lag_embed(s, self.lags) for s in latents], axis=-3)
        b = np.concatenate(
            [y[..., None] if y.ndim == s.ndim - 1 else y for y, s in zip(ys, latents)], axis=-3
        ).astype(np.float64)
        self.z_mean_ = flat(z).mean(axis=-2)
        self.y_mean_ = flat(b).mean(axis=-2)
        folds = trial_folds(z.shape[-3], self.n_folds, self.seed)
        grams = FoldGrams.compute(
            z - self.z_mean_[..., None, None, :], b - self.y_mean_[..., None, None, :], folds
        )
        self.coef_, self.alpha_ = ridge_cv(grams, self.alphas)
        return self

    def predict(self, latents: np.ndarray) -> np.ndarray:
        """Behaviour ``(..., n_trials, n_time, n_behaviour)`` from latents ``(..., n_trials,
        n_time, d)``."""
        z = lag_embed(latents, self.lags) - self.z_mean_[..., None, None, :]
        return z @ self.coef_[..., None, :, :] + self.y_mean_[..., None, None, :]


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination pooled over trials, time and behavioural variables
    (sum of squared errors over the total sum of squares around the data's own mean); 0 is
    chance, negative is worse than predicting the mean."""
    y = flat(as_behaviour(y))
    pred = flat(as_behaviour(pred))
    sst = ((y - y.mean(axis=0)) ** 2).sum()
    return float(1.0 - ((y - pred) ** 2).sum() / sst) if sst > 0 else np.nan


def r2_batch(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """:func:`r2_score` over a batch: ``y`` ``(n_trials, n_time, n_beh)`` or with the batch's
    leading axes, ``pred`` ``(..., n_trials, n_time, n_beh)``; returns an array over the
    batch (NaN where the behaviour has no variance)."""
    y, pred = np.broadcast_arrays(y, pred)
    yf, pf = flat(y), flat(pred)
    sst = ((yf - yf.mean(axis=-2, keepdims=True)) ** 2).sum(axis=(-2, -1))
    sse = ((yf - pf) ** 2).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sst > 0, 1.0 - sse / sst, np.nan)


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
