"""The stacked controlled design with ``comparators: not_yet_treated`` (a membership table).

A comparator is used only up to the period before it joins any collaborative; effects after the
last period with enough clean comparators are not reported, with a warning naming the period.
Checked on the SYNTHETIC demo, whose 36 comparators join nine collaboratives from 2020-12 to
2022-07 (collaboratives.csv).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evallib
from evallib.config import params_from_dict
from evallib.data.table import load_table
from evallib.exceptions import ModelError, ParameterError
from evallib.its import controlled as C


def _params(demo_dir, **kw):
    raw = {"data": str(demo_dir / "metrics.csv"), "metric": "rtt_waiting_list", "units": ["RNA", "RL4", "RXK", "RBK"],
           "aggregate": "sum", "start": "2016-04", "end": "2025-03", "seasonality": "fourier2",
           "interruptions": [{"name": "covid", "date": "2020-03", "terms": ["level", "slope"]},
                             {"name": "collaborative", "date": "2020-09", "terms": ["level", "slope"]}],
           "horizons": [0, 6, 12, 24], "design": "controlled", "controlled_method": "stacked",
           "memberships": str(demo_dir / "collaboratives.csv")}
    raw.update(kw)
    return params_from_dict(raw)


@pytest.fixture(scope="module")
def table(demo_dir):
    return load_table(demo_dir / "metrics.csv")


@pytest.fixture(scope="module")
def both(demo_dir, table):
    return (evallib.analyse(_params(demo_dir, comparators="all_other"), data=table),
            evallib.analyse(_params(demo_dir, comparators="not_yet_treated"), data=table))


@pytest.fixture(scope="module")
def joining(demo_dir):
    ms = pd.read_csv(demo_dir / "collaboratives.csv", comment="#")
    ms = ms[ms["collaborative_id"] != "black_country"]
    return {cid: (g["joined"].iloc[0], sorted(g["org_code"])) for cid, g in ms.groupby("collaborative_id")}


def test_the_membership_table_is_the_default_and_makes_comparators_not_yet_treated(demo_dir):
    raw = _params(demo_dir).to_yaml_dict()
    raw.pop("comparators")
    assert params_from_dict(raw).comparators == "not_yet_treated"


def test_each_comparator_collaborative_leaves_the_panel_when_it_forms_but_not_under_all_other(both, joining):
    all_other, nyt = both
    assert len(joining) == 9
    for joined, members in joining.values():
        before = format(pd.Period(joined, "M") - 1)
        # the month before it forms, both designs use it; from its formation only all_other does
        assert set(members) <= set(nyt.comparators_used(before))
        assert set(members) <= set(all_other.comparators_used(joined))
        assert not set(members) & set(nyt.comparators_used(joined))
    assert len(all_other.comparators_used("2022-06")) == 36
    last = sorted(m for j, ms in joining.values() if j == "2022-07" for m in ms)
    assert nyt.comparators_used("2022-06") == last                        # the collaboratives formed last
    assert [len(nyt.comparators_used(p)) for p in ("2020-09", "2021-03", "2021-09", "2022-06")] == [36, 33, 24, 8]
    assert nyt.comparators_used("2022-07") == []


def test_horizons_past_the_last_clean_period_are_not_reported_and_the_warning_names_it(both):
    all_other, nyt = both
    assert list(all_other.effects()["horizon"]) == [0, 6, 12, 24]
    assert list(nyt.effects()["horizon"]) == [0, 6, 12]
    assert nyt.last_clean_period == "2022-06"
    assert ("effects from 2022-07 on (horizon 22 and later) are not reported: only 0 comparator(s) are clean through "
            "2022-07 (the others had joined collaboratives), and the stacked design needs at least 3; the last period "
            "with clean comparators is 2022-06") in nyt.warnings
    assert any(w.startswith("36 of the 36 comparators joined a collaborative after formation (the first is clean "
                            "through 2020-11); comparators: all_other uses them throughout")
               for w in all_other.warnings)
    cf = nyt.counterfactual().set_index("period")
    assert np.isfinite(cf.loc["2022-06", "counterfactual"]) and np.isnan(cf.loc["2022-07", "counterfactual"])
    d = nyt.to_dict()["diagnostics"]
    assert d["last_clean_period"] == "2022-06" and d["not_yet_treated"] is True
    assert d["clean_until"]["ZZ001"] == "2020-11"
    assert d["n_comparators_by_period"]["2021-09"] == 24


def test_not_yet_treated_changes_the_estimates_after_formation_not_the_pre_period_rows(both):
    all_other, nyt = both
    a = all_other.effects().set_index("horizon")
    n = nyt.effects().set_index("horizon")
    assert abs(n.loc[12, "absolute"] - a.loc[12, "absolute"]) > 1000          # patients on the waiting list
    # the fit drops exactly the comparators' rows from their joining month and every row after 2022-06
    rows_a = all_other.diagnostics()["n_rows_stacked"]
    rows_n = nyt.diagnostics()["n_rows_stacked"]
    assert rows_a - rows_n > 36 * 12


def test_a_comparator_that_joined_before_formation_is_dropped_and_named(demo_dir, table, tmp_path):
    row = "demo_c01,Demo Collaborative 01 (SYNTHETIC),ZZ001,"
    text = (demo_dir / "collaboratives.csv").read_text().replace(row + "2020-12", row + "2019-06")
    assert "ZZ001,2019-06" in text
    path = tmp_path / "collab.csv"
    path.write_text(text)
    res = evallib.analyse(_params(demo_dir, comparators="not_yet_treated", memberships=str(path)), data=table)
    assert "ZZ001" not in res.comparators_used("2020-09")
    assert ("1 comparator(s) dropped because they had joined a collaborative before collaborative (2020-09): ZZ001"
            in res.warnings)
    assert "ZZ001" in res.diagnostics()["comparators_dropped"]


def test_too_few_clean_comparators_at_formation_is_a_model_error(demo_dir, table, tmp_path):
    out = []
    for ln in (demo_dir / "collaboratives.csv").read_text().splitlines():
        if ln.startswith("demo_c"):
            f = ln.split(",")
            if f[2] in ("ZZ035", "ZZ036"):
                continue                         # these two never join
            f[3] = "2020-06"                     # every other comparator joins before formation
            ln = ",".join(f)
        out.append(ln)
    path = tmp_path / "few.csv"
    path.write_text("\n".join(out) + "\n")
    p = _params(demo_dir, comparators="not_yet_treated", memberships=str(path))
    with pytest.raises(ModelError, match=r"^comparators not_yet_treated: only 2 comparator\(s\) of rtt_waiting_list "
                                         r"are clean at collaborative \(2020-09\); the stacked design needs at "
                                         r"least 3"):
        evallib.analyse(p, data=table)


def test_the_difference_method_refuses_not_yet_treated_with_the_fix(demo_dir, table):
    p = _params(demo_dir, comparators="not_yet_treated")
    with pytest.raises(ParameterError, match="the difference method subtracts one comparator mean from every period; "
                                             "use controlled_method: stacked"):
        C.fit_controlled(p, table, method="difference", model="ols-hac")


def test_without_a_membership_table_every_row_is_used(demo_dir, table):
    p = _params(demo_dir, comparators="all_other", memberships=None)
    res = evallib.analyse(p, data=table)
    assert not res.not_yet_treated and res.last_clean_period is None
    assert len(res.comparators_used("2024-01")) == 36
    assert "clean_until" not in res.diagnostics()


def test_matched_comparators_are_refused_by_the_stacked_design_with_the_choices(demo_dir, table):
    with pytest.raises(ParameterError, match=r"^comparators matched \(the nearest matches on the pre-formation "
                                             r"series\) is the aligned design's; controlled_method stacked takes "
                                             r"all_other, not_yet_treated or a list of codes$"):
        evallib.analyse(_params(demo_dir, comparators="matched", memberships=None), data=table)
