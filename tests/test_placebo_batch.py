"""Placebo dates: the batched path gives the numbers of one ``analyse()`` per date.

``placebo_dates`` prepares the data once and fits every date together (one batched computation
per design family); ``_placebo_dates_per_analysis`` is the reference path it replaced. Both run
here on the demo data for each design family and model, and must agree to 1e-8 relative.
"""
from __future__ import annotations

import numpy as np
import pytest

import evallib
from evallib.config import params_from_dict
from evallib.data.table import load_table
from evallib.its import estimators as E
from evallib.its import sensitivity as S

NUM = ["absolute", "absolute_lower", "absolute_upper", "absolute_p", "relative", "relative_lower",
       "relative_upper"]

CASES = {
    "single ols-hac": dict(metric="agency_spend_gbp_k", design="single", comparators="none", model="ols-hac"),
    "single ols-hac lag 3": dict(metric="agency_spend_gbp_k", design="single", comparators="none", model="ols-hac",
                                 hac_lags=3),
    "single prais-winsten": dict(metric="agency_spend_gbp_k", design="single", comparators="none",
                                 model="prais-winsten"),
    "single quasipoisson": dict(metric="rtt_waiting_list", design="single", comparators="none"),
    "single poisson": dict(metric="rtt_waiting_list", design="single", comparators="none", model="poisson"),
    "single quasibinomial": dict(metric="cancer_62d_pct", aggregate="ratio", design="single", comparators="none"),
    "stacked quasipoisson": dict(metric="rtt_waiting_list", design="controlled", comparators="all_other",
                                 controlled_method="stacked"),
    "stacked ols-hac": dict(metric="agency_spend_gbp_k", design="controlled", comparators="all_other",
                            controlled_method="stacked", model="ols-hac"),
    "stacked prais-winsten": dict(metric="agency_spend_gbp_k", design="controlled", comparators="all_other",
                                  controlled_method="stacked", model="prais-winsten"),
    "stacked quasibinomial": dict(metric="cancer_62d_pct", aggregate="ratio", design="controlled",
                                  comparators="all_other", controlled_method="stacked"),
    "difference ols-hac": dict(metric="agency_spend_gbp_k", design="controlled", comparators="all_other",
                               controlled_method="difference", model="ols-hac"),
    "aligned quasipoisson": dict(metric="rtt_waiting_list", design="controlled", comparators="all_other"),
    "aligned quasibinomial": dict(metric="cancer_62d_pct", aggregate="ratio", design="controlled",
                                  comparators="all_other"),
}


@pytest.fixture(scope="module")
def demo_table(demo_csv):
    return load_table(demo_csv)


def demo_params(demo_csv, **kw):
    raw = {"data": str(demo_csv), "units": ["RNA", "RL4", "RXK", "RBK"], "aggregate": "sum", "start": "2016-04",
           "end": "2025-03", "seasonality": "fourier2", "horizons": [12, 24],
           "interruptions": [{"name": "covid", "date": "2020-03", "terms": ["level", "slope"]},
                             {"name": "collaborative", "date": "2020-09", "terms": ["level", "slope"]}]}
    raw.update(kw)
    return params_from_dict(raw)


def max_rel_diff(new, old) -> float:
    """Largest difference relative to each value, or to its interval's half-width when that is larger
    (an effect of -3.6 patients with an interval of +-17,000 has no meaningful 8th significant digit)."""
    worst = 0.0
    for cols in (["absolute", "absolute_lower", "absolute_upper"], ["relative", "relative_lower", "relative_upper"],
                 ["absolute_p"]):
        a, b = new[cols].to_numpy(dtype=float), old[cols].to_numpy(dtype=float)
        half = (b[:, 2] - b[:, 1])[:, None] / 2 if len(cols) == 3 else 0.0
        scale = np.maximum(np.abs(b), half)
        assert np.array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(b)
        if ok.any():
            worst = max(worst, float(np.max(np.abs(a - b)[ok] / scale[ok])))
    return worst


def both_paths(demo_csv, table, max_placebos=8, **kw):
    p = demo_params(demo_csv, **kw)
    primary = evallib.analyse(p, data=table)
    new, notes_new = S.placebo_dates(p, table, primary, "collaborative", 12, max_placebos=max_placebos)
    old, notes_old = S._placebo_dates_per_analysis(p, table, primary, "collaborative", 12,
                                                   max_placebos=max_placebos)
    assert notes_new == notes_old
    return new, old


@pytest.mark.parametrize("case", list(CASES))
def test_batched_placebo_dates_equal_one_analyse_per_date(demo_csv, demo_table, case):
    new, old = both_paths(demo_csv, demo_table, **CASES[case])
    assert len(new) == 8
    assert list(new["date"]) == list(old["date"]) == ["2017-04", "2017-07", "2017-10", "2018-01", "2018-05",
                                                      "2018-08", "2018-11", "2019-02"]
    assert list(new["period"]) == list(old["period"])
    assert list(new["error"]) == list(old["error"]) == [""] * 8
    assert np.isfinite(old[NUM].to_numpy(dtype=float)[:, :4]).all()
    assert max_rel_diff(new, old) < 1e-8


