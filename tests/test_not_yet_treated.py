"""``comparators: not_yet_treated`` in the aligned design: each comparator counts only up to the period
before it joins any collaborative (evallib/its/comparators.py, evallib/its/aligned.py)."""
from __future__ import annotations

import numpy as np
import pytest

import evallib
from evallib.config import params_from_dict
from evallib.data.demo import generate_frame, memberships_csv
from evallib.data.table import as_table

BC = ["RNA", "RL4", "RXK", "RBK"]
INTR = [{"name": "covid", "date": "2020-03"}, {"name": "collaborative", "date": "2020-09"}]
# demo collaboratives (evallib/data/demo.py): ZZ001-003 join 2020-12, ZZ004-007 2021-04, ZZ008-012 2021-07,
# ZZ013-016 2021-10, ZZ017-020 2022-01, ZZ021-028 2022-04 (two collaboratives), ZZ029-036 2022-07
ZZ = [f"ZZ{k:03d}" for k in range(1, 37)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    frame, _ = generate_frame()
    d = tmp_path_factory.mktemp("nyt")
    (d / "collaboratives.csv").write_text(memberships_csv())
    return as_table(frame, "demo.csv"), d


def params(d, metric="rtt_waiting_list", **kw):
    p = {"data": "demo.csv", "metric": metric, "units": BC, "memberships": str(d / "collaboratives.csv"),
         "start": "2016-04", "end": "2025-03", "interruptions": INTR, "horizons": [0, 6, 12, 24]}
    p.update(kw)
    return params_from_dict(p)


@pytest.fixture(scope="module")
def both(demo):
    table, d = demo
    return (evallib.analyse(params(d, comparators="all_other"), table),
            evallib.analyse(params(d), table))


def test_memberships_make_not_yet_treated_the_default(demo):
    _, d = demo
    assert params(d).comparators == "not_yet_treated"


def test_switching_changes_the_comparators_after_each_formation_date(both):
    allo, nyt = both
    iP = nyt.af.formation
    assert allo.af.codes == nyt.af.codes == ZZ          # everyone is clean at formation (2020-09)
    for h in (0, 3, 6, 10, 12, 13, 16, 19, 21):
        assert allo.clean_codes(iP + h) == ZZ           # all_other keeps all 36 throughout
    assert nyt.clean_codes(iP + 2) == ZZ                # 2020-11: the last month before the first joins
    assert nyt.clean_codes(iP + 3) == ZZ[3:]            # 2020-12: demo_c01 (ZZ001-003) joined
    assert nyt.clean_codes(iP + 6) == ZZ[3:]            # 2021-03
    assert nyt.clean_codes(iP + 7) == ZZ[7:]            # 2021-04: demo_c02 joined
    assert nyt.clean_codes(iP + 12) == ZZ[12:]          # 2021-09: c01-c03 have joined
    assert nyt.clean_codes(iP + 13) == ZZ[16:]          # 2021-10: demo_c04 joined
    assert nyt.clean_codes(iP + 16) == ZZ[20:]          # 2022-01: demo_c05 joined
    assert nyt.clean_codes(iP + 19) == ZZ[28:]          # 2022-04: eight left (c08, c09)
    assert nyt.clean_codes(iP + 22) == []               # 2022-07: every comparator has joined


def test_effects_use_only_clean_comparators_and_stop_at_the_last_clean_period(demo, both):
    table, d = demo
    allo, nyt = both
    ea, en = allo.effects().set_index("horizon"), nyt.effects().set_index("horizon")
    assert list(ea.index) == [0, 6, 12, 24]
    assert list(en.index) == [0, 6, 12]                 # 2022-09 is past the last clean period
    assert en.loc[0, "absolute"] == pytest.approx(ea.loc[0, "absolute"], rel=1e-12)
    assert en.loc[12, "absolute"] != pytest.approx(ea.loc[12, "absolute"], rel=1e-3)
    # the 12-month effect is the aligned fit with the 24 comparators clean through 2021-09, named
    named = evallib.analyse(params(d, comparators=ZZ[12:]), table).effects([12]).iloc[0]
    for col in ("absolute", "absolute_lower", "absolute_upper", "cumulative", "cumulative_lower"):
        assert en.loc[12, col] == pytest.approx(named[col], rel=1e-10)
    assert nyt.last_clean_period == "2022-06"
    assert allo.last_clean_period == "2022-06"          # reported, not applied, under all_other
    msg = ("effects from 2022-07 on (horizon 22 and later) are not reported: only 0 comparator(s) are clean "
           "through 2022-07 (the others had joined collaboratives), and placebo inference needs at least 39 placebo "
           "systems of 4 units, with 2 comparators outside each; the last period with clean comparators is 2022-06")
    assert msg in nyt.warnings
    assert any(w.startswith("36 of the 36 comparators joined a collaborative after formation (the first is clean "
                            "through 2020-11); comparators: all_other uses them throughout") for w in allo.warnings)
    es = nyt.event_study().set_index("period")
    assert np.isfinite(es.loc["2022-06", "gap"]) and np.isnan(es.loc["2022-07", "gap"])
    assert es.loc["2021-09", "gap"] == pytest.approx(en.loc[12, "absolute"], rel=1e-12)
    cf = nyt.counterfactual().set_index("period")
    assert np.isnan(cf.loc["2022-07", "counterfactual"]) and np.isfinite(cf.loc["2022-06", "counterfactual"])


def test_results_json_states_clean_until_and_last_clean_period(both):
    _, nyt = both
    c = nyt.to_dict()["aligned"]["comparators"]
    assert c["last_clean_period"] == "2022-06" and c["not_yet_treated"] is True
    assert c["clean_until"]["ZZ001"] == "2020-11" and c["clean_until"]["ZZ012"] == "2021-06"
    assert c["clean_until"]["ZZ036"] == "2022-06" and len(c["clean_until"]) == 36
    assert "each used up to the period before it joins any collaborative" in c["rule"]


def test_a_comparator_that_joined_before_formation_is_dropped(demo, tmp_path):
    table, d = demo
    text = memberships_csv().replace("demo_c01,Demo Collaborative 01 (SYNTHETIC),ZZ001,2020-12,",
                                     "demo_c01,Demo Collaborative 01 (SYNTHETIC),ZZ001,2019-01,")
    (tmp_path / "m.csv").write_text(text)
    res = evallib.analyse(params(d, memberships=str(tmp_path / "m.csv"), horizons=[0]), table)
    assert "ZZ001" not in res.af.codes
    assert res.af.comparators.dropped["ZZ001"] == "joined a collaborative before formation (2020-09): demo_c01, 2019-01"
    assert "1 comparator(s) dropped by the eligibility rule (joined a collaborative: 1); 35 kept" in res.warnings


def test_difference_terms_use_one_clean_set_up_to_the_last_clean_period(both):
    allo, nyt = both
    sf = nyt.summary_frame().set_index(["group", "term"])
    _, e0, ek, paf = nyt._post_terms()
    assert paf.codes == ZZ[28:]                       # the eight clean through 2022-06
    mean_gap = float(np.mean(paf.abs_gap[nyt.af.formation:nyt.last_clean_index + 1]))
    assert sf.loc[("difference", "mean_effect[collaborative]"), "estimate"] == pytest.approx(mean_gap, rel=1e-12)
    # its interval carries the small-cross-section factor of 8 comparators, not 36
    assert paf.factor > allo.af.factor
    assert sf.loc[("difference", "mean_effect[collaborative]"), "estimate"] != pytest.approx(
        allo.summary_frame().set_index(["group", "term"]).loc[("difference", "mean_effect[collaborative]"),
                                                               "estimate"], rel=1e-3)


def test_sensitivity_designs_keep_not_yet_treated_themselves(demo, both):
    """The stacked, synthetic and sdid alternatives of the sensitivity set honour not_yet_treated
    themselves: none is handed a named comparator set whose rows it would read after they joined (which
    would also break the national pack's cache keys, evallib/batch/national.py)."""
    from evallib.its.sensitivity import specifications

    table, _ = demo
    _, nyt = both
    specs = {label: p for _, label, p, _ in specifications(nyt.params, nyt, "collaborative")}
    for label in ("design synthetic", "design controlled (stacked segments)",
                  "design sdid (synthetic difference-in-differences)"):
        assert specs[label].comparators == "not_yet_treated"
    assert specs["design single"].comparators == "none"
    assert specs["wash-out 2020-03/2021-03"].comparators == "not_yet_treated"
    comp = evallib.analyse(specs["design synthetic"], table).to_dict()["synthetic"]["comparators"]
    assert comp["not_yet_treated"] is True
    last = comp["last_clean_period"]
    assert all(comp["clean_until"][c] is None or comp["clean_until"][c] >= last for c in comp["used"])


def test_membership_table_that_disagrees_with_the_params_is_a_warning(demo, tmp_path):
    table, d = demo
    text = memberships_csv().replace("black_country,Black Country Provider Collaborative,RBK,2020-09,\n", "")
    text = text.replace("black_country,Black Country Provider Collaborative,RXK,2020-09,",
                        "black_country,Black Country Provider Collaborative,RXK,2020-10,")
    (tmp_path / "m.csv").write_text(text)
    res = evallib.analyse(params(d, memberships=str(tmp_path / "m.csv"), horizons=[0]), table)
    src = tmp_path / "m.csv"
    assert (f"the membership table {src} has no row for treated unit(s) RBK: check that the units are the "
            f"collaborative's members") in res.warnings
    assert (f"the membership table {src} dates treated unit(s) RXK 2020-10, not 2020-09 as the evaluated "
            f"interruption says: check the interruption date") in res.warnings
    nyt = evallib.analyse(params(d, horizons=[0]), table)
    assert not any("membership table" in w for w in nyt.warnings)


def test_placebo_rank_under_not_yet_treated_uses_the_clean_set(both):
    allo, nyt = both
    ra = next(c for c in allo.scorecard(with_alternatives=False)["checks"] if c["name"] == "placebo_rank")
    rn = next(c for c in nyt.scorecard(with_alternatives=False)["checks"] if c["name"] == "placebo_rank")
    n_placebos = nyt.fit_at(nyt.last_clean_index).members.shape[1]
    assert f"of {n_placebos + 1} " in rn["says"] and n_placebos == 70    # 8 clean comparators: C(8, 4) systems
    assert f"of {allo.n_placebos + 1} " in ra["says"]
