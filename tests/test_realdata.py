"""Integration test on real NHS England RTT data (../shared/data/nhs-real).

The four Black Country trusts (RNA, RL4, RXK, RBK) combined (sum) against every
other NHS trust (3-character ODS code starting R) with a complete series,
2019-01 to 2025-02, COVID-19 at 2020-03 and the collaborative at 2020-09:

- ``waits_over_52_weeks`` (near zero before 2020-04 at every trust: the README's
  warning, asserted here) and ``waits_over_18_weeks`` (the steadier series);
- the synthetic control and the controlled design (comparative ITS), end to end.

The figures are printed (run with ``-s`` to see them). Skips when ../shared is absent.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evallib
from evallib.config import params_from_dict

SHARED = Path(__file__).resolve().parents[2] / "shared"
RTT = SHARED / "data" / "nhs-real" / "rtt_waits_over_18_52_weeks_by_trust_2019-01_2025-02.csv"
BLACK_COUNTRY = ["RNA", "RL4", "RXK", "RBK"]

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def table():
    if not RTT.exists():
        pytest.skip(f"real RTT panel not found at {RTT} because ../shared is absent")
    from evallib.data.table import as_table

    raw = pd.read_csv(RTT, dtype={"org_code": str})
    raw["period"] = raw["period"].str[:7]
    trusts = raw[raw["org_code"].str.match(r"^R[A-Z0-9]{2}$")]
    long = trusts.melt(id_vars=["period", "org_code", "org_name"],
                       value_vars=["waits_over_18_weeks", "waits_over_52_weeks"], var_name="metric",
                       value_name="value")
    long["numerator"] = np.nan
    long["denominator"] = np.nan
    return as_table(long, str(RTT))


def complete_comparators(tt, metric):
    f = tt.for_metric(metric)
    n = f["period"].nunique()
    counts = f.dropna(subset=["value"]).groupby("org_code")["period"].nunique()
    return sorted(c for c, k in counts.items() if k == n and c not in BLACK_COUNTRY)


def params(metric, design):
    return params_from_dict({
        "data": str(RTT), "metric": metric, "units": BLACK_COUNTRY, "aggregate": "sum",
        "comparators": "all_other", "design": design, "horizons": [12, 24],
        "interruptions": [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}]})


def _print_effects(label, res):
    eff = res.effects()
    print(f"\n=== {label}: design {res.design}, model {res.model}, n_obs {res.n_obs}")
    print(eff[["horizon", "period", "observed", "counterfactual", "absolute", "absolute_lower", "absolute_upper",
               "relative"]].to_string(index=False))
    for s in res.sentences():
        print("  " + s)
    for w in res.warnings:
        print("  warning: " + w)


@pytest.mark.parametrize("metric", ["waits_over_52_weeks", "waits_over_18_weeks"])
def test_synthetic_control_runs_end_to_end_on_real_rtt_waits(table, metric):
    res = evallib.analyse(params(metric, "synthetic"), data=table)
    d = res.diagnostics()
    _print_effects(f"synthetic control, {metric}", res)
    print(f"  pre-RMSPE {res.pre_rmspe:,.1f}  post-RMSPE {res.post_rmspe:,.1f}  ratio {res.rmspe_ratio:,.1f}  "
          f"placebo rank {res.placebo_rank} of {d['n_donors'] + 1}, p = {res.placebo_p:.3f}; pre R2 "
          f"{d['pre_r2']:.4f}; {d['n_donors']} donors ({d['n_dropped']} dropped), effective donors "
          f"{d['effective_donors']:.1f}")
    print(res.weights.head(8).to_string(index=False))

    comps = complete_comparators(table, metric)
    assert res.panel.donor_codes == comps                     # every other trust with a complete series
    assert not set(BLACK_COUNTRY) & set(res.panel.donor_codes)
    w = res.weights["weight"].to_numpy()
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-12)
    eff = res.effects()
    assert list(eff["horizon"]) == [12, 24]
    assert np.isfinite(eff[["observed", "counterfactual", "absolute", "absolute_lower", "absolute_upper"]]
                       .to_numpy()).all()
    assert (eff["absolute_lower"] < eff["absolute"]).all() and (eff["absolute"] < eff["absolute_upper"]).all()
    assert d["pre_r2"] > 0.95                                 # the pre-period is matched closely
    assert res.solver["kkt_violation"] < 1e-8 and d["solver"]["optimal"]
    assert 1 <= res.placebo_rank <= d["n_donors"] + 1
    assert res.placebo_p == pytest.approx(res.placebo_rank / (d["n_donors"] + 1))
    doc = json.loads(res.to_json())
    assert doc["design"] == "synthetic"
    assert sum(doc["synthetic"]["weights"].values()) == pytest.approx(1.0, abs=1e-9)


def test_synthetic_control_warns_that_52_week_waits_were_near_zero_before_covid(table):
    res = evallib.analyse(params("waits_over_52_weeks", "synthetic"), data=table)
    assert any(w.startswith("the treated series is near zero in the pre-period") for w in res.warnings)
    res18 = evallib.analyse(params("waits_over_18_weeks", "synthetic"), data=table)
    assert not any("near zero" in w for w in res18.warnings)


@pytest.mark.parametrize("metric", ["waits_over_52_weeks", "waits_over_18_weeks"])
def test_controlled_design_runs_end_to_end_on_real_rtt_waits(table, metric):

    res = evallib.analyse(params(metric, "controlled"), data=table)
    _print_effects(f"controlled (comparative ITS), {metric}", res)
    coefs = res.coefficients
    print(coefs[coefs["group"] == "difference"][["term", "estimate", "ci_lower", "ci_upper", "p"]]
          .to_string(index=False))
    assert res.design == "controlled"
    doc = json.loads(res.to_json())
    assert set(doc["groups"]) == {"treated", "control", "difference"}
    diff = doc["groups"]["difference"]
    for term in ("level_change[collaborative]", "slope_change[collaborative]"):
        assert np.isfinite(diff[term]["estimate"]) and diff[term]["se"] > 0
    eff = res.effects()
    coll = eff[eff["interruption"] == "collaborative"]
    assert list(coll["horizon"]) == [12, 24]
    assert np.isfinite(coll[["absolute", "absolute_lower", "absolute_upper", "counterfactual"]].to_numpy()).all()
    assert (coll["counterfactual"] > 0).all()
    assert any("comparator(s) dropped" in w for w in res.warnings)


def test_controlled_design_warns_that_52_week_waits_were_near_zero_before_covid(table):
    res = evallib.analyse(params("waits_over_52_weeks", "controlled"), data=table)
    assert res.model == "quasipoisson"
    assert any(w.startswith("the treated series is near zero in the pre-period (mean ") and
               "the aligned design compares it with the comparators on the log scale" in w
               for w in res.warnings)
    checks = {c["name"]: c for c in res.scorecard(with_alternatives=False)["checks"]}
    assert checks["pre_volume"]["value"] > 0
    res18 = evallib.analyse(params("waits_over_18_weeks", "controlled"), data=table)
    assert not any("near zero" in w for w in res18.warnings)
