"""Controlled designs (comparative ITS, Linden 2015; difference series, Bottomley 2019).

Reference: Stata ``itsa`` multiple-group on the Proposition 99 data, published values in
``tests/reference/controlled_prop99_itsa.json`` (provenance: tests/reference/README-controlled.md).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evallib
from evallib.config import params_from_dict
from evallib.exceptions import DataError, ModelError, ParameterError
from evallib.its import controlled as C

REF = Path(__file__).resolve().parent / "reference"
PROP99 = json.loads((REF / "controlled_prop99_itsa.json").read_text())


# --------------------------------------------------------------------------- fixtures
def _prop99_frame() -> pd.DataFrame:
    wide = pd.read_csv(REF / "controlled_prop99.csv")
    long = wide.melt(id_vars="year", var_name="org_code", value_name="value")
    # Stata stores cigsale as float: compute with the float32 values, as Stata does
    long["value"] = long["value"].astype(np.float32).astype(np.float64)
    long["period"] = long["year"].astype(str)
    long["metric"] = "cigsale"
    return long[["period", "org_code", "metric", "value"]]


@pytest.fixture(scope="module")
def prop99_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prop99") / "cigsales.csv"
    _prop99_frame().to_csv(path, index=False)
    return path


def _prop99_params(path, **extra) -> dict:
    p = {"data": str(path), "metric": "cigsale", "units": ["California"], "comparators": "all_other",
         "design": "controlled", "interruptions": [{"name": "prop99", "date": "1989"}],
         "seasonality": "none", "model": "ols-hac", "hac_lags": 1, "horizons": [0, 5, 11],
         "controlled_method": "stacked"}  # the Stata itsa references are the stacked (Linden) model
    p.update(extra)
    return p


@pytest.fixture(scope="module")
def prop99(prop99_csv):
    return evallib.analyse(_prop99_params(prop99_csv))


def _term(res, group, term):
    c = res.coefficients
    return c[(c["group"] == group) & (c["term"] == term)].iloc[0]


# --------------------------------------------------------------------------- Stata itsa reference
def test_prop99_published_itsa_estimates_reproduced_to_1e_4(prop99):
    for group, terms in PROP99["published"]["terms"].items():
        for term, value in terms.items():
            assert abs(_term(prop99, group, term)["estimate"] - value) < 1e-4, (group, term)


def test_prop99_published_itsa_p_values_reproduced_at_2_decimals(prop99):
    for term, p in PROP99["published"]["p"]["difference"].items():
        assert round(_term(prop99, "difference", term)["p"], 2) == round(p, 2), term


def test_prop99_coefficients_and_panel_newey_west_ses_match_independent_implementation(prop99):
    import statsmodels.api as sm

    ind = PROP99["independent"]
    assert prop99.n_obs == ind["n_obs"] == 1209
    names = list(prop99.columns)
    for name, ref in ind["coefficients"].items():
        j = names.index(name)
        assert prop99.fit.params[j] == pytest.approx(ref["estimate"], abs=1e-6)
        assert prop99.fit.se[j] == pytest.approx(ref["se"], rel=1e-6)
    # and live, by statsmodels' own panel HAC on the stacked rows
    res = C.fit_controlled(params_from_dict(_prop99_params("unused.csv")), _prop99_frame())
    y = res.fit.resid + res.fit.fitted                     # the stacked outcome, treated first
    sm_fit = sm.OLS(y, _stacked_X(res)).fit(cov_type="hac-panel", cov_kwds={
        "groups": np.repeat(np.arange(39), 31), "maxlags": 1, "use_correction": "hac"})
    np.testing.assert_allclose(sm_fit.params, res.fit.params, rtol=1e-10)
    np.testing.assert_allclose(sm_fit.bse, res.fit.se, rtol=1e-10)


def _stacked_X(cf) -> np.ndarray:
    Xs, _, _ = C.stack_design(cf.design, 1 + cf.data.n_comparators,
                              cf.diagnostics.get("shared_interruptions", []))
    return Xs.to_numpy()


def test_prop99_treated_terms_equal_the_single_group_fit(prop99_csv, prop99):
    single = evallib.analyse(_prop99_params(prop99_csv, design="single", comparators="none"))
    for term in ("intercept", "pre_trend", "level_change[prop99]", "slope_change[prop99]", "post_trend[prop99]"):
        assert _term(prop99, "treated", term)["estimate"] == pytest.approx(
            _term(single, "treated", term)["estimate"], abs=1e-8)


def test_prop99_treated_equals_control_plus_difference_with_lincom_se(prop99):
    V = prop99.fit.cov
    cols = list(prop99.columns)
    for term in ("intercept", "pre_trend", "level_change[prop99]", "slope_change[prop99]", "post_trend[prop99]"):
        t, c, d = (_term(prop99, g, term) for g in ("treated", "control", "difference"))
        assert t["estimate"] == pytest.approx(c["estimate"] + d["estimate"], abs=1e-10)
    # post_trend[prop99] of the treated = _t + _z_t + _x_t1989 + _z_x_t1989 (Stata lincom)
    w = np.zeros(len(cols))
    for name in ("pre_trend", "z:pre_trend", "slope_change[prop99]", "z:slope_change[prop99]"):
        w[cols.index(name)] = 1
    assert _term(prop99, "treated", "post_trend[prop99]")["se"] == pytest.approx(np.sqrt(w @ V @ w), rel=1e-12)


def test_prop99_effect_is_the_difference_in_differences(prop99):
    eff = prop99.effects().set_index("horizon")
    d_level = _term(prop99, "difference", "level_change[prop99]")["estimate"]
    d_slope = _term(prop99, "difference", "slope_change[prop99]")["estimate"]
    for h in (0, 5, 11):
        assert eff.loc[h, "absolute"] == pytest.approx(d_level + d_slope * h, abs=1e-9)
    # the counterfactual: California's own pre-trend plus the controls' change at 1989
    cf = prop99.counterfactual().set_index("period")
    t_int = _term(prop99, "treated", "intercept")["estimate"]
    t_pre = _term(prop99, "treated", "pre_trend")["estimate"]
    c_lev = _term(prop99, "control", "level_change[prop99]")["estimate"]
    c_slo = _term(prop99, "control", "slope_change[prop99]")["estimate"]
    assert cf.loc["1995", "counterfactual"] == pytest.approx(t_int + t_pre * 25 + c_lev + c_slo * 6, abs=1e-9)


def test_prop99_difference_method_has_the_stacked_point_estimates(prop99_csv, prop99):
    res = C.analyse_controlled(params_from_dict(_prop99_params(prop99_csv)), _prop99_frame(), method="difference")
    assert res.diagnostics()["controlled_method"] == "difference"
    for g in ("treated", "control", "difference"):
        for term in ("intercept", "pre_trend", "level_change[prop99]", "slope_change[prop99]"):
            assert _term(res, g, term)["estimate"] == pytest.approx(_term(prop99, g, term)["estimate"], abs=1e-8)
    assert res.n_obs == 31


# --------------------------------------------------------------------------- panel Newey–West
def _brute_panel_cov(X, u, pair, L):
    n, k = X.shape
    S = np.zeros((k, k))
    for i in range(n):
        for j in range(n):
            lag = pair(i, j)
            if lag is not None and lag <= L:
                S += (1 - lag / (L + 1)) * u[i] * u[j] * np.outer(X[i], X[j])
    B = np.linalg.inv(X.T @ X)
    return n / (n - k) * B @ S @ B


def test_panel_newey_west_equals_brute_force_within_unit_sum():
    rng = np.random.default_rng(3)
    unit = np.repeat([0, 1, 2], [5, 7, 4])
    X = rng.normal(size=(16, 3))
    u = rng.normal(size=16)
    ref = _brute_panel_cov(X, u, lambda i, j: abs(i - j) if unit[i] == unit[j] else None, 2)
    np.testing.assert_allclose(C.panel_newey_west(X, u, unit, 2), ref, rtol=1e-12)
    # pooling the units into one series would add cross-boundary terms
    assert not np.allclose(C.panel_newey_west(X, u, np.zeros(16), 2), ref)
    # a lag longer than every unit's series adds nothing (statsmodels would raise)
    np.testing.assert_allclose(C.panel_newey_west(X, u, unit, 40), C.panel_newey_west(X, u, unit, 6), rtol=1e-12)


def test_driscoll_kraay_equals_brute_force_over_period_sums_with_a_gap():
    rng = np.random.default_rng(4)
    time = np.tile([0, 1, 2, 5, 6, 7], 3)         # periods 3-4 left out of the fit: lags are calendar periods
    unit = np.repeat([0, 1, 2], 6)
    X = rng.normal(size=(18, 3))
    u = rng.normal(size=18)
    ref = _brute_panel_cov(X, u, lambda i, j: abs(time[i] - time[j]), 3)
    np.testing.assert_allclose(C.panel_newey_west(X, u, unit, 3, time=time, kind="driscoll-kraay"), ref,
                               rtol=1e-12)


def test_prop99_stacked_ses_equal_statsmodels_hac_panel_and_hac_groupsum_at_several_lags():
    import statsmodels.api as sm

    for lags in (0, 1, 3):
        for kind, cov_type, key, labels in (("panel", "hac-panel", "groups", np.repeat(np.arange(39), 31)),
                                            ("driscoll-kraay", "hac-groupsum", "time", np.tile(np.arange(31), 39))):
            res = C.fit_controlled(params_from_dict(_prop99_params("unused.csv", hac_lags=lags,
                                                                   controlled_cov=kind)), _prop99_frame())
            y = res.fit.resid + res.fit.fitted
            sm_fit = sm.OLS(y, _stacked_X(res)).fit(cov_type=cov_type, cov_kwds={
                key: labels, "maxlags": lags, "use_correction": "hac"})
            np.testing.assert_allclose(sm_fit.bse, res.fit.se, rtol=1e-11)


def test_stacked_prais_winsten_is_the_stats_layer_fit_with_groups():
    from evallib.stats.prais import prais_winsten

    res = C.fit_controlled(params_from_dict(_prop99_params("unused.csv", model="prais-winsten")), _prop99_frame())
    y = res.data.values.T.reshape(-1)                      # unit-major, as stacked (no missing rows)
    pw = prais_winsten(_stacked_X(res), y, groups=np.repeat(np.arange(39), 31))
    np.testing.assert_allclose(res.fit.params, pw.params, rtol=1e-12)
    np.testing.assert_allclose(res.fit.se, pw.se, rtol=1e-12)
    # the hand-written panel loop it replaced gave rho 0.9756205723947 (parameters within 4e-10 relative)
    assert res.fit.extra["rho"] == pytest.approx(0.9756205723947, abs=1e-9)


@pytest.mark.parametrize("model", ["quasipoisson", "quasibinomial"])
def test_glm_panel_sandwich_matches_statsmodels_hac_panel(model):
    import statsmodels.api as sm

    rng = np.random.default_rng(11)
    U, T = 6, 40
    unit = np.repeat(np.arange(U), T)
    t = np.tile(np.arange(T), U)
    X = np.column_stack([np.ones(U * T), t / 10, (unit == 0) * 1.0, (t >= 20) * (unit == 0) * 1.0])
    if model == "quasipoisson":
        y = rng.poisson(np.exp(2 + 0.1 * t / 10 + 0.3 * (unit == 0) + rng.normal(0, 0.2, U * T)))
        f = C.fit_stacked(model, X, unit, y=y, lags=2, columns=list("abcd"))
        ref = sm.GLM(y, X, family=sm.families.Poisson())
    else:
        den = rng.integers(50, 100, U * T)
        num = rng.binomial(den, 1 / (1 + np.exp(-(0.5 + 0.2 * X[:, 3] + rng.normal(0, 0.2, U * T)))))
        f = C.fit_stacked(model, X, unit, numerator=num, denominator=den, lags=2, columns=list("abcd"))
        ref = sm.GLM(np.column_stack([num, den - num]), X, family=sm.families.Binomial())
    r = ref.fit(cov_type="hac-panel", cov_kwds={"groups": unit, "maxlags": 2, "use_correction": "hac"})
    np.testing.assert_allclose(f.params, r.params, rtol=1e-7)
    np.testing.assert_allclose(f.se, r.bse, rtol=1e-7)
    assert f.dist == "normal"


def test_negbin_panel_sandwich_treats_alpha_as_fixed_so_statsmodels_ses_are_up_to_half_a_percent_wider():
    import statsmodels.api as sm

    rng = np.random.default_rng(11)
    U, T = 6, 40
    unit = np.repeat(np.arange(U), T)
    t = np.tile(np.arange(T), U)
    X = np.column_stack([np.ones(U * T), t / 10, (unit == 0) * 1.0, (t >= 20) * (unit == 0) * 1.0])
    y = rng.poisson(np.exp(2 + 0.1 * t / 10 + 0.3 * (unit == 0) + rng.normal(0, 0.2, U * T)))
    f = C.fit_stacked("negbin", X, unit, y=y, lags=2, columns=list("abcd"))
    r = sm.NegativeBinomial(y, X, loglike_method="nb2").fit(disp=0, maxiter=500, method="bfgs", cov_type="hac-panel",
                                                            cov_kwds={"groups": unit, "maxlags": 2,
                                                                      "use_correction": "hac"})
    np.testing.assert_allclose(f.params, r.params[:4], rtol=1e-10)
    assert np.max(np.asarray(r.bse[:4]) / f.se) == pytest.approx(1.0051, abs=2e-4)
    # this sandwich: alpha fixed, bread (X'WX)^-1 with W = mu/(1 + alpha mu), n/(n-4)
    alpha = f.extra["alpha"]
    mu = np.exp(X @ f.params)
    bread = np.linalg.inv(X.T @ (X * (mu / (1 + alpha * mu))[:, None]))
    np.testing.assert_allclose(f.cov, C.panel_newey_west(X, (y - mu) / (1 + alpha * mu), unit, 2, bread=bread),
                               rtol=1e-10)


# --------------------------------------------------------------------------- comparators
def test_incomplete_comparator_is_dropped_and_named_in_a_warning(prop99_csv):
    frame = _prop99_frame()
    frame.loc[(frame["org_code"] == "Utah") & (frame["period"] == "1995"), "value"] = np.nan
    res = evallib.analyse(_prop99_params(prop99_csv), frame)
    assert ("1 comparator(s) dropped because their cigsale series is incomplete over the fitted periods "
            "1970 to 2000: Utah") in res.warnings
    d = res.diagnostics()
    assert d["comparators_dropped"] == ["Utah"]
    assert d["n_comparators"] == 37
    assert res.n_obs == 38 * 31


def test_named_comparator_without_rows_is_a_data_error(prop99_csv):
    with pytest.raises(DataError, match=re.escape("comparators ['Atlantis'] have no rows for metric cigsale")):
        evallib.analyse(_prop99_params(prop99_csv, comparators=["Utah", "Atlantis"]), _prop99_frame())


def test_no_complete_comparator_is_a_model_error(prop99_csv):
    frame = _prop99_frame()
    frame.loc[(frame["org_code"] == "Utah") & (frame["period"] == "1995"), "value"] = np.nan
    with pytest.raises(ModelError, match=re.escape(
            "no comparator has a complete cigsale series over 1970 to 2000 (of 1 named)")):
        evallib.analyse(_prop99_params(prop99_csv, comparators=["Utah"]), frame)


def test_arima_is_refused_by_the_stacked_design_with_the_fix(prop99_csv):
    with pytest.raises(ParameterError, match=re.escape(
            "model arima is not available for controlled_method stacked (allowed: ols-hac, prais-winsten, poisson, "
            "quasipoisson, negbin, binomial, quasibinomial); use controlled_method: difference")):
        evallib.analyse(_prop99_params(prop99_csv, model="arima"), _prop99_frame())


def test_unknown_controlled_method_is_a_parameter_error(prop99_csv):
    with pytest.raises(ParameterError, match=re.escape(
            "controlled_method: value 'synthetic' is not allowed (expected stacked | difference)")):
        C.analyse_controlled(params_from_dict(_prop99_params(prop99_csv)), _prop99_frame(), method="synthetic")


def test_results_json_has_the_three_groups_with_the_same_terms(prop99):
    doc = json.loads(prop99.to_json())
    assert doc["design"] == "controlled"
    assert list(doc["groups"]) == ["treated", "control", "difference"]
    terms = ["intercept", "pre_trend", "level_change[prop99]", "slope_change[prop99]", "post_trend[prop99]"]
    for g in doc["groups"].values():
        assert list(g) == terms
    assert doc["diagnostics"]["n_comparators"] == 38
    assert doc["diagnostics"]["hac_lags"] == 1


# --------------------------------------------------------------------------- simulated panels
def _sim_panel(seed: int, *, kind: str = "linear", n_comp: int = 25, treated_units: int = 1,
               effect=(0.0, 0.0)) -> pd.DataFrame:
    """Monthly panel 2016-01..2021-12: a nonlinear common shock from 2020-03 hits every unit;
    the treated units get ``effect`` (level, slope) from 2020-09. Units differ in size."""
    rng = np.random.default_rng(seed)
    months = pd.period_range("2016-01", "2021-12", freq="M")
    n = len(months)
    t = np.arange(n)
    since = np.array([(p - pd.Period("2020-03", "M")).n for p in months])
    since_f = np.array([(p - pd.Period("2020-09", "M")).n for p in months])
    shock = np.where(since >= 0, np.interp(since, [0, 2, 5, 9, 14, 21], [0, -0.35, -0.1, -0.25, 0.05, 0.1]), 0.0)
    codes = [f"T{k}" for k in range(treated_units)] + [f"C{k:02d}" for k in range(n_comp)]
    sizes = np.r_[np.ones(treated_units), rng.lognormal(0, 0.3, n_comp)]
    rows = []
    for i, code in enumerate(codes):
        treated = i < treated_units
        eff = (effect[0] + effect[1] * np.maximum(since_f, 0)) * (since_f >= 0) if treated else 0.0
        e = np.zeros(n)
        for k in range(1, n):
            e[k] = 0.4 * e[k - 1] + rng.normal(0, 0.02)
        log_mu = np.log(1000 * sizes[i]) + 0.002 * t + 0.05 * np.cos(2 * np.pi * t / 12) + shock + e
        if kind == "count":
            value = rng.poisson(np.exp(log_mu + eff)).astype(float)
        else:
            value = np.exp(log_mu) + eff * sizes[i]
        rows.append(pd.DataFrame({"period": [str(p) for p in months], "org_code": code, "metric": "m",
                                  "value": value}))
    return pd.concat(rows, ignore_index=True)


def _sim_params(**extra) -> dict:
    p = {"data": "unused.csv", "metric": "m", "units": ["T0"], "comparators": "all_other", "design": "controlled",
         "interruptions": [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}],
         "horizons": [0, 12], "controlled_method": "stacked"}
    p.update(extra)
    return p


def test_shared_covid_has_no_effect_rows_and_a_zero_difference():
    frame = _sim_panel(1)
    res = evallib.analyse(_sim_params(model="ols-hac"), frame)
    d = res.diagnostics()
    assert d["shared_interruptions"] == ["covid"]
    assert set(res.effects()["interruption"]) == {"collaborative"}
    diff = res.coefficients.query("group == 'difference'").set_index("term")
    assert diff.loc["level_change[covid]", "estimate"] == 0 and diff.loc["slope_change[covid]", "se"] == 0
    assert "z:level_change[covid]" not in res.columns and "z:level_change[collaborative]" in res.columns


def test_full_linden_interaction_when_shared_interruptions_is_none():
    frame = _sim_panel(1)
    res = C.analyse_controlled(params_from_dict(_sim_params(model="ols-hac")), frame, shared="none")
    assert "z:slope_change[covid]" in res.columns
    assert set(res.effects()["interruption"]) == {"covid", "collaborative"}


def test_stacked_quasipoisson_recovers_a_planted_rate_ratio_through_a_common_shock():
    frame = _sim_panel(5, kind="count", effect=(np.log(0.85), 0.0))
    res = evallib.analyse(_sim_params(), frame)
    assert res.model == "quasipoisson"
    lev = res.coefficients.query("group == 'difference' and term == 'level_change[collaborative]'").iloc[0]
    assert lev["ci_lower"] < np.log(0.85) < lev["ci_upper"]
    assert lev["ratio"] == pytest.approx(0.85, abs=0.04)
    rel = res.effects().set_index("horizon").loc[12]
    assert rel["relative_lower"] < -0.15 < rel["relative_upper"]


def test_pre_mean_scaling_compares_a_summed_system_with_single_comparators():
    # the treated system is the sum of three units, so its common shock is three times a
    # comparator's in absolute terms; the planted level change is -150 per unit (-450 system)
    frame = _sim_panel(9, treated_units=3, effect=(-150.0, 0.0))
    params = params_from_dict(_sim_params(units=["T0", "T1", "T2"], model="ols-hac", aggregate="sum"))
    scaled = C.analyse_controlled(params, frame)                      # auto -> pre_mean
    raw = C.analyse_controlled(params, frame, scale="none")
    assert scaled.diagnostics()["comparator_scale"]["method"] == "pre_mean"
    e_s = scaled.effects().set_index("horizon").loc[12]
    e_r = raw.effects().set_index("horizon").loc[12]
    assert e_s["absolute_lower"] < -450 < e_s["absolute_upper"]
    assert not (e_r["absolute_lower"] < -450 < e_r["absolute_upper"])


def test_difference_method_refuses_count_models_with_the_fix():
    frame = _sim_panel(2, kind="count")
    with pytest.raises(ParameterError, match=re.escape(
            "model quasipoisson is not available for controlled_method difference (allowed: ols-hac, "
            "prais-winsten, arima); use model ols-hac (or prais-winsten/arima)")):
        C.analyse_controlled(params_from_dict(_sim_params()), frame, method="difference")


def test_diagnostics_test_the_treated_rows_not_the_stacked_rows():
    frame = _sim_panel(4)
    res = evallib.analyse(_sim_params(model="ols-hac"), frame)
    d = res.diagnostics()
    assert d["residual_tests_on"] == "the treated series' rows of the fit"
    assert d["n_obs"] == 26 * 72
    assert len(d["acf"]) == 12 and 0 < d["durbin_watson"] < 4


def test_difference_method_blocks_equal_the_engine_fits_of_comparator_mean_and_difference():
    from evallib.its import estimators as est

    frame = _sim_panel(6)
    cf = C.fit_controlled(params_from_dict(_sim_params(model="ols-hac")), frame, method="difference")
    X = cf.design.X.to_numpy()[cf.in_fit_treated]
    keep = [j for j, c in enumerate(cf.design.X.columns) if "[covid]" not in c]     # covid is shared
    comp_mean = cf.data.values[:, 1:].mean(axis=1)[cf.in_fit_treated]
    diff = cf.data.values[cf.in_fit_treated, 0] - comp_mean
    f_c = est.fit("ols-hac", X, comp_mean, hac_lags="auto")
    f_d = est.fit("ols-hac", X[:, keep], diff, hac_lags="auto")
    k = X.shape[1]
    np.testing.assert_allclose(cf.fit.params, np.r_[f_c.params, f_d.params], rtol=1e-10)
    np.testing.assert_allclose(cf.fit.cov[:k, :k], f_c.cov, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cf.fit.cov[k:, k:], f_d.cov, rtol=1e-10, atol=1e-12)
    assert cf.diagnostics["difference_series"].startswith("treated minus the mean of the comparators")


def test_excluded_periods_leave_every_unit_and_robustness_refits_the_stacked_design():
    frame = _sim_panel(7)
    res = evallib.analyse(_sim_params(model="ols-hac", exclude=["2020-04/2020-06"]), frame)
    assert res.n_obs == 26 * (72 - 3)
    assert list(res.counterfactual()["in_fit"]).count(False) == 3
    rob = res.robustness()
    assert set(rob["model"]) == {"ols-hac", "prais-winsten"}
    pw = rob.query("model == 'prais-winsten' and group == 'difference' and term == 'level_change[collaborative]'")
    assert np.isfinite(pw["estimate"].iloc[0]) and pw["se"].iloc[0] > 0


# --------------------------------------------------------------------------- near-zero pre-period, sentences
def _near_zero_panel() -> pd.DataFrame:
    """Counts: the treated unit alternates 1, 3 (mean 2) before covid (2016-01..2020-02, 50
    months), ramps up to 2020-08 and alternates 390, 410 (mean 400) from the collaborative
    (2020-09..2021-12, 16 months), as 52-week waits did; comparators are _sim_panel's."""
    frame = _sim_panel(3, kind="count")
    months = pd.period_range("2016-01", "2021-12", freq="M")
    k = np.arange(len(months))
    pre = np.where(k % 2 == 0, 1.0, 3.0)
    ramp = np.interp(k, [49, 56], [3, 400]).round()
    post = np.where(k % 2 == 0, 390.0, 410.0)
    value = np.where(months < pd.Period("2020-03", "M"), pre,
                     np.where(months < pd.Period("2020-09", "M"), ramp, post))
    frame.loc[frame["org_code"] == "T0", "value"] = value
    return frame


