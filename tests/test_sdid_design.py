"""``design: sdid`` and ``synthetic: {per_trust: true}`` (evallib/its/sdid.py, evallib/plots/sdid.py).

Reference numbers (issue 13): California Proposition 99, 1970-2000, 38 control states, the
panel of ``tests/reference/controlled_prop99.csv``; SDID -15.60, DID -27.35, SC -19.62
(Arkhangelsky et al. 2021, Table 1; synthdid R output in ``tests/reference/sdid_prop99.json``,
provenance in ``tests/reference/README.md``).

**The placebo SE is random.** The issue's band 7.0-9.8 for the SDID placebo SE holds for
the paper's own draws (R's ``sample`` after ``set.seed(12345)``, which give 8.37); it is
tested here through the stored R permutations applied to the fit that ``evallib`` makes from
the tidy table. evallib's default draws are numpy's (``sdid.seed``, default 0), which differ
from R's: the numerics engineer found that over seeds the 200-draw SE lands in 8.09-10.58 for
95% of seeds (the exact placebo SE over all 38 placebo states is 9.371, and a 200-draw SE
varies around it), so the seeded default is tested against that justified band, not 7.0-9.8.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evallib
from evallib.cli import main
from evallib.config import params_from_dict
from evallib.data.demo import generate_frame
from evallib.data.table import as_table
from evallib.exceptions import ModelError, ParameterError
from evallib.its.base import BaseResult
from evallib.its.sdid import PerTrustResult, SDIDResult
from evallib.stats import sdid as S

REF = Path(__file__).resolve().parent / "reference"
SD = json.loads((REF / "sdid_prop99.json").read_text())
RCAL = SD["synthdid_r"]["california"]
BC = ["RNA", "RL4", "RXK", "RBK"]
INTR = [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}]
METRICS = ["cancer_62d_pct", "cancer_fds_28d_pct", "rtt_waiting_list", "rtt_52w_waiters", "rtt_18w_pct",
           "rtt_waiting_list_dermatology", "rtt_waiting_list_ent", "rtt_waiting_list_ophthalmology",
           "critical_care_occupancy_pct", "agency_spend_gbp_k", "ae_4h_pct"]


# --------------------------------------------------------------------------- Proposition 99
PARAMS_YAML = """\
title: Cigarette sales per head, California
data: cigsales.csv
metric: cigsale
units: [California]
comparators: all_other
comparator_types: any
design: sdid
interruptions:
  - name: prop99
    date: "1989"
