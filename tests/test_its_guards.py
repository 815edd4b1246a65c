"""Guard rails: each bad specification is a ParameterError (or a warning) with a clear message."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import evallib
from evallib.exceptions import ModelError, ParameterError


def table(n=108, start="2016-04", metric="rtt_waiting_list", seed=0, **cols):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"period": pd.period_range(start, periods=n, freq="M").strftime("%Y-%m"),
                       "org_code": "RNA", "metric": metric,
                       "value": (1000 + np.arange(n) + rng.normal(0, 5, n)).round()})
    for k, v in cols.items():
        df[k] = v
    return df


def p(**kw):
    out = {"data": "mem.csv", "metric": "rtt_waiting_list", "units": ["RNA"], "model": "ols-hac",
           "interruptions": [{"name": "collaborative", "date": "2020-09"}]}
    out.update(kw)
    return out


def test_interruption_after_the_last_period():
    ints = [{"name": "covid", "date": "2020-03"}, {"name": "later", "date": "2030-01"}]
    with pytest.raises(ParameterError) as e:
        evallib.analyse(p(interruptions=ints), data=table())
    assert str(e.value) == "interruptions[1].date 2030-01 is after the last period 2025-03 of rtt_waiting_list"


def test_interruption_before_the_first_period():
    with pytest.raises(ParameterError) as e:
        evallib.analyse(p(interruptions=[{"name": "a", "date": "2015-01"}]), data=table())
    assert str(e.value) == ("interruptions[0].date 2015-01 is not after the first period 2016-04 of "
                            "rtt_waiting_list: there must be a pre-interruption segment")


def test_two_interruptions_in_the_same_month_are_collinear():
    ints = [{"name": "a", "date": "2020-09"}, {"name": "b", "date": "2020-09"}]
    with pytest.raises(ParameterError) as e:
        evallib.analyse(p(interruptions=ints), data=table())
    assert str(e.value) == ("interruptions[0] (a) and interruptions[1] (b) are both at 2020-09: their terms would "
                            "be perfectly collinear; merge them or move one")


def test_segment_with_fewer_than_3_points_is_an_error():
    with pytest.raises(ParameterError) as e:
        evallib.analyse(p(interruptions=[{"name": "a", "date": "2025-02"}]), data=table())
    assert str(e.value) == ("segment a (2025-02 to 2025-03) of rtt_waiting_list has 2 usable point(s); at least 3 "
                            "are needed to estimate a level and trend")


def test_segment_with_fewer_than_8_points_is_a_warning():
    res = evallib.analyse(p(interruptions=[{"name": "a", "date": "2024-10"}]), data=table())
    assert ("segment a (2024-10 to 2025-03) has only 6 usable points (fewer than 8): its estimates are fragile"
            in res.warnings)


def test_all_missing_segment_is_an_error():
    df = table()
    df.loc[(df["period"] >= "2020-03") & (df["period"] < "2020-09"), "value"] = np.nan
    ints = [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}]
    with pytest.raises(ParameterError) as e:
        evallib.analyse(p(interruptions=ints), data=df)
    assert str(e.value) == ("segment covid (2020-03 to 2020-08) of rtt_waiting_list has no usable values (all "
                            "missing, excluded or in a transition); move the interruption or shorten exclude")


def test_binomial_model_without_denominator_is_an_error():
    with pytest.raises(ParameterError) as e:
        evallib.analyse(p(model="quasibinomial"), data=table())
    assert str(e.value) == ("model quasibinomial needs numerator and denominator columns, but rtt_waiting_list has "
                            "none for units ['RNA'] in <in-memory table>; use quasipoisson for counts or ols-hac")


def test_unknown_unit_is_an_error_naming_the_units_with_data():
    with pytest.raises(ParameterError) as e:
        evallib.analyse(p(units=["RNA", "XXX"]), data=table())
    assert str(e.value) == ("units ['XXX'] have no rows for metric rtt_waiting_list in <in-memory table> (units "
                            "with data: RNA)")


def test_default_model_for_a_continuous_metric_is_ols_hac_and_is_reported():
    df = table()
    df["value"] = df["value"] + 0.5
    res = evallib.analyse(p(model=None), data=df)
    assert res.model == "ols-hac"
    assert res.diagnostics()["model_choice"] == "model not given: ols-hac because rtt_waiting_list is continuous"
    assert "model choice: model not given: ols-hac" in res.summary()


def test_non_integer_values_with_a_count_model_give_a_warning():
    df = table()
    df["value"] = df["value"] + 0.5
    res = evallib.analyse(p(model="quasipoisson"), data=df)
    assert "quasipoisson is fitted to values of rtt_waiting_list that are not whole numbers" in res.warnings


def test_explosive_counterfactual_gives_a_warning():
    t = np.arange(108)
    df = table()
    df["value"] = np.where(t < 47, 5 + t % 3, np.where(t < 53, 10 * 2.0 ** (t - 46), 800 + t)).astype(float)
    ints = [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}]
    res = evallib.analyse(p(model="quasipoisson", seasonality="none", interruptions=ints, horizons=[24]), data=df)
    assert any(w.startswith("the counterfactual of collaborative at 2022-09 (") and
               "does not extrapolate credibly" in w for w in res.warnings)
    e = res.effects().set_index("interruption")
    assert not e.loc["collaborative", "credible"] and e.loc["covid", "credible"]
    s = res.sentences()
    assert s[1].startswith("24 months after the collaborative formed (September 2020), no effect on RTT waiting list (incomplete "
                           "pathways) is stated: the trend before collaborative would predict ")
    # the covid effect is thousands of percent of a near-zero trend: stated in patients instead
    assert " patients higher than the pre-COVID-19 trend predicts (95% CI " in s[0]


