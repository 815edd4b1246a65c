"""Simulation power: size, agreement with the engine's estimators, MDE, from_data, errors."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evallib.config import params_from_dict
from evallib.exceptions import ParameterError
from evallib.its import estimators as E
from evallib.its import power as P


def test_zero_effect_power_is_alpha_within_monte_carlo_error_for_ols_with_white_noise():
    n_sim = 20000
    size = P.simulate_power(40, 40, 0.0, 1.0, 0.0, alpha=0.05, n_sim=n_sim, seed=11, model="ols")
    assert abs(size - 0.05) < 3 * math.sqrt(0.05 * 0.95 / n_sim)


def test_zero_effect_power_of_prais_winsten_is_near_alpha_and_below_newey_west_with_ar1_errors():
    # Prais-Winsten slightly over-rejects (rho is estimated; ~7% here); Newey-West far more
    size = P.simulate_power(60, 60, 0.5, 2.0, 0.0, n_sim=4000, seed=5, model="prais-winsten")
    hac = P.simulate_power(60, 60, 0.5, 2.0, 0.0, n_sim=4000, seed=5, model="ols-hac")
    assert 0.04 < size < 0.09
    assert hac > size + 0.03


def test_newey_west_is_oversized_with_a_short_post_period_as_reported():
    size = P.simulate_power(48, 12, 0.0, 1.0, 0.0, n_sim=4000, seed=1, model="ols-hac")
    assert size > 0.12          # documented: HAC standard errors are too small here


def test_size_adjusted_power_at_zero_effect_is_alpha():
    size = P.simulate_power(48, 12, 0.4, 1.0, 0.0, n_sim=4000, seed=1, model="ols-hac", size_adjusted=True)
    assert size == pytest.approx(0.05, abs=0.001)


@pytest.mark.parametrize("model,lags", [("ols-hac", "auto"), ("ols-hac", 3), ("prais-winsten", None)])
def test_batched_estimates_and_ses_match_the_engine_estimators(model, lags):
    X, j = P.power_design(30, 20, seasonality="fourier2", other_interruptions=(20,))
    Y = P.ar1_noise(50, 4, 0.5, 1.0, np.random.default_rng(2))
    if model == "ols-hac":
        b, se, _ = P._ols_stats(X, Y, j, model, lags)
    else:
        b, se, _ = P._pw_stats(X, Y, j)
    for s in range(4):
        f = E.fit(model, X, Y[:, s], **({"hac_lags": lags} if lags is not None else {}))
        assert b[s] == pytest.approx(f.params[j], abs=1e-8)
        assert se[s] == pytest.approx(f.se[j], rel=1e-7)


def test_power_grows_with_the_effect_and_reaches_one_for_a_huge_effect():
    cur = P.power_curve(36, 24, 0.3, 1.0, [0.0, 0.5, 1.0, 2.0, 10.0], n_sim=2000, model="prais-winsten")
    assert list(cur["power"]) == sorted(cur["power"])
    assert cur["power"].iloc[-1] == 1.0
    assert (cur["size"] == cur["power"].iloc[0]).all()


def test_mde_shrinks_as_the_post_period_grows():
    mdes = [P.minimum_detectable_effect(48, m, 0.4, 1.0, n_sim=2000, model="prais-winsten")
            for m in (6, 12, 24, 48)]
    assert all(a > b for a, b in zip(mdes, mdes[1:]))


def test_mde_has_the_requested_power_and_scales_with_sigma():
    mde = P.minimum_detectable_effect(36, 24, 0.2, 1.0, power=0.8, n_sim=2000, model="ols")
    assert P.simulate_power(36, 24, 0.2, 1.0, mde, n_sim=2000, model="ols") >= 0.8
    assert P.simulate_power(36, 24, 0.2, 1.0, 0.97 * mde, n_sim=2000, model="ols") < 0.8
    assert P.minimum_detectable_effect(36, 24, 0.2, 3.0, n_sim=2000, model="ols") == pytest.approx(3 * mde)


@pytest.mark.parametrize("effect_type", ["level", "slope"])
def test_white_noise_mde_is_close_to_the_textbook_formula(effect_type):
    # OLS, rho = 0: MDE = (t_{0.975} + t_{0.8}) * se(term); se from (X'X)^-1 exactly
    from scipy import stats

    X, j = P.power_design(40, 40, effect_type=effect_type)
    se = math.sqrt(np.linalg.inv(X.T @ X)[j, j])
    df = X.shape[0] - X.shape[1]
    approx = (stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)) * se
    got = P.minimum_detectable_effect(40, 40, 0.0, 1.0, n_sim=20000, model="ols", seed=3, effect_type=effect_type)
    assert got == pytest.approx(approx, rel=0.03)


def test_periods_until_detectable_finds_the_first_sufficient_post_length():
    eff = P.minimum_detectable_effect(48, 30, 0.3, 1.0, n_sim=1000, model="prais-winsten")
    n = P.post_periods_needed(48, 0.3, 1.0, eff, n_sim=1000, model="prais-winsten", max_post=120)
    assert n is not None and n <= 30
    assert P.minimum_detectable_effect(48, n, 0.3, 1.0, n_sim=1000, model="prais-winsten") <= eff
    assert P.minimum_detectable_effect(48, n - 1, 0.3, 1.0, n_sim=1000, model="prais-winsten") > eff
    assert P.periods_until_detectable(48, 6, 0.3, 1.0, 1e-3, n_sim=1000, model="prais-winsten",
                                      max_extra=12) is None


@pytest.mark.parametrize("kwargs,message", [
    ({"rho": 1.0}, "rho 1.0 must lie strictly between -1 and 1 (a stationary AR(1))"),
    ({"sigma": 0.0}, "sigma 0.0 must be positive (the residual standard deviation)"),
    ({"model": "arima"}, "model 'arima' is not available for power (expected one of ols, ols-hac, prais-winsten)"),
    ({"n_pre": 1}, "n_pre 1 must be an integer of at least 2 (a segment needs two points for its trend)"),
    ({"effect_type": "ramp"}, "effect_type 'ramp' is not allowed (expected level or slope)"),
])
def test_bad_inputs_raise_parameter_errors_with_exact_messages(kwargs, message):
    args = {"n_pre": 24, "n_post": 12, "rho": 0.3, "sigma": 1.0, "effect": 1.0}
    args.update(kwargs)
    with pytest.raises(ParameterError) as exc:
        P.simulate_power(**args)
    assert str(exc.value) == message


def _series_table(rho=0.5, sigma=3.0, n=72, seed=4):
    rng = np.random.default_rng(seed)
    e = P.ar1_noise(n, 1, rho, sigma, rng)[:, 0]
    periods = [str(p) for p in pd.period_range("2016-01", periods=n, freq="M")]
    y = 100 + 0.5 * np.arange(n) + e
    rows = [(p, "A", "", "m", v, np.nan, np.nan) for p, v in zip(periods, y)]
    return pd.DataFrame(rows, columns=["period", "org_code", "org_name", "metric", "value", "numerator",
                                       "denominator"]), periods


def test_from_data_recovers_sigma_and_rho_of_a_simulated_pre_period():
    df, periods = _series_table(n=400, rho=0.5, sigma=3.0)
    p = params_from_dict({"data": "x.csv", "metric": "m", "units": ["A"], "seasonality": "none",
                          "interruptions": [{"name": "collaborative", "date": periods[360]}]})
    pi = P.from_data(p, df)
    assert pi.n_pre == 360 and pi.n_post == 40
    assert pi.sigma == pytest.approx(3.0, rel=0.12)
    assert pi.rho == pytest.approx(0.5, abs=0.1)


def test_from_data_names_a_bad_residuals_option():
    df, periods = _series_table()
    p = params_from_dict({"data": "x.csv", "metric": "m", "units": ["A"],
                          "interruptions": [{"name": "collaborative", "date": periods[48]}]})
    with pytest.raises(ParameterError, match="residuals 'all' is not allowed"):
        P.from_data(p, df, residuals="all")


@pytest.mark.slow
def test_plan_on_the_demo_answers_the_months_question_for_each_scenario(demo_csv):
    p = params_from_dict({"data": str(demo_csv), "metric": "rtt_52w_waiters", "units": ["RNA", "RL4", "RXK", "RBK"],
                          "comparators": "all_other",
                          "interruptions": [{"name": "covid", "date": "2020-03"},
                                            {"name": "collaborative", "date": "2020-09"}]})
    plan = P.plan(p, max_extra=12, curve_step=12, n_sim=300, scenarios=P.DEFAULT_SCENARIOS[1:4])
    t = plan.table
    print("\n" + t[["scenario", "sigma", "rho", "mde_relative_now", "size", "post_periods_needed",
                    "extra_periods"]].to_string())
    print(plan.answer)
    assert list(t["primary"]) == [True, False, False]
    assert (t["n_post_now"] == 55).all()                       # 2020-09 .. 2025-03
    # COVID-19 differenced out is easier than keeping its terms; the single group is hardest
    assert t["mde_relative_now"].iloc[1] < t["mde_relative_now"].iloc[0] < t["mde_relative_now"].iloc[2]
    needed = t["post_periods_needed"].iloc[0]
    if needed is not None and np.isfinite(needed):
        assert plan.answer.startswith("Under the primary scenario") and f"after {int(needed)} months" in plan.answer
    assert set(plan.curve["n_post"]) >= {3, 55}


@pytest.mark.slow
def test_power_planning_notebook_executes_on_the_demo_and_states_its_answer(demo_csv, tmp_path):
    import papermill as pm

    from evallib.batch import notebooks_dir

    params = tmp_path / "p.yaml"
    params.write_text(f"""data: {demo_csv}
