"""The alignment methods a lab would otherwise use: trial-matched CCA and the shared response
model, both unsupervised (behaviour only matches trials across mice).

* :class:`CCAAlignment` — Safaie, Chang, Tessadori et al. (2023), "Preserved neural dynamics
  across animals performing similar behaviour", Nature 623:765: per-animal PCA to ~10
  dimensions of trial-matched, movement-aligned activity, then CCA. With more than two mice
  the common space is multiset CCA (cca-zoo's ``MCCA``); a mouse not seen in fitting is
  aligned to that space with a two-set CCA (scikit-learn's ``CCA``) against the training mice's
  mean canonical trajectory. :meth:`CCAAlignment.consistency` reports the across-mouse
  canonical correlations against a within-mouse split-half ceiling and a trial-shuffle floor.
* :class:`SharedResponseModel` — Chen et al. (2015), "A reduced-dimension fMRI shared response
  model", NeurIPS: BrainIAK's probabilistic SRM (``brainiak.funcalign.srm.SRM``) on trial-
  matched samples; a new mouse gets its orthonormal map from ``SRM.transform_subject``.

Trial matching (:class:`~thalamocortex.alignment.tensors.TrialMatcher`) pairs trials across
mice by the rank of their behaviour trajectory; both models then treat matched (trial, time)
samples as corresponding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from thalamocortex.alignment.tensors import (
    DEFAULT_ALPHAS,
    AlignmentMixin,
    Encoder,
    LatentDecoder,
    TrialMatcher,
    UnitScaler,
    check_cohort,
    flat,
)


def _import(module: str, extra: str = "alignment"):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:  # say which extra brings it
        raise ImportError(
            f"{module} is needed here: pip install 'thalamocortex[{extra}]' ({err})"
        ) from err


@dataclass
class LinearEncoder(Encoder):
    """Standardise (and project on PCA axes), then a linear map into the shared space."""

    scaler: UnitScaler
    weights: np.ndarray  # (n_pcs or n_units, n_shared)
    offset: np.ndarray  # (n_shared,)
    use_pcs: bool = True
    decoder: LatentDecoder | None = None

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        f = self.scaler.transform(x) if self.use_pcs else self.scaler.standardize(x)
        return f @ self.weights - self.offset


def _matched(scores: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Trial-matched samples ``(n_slots * n_time, k)``."""
    return flat(scores[slots])


