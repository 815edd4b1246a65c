"""Synthetic difference-in-differences numerics (``evallib.stats.sdid``).

References: Arkhangelsky et al. (2021) Table 1 and the R package ``synthdid`` run on the
same Proposition 99 panel, stored in ``tests/reference/sdid_prop99.json`` (provenance:
``tests/reference/README.md``, section "Synthetic difference-in-differences").
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evallib.exceptions import ModelError, ParameterError
from evallib.stats import sdid as S

REF = Path(__file__).resolve().parent / "reference"
SD = json.loads((REF / "sdid_prop99.json").read_text())
RCAL = SD["synthdid_r"]["california"]
R3 = SD["synthdid_r"]["three_treated"]
T0 = 19


def _rows(block) -> np.ndarray:
    return np.array([[int(v) for v in r.split()] for r in block["rows"]])


@pytest.fixture(scope="module")
def prop99():
    """(Y, states): 38 controls in alphabetical order then California, 1970-2000."""
    wide = pd.read_csv(REF / "controlled_prop99.csv")
    states = list(wide.columns[1:])
    assert states[-1] == "California" and states[:-1] == sorted(states[:-1])
    Y = wide[states].to_numpy().T.astype(np.float32).astype(np.float64)
    return Y, states


@pytest.fixture(scope="module")
def fits(prop99):
    Y, _ = prop99
    return {k: S.sdid(Y, 1, T0, estimator=k) for k in S.ESTIMATORS}


@pytest.fixture(scope="module")
def fits3(prop99):
    Y, _ = prop99
    return {k: S.sdid(Y, 3, T0, estimator=k) for k in S.ESTIMATORS}


def _vec(d: dict) -> np.ndarray:
    return np.array(list(d.values()))


# ------------------------------------------------------------------ Proposition 99: estimates
@pytest.mark.parametrize("est,published", [("sdid", -15.60), ("did", -27.35), ("sc", -19.62)])
def test_prop99_estimates_match_paper_table1(fits, est, published):
    tol = 0.02 if est == "sc" else 0.01
    assert fits[est].estimate == pytest.approx(published, abs=tol)
    assert round(fits[est].estimate, 1) == SD["published"]["table1"][est]["estimate"]


@pytest.mark.parametrize("est", S.ESTIMATORS)
def test_prop99_estimates_weights_and_effects_match_synthdid_r(fits, est):
    f, r = fits[est], RCAL[est]
    assert f.estimate == pytest.approx(r["estimate"], abs=1e-6)
    np.testing.assert_allclose(f.omega, _vec(r["unit_weights"]), atol=1e-7)
    np.testing.assert_allclose(f.lambda_, _vec(r["time_weights"]), atol=1e-7)
    np.testing.assert_allclose(f.effects, _vec(r["effects"]), atol=1e-6)
    assert f.effects.mean() == pytest.approx(f.estimate, abs=1e-12)


def test_prop99_sc_unit_weights_match_paper(fits, prop99):
    _, states = prop99
    w = dict(zip(states[:-1], fits["sc"].omega))
    for state, published in SD["published"]["sc_unit_weights"].items():
        # printed with 2 digits (New Hampshire's 0.0454 is shown as .04, as synthdid gives it)
        assert w[state] == pytest.approx(published, abs=0.006), state
    others = [v for s, v in w.items() if s not in SD["published"]["sc_unit_weights"]]
    assert max(others) < 0.005 and sum(others) < 0.01


def test_prop99_sdid_time_weights_are_on_1986_to_1988(fits):
    lam = dict(zip(range(1970, 1989), fits["sdid"].lambda_))
    assert sum(lam[y] for y in (1986, 1987, 1988)) == pytest.approx(1.0, abs=1e-12)
    assert [round(lam[y], 3) for y in (1986, 1987, 1988)] == [0.366, 0.206, 0.427]


def test_prop99_zeta_and_noise_level_follow_the_paper(fits, prop99):
    Y, _ = prop99
    sigma = np.std(np.diff(Y[:38, :T0], axis=1), ddof=1)
    f = fits["sdid"]
    assert f.noise_level == pytest.approx(sigma, rel=1e-12)
    assert S.noise_level(Y, 1, T0) == pytest.approx(sigma, rel=1e-12)
    assert f.zeta_omega == pytest.approx((1 * 12) ** 0.25 * sigma, rel=1e-12)
    assert f.zeta_lambda == pytest.approx(1e-6 * sigma, rel=1e-12)
    assert fits["sc"].zeta_omega == pytest.approx(1e-6 * sigma, rel=1e-12)
    assert f.iterations == {"omega": (100, 10000), "lambda": (100, 5)}


@pytest.mark.parametrize("est", S.ESTIMATORS)
def test_prop99_trajectories_rebuild_the_effects(fits, prop99, est):
    Y, _ = prop99
    f = fits[est]
    np.testing.assert_allclose(f.treated, Y[38], atol=0)
    np.testing.assert_allclose(f.synthetic, f.omega @ Y[:38], rtol=1e-13)
    np.testing.assert_allclose(f.treated[T0:] - f.counterfactual[T0:], f.effects, atol=1e-10)
    gap = f.treated - f.synthetic
    assert f.offset == pytest.approx(gap[:T0] @ f.lambda_, abs=1e-10)
    # the estimate is the weighted double difference (-omega, 1)' Y (-lambda, 1/T_post)
    tau = np.r_[-f.omega, 1.0] @ Y @ np.r_[-f.lambda_, np.full(12, 1 / 12)]
    assert f.estimate == pytest.approx(tau, abs=1e-10)


# ------------------------------------------------------------------ Proposition 99: variance
@pytest.mark.parametrize("est", S.ESTIMATORS)
def test_prop99_placebo_se_reproduces_table1_with_synthdids_draws(fits, est):
    """The permutations R draws after set.seed(12345) give Table 1's 8.4 / 17.7 / 9.9 exactly."""
    v = S.sdid_variance(fits[est], "placebo", draws=_rows(RCAL["placebo_permutations"]))
    assert v.replications == 200 and v.seed is None
    assert v.se == pytest.approx(RCAL[est]["placebo_se"], abs=1e-6)
    assert round(v.se, 1) == SD["published"]["table1"][est]["se"]
    if est == "sdid":
        assert 7.0 <= v.se <= 9.8