metric: rtt_52w_waiters
units: [RNA, RL4, RXK, RBK]
comparators: all_other
interruptions:
  - {{name: covid, date: 2020-03}}
  - {{name: collaborative, date: 2020-09}}
""")
    nb = pm.execute_notebook(str(notebooks_dir() / "power_planning.ipynb"), str(tmp_path / "out.ipynb"),
                             parameters={"params_path": str(params), "n_sim": 300, "max_extra": 12},
                             cwd=str(tmp_path), kernel_name="python3", progress_bar=False)
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "Under the primary scenario (controlled: comparator-aligned, placebo systems" in text
    assert "10% change in 52-week waiters" in text
    assert sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])) == 1


@pytest.mark.slow
def test_primary_scenario_reads_power_from_the_aligned_designs_placebo_systems(demo_csv):
    """The default plan's primary row is the comparator-aligned design: its minimum detectable change
    comes from the same placebo systems as its intervals, so it equals the half-width of the placebo
    interval of the mean post-formation gap times (z + z_power) / z, relative to the expected mean."""
    from scipy import stats

    from evallib.its.aligned import analyse_aligned
    from evallib.stats.aligned import placebo_interval

    p = params_from_dict({"data": str(demo_csv), "metric": "rtt_52w_waiters", "units": ["RNA", "RL4", "RXK", "RBK"],
                          "comparators": "all_other",
                          "interruptions": [{"name": "covid", "date": "2020-03"},
                                            {"name": "collaborative", "date": "2020-09"}]})
    plan = P.plan(p, max_extra=12, curve_step=12, n_sim=200, scenarios=P.DEFAULT_SCENARIOS[:1])
    r = plan.table.iloc[0]
    assert r["primary"] and r["series"] == "aligned" and r["n_post_now"] == 55
    af = analyse_aligned(p, demo_csv_table(demo_csv)).af
    null = af.abs_null[af.formation:].mean(axis=0)
    lo, hi = placebo_interval(0.0, null, 0.05, af.factor)
    z = stats.norm.ppf(0.975)
    expect = (hi - lo) / 2 / z * (z + stats.norm.ppf(0.8)) / af.cf[af.formation:].mean()
    assert r["mde_relative_now"] == pytest.approx(expect, rel=1e-9)
    assert 0.05 < r["mde_relative_now"] < 0.5
    assert "within the data to 2025-03" in plan.answer or "after" in plan.answer


def demo_csv_table(path):
    from evallib.data.table import load_table

    return load_table(path)
