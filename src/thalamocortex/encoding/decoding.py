"""Cross-validated decoding of the lever trajectory from population activity.

Model: ridge regression of the lever position at frame ``t`` on the activity of every ROI at
frames ``t + lag`` for a set of lags (a finite-impulse-response decoder). Samples are the frames
of a window around each trial's movement onset; trials are the cross-validation folds (whole
trials are held out, so autocorrelation within a trial cannot leak).

All ridge strengths are solved at once from one eigendecomposition of the training Gram
matrix ``X'X = V diag(lam) V'`` per fold (equivalent to the SVD of ``X``, cheaper when
samples >> features): ``beta(alpha) = V diag(1 / (lam + alpha)) V' X'y``. The strength of a
held-out fold is chosen by the out-of-fold error of the *other* folds (trials held out, the
unit the score is computed on; ``alpha_selection="trial_cv"``, default), so the held-out score
is not tuned on the held-out trials' residuals. Generalised cross-validation (GCV, Golub,
Heath & Wahba 1979; ``"gcv"``) is kept as an option: it treats frames as independent samples,
which autocorrelated frames sharing slow fluctuations are not, and it under-regularises.

ROI counts are matched across regions and sessions by decoding from ``n_subsamples`` random
subsets of ``n_rois`` ROIs (all subsets batched through the linear algebra) and averaging.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thalamocortex.data.errors import DataError
from thalamocortex.encoding.peri import frame_offsets


@dataclass
class DecodingResult:
    """Cross-validated decoding of one session.

    Attributes
    ----------
    r2 : float
        Out-of-fold coefficient of determination, averaged over ROI subsets.
    r : float
        Out-of-fold Pearson correlation of decoded and actual lever, averaged over subsets.
    r2_subsets, r_subsets : array (n_subsets,)
    alpha : array (n_subsets, n_folds)
        Ridge strength chosen by GCV in each fold.
    trial_r : array (n_trials,)
        Per trial, correlation of the decoded (mean over subsets) and actual trajectory.
    predicted, actual : array (n_trials, n_time)
        Decoded (mean over subsets) and actual lever per trial (NaN where unavailable).
    time_s : array (n_time,)
    n_rois : int
        ROIs per decoder.
    """

    r2: float
    r: float
    r2_subsets: np.ndarray
    r_subsets: np.ndarray
    alpha: np.ndarray
    trial_r: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
    time_s: np.ndarray
    n_rois: int


def lagged_trial_design(
    dff: np.ndarray,
    lever_frames: np.ndarray,
    frame_times: np.ndarray,
    onsets: np.ndarray,
    window_s: tuple[float, float],
    lags_s: tuple[float, float],
    lag_step: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lagged activity and lever samples around each movement onset.

    Parameters
    ----------
    dff : array (n_frames, n_rois)
    lever_frames : array (n_frames,)
        Lever position on the imaging frames (see ``data.model.lever_to_frames``).
    frame_times : array (n_frames,)
    onsets : array (n_trials,)
        Movement onset times (s).
    window_s : (float, float)
        Decoded window relative to onset (s).
    lags_s : (float, float)
        Range of activity lags (s), sampled every ``lag_step`` frames.

    Returns
    -------
    X : array (n_trials, n_time, n_lags, n_rois) float32 — NaN outside the recording
    y : array (n_trials, n_time) float64
    time_s : array (n_time,)
    """
    x = np.asarray(dff)
    t = np.asarray(frame_times, dtype=np.float64)
    lever = np.asarray(lever_frames, dtype=np.float64)
    if x.shape[0] != len(t) or len(lever) != len(t):
        raise DataError(
            f"decoding: dff ({x.shape[0]} frames), lever ({len(lever)}) and frame_times "
            f"({len(t)}) must have the same number of frames"
        )
    dt = float(np.median(np.diff(t)))
    offsets = frame_offsets(window_s, 1 / dt)
    lag_frames = frame_offsets(lags_s, 1 / dt)[::lag_step]
    ons = np.asarray(onsets, dtype=np.float64)
    centre = np.clip(np.searchsorted(t, ons), 0, len(t) - 1)
    idx = centre[:, None] + offsets[None, :]  # (trials, time)
    fidx = idx[:, :, None] + lag_frames[None, None, :]  # (trials, time, lags)
    inside = (fidx >= 0) & (fidx < len(t))
    X = x[np.clip(fidx, 0, len(t) - 1)].astype(np.float32)
    X[~inside] = np.nan
    ok = (idx >= 0) & (idx < len(t))
    y = np.where(ok, lever[np.clip(idx, 0, len(t) - 1)], np.nan)
    y[~np.isfinite(ons)] = np.nan
    return X, y, offsets * dt


