"""``comparators: not_yet_treated`` in the synthetic control and SDID (one donor pool each): the
window ends at the last clean period, the latest reported horizon with enough clean comparators, and
the donors are the comparators clean through it (evallib/its/comparators.py ``clean_window``)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import evallib
from evallib.config import params_from_dict
from evallib.data.demo import generate_frame, memberships_csv
from evallib.data.table import as_table
from evallib.exceptions import ModelError

BC = ["RNA", "RL4", "RXK", "RBK"]
INTR = [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}]
# demo collaboratives: ZZ001-003 join 2020-12, ZZ004-007 2021-04, ZZ008-012 2021-07, ZZ013-016 2021-10,
# ZZ017-020 2022-01, ZZ021-028 2022-04, ZZ029-036 2022-07 (evallib/data/demo.py); RNA, RL4, RXK, RBK 2020-09
ZZ = [f"ZZ{k:03d}" for k in range(1, 37)]
JOINED = {**{c: "2020-12" for c in ZZ[0:3]}, **{c: "2021-04" for c in ZZ[3:7]}, **{c: "2021-07" for c in ZZ[7:12]},
          **{c: "2021-10" for c in ZZ[12:16]}, **{c: "2022-01" for c in ZZ[16:20]},
          **{c: "2022-04" for c in ZZ[20:28]}, **{c: "2022-07" for c in ZZ[28:36]}}
CLEAN_UNTIL = {"2020-12": "2020-11", "2021-04": "2021-03", "2021-07": "2021-06", "2021-10": "2021-09",
               "2022-01": "2021-12", "2022-04": "2022-03", "2022-07": "2022-06"}
DESIGNS = {"sdid": ("design sdid", 5), "synthetic": ("synthetic", 2), "per_trust": ("synthetic per_trust", 5)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    frame, _ = generate_frame()
    d = tmp_path_factory.mktemp("nytd")
    (d / "collaboratives.csv").write_text(memberships_csv())
    return frame, as_table(frame, "demo.csv"), d


def params(d, design, **kw):
    p = {"data": "demo.csv", "metric": "rtt_waiting_list", "units": BC, "aggregate": "sum",
         "memberships": str(d / "collaboratives.csv"), "start": "2016-04", "end": "2025-03",
         "interruptions": INTR, "horizons": [0, 6, 12, 24], "design": "synthetic" if design == "per_trust" else design,
         "sdid": {"replications": 50}}
    if design == "per_trust":
        p["synthetic"] = {"per_trust": True}
    p.update(kw)
    return params_from_dict(p)


def block(res):
    doc = res.to_dict()
    return doc, (doc["sdid"] if "sdid" in doc else doc["synthetic"])["comparators"]


def numbers(doc):
    doc = json.loads(json.dumps(doc))
    doc.pop("provenance")
    return doc


@pytest.mark.parametrize("design", list(DESIGNS))
@pytest.mark.parametrize("horizons,last,donors", [
    ([0], "2020-09", ZZ),                       # all 36 clean at formation
    ([0, 6], "2021-03", ZZ[3:]),                # demo_c01 joined 2020-12
    ([0, 6, 12, 24], "2021-09", ZZ[12:]),       # 24 (2022-09): nobody clean; 12 (2021-09): 24 clean
    ([0, 21], "2022-06", ZZ[28:]),              # the last 8 are clean through 2022-06
])
def test_the_donors_are_those_clean_through_the_last_reported_horizon(demo, design, horizons, last, donors):
    _, table, d = demo
    res = evallib.analyse(params(d, design, horizons=horizons), table)
    doc, comp = block(res)
    assert comp["not_yet_treated"] is True
    assert comp["last_clean_period"] == last
    assert comp["used"] == donors
    assert doc["periods"]["last"] == last                      # nothing after it is read
    assert comp["clean_until"]["ZZ001"] == "2020-11" and comp["clean_until"]["ZZ036"] == "2022-06"
    assert all(comp["clean_until"][c] >= last for c in donors)
    for c in set(ZZ) - set(donors):
        assert comp["dropped"][c] == (f"joined a collaborative after formation, before the last clean period {last} "
                                      f"(in {JOINED[c]}): not clean through it")
    for c in BC:                                               # the treated units are never donors
        assert c not in comp["used"] and c not in comp["clean_until"]
    assert [e["horizon"] for e in doc["effects"]] == [h for h in horizons if h <= 12 or h == 21 and last == "2022-06"]


@pytest.mark.parametrize("design", list(DESIGNS))
def test_a_horizon_past_the_last_clean_period_is_not_reported_and_the_warning_names_it(demo, design):
    _, table, d = demo
    res = evallib.analyse(params(d, design), table)
    who, need = DESIGNS[design]
    who = "design synthetic" if who == "synthetic" else who
    msg = (f"effects from 2022-09 on (horizon 24 and later) are not reported: only 0 comparator(s) are clean through "
           f"2022-09 (the others had joined collaboratives), and {who} needs at least {need}; the last period "
           f"with clean comparators is 2021-09 (the latest horizon with at least {need} clean comparators, where the "
           f"analysis ends)")
    assert list(res.effects()["horizon"]) == [0, 6, 12]
    assert msg in res.warnings
    assert msg in res.to_dict()["warnings"]
    # a horizon not among those the end was chosen from
    e = res.effects(horizons=[13])
    assert e.empty
    assert ("horizon 13 (2021-10) is not reported: it is after the last clean period 2021-09, where the analysis ends "
            f"(the latest of the horizons 0, 6, 12, 24 with at least {need} clean comparators); add 13 to horizons to "
            "have it considered") in res.warnings


def test_sdid_and_synthetic_all_other_keep_every_comparator_and_report_clean_periods(demo):
    _, table, d = demo
    for design in ("sdid", "synthetic"):
        res = evallib.analyse(params(d, design, comparators="all_other"), table)
        doc, comp = block(res)
        assert comp["not_yet_treated"] is False
        assert doc["periods"]["last"] == "2025-03"
        assert set(ZZ) <= set(comp["used"])
        assert comp["clean_until"]["ZZ013"] == "2021-09"


@pytest.mark.parametrize("design,need,why", [
    ("sdid", 5, "sdid.variance placebo needs more comparators than the 4 treated unit(s)"),
    ("per_trust", 5, "placebo inference needs more comparators than the 4 treated unit(s)"),
])
def test_too_few_clean_donors_is_a_model_error_with_counts_and_the_fix(demo, design, need, why):
    _, table, d = demo
    p = params(d, design, units=ZZ[28:32], interruptions=[INTR[0], {"name": "collaborative", "date": "2022-07"}])
    with pytest.raises(ModelError) as exc:
        evallib.analyse(p, table)
    who = DESIGNS[design][0]
    msg = str(exc.value)
    assert msg.startswith(f"<in-memory table>: {who} with comparators not_yet_treated: 0 comparator(s) of "
                          f"rtt_waiting_list are eligible and clean through 2022-07, the formation period (36 "
                          f"dropped: joined a collaborative: 36); ")
    assert msg.endswith(f"at least {need} are needed ({why}): add comparators, use comparator_types: any, or use "
                        "comparators: all_other (which also compares with trusts that joined collaboratives later)")


def test_too_few_clean_donors_synthetic(demo):
    _, table, d = demo
    p = params(d, "synthetic", units=ZZ[28:32], interruptions=[INTR[0], {"name": "collaborative", "date": "2022-07"}])
    with pytest.raises(ModelError) as exc:
        evallib.analyse(p, table)
    assert str(exc.value) == (
        "<in-memory table>: design synthetic with comparators not_yet_treated: 0 comparator(s) of rtt_waiting_list "
        "have a complete series and are clean through 2022-07, the formation period (36 had joined a collaborative "
        "before it); at least 2 are needed (the synthetic control needs 2 donors): add comparators, or use "
        "comparators: all_other (which also compares with trusts that joined collaboratives later)")


def _perturb(frame, after: bool):
    """Each comparator's rows after (``after``) or up to its clean_until, values changed."""
    f = frame.copy()
    rng = np.random.default_rng(7)
    rows = np.zeros(len(f), dtype=bool)
    for c, j in JOINED.items():
        m = (f["org_code"] == c) & ((f["period"] > CLEAN_UNTIL[j]) if after else (f["period"] <= CLEAN_UNTIL[j]))
        rows |= m.to_numpy()
    k = (f["metric"] == "rtt_waiting_list").to_numpy() & rows
    f.loc[k, "value"] = np.round(f.loc[k, "value"].to_numpy() * rng.uniform(0.5, 2.0, k.sum()))
    return f


@pytest.mark.parametrize("design", list(DESIGNS))
def test_no_donor_row_after_its_clean_until_is_read(demo, design):
    """Rows after a comparator's clean_until can change without changing any number of the result (the
    batch cache can rebuild only what changed); rows before it do change the result."""
    frame, table, d = demo
    p = params(d, design)
    ref = numbers(evallib.analyse(p, table).to_dict())
    after = numbers(evallib.analyse(p, as_table(_perturb(frame, after=True), "demo.csv")).to_dict())
    assert after == ref
    before = numbers(evallib.analyse(p, as_table(_perturb(frame, after=False), "demo.csv")).to_dict())
    assert before["effects"] != ref["effects"]
    if design != "per_trust":      # all_other reads them: the same change moves its result
        pa = params(d, design, comparators="all_other")
        assert (numbers(evallib.analyse(pa, as_table(_perturb(frame, after=True), "demo.csv")).to_dict())["effects"]
                != numbers(evallib.analyse(pa, table).to_dict())["effects"])