horizons: [0, 5, 11]
"""


@pytest.fixture(scope="module")
def prop99_files(tmp_path_factory) -> Path:
    """The tidy table (yearly periods YYYY) and a params file, written from the reference panel."""
    d = tmp_path_factory.mktemp("prop99_sdid")
    wide = pd.read_csv(REF / "controlled_prop99.csv")
    long = wide.melt(id_vars="year", var_name="org_code", value_name="value")
    long["period"] = long["year"].astype(str)
    long["metric"] = "cigsale"
    long[["period", "org_code", "metric", "value"]].to_csv(d / "cigsales.csv", index=False)
    (d / "params.yaml").write_text(PARAMS_YAML)
    return d


@pytest.fixture(scope="module")
def prop99_json(prop99_files) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["fit", str(prop99_files / "params.yaml"), "--json"]) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def prop99_res(prop99_files) -> SDIDResult:
    return evallib.analyse(prop99_files / "params.yaml")


def test_fit_json_on_prop99_reproduces_table1_estimates(prop99_json):
    s = prop99_json["sdid"]
    assert prop99_json["design"] == "sdid"
    assert s["estimate"]["estimate"] == pytest.approx(-15.60, abs=0.01)
    assert s["comparison"]["did"]["estimate"] == pytest.approx(-27.35, abs=0.01)
    assert s["comparison"]["sc"]["estimate"] == pytest.approx(-19.62, abs=0.02)
    # and the synthdid R values to far better than the tolerance (R used float32 data)
    assert s["estimate"]["estimate"] == pytest.approx(RCAL["sdid"]["estimate"], abs=1e-4)
    assert s["variance"] == "placebo" and s["replications"] == 38     # C(38, 1) <= 200: exact, every placebo


def test_fit_json_placebo_se_is_in_the_justified_seeded_band(prop99_json):
    """With one treated unit there are 38 placebo assignments, fewer than the default 200 replications,
    so the placebo variance is exact (every assignment once, no random draws): SE 9.371, inside the
    issue's 7.0-9.8 (the paper's 8.4 is one random 200-draw sample of the same distribution)."""
    s = prop99_json["sdid"]
    se = s["estimate"]["se"]
    assert 7.0 <= se <= 9.8 and se == pytest.approx(9.371, abs=0.005)
    lo, hi = s["estimate"]["ci"]
    est = s["estimate"]["estimate"]
    assert lo == pytest.approx(est - 1.959964 * se, abs=1e-4) and hi == pytest.approx(est + 1.959964 * se, abs=1e-4)
    assert s["seed"] is None                                 # exact: no random draws
    # DID's and SC's placebo SEs, same draws: near Table 1's 17.7 and 9.9 (the seeded draws differ from R's)
    assert 14.0 <= s["comparison"]["did"]["se"] <= 21.0
    assert 8.0 <= s["comparison"]["sc"]["se"] <= 13.0


def test_prop99_placebo_se_with_the_papers_r_draws_is_in_the_issue_band(prop99_res):
    """R's 200 permutations (set.seed(12345)) applied to the fit made from the tidy table give Table 1's SEs."""
    assert isinstance(prop99_res, SDIDResult) and isinstance(prop99_res, BaseResult)
    assert prop99_res.panel.codes == sorted(prop99_res.panel.codes)          # R's row order: alphabetical
    draws = np.array([[int(v) for v in r.split()] for r in RCAL["placebo_permutations"]["rows"]])
    v = S.sdid_variance(prop99_res.fit, "placebo", draws=draws)
    assert 7.0 <= v.se <= 9.8
    assert v.se == pytest.approx(RCAL["sdid"]["placebo_se"], abs=0.02)
    for k in ("did", "sc"):
        vk = S.sdid_variance(prop99_res.comparison[k][0], "placebo", draws=draws)
        assert round(vk.se, 1) == SD["published"]["table1"][k]["se"]


def test_prop99_weights_in_results_json(prop99_json):
    s = prop99_json["sdid"]
    tw = s["time_weights"]
    assert list(tw) == [str(y) for y in range(1970, 1989)]
    assert sum(tw[y] for y in ("1986", "1987", "1988")) == pytest.approx(1.0, abs=1e-9)
    assert [round(tw[y], 3) for y in ("1986", "1987", "1988")] == [0.366, 0.206, 0.427]
    uw = s["unit_weights"]
    assert len(uw) == 38 and "California" not in uw
    assert sum(uw.values()) == pytest.approx(1.0, abs=1e-9)
    assert uw == pytest.approx(RCAL["sdid"]["unit_weights"], abs=1e-5)
    for k in ("estimate", "se", "ci", "p"):
        assert k in s["estimate"] and k in s["comparison"]["did"] and k in s["comparison"]["sc"]


def test_prop99_effects_groups_and_system_level(prop99_json, prop99_res):
    d = prop99_json
    eff = {e["horizon"]: e for e in d["effects"]}
    assert sorted(eff) == [0, 5, 11]
    fit = prop99_res.fit
    # one treated unit, aggregate sum: the system effect is tau_t itself, per post-year
    for h, e in eff.items():
        assert e["period"] == str(1989 + h)
        assert e["absolute"]["estimate"] == pytest.approx(fit.effects[h], abs=1e-6)
        assert e["observed"] - e["counterfactual"] == pytest.approx(fit.effects[h], abs=1e-6)
        assert e["cumulative"]["estimate"] == pytest.approx(fit.effects[:h + 1].sum(), abs=1e-5)
        assert e["absolute"]["estimate"] == pytest.approx(RCAL["sdid"]["effects"][str(1989 + h)]
                                                          if str(1989 + h) in RCAL["sdid"]["effects"]
                                                          else list(RCAL["sdid"]["effects"].values())[h], abs=1e-4)
    g = d["groups"]["difference"]
    assert g["mean_effect[prop99]"]["estimate"] == pytest.approx(-15.60, abs=0.01)
    assert g["mean_effect[prop99]"]["se"] == pytest.approx(d["sdid"]["estimate"]["se"], rel=1e-9)
    assert set(g) == {"level_change[prop99]", "slope_change[prop99]", "mean_effect[prop99]"}
    assert d["sdid"]["system"]["estimate"] == pytest.approx(d["sdid"]["estimate"]["estimate"], abs=1e-9)
    assert d["provenance"]["created"] and d["provenance"]["params"]["design"] == "sdid"


def test_prop99_seeded_variance_is_reproducible_and_seed_sensitive(prop99_files, prop99_res):
    again = evallib.analyse(prop99_files / "params.yaml")
    assert again.var.se == prop99_res.var.se
    p = params_from_dict({**_prop99_dict(prop99_files), "sdid": {"seed": 7}})
    exact = evallib.analyse(p)                       # exact enumeration: the seed cannot matter
    assert exact.var.se == prop99_res.var.se
    few = {**_prop99_dict(prop99_files), "sdid": {"seed": 7, "replications": 30}}
    a = evallib.analyse(params_from_dict(few))        # fewer replications than placebos: random, seeded
    b = evallib.analyse(params_from_dict({**few, "sdid": {"seed": 8, "replications": 30}}))
    assert a.var.se != b.var.se and a.fit.estimate == prop99_res.fit.estimate
    assert a.to_dict()["sdid"]["seed"] == 7


def _prop99_dict(d: Path) -> dict:
    import yaml

    raw = yaml.safe_load(PARAMS_YAML)
    raw["data"] = str(d / "cigsales.csv")
    return raw


def test_prop99_jackknife_and_bootstrap_need_two_treated(prop99_files):
    for method in ("jackknife", "bootstrap"):
        p = params_from_dict({**_prop99_dict(prop99_files), "sdid": {"variance": method}})
        with pytest.raises(ModelError) as e:
            evallib.analyse(p)
        assert str(e.value) == (f"{prop99_files / 'cigsales.csv'}: design sdid with sdid.variance {method}: 1 treated "
                                f"unit found; the {method} needs at least 2 treated units: use sdid.variance: placebo")


# --------------------------------------------------------------------------- the demo
@pytest.fixture(scope="module")
def demo():
    import dataclasses

    frame, truth = generate_frame()
    table = dataclasses.replace(as_table(frame), synthetic=True)   # as the demo's sidecar says
    return table, {e["metric"]: e for e in truth["effects"]}


def demo_params(metric, **kw):
    agg = "ratio" if metric.endswith("_pct") else "sum"
    p = {"data": "demo.csv", "metric": metric, "units": BC, "aggregate": agg, "comparators": "all_other",
         "start": "2016-04", "end": "2025-03", "interruptions": INTR, "horizons": [0, 6, 12, 24], "design": "sdid"}
    p.update(kw)
    return params_from_dict(p)


@pytest.fixture(scope="module")
def demo_sdid(demo):
    table, _ = demo
    return {m: evallib.analyse(demo_params(m), table) for m in METRICS}


def test_demo_sdid_at_12_months_covers_every_planted_effect_and_flags_no_null(demo, demo_sdid):
    """Measured (seed 0, 200 placebos): all 11 intervals at 12 months cover the system-level truth; none of the 3
    nulls excludes zero; 4 of the 8 planted effects are distinguished from zero (cancer FDS, 18 weeks, dermatology,
    agency spend). SDID compares levels additively, so on the count metrics, whose comparators differ in size, its
    placebo intervals are 1.7 to 3.4 times as wide as the comparator-aligned design's (numbers in the issue note)."""
    _, truth = demo
    covered, flagged_nulls, found = [], [], []
    for m, res in demo_sdid.items():
        r = res.effects(horizons=[12]).iloc[0]
        tv = truth[m]["system"]["12"]["absolute"]
        if r["absolute_lower"] <= tv <= r["absolute_upper"]:
            covered.append(m)
        sig = r["absolute_lower"] > 0 or r["absolute_upper"] < 0
        if truth[m]["planted"] and sig and np.sign(r["absolute"]) == np.sign(tv):
            found.append(m)
        if not truth[m]["planted"] and sig:
            flagged_nulls.append(m)
    assert sorted(covered) == sorted(METRICS)
    assert flagged_nulls == []
    assert sorted(found) == sorted(["cancer_fds_28d_pct", "rtt_18w_pct", "rtt_waiting_list_dermatology",
                                    "agency_spend_gbp_k"])


