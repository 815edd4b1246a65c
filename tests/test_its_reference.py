"""Stata `itsa` / R `sandwich::NeweyWest` conventions on a public dataset with published results.

Data: California cigarette sales 1970-2000 (Abadie, Diamond & Hainmueller 2010; the
`cigsales` example of Linden 2015), stored in tests/reference/cigsales_california.csv.
See tests/reference/README.md for where every number comes from.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evallib

REF = Path(__file__).resolve().parent / "reference"


@pytest.fixture(scope="module")
def california():
    c = pd.read_csv(REF / "cigsales_california.csv")
    df = pd.DataFrame({"period": c["year"].astype(str), "org_code": "CA", "metric": "cigsale",
                       "value": c["cigsale"]})
    return evallib.analyse({"data": "cigsales.csv", "metric": "cigsale", "units": ["CA"], "model": "ols-hac",
                            "hac_lags": 1, "seasonality": "none", "horizons": [0],
                            "interruptions": [{"name": "prop99", "date": "1989"}]}, data=df)


def test_itsa_published_coefficients_reproduced(california):
    """Linden's `itsa cigsale, single trperiod(1989) lag(1) posttrend` (published values)."""
    c = california.coefficients.set_index("term")["estimate"]
    assert round(c["intercept"], 4) == 132.2258
    assert round(c["pre_trend"], 6) == -1.779474
    assert round(c["level_change[prop99]"], 4) == -20.0581
    assert round(c["post_trend[prop99]"], 6) == -3.274126


def test_ols_standard_errors_match_published_r_lm(california):
    X, y = california.fit_data["X"], california.fit_data["y"]
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    u = y - X @ b
    se = np.sqrt(np.diag((u @ u) / (31 - 4) * np.linalg.inv(X.T @ X)))
    np.testing.assert_allclose(np.round(se, 4), [2.2866, 0.2170, 3.7471, 0.4846])


def test_newey_west_lag1_matches_independent_sandwich_and_stored_reference(california):
    """R-convention SEs (NeweyWest(lag=1, adjust=TRUE, prewhite=FALSE) + coeftest) to 1e-4."""
    ref = pd.read_csv(REF / "cigsales_newey_lag1.csv").set_index("term")
    X, y = california.fit_data["X"], california.fit_data["y"]
    n, k = X.shape
    b = np.linalg.solve(X.T @ X, X.T @ y)
    u = y - X @ b
    meat = sum(u[t] ** 2 * np.outer(X[t], X[t]) for t in range(n))
    for t in range(1, n):
        g = 0.5 * u[t] * u[t - 1] * np.outer(X[t], X[t - 1])  # Bartlett weight 1 - 1/2
        meat = meat + g + g.T
    bread = np.linalg.inv(X.T @ X)
    se_hand = np.sqrt(np.diag(n / (n - k) * bread @ meat @ bread))
    coef = california.coefficients.set_index("term")
    terms = ["intercept", "pre_trend", "level_change[prop99]", "slope_change[prop99]"]
    np.testing.assert_allclose(coef.loc[terms, "se"], se_hand, atol=1e-10)
    np.testing.assert_allclose(coef.loc[terms, "se"], ref.loc[terms, "se"], atol=1e-4)
    p_hand = 2 * stats.t.sf(np.abs(b / se_hand), n - k)
    np.testing.assert_allclose(coef.loc[terms, "p"], p_hand, rtol=1e-8)
    np.testing.assert_allclose(coef.loc[terms, "p"], ref.loc[terms, "p"], atol=1e-4)
    assert california.diagnostics()["hac_lags"] == 1 and california.fit.df_resid == 27


def test_post_trend_se_is_lincom_of_pre_trend_and_slope_change(california):
    f = california.fit
    i, j = california.columns.index("pre_trend"), california.columns.index("slope_change[prop99]")
    se = np.sqrt(f.cov[i, i] + f.cov[j, j] + 2 * f.cov[i, j])
    row = california.coefficients.set_index("term").loc["post_trend[prop99]"]
    assert row["se"] == pytest.approx(se, rel=1e-12)


def test_counterfactual_in_1989_is_published_98_416(california):
    cf = california.counterfactual().set_index("period")
    assert round(cf.loc["1989", "counterfactual"], 3) == 98.416