def test_prop99_placebo_se_seeded_is_reproducible_and_in_its_sampling_band(fits, prop99):
    """numpy draws differ from R's; check against the exact placebo SE over all 38 placebos.

    With one treated unit there are only 38 placebo assignments, so the placebo SE with
    infinitely many replications is the SD over those 38 estimates (9.371). A 200-draw
    SE varies around it: its 0.1% and 99.9% points are 7.4 and 11.3 (resampling the 38).
    """
    f = fits["sdid"]
    every = np.array([np.roll(np.arange(38), -j - 1) for j in range(38)])   # last = state j
    v_all = S.sdid_variance(f, "placebo", draws=every)
    # an independent path: a fresh fit of each placebo panel with the fit's zeta and sigma
    Y, _ = prop99
    fresh = [S.sdid(np.r_[np.delete(Y[:38], j, 0), Y[j:j + 1]], 1, T0, zeta=f.zeta_omega,
                    noise=f.noise_level).estimate for j in (11, 27, 30)]
    np.testing.assert_allclose(v_all.replicates[[11, 27, 30]], fresh, atol=0.06)
    assert v_all.se == pytest.approx(9.371, abs=0.005)
    a = S.sdid_variance(f, "placebo", seed=0)                  # the defaults: 38 <= 200 assignments: exact
    assert a.replications == 38 and a.seed is None
    assert a.se == pytest.approx(v_all.se, abs=1e-6) and 7.0 <= a.se <= 9.8   # the band
    a = S.sdid_variance(f, "placebo", replications=37, seed=0)  # fewer than 38: random draws
    assert a.replications == 37 and a.seed == 0 and 7.4 <= a.se <= 11.3
    b = S.sdid_variance(f, "placebo", replications=15, seed=4)
    c = S.sdid_variance(f, "placebo", replications=15, seed=4)
    d = S.sdid_variance(f, "placebo", replications=15, seed=5)
    np.testing.assert_array_equal(b.replicates, c.replicates)
    assert b.se != d.se
    # each replicate is one of the 38 exact placebo estimates (up to solver paths)
    assert np.abs(a.replicates[:, None] - v_all.replicates[None, :]).min(axis=1).max() < 0.06


