"""Estimators against independent hand-written implementations and statsmodels."""
from __future__ import annotations

import numpy as np
import pytest

from evallib.exceptions import ModelError
from evallib.its import estimators as E


def its_data(n=60, rho=0.5, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=float)
    X = np.column_stack([np.ones(n), t, (t >= n // 2), np.where(t >= n // 2, t - n // 2, 0.0)])
    e = np.zeros(n)
    for i in range(n):
        e[i] = (rho * e[i - 1] if i else 0.0) + rng.normal()
    return X, X @ [10.0, 0.2, -3.0, 0.1] + e


def loop_newey_west(X, u, L):
    """Textbook Newey–West with Bartlett weights and n/(n-k), written as plain loops."""
    n, k = X.shape
    S = np.zeros((k, k))
    for t in range(n):
        S += u[t] ** 2 * np.outer(X[t], X[t])
    for lag in range(1, L + 1):
        w = 1 - lag / (L + 1)
        for t in range(lag, n):
            G = u[t] * u[t - lag] * np.outer(X[t], X[t - lag])
            S += w * (G + G.T)
    B = np.linalg.inv(X.T @ X)
    return n / (n - k) * B @ S @ B


@pytest.mark.parametrize("L", [0, 1, 3, 7])
def test_ols_hac_covariance_equals_loop_sandwich(L):
    X, y = its_data()
    f = E.fit("ols-hac", X, y, hac_lags=L)
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(f.params, b, rtol=1e-12)
    np.testing.assert_allclose(f.cov, loop_newey_west(X, y - X @ b, L), rtol=1e-10)
    assert f.hac_lags_used == L and f.df_resid == 56 and f.dist == "t"


def test_ols_hac_equals_statsmodels_hac_with_use_correction():
    import statsmodels.api as sm

    X, y = its_data()
    f = E.fit("ols-hac", X, y, hac_lags=4)
    r = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": True}, use_t=True)
    np.testing.assert_allclose(f.se, r.bse, rtol=1e-10)
    np.testing.assert_allclose(f.pvalue(f.params / f.se), r.pvalues, rtol=1e-8)


@pytest.mark.parametrize("n,lag", [(10, 2), (27, 2), (28, 3), (59, 3), (99, 3), (100, 4), (108, 4), (400, 5)])
def test_auto_hac_lag_rule_newey_west_1994(n, lag):
    assert E.auto_hac_lags(n) == lag


def test_ols_hac_batch_matches_single_fits():
    X, _ = its_data()
    rng = np.random.default_rng(3)
    Y = X @ rng.normal(size=(4, 5)) + rng.normal(size=(60, 5))
    B, cov, _ = E.ols_hac_batch(X, Y, 3)
    for j in range(5):
        f = E.fit("ols-hac", X, Y[:, j], hac_lags=3)
        np.testing.assert_allclose(B[:, j], f.params, rtol=1e-10)
        np.testing.assert_allclose(cov[j], f.cov, rtol=1e-10)


def test_prais_winsten_keeps_first_observation_and_converges_to_fixed_point():
    X, y = its_data(rho=0.6)
    f = E.fit("prais-winsten", X, y)
    rho = f.extra["rho"]
    # fixed point: rho is the AR(1) coefficient of the original-scale residuals at beta
    e = y - X @ f.params
    assert rho == pytest.approx(e[1:] @ e[:-1] / (e[:-1] @ e[:-1]), abs=1e-7)
    # beta is GLS with the full Prais–Winsten transform (first row scaled, not dropped)
    c = np.sqrt(1 - rho ** 2)
    Xs = np.vstack([c * X[:1], X[1:] - rho * X[:-1]])
    ys = np.concatenate([c * y[:1], y[1:] - rho * y[:-1]])
    np.testing.assert_allclose(f.params, np.linalg.lstsq(Xs, ys, rcond=None)[0], rtol=1e-8)
    assert len(f.resid) == len(y)  # first observation kept
    u = ys - Xs @ f.params
    np.testing.assert_allclose(f.cov, (u @ u) / (60 - 4) * np.linalg.inv(Xs.T @ Xs), rtol=1e-8)


def test_prais_winsten_differs_from_cochrane_orcutt():
    import statsmodels.api as sm

    X, y = its_data(rho=0.6)
    f = E.fit("prais-winsten", X, y)
    co = sm.GLSAR(y, X, rho=1).iterative_fit(maxiter=100)  # drops the first observation
    assert abs(f.params[2] - co.params[2]) > 1e-4


def test_arima_regression_recovers_ar_coefficient_and_reports_normal_intervals():
    rng = np.random.default_rng(5)
    n = 200
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = 0.5 * e[i - 1] + rng.normal()
    X = np.column_stack([np.ones(n), np.arange(n, dtype=float)])
    f = E.fit("arima", X, X @ [10.0, 0.2] + e)
    assert f.dist == "normal" and f.converged and f.warnings == []
    assert f.extra["ar.L1"] == pytest.approx(0.5, abs=0.15)
    assert f.params[1] == pytest.approx(0.2, abs=0.02)


def test_arima_nonconvergence_is_a_warning_not_an_exception(monkeypatch):
    from statsmodels.tsa.statespace import sarimax

    real_fit = sarimax.SARIMAX.fit

    def one_iteration(self, *args, **kwargs):
        kwargs["maxiter"] = 1
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(sarimax.SARIMAX, "fit", one_iteration)
    X, y = its_data()
    f = E.fit("arima", X, y)
    assert not f.converged
    assert f.warnings[0] == ("arima(1,0,0): the likelihood optimiser did not converge; treat its estimates with "
                             "caution")


def test_quasipoisson_dispersion_is_pearson_chi2_over_df_and_scales_poisson_se():
    rng = np.random.default_rng(2)
    n = 48
    X = np.column_stack([np.ones(n), np.arange(n) / 10])
    expo = rng.uniform(1e4, 2e4, n)
    y = rng.negative_binomial(20, 20 / (20 + expo * np.exp(-6 + 0.1 * X[:, 1]))).astype(float)
    p = E.fit("poisson", X, y, denominator=expo)
    q = E.fit("quasipoisson", X, y, denominator=expo)
    mu = expo * np.exp(X @ q.params)
    disp = np.sum((y - mu) ** 2 / mu) / (n - 2)
    assert q.dispersion == pytest.approx(disp, rel=1e-8)
    np.testing.assert_allclose(q.se, p.se * np.sqrt(disp), rtol=1e-8)
    assert p.dispersion == 1.0 and q.link == "log" and q.dist == "normal"


def test_quasibinomial_dispersion_uses_trials_as_r_does():
    rng = np.random.default_rng(4)
    n = 60
    X = np.column_stack([np.ones(n), np.arange(n) / 10])
    den = rng.integers(200, 400, n).astype(float)
    pr = 1 / (1 + np.exp(-(0.5 + 0.1 * X[:, 1] + rng.normal(0, 0.1, n))))
    num = rng.binomial(den.astype(int), pr).astype(float)
    b = E.fit("binomial", X, numerator=num, denominator=den)
    q = E.fit("quasibinomial", X, numerator=num, denominator=den)
    m = 1 / (1 + np.exp(-X @ q.params))
    disp = np.sum((num - den * m) ** 2 / (den * m * (1 - m))) / (n - 2)
    assert q.dispersion == pytest.approx(disp, rel=1e-8)
    assert disp > 1.2  # overdispersed by construction
    np.testing.assert_allclose(q.se, b.se * np.sqrt(disp), rtol=1e-8)


def test_perfect_collinearity_is_a_model_error_naming_the_column():
    X, y = its_data()
    X2 = np.column_stack([X, X[:, 2]])
    with pytest.raises(ModelError, match=r"the design is perfectly collinear: dup is a linear combination"):
        E.fit("ols-hac", X2, y, columns=["a", "b", "c", "d", "dup"])


def test_missing_outcome_is_a_model_error():
    X, y = its_data()
    y[3] = np.nan
    with pytest.raises(ModelError, match="y has missing or infinite values: drop those rows before fitting"):
        E.fit("ols-hac", X, y)


def test_binomial_without_denominator_is_a_model_error():
    X, y = its_data()
    with pytest.raises(ModelError, match="model quasibinomial needs numerator and denominator columns"):
        E.fit("quasibinomial", X, y)


def r_neweywest_default(X, u):
    """R sandwich::NeweyWest(fit, adjust=TRUE) with lag=NULL, prewhite=TRUE, re-written
    from the R source as plain loops (ar.ols VAR(1) without intercept, bwNeweyWest)."""
    n, k = X.shape
    V = [X[t] * u[t] for t in range(n)]
    # VAR(1) by least squares: V_t = A V_{t-1}
    Z = np.array(V[:-1])
    Yv = np.array(V[1:])
    A = np.linalg.solve(Z.T @ Z, Z.T @ Yv).T
    e = [V[t] - A @ V[t - 1] for t in range(1, n)]
    m = n - 1
    w = np.array([0.0 if np.all(X[:, j] == 1) else 1.0 for j in range(k)])
    h = [float(ei @ w) for ei in e]
    ml = int(np.floor(3 * (n / 100) ** (2 / 9)))
    sigma = [sum(h[t] * h[t + j] for t in range(m - j)) / m for j in range(ml + 1)]
    s0 = sigma[0] + 2 * sum(sigma[1:])
    s1 = 2 * sum(j * sigma[j] for j in range(1, ml + 1))
    lag = int(np.floor(1.1447 * ((s1 / s0) ** 2) ** (1 / 3) * n ** (1 / 3)))
    weights = [1 - i / (lag + 1) for i in range(lag + 1)]
    utu = 0.5 * weights[0] * sum(np.outer(x, x) for x in e)
    for i in range(1, lag + 1):
        utu = utu + weights[i] * sum(np.outer(e[t], e[t + i]) for t in range(m - i))
    utu = (utu + utu.T) * n / (n - k)
    D = np.linalg.inv(np.eye(k) - A)
    meat = D @ utu @ D.T / n
    bread = n * np.linalg.inv(X.T @ X)
    return bread @ meat @ bread / n, lag


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ols_hac_prewhite_is_r_neweywest_default_with_adjust(seed):
    X, y = its_data(n=84, rho=0.4, seed=seed)
    f = E.fit("ols-hac", X, y, hac_lags="prewhite")
    cov, lag = r_neweywest_default(X, y - X @ f.params)
    assert f.hac_lags_used == lag and f.extra["hac_prewhite"] is True
    np.testing.assert_allclose(f.cov, cov, rtol=1e-9)


@pytest.mark.parametrize("seed", [1, 2])
def test_ols_hac_auto_is_r_neweywest_without_prewhitening_at_rule_of_thumb_lag(seed):
    """DESIGN.md §4: NeweyWest(adjust=TRUE, prewhite=FALSE); auto lag floor(4*(84/100)^(2/9)) = 3."""
    X, y = its_data(n=84, rho=0.4, seed=seed)
    f = E.fit("ols-hac", X, y, hac_lags="auto")
    g = E.fit("ols-hac", X, y, hac_lags=3)
    assert f.hac_lags_used == 3 and f.extra["hac_prewhite"] is False
    np.testing.assert_allclose(f.cov, g.cov, rtol=1e-12)


def test_ols_hac_prewhite_with_too_few_rows_to_prewhiten_falls_back_to_rule_of_thumb_with_a_warning():
    rng = np.random.default_rng(0)
    n = 20
    X = np.column_stack([np.ones(n), np.arange(n)] + [rng.normal(size=n) for _ in range(8)])
    f = E.fit("ols-hac", X, rng.normal(size=n), hac_lags="prewhite")
    assert f.hac_lags_used == 2 and f.extra["hac_prewhite"] is False
    assert f.warnings == ["hac_lags prewhite: 20 observations are too few to prewhiten 10 scores (a VAR(1) needs at "
                          "least 21); used Newey-West with the rule-of-thumb lag 2 instead"]