def test_demo_system_level_for_a_sum_is_n_times_the_average_effect(demo_sdid):
    res = demo_sdid["agency_spend_gbp_k"]
    assert res.panel.factor == 4.0
    j = 12                                                  # 2021-09 is the 13th post-month
    e = res.effects(horizons=[12]).iloc[0]
    assert e["absolute"] == pytest.approx(4 * res.fit.effects[j], rel=1e-12)
    assert e["absolute_se"] == pytest.approx(4 * res.var.effects_se[j], rel=1e-12)
    # observed is the system total; the per-trust gaps add up to the system gap
    f = res.table.for_metric("agency_spend_gbp_k")
    tot = f[(f["period"] == "2021-09") & f["org_code"].isin(BC)]["value"].sum()
    assert e["observed"] == pytest.approx(tot, rel=1e-12)
    assert res.trust_gaps().loc["2021-09"].sum() == pytest.approx(e["absolute"], rel=1e-9)
    d = res.to_dict()["sdid"]
    assert d["system"]["estimate"] == pytest.approx(4 * d["estimate"]["estimate"], rel=1e-9)
    assert set(d["unit_weights"]) == set(res.panel.codes) and len(d["time_weights"]) == 53


def test_demo_system_level_for_a_ratio_is_the_system_rate(demo, demo_sdid):
    """Each trust's row is weighted by its denominator share, so the average treated row is the system's rate."""
    table, _ = demo
    res = demo_sdid["rtt_18w_pct"]
    assert res.panel.factor == 1.0
    f = table.for_metric("rtt_18w_pct")
    f = f[f["org_code"].isin(BC)].groupby("period")[["numerator", "denominator"]].sum()
    rate = 100 * f["numerator"] / f["denominator"]
    obs = pd.Series(res.panel.observed, index=res.panel.labels)
    assert np.abs(obs - rate.reindex(obs.index)).max() < 0.01
    # the effect is the share-weighted combination of the trusts' own gaps to the same comparators
    Dt = res.panel.Yt_fit / res.panel.Yt / 4                 # shares in each period
    pe = res.panel.Yt_fit[:, res.panel.keep].mean(axis=0) - res.fit.synthetic
    np.testing.assert_allclose(pe, (Dt[:, res.panel.keep] * (res.panel.Yt[:, res.panel.keep]
                                                             - res.fit.synthetic)).sum(axis=0), atol=1e-9)