def test_placebo_effects_replicates_average_to_the_replicates(fits):
    v = S.sdid_variance(fits["sdid"], "placebo", replications=20, seed=3)
    assert v.effects_replicates.shape == (20, 12)
    np.testing.assert_allclose(v.effects_replicates.mean(axis=1), v.replicates, atol=1e-10)
    np.testing.assert_allclose(v.effects_se, v.effects_replicates.std(axis=0), rtol=1e-12)
    lo, hi = v.effects_ci(0.05)
    np.testing.assert_allclose(hi - lo, 2 * 1.959963984540054 * v.effects_se, rtol=1e-12)
    assert v.ci(0.05) == pytest.approx((v.estimate - 1.959963984540054 * v.se,
                                        v.estimate + 1.959963984540054 * v.se), rel=1e-12)


# ------------------------------------------------------------------ three treated: every variance
@pytest.mark.parametrize("est", S.ESTIMATORS)
def test_three_treated_estimates_match_synthdid_r(fits3, est):
    f, r = fits3[est], R3[est]
    assert f.estimate == pytest.approx(r["estimate"], abs=1e-6)
    np.testing.assert_allclose(f.omega, _vec(r["unit_weights"]), atol=1e-7)
    np.testing.assert_allclose(f.lambda_, _vec(r["time_weights"]), atol=1e-7)
    np.testing.assert_allclose(f.effects, _vec(r["effects"]), atol=1e-6)


@pytest.mark.parametrize("est", S.ESTIMATORS)
def test_three_treated_jackknife_matches_synthdid_r(fits3, est):
    v = S.sdid_variance(fits3[est], "jackknife")
    assert v.se == pytest.approx(R3[est]["jackknife"], abs=1e-6)
    assert v.replications == 39 and v.seed is None


def test_jackknife_equals_an_explicit_leave_one_out_loop(fits3, prop99):
    Y, _ = prop99
    f = fits3["sdid"]
    taus = []
    for i in range(39):
        keep = np.delete(np.arange(39), i)
        n_co = 36 - (i < 36)
        om = f.omega[[j for j in range(36) if j != i]]
        om = om / om.sum()
        w = np.r_[-om, np.full(39 - 1 - n_co, 1 / (39 - 1 - n_co))]
        taus.append(w @ Y[keep] @ np.r_[-f.lambda_, np.full(12, 1 / 12)])
    taus = np.array(taus)
    se = np.sqrt(38 / 39 * ((taus - taus.mean()) ** 2).sum())
    assert S.sdid_variance(f, "jackknife").se == pytest.approx(se, rel=1e-12)


@pytest.mark.parametrize("est", S.ESTIMATORS)
def test_three_treated_placebo_and_bootstrap_match_synthdid_r_with_its_draws(fits3, est):
    p = S.sdid_variance(fits3[est], "placebo", draws=_rows(R3["placebo_permutations"]))
    b = S.sdid_variance(fits3[est], "bootstrap", draws=_rows(R3["bootstrap_draws"]))
    assert p.se == pytest.approx(R3[est]["placebo_se"], abs=1e-5)
    assert b.se == pytest.approx(R3[est]["bootstrap_se"], abs=1e-5)


def test_bootstrap_seeded_is_reproducible(fits3):
    a = S.sdid_variance(fits3["sdid"], "bootstrap", replications=30, seed=5)
    b = S.sdid_variance(fits3["sdid"], "bootstrap", replications=30, seed=5)
    np.testing.assert_array_equal(a.replicates, b.replicates)
    assert a.replications == 30 and a.se > 0 and np.isfinite(a.replicates).all()


# ------------------------------------------------------------------ invariances (synthdid tests)
def _low_rank(seed=0, N0=30, N1=3, T=16, T0=11):
    rng = np.random.default_rng(seed)
    N = N0 + N1
    Y = (rng.normal(0, 1, (N, 2)) @ rng.normal(0, 1, (2, T)).cumsum(axis=1)
         + rng.normal(0, 3, (N, 1)) + rng.normal(0, 0.5, (N, T)))
    return Y, N1, T0


