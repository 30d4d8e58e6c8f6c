"""``SharedRepresentation``: behaviour-supervised shared and private latents across mice.

The ShaReD method's objective is unpublished (SCIENCE.md §1); this is the project's own design,
derived in docs/alignment.md. In short, for mouse ``m`` with time-lag (Hankel) embedded
activity ``z_m(t)`` (its own PCA axes at lags ``neural_lags``) and the future behaviour
``f(t) = [y(t + h_1), ..., y(t + h_H)]`` (``behavior_horizon``):

1. per mouse, the ridge projection of the future behaviour on the activity,
   ``f̂_m = z_m B_m`` (PSID's first stage: the part of the future movement predictable from the
   neural state);
2. one basis ``V`` (``H·n_beh x d``) common to all mice: the top right singular vectors of the
   stacked projections of all mice (each mouse weighted equally) — the exact minimiser of
   ``Σ_m ||f̂_m - f̂_m V V'||²``, i.e. a reduced-rank regression whose output subspace is shared;
3. shared latents ``s_m(t) = z_m(t) B_m V`` (encoder ``E_m = B_m V``): every coordinate has the
   same meaning (a pattern of future movement) in every mouse, while each mouse keeps its own
   neurons and loadings; their shared linear dynamics ``s(t+1) ≈ A s(t)`` are fitted pooled;
4. private latents: the leading principal axes of each mouse's activity left after the shared
   latents' loadings are removed (behaviour-unrelated, mouse-specific);
5. ``d`` by cross-validation over trials (held-out future-behaviour R², smallest ``d`` within
   one standard error of the best), the private dimensionality by held-out variance against
   the noise floor (split-half over trials).

A mouse not seen in fitting gets only its encoder (steps 1 and 4 with ``V`` fixed):
:meth:`SharedRepresentation.fit_encoder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator

from thalamocortex.alignment.tensors import (
    DEFAULT_ALPHAS,
    AlignmentMixin,
    Encoder,
    FoldGrams,
    LatentDecoder,
    UnitScaler,
    as_behaviour,
    check_cohort,
    flat,
    lag_embed,
    ridge_cv,
    trial_folds,
)


@dataclass
class SharedEncoder(Encoder):
    """One mouse's map into the shared space, and its shared and private loadings.

    Attributes
    ----------
    scaler : UnitScaler          per-unit centring/scaling and PCA axes
    lags : tuple of int          neural lags of the Hankel embedding (bins)
    z_mean : array (n_features,) mean of the embedded features
    weights : array (n_features, n_shared)  the encoder ``B_m V``
    loadings : array (n_shared, n_units)    standardised activity per unit of shared latent
    private_axes : array (n_units, n_private)  private principal axes (orthonormal)
    alpha : float                 chosen ridge strength (relative)
    decoder : LatentDecoder       the shared-space behaviour decoder
    """

    scaler: UnitScaler
    lags: tuple[int, ...]
    z_mean: np.ndarray
    beta: np.ndarray
    weights: np.ndarray
    loadings: np.ndarray
    private_axes: np.ndarray
    alpha: float
    decoder: LatentDecoder | None = None

    def embed(self, x: np.ndarray) -> np.ndarray:
        return lag_embed(self.scaler.transform(x), self.lags) - self.z_mean

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Shared latents ``(n_trials, n_time, n_shared)``."""
        return self.embed(np.asarray(x, dtype=np.float64)) @ self.weights

    def private(self, x: np.ndarray) -> np.ndarray:
        """Private latents ``(n_trials, n_time, n_private)``."""
        x = np.asarray(x, dtype=np.float64)
        resid = self.scaler.standardize(x) - self.transform(x) @ self.loadings
        return resid @ self.private_axes

    def variance_partition(self, x: np.ndarray) -> dict[str, float]:
        """Fractions of the (standardised) activity variance of ``x`` explained by the shared
        latents and by the private latents (held-out when ``x`` was not used in fitting)."""
        x = np.asarray(x, dtype=np.float64)
        xs = flat(self.scaler.standardize(x))
        xs = xs - xs.mean(axis=0)
        s = flat(self.transform(x))
        shared = s @ self.loadings
        shared -= shared.mean(axis=0)
        resid = xs - shared
        priv = resid @ self.private_axes @ self.private_axes.T
        total = (xs**2).sum()
        f_shared = 1.0 - (resid**2).sum() / total
        f_both = 1.0 - ((resid - priv) ** 2).sum() / total
        return {"shared": float(f_shared), "private": float(f_both - f_shared)}


