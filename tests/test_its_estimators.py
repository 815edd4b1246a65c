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
    """docs/contracts.md §4: NeweyWest(adjust=TRUE, prewhite=FALSE); auto lag floor(4*(84/100)^(2/9)) = 3."""
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


# --------------------------------------------------------------------------- evallib.stats.prais
def loop_panel_prais(X, y, unit, tol=1e-8, max_iter=100):
    """Panel Prais–Winsten written plainly: per-unit loops, explicit transform, lstsq."""
    n, k = X.shape
    units = list(dict.fromkeys(unit))
    rows = {u: [i for i in range(n) if unit[i] == u] for u in units}

    def transform(r):
        Xs, ys = np.zeros_like(X), np.zeros_like(y)
        for u in units:
            idx = rows[u]
            Xs[idx[0]], ys[idx[0]] = np.sqrt(1 - r * r) * X[idx[0]], np.sqrt(1 - r * r) * y[idx[0]]
            for a, b in zip(idx[:-1], idx[1:]):
                Xs[b], ys[b] = X[b] - r * X[a], y[b] - r * y[a]
        return Xs, ys

    b = np.linalg.lstsq(X, y, rcond=None)[0]
    rho = 0.0
    for _ in range(max_iter):
        e = y - X @ b
        num = sum(e[b_] * e[a] for u in units for a, b_ in zip(rows[u][:-1], rows[u][1:]))
        den = sum(e[a] ** 2 for u in units for a in rows[u][:-1])
        r_new = num / den
        b = np.linalg.lstsq(*transform(r_new), rcond=None)[0]
        if abs(r_new - rho) < tol:
            rho = r_new
            break
        rho = r_new
    Xs, ys = transform(rho)
    b = np.linalg.lstsq(Xs, ys, rcond=None)[0]
    u = ys - Xs @ b
    return b, (u @ u) / (n - k) * np.linalg.inv(Xs.T @ Xs), rho, u


def panel_data(seed=7):
    """Three units of 40 months, AR(1) errors with rho 0.5, unit intercepts and a common ITS."""
    X1, _ = its_data(n=40)
    rng = np.random.default_rng(seed)
    unit = np.repeat(["A", "B", "C"], 40)
    X = np.column_stack([np.vstack([X1] * 3), unit == "B", unit == "C"]).astype(float)
    e = np.zeros(120)
    for i in range(120):
        e[i] = (0.5 * e[i - 1] if i % 40 else 0.0) + rng.normal()      # each unit starts afresh
    return X, X @ [10.0, 0.2, -3.0, 0.1, 2.0, -1.0] + e, unit


def test_panel_prais_winsten_equals_a_plain_loop_over_units():
    from evallib.stats.prais import prais_winsten

    X, y, unit = panel_data()
    f = prais_winsten(X, y, groups=unit)
    b, cov, rho, u = loop_panel_prais(X, y, list(unit))
    np.testing.assert_allclose(f.params, b, rtol=1e-9)
    np.testing.assert_allclose(f.cov, cov, rtol=1e-8, atol=1e-12 * np.abs(cov).max())
    np.testing.assert_allclose(f.resid, u, atol=1e-9)
    assert f.rho == pytest.approx(rho, abs=1e-10) and 0.3 < f.rho < 0.7 and f.converged
    assert f.df_resid == 120 - 6
    # the unit boundaries matter: ignoring them (one series) gives another fit
    assert abs(prais_winsten(X, y).params[2] - f.params[2]) > 1e-6


def test_panel_prais_winsten_does_not_need_contiguous_units():
    from evallib.stats.prais import prais_winsten

    X, y, unit = panel_data()
    order = np.lexsort((unit, np.tile(np.arange(40), 3)))          # period-major: A1 B1 C1 A2 ...
    f = prais_winsten(X, y, groups=unit)
    g = prais_winsten(X[order], y[order], groups=unit[order])
    np.testing.assert_allclose(g.params, f.params, rtol=1e-9)
    np.testing.assert_allclose(g.resid, f.resid[order], atol=1e-9)


def test_prais_winsten_columns_are_fitted_separately_each_with_its_own_rho():
    from evallib.stats.prais import prais_winsten

    X, y, unit = panel_data()
    Y = np.column_stack([y, y[::-1], np.sin(np.arange(120.0)) + X @ np.ones(6)])
    many = prais_winsten(X, Y, groups=unit)
    assert many.params.shape == (3, 6) and many.cov.shape == (3, 6, 6) and many.resid.shape == (120, 3)
    for j in range(3):
        one = prais_winsten(X, Y[:, j], groups=unit)
        np.testing.assert_allclose(many.params[j], one.params, rtol=1e-9)
        np.testing.assert_allclose(many.se[j], one.se, rtol=1e-9)
        assert many.rho[j] == pytest.approx(one.rho, abs=1e-10)
    assert len({round(float(r), 6) for r in many.rho}) == 3


def test_prais_winsten_one_group_is_the_single_series_fit():
    from evallib.stats.prais import prais_winsten

    X, y = its_data(rho=0.6)
    f = E.fit("prais-winsten", X, y)
    g = prais_winsten(X, y, groups=np.zeros(len(y)))
    np.testing.assert_allclose(g.params, f.params, rtol=1e-10)
    np.testing.assert_allclose(g.cov, f.cov, rtol=1e-10)
    assert g.rho == pytest.approx(f.extra["rho"], abs=1e-12) and g.iterations == f.extra["iterations"]


