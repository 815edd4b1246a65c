"""ITSResult: effects, counterfactuals, intervals, sentences, to_dict, plot (simulated data)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import evallib
from evallib.its.results import ITSResult


def monthly(values, start="2016-04", metric="agency_spend_gbp_k", unit="RNA", **cols):
    periods = pd.period_range(start, periods=len(values), freq="M").strftime("%Y-%m")
    df = pd.DataFrame({"period": periods, "org_code": unit, "metric": metric, "value": values})
    for k, v in cols.items():
        df[k] = v
    return df


def params(metric="agency_spend_gbp_k", **kw):
    p = {"data": "mem.csv", "metric": metric, "units": ["RNA"], "seasonality": "none",
         "interruptions": [{"name": "collaborative", "date": "2020-09"}], "horizons": [0, 12, 24]}
    p.update(kw)
    return p


@pytest.fixture(scope="module")
def continuous():
    rng = np.random.default_rng(7)
    n, P = 108, 53  # 2016-04 + 53 = 2020-09
    t = np.arange(n)
    y = 1000 + 5 * t - 80 * (t >= P) - 2 * np.where(t >= P, t - P, 0) + rng.normal(0, 10, n)
    return evallib.analyse(params(model="ols-hac"), data=monthly(y))


def test_planted_level_and_slope_change_are_recovered_within_their_intervals(continuous):
    c = continuous.coefficients.set_index("term")
    for term, truth in [("level_change[collaborative]", -80), ("slope_change[collaborative]", -2),
                        ("pre_trend", 5), ("post_trend[collaborative]", 3)]:
        assert c.loc[term, "ci_lower"] <= truth <= c.loc[term, "ci_upper"], term


def test_absolute_effect_at_horizon_h_is_level_plus_h_times_slope(continuous):
    c = continuous.coefficients.set_index("term")["estimate"]
    e = continuous.effects().set_index("horizon")
    for h in (0, 12, 24):
        assert e.loc[h, "absolute"] == pytest.approx(c["level_change[collaborative]"]
                                                     + h * c["slope_change[collaborative]"], abs=1e-9)
        cum = sum(c["level_change[collaborative]"] + j * c["slope_change[collaborative]"] for j in range(h + 1))
        assert e.loc[h, "cumulative"] == pytest.approx(cum, abs=1e-8)
    assert e.loc[12, "period"] == "2021-09"


def test_absolute_effect_se_is_the_contrast_se(continuous):
    f = continuous.fit
    w = np.zeros(len(continuous.columns))
    w[continuous.columns.index("level_change[collaborative]")] = 1
    w[continuous.columns.index("slope_change[collaborative]")] = 12
    est, se = f.contrast(w)
    row = continuous.effects().set_index("horizon").loc[12]
    assert row["absolute_se"] == pytest.approx(se, rel=1e-10)
    crit = f.crit(0.05)
    assert (row["absolute_lower"], row["absolute_upper"]) == pytest.approx((est - crit * se, est + crit * se))


def test_counterfactual_equals_fit_before_the_interruption_and_band_contains_it(continuous):
    cf = continuous.counterfactual()
    pre = cf[cf["period"] < "2020-09"]
    np.testing.assert_allclose(pre["counterfactual"], pre["fitted"])
    assert (cf["cf_lower"] < cf["counterfactual"]).all() and (cf["counterfactual"] < cf["cf_upper"]).all()
    assert list(cf.columns) == ["period", "observed", "fitted", "counterfactual", "cf_lower", "cf_upper", "in_fit"]


def test_conf_int_at_alpha_01_is_wider_than_at_005(continuous):
    a = continuous.conf_int(0.05).set_index("term")
    b = continuous.conf_int(0.01).set_index("term")
    assert ((b["ci_upper"] - b["ci_lower"]) > (a["ci_upper"] - a["ci_lower"])).all()


def test_to_dict_has_exactly_the_results_json_keys_and_is_strict_json(continuous):
    d = continuous.to_dict()
    assert list(d) == ["schema", "title", "metric", "model", "design", "n_obs", "periods", "groups", "effects",
                       "diagnostics", "warnings", "provenance"]
    assert d["schema"] == "evallib.results/1" and d["design"] == "single" and d["n_obs"] == 108
    assert d["periods"] == {"first": "2016-04", "last": "2025-03"}
    assert list(d["groups"]["treated"]) == ["intercept", "pre_trend", "level_change[collaborative]",
                                            "slope_change[collaborative]", "post_trend[collaborative]"]
    T = d["groups"]["treated"]["pre_trend"]
    assert set(T) == {"estimate", "se", "ci", "p"} and len(T["ci"]) == 2
    e = d["effects"][1]
    assert {k: e[k] for k in ("interruption", "horizon", "period")} == {
        "interruption": "collaborative", "horizon": 12, "period": "2021-09"}
    assert list(e) == ["interruption", "horizon", "period", "observed", "counterfactual", "absolute", "relative",
                       "cumulative"]
    assert all(set(e[k]) == {"estimate", "se", "ci", "p"} for k in ("absolute", "relative", "cumulative"))
    assert set(d["provenance"]) == {"evallib_version", "data_file", "data_sha256", "params", "created"}
    json.loads(continuous.to_json(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_same_inputs_give_byte_identical_json_except_created():
    rng = np.random.default_rng(3)
    y = 500 + np.arange(108) + rng.normal(0, 5, 108)
    texts = []
    for _ in range(2):
        d = evallib.analyse(params(model="ols-hac", seasonality="fourier2"), data=monthly(y)).to_dict()
        d["provenance"].pop("created")
        texts.append(json.dumps(d, allow_nan=False))
    assert texts[0] == texts[1]


def test_missing_observed_value_at_a_horizon_becomes_null_in_json():
    rng = np.random.default_rng(4)
    y = 500 + np.arange(108) + rng.normal(0, 5, 108)
    y[53 + 12] = np.nan
    res = evallib.analyse(params(model="ols-hac"), data=monthly(y))
    e = next(e for e in res.to_dict()["effects"] if e["horizon"] == 12)
    assert e["observed"] is None and e["counterfactual"] is not None
    assert "1 period(s) with a missing value of agency_spend_gbp_k are left out of the fit" in res.warnings


def test_horizon_after_the_last_period_is_skipped_with_a_warning():
    y = 100 + np.arange(60) + np.random.default_rng(0).normal(0, 1, 60)
    res = evallib.analyse(params(model="ols-hac", horizons=[12, 24]), data=monthly(y))  # ends 2021-03
    assert res.effects()["horizon"].tolist() == []  # 2021-09 and 2022-09 are both after 2021-03
    assert ("horizon 12 of collaborative (2021-09) is after the last period 2021-03: no effect reported"
            in res.warnings)


def test_log_link_relative_effect_is_exp_of_level_plus_h_slope_minus_one():
    rng = np.random.default_rng(11)
    n, P = 108, 53
    t = np.arange(n)
    expo = np.full(n, 1e5)
    mu = expo * np.exp(-7 + 0.004 * t - 0.2 * (t >= P) - 0.01 * np.where(t >= P, t - P, 0))
    y = rng.poisson(mu).astype(float)
    res = evallib.analyse(params("rtt_52w_waiters", model="quasipoisson"), data=monthly(y, metric="rtt_52w_waiters",
                                                                                       denominator=expo))
    c = res.coefficients.set_index("term")
    e = res.effects().set_index("horizon").loc[12]
    lin = c.loc["level_change[collaborative]", "estimate"] + 12 * c.loc["slope_change[collaborative]", "estimate"]
    assert e["relative"] == pytest.approx(math.expm1(lin), rel=1e-10)
    assert c.loc["level_change[collaborative]", "ci_lower"] <= -0.2 <= c.loc["level_change[collaborative]", "ci_upper"]
    assert res.model == "quasipoisson" and res.to_dict()["groups"]["treated"]["pre_trend"]["ratio"] > 1


def test_counterfactual_of_first_interruption_removes_later_interruptions_too():
    rng = np.random.default_rng(5)
    n = 108
    t = np.arange(n)
    y = 100 + t + 30 * (t >= 47) + 50 * (t >= 53) + rng.normal(0, 2, n)
    res = evallib.analyse(params(model="ols-hac", interruptions=[
        {"name": "covid", "date": "2020-03", "terms": ["level"]},
        {"name": "collaborative", "date": "2020-09", "terms": ["level"]}]), data=monthly(y))
    e = res.effects().set_index(["interruption", "horizon"])
    assert e.loc[("covid", 12), "absolute"] == pytest.approx(
        res.coefficients.set_index("term").loc[["level_change[covid]", "level_change[collaborative]"],
                                               "estimate"].sum())
    assert e.loc[("collaborative", 12), "absolute"] == pytest.approx(
        res.coefficients.set_index("term").loc["level_change[collaborative]", "estimate"])


def test_sentence_for_noise_free_planted_drop_reads_as_specified():
    t = np.arange(108, dtype=float)
    y = 1000.0 - 200.0 * (t >= 53) + 0.0 * t  # flat 1000, then 800: a 20% fall
    y = y + 1e-9 * np.sin(t)  # keep residuals non-zero
    res = evallib.analyse(params(model="ols-hac", horizons=[12], hac_lags=0), data=monthly(y))
    assert res.sentences() == [
        "Twelve months after the collaborative formed (September 2020), agency staff spend was 20% lower than the "
        "pre-formation trend predicts (95% CI 20% to 20% lower), an improvement."]


def test_sentence_says_when_the_interval_includes_no_change():
    rng = np.random.default_rng(9)
    y = 1000 + rng.normal(0, 30, 108)
    res = evallib.analyse(params(model="ols-hac", horizons=[12]), data=monthly(y))
    s = res.sentences()[0]
    assert s.startswith("Twelve months after the collaborative formed (September 2020), agency staff spend was ")
    assert s.endswith("; the interval includes no change).")


def test_percentage_metric_sentence_is_in_percentage_points():
    rng = np.random.default_rng(2)
    n = 108
    t = np.arange(n)
    den = np.full(n, 400.0)
    p = 0.70 + 0.08 * (t >= 53)
    num = rng.binomial(400, p).astype(float)
    res = evallib.analyse(params("cancer_62d_pct", horizons=[12]),
                          data=monthly(100 * num / den, metric="cancer_62d_pct", numerator=num, denominator=den))
    assert res.model == "quasibinomial"
    s = res.sentences()[0]
    assert " percentage points higher than the pre-formation trend predicts (95% CI " in s
    e = res.effects().iloc[0]
    assert 0 < e["counterfactual"] < 100 and e["observed"] == pytest.approx(100 * num[65] / 400)


def test_diagnostics_report_durbin_watson_ljung_box_acf_and_hac_lag(continuous):
    d = continuous.diagnostics()
    e = continuous.fit.resid
    assert d["durbin_watson"] == pytest.approx(np.sum(np.diff(e) ** 2) / np.sum(e ** 2))
    assert [x["lag"] for x in d["ljung_box"]] == list(range(1, 13)) and len(d["acf"]) == 12
    assert d["hac_lags"] == continuous.fit.hac_lags_used
    assert d["breusch_godfrey"]["lags"] == 12 and 0 <= d["breusch_godfrey"]["p"] <= 1


def test_ljung_box_matches_statsmodels(continuous):
    from statsmodels.stats.diagnostic import acorr_ljungbox

    lb = acorr_ljungbox(continuous.fit.resid, lags=12)
    np.testing.assert_allclose([x["p"] for x in continuous.diagnostics()["ljung_box"]], lb["lb_pvalue"], rtol=1e-8)


def test_robustness_fits_three_estimators_for_a_continuous_outcome(continuous):
    r = continuous.robustness()
    assert sorted(r["model"].unique()) == ["arima", "ols-hac", "prais-winsten"]
    lv = r[r["term"] == "level_change[collaborative]"].set_index("model")["estimate"]
    assert lv["ols-hac"] == pytest.approx(continuous.coefficients.set_index("term").loc[
        "level_change[collaborative]", "estimate"])
    assert all(-110 < v < -50 for v in lv)


def test_summary_names_model_terms_and_sentences(continuous):
    s = continuous.summary()
    assert "model ols-hac" in s and "level_change[collaborative]" in s and "Twelve months after" in s


def test_plot_returns_fig_ax_with_labelled_interruption_and_synthetic_stamp():
    from evallib.data.table import as_table

    rng = np.random.default_rng(1)
    y = 100 + np.arange(108) + rng.normal(0, 3, 108)
    table = as_table(monthly(y))
    table.synthetic = True
    res = evallib.analyse(params(model="ols-hac"), data=table)
    fig, ax = res.plot()
    texts = [t.get_text() for t in ax.texts] + [t.get_text() for t in fig.texts]
    assert "collaborative 2020-09" in texts and "SYNTHETIC DATA" in texts
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Expected if the trend before collaborative had continued" in labels
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_quarterly_series_with_quarter_seasonality():
    rng = np.random.default_rng(8)
    periods = pd.period_range("2015Q1", periods=40, freq="Q").strftime("%Y-Q%q")
    t = np.arange(40)
    y = 50 + 0.5 * t + 4 * (t >= 20) + 3 * (np.arange(40) % 4 == 2) + rng.normal(0, 0.5, 40)
    df = pd.DataFrame({"period": periods, "org_code": "RNA", "metric": "x", "value": y})
    res = evallib.analyse({"data": "q.csv", "metric": "x", "units": ["RNA"], "model": "ols-hac",
                           "seasonality": "month", "horizons": [4],
                           "interruptions": [{"name": "a", "date": "2020-Q1", "terms": ["level"]}]}, data=df)
    c = res.coefficients.set_index("term")
    assert c.loc["quarter[3]", "ci_lower"] <= 3 <= c.loc["quarter[3]", "ci_upper"]
    assert res.effects()["period"].tolist() == ["2021-Q1"]
    assert res.sentences()[0].startswith("Four quarters after the a interruption (2020 Q1), ")


def test_result_constructor_is_generic_for_other_designs(continuous):
    """A design module can rebuild a result from its own pieces (as controlled.py does)."""
    r = ITSResult(fit=continuous.fit, columns=continuous.columns, rows=continuous.rows,
                  terms={"treated": continuous.terms["treated"]}, cf_columns=continuous.cf_columns,
                  interruptions=continuous.interruptions, title="t", metric="agency_spend_gbp_k",
                  design="controlled", horizons=[12])
    assert r.to_dict()["design"] == "controlled"
    assert r.effects()["absolute"].iloc[0] == pytest.approx(continuous.effects().set_index("horizon").loc[12,
                                                                                                          "absolute"])


def test_wording_helpers_give_the_sentence_pieces():
    from evallib import text as W

    assert W.when(0, "collaborative", "M", "2020-09", "2020-09") == "In September 2020, the month the collaborative formed"
    assert W.when(12, "collaborative", "M", "2021-09", "2020-09") == "Twelve months after the collaborative formed (September 2020)"
    assert W.when(1, "go live", "Q", "2021-Q2", "2021-Q1") == "One quarter after the go live interruption (2021 Q1)"
    assert W.when(24, "x", "Y", "2030", "2006") == "24 years after the x interruption (2006)"
    assert [W.percent(v) for v in (0.234, -0.052, 0.094, 0.096)] == ["23%", "5.2%", "9.4%", "10%"]
    assert W.amount(3.2, "%") == "3.2 percentage points" and W.amount(-1.0, "%") == "1.0 percentage point"
    assert W.amount(1234.4, "patients") == "1,234 patients" and W.amount(2.5, "£k") == "£2.5k"
    assert W.big_number(2.09e7) == "21 million" and W.big_number(1234) == "1,234"
    assert [W.approx(v) for v in (6.864, 12431.0, 2.09e7, -4567.8)] == ["6.86", "12,400", "21 million", "-4,570"]
    assert W.subject("Patients waiting under 18 weeks") == "patients waiting under 18 weeks"
    assert W.subject("RTT waiting list") == "RTT waiting list"
    assert W.is_plural("52-week waiters") and not W.is_plural("Agency staff spend")
