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

Everything that depends on the activity alone (standardisation, PCA, lag embedding, the
per-fold Gram matrices and their eigen-decompositions) is computed once by
:meth:`SharedRepresentation.prepare`; ``fit`` accepts the result in place of ``X``, so refits to
other behaviour (a permutation null) repeat only the behaviour-dependent steps, exactly.
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
    FoldDesign,
    FoldGrams,
    LatentDecoder,
    UnitScaler,
    as_behaviour,
    check_behaviour,
    check_cohort,
    flat,
    lag_embed,
    r2_batch,
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

    def variance_partition(
        self, x: np.ndarray, z: np.ndarray | None = None, private: bool = True
    ) -> dict[str, float]:
        """Fractions of the (standardised) activity variance of ``x`` explained by the shared
        latents and by the private latents (held-out when ``x`` was not used in fitting).

        ``z`` (optional): :meth:`embed` of ``x``, when already computed. ``private=False``
        skips the private fraction (NaN).
        """
        x = np.asarray(x, dtype=np.float64)
        xs = flat(self.scaler.standardize(x))
        xs = xs - xs.mean(axis=0)
        s = flat((self.embed(x) if z is None else z) @ self.weights)
        shared = (s - s.mean(axis=0)) @ self.loadings
        resid = xs - shared
        total = (xs**2).sum()
        f_shared = 1.0 - (resid**2).sum() / total
        if not private:
            return {"shared": float(f_shared), "private": np.nan}
        priv = resid @ self.private_axes @ self.private_axes.T
        f_both = 1.0 - ((resid - priv) ** 2).sum() / total
        return {"shared": float(f_shared), "private": float(f_both - f_shared)}


@dataclass
class MouseDesign:
    """One mouse's activity-only part of a fit (:meth:`SharedRepresentation.prepare`).

    Attributes
    ----------
    scaler : UnitScaler              per-unit standardisation and PCA axes
    z_mean : array (n_features,)     mean of the lag-embedded PCA scores
    z : array (n_trials, n_time, n_features)   centred embedded features, every bin
    xs : array (n_trials * n_time, n_units)    standardised activity, centred
    design : FoldDesign              features of the bins entering the regression, per fold
    seed : int                       seed of the mouse's trial folds
    lags : tuple of int              neural lags of the embedding (bins)
    zz : array (n_features, n_features)   z'z over every bin
    zx : array (n_features, n_units)      z'xs (the shared loadings' normal equations)
    """

    scaler: UnitScaler
    z_mean: np.ndarray
    z: np.ndarray
    xs: np.ndarray
    design: FoldDesign
    seed: int
    lags: tuple[int, ...]
    zz: np.ndarray
    zx: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.z.shape[:2]

    def embed(self, x: np.ndarray) -> np.ndarray:
        """Centred embedded features of other trials of this mouse (e.g. test trials)."""
        return lag_embed(self.scaler.transform(np.asarray(x, np.float64)), self.lags) - self.z_mean


