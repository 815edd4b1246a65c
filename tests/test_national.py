"""The national pages (issue 17): the event-time design, its charts, the notebook and the national index.

- :mod:`evallib.its.national` on a planted staggered panel written as a tidy table and a membership
  table: the effect by months since joining is recovered within its intervals, alpha is honoured
  (90% narrower than 95%, and the same bootstrap standard errors), a planted pre-trend fails the
  pre-period test and turns the verdict unclear, and the panel rules (unit type, complete series,
  joined in the first month) drop trusts with their reasons;
- :func:`evallib.report.national.write_national_index` on a fake build folder (summary.json files
  written here): one table row per collaborative x measure analysis in collaborative order, one
  caterpillar chart per measure, links to every page and to each measure's event-time page, a
  failed analysis listed with its error page, and a sort script that needs no network;
- ``notebooks/national_event_time.ipynb`` through the batch worker (papermill, the in-process
  engine) on the demo table: results.json with the event-time table, summary.json, and the page.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evallib.exceptions import ParameterError
from evallib.its.national import analyse_event_time, build_panel, event_time_params
from evallib.stats import staggered as S

FIRST = pd.Period("2016-04", freq="M")
#: cohorts (panel month index: trusts), 10 trusts never join; T = 72 months (2016-04 to 2022-03)
COHORTS = {24: 8, 33: 8, 42: 8}
N_NEVER, T = 10, 72


def _effect(g: int, e: int) -> float:
    """Grows with time since joining and differs by cohort (where TWFE is biased)."""
    return (3.0 + 0.25 * e) * (1.5 if g == 24 else 1.0)


def _leaky(g: int, e: int) -> float:
    return 0.0


def write_planted(tmp: Path, effect=_effect, pre_trend: float = 0.0, seed: int = 11,
                  extra_rows: bool = False) -> tuple[Path, Path, np.ndarray]:
    """A tidy table (agency spend, £k) and a membership table from :func:`stats.staggered.simulate`;
    ``pre_trend``: cohort trusts drift by that much a month in the 12 months before joining."""
    Y, G, tau = S.simulate(COHORTS, N_NEVER, T, effect, rho=0.4, sd=1.0, unit_sd=3.0, seed=seed)
    if pre_trend:
        for j, g in enumerate(G):
            if g >= 0:
                for t in range(max(0, g - 12), g):
                    Y[t, j] += pre_trend * (t - (g - 12))
    Y = Y + 200.0
    codes = [f"ZZ{k + 1:03d}" for k in range(Y.shape[1])]
    labels = [str(FIRST + t) for t in range(T)]
    rows = [{"period": labels[t], "org_code": c, "org_name": f"Synthetic Trust {c}", "metric": "agency_spend_gbp_k",
             "value": round(float(Y[t, j]), 6), "numerator": "", "denominator": ""}
            for j, c in enumerate(codes) for t in range(T)]
    if extra_rows:
        # an independent-sector provider (another unit type) and a trust with a month missing
        rows += [{"period": labels[t], "org_code": "NQ1", "org_name": "Synthetic Independent", "metric":
                  "agency_spend_gbp_k", "value": 50.0, "numerator": "", "denominator": ""} for t in range(T)]
        rows += [{"period": labels[t], "org_code": "ZZ900", "org_name": "Synthetic Gap", "metric":
                  "agency_spend_gbp_k", "value": 60.0, "numerator": "", "denominator": ""} for t in range(T) if t != 30]
    data = tmp / "planted.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    lines = ["collaborative_id,collaborative_name,org_code,joined,left"]
    for j, (c, g) in enumerate(zip(codes, G)):
        if g >= 0:
            cid = f"p{g}_{j % 2}"
            lines.append(f"{cid},Planted Collaborative {g} {'A' if j % 2 else 'B'},{c},{labels[g]},")
    if extra_rows:
        lines.append(f"early,Joined At The Start,ZZ{len(codes):03d},{labels[0]},")
    mem = tmp / "members.csv"
    mem.write_text("\n".join(lines) + "\n")
    return data, mem, G


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    data, mem, G = write_planted(tmp)
    params = {"data": str(data), "memberships": str(mem), "metric": "agency_spend_gbp_k", "horizons": [12, 18],
              "leads": 8, "n_boot": 499, "seed": 3}
    return {"params": params, "G": G, "r05": analyse_event_time(params),
            "r10": analyse_event_time({**params, "alpha": 0.1})}


def test_planted_effect_by_event_time_is_recovered_within_its_intervals(planted):
    r = planted["r05"]
    et = r.event_table()
    post = et[et["e"] >= 0]
    assert list(post["e"]) == list(range(19))                       # 0..H, H = max(horizons) = 18
    assert list(et.loc[et["e"] < 0, "e"]) == [-8, -7, -6, -5, -4, -3, -2]
    truth = S.true_event_time(COHORTS, T, _effect, list(post["e"]))
    inside = (post["ci_lower"] <= truth) & (truth <= post["ci_upper"])
    band = (post["band_lower"] <= truth) & (truth <= post["band_upper"])
    assert band.all()                                               # the simultaneous band covers every month
    assert inside.mean() >= 0.85
    assert np.abs(post["estimate"] - truth).mean() < 0.6            # effects of 3.75 to 10.4 (£k)
    # the overall average of theta(0..18) covers the truth's mean
    o = r.overall()
    assert o["events"] == [0, 18]
    assert o["ci_lower"] <= truth.mean() <= o["ci_upper"]
    # 12 months after joining: cohorts 24 and 33 (8 + 8 trusts) and their comparators
    row = et[et["e"] == 12].iloc[0]
    assert (row["n_cohorts"], row["n_trusts"]) == (3, 24)
    assert row["ci_lower"] <= S.true_event_time(COHORTS, T, _effect, [12])[0] <= row["ci_upper"]
    # leads: parallel trends hold by construction, so the pre-period test passes and the verdict stands
    assert r.pre_trend["passed"] and r.failed_checks() == []
    assert r.headline_verdict() == "deterioration"                  # agency spend up: lower is better
    # the same numbers as the stats layer on the same panel
    direct = S.callaway_santanna(r.panel.Y, r.panel.cohort, events=(-8, 18), alpha=0.05, n_boot=499, seed=3)
    assert np.allclose(direct.event_time["estimate"], et["estimate"])
    assert r.twfe()["estimate"] == pytest.approx(S.twfe_static(r.panel.Y, r.panel.cohort)[0])
    # the average over every treated trust-month (CS "simple") covers its truth; the TWFE static coefficient,
    # read as that average, is biased here (effects grow with time and differ by cohort): 7.0 against 9.7
    cells = [(n, _effect(g, t - g)) for g, n in COHORTS.items() for t in range(g, T)]
    true_simple = sum(n * v for n, v in cells) / sum(n for n, _ in cells)
    s, tw = r.simple(), r.twfe()
    assert s["ci_lower"] <= true_simple <= s["ci_upper"]
    assert not (tw["ci_lower"] <= true_simple <= tw["ci_upper"])


def test_alpha_is_honoured_ninety_percent_narrower_than_ninety_five(planted):
    r05, r10 = planted["r05"], planted["r10"]
    w05 = r05.event_table()["ci_upper"] - r05.event_table()["ci_lower"]
    w10 = r10.event_table()["ci_upper"] - r10.event_table()["ci_lower"]
    assert (w10 < w05).all()
    assert np.allclose(w10 / w05, 1.644854 / 1.959964, rtol=1e-6)   # same bootstrap se, other z
    # a result asked at another alpha gives the run at that alpha
    assert np.allclose(r05.event_table(0.1)["ci_lower"], r10.event_table()["ci_lower"])
    ci05, ci10 = r05.conf_int(), r05.conf_int(0.1)
    assert ((ci10["ci_upper"] - ci10["ci_lower"]) < (ci05["ci_upper"] - ci05["ci_lower"])).all()
    o05, o10 = r05.overall(), r10.overall()
    assert o10["ci_upper"] - o10["ci_lower"] < o05["ci_upper"] - o05["ci_lower"]
    eff = r05.effects(alpha=0.1)
    assert list(eff["horizon"]) == [12, 18]
    assert np.allclose(eff["absolute_lower"], r10.effects()["absolute_lower"])
    assert "90% CI" in r10.sentences()[0] and "95% CI" in r05.sentences()[0]
    d = r10.to_dict()
    assert d["alpha"] == 0.1 and d["kind"] == "event_time"
    assert [x["e"] for x in d["event_time"]] == list(range(-8, -1)) + list(range(19))


def test_a_planted_pre_trend_fails_the_pre_period_test_and_the_verdict_is_unclear(tmp_path):
    data, mem, _ = write_planted(tmp_path, effect=_leaky, pre_trend=0.8, seed=5)
    r = analyse_event_time({"data": str(data), "memberships": str(mem), "metric": "agency_spend_gbp_k",
                            "horizons": [12], "leads": 8, "n_boot": 499})
    pt = r.pre_trend
    assert not pt["passed"] and pt["statistic"] > pt["critical"]
    assert r.failed_checks() == ["pre_trends"]
    assert r.headline_verdict() == "unclear"
    assert r.effect_dicts()[0]["verdict"] == "unclear" and r.effect_dicts()[0]["credible"] is False
    assert "pre-period test failed" in r.overall_sentence()


def test_panel_rules_unit_type_complete_series_and_joined_in_the_first_month(tmp_path):
    from evallib.data.memberships import load_memberships
    from evallib.data.table import load_table

    data, mem, G = write_planted(tmp_path, extra_rows=True)
    table = load_table(data)
    panel = build_panel(table, load_memberships(mem), "agency_spend_gbp_k")
    last = f"ZZ{len(G):03d}"
    assert panel.dropped == {
        "NQ1": "unit type independent_sector, not the members' nhs_trust",
        "ZZ900": "incomplete series: 1 of 72 months missing",
        last: "joined 2016-04, at or before the first month analysed 2016-04: no month before joining to measure from"}
    assert len(panel.codes) == len(G) - 1 and panel.n_never == N_NEVER - 1
    assert list(panel.cohort_frame()["n_trusts"]) == [8, 8, 8]
    assert list(panel.cohort_frame()["base"]) == ["2018-03", "2018-12", "2019-09"]
    # a window that starts later: the membership dates still decide the cohorts
    late = build_panel(table, load_memberships(mem), "agency_spend_gbp_k", start="2017-04")
    assert late.labels[0] == "2017-04" and sorted(set(late.cohort[late.cohort >= 0])) == [12, 21, 30]


def test_percentages_are_each_trusts_numerator_over_denominator(demo_dir):
    from evallib.data.memberships import load_memberships
    from evallib.data.table import load_table

    table = load_table(demo_dir / "metrics.csv")
    panel = build_panel(table, load_memberships(demo_dir / "collaboratives.csv"), "cancer_62d_pct")
    rows = table.for_metric("cancer_62d_pct")
    one = rows[rows["org_code"] == panel.codes[0]].set_index("period")
    want = 100 * one["numerator"] / one["denominator"]
    assert np.allclose(panel.Y[:, 0], want.reindex(panel.labels).to_numpy())
    assert panel.outcome == "each trust's percentage (numerator / denominator x 100)"


def test_params_keys_of_the_analysis_schema_are_accepted_unknown_keys_are_errors(tmp_path):
    p = event_time_params({"data": "d.csv", "memberships": "m.csv", "metric": "rtt_waiting_list",
                           "units": ["RNA"], "aggregate": "sum", "washout": "none"}, tmp_path, "x.yaml")
    assert p.washout is None and p.analysis_id == "national_rtt_waiting_list" and p.data == tmp_path / "d.csv"
    with pytest.raises(ParameterError, match=r"x.yaml: leadz: unknown key"):
        event_time_params({"data": "d.csv", "memberships": "m.csv", "metric": "m", "leadz": 3}, tmp_path, "x.yaml")
    with pytest.raises(ParameterError, match=r"x.yaml: washout: .*write A/B"):
        event_time_params({"data": "d.csv", "memberships": "m.csv", "metric": "m", "washout": "covid"}, tmp_path,
                          "x.yaml")


def test_washout_sensitivity_leaves_out_the_cohorts_measured_from_inside_it(planted):
    p = {**planted["params"], "washout": "2018-01/2018-12"}      # base months 2018-03 and 2018-12 inside
    r = analyse_event_time(p)
    assert r.washout_cohorts == ["2018-04", "2019-01"]
    w = r.washout_overall()
    assert w is not None and w["events"] == [0, 18]
    assert r.to_dict()["washout"]["cohorts_in_washout"] == ["2018-04", "2019-01"]
    # the main estimate keeps every cohort
    assert np.allclose(r.event_table()["estimate"], planted["r05"].event_table()["estimate"])


# ------------------------------------------------------------------ charts
def test_charts_draw_the_band_the_joining_month_and_every_collaborative(planted):
    import matplotlib.pyplot as plt

    from evallib.plots.national import caterpillar_chart, short_label

    fig, ax = planted["r05"].plot()
    texts = " ".join(t.get_text() for t in ax.texts) + " " + " ".join(t.get_text() for t in ax.get_legend().texts)
    assert "better \u2193" in texts and "95% simultaneous band" in texts and "average, months 0\u201318" in texts
    assert any(abs(line.get_xdata()[0] + 0.5) < 1e-9 for line in ax.lines if len(line.get_xdata()) == 2)
    plt.close(fig)
    rows = [{"label": f"Demo Collaborative {k:02d} of a Rather Long Provider Partnership Name", "estimate": k - 20.0,
             "lower": k - 25.0, "upper": k - 15.0, "verdict": "unclear"} for k in range(44)]
    fig, ax = caterpillar_chart(rows, label="Agency staff spend", unit="rel", improvement="decrease")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 44 and max(len(x) for x in labels) <= 38
    assert labels[-1] == short_label(rows[0]["label"], 38)          # lower is better: the lowest at the top
    plt.close(fig)


# ------------------------------------------------------------------ the national index
def fake_build(build: Path, collaboratives: int = 6, metrics=("rtt_waiting_list", "cancer_62d_pct")) -> dict:
    """A build folder with summary.json files as the notebooks write them, and its manifest."""
    rng = np.random.default_rng(0)
    analyses = []
    for k in range(collaboratives):
        cid, name = f"c{k + 1:02d}", f"Demo Collaborative {collaboratives - k:02d} (SYNTHETIC)"
        for m in metrics:
            aid = f"{cid}_{m}"
            failed = (k == 2 and m == metrics[0])
            analyses.append({"id": aid, "title": f"{name}: {m}", "metric": m, "status": "failed" if failed else "ok",
                             "error": "ModelError: too few clean comparators" if failed else None,
                             "page": f"{aid}/{aid}.html", "kind": "collaborative", "collaborative": cid,
                             "collaborative_name": name, "formation": f"2021-{k + 1:02d}"})
            if failed:
                continue
            pct = m.endswith("_pct")
            est = float(rng.normal(0, 2 if pct else 500))
            half = 1.5 if pct else 300.0
            h = {"horizon": 12, "absolute": est, "absolute_lower": est - half, "absolute_upper": est + half,
                 "relative": est / (70 if pct else 20000), "relative_lower": (est - half) / (70 if pct else 20000),
                 "relative_upper": (est + half) / (70 if pct else 20000)}
            (build / aid).mkdir(parents=True)
            (build / aid / "summary.json").write_text(json.dumps({
                "schema": "evallib.board-summary/1", "id": aid, "metric": m, "label": m.replace("_", " "),
                "unit": "%" if pct else "patients", "improvement": "increase" if pct else "decrease", "headline": h,
                "verdict": "unclear", "failed_checks": ["pre_trends"] if k == 1 else [], "alpha": 0.05}))
    for m in metrics:
        aid = f"national_{m}"
        analyses.append({"id": aid, "title": f"National {m}", "metric": m, "status": "ok", "error": None,
                         "page": f"{aid}/{aid}.html", "kind": "event_time"})
        (build / aid).mkdir(parents=True)
        (build / aid / "summary.json").write_text(json.dumps({
            "kind": "event_time", "metric": m, "sentence": f"NATIONAL SENTENCE {m}.",
            "at_horizons": [{"horizon": 12, "absolute": 1.0, "relative": -0.01}]}))
    return {"pack": {"title": "England national demo", "description": ""}, "synthetic": True, "national": True,
            "built_at": "2026-12-02T02:00:00Z", "executor": "inline", "summary": {"total": len(analyses), "cached": 0},
            "analyses": analyses}


def test_national_index_has_one_row_per_analysis_sorted_links_and_every_measures_chart(tmp_path):
    from evallib.report.national import national_rows, write_national_index

    manifest = fake_build(tmp_path)
    out = write_national_index(tmp_path, manifest)
    assert out == tmp_path / "index.html"
    html = out.read_text()
    body = html[html.index("<tbody>"):html.index("</tbody>")]
    rows = re.findall(r"<tr[^>]*data-order=\"(\d+)\"[^>]*>(.*?)</tr>", body, re.S)
    assert len(rows) == 12                                          # 6 collaboratives x 2 measures
    names = [re.search(r"<td data-sort=\"([^\"]*)\"", r).group(1) for _, r in rows]
    assert names == sorted(names) and names[0] == "Demo Collaborative 01 (SYNTHETIC)"
    assert [int(k) for k, _ in rows] == list(range(12))
    hrefs = re.findall(r"<td><a href=\"([^\"]+)\">", body)
    want = {f"{a['id']}/{a['id']}.html" for a in manifest["analyses"] if a["kind"] == "collaborative"}
    assert set(hrefs) == want and len(hrefs) == 12
    # default order: by collaborative, the pack's measures in order within it
    first = [re.findall(r"<td data-sort=\"([^\"]*)\"", r)[1] for _, r in rows[:2]]
    assert first == ["rtt waiting list", "cancer 62d pct"]
    # the failed analysis: its error page, its error, the failed badge
    failed = [r for _, r in rows if "error page" in r]
    assert len(failed) == 1 and "too few clean comparators" in failed[0] and "tag failed" in failed[0]
    assert sum("checks failed: pre trends" in r for _, r in rows) == 2
    # one caterpillar per measure, each with a link to its event-time page and its sentence
    assert len(re.findall(r"<img src=\"data:image/png;base64,", html)) == 2
    for m in ("rtt_waiting_list", "cancer_62d_pct"):
        assert f'href="national_{m}/national_{m}.html"' in html and f"NATIONAL SENTENCE {m}." in html
    # sortable offline: inline script, nothing fetched
    assert 'aria-sort="ascending"' in html and "addEventListener(\"click\"" in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?:", html)
    assert "@page { size: A4 portrait;" in html and "SYNTHETIC DATA" in html
    assert html.index("max-height: 225mm") > html.index("@page")    # one measure a page, chart fitted to A4
    rows_, events = national_rows(tmp_path, manifest)
    assert set(events) == {"rtt_waiting_list", "cancer_62d_pct"}
    # the charts' scale: % of expected for counts, percentage points for percentages
    for r in (r for r in rows_ if not r["failed"]):
        h = json.loads((tmp_path / r["id"] / "summary.json").read_text())["headline"]
        want = h["absolute"] if r["metric"] == "cancer_62d_pct" else 100 * h["relative"]
        assert r["chart"]["estimate"] == pytest.approx(want)


# ------------------------------------------------------------------ the notebook, through the batch worker
@pytest.mark.slow
def test_notebook_executes_end_to_end_on_the_demo_and_writes_the_event_time_table(demo_dir, tmp_path):
    from evallib import batch

    params = {"id": "national_rtt_waiting_list", "notebook": "national_event_time",
              "data": str(demo_dir / "metrics.csv"), "memberships": str(demo_dir / "collaboratives.csv"),
              "metric": "rtt_waiting_list", "washout": "2020-03/2021-03", "horizons": [12, 24], "n_boot": 299,
              "units": ["RNA"], "interruptions": [{"name": "collaborative", "date": "2020-09"}]}
    job = {"id": params["id"], "title": "National: RTT waiting list", "params": params, "synthetic": True,
           "notebook": str(batch.notebooks_dir() / "national_event_time.ipynb"), "engine": batch.ENGINE_INPROCESS,
           "back_href": "../index.html"}
    rec = batch.run_job(job, str(tmp_path / "job"))
    assert rec["status"] == "ok", rec["error"]
    svgs = [f for f in rec["outputs"] if f.endswith(".svg")]
    assert [f for f in rec["outputs"] if f not in svgs] == [
        "national_rtt_waiting_list.html", "national_rtt_waiting_list.ipynb", "params.yaml", "results.json",
        "summary.json"]
    # the PDF prints the event-time page: each of its charts has a vector twin named by the PNG's hash
    import base64
    import hashlib

    page = (tmp_path / "job" / "national_rtt_waiting_list.html").read_text(encoding="utf-8")
    pngs = [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]
    keys = {hashlib.sha256(b).hexdigest()[:16] + ".svg" for b in pngs}
    assert svgs and set(svgs) <= keys
    assert all((tmp_path / "job" / f).read_text(encoding="utf-8").lstrip().startswith("<?xml") for f in svgs)
    res = json.loads((tmp_path / "job" / "results.json").read_text())
    assert res["kind"] == "event_time" and res["method"] == "callaway_santanna" and res["alpha"] == 0.05
    # the demo's ten collaboratives join 2020-09 to 2022-07 and every trust joins: the last cohort is only
    # ever a comparator, so months 0..21 are estimable (2020-09 + 21 = 2022-06)
    assert [r["e"] for r in res["event_time"]] == list(range(-12, -1)) + list(range(22))
    assert res["overall"]["events"] == [0, 21]
    assert {c["cohort"] for c in res["cohorts"]} == {"2020-09", "2020-12", "2021-04", "2021-07", "2021-10",
                                                     "2022-01", "2022-04", "2022-07"}
    assert res["washout"]["cohorts_in_washout"] == ["2020-09", "2020-12", "2021-04"]
    assert [e["horizon"] for e in res["effects"]] == [12]           # 24 months: no cohort with a comparator
    assert any("no estimate 24 months after joining" in w for w in res["warnings"])
    summ = json.loads((tmp_path / "job" / "summary.json").read_text())
    assert summ["schema"] == "evallib.board-summary/1" and summ["kind"] == "event_time"
    assert summ["headline"]["average_over"] == [0, 21] and summ["verdict"] in ("unclear", "improvement")
    assert summ["at_horizons"][0]["horizon"] == 12 and summ["title"].startswith("RTT waiting list")
    page = (tmp_path / "job" / "national_rtt_waiting_list.html").read_text()
    assert "(Callaway &amp; Sant'Anna 2021)" in page and "J Econometrics 2021;225:200-30" in page
    assert "two-way fixed-effects" in page.lower() and "SYNTHETIC DATA" in page
    assert page.count("data:image/png;base64,") == 1                 # the event-time chart


# ------------------------------------------------------------------ the national demo's truth
@pytest.mark.slow
def test_national_demo_average_by_event_time_recovers_the_planted_average(tmp_path):
    """evallib/data/demo_national.py: 186 trusts (22 never join), nine cohorts 2020-09 to 2022-07, planted
    effects in some collaboratives; truth.json's ``national`` block is the trust-level ATT(e) computed from
    the series with and without the effects. Measured (seed of the generator, 999 draws): the 95% intervals
    of theta(0..24) cover the truth in 257 of 275 measure x month cells (93%); the average over months 0..24
    is covered in 10 of 11 measures; the eleventh, critical-care occupancy (no effect planted), sits 0.8 pp
    below zero at every month before and after joining, and its pre-period test fails, so its verdict is
    unclear rather than a false finding."""
    from evallib.data.demo_national import generate_national
    from evallib.data.memberships import load_memberships
    from evallib.data.table import load_table

    paths = generate_national(tmp_path / "england")
    truth = json.loads(paths["truth"].read_text())["national"]
    table = load_table(paths["metrics"])
    members = load_memberships(paths["collaboratives"]).validate_against(table)
    covered = cells = 0
    for m, t in truth.items():
        r = analyse_event_time({"data": str(paths["metrics"]), "memberships": str(paths["collaboratives"]),
                                "metric": m, "horizons": [0, 6, 12, 18, 24]}, table, members)
        post = r.event_table().query("e >= 0")
        want = np.array([t["event_time"][str(e)]["att"] for e in post["e"]])
        assert list(post["e"]) == list(range(25)) and (post["n_cohorts"] == 9).all()
        covered += int(((post["ci_lower"] <= want) & (want <= post["ci_upper"])).sum())
        cells += len(post)
        o = r.overall()
        # the average is recovered, or the design says it cannot be trusted
        assert (o["ci_lower"] <= want.mean() <= o["ci_upper"]) or r.failed_checks() == ["pre_trends"], m
        if r.failed_checks():
            assert r.headline_verdict() == "unclear"
    assert cells == 11 * 25 and covered / cells >= 0.9


@pytest.mark.slow
@pytest.mark.browser
def test_clicking_headers_sorts_the_table_in_chromium(tmp_path):
    """Headless Chromium runs the page's own script: effect, then measure, gives each measure's
    collaboratives in effect order (the sort is stable), failed analyses last."""
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    from evallib.report.national import write_national_index

    html = write_national_index(tmp_path, fake_build(tmp_path)).read_text()
    clicks = ('<script>var b = document.querySelectorAll("#national-table th .sort"); b[3].click(); b[1].click();'
              '</script></body>')
    (tmp_path / "clicked.html").write_text(html.replace("</body>", clicks))
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'p'}",
                          "--dump-dom", str(tmp_path / "clicked.html")], capture_output=True, text=True,
                         timeout=120).stdout
    body = dom[dom.index("<tbody>"):dom.index("</tbody>")]
    cells = [re.findall(r'<td[^>]*data-sort="([^"]*)"', r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]
    measures = [c[1] for c in cells]
    assert measures == sorted(measures, key=str.lower) and len(cells) == 12
    for m in set(measures):
        effects = [c[3] for c in cells if c[1] == m]
        numbers = [float(e) for e in effects if e]
        assert numbers == sorted(numbers) and effects[len(numbers):] == [""] * (len(effects) - len(numbers))
    assert 'aria-sort="ascending"' in dom[dom.index("<thead>"):dom.index("</thead>")]
