"""Time coding (docs/contracts.md §3) and seasonal terms: exact values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evallib.exceptions import ParameterError
from evallib.its import design as D


def months(a: str, b: str) -> list[pd.Period]:
    return list(pd.period_range(a, b, freq="M"))


def spec(name, date, terms=("level", "slope"), transition=0, freq="M"):
    return D.InterruptionSpec(name, pd.Period(date, freq=freq), tuple(terms), transition)


def test_time_terms_t_starts_at_zero_and_level_is_one_from_P_and_slope_zero_at_P():
    ps = months("2020-01", "2020-08")
    X = D.time_terms(ps, [spec("a", "2020-04")])
    assert list(X.columns) == ["intercept", "pre_trend", "level_change[a]", "slope_change[a]"]
    assert X["pre_trend"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert X["level_change[a]"].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert X["slope_change[a]"].tolist() == [0, 0, 0, 0, 1, 2, 3, 4]


def test_time_terms_with_origin_counts_calendar_periods_from_origin():
    ps = months("2020-01", "2020-06")
    X = D.time_terms(ps, [], origin=pd.Period("2020-03", freq="M"))
    assert X["pre_trend"].tolist() == [-2, -1, 0, 1, 2, 3]


def test_time_terms_level_only_interruption_has_no_slope_column():
    X = D.time_terms(months("2020-01", "2020-06"), [spec("a", "2020-03", ["level"])])
    assert "slope_change[a]" not in X.columns and "level_change[a]" in X.columns


def test_build_design_transition_leaves_P_to_P_plus_k_minus_1_out_of_the_fit():
    ps = months("2020-01", "2020-12")
    d = D.build_design(ps, [spec("a", "2020-05", transition=3)])
    out = [D.format_period(p) for p, f in zip(ps, d.in_fit) if not f]
    assert out == ["2020-05", "2020-06", "2020-07"]
    # the rows stay in the design, with the same coding
    assert d.X.loc[6, "slope_change[a]"] == 2.0


def test_build_design_exclude_range_and_origin_is_first_included_period():
    ps = months("2020-01", "2020-12")
    d = D.build_design(ps, [spec("a", "2020-07")], exclude=["2020-01/2020-02", "2020-09"])
    assert [D.format_period(p) for p, f in zip(ps, d.in_fit) if not f] == ["2020-01", "2020-02", "2020-09"]
    assert D.format_period(d.origin) == "2020-03"
    assert d.X.loc[2, "pre_trend"] == 0.0


def test_fourier_terms_are_sin_cos_of_2_pi_k_month_over_12():
    ps = months("2021-01", "2021-12")
    S, w = D.seasonal_terms(ps, "fourier2")
    m = np.arange(1, 13)
    assert list(S.columns) == ["sin1", "cos1", "sin2", "cos2"]
    np.testing.assert_allclose(S["sin2"], np.sin(2 * np.pi * 2 * m / 12))
    np.testing.assert_allclose(S["cos1"], np.cos(2 * np.pi * m / 12))
    assert w == []


def test_fourier6_drops_the_identically_zero_sine():
    S, _ = D.seasonal_terms(months("2021-01", "2021-12"), "fourier6")
    assert "sin6" not in S.columns and "cos6" in S.columns and S.shape[1] == 11


def test_month_dummies_use_january_as_reference():
    S, _ = D.seasonal_terms(months("2021-01", "2021-12"), "month")
    assert list(S.columns) == [f"month[{k}]" for k in range(2, 13)]
    assert S.loc[0].sum() == 0 and S.loc[4, "month[5]"] == 1


def test_quarterly_month_seasonality_gives_quarter_dummies():
    ps = list(pd.period_range("2019Q1", "2020Q4", freq="Q"))
    S, _ = D.seasonal_terms(ps, "month")
    assert list(S.columns) == ["quarter[2]", "quarter[3]", "quarter[4]"]


def test_quarterly_fourier3_is_a_parameter_error():
    ps = list(pd.period_range("2019Q1", "2020Q4", freq="Q"))
    with pytest.raises(ParameterError, match="a quarterly series has at most 2 harmonics"):
        D.seasonal_terms(ps, "fourier3")


def test_annual_series_ignores_seasonality_with_a_warning():
    ps = list(pd.period_range("2001", "2010", freq="Y"))
    S, w = D.seasonal_terms(ps, "fourier2")
    assert S.shape[1] == 0
    assert w == ["seasonality fourier2 ignored: an annual series has no seasons"]


def test_post_trend_contrast_is_pre_trend_plus_slope_changes_up_to_name():
    ints = [spec("a", "2020-03"), spec("b", "2020-06", ["level"]), spec("c", "2020-09")]
    cols = list(D.time_terms(months("2020-01", "2020-12"), ints).columns)
    C = D.its_contrasts(cols, ints)
    idx = {c: i for i, c in enumerate(cols)}
    np.testing.assert_array_equal(np.flatnonzero(C["post_trend[a]"]), [idx["pre_trend"], idx["slope_change[a]"]])
    np.testing.assert_array_equal(C["post_trend[b]"], C["post_trend[a]"])
    np.testing.assert_array_equal(np.flatnonzero(C["post_trend[c]"]),
                                  sorted([idx["pre_trend"], idx["slope_change[a]"], idx["slope_change[c]"]]))


def test_counterfactual_columns_zero_that_interruption_and_all_later_ones():
    ints = [spec("covid", "2020-03"), spec("collab", "2020-09", ["level"])]
    cf = D.counterfactual_columns(ints)
    assert cf["collab"] == ["level_change[collab]"]
    assert cf["covid"] == ["level_change[covid]", "slope_change[covid]", "level_change[collab]"]
