"""Scores of cross-animal alignment methods on identical splits, and the validation entry point.

:func:`validate_alignment` takes per-mouse arrays, behaviour and (optionally) the true shared
latents — from :func:`thalamocortex.alignment.synthetic.latent_cohort` today, from the
simulator's ground truth once it saves shared motor latents — and scores every method on the
same trial splits:

``lomo_r2``        held-out-mouse decoding: fit on all mice but one, fit only the left-out
                   mouse's encoder on its training trials, decode its test trials through the
                   shared space with the decoder fitted on the other mice;
``trial_r2``       held-out-trial decoding within mice: fit on every mouse's training trials,
                   decode each mouse's test trials;
``recovery``       mean canonical correlation between the left-out mouse's test-trial latents
                   and the true shared latents (the top ``n_true`` correlations, missing
                   dimensions counted as 0);
``shared_var``     fraction of the test trials' activity variance explained by the shared
                   latents (loadings fitted on the training trials);
``consistency``    mean correlation, over pairs of mice, of their trial-averaged shared latent
                   trajectories (test trials; every method's coordinates are common to mice).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from thalamocortex.alignment.anchor import loss_plateau
from thalamocortex.alignment.tensors import check_cohort, flat, r2_score

EstimatorFactory = Callable[[int], object]  # seed -> unfitted estimator


def train_test_split_trials(
    n_trials: Sequence[int], test_fraction: float, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per mouse, (train, test) trial indices from a seeded permutation."""
    out = []
    for m, n in enumerate(n_trials):
        rng = np.random.default_rng([seed, m])
        perm = rng.permutation(n)
        k = max(1, int(round(test_fraction * n)))
        out.append((np.sort(perm[k:]), np.sort(perm[:k])))
    return out


def subspace_recovery(latents: np.ndarray, truth: np.ndarray) -> float:
    """Mean of the first ``truth.shape[-1]`` canonical correlations between estimated and
    true latents (samples = trials x time bins); dimensions the estimate lacks count as 0."""
    a, b = flat(latents), flat(truth)
    a = a - a.mean(0)
    b = b - b.mean(0)

    def basis(m: np.ndarray) -> np.ndarray:
        u, s, _ = np.linalg.svd(m, full_matrices=False)
        return u[:, s > 1e-9 * max(s[0], 1e-300)] if len(s) else u[:, :0]

    s = np.linalg.svd(basis(a).T @ basis(b), compute_uv=False)
    k = b.shape[1]
    out = np.zeros(k)
    out[: min(k, len(s))] = np.clip(s[:k], 0, 1)
    return float(out.mean())


def shared_variance(enc, x_train: np.ndarray, x_test: np.ndarray) -> float:
    """Fraction of the test activity variance explained by the encoder's shared latents, with
    per-unit loadings fitted by least squares on the training trials."""
    s_tr, s_te = flat(enc.transform(x_train)), flat(enc.transform(x_test))
    x_tr, x_te = flat(x_train), flat(x_test)
    mu_s, mu_x = s_tr.mean(0), x_tr.mean(0)
    L = np.linalg.lstsq(s_tr - mu_s, x_tr - mu_x, rcond=None)[0]
    resid = (x_te - mu_x) - (s_te - mu_s) @ L
    total = ((x_te - x_te.mean(0)) ** 2).sum()
    return float(1.0 - (resid**2).sum() / total)


def consistency(latents: Sequence[np.ndarray]) -> float:
    """Mean pairwise correlation of mice's trial-averaged latent trajectories (time x dims)."""
    avg = [lat.mean(axis=0).ravel() for lat in latents]
    r = [
        np.corrcoef(avg[i], avg[j])[0, 1]
        for i in range(len(avg))
        for j in range(i + 1, len(avg))
        if avg[i].std() > 0 and avg[j].std() > 0
    ]
    return float(np.mean(r)) if r else np.nan