def _canonical_correlations(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` canonical correlations of two sample x feature matrices (QR/SVD)."""
    qa = np.linalg.qr(a - a.mean(0))[0]
    qb = np.linalg.qr(b - b.mean(0))[0]
    s = np.linalg.svd(qa.T @ qb, compute_uv=False)
    out = np.zeros(k)
    out[: min(k, len(s))] = np.clip(s[:k], 0, 1)
    return out


class CCAAlignment(AlignmentMixin, BaseEstimator):
    """Trial-matched CCA alignment of per-mouse PCA latents (Safaie et al. 2023).

    Parameters
    ----------
    n_pcs : int
        Principal axes per mouse (Safaie et al.: 10).
    n_components : int or None
        Canonical dimensions (default: ``n_pcs``).
    n_slots : int or None
        Matched trials per mouse (default: the fewest trials of any mouse).
    decoder_lags, alphas : see :class:`~thalamocortex.alignment.tensors.LatentDecoder`.
    random_state : int
    """

    def __init__(
        self,
        n_pcs: int = 10,
        n_components: int | None = None,
        n_slots: int | None = None,
        decoder_lags: tuple[int, ...] = (-2, 0, 2),
        alphas: tuple[float, ...] = DEFAULT_ALPHAS,
        random_state: int = 0,
    ):
        self.n_pcs = n_pcs
        self.n_components = n_components
        self.n_slots = n_slots
        self.decoder_lags = decoder_lags
        self.alphas = alphas
        self.random_state = random_state

    def fit(self, X: Sequence[np.ndarray], y: Sequence[np.ndarray]) -> CCAAlignment:
        """Fit per-mouse PCA, the trial matching and the multiset CCA; then the decoder."""
        linear = _import("cca_zoo.linear")
        Xs, ys = check_cohort(X, y)
        self.matcher_ = TrialMatcher.fit(ys)
        self.n_slots_ = int(self.n_slots or min(len(x) for x in Xs))
        scalers = [UnitScaler.fit(x, self.n_pcs) for x in Xs]
        k = min(s.components.shape[1] for s in scalers)
        self.n_components_ = int(min(self.n_components or k, k))
        views = [
            _matched(s.transform(x)[..., :k], self.matcher_.slots(b, self.n_slots_))
            for s, x, b in zip(scalers, Xs, ys)
        ]
        if len(Xs) >= 2:
            mcca = linear.MCCA(n_components=self.n_components_).fit(views)
            W = [np.asarray(w) for w in mcca.weights_]
        else:  # one mouse: its own PCA space
            W = [np.eye(k)[:, : self.n_components_]]
        self.encoders_ = []
        for s, w, v in zip(scalers, W, views):
            full = np.zeros((s.components.shape[1], w.shape[1]))
            full[:k] = w
            self.encoders_.append(LinearEncoder(s, full, v.mean(0) @ w))
        self.reference_ = np.mean([v @ w - v.mean(0) @ w for v, w in zip(views, W)], axis=0)
        latents = [e.transform(x) for e, x in zip(self.encoders_, Xs)]
        self.decoder_ = LatentDecoder(self.decoder_lags, self.alphas, seed=self.random_state)
        self.decoder_.fit(latents, ys)
        for e in self.encoders_:
            e.decoder = self.decoder_
        return self

    def fit_encoder(self, x: np.ndarray, y: np.ndarray) -> LinearEncoder:
        """Align a new mouse: its PCA, matched to the fitted slots, CCA against the reference."""
        from sklearn.cross_decomposition import CCA

        (x,), (b,) = check_cohort([x], [y])
        s = UnitScaler.fit(x, self.n_pcs)
        p = _matched(s.transform(x), self.matcher_.slots(b, self.n_slots_))
        c = min(self.n_components_, p.shape[1])
        cca = CCA(n_components=c, scale=False, max_iter=2000).fit(p, self.reference_)
        # the mouse's canonical variates, mapped onto the reference coordinates by least
        # squares (canonical variates are defined up to scale on each side)
        u = (p - p.mean(0)) @ cca.x_rotations_
        g = self.reference_ - self.reference_.mean(0)
        w = cca.x_rotations_ @ np.linalg.lstsq(u, g, rcond=None)[0]
        return LinearEncoder(s, w, p.mean(0) @ w, decoder=self.decoder_)

    def consistency(
        self, X: Sequence[np.ndarray], y: Sequence[np.ndarray], n_shuffles: int = 20
    ) -> pd.DataFrame:
        """Across-mouse canonical correlations vs a split-half ceiling and a shuffle floor.

        For every pair of mice: the mean of the first ``n_components`` canonical correlations
        of their matched PCA latents (``aligned``); the same with one mouse's slot order
        shuffled (``floor``, mean over ``n_shuffles``); and, per mouse, the correlation between
        its odd- and even-ranked trials (``ceiling``: the best any alignment could reach given
        that mouse's trial-to-trial variability), averaged over the pair.
        """
        Xs, ys = check_cohort(X, y)
        rng = np.random.default_rng(self.random_state)
        k = self.n_components_
        n = self.n_slots_ - self.n_slots_ % 2
        lat = []
        ceil = []
        for e, x, b in zip(self._encoders(len(Xs), None), Xs, ys):
            sc = e.scaler.transform(x)
            slots = self.matcher_.slots(b, n)
            lat.append(_matched(sc, slots))
            half = sc[slots]
            ceil.append(_canonical_correlations(flat(half[0::2]), flat(half[1::2]), k).mean())
        rows = []
        n_time = Xs[0].shape[1]
        for i in range(len(Xs)):
            for j in range(i + 1, len(Xs)):
                # the halves have n/2 trials: compare like with like for the aligned value
                a, b = lat[i], lat[j]
                aligned = _canonical_correlations(a, b, k).mean()
                floor = np.mean(
                    [
                        _canonical_correlations(
                            a,
                            b.reshape(n, n_time, -1)[rng.permutation(n)].reshape(len(b), -1),
                            k,
                        ).mean()
                        for _ in range(n_shuffles)
                    ]
                )
                rows.append(
                    {
                        "mouse_a": i,
                        "mouse_b": j,
                        "aligned": aligned,
                        "ceiling": (ceil[i] + ceil[j]) / 2,
                        "floor": floor,
                    }
                )
        return pd.DataFrame(rows)


class SharedResponseModel(AlignmentMixin, BaseEstimator):
    """Shared response model (Chen et al. 2015) through BrainIAK, on trial-matched samples.

    Parameters
    ----------
    n_features : int
        Shared dimensions.
    n_iter : int
        EM iterations of BrainIAK's probabilistic SRM.
    n_slots : int or None
        Matched trials per mouse (default: the fewest trials of any mouse).
    decoder_lags, alphas : see :class:`~thalamocortex.alignment.tensors.LatentDecoder`.
    random_state : int
    """

    def __init__(
        self,
        n_features: int = 10,
        n_iter: int = 20,
        n_slots: int | None = None,
        decoder_lags: tuple[int, ...] = (-2, 0, 2),
        alphas: tuple[float, ...] = DEFAULT_ALPHAS,
        random_state: int = 0,
    ):
        self.n_features = n_features
        self.n_iter = n_iter
        self.n_slots = n_slots
        self.decoder_lags = decoder_lags
        self.alphas = alphas
        self.random_state = random_state

    def fit(self, X: Sequence[np.ndarray], y: Sequence[np.ndarray]) -> SharedResponseModel:
        srm_mod = _import("brainiak.funcalign.srm")
        Xs, ys = check_cohort(X, y)
        self.matcher_ = TrialMatcher.fit(ys)
        self.n_slots_ = int(self.n_slots or min(len(x) for x in Xs))
        scalers = [UnitScaler.fit(x, 1) for x in Xs]
        k = int(min(self.n_features, min(x.shape[2] for x in Xs)))
        data = [
            _matched(s.standardize(x), self.matcher_.slots(b, self.n_slots_)).T
            for s, x, b in zip(scalers, Xs, ys)
        ]
        self.srm_ = srm_mod.SRM(n_iter=self.n_iter, features=k, rand_seed=self.random_state)
        self.srm_.fit(data)
        self.encoders_ = [
            LinearEncoder(s, np.asarray(w), d.mean(1) @ np.asarray(w), use_pcs=False)
            for s, w, d in zip(scalers, self.srm_.w_, data)
        ]
        latents = [e.transform(x) for e, x in zip(self.encoders_, Xs)]
        self.decoder_ = LatentDecoder(self.decoder_lags, self.alphas, seed=self.random_state)
        self.decoder_.fit(latents, ys)
        for e in self.encoders_:
            e.decoder = self.decoder_
        return self

    def fit_encoder(self, x: np.ndarray, y: np.ndarray) -> LinearEncoder:
        """A new mouse's orthonormal map to the fitted shared response (Procrustes)."""
        (x,), (b,) = check_cohort([x], [y])
        s = UnitScaler.fit(x, 1)
        d = _matched(s.standardize(x), self.matcher_.slots(b, self.n_slots_)).T
        w = np.asarray(self.srm_.transform_subject(d))
        return LinearEncoder(s, w, d.mean(1) @ w, use_pcs=False, decoder=self.decoder_)
