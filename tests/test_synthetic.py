"""Synthetic control: solver, planted weights and effects, placebo inference, errors, outputs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evallib.config import params_from_dict
from evallib.exceptions import DataError, ModelError, ParameterError
from evallib.its import synthetic as S

TIDY = ["period", "org_code", "org_name", "metric", "value", "numerator", "denominator"]
PLANTED = {"D00": 0.5, "D03": 0.3, "D07": 0.2}


def tidy_panel(J=12, T=60, start="2016-01", effect=0.0, fit_at=40, seed=1, level=1000.0, noise=0.0,
               treated=("TRT",), nan_donor=None):
    """Donors are random walks around ``level``; every treated unit is the planted
    combination of donors plus ``effect`` from period ``fit_at`` on (plus optional noise)."""
    rng = np.random.default_rng(seed)
    periods = [str(p) for p in pd.period_range(start, periods=T, freq="M")]
    X = level * (1 + 0.2 * rng.normal(size=(1, J))) + np.cumsum(rng.normal(0, 0.02 * level, (T, J)), axis=0)
    codes = [f"D{j:02d}" for j in range(J)]
    w = np.array([PLANTED.get(c, 0.0) for c in codes])
    rows = []
    for j, c in enumerate(codes):
        for t in range(T):
            v = np.nan if (c == nan_donor and t == 5) else X[t, j]
            rows.append((periods[t], c, f"Donor {j}", "m", v, np.nan, np.nan))
    for u in treated:
        y = X @ w + effect * (np.arange(T) >= fit_at) + noise * rng.normal(size=T)
        for t in range(T):
            rows.append((periods[t], u, u, "m", y[t], np.nan, np.nan))
    return pd.DataFrame(rows, columns=TIDY), periods


def params(periods, fit_at=40, **kw):
    raw = {"data": "synthetic-test.csv", "metric": "m", "units": ["TRT"], "comparators": "all_other",
           "design": "synthetic", "horizons": [0, 12],
           "interruptions": [{"name": "covid", "date": periods[fit_at - 6]},
                             {"name": "collaborative", "date": periods[fit_at]}]}
    raw.update(kw)
    return params_from_dict(raw)


# ----------------------------------------------------------------------------- solver
def _badly_scaled(seed):
    rng = np.random.default_rng(seed)
    T, J = 30, 20
    X = 1e6 * (1 + 0.05 * rng.normal(size=(1, J))) + np.cumsum(rng.normal(0, 2e3, (T, J)), axis=0)
    w = np.zeros(J)
    w[[2, 7, 11]] = [0.6, 0.3, 0.1]
    return X, w


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_solver_recovers_planted_weights_on_levels_of_a_million(seed):
    X, w = _badly_scaled(seed)
    got, info = S.solve_simplex_ls(X, X @ w)
    np.testing.assert_allclose(got, w, atol=1e-8)
    assert info["kkt_violation"] < 1e-9


def test_naive_slsqp_on_raw_levels_stalls_at_uniform_weights_which_the_solver_avoids():
    from scipy.optimize import minimize

    X, w = _badly_scaled(0)
    y = X @ w
    J = X.shape[1]
    r = minimize(lambda v: np.sum((X @ v - y) ** 2), np.full(J, 1 / J), method="SLSQP",
                 bounds=[(0, 1)] * J, constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1}])
    assert np.abs(r.x - 1 / J).max() < 0.01          # the problem the issue describes
    got, _ = S.solve_simplex_ls(X, y)
    assert np.abs(got - w).max() < 1e-8


def test_solver_puts_all_weight_on_the_largest_donor_when_treated_is_above_every_donor():
    X = np.array([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5], [1.2, 2.2, 3.1]])
    got, _ = S.solve_simplex_ls(X, X[:, 2] + 10.0)
    np.testing.assert_allclose(got, [0.0, 0.0, 1.0], atol=1e-12)


def test_solver_gives_uniform_weights_for_identical_donors():
    X = np.tile(np.arange(5.0)[:, None], (1, 4))
    got, info = S.solve_simplex_ls(X, np.arange(5.0) + 1)
    np.testing.assert_allclose(got, 0.25)
    assert info["method"] == "identical-donors"


def test_project_simplex_of_columns_matches_hand_computed_projections():
    V = np.array([[0.5, 2.0, -np.inf], [0.5, 0.0, 0.7], [0.5, -1.0, 0.7]])
    W = S.project_simplex(V)
    np.testing.assert_allclose(W[:, 0], [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(W[:, 1], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(W[:, 2], [0.0, 0.5, 0.5])


def test_solver_rejects_missing_values_with_a_message():
    X = np.array([[1.0, np.nan], [2.0, 3.0]])
    with pytest.raises(ModelError, match="missing or infinite values in the fitting rows"):
        S.solve_simplex_ls(X, np.array([1.0, 2.0]))


# ----------------------------------------------------------------------------- analysis
def test_analyse_synthetic_recovers_planted_weights_and_level_effect():
    df, periods = tidy_panel(effect=50.0)
    res = S.analyse_synthetic(params(periods), df)
    w = dict(zip(res.weights["org_code"], res.weights["weight"]))
    for code, planted in PLANTED.items():
        assert w[code] == pytest.approx(planted, abs=1e-6)
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-12)
    eff = res.effects()
    assert list(eff["horizon"]) == [0, 12]
    np.testing.assert_allclose(eff["absolute"], 50.0, atol=1e-6)
    np.testing.assert_allclose(eff["cumulative"], [50.0, 13 * 50.0], atol=1e-5)


def test_placebo_p_is_the_minimum_one_over_donors_plus_one_for_a_strong_effect():
    df, periods = tidy_panel(J=15, effect=300.0, noise=1.0)
    res = S.analyse_synthetic(params(periods), df)
    assert res.placebo_rank == 1
    assert res.placebo_p == pytest.approx(1 / 16)


def test_placebo_p_is_not_small_without_an_effect():
    df, periods = tidy_panel(J=15, effect=0.0, noise=5.0, seed=3)
    res = S.analyse_synthetic(params(periods), df)
    assert res.placebo_p > 0.2


def test_batched_placebos_match_refitting_each_donor_separately():
    df, periods = tidy_panel(J=10, effect=20.0, noise=2.0)
    res = S.analyse_synthetic(params(periods), df)
    X, fm, pm = res.scaled.X, res.panel.fit_mask, res.panel.post_mask
    for j in range(X.shape[1]):
        others = np.delete(np.arange(X.shape[1]), j)
        w, _ = S.fit_weights(X[:, j], X[:, others], fm)
        g = X[:, j] - X[:, others] @ w
        ratio = np.sqrt(np.mean(g[pm] ** 2)) / np.sqrt(np.mean(g[fm] ** 2))
        assert res.plc.ratio[j] == pytest.approx(ratio, rel=1e-6)
        np.testing.assert_allclose(res.plc.weights[others, j], w, atol=1e-9)


def test_sum_of_treated_units_is_matched_per_unit_and_reported_in_sum_units():
    df, periods = tidy_panel(treated=("T1", "T2"), effect=10.0)
    res = S.analyse_synthetic(params(periods, units=["T1", "T2"]), df)
    assert res.scaled.scale == "per_unit" and res.scaled.factor == 2.0
    w = dict(zip(res.weights["org_code"], res.weights["weight"]))
    assert w["D00"] == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_allclose(res.effects()["absolute"], 20.0, atol=1e-5)   # 2 units x 10


def test_each_trust_separately_never_uses_the_other_treated_trusts_as_donors():
    df, periods = tidy_panel(treated=("T1", "T2"), effect=10.0)
    out = S.analyse_synthetic_each(params(periods, units=["T1", "T2"]), df, placebo_time=False)
    assert list(out) == ["T1", "T2"]
    for res in out.values():
        assert not {"T1", "T2"} & set(res.panel.donor_codes)
        np.testing.assert_allclose(res.effects()["absolute"], 10.0, atol=1e-5)


def test_default_fit_period_ends_before_the_collaborative_not_the_first_interruption():
    df, periods = tidy_panel()
    res = S.analyse_synthetic(params(periods), df, placebo_time=False)
    assert res.diagnostics()["n_pre"] == 40
    res2 = S.analyse_synthetic(params(periods), df, fit_before=periods[34], placebo_time=False)
    assert res2.diagnostics()["n_pre"] == 34


def test_donor_with_a_missing_period_is_dropped_and_reported():
    df, periods = tidy_panel(nan_donor="D05")
    res = S.analyse_synthetic(params(periods), df, placebo_time=False)
    assert "D05" not in res.panel.donor_codes
    assert res.dropped == {"D05": "1 missing period(s) in 2016-01..2020-12"}
    assert "1 comparator(s) dropped from the donor pool for missing periods: D05" in res.warnings


def test_too_few_donors_is_a_data_error_naming_the_count():
    df, periods = tidy_panel(J=2, nan_donor="D01")
    with pytest.raises(DataError) as exc:
        S.analyse_synthetic(params(periods), df)
    assert str(exc.value) == ("<in-memory table>: synthetic control needs at least 2 donors with a complete "
                              "series of 'm'; found 1 (1 dropped for missing periods). Use comparators: "
                              "all_other, list more units, or narrow start/end")


def test_no_pre_period_is_a_model_error():
    df, periods = tidy_panel()
    with pytest.raises(ModelError) as exc:
        S.analyse_synthetic(params(periods), df, fit_before=periods[0])
    assert str(exc.value) == ("<in-memory table>: no pre-period for the synthetic control: no period of 'm' "
                              "with a treated value is before 2016-01 (fit_before); move start earlier or set "
                              "fit_before later")


def test_unknown_comparator_and_bad_scale_are_named():
    df, periods = tidy_panel()
    with pytest.raises(DataError, match=r"comparator\(s\) \['NOPE'\] have no rows for metric 'm'"):
        S.analyse_synthetic(params(periods, comparators=["D00", "NOPE"]), df)
    with pytest.raises(ParameterError, match="scale 'log' is not allowed"):
        S.analyse_synthetic(params(periods), df, scale="log")


def test_index_scale_refuses_a_non_positive_pre_period_mean():
    df, periods = tidy_panel()
    df.loc[df["org_code"] == "D04", "value"] = 0.0
    with pytest.raises(DataError, match=r"donor\(s\) \['D04'\] has a pre-period mean <= 0"):
        S.analyse_synthetic(params(periods), df, scale="index")


def test_extra_predictor_rows_keep_planted_weights_when_consistent():
    df, periods = tidy_panel(effect=5.0)
    pred = df[df["metric"] == "m"].copy()
    pred["metric"] = "size"
    res = S.analyse_synthetic(params(periods), pd.concat([df, pred]), predictors=["size"], placebo_time=False)
    w = dict(zip(res.weights["org_code"], res.weights["weight"]))
    assert w["D00"] == pytest.approx(0.5, abs=1e-6)


def test_placebo_in_time_finds_no_gap_before_the_real_date():
    df, periods = tidy_panel(effect=80.0, noise=1.0)
    res = S.analyse_synthetic(params(periods), df)
    pt = res.placebo_time
    assert len(pt) > 10
    assert pt["mean_gap"].abs().max() < 5.0          # effect 80 starts only at the real date


def test_results_json_has_the_synthetic_block_of_design_section_4():
    df, periods = tidy_panel(effect=50.0, noise=1.0)
    res = S.analyse_synthetic(params(periods), df)
    doc = json.loads(res.to_json())
    assert doc["design"] == "synthetic" and doc["schema"] == "evallib.results/1"
    assert set(doc["synthetic"]) == {"weights", "pre_rmspe", "post_rmspe", "rmspe_ratio", "placebo_rank",
                                     "placebo_p", "comparators"}
    # additive: the donors (no membership table: no clean periods)
    assert doc["synthetic"]["comparators"] == {"used": sorted(doc["synthetic"]["weights"]), "dropped": {}}
    assert sum(doc["synthetic"]["weights"].values()) == pytest.approx(1.0)
    e = doc["effects"][1]
    assert e["horizon"] == 12 and set(e["absolute"]) == {"estimate", "se", "ci", "p"}
    assert e["absolute"]["ci"][0] < 50.0 < e["absolute"]["ci"][1]
    assert doc["provenance"]["params"]["design"] == "synthetic"


def test_evallib_analyse_dispatches_design_synthetic_here():
    import evallib

    df, periods = tidy_panel(effect=50.0)
    res = evallib.analyse(params(periods), data=df)
    assert isinstance(res, S.SyntheticResult)
    assert res.sentences()[1].startswith("Twelve months after the collaborative formed (May 2019), m was")


def test_plots_draw_treated_synthetic_and_placebo_lines():
    import matplotlib

    matplotlib.use("Agg")
    df, periods = tidy_panel(J=8, effect=50.0, noise=1.0)
    res = S.analyse_synthetic(params(periods), df)
    fig, ax = res.plot()
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert "synthetic control" in labels and "TRT" in labels
    fig2, ax2 = res.plot(kind="placebo")
    assert any(ln.get_label() == "treated gap" for ln in ax2.get_lines())
    import matplotlib.pyplot as plt

    plt.close(fig)
    plt.close(fig2)


@pytest.mark.slow
def test_demo_recovery_synthetic_control_covers_planted_effects_and_finds_no_nulls():
    """Every planted effect and deliberate null of the demo's truth.json, synthetic control design."""
    from evallib.data.demo import generate_frame
    from evallib.data.table import as_table

    frame, truth = generate_frame()
    tt = as_table(frame)
    covered, planted_n, nulls_quiet, nulls_n = 0, 0, 0, 0
    lines = []
    for e in truth["effects"]:
        p = params_from_dict({
            "data": "demo.csv", "metric": e["metric"], "units": truth["treated_units"],
            "aggregate": e.get("aggregate", "sum"), "comparators": "all_other", "design": "synthetic",
            "horizons": [12, 24], "interruptions": truth["interruptions"]})
        res = S.analyse_synthetic(p, tt, placebo_time=False)
        for _, r in res.effects().iterrows():
            true = e["system"][str(r["horizon"])]["absolute"]
            cover = r["absolute_lower"] <= true <= r["absolute_upper"]
            if e["planted"]:
                planted_n += 1
                covered += cover
            lines.append(f"{e['metric']:32s} h{r['horizon']:<3d} truth {true:11.2f}  estimate {r['absolute']:11.2f} "
                         f"[{r['absolute_lower']:11.2f}, {r['absolute_upper']:11.2f}] covered {cover}")
        if not e["planted"]:
            nulls_n += 1
            nulls_quiet += res.placebo_p > p.alpha
    print("\n" + "\n".join(lines))
    print(f"planted effects covered: {covered}/{planted_n}; nulls with placebo p > alpha: {nulls_quiet}/{nulls_n}")
    assert covered >= 0.9 * planted_n
    assert nulls_quiet >= 0.9 * nulls_n


