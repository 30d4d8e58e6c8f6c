"""Cross-animal alignment: SharedRepresentation vs CCA and SRM on known latents, the null,
estimator contracts, and the study-level test (issue 13)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone

import thalamocortex.config  # noqa: F401
from thalamocortex.alignment.baselines import CCAAlignment, SharedResponseModel
from thalamocortex.alignment.params import AlignmentParams
from thalamocortex.alignment.shared import SharedRepresentation
from thalamocortex.alignment.study import (
    SharingCV,
    cross_validated_sharing,
    sharing_permutation_test,
)
from thalamocortex.alignment.synthetic import latent_cohort
from thalamocortex.alignment.tensors import lag_embed, r2_score
from thalamocortex.alignment.validation import (
    held_out_mouse,
    subspace_recovery,
    train_test_split_trials,
)
from thalamocortex.data.errors import DataError

SMALL = dict(n_mice=4, n_trials=80, n_time=50, units=(30, 70))


@pytest.fixture(scope="module")
def default_cohort():
    return latent_cohort(**SMALL, seed=3)


def _lomo(make, c, seed=0):
    splits = train_test_split_trials([len(x) for x in c.X], 0.25, seed)
    return held_out_mouse(make, c.X, c.y, splits, seed, c.shared)


def test_lag_embed_shifts_within_trials():
    z = np.arange(10, dtype=float).reshape(1, 5, 2)
    e = lag_embed(z, (1, -1))
    assert e.shape == (1, 5, 4)
    assert e[0, 2, 0] == z[0, 1, 0] and e[0, 2, 2] == z[0, 3, 0]  # past, future
    assert e[0, 0, 0] == z[0, 0, 0] and e[0, 4, 2] == z[0, 4, 0]  # edges repeat


def test_recovers_known_shared_latents():
    """Known shared latents at the generator's default size and noise: mean canonical
    correlation >= 0.9 on a mouse left out of the fit (its test trials; its encoder fitted on
    its training trials only)."""
    c = latent_cohort(seed=1)
    m = SharedRepresentation().fit(c.X[1:], c.y[1:])
    enc = m.fit_encoder(c.X[0][:90], c.y[0][:90])
    assert subspace_recovery(enc.transform(c.X[0][90:]), c.shared[0][90:]) >= 0.9
    assert r2_score(c.y[0][90:], enc.predict(c.X[0][90:])) >= 0.9


def test_cv_chooses_a_small_shared_dimensionality(default_cohort):
    c = default_cohort
    m = SharedRepresentation().fit(c.X, c.y)
    assert 2 <= m.n_shared_ <= 6  # three true latents, weakly observable ones may merge
    assert m.cv_r2_.shape == (5 * len(c.X), m.max_shared)
    parts = m.variance_partition(c.X)
    assert all(0.1 < p["shared"] < 0.6 and p["private"] > 0.1 for p in parts), parts
    assert np.all(np.abs(np.linalg.eigvals(m.dynamics_)) < 1.05)  # stable shared dynamics


def test_beats_unsupervised_alignment_under_large_private_variance():
    """Private, behaviour-unrelated variance 16x the shared: >= 0.1 better held-out-mouse R²
    than trial-matched CCA and SRM on the same splits."""
    c = latent_cohort(**SMALL, private_sd=4.0, n_private=10, seed=5)
    r = {
        name: _lomo(make, c)["lomo_r2"].mean()
        for name, make in {
            "shared": lambda s: SharedRepresentation(random_state=s),
            "cca": lambda s: CCAAlignment(random_state=s),
            "srm": lambda s: SharedResponseModel(random_state=s),
        }.items()
    }
    assert r["shared"] >= r["cca"] + 0.1, r
    assert r["shared"] >= r["srm"] + 0.1, r
    assert r["shared"] > 0.8, r


def test_null_cohort_decodes_at_chance():
    c = latent_cohort(**SMALL, shared_in_neurons=False, seed=7)
    res = _lomo(lambda s: SharedRepresentation(random_state=s), c)
    assert res["lomo_r2"].mean() <= 0.05, res
    assert res["recovery"].mean() < 0.5


def test_deterministic_given_seed(default_cohort):
    c = default_cohort
    a = SharedRepresentation(random_state=1).fit(c.X, c.y).transform(c.X)
    b = SharedRepresentation(random_state=1).fit(c.X, c.y).transform(c.X)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_estimator_contract(default_cohort):
    c = default_cohort
    est = SharedRepresentation(n_shared=3, n_pcs=10)
    assert est.get_params()["n_shared"] == 3
    est.set_params(n_pcs=12)
    assert clone(est).get_params()["n_pcs"] == 12
    est.fit(c.X[:3], c.y[:3])
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(again.transform(c.X[:1])[0], est.transform(c.X[:1])[0])
    assert est.transform(c.X[:3])[1].shape == (80, 50, 3)
    assert est.score(c.X[:3], c.y[:3]) > 0.8
    # a subset of fitted mice by index; a new mouse through its own encoder
    assert est.predict([c.X[2]], mice=[2])[0].shape == (80, 50, 1)
    enc = est.fit_encoder(c.X[3][:60], c.y[3][:60])
    assert r2_score(c.y[3][60:], enc.predict(c.X[3][60:])) > 0.8
    assert enc.private(c.X[3]).shape[:2] == (80, 50)


def test_bad_input_names_the_mouse_and_field(default_cohort):
    c = default_cohort
    bad = [x.copy() for x in c.X[:2]]
    bad[1][0, 0, 0] = np.nan
    with pytest.raises(DataError, match="mouse 1"):
        SharedRepresentation().fit(bad, c.y[:2])
    with pytest.raises(DataError, match="same time bins"):
        SharedRepresentation().fit([c.X[0], c.X[1][:, :40]], [c.y[0], c.y[1][:, :40]])
    with pytest.raises(DataError, match="field 'y'"):
        SharedRepresentation().fit(c.X[:2], [c.y[0], c.y[1][:10]])
    with pytest.raises(ValueError, match="n_shared"):
        SharedRepresentation(n_shared=0).fit(c.X[:2], c.y[:2])


def test_cca_alignment_between_floor_and_ceiling(default_cohort):
    c = default_cohort
    cca = CCAAlignment().fit(c.X, c.y)
    tab = cca.consistency(c.X, c.y, n_shuffles=5)
    assert len(tab) == 6
    assert (tab["aligned"] > tab["floor"]).mean() >= 0.8, tab
    assert (tab["ceiling"] > tab["floor"]).all(), tab


def test_subspace_recovery_counts_missing_dimensions_as_zero():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((20, 10, 3))
    assert subspace_recovery(truth @ rng.standard_normal((3, 3)), truth) == pytest.approx(1.0)
    assert subspace_recovery(truth[..., :1], truth) == pytest.approx(1 / 3)


def test_study_test_detects_sharing_and_not_the_null():
    p = AlignmentParams(n_folds=3, n_pcs=10, n_shared=2)
    kw = dict(n_mice=3, n_trials=40, n_time=30, units=(15, 30))
    eff = latent_cohort(**kw, seed=11)
    nul = latent_cohort(**kw, shared_in_neurons=False, seed=11)
    t_eff = sharing_permutation_test(eff.X, eff.y, p, frame_rate=20.0, n_permutations=19)
    t_nul = sharing_permutation_test(nul.X, nul.y, p, frame_rate=20.0, n_permutations=19)
    assert t_eff["p"] == pytest.approx(0.05) and t_eff["statistic"] > t_eff["null_mean"] + 0.3
    assert t_nul["p"] > 0.05


def test_batched_null_equals_one_permutation_at_a_time():
    """The permutation null fits a batch of permuted behaviours side by side on activity
    prepared once; every resample must equal the fit from scratch on that permuted behaviour
    (the same cross-validated procedure, including the ridge-strength choice)."""
    p = AlignmentParams(n_folds=3, n_pcs=8, n_shared=2, inner_folds=4, ridge_n_alphas=7)
    c = latent_cohort(n_mice=3, n_trials=24, n_time=25, units=(6, 14), seed=5)
    cv = SharingCV(c.X, p, 20.0, seed=2)
    rng = np.random.default_rng(0)
    perms = [np.stack([rng.permutation(len(b)) for _ in range(4)]) for b in c.y]
    r2, shared = cv.score_permutations(c.y, perms)
    assert r2.shape == shared.shape == (4, 3)
    for i in range(4):
        yp = [b[q[i]] for b, q in zip(c.y, perms)]
        ref = cross_validated_sharing(c.X, yp, p, 20.0, seed=2)
        np.testing.assert_allclose(r2[i], ref["decode_r2"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(shared[i], ref["shared_var"], rtol=0, atol=1e-9)
    # the batch size changes nothing
    t1 = sharing_permutation_test(c.X, c.y, p, 20.0, n_permutations=10)
    p.permutation_batch = 3
    t2 = sharing_permutation_test(c.X, c.y, p, 20.0, n_permutations=10)
    assert (t1["p"], t1["null_mean"]) == pytest.approx((t2["p"], t2["null_mean"]), abs=1e-12)


def test_prepared_activity_must_match_the_parameters(default_cohort):
    c = default_cohort
    m = SharedRepresentation(n_shared=2, n_pcs=10)
    prep = m.prepare(c.X)
    a = m.fit(prep, c.y).transform(c.X)
    b = clone(m).fit(c.X, c.y).transform(c.X)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    with pytest.raises(ValueError, match="prepared with other parameters"):
        SharedRepresentation(n_shared=2, n_pcs=12).fit(prep, c.y)