@pytest.mark.parametrize("est", S.ESTIMATORS)
def test_invariant_to_period_shifts_and_scaling(est):
    """Y + b_t changes nothing; c * Y scales tau and its SE by c (synthdid issue 38)."""
    Y, N1, T0_ = _low_rank()
    base = S.sdid(Y, N1, T0_, estimator=est)
    se = S.sdid_variance(base, "placebo", replications=10, seed=2).se
    shifted = S.sdid(Y + 2.0 * np.arange(Y.shape[1]), N1, T0_, estimator=est)
    assert shifted.estimate == pytest.approx(base.estimate, abs=1e-8)
    assert S.sdid_variance(shifted, "placebo", replications=10, seed=2).se == pytest.approx(se, abs=1e-8)
    for c in (1e-6, 1e6):
        sc = S.sdid(c * Y, N1, T0_, estimator=est)
        assert sc.estimate == pytest.approx(c * base.estimate, rel=1e-7)
        np.testing.assert_allclose(sc.omega, base.omega, atol=1e-9)
        np.testing.assert_allclose(sc.lambda_, base.lambda_, atol=1e-9)
        assert S.sdid_variance(sc, "placebo", replications=10, seed=2).se == pytest.approx(c * se, rel=1e-7)


@pytest.mark.parametrize("est", ["sdid", "did"])
def test_invariant_to_unit_shifts_except_sc(est):
    Y, N1, T0_ = _low_rank(1)
    a = 2.5 * np.arange(Y.shape[0])[:, None]
    base = S.sdid(Y, N1, T0_, estimator=est)
    moved = S.sdid(Y + a, N1, T0_, estimator=est)
    assert moved.estimate == pytest.approx(base.estimate, abs=1e-8)
    np.testing.assert_allclose(moved.omega, base.omega, atol=1e-9)


def test_sc_is_not_invariant_to_unit_shifts():
    Y, N1, T0_ = _low_rank(1)
    a = 2.5 * np.arange(Y.shape[0])[:, None]
    assert abs(S.sdid(Y + a, N1, T0_, estimator="sc").estimate
               - S.sdid(Y, N1, T0_, estimator="sc").estimate) > 0.1


# ------------------------------------------------------------------ solver
def test_batched_solver_equals_the_single_problem_path(fits3, prop99):
    """The placebo batch and one-at-a-time solves take the same Frank-Wolfe path."""
    Y, _ = prop99
    f = fits3["sdid"]
    draws = _rows(R3["placebo_permutations"])[:4]
    batch = S.sdid_variance(f, "placebo", draws=draws)
    one = [S.sdid_variance(f, "placebo", draws=d[None]).replicates[0] for d in draws]
    np.testing.assert_allclose(batch.replicates, one, atol=1e-9)


def _ridge_problem(zeta):
    rng = np.random.default_rng(4)
    A = rng.normal(size=(25, 12)) + rng.normal(size=(1, 12))
    b = A @ rng.dirichlet(np.ones(12)) + rng.normal(0, 0.3, 25) + 7.0
    Ac, bc = A - A.mean(0), b - b.mean()

    def obj(w):
        return ((Ac @ w - bc) ** 2).sum() / 25 + zeta**2 * (w**2).sum()

    def grad(w):
        return 2 * Ac.T @ (Ac @ w - bc) / 25 + 2 * zeta**2 * w

    return A, b, obj, grad


def _slsqp(obj, n):
    from scipy.optimize import minimize

    return minimize(obj, np.full(n, 1 / n), method="SLSQP", bounds=[(0, 1)] * n,
                    constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                    options={"ftol": 1e-15, "maxiter": 1000}).fun


def test_simplex_weights_reach_the_interior_optimum_of_the_ridge_problem():
    """With a ridge strong enough for every weight to be positive, Frank-Wolfe converges to
    the minimum of ||x0 + A x - b||^2 / m + zeta^2 ||x||^2 found by SLSQP, with equal
    gradients (the optimality condition) on all weights."""
    A, b, obj, grad = _ridge_problem(zeta=1.0)
    x, it = S.simplex_weights(A, b, zeta=1.0, intercept=True, min_decrease=1e-7, max_iter=100000)
    assert x.min() > 0.01 and x.sum() == pytest.approx(1, abs=1e-12)
    assert it[1] < 100000                             # stopped by min_decrease
    assert obj(x) == pytest.approx(_slsqp(obj, 12), rel=1e-9)
    assert np.ptp(grad(x)) < 1e-4 * grad(x).mean()


def test_simplex_weights_approach_a_boundary_optimum():
    """With a weak ridge the optimum has a zero weight; Frank-Wolfe (no away steps, as
    synthdid) approaches it slowly: after 200,000 iterations the objective is within 1e-4
    of the SLSQP minimum and the gradient is equal on the clearly positive weights and no
    smaller elsewhere."""
    A, b, obj, grad = _ridge_problem(zeta=0.2)
    x, it = S.simplex_weights(A, b, zeta=0.2, intercept=True, min_decrease=1e-12,
                              max_iter=200000, use_sparsify=False)
    assert it == (0, 200000) and x.min() >= 0
    ref = _slsqp(obj, 12)
    assert ref <= obj(x) <= ref * (1 + 1e-4)
    g = grad(x)
    mu = g[x > 0.005].mean()
    assert np.ptp(g[x > 0.005]) < 1e-3 * mu and (g >= mu * (1 - 1e-3)).all()