def test_alpha_is_honoured(demo, demo_sdid):
    table, _ = demo
    base = demo_sdid["rtt_18w_pct"].effects(horizons=[12]).iloc[0]
    narrow = evallib.analyse(demo_params("rtt_18w_pct", alpha=0.1), table).effects(horizons=[12]).iloc[0]
    w95 = base["absolute_upper"] - base["absolute_lower"]
    w90 = narrow["absolute_upper"] - narrow["absolute_lower"]
    assert w90 < w95
    assert w90 / w95 == pytest.approx(1.644854 / 1.959964, rel=1e-5)
    assert narrow["absolute"] == base["absolute"]
    r = demo_sdid["rtt_18w_pct"]
    assert (r.effects(alpha=0.1)["absolute_upper"] < r.effects()["absolute_upper"]).all()
    assert "90% CI" in r.sentences(alpha=0.1)[0]


def test_demo_jackknife_and_bootstrap(demo):
    table, _ = demo
    jk = evallib.analyse(demo_params("agency_spend_gbp_k", sdid={"variance": "jackknife"}), table)
    assert jk.var.method == "jackknife" and jk.var.replications == 36 + 4
    reps = jk.var.replicates
    n = reps.size
    assert jk.var.se == pytest.approx(math.sqrt((n - 1) / n * ((reps - reps.mean()) ** 2).sum()), rel=1e-12)
    assert jk.to_dict()["sdid"]["variance"] == "jackknife"
    bs = evallib.analyse(demo_params("agency_spend_gbp_k", sdid={"variance": "bootstrap", "replications": 50}), table)
    assert bs.var.method == "bootstrap" and bs.var.replications == 50
    assert any("bootstrap variance is reliable only with many treated units" in w for w in bs.warnings)
    assert bs.fit.estimate == jk.fit.estimate