class SharedRepresentation(AlignmentMixin, BaseEstimator):
    """Behaviour-supervised shared latents across mice with per-mouse encoders (ShaReD-style).

    Parameters
    ----------
    n_shared : int or "cv"
        Shared dimensionality; ``"cv"`` chooses it by cross-validation over trials (1-SE rule).
    max_shared : int
        Largest dimensionality tried by the cross-validation.
    n_private : int or "auto"
        Private dimensionality per mouse; ``"auto"`` keeps the residual principal axes whose
        held-out (split-half) variance exceeds ``private_noise_factor`` times the median.
    max_private : int
    n_pcs : int
        Principal axes kept per mouse before the lag embedding (regularises any unit count).
    neural_lags : tuple of int
        Lags of the activity in time bins (positive = the past, negative = the future).
    behavior_horizon : tuple of int
        Offsets (bins) of the future behaviour the shared latents must predict.
    decoder_lags : tuple of int
        Latent lags of the shared-space behaviour decoder (the same decoder scores every
        method).
    alphas : tuple of float
        Relative ridge strengths (cross-validated over trials).
    n_folds : int
        Folds over trials of every cross-validation.
    standardize : bool
        Scale every unit to unit SD before PCA.
    private_noise_factor : float
    random_state : int
    """

    def __init__(
        self,
        n_shared: int | str = "cv",
        max_shared: int = 8,
        n_private: int | str = "auto",
        max_private: int = 10,
        n_pcs: int = 30,
        neural_lags: tuple[int, ...] = (-4, -2, 0, 2, 4),
        behavior_horizon: tuple[int, ...] = (-10, -5, 0, 5, 10, 15, 20, 25, 30),
        decoder_lags: tuple[int, ...] = (-2, 0, 2),
        alphas: tuple[float, ...] = DEFAULT_ALPHAS,
        n_folds: int = 5,
        standardize: bool = True,
        private_noise_factor: float = 2.0,
        random_state: int = 0,
    ):
        self.n_shared = n_shared
        self.max_shared = max_shared
        self.n_private = n_private
        self.max_private = max_private
        self.n_pcs = n_pcs
        self.neural_lags = neural_lags
        self.behavior_horizon = behavior_horizon
        self.decoder_lags = decoder_lags
        self.alphas = alphas
        self.n_folds = n_folds
        self.standardize = standardize
        self.private_noise_factor = private_noise_factor
        self.random_state = random_state

    # -- pieces ------------------------------------------------------------------------------

    def _future(self, y: np.ndarray) -> np.ndarray:
        """Standardised future behaviour (trials, time, H * n_beh), centred per mouse."""
        b = (as_behaviour(y) - self.y_mean_) / self.y_scale_
        b = b - flat(b).mean(axis=0)
        return lag_embed(b, [-int(h) for h in self.behavior_horizon])

    def _mouse_grams(self, x: np.ndarray, y: np.ndarray, seed: int):
        scaler = UnitScaler.fit(x, self.n_pcs, self.standardize)
        z = lag_embed(scaler.transform(x), self.neural_lags)
        z_mean = flat(z).mean(axis=0)
        folds = trial_folds(len(x), self.n_folds, seed)
        # only the bins whose whole behaviour window lies inside the trial enter the regression
        # (repeating the edge value would make the state -> future map time-dependent)
        n_time = x.shape[1]
        lo = max(0, -min(self.behavior_horizon))
        hi = n_time - max(0, max(self.behavior_horizon))
        if hi - lo < 2:
            raise ValueError(
                f"behavior_horizon {self.behavior_horizon} leaves {hi - lo} of {n_time} bins"
            )
        keep = slice(lo, hi)
        return (
            scaler,
            z_mean,
            FoldGrams.compute((z - z_mean)[:, keep], self._future(y)[:, keep], folds),
        )

    def _seed(self, m: int) -> int:
        return int(np.random.SeedSequence([int(self.random_state), m]).generate_state(1)[0])

    def _check_params(self) -> None:
        if not (self.n_shared == "cv" or (isinstance(self.n_shared, int) and self.n_shared >= 1)):
            raise ValueError(f"n_shared: expected 'cv' or an int >= 1, got {self.n_shared!r}")
        if not (
            self.n_private == "auto" or (isinstance(self.n_private, int) and self.n_private >= 0)
        ):
            raise ValueError(f"n_private: expected 'auto' or an int >= 0, got {self.n_private!r}")
        if len(self.behavior_horizon) < 1 or len(self.neural_lags) < 1:
            raise ValueError("behavior_horizon and neural_lags need at least one offset")

    @staticmethod
    def _basis(grams: list[FoldGrams], betas: list[np.ndarray], folds=None) -> tuple:
        """Shared output basis: eigenvectors of the pooled Gram of the fitted future behaviour
        on ``folds`` (default all), each mouse weighted by 1 / its sample count."""
        sel = slice(None) if folds is None else list(folds)
        M = sum(b.T @ g.G[sel].sum(0) @ b / g.n[sel].sum() for g, b in zip(grams, betas))
        w, v = np.linalg.eigh(M)
        order = np.argsort(w)[::-1]
        v = v[:, order]
        signs = np.sign(v[np.abs(v).argmax(axis=0), np.arange(v.shape[1])])
        return v * np.where(signs == 0, 1, signs), np.maximum(w[order], 0)

    def _private_axes(self, x: np.ndarray, resid: np.ndarray, seed: int) -> np.ndarray:
        """Private axes of the residual (trials, time, units); dimensionality as configured."""
        n_units = resid.shape[2]
        k_max = max(0, min(self.max_private, n_units - 1))
        if self.n_private != "auto":
            k = min(int(self.n_private), n_units)
        elif k_max == 0 or len(resid) < 4:
            k = 0
        else:
            half = trial_folds(len(resid), 2, seed)
            a, b = flat(resid[half == 0]), flat(resid[half == 1])
            a = a - a.mean(0)
            b = b - b.mean(0)
            w, v = np.linalg.eigh(a.T @ a)
            v = v[:, np.argsort(w)[::-1]]
            held = ((b @ v) ** 2).mean(axis=0)  # held-out variance along each axis
            floor = np.median(held)
            above = held[:k_max] > self.private_noise_factor * floor
            k = int(np.argmin(above)) if not above.all() else k_max
        if k == 0:
            return np.zeros((n_units, 0))
        r = flat(resid)
        r = r - r.mean(0)
        w, v = np.linalg.eigh(r.T @ r)
        return v[:, np.argsort(w)[::-1][:k]]

    def _finish_encoder(self, x, scaler, z_mean, beta, alpha, seed) -> SharedEncoder:
        weights = beta @ self.basis_[:, : self.n_shared_]
        enc = SharedEncoder(
            scaler=scaler,
            lags=tuple(int(l) for l in self.neural_lags),
            z_mean=z_mean,
            beta=beta,
            weights=weights,
            loadings=np.zeros((self.n_shared_, x.shape[2])),
            private_axes=np.zeros((x.shape[2], 0)),
            alpha=alpha,
        )
        s = flat(enc.transform(x))
        xs = flat(scaler.standardize(x))
        xs = xs - xs.mean(axis=0)
        s_c = s - s.mean(axis=0)
        enc.loadings = np.linalg.lstsq(s_c, xs, rcond=None)[0]
        resid = (xs - s_c @ enc.loadings).reshape(x.shape)
        enc.private_axes = self._private_axes(x, resid, seed)
        return enc

    # -- API ---------------------------------------------------------------------------------

    def fit(self, X: Sequence[np.ndarray], y: Sequence[np.ndarray]) -> SharedRepresentation:
        """Fit the shared basis and every mouse's encoder.

        Parameters
        ----------
        X : list of arrays (n_trials_m, n_time, n_units_m)
            Activity per mouse (e.g. dF/F), trials aligned to movement onset.
        y : list of arrays (n_trials_m, n_time[, n_behaviour])
            Behaviour (e.g. lever position) in the same trials and bins.
        """
        self._check_params()
        Xs, ys = check_cohort(X, y)
        allb = np.concatenate([flat(b) for b in ys])
        self.y_mean_ = allb.mean(axis=0)
        self.y_scale_ = np.where(allb.std(axis=0) > 0, allb.std(axis=0), 1.0)
        seeds = [self._seed(m) for m in range(len(Xs))]
        parts = [self._mouse_grams(x, b, s) for x, b, s in zip(Xs, ys, seeds)]
        grams = [p[2] for p in parts]
        n_targets = grams[0].C.shape[2]
        d_max = max(1, min(int(self.max_shared), n_targets))
        if self.n_shared == "cv":
            self.cv_r2_ = self._cv_curve(grams, d_max)
            mean = self.cv_r2_.mean(axis=0)
            se = self.cv_r2_.std(axis=0, ddof=1) / np.sqrt(len(self.cv_r2_))
            best = int(np.argmax(mean))
            self.n_shared_ = int(np.flatnonzero(mean >= mean[best] - se[best])[0]) + 1
        else:
            self.cv_r2_ = None
            self.n_shared_ = min(int(self.n_shared), n_targets)
        fits = [ridge_cv(g, self.alphas) for g in grams]
        self.basis_, self.basis_variance_ = self._basis(grams, [f[0] for f in fits])
        self.encoders_ = [
            self._finish_encoder(x, p[0], p[1], f[0], f[1], s)
            for x, p, f, s in zip(Xs, parts, fits, seeds)
        ]
        latents = [e.transform(x) for e, x in zip(self.encoders_, Xs)]
        self.decoder_ = LatentDecoder(
            self.decoder_lags, self.alphas, n_folds=min(3, self.n_folds), seed=self.random_state
        ).fit(latents, ys)
        for e in self.encoders_:
            e.decoder = self.decoder_
        self.dynamics_ = self._dynamics(latents)
        self.n_mice_ = len(Xs)
        return self

    def _cv_curve(self, grams: list[FoldGrams], d_max: int) -> np.ndarray:
        """Held-out R² of the future behaviour vs shared dimensionality: (folds x mice, d)."""
        k = len(grams[0].n)
        rows = []
        for j in range(k):
            train = [f for f in range(k) if f != j]
            betas = [ridge_cv(g, self.alphas, train)[0] for g in grams]
            V, _ = self._basis(grams, betas, train)
            for g, b in zip(grams, betas):
                sst = g.sst([j]).sum()
                rows.append(
                    [
                        1.0 - g.sse(b, [j], V[:, :d] @ V[:, :d].T).sum() / sst
                        for d in range(1, d_max + 1)
                    ]
                )
        return np.asarray(rows)

    @staticmethod
    def _dynamics(latents: list[np.ndarray]) -> np.ndarray:
        """Shared linear dynamics ``s(t+1) = A s(t)`` (least squares pooled within trials)."""
        a = np.concatenate([flat(s[:, :-1]) for s in latents])
        b = np.concatenate([flat(s[:, 1:]) for s in latents])
        return np.linalg.lstsq(a, b, rcond=None)[0].T

    def fit_encoder(self, x: np.ndarray, y: np.ndarray) -> SharedEncoder:
        """Encoder of a mouse not seen in fitting; the shared basis and decoder stay fixed.

        Parameters
        ----------
        x : array (n_trials, n_time, n_units)   the new mouse's training trials
        y : array (n_trials, n_time[, n_behaviour])
        """
        if not hasattr(self, "basis_"):
            raise RuntimeError("SharedRepresentation is not fitted; call fit(X, y) first")
        (x,), (b,) = check_cohort([x], [y])
        seed = self._seed(10_000 + len(x))
        scaler, z_mean, grams = self._mouse_grams(x, b, seed)
        beta, alpha = ridge_cv(grams, self.alphas)
        enc = self._finish_encoder(x, scaler, z_mean, beta, alpha, seed)
        enc.decoder = self.decoder_
        return enc

    def variance_partition(self, X, mice: Sequence[int] | None = None) -> list[dict[str, float]]:
        """Per mouse, the fractions of activity variance in the shared and private latents."""
        Xs, _ = check_cohort(X)
        return [e.variance_partition(x) for e, x in zip(self._encoders(len(Xs), mice), Xs)]

    def private_transform(self, X, mice: Sequence[int] | None = None) -> list[np.ndarray]:
        """Private latents of each array, ``(n_trials, n_time, n_private_m)``."""
        Xs, _ = check_cohort(X)
        return [e.private(x) for e, x in zip(self._encoders(len(Xs), mice), Xs)]