def test_sparsify_zeroes_small_weights_and_renormalises():
    np.testing.assert_allclose(S.sparsify(np.array([0.5, 0.3, 0.125, 0.075])),
                               np.array([0.5, 0.3, 0, 0]) / 0.8)


# ------------------------------------------------------------------ bad input
def test_fewer_than_two_pre_periods_is_a_model_error():
    Y = np.ones((5, 6))
    with pytest.raises(ModelError) as e:
        S.sdid(Y, 1, 1)
    assert str(e.value) == (
        "sdid: 1 pre-period(s) found (T0=1); at least 2 pre-periods are needed (the noise "
        "level and the weights are estimated from pre-period changes): move the interruption "
        "later or start the series earlier")


def test_gap_in_treated_pre_period_names_unit_and_period():
    Y, N1, T0_ = _low_rank()
    Y[-2, 3] = np.nan
    units = [f"U{i}" for i in range(Y.shape[0])]
    periods = [f"2019-{m:02d}" for m in range(1, Y.shape[1] + 1)]
    with pytest.raises(ModelError) as e:
        S.sdid(Y, N1, T0_, units=units, periods=periods)
    assert str(e.value) == (
        "sdid: missing or non-finite value nan in the pre-period of treated unit 'U31' at "
        "period '2019-04' (1 such value(s) in the treated pre-period); a balanced panel without "
        "gaps is needed: fill the gap or drop the unit")


def test_gap_in_control_pre_period_without_labels_names_indices():
    Y, N1, T0_ = _low_rank()
    Y[4, 0] = np.nan
    Y[5, 1] = np.inf
    with pytest.raises(ModelError, match=r"pre-period of control unit index 4 at period index 0 "
                                         r"\(2 such value\(s\) in the control pre-period\)"):
        S.sdid(Y, N1, T0_)


def test_placebo_needs_more_controls_than_treated():
    rng = np.random.default_rng(0)
    f = S.sdid(rng.normal(size=(6, 8)), 3, 5)
    with pytest.raises(ModelError) as e:
        S.sdid_variance(f, "placebo")
    assert str(e.value) == (
        "placebo variance: 3 control unit(s) found for 3 treated; the placebo needs more "
        "controls than treated units (at least 4): add comparators or use the jackknife")


def test_jackknife_and_bootstrap_need_two_treated(fits):
    with pytest.raises(ModelError, match="jackknife variance: 1 treated unit found; the "
                                         "jackknife needs at least 2 treated units"):
        S.sdid_variance(fits["sdid"], "jackknife")
    with pytest.raises(ModelError, match="bootstrap variance: 1 treated unit found; the "
                                         "bootstrap needs at least 2 treated units"):
        S.sdid_variance(fits["sdid"], "bootstrap")


def test_jackknife_needs_two_weighted_controls():
    Y, N1, T0_ = _low_rank()
    f = S.sdid(Y, N1, T0_, estimator="sc")
    one = S.SDIDFit(**{**f.__dict__, "omega": np.eye(1, f.omega.size, 0)[0]})
    with pytest.raises(ModelError, match="1 control unit with non-zero weight found; the "
                                         "fixed-weight jackknife needs at least 2"):
        S.sdid_variance(one, "jackknife")


def test_bad_arguments_are_parameter_errors(fits):
    Y = np.zeros((5, 6))
    with pytest.raises(ParameterError, match="estimator must be one of sdid, did, sc, got 'synth'"):
        S.sdid(Y, 1, 3, estimator="synth")
    with pytest.raises(ModelError, match="no post-period found"):
        S.sdid(Y, 1, 6)
    with pytest.raises(ModelError, match="0 control units found"):
        S.sdid(Y, 5, 3)
    with pytest.raises(ParameterError, match="method must be one of placebo, jackknife, bootstrap"):
        S.sdid_variance(fits["sdid"], "wild")
    with pytest.raises(ParameterError, match="replications must be a positive integer, got 0"):
        S.sdid_variance(fits["sdid"], "placebo", replications=0)
    with pytest.raises(ParameterError, match="seed must be an integer"):
        S.sdid_variance(fits["sdid"], "placebo", seed=1.5)
    with pytest.raises(ParameterError, match=r"row 0 is not a permutation of the control rows 0..37"):
        S.sdid_variance(fits["sdid"], "placebo", draws=np.zeros((2, 38), dtype=int))
    with pytest.raises(ParameterError, match=r"shape \(replications, 38\)"):
        S.sdid_variance(fits["sdid"], "placebo", draws=np.zeros((2, 5), dtype=int))