@dataclass
class PreparedCohort:
    """The activity-only part of a :class:`SharedRepresentation` fit, one entry per mouse;
    pass it to ``fit`` in place of ``X``. ``key`` records the parameters it depends on."""

    key: tuple
    mice: list[MouseDesign]


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

    @staticmethod
    def _behaviour_scale(ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and SD (1 where 0) of the behaviour over every mouse's trials and bins;
        ``ys`` entries ``(..., n_trials, n_time, n_beh)``, leading axes a batch."""
        allb = np.concatenate([flat(b) for b in ys], axis=-2)
        sd = allb.std(axis=-2)
        return allb.mean(axis=-2), np.where(sd > 0, sd, 1.0)

    def _future(self, y: np.ndarray, mean=None, scale=None) -> np.ndarray:
        """Standardised future behaviour (..., trials, time, H * n_beh), centred per mouse
        (``mean``, ``scale``: the cohort's, default the fitted ``y_mean_``, ``y_scale_``)."""
        mean = self.y_mean_ if mean is None else mean
        scale = self.y_scale_ if scale is None else scale
        b = (as_behaviour(y) - mean[..., None, None, :]) / scale[..., None, None, :]
        b = b - flat(b).mean(axis=-2)[..., None, None, :]
        return lag_embed(b, [-int(h) for h in self.behavior_horizon])

    def _grams(self, prep: PreparedCohort, ys: list[np.ndarray], mean, scale) -> list:
        keep = self._keep(prep.mice[0].shape[1])
        return [
            m.design.grams(self._future(b, mean, scale)[..., keep, :])
            for m, b in zip(prep.mice, ys)
        ]

    def _maps(self, grams: list[FoldGrams]) -> tuple[list, np.ndarray, np.ndarray]:
        """Per mouse ridge maps to the behaviour window ``(beta, alpha)``, and the shared
        basis with its variances (any leading batch axes of the targets carried through)."""
        fits = [ridge_cv(g, self.alphas) for g in grams]
        basis, variance = self._basis(grams, [f[0] for f in fits])
        return fits, basis, variance

    def _keep(self, n_time: int) -> slice:
        """Bins whose whole behaviour window lies inside the trial: only they enter the
        regression (repeating the edge value would make the state -> future map
        time-dependent)."""
        lo = max(0, -min(self.behavior_horizon))
        hi = n_time - max(0, max(self.behavior_horizon))
        if hi - lo < 2:
            raise ValueError(
                f"behavior_horizon {self.behavior_horizon} leaves {hi - lo} of {n_time} bins"
            )
        return slice(lo, hi)

    def _prepare_mouse(self, x: np.ndarray, seed: int) -> MouseDesign:
        scaler = UnitScaler.fit(x, self.n_pcs, self.standardize)
        z = lag_embed(scaler.transform(x), self.neural_lags)
        z_mean = flat(z).mean(axis=0)
        z -= z_mean
        xs = flat(scaler.standardize(x))
        xs -= xs.mean(axis=0)
        folds = trial_folds(len(x), self.n_folds, seed)
        design = FoldDesign(z[:, self._keep(x.shape[1])], folds)
        lags = tuple(int(l) for l in self.neural_lags)
        zf = flat(z)
        return MouseDesign(scaler, z_mean, z, xs, design, seed, lags, zf.T @ zf, zf.T @ xs)

    def _prepare_key(self) -> tuple:
        return (
            int(self.n_pcs),
            bool(self.standardize),
            tuple(int(v) for v in self.neural_lags),
            tuple(int(v) for v in self.behavior_horizon),
            int(self.n_folds),
            int(self.random_state),
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
        on ``folds`` (per mouse a list of fold labels; default all), each mouse weighted by
        1 / its sample count."""
        if folds is None:
            folds = [list(range(len(g.n))) for g in grams]
        M = sum(
            np.swapaxes(b, -1, -2) @ g.design.gram(f) @ b / g.n[f].sum()
            for g, b, f in zip(grams, betas, folds)
        )
        w, v = np.linalg.eigh(M)  # ascending
        w, v = w[..., ::-1], v[..., ::-1]
        # a deterministic sign: the largest entry of every axis is positive
        top = np.take_along_axis(v, np.abs(v).argmax(axis=-2)[..., None, :], axis=-2)
        signs = np.sign(top)
        return v * np.where(signs == 0, 1, signs), np.maximum(w, 0)

    def _private_axes(self, resid: np.ndarray, seed: int) -> np.ndarray:
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

    def _finish_encoder(
        self, mouse: MouseDesign, beta: np.ndarray, alpha: float, private: bool = True
    ) -> SharedEncoder:
        weights = beta @ self.basis_[:, : self.n_shared_]
        # loadings: least squares of the standardised activity on the shared latents s = z W
        # (z is centred, so s is too), from the normal equations W'z'z W L = W'z'x (the
        # minimum-norm solution, as lstsq on the samples)
        loadings = np.linalg.lstsq(
            weights.T @ mouse.zz @ weights, weights.T @ mouse.zx, rcond=None
        )[0]
        n_units = mouse.xs.shape[1]
        axes = np.zeros((n_units, 0))
        if private:
            resid = mouse.xs - flat(mouse.z @ weights) @ loadings
            axes = self._private_axes(resid.reshape(*mouse.shape, n_units), mouse.seed)
        return SharedEncoder(
            scaler=mouse.scaler,
            lags=mouse.lags,
            z_mean=mouse.z_mean,
            beta=beta,
            weights=weights,
            loadings=loadings,
            private_axes=axes,
            alpha=alpha,
        )

    # -- API ---------------------------------------------------------------------------------

    def prepare(self, X: Sequence[np.ndarray]) -> PreparedCohort:
        """The activity-only part of :meth:`fit` (per mouse: standardisation, PCA, lag
        embedding, per-fold Gram matrices); pass the result to ``fit`` in place of ``X`` to fit
        the same activity to several behaviours (e.g. permuted) without repeating it.

        Parameters
        ----------
        X : list of arrays (n_trials_m, n_time, n_units_m)
        """
        self._check_params()
        Xs, _ = check_cohort(X)
        return PreparedCohort(
            self._prepare_key(),
            [self._prepare_mouse(x, self._seed(m)) for m, x in enumerate(Xs)],
        )

    def _prepared(self, X) -> PreparedCohort:
        if not isinstance(X, PreparedCohort):
            return self.prepare(X)
        if X.key != self._prepare_key():
            raise ValueError(
                "X was prepared with other parameters (n_pcs, standardize, neural_lags, "
                "behavior_horizon, n_folds, random_state); call prepare() again"
            )
        return X

    def fit(
        self,
        X: Sequence[np.ndarray] | PreparedCohort,
        y: Sequence[np.ndarray],
        private: bool = True,
    ) -> SharedRepresentation:
        """Fit the shared basis and every mouse's encoder.

        Parameters
        ----------
        X : list of arrays (n_trials_m, n_time, n_units_m), or :meth:`prepare`'s result
            Activity per mouse (e.g. dF/F), trials aligned to movement onset.
        y : list of arrays (n_trials_m, n_time[, n_behaviour])
            Behaviour (e.g. lever position) in the same trials and bins.
        private : bool
            Also estimate the private latents (False leaves ``private_axes`` empty: a
            permutation null that scores only the shared space).
        """
        self._check_params()
        prep = self._prepared(X)
        ys = check_behaviour([m.shape for m in prep.mice], y)
        self.y_mean_, self.y_scale_ = self._behaviour_scale(ys)
        grams = self._grams(prep, ys, self.y_mean_, self.y_scale_)
        n_targets = grams[0].C.shape[-1]
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
        fits, self.basis_, self.basis_variance_ = self._maps(grams)
        self.encoders_ = [
            self._finish_encoder(m, f[0], f[1], private) for m, f in zip(prep.mice, fits)
        ]
        latents = [m.z @ e.weights for e, m in zip(self.encoders_, prep.mice)]
        self.decoder_ = LatentDecoder(
            self.decoder_lags, self.alphas, n_folds=min(3, self.n_folds), seed=self.random_state
        ).fit(latents, ys)
        for e in self.encoders_:
            e.decoder = self.decoder_
        self.dynamics_ = self._dynamics(latents)
        self.n_mice_ = len(ys)
        return self

    def score_batch(
        self,
        X: PreparedCohort,
        y: Sequence[np.ndarray],
        tests: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fit to a batch of behaviours at once and score each fit on test trials: the
        permutation null of the study (:class:`~thalamocortex.alignment.study.SharingCV`).

        Every fit is exactly :meth:`fit` with ``private=False`` (fixed ``n_shared``; no
        dynamics); the batch shares the prepared activity and is solved side by side.

        Parameters
        ----------
        X : PreparedCohort (:meth:`prepare` of the training trials)
        y : list of arrays (n_batch, n_trials_m, n_time, n_behaviour)
            Training-trial behaviour of each mouse, one row per fit of the batch.
        tests : list of (x_test (n_test, n_time, n_units), z_test (n_test, n_time, n_features)
            = ``X.mice[m].embed(x_test)``, y_test (n_batch, n_test, n_time, n_behaviour))

        Returns
        -------
        (decode_r2, shared_var): arrays (n_batch, n_mice), the held-out lever R² through the
        shared space and the fraction of test-trial activity variance in the shared latents.
        """
        if not isinstance(self.n_shared, int):
            raise ValueError("score_batch needs a fixed n_shared (the null repeats one fit)")
        prep = self._prepared(X)
        ys = [np.asarray(b, dtype=np.float64) for b in y]
        mean, scale = self._behaviour_scale(ys)
        grams = self._grams(prep, ys, mean, scale)
        fits, basis, _ = self._maps(grams)
        V = basis[..., : min(int(self.n_shared), basis.shape[-1])]
        W = [f[0] @ V for f in fits]  # (n_batch, n_features, d)
        decoder = LatentDecoder(
            self.decoder_lags, self.alphas, n_folds=min(3, self.n_folds), seed=self.random_state
        ).fit([m.z @ w[:, None] for m, w in zip(prep.mice, W)], ys)
        r2 = np.empty((len(ys[0]), len(ys)))
        shared = np.empty_like(r2)
        for i, (m, w, (xt, zt, yt)) in enumerate(zip(prep.mice, W, tests)):
            r2[:, i] = r2_batch(yt, decoder.predict(zt @ w[:, None]))
            # shared variance on the test trials, from second moments (see
            # SharedEncoder.variance_partition): loadings L = (W'z'zW)^+ W'z'x on the training
            # trials; residual |x - sL|^2 = |x|^2 - 2 tr(L's'x) + tr(L's'sL) on the test trials
            wt = np.swapaxes(w, -1, -2)
            L = np.linalg.pinv(wt @ m.zz @ w, rcond=1e-13, hermitian=True) @ (wt @ m.zx)
            xs = flat(m.scaler.standardize(xt))
            xs = xs - xs.mean(axis=0)
            zc = flat(zt)
            zc = zc - zc.mean(axis=0)
            sx = wt @ (zc.T @ xs)
            ss = wt @ (zc.T @ zc) @ w
            total = (xs**2).sum()
            resid = total - 2 * (L * sx).sum((-2, -1)) + (L * (ss @ L)).sum((-2, -1))
            shared[:, i] = 1.0 - resid / total
        return r2, shared

    def _cv_curve(self, grams: list[FoldGrams], d_max: int) -> np.ndarray:
        """Held-out R² of the future behaviour vs shared dimensionality: (folds x mice, d).

        A mouse with fewer trials than folds has fewer folds: for the folds it lacks, it
        contributes all its trials to the fit and no held-out row."""
        rows = []
        for j in range(max(len(g.n) for g in grams)):
            train = [[f for f in range(len(g.n)) if f != j] for g in grams]
            betas = [ridge_cv(g, self.alphas, t)[0] for g, t in zip(grams, train)]
            V, _ = self._basis(grams, betas, train)
            for g, b in zip(grams, betas):
                if j >= len(g.n):
                    continue
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
        mouse = self._prepare_mouse(x, self._seed(10_000 + len(x)))
        grams = mouse.design.grams(self._future(b)[..., self._keep(x.shape[1]), :])
        beta, alpha = ridge_cv(grams, self.alphas)
        enc = self._finish_encoder(mouse, beta, alpha)
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
