"""The study question: how much of each input region's activity lies in a shared, movement-
relevant space across mice, and how that changes with learning (pure functions, no I/O).

Per region and learning stage (the mice of that group are aligned together):

* cross-validation over trials (``n_folds``, each mouse's trials split independently): a
  :class:`~thalamocortex.alignment.shared.SharedRepresentation` with ``n_shared`` dimensions is
  fitted on every mouse's training trials; on each mouse's test trials it gives the lever
  decoding R² through the shared space and the fractions of activity variance in the shared
  and private latents;
* the group statistic is the mean over mice of the held-out lever decoding R² through the
  shared space (mice are the replicates). (The shared variance fraction is not a test
  statistic: latents fitted to a permuted lever drift towards the largest-variance, private
  directions, so its null is not centred on zero; it is reported with its null mean.)
  The statistic's null — no relation between any mouse's activity and its movements — comes
  from permuting behaviour across trials independently within every mouse and repeating
  the whole procedure (``n_permutations``); p = (k + 1) / (n + 1), one-sided;
* held-out-mouse decoding (every mouse left out in turn, only its encoder fitted on its
  training trials) is reported beside it, descriptively.

Across learning, per region: each mouse's expert minus naive value, tested with the exact
sign-flip permutation over mice (:func:`thalamocortex.stats.permutation_test_paired`), and the
regions' changes compared with a label permutation across mice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from thalamocortex.alignment.params import AlignmentParams
from thalamocortex.alignment.shared import SharedRepresentation
from thalamocortex.alignment.tensors import check_behaviour, check_cohort, r2_score, trial_folds

#: Per-mouse metrics compared across learning.
METRICS: tuple[str, ...] = ("shared_var", "decode_r2", "lomo_r2")


def _bins(span_s: tuple[float, float], step_s: float, frame_rate: float) -> tuple[int, ...]:
    step = max(1, int(round(step_s * frame_rate)))
    lo, hi = (int(round(v * frame_rate)) for v in span_s)
    return tuple(range(lo, hi + 1, step)) or (0,)


def make_estimator(
    params: AlignmentParams, frame_rate: float, n_time: int, seed: int = 0, **overrides
) -> SharedRepresentation:
    """The study's SharedRepresentation with lags converted from seconds to frames.

    The behaviour window is shortened symmetrically until at least a third of the trial's bins
    have a complete window (short trials).
    """
    # activity lag l puts x(t - l) at t; the span is given as times relative to the bin
    lags = tuple(sorted({-b for b in _bins(params.neural_lags_s, params.lag_step_s, frame_rate)}))
    horizon = _bins(params.behavior_horizon_s, params.horizon_step_s, frame_rate)
    while len(horizon) > 1 and n_time - (max(0, max(horizon)) + max(0, -min(horizon))) < max(
        2, n_time // 3
    ):
        horizon = horizon[1:-1] if len(horizon) > 2 else horizon[:1]
    kw = dict(
        n_shared=params.n_shared,
        max_shared=params.max_shared,
        n_pcs=params.n_pcs,
        neural_lags=lags,
        behavior_horizon=horizon,
        decoder_lags=(0,),
        alphas=params.alphas(),
        n_folds=params.inner_folds,
        random_state=seed,
    )
    kw.update(overrides)
    return SharedRepresentation(**kw)


class SharingCV:
    """Cross-validation over trials of the study statistic for one group of mice, with the
    activity-only part of every fold's fit (per mouse: standardisation, PCA, lag embedding, Gram
    matrices; :meth:`SharedRepresentation.prepare`) computed once. Scoring another behaviour
    (a permutation of the trials) repeats only the behaviour-dependent steps, with results
    identical to a fit from scratch.

    Each mouse's trials are split into ``params.n_folds`` folds independently (seed
    ``seed + mouse``); in every fold a SharedRepresentation with ``n_shared`` dimensions is
    fitted on every mouse's training trials and scored on its test trials.
    """

    def __init__(
        self, X: Sequence[np.ndarray], params: AlignmentParams, frame_rate: float, seed: int = 0
    ):
        Xs, _ = check_cohort(X)
        self.shapes = [x.shape[:2] for x in Xs]
        self.folds = [trial_folds(len(x), params.n_folds, seed + m) for m, x in enumerate(Xs)]
        self.k = min(int(f.max()) + 1 for f in self.folds)
        self.estimator = make_estimator(params, frame_rate, Xs[0].shape[1], seed)
        self.prepared = []
        self.test = []  # per fold: per mouse (test activity, its embedded features)
        for j in range(self.k):
            prep = self.estimator.prepare([x[f != j] for x, f in zip(Xs, self.folds)])
            self.prepared.append(prep)
            tests = [x[f == j] for x, f in zip(Xs, self.folds)]
            self.test.append([(xt, m.embed(xt)) for xt, m in zip(tests, prep.mice)])

    def score(self, y: Sequence[np.ndarray], private: bool = True) -> pd.DataFrame:
        """Per mouse, held-out decoding R² and shared/private variance fractions (mean over
        folds) for behaviour ``y`` (list of (n_trials_m, n_time[, n_beh]))."""
        ys = check_behaviour(self.shapes, y)
        acc = np.zeros((len(ys), 3))
        for j in range(self.k):
            est = self.estimator.fit(
                self.prepared[j], [b[f != j] for b, f in zip(ys, self.folds)], private=private
            )
            for m, (b, f, e, (xt, zt)) in enumerate(
                zip(ys, self.folds, est.encoders_, self.test[j])
            ):
                pred = e.decoder.predict(zt @ e.weights)
                v = e.variance_partition(xt, z=zt, private=private)
                acc[m] += [r2_score(b[f == j], pred), v["shared"], v["private"]]
        acc /= self.k
        return pd.DataFrame(
            {
                "mouse_index": np.arange(len(ys)),
                "decode_r2": acc[:, 0],
                "shared_var": acc[:, 1],
                "private_var": acc[:, 2],
            }
        )

    def score_permutations(
        self, y: Sequence[np.ndarray], perms: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`score` of many trial permutations of the behaviour at once (batched fits,
        identical to scoring each permuted behaviour in turn).

        Parameters
        ----------
        y : list of arrays (n_trials_m, n_time[, n_beh])
        perms : list (per mouse) of int arrays (n_batch, n_trials_m): row ``i`` is permutation
            ``i`` of that mouse's trials (behaviour trial ``perms[m][i, t]`` goes to trial t).

        Returns
        -------
        (decode_r2, shared_var): arrays (n_batch, n_mice), means over folds.
        """
        ys = check_behaviour(self.shapes, y)
        n_batch = len(perms[0])
        r2 = np.zeros((n_batch, len(ys)))
        shared = np.zeros_like(r2)
        yp = [b[p] for b, p in zip(ys, perms)]  # (n_batch, n_trials, n_time, n_beh)
        for j in range(self.k):
            tests = [(xt, zt, b[:, f == j]) for (xt, zt), b, f in zip(self.test[j], yp, self.folds)]
            a, v = self.estimator.score_batch(
                self.prepared[j], [b[:, f != j] for b, f in zip(yp, self.folds)], tests
            )
            r2 += a
            shared += v
        return r2 / self.k, shared / self.k