# ------------------------------------------------------------------ simulation
def _factor_panel(rng, N0=40, N1=4, T=30, T0=20, tau=0.0, shift=0.0, noise=1.0):
    """Two-way effects plus two latent factors; treated loadings shifted by ``shift``."""
    N = N0 + N1
    u = rng.normal(0, 1, (N, 2))
    u[N0:] += shift
    v = rng.normal(0, 1, (2, T)).cumsum(axis=1)
    Y = (50 + rng.normal(0, 5, (N, 1)) + rng.normal(0, 1, (1, T)).cumsum(axis=1) + u @ v
         + rng.normal(0, noise, (N, T)))
    Y[N0:, T0:] += tau
    return Y


def test_planted_effect_is_recovered_within_its_interval():
    rng = np.random.default_rng(105)
    Y = _factor_panel(rng, N0=30, N1=4, T=24, T0=16, tau=3.0, shift=0.5)
    f = S.sdid(Y, 4, 16)
    v = S.sdid_variance(f, "placebo", replications=50, seed=1)
    lo, hi = v.ci(0.05)
    assert lo < 3.0 < hi and hi - lo < 4.0
    lo_t, hi_t = v.effects_ci(0.05)
    assert ((lo_t < 3.0) & (3.0 < hi_t)).mean() >= 0.75
    jk = S.sdid_variance(f, "jackknife")
    assert jk.ci()[0] < 3.0 < jk.ci()[1]
    assert v.p() < 0.05


@pytest.mark.slow
def test_planted_effect_coverage_and_did_bias_over_panels():
    """Six factor-model panels whose treated units load more on the factors: the SDID
    placebo interval covers the planted 3.0 in at least 5, and SDID's mean absolute error
    is under half DID's (DID ignores the factors)."""
    cover, err_sdid, err_did = [], [], []
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)   # panels 100..105, not chosen
        Y = _factor_panel(rng, N0=30, N1=4, T=24, T0=16, tau=3.0, shift=0.5)
        f = S.sdid(Y, 4, 16)
        lo, hi = S.sdid_variance(f, "placebo", replications=40, seed=seed).ci()
        cover.append(lo < 3.0 < hi)
        err_sdid.append(abs(f.estimate - 3.0))
        err_did.append(abs(S.sdid(Y, 4, 16, estimator="did").estimate - 3.0))
    assert sum(cover) >= 5
    assert np.mean(err_sdid) < 0.5 * np.mean(err_did)


def test_placebo_test_has_size_near_nominal_under_the_null():
    """40 null panels (treated drawn like the controls): |t| > 1.96 at most 5 times (the
    binomial tail beyond 5 is 1.4% at 5%), and the t statistics have SD near 1. The solver
    runs 500 iterations here (the size of the placebo test does not hang on the last
    digits of the weights) to keep the test short."""
    rng = np.random.default_rng(7)
    t = []
    for s in range(40):
        Y = _factor_panel(rng, N0=20, N1=2, T=12, T0=8)
        f = S.sdid(Y, 2, 8, max_iter=500)
        t.append(f.estimate / S.sdid_variance(f, "placebo", replications=40, seed=s).se)
    t = np.array(t)
    assert (np.abs(t) > 1.959963984540054).sum() <= 5
    assert 0.75 <= t.std() <= 1.3


# ------------------------------------------------------------------ per-unit synthetic controls
def _convex_panel(seed=3, N0=30, n1=3, T=40, T0=30, effects=(10.0, -2.0, 4.0), noise=0.05):
    """Controls from two latent random-walk factors plus their own noise; each treated unit
    a convex combination of 3 controls plus a little noise, with its planted effect."""
    rng = np.random.default_rng(seed)
    X = (20 + rng.normal(0, 3, (N0, 1)) + rng.normal(0, 1, (N0, 2)) @ rng.normal(0, 1, (2, T)).cumsum(axis=1)
         + rng.normal(0, 0.3, (N0, T)))
    W = np.zeros((n1, N0))
    for k in range(n1):
        W[k, rng.choice(N0, 3, replace=False)] = rng.dirichlet(np.ones(3))
    Yt = W @ X + rng.normal(0, noise, (n1, T))
    Yt[:, T0:] += np.asarray(effects)[:, None]
    return np.r_[X, Yt], W