NEAR_ZERO_QUASIPOISSON = (
    "the treated series is near zero in the pre-period (mean 2 against 400 after): model quasipoisson compares "
    "the treated series with the comparators on a log (proportional) scale, and proportional changes from almost "
    "nothing are unstable, so the treated pre-period trend and the relative effects are fragile; read the absolute "
    "effects and check them with model ols-hac")


def test_log_link_controlled_design_warns_when_the_treated_pre_period_is_near_zero():
    res = evallib.analyse(_sim_params(), _near_zero_panel())
    assert res.model == "quasipoisson"
    assert NEAR_ZERO_QUASIPOISSON in res.warnings


def test_identity_link_controlled_design_gives_no_near_zero_warning():
    res = evallib.analyse(_sim_params(model="ols-hac"), _near_zero_panel())
    assert not any("near zero" in w for w in res.warnings)


def test_log_link_controlled_design_without_a_near_zero_pre_period_gives_no_warning():
    res = evallib.analyse(_sim_params(), _sim_panel(3, kind="count"))
    assert res.model == "quasipoisson"
    assert not any("near zero" in w for w in res.warnings)


@pytest.mark.parametrize("pre_level, warned", [(19.9, True), (20.0, False)])
def test_near_zero_means_a_pre_period_mean_under_5_percent_of_the_post_period_mean(pre_level, warned):
    from evallib.its.series import near_zero_pre_period

    values = np.r_[np.full(10, pre_level), np.nan, np.full(5, 400.0)]
    pre = np.r_[np.ones(11, bool), np.zeros(5, bool)]            # the NaN in the pre-period is ignored
    got = near_zero_pre_period(values, pre, ~pre)
    expected = f"the treated series is near zero in the pre-period (mean {pre_level:g} against 400 after)"
    assert got == (expected if warned else None)