def cross_validated_sharing(
    X: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    params: AlignmentParams,
    frame_rate: float,
    seed: int = 0,
) -> pd.DataFrame:
    """Per mouse, held-out decoding R² and shared/private variance fractions (mean over folds;
    :class:`SharingCV`)."""
    return SharingCV(X, params, frame_rate, seed).score(y)


def sharing_permutation_test(
    X: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    params: AlignmentParams,
    frame_rate: float,
    seed: int = 0,
    n_permutations: int | None = None,
) -> dict:
    """Is there shared, movement-relevant structure? The mean over mice of the held-out lever
    decoding R² through the shared space, against its null under behaviour permuted across
    trials within every mouse (the whole cross-validated fit repeated per permutation; the
    activity-only steps, which no permutation changes, are computed once).

    Returns ``statistic``, ``p`` (one-sided, (k + 1) / (n + 1): exact-valid for random
    permutations, Phipson & Smyth 2010), ``null_mean``, ``null_sd``, ``shared_var_null``
    (mean shared variance fraction under the null) and the per-mouse table (``per_mouse``) of
    the observed data.
    """
    Xs, ys = check_cohort(X, y)
    cv = SharingCV(Xs, params, frame_rate, seed)
    obs = cv.score(ys)
    stat = float(obs["decode_r2"].mean())
    n = params.n_permutations if n_permutations is None else int(n_permutations)
    rng = np.random.default_rng(seed)
    perms = [np.empty((n, len(b)), dtype=np.int64) for b in ys]
    for i in range(n):  # the same draws, in the same order, as one permutation at a time
        for m, b in enumerate(ys):
            perms[m][i] = rng.permutation(len(b))
    null = np.empty((n, 2))
    batch = int(params.permutation_batch)
    for lo in range(0, n, batch):
        r2, shared = cv.score_permutations(ys, [p[lo : lo + batch] for p in perms])
        null[lo : lo + batch] = np.c_[r2.mean(axis=1), shared.mean(axis=1)]
    p = (int((null[:, 0] >= stat).sum()) + 1) / (n + 1)
    return {
        "statistic": stat,
        "p": float(p),
        "null_mean": float(null[:, 0].mean()) if n else np.nan,
        "null_sd": float(null[:, 0].std(ddof=1)) if n > 1 else np.nan,
        "shared_var_null": float(null[:, 1].mean()) if n else np.nan,
        "per_mouse": obs,
    }