def test_prais_winsten_groups_of_the_wrong_length_are_refused():
    from evallib.stats.prais import prais_winsten

    X, y = its_data()
    with pytest.raises(ValueError, match=r"groups has shape \(59,\); expected one label per row \(60,\)"):
        prais_winsten(X, y, groups=np.zeros(59))


# --------------------------------------------------------------------------- evallib.stats.diagnostics
def diag_series():
    """OLS residuals of ITS designs with white, positively and negatively correlated errors."""
    out = []
    for rho, seed in [(0.0, 1), (0.6, 2), (-0.4, 3)]:
        X, y = its_data(n=72, rho=rho, seed=seed)
        out.append((X, y - X @ np.linalg.lstsq(X, y, rcond=None)[0]))
    return out


@pytest.mark.parametrize("case", [0, 1, 2])
def test_statsmodels_diagnostics_equal_the_hand_written_ones(case):
    from evallib.its import results as R
    from evallib.stats import diagnostics as D

    X, e = diag_series()[case]
    assert D.durbin_watson(e) == pytest.approx(float(np.sum(np.diff(e) ** 2) / np.sum(e ** 2)), rel=1e-12)
    np.testing.assert_allclose(D.acf(e, 12), R.acf(e, 12), rtol=1e-12, atol=1e-15)
    lb, ref = D.ljung_box(e, 12), R.ljung_box(e, 12)
    assert [r["lag"] for r in lb] == list(range(1, 13))
    np.testing.assert_allclose([r["q"] for r in lb], [r["q"] for r in ref], rtol=1e-12)
    np.testing.assert_allclose([r["p"] for r in lb], [r["p"] for r in ref], rtol=1e-10)
    for lags in (1, 4, 12):
        bg, rbg = D.breusch_godfrey(X, e, lags), R.breusch_godfrey(X, e, lags)
        assert bg["lags"] == lags
        assert bg["lm"] == pytest.approx(rbg["lm"], rel=1e-10) and bg["p"] == pytest.approx(rbg["p"], rel=1e-9)


def test_diagnostics_detect_planted_autocorrelation():
    from evallib.stats import diagnostics as D

    (Xw, white), (X, pos), (Xn, neg) = diag_series()
    assert D.durbin_watson(pos) < 1.2 < 1.8 < D.durbin_watson(white) < 2.2 < 2.8 < D.durbin_watson(neg)
    assert D.ljung_box(pos, 6)[0]["p"] < 1e-3 and D.breusch_godfrey(X, pos, 1)["p"] < 1e-3
    assert D.ljung_box(neg, 6)[0]["p"] < 1e-3 and D.breusch_godfrey(Xn, neg, 1)["p"] < 1e-3
    assert D.ljung_box(white, 6)[-1]["p"] > 0.3 and D.breusch_godfrey(Xw, white, 1)["p"] > 0.3
    assert D.acf(pos, 1)[0] > 0.4 and D.acf(neg, 1)[0] < -0.4


def test_diagnostics_of_constant_residuals_match_the_hand_written_conventions():
    from evallib.its import results as R
    from evallib.stats import diagnostics as D

    assert D.durbin_watson(np.zeros(10)) is None
    assert list(D.acf(np.full(10, 2.0), 3)) == [0.0, 0.0, 0.0] == list(R.acf(np.full(10, 2.0), 3))
    assert D.ljung_box(np.zeros(10), 2) == [{"lag": 1, "q": 0.0, "p": 1.0}, {"lag": 2, "q": 0.0, "p": 1.0}]


# R 4.2.2, sandwich 3.0-2 (Debian r-cran-sandwich), on its_data() written out as y,t,level,slope:
#   fit <- lm(y ~ t + level + slope, data = d)
#   sqrt(diag(NeweyWest(fit, lag = L, adjust = TRUE, prewhite = FALSE)))   # printed with %.6f
R_NEWEY_WEST_SE = {
    0: [0.229482, 0.019811, 0.597370, 0.029401],
    1: [0.231037, 0.022495, 0.663591, 0.033445],
    3: [0.199584, 0.019588, 0.625299, 0.031940],
    7: [0.141275, 0.011792, 0.561708, 0.028425],
}


@pytest.mark.parametrize("L", sorted(R_NEWEY_WEST_SE))
def test_ols_hac_equals_r_sandwich_neweywest_and_statsmodels_use_correction_is_the_n_over_n_minus_k(L):
    import statsmodels.api as sm

    X, y = its_data()
    f = E.fit("ols-hac", X, y, hac_lags=L)
    np.testing.assert_allclose(f.se, R_NEWEY_WEST_SE[L], atol=6e-7)
    np.testing.assert_allclose(E.ols_hac_batch(X, y[:, None], L)[1][0], f.cov, rtol=1e-10)
    # statsmodels' use_correction=True is already the n/(n-k) factor: without it the SEs are
    # sqrt((n-k)/n) times R's, and multiplying the corrected ones by n/(n-k) again would be wrong
    plain = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": L, "use_correction": False})
    np.testing.assert_allclose(plain.bse, f.se * np.sqrt(56 / 60), rtol=1e-10)