def test_per_unit_sc_recovers_each_units_donors_and_the_system_total():
    Y, W = _convex_panel()
    r = S.per_unit_sc(Y, 3, 30, combine="sum", replications=40, seed=0)
    assert r.weights.shape == (3, 30)
    np.testing.assert_allclose(r.weights.sum(axis=1), 1.0, atol=1e-12)
    assert min(r.weights[k][W[k] > 0].sum() for k in range(3)) > 0.8   # mass on the true donors
    assert (r.pre_rmspe < 0.1).all()
    np.testing.assert_allclose(r.gaps[:, 30:].mean(axis=1), [10.0, -2.0, 4.0], atol=0.1)
    assert r.estimate == pytest.approx(12.0, abs=0.2)
    np.testing.assert_allclose(r.system_gap, r.gaps.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(r.synthetic, r.weights @ Y[:30], rtol=1e-13)
    assert r.p == pytest.approx(1 / 41)                  # larger than every placebo
    assert r.replicates.shape == (40,) and r.effects_replicates.shape == (40, 10)
    np.testing.assert_allclose(r.effects_replicates.mean(axis=1), r.replicates, atol=1e-12)
    assert r.se == pytest.approx(r.replicates.std(), rel=1e-12)
    m = S.per_unit_sc(Y, 3, 30, combine="mean", replications=0)
    assert m.estimate == pytest.approx(r.estimate / 3, rel=1e-12)
    assert np.isnan(m.se) and np.isnan(m.p) and m.seed is None
    w = S.per_unit_sc(Y, 3, 30, combine=[0.5, 0.3, 0.2], replications=0)
    assert w.combine == "weights" and w.estimate == pytest.approx(0.5 * 10 - 0.3 * 2 + 0.2 * 4, abs=0.05)
    np.testing.assert_allclose(w.system_gap, [0.5, 0.3, 0.2] @ r.gaps, rtol=1e-12)


def test_per_unit_sc_of_one_unit_is_the_papers_sc(fits, prop99):
    Y, _ = prop99
    r = S.per_unit_sc(Y, 1, T0, replications=0)
    np.testing.assert_allclose(r.weights[0], fits["sc"].omega, atol=1e-12)
    assert r.estimate == pytest.approx(fits["sc"].estimate, abs=1e-10)


def test_per_unit_sc_null_effect_is_not_flagged():
    Y, _ = _convex_panel(effects=(0.0, 0.0, 0.0), noise=0.5)
    r = S.per_unit_sc(Y, 3, 30, replications=40, seed=1)
    assert r.p > 0.1
    assert r.ci()[0] < 0 < r.ci()[1]


def test_per_unit_sc_placebo_needs_more_controls_than_treated():
    rng = np.random.default_rng(0)
    with pytest.raises(ModelError, match="per_unit_sc placebo: 3 control unit\\(s\\) found for 3 "
                                         "treated"):
        S.per_unit_sc(rng.normal(size=(6, 8)), 3, 5)
    with pytest.raises(ParameterError, match="combine must be 'sum', 'mean' or a sequence of "
                                             "weights, got 'max'"):
        S.per_unit_sc(rng.normal(size=(6, 8)), 3, 5, combine="max")
    with pytest.raises(ParameterError, match=r"combine weights must be 3 non-negative numbers, "
                                             r"not all 0, got \[1.0, -1.0, 0.0\]"):
        S.per_unit_sc(rng.normal(size=(8, 8)), 3, 5, combine=[1.0, -1.0, 0.0], replications=0)


def test_noise_level_needs_two_first_differences():
    Y = np.arange(6.0).reshape(2, 3)
    with pytest.raises(ModelError, match=r"noise level: 1 pre-period first difference found \(1 "
                                         r"control x 2 pre-periods\)"):
        S.sdid(Y, 1, 2)
    assert S.sdid(Y, 1, 2, noise=1.0).estimate == pytest.approx(0.0, abs=1e-12)
