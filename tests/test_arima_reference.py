"""`model: arima` against stored R output: regression with ARMA errors, method = "ML".

R 4.2.2 ``arima(y, order = c(p, 0, q), xreg = cbind(time, level, slope), method = "ML")``
on a 96-month series with an interruption at month 61, orders (1,0,0), (2,0,0) and
(1,0,1). The R script, the data and R's output are in tests/reference (arima_r.R,
arima_r_data.csv, arima_r.json; see tests/reference/README.md). R is not needed here.

R's standard errors are the inverse Hessian of the log-likelihood; statsmodels' default
(outer product of gradients) made the level-change SE 56% too wide on this series.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evallib
from evallib.its import estimators as E

REF = Path(__file__).resolve().parent / "reference"
R_OUT = json.loads((REF / "arima_r.json").read_text())
FITS = {tuple(f["order"]): f for f in R_OUT["fits"]}
# evallib's design column -> R's coefficient name
TERMS = {"intercept": "intercept", "pre_trend": "time", "level_change[change]": "level",
         "slope_change[change]": "slope"}


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "arima_r_data.csv", dtype={"period": str})


def design(d):
    return np.column_stack([np.ones(len(d)), d["time"], d["level"], d["slope"]]).astype(float)


def test_stored_r_output_is_the_documented_run(data):
    assert R_OUT["r_version"].startswith("R version 4.2.2")
    assert sorted(FITS) == [(1, 0, 0), (1, 0, 1), (2, 0, 0)]
    assert all(f["convergence_code"] == 0 for f in FITS.values())
    assert len(data) == 96 and data["period"].iloc[0] == "2020-01" and data["level"].sum() == 36


@pytest.mark.parametrize("order", [(1, 0, 0), (2, 0, 0), (1, 0, 1)])
def test_arima_estimates_and_standard_errors_match_r_arima_ml(data, order):
    r = FITS[order]
    f = E.fit("arima", design(data), data["y"], arima_order=order, columns=list(TERMS))
    assert f.converged and f.dist == "normal"
    assert not [w for w in f.warnings if "did not converge" in w or "covariance" in w]
    r_coef = np.array([r["coef"][TERMS[t]] for t in TERMS])
    r_se = np.array([r["se"][TERMS[t]] for t in TERMS])
    np.testing.assert_allclose(f.params, r_coef, rtol=1e-3)
    np.testing.assert_allclose(f.se, r_se, rtol=1e-3)
    # the ARMA part: statsmodels ar.L1/ma.L1 are R's ar1/ma1 (same sign convention)
    arma = [k for k in r["coef"] if k.startswith(("ar", "ma"))]
    for name in arma:
        sm_name = f"{name[:2]}.L{name[2:]}"
        assert f.extra[sm_name] == pytest.approx(r["coef"][name], rel=1e-3), name
        assert f.extra[f"se_{sm_name}"] == pytest.approx(r["se"][name], rel=1e-3), name
    assert f.extra["sigma2"] == pytest.approx(r["sigma2"], rel=1e-3)
    assert f.extra["llf"] == pytest.approx(r["loglik"], abs=1e-4)


def test_outer_product_of_gradients_would_not_match_r(data):
    """The old covariance (statsmodels' default) is far from R: the test above can fail."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    r = FITS[(1, 0, 0)]
    res = SARIMAX(data["y"].to_numpy(float), exog=design(data), order=(1, 0, 0), trend="n").fit(
        disp=False, maxiter=500, cov_type="opg")
    assert res.bse[2] / r["se"]["level"] > 1.3


def test_arima_through_analyse_uses_r_time_coding(data):
    """The whole engine (tidy table -> design -> fit) gives R's numbers on the same series."""
    df = pd.DataFrame({"period": data["period"], "org_code": "X", "metric": "m", "value": data["y"]})
    res = evallib.analyse({"data": "arima.csv", "metric": "m", "units": ["X"], "model": "arima",
                           "arima_order": [1, 0, 0], "seasonality": "none", "horizons": [0],
                           "interruptions": [{"name": "change", "date": "2025-01"}]}, data=df)
    c = res.coefficients.set_index("term")
    r = FITS[(1, 0, 0)]
    for term, rname in TERMS.items():
        assert c.loc[term, "estimate"] == pytest.approx(r["coef"][rname], rel=1e-3), term
        assert c.loc[term, "se"] == pytest.approx(r["se"][rname], rel=1e-3), term
    lv = c.loc["level_change[change]"]
    assert lv["ci_upper"] - lv["estimate"] == pytest.approx(1.959964 * r["se"]["level"], rel=1e-3)