def test_results_json_is_strict_and_sentences_follow_the_one_verdict_rule(demo_sdid):
    res = demo_sdid["agency_spend_gbp_k"]
    doc = json.loads(res.to_json())
    assert doc["design"] == "sdid" and doc["model"] == "sdid"
    assert set(doc["sdid"]) >= {"estimate", "variance", "replications", "unit_weights", "time_weights", "comparison"}
    assert set(doc["sdid"]["comparison"]) == {"did", "sc"}
    eff12 = [e for e in doc["effects"] if e["horizon"] == 12][0]
    assert eff12["verdict"] == "improvement"          # spend is lower, and lower is better
    assert "an improvement" in eff12["sentence"]
    null = demo_sdid["ae_4h_pct"].effect_summary(horizons=[12])[0].iloc[0]
    assert null["verdict"] == "unclear"
    assert doc["diagnostics"]["n_pre"] == 53 and doc["diagnostics"]["n_post"] == 55


# --------------------------------------------------------------------------- bad input
def test_fewer_than_two_pre_periods_is_a_model_error(demo):
    table, _ = demo
    with pytest.raises(ModelError) as e:
        evallib.analyse(demo_params("agency_spend_gbp_k", start="2020-02",
                                    interruptions=[{"name": "collaborative", "date": "2020-03"}]), table)
    assert str(e.value) == ("<in-memory table>: design sdid: 1 usable pre-period(s) of agency_spend_gbp_k found before "
                            "collaborative (2020-03); at least 2 are needed (the noise level and the weights come "
                            "from pre-period changes): start the window earlier or shorten exclude")


def test_treated_unit_with_a_pre_period_gap_is_a_model_error(demo):
    table, _ = demo
    f = table.frame
    f = f[~((f["org_code"] == "RXK") & (f["metric"] == "agency_spend_gbp_k") & (f["period"] == "2018-06"))]
    with pytest.raises(ModelError) as e:
        evallib.analyse(demo_params("agency_spend_gbp_k"), as_table(f))
    assert str(e.value) == ("<in-memory table>: design sdid: treated unit 'RXK' has 1 missing value(s) of "
                            "agency_spend_gbp_k in the pre-period (first 2018-06); found 52 of the 53 periods, all 53 "
                            "are needed (a balanced panel): fill the gap, exclude the period (exclude:), or drop the "
                            "unit from units")


def test_fewer_comparators_than_the_placebo_needs_is_a_model_error(demo):
    table, _ = demo
    with pytest.raises(ModelError) as e:
        evallib.analyse(demo_params("agency_spend_gbp_k", comparators=["ZZ001", "ZZ002", "ZZ003", "ZZ004"]), table)
    assert str(e.value) == ("<in-memory table>: design sdid with sdid.variance placebo: 4 eligible comparator(s) of "
                            "agency_spend_gbp_k found for 4 treated unit(s); the placebo needs at least 5 (more "
                            "comparators than treated units): add comparators, use comparator_types: any, or "
                            "sdid.variance: jackknife")


def test_params_refuse_sdid_without_comparators_and_unknown_variance():
    base = {"data": "x.csv", "metric": "m", "units": ["A"], "interruptions": [{"name": "i", "date": "2020-01"}]}
    with pytest.raises(ParameterError, match="design sdid needs comparators"):
        params_from_dict({**base, "design": "sdid"})
    with pytest.raises(ParameterError, match=r"sdid.variance: value 'wild' is not allowed"):
        params_from_dict({**base, "design": "sdid", "comparators": "all_other", "sdid": {"variance": "wild"}})
    p = params_from_dict({**base, "design": "sdid", "comparators": "all_other"})
    assert (p.sdid.variance, p.sdid.replications, p.sdid.seed) == ("placebo", 200, 0)
    assert p.synthetic.per_trust is False


# --------------------------------------------------------------------------- per-trust synthetic controls
@pytest.fixture(scope="module")
def per_trust(demo):
    table, _ = demo
    return {m: evallib.analyse(demo_params(m, design="synthetic", synthetic={"per_trust": True}), table)
            for m in ("agency_spend_gbp_k", "ae_4h_pct")}