def held_out_mouse_decoding(
    X: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    params: AlignmentParams,
    frame_rate: float,
    seed: int = 0,
) -> np.ndarray:
    """Per mouse, lever R² when it is left out: fit on the others, fit only its encoder on its
    training trials (all folds but one), decode its test fold; mean over folds."""
    Xs, ys = check_cohort(X, y)
    out = np.full(len(Xs), np.nan)
    if len(Xs) < 2:
        return out
    for m in range(len(Xs)):
        others = [i for i in range(len(Xs)) if i != m]
        est = make_estimator(params, frame_rate, Xs[0].shape[1], seed).fit(
            [Xs[i] for i in others], [ys[i] for i in others]
        )
        folds = trial_folds(len(Xs[m]), params.n_folds, seed + m)
        r = []
        for j in range(int(folds.max()) + 1):
            enc = est.fit_encoder(Xs[m][folds != j], ys[m][folds != j])
            r.append(r2_score(ys[m][folds == j], enc.predict(Xs[m][folds == j])))
        out[m] = float(np.mean(r))
    return out


def analyse_group(
    X: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    mice: Sequence[str],
    params: AlignmentParams,
    frame_rate: float,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """One region x stage: per-mouse table and the group row (test, CV dimensionality)."""
    test = sharing_permutation_test(X, y, params, frame_rate, seed)
    per = test.pop("per_mouse")
    per.insert(0, "mouse", list(mice))
    per["lomo_r2"] = held_out_mouse_decoding(X, y, params, frame_rate, seed)
    per["n_units"] = [np.shape(x)[2] for x in X]
    per["n_trials"] = [np.shape(x)[0] for x in X]
    cv = make_estimator(params, frame_rate, np.shape(X[0])[1], seed, n_shared="cv").fit(X, y)
    group = {
        "n_mice": len(X),
        "decode_r2": test["statistic"],
        "decode_r2_null": test["null_mean"],
        "p_shared": test["p"],
        "n_permutations": int(params.n_permutations),
        "shared_var": float(per["shared_var"].mean()),
        "shared_var_null": test["shared_var_null"],
        "lomo_r2": float(np.nanmean(per["lomo_r2"])),
        "private_var": float(per["private_var"].mean()),
        "n_shared": params.n_shared,
        "n_shared_cv": cv.n_shared_,
    }
    return per.drop(columns="mouse_index"), group


def learning_changes(per_mouse: pd.DataFrame, stats, metrics: Sequence[str] = METRICS):
    """Expert minus naive per region and metric, mice as replicates.

    Parameters
    ----------
    per_mouse : DataFrame with ``region``, ``stage`` (naive/expert), ``mouse`` and the metrics.
    stats : StatsParams

    Returns
    -------
    (changes, regions): ``changes`` one row per region x metric (``n_mice``, ``naive``,
    ``expert``, ``change``, ``p_perm``: exact sign-flip over mice); ``regions`` one row per
    metric (``largest_increase``, per-region mean change, ``p_regions``).
    """
    from thalamocortex.stats import permutation_test_groups, permutation_test_paired

    rows, reg_rows = [], []
    d = per_mouse[per_mouse["stage"].isin(["naive", "expert"])]
    for metric in metrics:
        if metric not in d:
            continue
        wide = d.pivot_table(index=["region", "mouse"], columns="stage", values=metric)
        wide = wide.reindex(columns=["naive", "expert"]).dropna()
        if wide.empty:
            continue
        delta = (wide["expert"] - wide["naive"]).rename("change").reset_index()
        for region, g in delta.groupby("region", sort=True):
            w = wide.loc[region]
            t = permutation_test_paired(g["change"].to_numpy(), n_perm=stats.n_permutations)
            rows.append(
                {
                    "region": region,
                    "metric": metric,
                    "n_mice": len(g),
                    "naive": float(w["naive"].mean()),
                    "expert": float(w["expert"].mean()),
                    "change": float(g["change"].mean()),
                    "p_perm": t["p"],
                }
            )
        means = delta.groupby("region")["change"].mean()
        row = {
            "metric": metric,
            "largest_increase": means.idxmax(),
            **{f"change_{r}": v for r, v in means.items()},
            "p_regions": np.nan,
        }
        if means.size >= 2 and len(delta) >= 3:
            row["p_regions"] = permutation_test_groups(
                delta["change"].to_numpy(),
                delta["region"].to_numpy(),
                stats.n_permutations,
                stats.seed,
            )["p"]
        reg_rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(reg_rows)
