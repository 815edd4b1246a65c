"""The sensitivity set: specifications, placebo dates, failures kept as rows, the chart."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evallib
from evallib.config import params_from_dict
from evallib.its import sensitivity as SE

TIDY = ["period", "org_code", "org_name", "metric", "value", "numerator", "denominator"]


def panel(J=6, T=96, effect=-150.0, covid=-300.0, seed=0, sd=10.0):
    """Monthly 2016-04.., a COVID step in 2020-03 for everyone, the treated step in 2020-09."""
    rng = np.random.default_rng(seed)
    periods = pd.period_range("2016-04", periods=T, freq="M")
    labels = [str(p) for p in periods]
    t = np.arange(T)
    ic, ik = labels.index("2020-03"), labels.index("2020-09")
    rows = []
    for j in range(J + 1):
        code = "TRT" if j == 0 else f"C{j:02d}"
        y = 1000 + 20 * j + 2.0 * t + covid * (t >= ic) + rng.normal(0, sd, T)
        if j == 0:
            y = y + effect * (t >= ik)
        rows += [(labels[k], code, "", "m", y[k], np.nan, np.nan) for k in range(T)]
    return pd.DataFrame(rows, columns=TIDY)


def params(**kw):
    raw = {"data": "sens-test.csv", "metric": "m", "units": ["TRT"], "model": "ols-hac", "seasonality": "none",
           "interruptions": [{"name": "covid", "date": "2020-03", "terms": ["level"]},
                             {"name": "collaborative", "date": "2020-09"}]}
    raw.update(kw)
    return params_from_dict(raw)


@pytest.fixture(scope="module")
def single():
    return SE.sensitivity(params(), panel(), max_placebos=8)


def test_table_lists_primary_washout_date_shifts_and_alternative_estimators(single):
    assert list(single.table["specification"]) == [
        "primary (single, ols-hac)", "wash-out 2020-03/2021-03", "collaborative date -3 (2020-06)",
        "collaborative date +3 (2020-12)", "estimator prais-winsten", "estimator arima"]
    assert list(single.table["date"]) == ["2020-09", "2020-09", "2020-06", "2020-12", "2020-09", "2020-09"]
    assert (single.table["error"] == "").all()


def test_primary_row_is_the_twelve_month_effect_of_evallib_analyse(single):
    eff = evallib.analyse(params(), data=panel()).effects([12])
    eff = eff[eff["interruption"] == "collaborative"].iloc[0]
    row = single.table.iloc[0]
    assert row["period"] == "2021-09"
    assert row["absolute"] == pytest.approx(eff["absolute"])
    assert row["absolute_lower"] == pytest.approx(eff["absolute_lower"])


def test_primary_and_estimators_recover_the_planted_effect(single):
    rows = single.table[single.table["group"].isin(["primary", "estimator"])]
    np.testing.assert_allclose(rows["absolute"], -150.0, atol=25.0)


def test_washout_drops_covid_and_so_absorbs_it_in_a_single_group_design(single):
    row = single.table[single.table["group"] == "washout"].iloc[0]
    assert row["note"] == "excludes 2020-03/2021-03; drops covid (dated inside it)"
    assert row["absolute"] == pytest.approx(-450.0, abs=40.0)     # COVID -300 plus the effect -150


def test_placebo_dates_span_the_clean_pre_period_and_the_real_effect_is_extreme(single):
    plc = single.placebo
    assert len(plc) == 8
    assert plc["date"].iloc[0] == "2017-04" and plc["date"].iloc[-1] == "2019-02"
    assert plc["absolute"].abs().max() < 60.0
    assert single.placebo_p == pytest.approx(1 / 9)


def test_a_specification_that_cannot_be_fitted_is_kept_with_its_error():
    p = params(interruptions=[{"name": "covid", "date": "2020-06"}, {"name": "collaborative", "date": "2020-09"}])
    res = SE.sensitivity(p, panel(), placebo=False)
    row = res.table[res.table["specification"] == "collaborative date -3"].iloc[0]
    assert row["error"] == "moving collaborative by -3 periods to 2020-06 puts it at or before another interruption"
    assert np.isnan(row["absolute"])


def test_count_outcome_with_a_glm_is_compared_with_ols_hac_only():
    df = panel(sd=5.0)
    df["value"] = np.round(df["value"])
    res = SE.sensitivity(params(model="quasipoisson"), df, placebo=False)
    assert list(res.table.loc[res.table["group"] == "estimator", "model"]) == ["ols-hac"]


def test_short_pre_period_gives_no_placebo_dates_and_says_why():
    df = panel()
    df = df[df["period"] >= "2019-01"]
    res = SE.sensitivity(params(), df)
    assert res.placebo.empty
    assert res.notes == ["no placebo dates: the pre-period 2019-01..2020-02 is shorter than 12 + 12 periods"]


def test_controlled_primary_is_compared_with_single_group_and_synthetic():

    res = SE.sensitivity(params(comparators="all_other", design="controlled", controlled_method="stacked"), panel(),
                         placebo=False)
    designs = res.table.loc[res.table["group"] == "design", "specification"].tolist()
    assert designs == ["design single", "design synthetic"]
    prim = res.table.iloc[0]
    assert prim["absolute_lower"] < -150 < prim["absolute_upper"]


def test_plot_is_one_figure_with_specifications_over_the_placebo_strip(single):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = single.plot()
    assert len(axes) == 2
    assert [t.get_text() for t in axes[0].get_yticklabels()] == list(single.table["specification"])
    assert axes[1].get_lines()[-2].get_xdata()[0] == pytest.approx(single.real_estimate)   # the marked estimate
    plt.close(fig)


def test_an_estimate_far_off_the_scale_is_drawn_at_the_edge_with_its_value(single):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = single.table.copy()
    t.loc[t["specification"] == "estimator arima", ["absolute", "absolute_lower", "absolute_upper"]] = \
        [-2.0e7, -3.0e8, 3.0e8]
    wild = SE.SensitivityResult(table=t, placebo=single.placebo, primary=single.primary, target="collaborative",
                                horizon=12)
    fig, axes = wild.plot()
    lo, hi = axes[0].get_xlim()
    assert hi < 1e4 and lo > -1e4                                   # the wild row does not set the scale
    assert any(tx.get_text() == "off scale: -2e+07" for tx in axes[0].texts)
    plt.close(fig)