def trial_folds(n_trials: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold label of each trial (balanced, shuffled), array (n_trials,)."""
    k = min(n_folds, n_trials)
    return rng.permutation(np.arange(n_trials) % k)


def ridge_gcv_predict(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    alphas: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched ridge with every alpha solved at once; alpha chosen by GCV on the training set.

    Parameters
    ----------
    X_train : array (n_batch, n_train, n_features)
    y_train : array (n_train,)
    X_test : array (n_batch, n_test, n_features)
    alphas : array (n_alphas,)

    Returns
    -------
    y_pred : array (n_batch, n_test)
        Held-out predictions at the GCV-chosen alpha (intercept from training means).
    alpha : array (n_batch,) — chosen alpha per batch item.
    """
    gram = np.matmul(X_train.transpose(0, 2, 1), X_train)
    xty = np.matmul(X_train.transpose(0, 2, 1), y_train)
    return ridge_gcv_from_moments(
        gram,
        X_train.sum(axis=1),
        xty,
        float((y_train**2).sum()),
        float(y_train.sum()),
        X_train.shape[1],
        X_test,
        alphas,
    )


def ridge_gcv_from_moments(
    gram: np.ndarray,
    x_sum: np.ndarray,
    xty: np.ndarray,
    yy: float,
    y_sum: float,
    n: int,
    X_test: np.ndarray,
    alphas: np.ndarray,
    all_alphas: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge + GCV from the training set's moments (uncentred); intercept from the means.

    Features are centred and scaled to unit SD on the training rows (the usual ridge
    convention, e.g. scikit-learn's ``StandardScaler`` + ``Ridge``), so ``alphas`` are on the
    scale of the standardised Gram matrix (eigenvalues sum to ``n * n_features``).

    Working from moments lets cross-validation subtract a fold's moments from the totals
    instead of copying the training rows for every fold.

    Parameters
    ----------
    gram : array (n_batch, p, p) — ``X'X``;  x_sum : (n_batch, p) — ``X'1``
    xty : array (n_batch, p) — ``X'y``;  yy, y_sum : ``y'y``, ``1'y``;  n : training rows
    X_test : array (n_batch, n_test, p);  alphas : (n_alphas,)
    all_alphas : bool
        Return the predictions of every alpha, array (n_batch, n_test, n_alphas), and
        ``alphas`` instead of choosing one by GCV.
    """
    mu = x_sum / n
    ym = y_sum / n
    gram_c = gram - n * mu[:, :, None] * mu[:, None, :]
    xty_c = xty - n * mu * ym
    yy_c = yy - n * ym**2
    # standardise features (training SD) so one alpha grid suits any dF/F scale and ROI mix;
    # constant features (SD 0) get weight 0
    var = np.clip(np.einsum("bii->bi", gram_c) / n, 0, None)
    sd = np.sqrt(var)
    inv = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 0.0)
    gram_c = gram_c * inv[:, :, None] * inv[:, None, :]
    xty_c = xty_c * inv
    lam, V = np.linalg.eigh(gram_c)  # (b, p), (b, p, p)
    lam = np.clip(lam, 0, None)
    vty = np.matmul(V.transpose(0, 2, 1), xty_c[:, :, None])[:, :, 0]  # V' X'y, (b, p)
    a = np.asarray(alphas, dtype=np.float64)
    shrink = 1.0 / (lam[:, :, None] + a[None, None, :])  # (b, p, A)
    coef_v = vty[:, :, None] * shrink  # coefficients in the eigenbasis, (b, p, A)
    if all_alphas:
        coef = np.matmul(V, coef_v) * inv[:, :, None]  # (b, p, A), raw feature scale
        offset = ym - np.matmul(mu[:, None, :], coef)[:, 0, :]  # (b, A)
        return np.matmul(X_test, coef) + offset[:, None, :], a
    # RSS(alpha) = |y|^2 - 2 b'X'y + b'X'X b, all in the eigenbasis
    rss = yy_c - 2 * np.einsum("bp,bpa->ba", vty, coef_v) + np.einsum("bp,bpa->ba", lam, coef_v**2)
    dof = (lam[:, :, None] * shrink).sum(axis=1)  # (b, A)
    gcv = n * np.maximum(rss, 0) / np.maximum(n - dof, 1e-9) ** 2
    best = np.argmin(gcv, axis=1)
    coef = np.matmul(V, coef_v[np.arange(len(best)), :, best][:, :, None])  # (b, p, 1)
    coef = coef * inv[:, :, None]  # back to the raw feature scale
    offset = ym - np.matmul(mu[:, None, :], coef)[:, 0, 0]  # intercept, (b,)
    y_pred = np.matmul(X_test, coef)[:, :, 0] + offset[:, None]
    return y_pred, a[best]


def decode_trajectory(
    X: np.ndarray,
    y: np.ndarray,
    time_s: np.ndarray,
    n_rois: int,
    alphas: tuple[float, ...] = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6),
    n_folds: int = 5,
    n_subsamples: int = 20,
    seed: int = 0,
    alpha_selection: str = "trial_cv",
) -> DecodingResult:
    """Cross-validated lever decoding from ``n_rois``-ROI subsets, trials as folds.

    Parameters
    ----------
    X : array (n_trials, n_time, n_lags, n_rois_total)
        Lagged activity from :func:`lagged_trial_design`.
    y : array (n_trials, n_time)
        Lever position.
    n_rois : int
        ROIs per decoder (matched across sessions/regions); must not exceed the ROIs available.
    alphas, n_folds, n_subsamples, seed
        See :class:`thalamocortex.encoding.params.EncodingParams`.
    alpha_selection : {"trial_cv", "gcv"}
        How the ridge strength of held-out fold ``f`` is chosen. ``"trial_cv"``: the strength
        with the smallest out-of-fold error over the *other* folds (whole trials held out, the
        unit the score is computed on; fold ``f``'s own residuals never enter the choice, and
        no extra fit is needed). ``"gcv"``: generalised cross-validation on the training
        rows, which treats every frame as an independent sample: frames of one trial are
        autocorrelated and share slow fluctuations (brain state, the simulator's private
        latents), so GCV under-regularises and held-out R^2 can fall far below 0 (null
        sessions of the in-silico experiment: -0.56).

    Returns
    -------
    DecodingResult
    """
    n_trials, n_time, n_lags, n_total = X.shape
    if alpha_selection not in ("trial_cv", "gcv"):
        raise DataError(
            f"decoding: alpha_selection {alpha_selection!r}; expected 'trial_cv' or 'gcv'",
            field="alpha_selection",
        )
    if n_rois > n_total:
        raise DataError(f"decoding: {n_rois} ROIs requested but the session has {n_total}")
    if n_trials < 2:
        raise DataError(f"decoding: need >= 2 trials as folds, got {n_trials}")
    rng = np.random.default_rng(seed)
    # one subset is all ROIs when nothing is to be subsampled
    n_sub = 1 if n_rois == n_total else n_subsamples
    subsets = np.stack([np.sort(rng.choice(n_total, n_rois, replace=False)) for _ in range(n_sub)])
    # sample rows: drop samples whose lever is unknown; NaN activity (blanked frames, edges)
    # is set to the ROI's mean, i.e. contributes nothing after centring
    rows_ok = np.isfinite(y).reshape(-1)
    Xf = X.reshape(n_trials * n_time, n_lags, n_total).astype(np.float64)
    col_mean = np.nanmean(Xf, axis=(0, 1))
    Xf = np.where(np.isfinite(Xf), Xf, col_mean[None, None, :])
    yf = y.reshape(-1)
    trial_of = np.repeat(np.arange(n_trials), n_time)
    folds = trial_folds(n_trials, n_folds, rng)[trial_of]
    # (n_sub, samples, lags * n_rois)
    Xs = np.moveaxis(Xf[:, :, subsets], 2, 0).reshape(n_sub, len(yf), n_lags * n_rois)
    pred = np.full((n_sub, len(yf)), np.nan)
    n_f = int(folds.max()) + 1
    chosen = np.full((n_sub, n_f), np.nan)
    a = np.asarray(alphas, dtype=np.float64)
    # moments of each fold's usable rows; training moments = totals - the held-out fold's
    moments = []
    for f in range(n_f):
        rows = (folds == f) & rows_ok
        xf, yv = Xs[:, rows], yf[rows]
        moments.append(
            (
                np.matmul(xf.transpose(0, 2, 1), xf),
                xf.sum(axis=1),
                np.matmul(xf.transpose(0, 2, 1), yv),
                float((yv**2).sum()),
                float(yv.sum()),
                int(rows.sum()),
            )
        )
    total = [sum(m[i] for m in moments) for i in range(6)]
    if alpha_selection == "gcv":
        for f in range(n_f):
            te = folds == f
            train = [t - m for t, m in zip(total, moments[f], strict=True)]
            if train[5] < 2 or te.sum() == 0:
                continue
            p, al = ridge_gcv_from_moments(*train, Xs[:, te], a)
            pred[:, te] = p
            chosen[:, f] = al
    else:
        # out-of-fold predictions of every alpha, then per held-out fold the alpha with the
        # smallest error over the other folds' out-of-fold predictions
        pred_all = np.full((n_sub, len(yf), len(a)), np.nan)
        sse = np.full((n_f, n_sub, len(a)), np.nan)
        for f in range(n_f):
            te = folds == f
            train = [t - m for t, m in zip(total, moments[f], strict=True)]
            if train[5] < 2 or te.sum() == 0:
                continue
            pred_all[:, te], _ = ridge_gcv_from_moments(*train, Xs[:, te], a, all_alphas=True)
            use = rows_ok[te]
            sse[f] = ((pred_all[:, te][:, use] - yf[te][use][None, :, None]) ** 2).sum(axis=1)
        for f in range(n_f):
            te = folds == f
            others = np.delete(sse, f, axis=0)
            if not np.isfinite(sse[f]).all() or not np.isfinite(others).any():
                continue
            best = np.argmin(np.nansum(others, axis=0), axis=1)  # (n_sub,)
            pred[:, te] = pred_all[:, te][np.arange(n_sub), :, best]
            chosen[:, f] = a[best]
    ok = rows_ok & np.isfinite(pred).all(0)
    yo = yf[ok]
    po = pred[:, ok]
    ss_tot = ((yo - yo.mean()) ** 2).sum()
    r2_sub = 1 - ((po - yo) ** 2).sum(1) / ss_tot if ss_tot > 0 else np.full(n_sub, np.nan)
    r_sub = np.array([_pearson(pp, yo) for pp in po])
    mean_pred = pred.mean(0).reshape(n_trials, n_time)
    actual = np.where(rows_ok, yf, np.nan).reshape(n_trials, n_time)
    trial_r = np.array([_pearson(mean_pred[i], actual[i]) for i in range(n_trials)])
    return DecodingResult(
        r2=float(np.nanmean(r2_sub)),
        r=float(np.nanmean(r_sub)),
        r2_subsets=r2_sub,
        r_subsets=r_sub,
        alpha=chosen,
        trial_r=trial_r,
        predicted=mean_pred,
        actual=actual,
        time_s=time_s,
        n_rois=n_rois,
    )


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return np.nan
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((a**2).sum() * (b**2).sum())
    return float((a * b).sum() / den) if den > 0 else np.nan


def trial_pattern_similarity(tensor: np.ndarray) -> np.ndarray:
    """Correlation of each trial's population pattern with the mean pattern of the others.

    Parameters
    ----------
    tensor : array (n_trials, n_time, n_rois)
        Movement-aligned activity.

    Returns
    -------
    array (n_trials,) — Pearson correlation of the trial's (time x ROI) pattern with the
    leave-one-out mean pattern (NaN-aware: entries missing in either are left out).
    """
    n = tensor.shape[0]
    if n < 2:
        return np.full(n, np.nan)
    flat = tensor.reshape(n, -1).astype(np.float64)
    valid = np.isfinite(flat)
    x0 = np.where(valid, flat, 0.0)
    tot, cnt = x0.sum(0), valid.sum(0)
    out = np.full(n, np.nan)
    for i in range(n):  # loop over trials (tens to hundreds), not resamples
        with np.errstate(invalid="ignore", divide="ignore"):
            loo = (tot - x0[i]) / (cnt - valid[i])
        out[i] = _pearson(np.where(valid[i], flat[i], np.nan), loo)
    return out