def test_per_trust_gaps_combine_into_the_system_effect(demo, per_trust):
    table, truth = demo
    res = per_trust["agency_spend_gbp_k"]
    assert isinstance(res, PerTrustResult) and isinstance(res, BaseResult)
    g = res.trust_gaps()
    assert list(g.columns) == BC
    # each trust's gap is its own value minus its own synthetic control
    Yc = res.panel.Yc[:, res.panel.keep]
    for k, u in enumerate(BC):
        np.testing.assert_allclose(g[u].to_numpy(), res.panel.Yt[k, res.panel.keep] - res.pu.weights[k] @ Yc,
                                   atol=1e-8)
        assert res.pu.weights[k].sum() == pytest.approx(1.0) and (res.pu.weights[k] >= 0).all()
    e = res.effects(horizons=[12]).iloc[0]
    assert e["absolute"] == pytest.approx(g.loc["2021-09"].sum(), rel=1e-12)          # aggregate sum: the total
    tv = truth["agency_spend_gbp_k"]["system"]["12"]["absolute"]
    # measured: -478 (95% CI -968 to 12; placebo-rank p 0.11) against the planted -384: covered, not detected
    assert e["absolute_lower"] <= tv <= e["absolute_upper"]
    assert e["absolute"] == pytest.approx(-478.0, abs=1.0) and 0.05 < e["absolute_p"] < 0.2
    n = per_trust["ae_4h_pct"].effects(horizons=[12]).iloc[0]
    assert n["absolute_lower"] <= 0 <= n["absolute_upper"]                             # the null is not flagged
    doc = json.loads(res.to_json())
    assert doc["design"] == "synthetic" and doc["method"] == "per_trust" and doc["synthetic"]["per_trust"] is True
    assert set(doc["synthetic"]["trusts"]) == set(BC)
    assert doc["synthetic"]["trusts"]["RNA"]["name"] == "The Dudley Group NHS Foundation Trust"
    assert doc["synthetic"]["replications"] == 200 and doc["synthetic"]["inference"] == "placebo"


def test_per_trust_ratio_weights_gaps_by_pre_period_denominator_share(per_trust):
    res = per_trust["ae_4h_pct"]
    w = res.pu.combine_weights
    assert res.pu.combine == "weights" and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(res.pu.system_gap, w @ res.pu.gaps, atol=1e-10)


def test_per_trust_refuses_fit_before(demo):
    table, _ = demo
    with pytest.raises(ParameterError, match="synthetic.fit_before 2020-03: per_trust fits every trust before"):
        evallib.analyse(demo_params("ae_4h_pct", design="synthetic",
                                    synthetic={"per_trust": True, "fit_before": "2020-03"}), table)


# --------------------------------------------------------------------------- charts
def test_trust_title_wraps_long_names_in_title_case():
    from evallib.plots.sdid import trust_title

    assert trust_title("THE DUDLEY GROUP NHS FOUNDATION TRUST") == "The Dudley Group NHS\nFoundation Trust"
    assert trust_title("sandwell and west birmingham hospitals nhs trust", 24) == \
        "Sandwell and West\nBirmingham Hospitals NHS\nTrust"
    assert trust_title("Walsall Healthcare NHS Trust", 40) == "Walsall Healthcare NHS Trust"


def test_charts_draw_every_kind(demo_sdid, per_trust):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = demo_sdid["rtt_18w_pct"]
    for kind in ("fit", "gap", "placebo", "weights", "per_trust"):
        fig, _ = res.plot(kind=kind)
        assert any(t.get_text() == "SYNTHETIC DATA" for t in fig.texts), kind
        plt.close(fig)
    fig, ax = res.plot(kind="fit")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "weighted comparators + SDID intercept" in labels and "weighted comparators" in labels
    plt.close(fig)
    fig, axes = per_trust["agency_spend_gbp_k"].plot()
    titles = [a.get_title(loc="left") for a in axes if a.get_visible()]
    assert titles[0] == "The Dudley Group NHS\nFoundation Trust (RNA)"
    assert titles[-1].startswith("System effect")
    assert len(titles) == 5
    plt.close(fig)
    with pytest.raises(ParameterError, match="plot kind 'pie' is not allowed"):
        res.plot(kind="pie")


def test_fit_summary_names_the_design_and_the_three_estimators(prop99_files, capsys):
    capsys.readouterr()
    assert main(["fit", str(prop99_files / "params.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Cigarette sales per head, California: synthetic difference-in-differences (1 treated, "
                          "38 comparators, 19 pre- and 12 post-periods)")
    for k, v in (("sdid", "-15.6"), ("did", "-27.3"), ("sc", "-19.6")):
        assert f"{k:>4} tau {v}" in out, k