def held_out_mouse(
    make: EstimatorFactory,
    X: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    seed: int = 0,
    true_shared: Sequence[np.ndarray] | None = None,
) -> pd.DataFrame:
    """Held-out-mouse decoding (and recovery, shared variance) for every mouse in turn.

    Returns one row per left-out mouse: ``mouse``, ``lomo_r2``, ``recovery`` (NaN without
    truth), ``shared_var``; the test latents are kept in ``attrs["latents"]``.
    """
    Xs, ys = check_cohort(X, y)
    rows, latents = [], []
    joint = getattr(make(seed), "joint_sessions", False)
    if joint:  # CEBRA: one embedding of every mouse's training trials
        model = make(seed)
        model.fit(
            [x[tr] for x, (tr, _) in zip(Xs, splits)], [b[tr] for b, (tr, _) in zip(ys, splits)]
        )
        train_lat = [e.transform(x[tr]) for e, x, (tr, _) in zip(model.encoders_, Xs, splits)]
    for m, (x, b) in enumerate(zip(Xs, ys)):
        tr, te = splits[m]
        others = [i for i in range(len(Xs)) if i != m]
        if joint:
            from thalamocortex.alignment.tensors import LatentDecoder

            dec = LatentDecoder(model.decoder_lags, model.alphas, seed=seed).fit(
                [train_lat[i] for i in others], [ys[i][splits[i][0]] for i in others]
            )
            enc = model.encoders_[m]
            lat = enc.transform(x[te])
            pred = dec.predict(lat)
        else:
            est = make(seed).fit([Xs[i] for i in others], [ys[i] for i in others])
            enc = est.fit_encoder(x[tr], b[tr])
            lat = enc.transform(x[te])
            pred = enc.decoder.predict(lat)
        latents.append(lat)
        rows.append(
            {
                "mouse": m,
                "lomo_r2": r2_score(b[te], pred),
                "recovery": subspace_recovery(lat, true_shared[m][te])
                if true_shared is not None
                else np.nan,
                "shared_var": shared_variance(enc, x[tr], x[te]),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["latents"] = latents
    if joint:
        out.attrs["model"] = model
    return out


def held_out_trials(
    make: EstimatorFactory,
    X: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    seed: int = 0,
    fitted=None,
) -> pd.DataFrame:
    """Within-mouse held-out-trial decoding: one fit on every mouse's training trials
    (``fitted``: that fit, already made — CEBRA's held-out-mouse embedding is this fit)."""
    Xs, ys = check_cohort(X, y)
    est = fitted or make(seed).fit(
        [x[tr] for x, (tr, _) in zip(Xs, splits)], [b[tr] for b, (tr, _) in zip(ys, splits)]
    )
    test_lat = [e.transform(x[te]) for e, x, (_, te) in zip(est.encoders_, Xs, splits)]
    rows = [
        {"mouse": m, "trial_r2": r2_score(ys[m][te], est.encoders_[m].decoder.predict(lat))}
        for m, (lat, (_, te)) in enumerate(zip(test_lat, splits))
    ]
    out = pd.DataFrame(rows)
    out.attrs["consistency"] = consistency(test_lat)
    return out


def default_methods(cebra_iterations: int = 0, **cebra) -> dict[str, EstimatorFactory]:
    """The compared methods (CEBRA only when ``cebra_iterations`` > 0: it needs the extra;
    ``cebra`` keywords override the rest of its CPU configuration)."""
    from thalamocortex.alignment.baselines import CCAAlignment, SharedResponseModel
    from thalamocortex.alignment.shared import SharedRepresentation

    methods: dict[str, EstimatorFactory] = {
        "SharedRepresentation": lambda s: SharedRepresentation(random_state=s),
        "CCAAlignment": lambda s: CCAAlignment(random_state=s),
        "SRM": lambda s: SharedResponseModel(random_state=s),
    }
    if cebra_iterations > 0:
        from thalamocortex.alignment.anchor import CEBRAMultiSession

        methods["CEBRA"] = lambda s: CEBRAMultiSession(
            max_iterations=cebra_iterations, random_state=s, **cebra
        )
    return methods


def validate_alignment(
    X: Sequence[np.ndarray],
    y: Sequence[np.ndarray],
    true_shared: Sequence[np.ndarray] | None = None,
    methods: Mapping[str, EstimatorFactory] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    test_fraction: float = 0.25,
) -> pd.DataFrame:
    """Score every method on the same splits for every seed.

    Parameters
    ----------
    X : list of arrays (n_trials_m, n_time, n_units_m)
    y : list of arrays (n_trials_m, n_time[, n_behaviour])
    true_shared : list of arrays (n_trials_m, n_time, n_true), optional
        The true shared latents (ground truth), for ``recovery``.
    methods : name -> (seed -> unfitted estimator); default :func:`default_methods`.
    seeds : the split (and estimator) seeds.
    test_fraction : fraction of each mouse's trials held out.

    Returns
    -------
    DataFrame, one row per (method, seed): ``lomo_r2``, ``trial_r2``, ``recovery``,
    ``shared_var`` (means over mice), ``consistency``.
    """
    Xs, ys = check_cohort(X, y)
    methods = methods or default_methods()
    rows = []
    for seed in seeds:
        splits = train_test_split_trials([len(x) for x in Xs], test_fraction, seed)
        for name, make in methods.items():
            lomo = held_out_mouse(make, Xs, ys, splits, seed, true_shared)
            # a joint embedding (CEBRA) of every mouse's training trials is the same fit for
            # both scores: fitted once
            within = held_out_trials(make, Xs, ys, splits, seed, lomo.attrs.get("model"))
            rows.append(
                {
                    "method": name,
                    "seed": seed,
                    "lomo_r2": lomo["lomo_r2"].mean(),
                    "trial_r2": within["trial_r2"].mean(),
                    "recovery": lomo["recovery"].mean(),
                    "shared_var": lomo["shared_var"].mean(),
                    "consistency": within.attrs["consistency"],
                    **(
                        {"loss_plateau": loss_plateau(lomo.attrs["model"].loss_)}
                        if "model" in lomo.attrs
                        else {}
                    ),
                }
            )
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over seeds per method (the comparison table)."""
    cols = [
        c for c in ("lomo_r2", "trial_r2", "recovery", "shared_var", "consistency") if c in table
    ]
    g = table.groupby("method", sort=False)[cols]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_sd"))
    return out[[f"{c}_{s}" for c in cols for s in ("mean", "sd")]].reset_index()


def simulated_cohort(
    cfg,
    experiment: str = "axon_imaging",
    session: int = 14,
    region: str | None = None,
    window_s: tuple[float, float] = (-0.5, 2.0),
) -> dict:
    """Per-mouse trial tensors of a simulated cohort with the true shared latents (validation
    on the in-silico experiment; needs the simulator's mechanistic circuit, issue 12).

    Every mouse of ``experiment`` (of ``region`` if given) is simulated in memory for
    ``session``; activity is the landed dF/F of the file's ROIs
    (:func:`thalamocortex.preprocess.traces.session_dff`, no events), trials are the rewarded,
    included, light-off trials of the landed behaviour analysis
    (:func:`thalamocortex.behavior.session.rewarded_movement_onsets`), aligned to their
    detected movement onset over ``window_s`` on the imaging frames, like the ``alignment``
    stage. The truth is the simulator's executed motor latent (shared across mice up to the
    mouse's idiosyncrasy) on the same frames.

    Returns
    -------
    dict with lists over mice: ``X`` (trials, time, units), ``y`` (trials, time) the lever,
    ``shared`` (trials, time, n_latents) the true motor latent, ``mouse`` names; and
    ``frame_rate`` (Hz).
    """
    from thalamocortex.behavior.session import rewarded_movement_onsets
    from thalamocortex.data.model import lever_to_frames
    from thalamocortex.encoding.peri import peri_event_tensor
    from thalamocortex.preprocess.traces import session_dff
    from thalamocortex.simulate.cohort import cohort_design, simulate_session

    out: dict = {"X": [], "y": [], "shared": [], "mouse": []}
    rates = []
    for spec in cohort_design(cfg, [experiment]):
        if region is not None and spec.region != region:
            continue
        sess, truth = simulate_session(cfg, experiment, spec.mouse_index, session)
        if "latents" not in truth:
            raise RuntimeError(
                "simulate_session returned no 'latents': this simulator does not save the shared "
                "motor latents (issue 12's mechanistic circuit is needed)"
            )
        t = sess.imaging.times
        dff = session_dff(sess, with_events=False).dff
        lat = truth["latents"]
        if len(lat["times"]) != len(t):
            raise ValueError(
                f"{sess.id}: latents on {len(lat['times'])} frames, imaging has {len(t)}"
            )
        tr = rewarded_movement_onsets(sess)
        sel = (tr["movement_kind"] == "rewarded") & tr["included"].astype(bool)
        if "light" in tr:
            sel &= ~tr["light"].astype(bool)
        onsets = tr.loc[sel, "movement_onset"].to_numpy(np.float64)
        onsets = onsets[np.isfinite(onsets)]
        x, _ = peri_event_tensor(dff, t, onsets, window_s)
        lev, _ = peri_event_tensor(lever_to_frames(sess.lever, t)[:, None], t, onsets, window_s)
        z, _ = peri_event_tensor(np.asarray(lat["shared"], np.float64), t, onsets, window_s)
        ok = np.isfinite(x).all(axis=(1, 2)) & np.isfinite(lev).all(axis=(1, 2))
        out["X"].append(x[ok])
        out["y"].append(lev[ok, :, 0].astype(np.float64))
        out["shared"].append(z[ok].astype(np.float64))
        out["mouse"].append(spec.mouse)
        rates.append(float(1.0 / np.median(np.diff(t))))
    if not out["X"]:
        raise ValueError(f"no {experiment} mice{f' of region {region}' if region else ''} in cfg")
    out["frame_rate"] = float(np.median(rates))
    return out
