"""The comparator-aligned design (evallib/its/aligned.py): planted effects, size, errors, contracts."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import evallib
from evallib.config import params_from_dict
from evallib.data.demo import generate_frame
from evallib.data.table import as_table
from evallib.exceptions import ModelError
from evallib.its.aligned import AlignedResult, unit_type
from evallib.its.base import BaseResult
from evallib.stats.simulate import aligned_replicate

BC = ["RNA", "RL4", "RXK", "RBK"]
INTR = [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}]


@pytest.fixture(scope="module")
def demo():
    frame, truth = generate_frame()
    return as_table(frame, "demo.csv"), {e["metric"]: e for e in truth["effects"]}


def demo_params(metric, **kw):
    agg = "ratio" if metric.endswith("_pct") else "sum"
    p = {"data": "demo.csv", "metric": metric, "units": BC, "aggregate": agg, "comparators": "all_other",
         "start": "2016-04", "end": "2025-03", "interruptions": INTR, "horizons": [0, 6, 12, 24]}
    p.update(kw)
    return params_from_dict(p)


METRICS = ["cancer_62d_pct", "cancer_fds_28d_pct", "rtt_waiting_list", "rtt_52w_waiters", "rtt_18w_pct",
           "rtt_waiting_list_dermatology", "rtt_waiting_list_ent", "rtt_waiting_list_ophthalmology",
           "critical_care_occupancy_pct", "agency_spend_gbp_k", "ae_4h_pct"]


@pytest.fixture(scope="module")
def demo_results(demo):
    table, truth = demo
    return {m: evallib.analyse(demo_params(m), table) for m in METRICS}


def test_demo_recovers_planted_effects_at_12_months(demo, demo_results):
    """7 of the 8 planted effects are distinguished from zero in the right direction at 12 months
    (cancer 62-day is not: its single-month binomial noise gives an MDE of about 8 points against a
    planted 3.6), none of the three deliberate nulls is, and 41 of 44 intervals cover the truth (93%;
    a 95% interval misses one time in twenty: dermatology at 12 and 24 months, critical care at 24)."""
    _, truth = demo
    found, nulls_flagged, covered, total = [], [], 0, 0
    for m, res in demo_results.items():
        assert isinstance(res, AlignedResult) and isinstance(res, BaseResult)
        eff = res.effects()
        for r in eff.to_dict("records"):
            tv = truth[m]["system"][str(r["horizon"])]["absolute"]
            covered += r["absolute_lower"] <= tv <= r["absolute_upper"]
            total += 1
        r12 = eff[eff["horizon"] == 12].iloc[0]
        sig = r12["absolute_lower"] > 0 or r12["absolute_upper"] < 0
        if truth[m]["planted"]:
            t12 = truth[m]["system"]["12"]["absolute"]
            if sig and np.sign(r12["absolute"]) == np.sign(t12):
                found.append(m)
        elif sig:
            nulls_flagged.append(m)
    assert sorted(found) == sorted(["cancer_fds_28d_pct", "rtt_waiting_list", "rtt_52w_waiters", "rtt_18w_pct",
                                    "rtt_waiting_list_dermatology", "rtt_waiting_list_ophthalmology",
                                    "agency_spend_gbp_k"])
    assert nulls_flagged == []
    assert total == 44 and covered >= 41


def test_demo_52_week_counterfactual_follows_the_comparators(demo_results):
    """No runaway: the expected line stays within the observed range of the series (the stacked model's
    line ran thousands of patients away from the points after 2021)."""
    res = demo_results["rtt_52w_waiters"]
    cf = res.counterfactual()
    post = cf.iloc[res.af.formation:]
    obs = cf["observed"].to_numpy()
    assert post["counterfactual"].max() < 1.5 * np.nanmax(obs)
    assert (post["counterfactual"] > 0).all()
    rel = (post["observed"] - post["counterfactual"]).abs() / post["counterfactual"]
    assert rel.median() < 0.35


def test_alpha_is_honoured(demo_results):
    res = demo_results["rtt_waiting_list"]
    e05, e10 = res.effects(horizons=[12]), res.effects(horizons=[12], alpha=0.1)
    w05 = float(e05["absolute_upper"].iloc[0] - e05["absolute_lower"].iloc[0])
    w10 = float(e10["absolute_upper"].iloc[0] - e10["absolute_lower"].iloc[0])
    assert 0 < w10 < w05
    sf05, sf10 = res.summary_frame(), res.summary_frame(alpha=0.1)
    d05 = sf05[sf05["group"] == "difference"]
    d10 = sf10[sf10["group"] == "difference"]
    assert ((d10["ci_upper"] - d10["ci_lower"]).to_numpy() < (d05["ci_upper"] - d05["ci_lower"]).to_numpy()).all()
    assert "90% CI" in res.sentence(e10.iloc[0].to_dict(), alpha=0.1)


def test_results_json_has_scorecard_event_study_and_groups(demo_results):
    doc = json.loads(demo_results["agency_spend_gbp_k"].to_json())
    assert doc["design"] == "controlled" and doc["method"] == "aligned"
    assert set(doc["groups"]) == {"treated", "control", "difference"}
    lvl = doc["groups"]["difference"]["level_change[collaborative]"]
    assert lvl["se"] > 0 and lvl["ci"][0] < lvl["estimate"] < lvl["ci"][1]
    names = [c["name"] for c in doc["scorecard"]["checks"]]
    assert names == ["pre_fit", "pre_trend", "placebo_fit_rank", "placebo_rank", "residual_autocorrelation",
                     "mde", "agreement"]
    assert doc["scorecard"]["verdict"] == "improvement" and doc["scorecard"]["failed"] == []
    assert doc["aligned"]["inference"]["placebos"] == 500
    assert len(doc["aligned"]["event_study"]) == 108
    assert doc["aligned"]["comparators"]["used"][:2] == ["ZZ001", "ZZ002"]
    assert all(e["verdict"] in ("improvement", "unclear") for e in doc["effects"])


def test_failed_guard_turns_the_verdict_unclear(demo, demo_results):
    """A system that drifts away from its comparators before formation fails the pre-trend check,
    and its verdict is unclear even though its interval excludes zero."""
    table, _ = demo
    f = table.frame.copy()
    m = (f["metric"] == "agency_spend_gbp_k") & f["org_code"].isin(BC)
    t = f.loc[m, "period"].map(lambda p: (int(p[:4]) - 2016) * 12 + int(p[5:7]) - 4).to_numpy()
    bump = np.where((t >= 41) & (t < 53), -40.0 * (t - 40), 0.0)   # a year of divergence before 2020-09
    f.loc[m, "value"] = f.loc[m, "value"].to_numpy() + bump
    res = evallib.analyse(demo_params("agency_spend_gbp_k"), as_table(f, "demo-drift.csv"))
    assert "pre_trend" in res.failed_checks()
    r12 = res.effects(horizons=[12]).iloc[0].to_dict()
    assert r12["absolute_lower"] > 0 or r12["absolute_upper"] < 0
    assert res.verdict_of(r12) == "unclear"
    assert "not stated as a finding because the check(s) pre_trend" in res.sentence(r12)


def test_batched_placebo_equals_refitting_that_placebo_as_the_treated_system(demo):
    """The placebo distribution is the same estimator: refitting placebo system k through analyse(),
    with its members as the treated units and the other comparators as comparators, gives its gap."""
    table, _ = demo
    p = demo_params("rtt_waiting_list")
    res = evallib.analyse(p, table)
    k = 7
    members = [res.af.codes[j] for j in np.flatnonzero(res.af.members[:, k])]
    others = [c for c in res.af.codes if c not in members]
    sub = as_table(table.frame[~table.frame["org_code"].isin(BC)], "demo-placebo.csv")
    r2 = evallib.analyse(demo_params("rtt_waiting_list", units=members, comparators=others), sub)
    g_batched = res.af.inference.gaps[:, k]
    g_refit = r2.af.inference.gap0
    assert np.allclose(g_batched, g_refit, atol=1e-9)


def test_eligibility_drops_other_unit_types_incomplete_and_tiny_comparators(demo):
    table, _ = demo
    f = table.frame
    extra = f[(f["metric"] == "rtt_waiting_list") & (f["org_code"] == "ZZ001")].copy()
    clinic = extra.assign(org_code="NT4", org_name="AN INDEPENDENT CLINIC")
    tiny = extra.assign(org_code="RZZ", value=extra["value"] * 0.01)
    gappy = extra.assign(org_code="RYY").iloc[3:]
    t2 = as_table(pd.concat([f, clinic, tiny, gappy], ignore_index=True), "demo-plus.csv")
    res = evallib.analyse(demo_params("rtt_waiting_list", horizons=[12]), t2)
    d = res.diagnostics()["comparators_dropped"]
    assert d["NT4"] == "unit type independent_sector, not nhs_trust like the treated units"
    assert d["RYY"] == "incomplete series over 2016-04 to 2025-03"
    assert d["RZZ"] == "volume 257 before formation is under 0.1 of the treated units' average 28,200"
    assert res.n_comparators == 36
    assert unit_type("RNA") == "nhs_trust" and unit_type("AAV02") == "other"


def test_too_few_comparators_is_a_model_error_with_counts(demo):
    table, _ = demo
    with pytest.raises(ModelError, match=re.escape(
            "placebo inference for 4 treated unit(s) needs at least 39 distinct placebo systems and 2 comparators "
            "outside each; found 6 eligible comparator(s) (15 placebo systems)")):
        evallib.analyse(demo_params("rtt_waiting_list", comparators=[f"ZZ{k:03d}" for k in range(1, 7)]), table)


def test_short_pre_period_is_a_model_error(demo):
    table, _ = demo
    with pytest.raises(ModelError, match=re.escape(
            "the treated rtt_waiting_list has 5 usable period(s) before collaborative (2020-09); the aligned design "
            "needs at least 6")):
        evallib.analyse(demo_params("rtt_waiting_list", start="2020-04",
                                    interruptions=[{"name": "collaborative", "date": "2020-09"}]), table)


@pytest.mark.parametrize("kind", ["continuous", "count", "proportion"])
def test_simulated_size_and_coverage(kind):
    """No effect, each unit its own COVID-19 response, AR(1) noise: the 12-month test rejects about 5%
    of the time and the interval covers the truth about 95% (200 replications; the full grid is
    simulations/aligned.py)."""
    reps = 200
    runs = [aligned_replicate(kind, 36, 0.0, 9000 + r, placebos=300) for r in range(reps)]
    rej = sum(x[0] for x in runs)
    cov = sum(x[1] for x in runs)
    assert 0.02 <= rej / reps <= 0.10          # 200 replications: a 5% size reads 2-8% nine times in ten
    assert cov / reps >= 0.90


def test_matched_comparators_keep_the_nearest_and_report_balance(demo):
    table, _ = demo
    res = evallib.analyse(demo_params("rtt_waiting_list", comparators="matched", horizons=[12]), table)
    assert res.n_comparators == 12                          # max(10, 36 // 3)
    bal = res.af.comparators.balance
    assert list(bal["feature"]) == ["log pre-formation level (per unit)",
                                    "pre-formation trend (share of level per period)",
                                    "pre-formation variability (CV)"]
    assert (bal["std diff (matched)"].abs().sum() < bal["std diff (all)"].abs().sum())
    dropped = res.diagnostics()["comparators_dropped"]
    assert sum(v.startswith("not among the nearest matches") for v in dropped.values()) == 24
    doc = json.loads(res.to_json())
    assert len(doc["aligned"]["balance"]) == 3


def test_leave_one_comparator_out_brackets_the_estimate(demo_results):
    res = demo_results["agency_spend_gbp_k"]
    loo = res.leave_one_out()
    assert len(loo) == 36 and loo["estimate"].notna().all()
    e12 = float(res.effects(horizons=[12])["absolute"].iloc[0])
    assert loo["estimate"].min() <= e12 <= loo["estimate"].max()
    assert (loo["estimate"].max() - loo["estimate"].min()) < 0.5 * abs(e12)