def test_near_zero_check_is_silent_for_an_empty_period_or_a_zero_post_period():
    from evallib.its.series import near_zero_pre_period

    values = np.array([0.0, 0.0, 0.0, 0.0])
    assert near_zero_pre_period(values, np.array([1, 1, 0, 0], bool), np.array([0, 0, 1, 1], bool)) is None
    assert near_zero_pre_period(np.array([1.0, 5.0]), np.array([0, 0], bool), np.array([1, 1], bool)) is None


def test_controlled_sentence_names_the_comparators_change_in_the_counterfactual():
    frame = _sim_panel(1)
    res = evallib.analyse(_sim_params(model="ols-hac"), frame)
    s = res.sentences()
    assert len(s) == 2
    assert s[0].startswith("In September 2020, the month the collaborative formed, ")
    assert s[1].startswith("Twelve months after the collaborative formed (September 2020), ")
    assert all(" than the pre-formation trend plus the comparators' change predicts (95% CI " in x for x in s)
    single = evallib.analyse(_sim_params(model="ols-hac", design="single", comparators="none"), frame)
    coll = single.effects().query("interruption == 'collaborative'").to_dict("records")
    assert len(coll) == 2
    assert all(" than the pre-formation trend predicts (95% CI " in single.sentence(r) for r in coll)
    assert res.counterfactual_phrase("covid") == "the pre-COVID-19 trend plus the comparators' change"


def test_prewhite_is_refused_by_the_stacked_design_never_silently_replaced(prop99_csv):
    with pytest.raises(ParameterError, match=re.escape(
            "hac_lags prewhite is not available in the stacked controlled design (its panel Newey-West has no "
            "prewhitened variant)")):
        evallib.analyse(_prop99_params(prop99_csv, hac_lags="prewhite"), _prop99_frame())