FALLBACKS = {
    "single arima": dict(metric="agency_spend_gbp_k", design="single", comparators="none", model="arima"),
    "single negbin": dict(metric="rtt_waiting_list", design="single", comparators="none", model="negbin"),
    "single ols-hac prewhite": dict(metric="agency_spend_gbp_k", design="single", comparators="none",
                                    model="ols-hac", hac_lags="prewhite"),
    "stacked driscoll-kraay": dict(metric="agency_spend_gbp_k", design="controlled", comparators="all_other",
                                   controlled_method="stacked", model="ols-hac", controlled_cov="driscoll-kraay"),
}


@pytest.mark.parametrize("case", list(FALLBACKS))
def test_models_without_a_batched_form_fall_back_to_one_fit_per_date_with_the_same_numbers(demo_csv, demo_table,
                                                                                             case):
    new, old = both_paths(demo_csv, demo_table, max_placebos=3, **FALLBACKS[case])
    assert list(new["error"]) == [""] * 3
    assert max_rel_diff(new, old) < 1e-8


def test_a_date_that_cannot_be_fitted_keeps_the_reference_error(demo_csv, demo_table):
    # excluded months leave the earliest placebo date a first segment of 2 usable points
    kw = dict(metric="agency_spend_gbp_k", design="single", comparators="none", model="ols-hac",
              exclude=["2016-06/2017-05"])
    new, old = both_paths(demo_csv, demo_table, max_placebos=30, **kw)
    assert list(new["error"]) == list(old["error"])
    assert new["error"].iloc[0] == ("segment pre-placebo (2016-04 to 2017-03) of agency_spend_gbp_k has 2 usable "
                                    "point(s); at least 3 are needed to estimate a level and trend")
    ok = new["error"] == ""
    assert list(new.loc[~ok, "date"]) == ["2017-04", "2017-05", "2017-06"]      # 2, 2 and 2 usable points
    assert max_rel_diff(new[ok], old[ok]) < 1e-8


# --------------------------------------------------------------------------- the batched numerics
def _designs(T=60):
    t = np.arange(T)
    return [np.column_stack([np.ones(T), t, (t >= D) * 1.0, np.maximum(t - D + 1, 0) * (t >= D),
                             np.sin(2 * np.pi * t / 12), np.cos(2 * np.pi * t / 12)]) for D in (15, 25, 40)]


@pytest.mark.parametrize("model", ["ols-hac", "prais-winsten", "poisson", "quasipoisson", "binomial",
                                   "quasibinomial"])
def test_fit_designs_equals_fit_design_by_design(model):
    rng = np.random.default_rng(1)
    Xs = _designs()
    T = Xs[0].shape[0]
    e = np.zeros(T)
    for i in range(1, T):
        e[i] = 0.5 * e[i - 1] + rng.normal()
    y = 100 + 0.5 * np.arange(T) + 5 * e
    cnt = rng.poisson(np.exp(3 + 0.01 * np.arange(T))).astype(float)
    den = rng.integers(100, 200, T).astype(float)
    num = rng.binomial(den.astype(int), 0.3).astype(float)
    kw = {}
    if model in E.BINOMIAL_MODELS:
        ys, kw = None, dict(numerators=[num] * 3, denominators=[den] * 3)
    else:
        ys = [cnt] * 3 if model in E.COUNT_MODELS else [y] * 3
    fits = E.fit_designs(model, Xs, ys, **kw)
    for d, X in enumerate(Xs):
        ref = E.fit(model, X, None if ys is None else ys[d], numerator=num if ys is None else None,
                    denominator=den if ys is None else None)
        np.testing.assert_allclose(fits[d].params, ref.params, rtol=1e-9)
        np.testing.assert_allclose(fits[d].se, ref.se, rtol=1e-8)
        np.testing.assert_allclose(fits[d].fitted, ref.fitted, rtol=1e-9)
        assert fits[d].dispersion == pytest.approx(ref.dispersion, rel=1e-9)
        assert fits[d].df_resid == ref.df_resid
        for key, value in ref.extra.items():
            if isinstance(value, float):
                assert fits[d].extra[key] == pytest.approx(value, rel=1e-8), key


def test_fit_designs_returns_the_error_of_a_collinear_design_and_fits_the_others():
    Xs = _designs()
    Xs[1] = np.column_stack([Xs[1][:, :5], Xs[1][:, 2]])          # the level column twice
    y = np.random.default_rng(2).normal(size=60)
    fits = E.fit_designs("ols-hac", Xs, [y] * 3)
    assert isinstance(fits[1], Exception)
    assert str(fits[1]).startswith("the design is perfectly collinear")
    assert fits[0].params.shape == (6,) and fits[2].params.shape == (6,)