def test_results_json_is_byte_identical_across_runs_except_the_timestamp():
    df, periods = tidy_panel(effect=20.0, noise=2.0)
    docs = []
    for _ in range(2):
        d = S.analyse_synthetic(params(periods), df).to_dict()
        d["provenance"].pop("created")
        docs.append(json.dumps(d, sort_keys=False))
    assert docs[0] == docs[1]


def test_two_donors_fit_but_give_no_permutation_inference_and_say_so():
    df, periods = tidy_panel(J=2, effect=10.0)
    res = S.analyse_synthetic(params(periods), df)
    assert res.placebo_p is None and res.placebo_rank is None
    assert "placebo-in-space needs at least 3 donors; no permutation p-value" in res.warnings
    assert res.effects()["absolute_lower"].isna().all()
    doc = json.loads(res.to_json())
    assert doc["synthetic"]["placebo_p"] is None


def test_quarterly_series_are_matched_and_described_in_quarters():
    df, _ = tidy_panel(T=40, effect=30.0, fit_at=28)
    months = sorted(df["period"].unique())
    quarters = {m: str(pd.Period(m, "M").asfreq("Q")) for m in months[::3]}
    dq = df[df["period"].isin(quarters)].assign(period=lambda f: f["period"].map(quarters))
    qs = sorted(dq["period"].unique())
    p = params_from_dict({"data": "q.csv", "metric": "m", "units": ["TRT"], "comparators": "all_other",
                          "design": "synthetic", "horizons": [2],
                          "interruptions": [{"name": "collaborative", "date": qs[10]}]})
    res = S.analyse_synthetic(p, dq)
    assert res.effects()["absolute"].iloc[0] == pytest.approx(30.0, abs=1e-6)
    label = f"{qs[10][:4]} {qs[10][4:]}"                       # sentences say YYYY Qn
    assert res.sentences()[0].startswith(f"Two quarters after the collaborative formed ({label})")


def test_treated_series_near_zero_before_the_collaborative_gives_the_shared_warning():
    frame, periods = tidy_panel()
    trt = frame["org_code"] == "TRT"
    frame.loc[trt, "value"] = np.where(np.arange(60) < 40, 2.0, 400.0)    # mean 2 before, 400 after
    res = S.analyse_synthetic(params(periods), frame)
    assert ("the treated series is near zero in the pre-period (mean 2 against 400 after): the pre-period fit "
            "has almost nothing to match and the RMSPE ratio is inflated; read the gaps, not the ratio") in res.warnings
