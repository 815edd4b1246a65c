"""The SYNTHETIC national demo (evallib/data/demo_national.py): a synthetic England of provider
collaboratives with staggered formation dates, exact truth from series generated with and without the
planted effects, and the demo it reuses left byte-identical."""
from __future__ import annotations

import hashlib
import json
import re
import time

import numpy as np
import pandas as pd
import pytest

from evallib import cli
from evallib.data import demo_national as N
from evallib.data.demo import SPECS
from evallib.data.memberships import load_memberships
from evallib.data.table import load_table
from evallib.exceptions import ParameterError

SCALE = {s.metric: s.scale for s in SPECS}
#: sha256 of data/demo/metrics.csv as `evallib demo-data` wrote it before demo.py was refactored
DEMO_METRICS_SHA256 = "8894ea4ca1cca1901f021163eb9fc5b92020cd03ed72d3f56f264886c50482b1"


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    out = tmp_path_factory.mktemp("england")
    t0 = time.perf_counter()
    paths = N.generate_national(out)
    seconds = time.perf_counter() - t0
    return paths, json.loads(paths["truth"].read_text()), seconds


@pytest.fixture(scope="module")
def table(national):
    return load_table(national[0]["metrics"])


@pytest.fixture(scope="module")
def worlds(national):
    """(with, without) tidy frames: the written metrics.csv and the same series without the effects."""
    with_fx = pd.read_csv(national[0]["metrics"], dtype={"period": str})
    without = N.generate_national_frame(N.SEED, planted=False)
    return with_fx, without


def combined(frame: pd.DataFrame, truth: dict) -> dict:
    """{(collaborative, metric): series}: members combined as the pack combines them (sums; percentages
    as 100 * summed numerators / summed denominators), and the summed denominators."""
    of = {u: c["id"] for c in truth["collaboratives"] for u in c["members"]}
    f = frame.assign(collaborative=frame.org_code.map(of)).dropna(subset=["collaborative"])
    s = f.groupby(["collaborative", "metric", "period"])[["value", "numerator", "denominator"]].sum(min_count=1)
    out = {}
    for (cid, metric), g in s.groupby(level=[0, 1]):
        g = g.droplevel([0, 1])
        out[cid, metric] = (100 * g["numerator"] / g["denominator"] if SCALE[metric] == "pp" else g["value"],
                            g["denominator"])
    return out


def wide(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    return frame[frame.metric == metric].pivot(index="org_code", columns="period", values="value")


def test_the_demo_it_reuses_is_byte_identical(demo_dir):
    assert hashlib.sha256((demo_dir / "metrics.csv").read_bytes()).hexdigest() == DEMO_METRICS_SHA256


def test_table_has_the_demo_columns_and_validates(national, table, demo_dir):
    paths, truth, _ = national
    with open(paths["metrics"]) as a, open(demo_dir / "metrics.csv") as b:
        assert a.readline() == b.readline()          # the demo's columns, in its order
    tt = table
    f = tt.frame
    assert tt.synthetic and tt.freq == "M"
    assert (f["period"].min(), f["period"].max(), f["period"].nunique()) == ("2016-04", "2025-03", 108)
    assert sorted(f["metric"].unique()) == sorted(s.metric for s in SPECS)
    assert len(f) == f["org_code"].nunique() * 108 * len(SPECS)
    raw = pd.read_csv(paths["metrics"])
    assert (raw["source"] == "SYNTHETIC demo data: not real NHS figures").all()
    meta = json.loads(paths["meta"].read_text())
    assert meta == {"synthetic": True, "note": "SYNTHETIC demo data: not real NHS figures", "seed": N.SEED,
                    "generator": "evallib.data.demo_national"}
    for name in ("collaboratives.csv", "truth.json", "README.txt"):
        assert "SYNTHETIC" in (paths["metrics"].parent / name).read_text(), name
    assert paths["metrics"].stat().st_size < 25e6
    # the one reporting gap, in a trust that never joins
    gap = f[f.value.isna()]
    assert set(gap.org_code) == {truth["reporting_gap"]["org_code"]} and set(gap.metric) == {"ae_4h_pct"}
    assert sorted(gap.period) == ["2021-05", "2021-06", "2021-07"]
    assert truth["reporting_gap"]["org_code"] in truth["never_joined"]


def test_percentages_carry_numerators_and_denominators(worlds):
    f = worlds[0]
    for spec in SPECS:
        g = f[f.metric == spec.metric]
        if spec.scale == "pp":
            ok = g.value.notna()
            assert g.denominator.notna().all() and (g.denominator > 0).all(), spec.metric
            assert np.allclose(g.value[ok], 100 * g.numerator[ok] / g.denominator[ok], atol=1e-4), spec.metric
            assert g.value[ok].between(0, 100).all()
        else:
            assert g.numerator.isna().all() and g.denominator.isna().all(), spec.metric
    wl = f[f.metric == "rtt_waiting_list"].set_index(["org_code", "period"])["value"]
    r18 = f[f.metric == "rtt_18w_pct"].set_index(["org_code", "period"])
    assert (r18["denominator"] == wl.loc[r18.index]).all()      # the waiting list is its denominator


def test_memberships_load_validate_and_stagger(national, table):
    paths, truth, _ = national
    tt = table
    ms = load_memberships(paths["collaboratives"]).validate_against(tt)
    ids = ms.collaboratives()
    assert len(ids) >= 40 and ids == [f"c{k:02d}" for k in range(1, len(ids) + 1)]
    assert all(re.fullmatch(r"Demo Collaborative \d\d \(SYNTHETIC\)", ms.name(c)) for c in ids)
    sizes = [len(ms.members(c)) for c in ids]
    assert min(sizes) >= 3 and max(sizes) <= 5 and 150 <= sum(sizes) <= 175
    forms = sorted(str(ms.formation(c)) for c in ids)
    assert forms[0] == "2020-09" and forms[-1] == "2022-07"
    assert sum(f >= "2021-04" for f in forms) >= 0.9 * len(forms)
    assert len(set(forms)) >= 8                                        # staggered, not a single wave
    never = sorted(set(tt.frame.org_code) - set(ms.org_codes()))
    assert never == truth["never_joined"] and 20 <= len(never) <= 25
    assert all(ms.join_date(c) is None for c in never)
    # every member joins at its collaborative's formation
    assert all(r.joined == ms.formation(r.collaborative_id) and r.left is None for r in ms.rows)
    text = paths["collaboratives"].read_text()
    assert text.startswith("# SYNTHETIC demo data: not real NHS figures")


def test_codes_and_names_are_plainly_synthetic(national, table):
    from evallib.its.comparators import unit_type

    names = table.org_names()
    assert all(re.fullmatch(r"ZZ\d{3}", c) for c in names)
    assert {unit_type(c) for c in names} == {"nhs_trust"}
    assert all(n == f"Synthetic Trust {c[2:]}" for c, n in names.items())
    sizes = np.array(list(national[1]["unit_sizes"].values()))
    assert sizes.min() < 0.6 and sizes.max() > 1.6                   # varied, like the demo's comparators


def test_truth_at_horizons_is_with_minus_without_on_the_combined_series(national, worlds):
    truth = national[1]
    with_fx, without = worlds
    n_cells = 0
    c1, c0 = combined(with_fx, truth), combined(without, truth)
    for c in truth["collaboratives"]:
        for metric, cell in c["cells"].items():
            y1, y0 = c1[c["id"], metric][0], c0[c["id"], metric][0]
            for h in ("0", "6", "12", "24"):
                t = cell["horizons"][h]
                p = str(pd.Period(c["formation"], "M") + int(h))
                assert t["period"] == p
                assert t["counterfactual"] == pytest.approx(y0[p], abs=1e-6), (c["id"], metric, h)
                assert t["with_effect"] == pytest.approx(y1[p], abs=1e-6), (c["id"], metric, h)
                assert t["absolute"] == pytest.approx(y1[p] - y0[p], abs=2e-6), (c["id"], metric, h)
                assert t["relative"] == pytest.approx((y1[p] - y0[p]) / y0[p], abs=1e-7)
                assert t["relative_pct"] == pytest.approx(100 * (y1[p] - y0[p]) / y0[p], abs=1e-5)
                n_cells += 1
    assert n_cells == len(truth["collaboratives"]) * len(SPECS) * 4


def test_nulls_are_exact_and_planted_effects_start_at_formation(national, worlds):
    truth = national[1]
    with_fx, without = worlds
    planted = 0
    dens = combined(with_fx, truth)
    for metric in SCALE:
        w1, w0 = wide(with_fx, metric), wide(without, metric)
        diff = (w1 - w0).fillna(0.0)
        for c in truth["collaboratives"]:
            cell, rows = c["cells"][metric], diff.loc[c["members"]]
            if not cell["planted"]:
                assert (rows == 0).all().all(), (c["id"], metric)
                assert all(v["absolute"] == 0 and v["relative"] == 0 for v in cell["horizons"].values())
                continue
            planted += 1
            assert metric in N.PLANTABLE and 1.0 <= cell["multiplier"] <= 2.0
            pre = [p for p in rows.columns if p < c["formation"]]
            assert (rows[pre] == 0).all().all(), (c["id"], metric)          # nothing before formation
            h12 = cell["horizons"]["12"]
            L, S = N.PLANTABLE[metric]
            m = cell["multiplier"]
            if SCALE[metric] == "log":   # multiplicative: exp(m (L + 12 S)) - 1, up to Poisson rounding
                assert h12["relative"] == pytest.approx(np.exp(m * (L + 12 * S)) - 1, abs=0.004), (c["id"], metric)
            elif SCALE[metric] == "linear":   # GBP k per trust times its size, rounded to 0.1 per trust
                expected = m * (L + 12 * S) * sum(truth["unit_sizes"][u] for u in c["members"])
                assert h12["absolute"] == pytest.approx(expected, abs=0.1 * len(c["members"]) + 1e-6)
            else:   # percentage points, up to the binomial draw's rounding: a patient a trust
                quantum = 100 * len(c["members"]) / dens[c["id"], metric][1][h12["period"]]
                assert h12["absolute"] == pytest.approx(m * (L + 12 * S), abs=quantum + 0.05), (c["id"], metric)
    # about a third of the collaboratives, 3-6 measures each; the control outcomes are never planted
    n_planted = sum(c["planted"] for c in truth["collaboratives"])
    assert n_planted == N.N_PLANTED and 3 * n_planted <= planted <= 6 * n_planted
    for c in truth["collaboratives"]:
        assert not c["cells"]["ae_4h_pct"]["planted"] and not c["cells"]["critical_care_occupancy_pct"]["planted"]
        if c["cells"]["rtt_waiting_list"]["planted"]:
            assert c["cells"]["rtt_18w_pct"]["planted"]


def test_national_att_by_event_time_is_the_average_trust_level_difference(national, worlds):
    truth = national[1]
    with_fx, without = worlds
    join = {u: c["formation"] for c in truth["collaboratives"] for u in c["members"]}
    for metric in SCALE:
        d = wide(with_fx, metric) - wide(without, metric)
        per_e: dict[int, list] = {}
        for u, g in join.items():
            for e in range(-12, 25):
                p = str(pd.Period(g, "M") + e)
                if not np.isnan(d.at[u, p]):
                    per_e.setdefault(e, []).append(d.at[u, p])
        block = truth["national"][metric]["event_time"]
        assert sorted(int(e) for e in block) == list(range(-12, 25))
        for e in range(-12, 25):
            assert block[str(e)]["n_trusts"] == len(per_e[e]) == len(join)
            assert block[str(e)]["att"] == pytest.approx(np.mean(per_e[e]), abs=1e-6), (metric, e)
            if e < 0:
                assert block[str(e)]["att"] == 0
        if metric not in N.PLANTABLE:
            assert all(v["att"] == 0 for v in block.values())
    # agency spend, by the planted formula: mean over members of m * size * (L ramp(e) + S e)
    L, S = N.PLANTABLE["agency_spend_gbp_k"]
    for e in (0, 6, 12, 24):
        vals = [c["cells"]["agency_spend_gbp_k"]["multiplier"] * truth["unit_sizes"][u]
                * (L * min((e + 1) / N.RAMP_MONTHS, 1) + S * e) for c in truth["collaboratives"] for u in c["members"]]
        assert truth["national"]["agency_spend_gbp_k"]["event_time"][str(e)]["att"] == pytest.approx(np.mean(vals),
                                                                                                    abs=0.1)


def test_deterministic_quick_and_seeded(national, tmp_path):
    paths, _, seconds = national
    again = N.generate_national(tmp_path / "again")
    for key, p in paths.items():
        assert again[key].read_bytes() == p.read_bytes(), key
    assert seconds < 15, f"generation took {seconds:.1f} s; make demo calls it"
    other = N.generate_national(tmp_path / "seed7", seed=7)
    assert other["metrics"].read_bytes() != paths["metrics"].read_bytes()
    assert json.loads(other["meta"].read_text())["seed"] == 7


def test_cli_writes_and_refuses_files_it_did_not_write(tmp_path, capsys, demo_dir):
    out = tmp_path / "england"
    assert cli.main(["demo-data", "--national", "--out", str(out), "--seed", "3"]) == 0
    said = capsys.readouterr().out
    assert f"SYNTHETIC national demo data written to {out / 'metrics.csv'}" in said
    assert sorted(p.name for p in out.iterdir()) == sorted(N.FILES)
    assert cli.main(["demo-data", "--national", "--out", str(out), "--seed", "3"]) == 0   # its own: replaced
    # a folder holding someone else's metrics.csv is left alone
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "metrics.csv").write_text("period,org_code,metric,value\n")
    assert cli.main(["demo-data", "--national", "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert (f"evallib demo-data: error: --out: {foreign} already holds metrics.csv, not written by `evallib "
            f"demo-data --national` ({foreign / 'metrics.meta.json'} is missing or unreadable)") in err
    assert "choose a new or empty folder (e.g. --out data/england), or remove those files" in err
    assert (foreign / "metrics.csv").read_text() == "period,org_code,metric,value\n"
    # and so is the Black Country demo's folder (another generator's files)
    before = (demo_dir / "metrics.csv").read_bytes()
    with pytest.raises(ParameterError, match="names generator 'evallib.data.demo', not 'evallib.data.demo_national'"):
        N.generate_national(demo_dir)
    assert (demo_dir / "metrics.csv").read_bytes() == before
    assert cli.main(["demo-data", "--national", "--out", str(tmp_path / "x"), "--seed", "-1"]) == 2
    assert "--seed: value -1: the seed must be a whole number" in capsys.readouterr().err


def test_the_doc_states_the_default_numbers(national, table):
    """docs/national-demo.md gives the default seed's counts: they are the generator's."""
    from pathlib import Path

    truth = national[1]
    doc = " ".join((Path(__file__).resolve().parents[1] / "docs" / "national-demo.md").read_text().split())
    n_members = sum(len(c["members"]) for c in truth["collaboratives"])
    n_trusts = table.frame["org_code"].nunique()
    assert f"{n_trusts} trusts `ZZ001`..`ZZ{n_trusts:03d}`" in doc
    assert f"{n_members} of them in {len(truth['collaboratives'])} collaboratives" in doc
    assert f"{len(truth['never_joined'])} trusts never join" in doc
    waves = ", ".join(f"{m} ({k})" for m, k in N.FORMATION_WAVES[:-1]) + f" and {N.FORMATION_WAVES[-1][0]} " \
        f"({N.FORMATION_WAVES[-1][1]})"
    assert waves in doc
    assert f"In {N.N_PLANTED} collaboratives" in doc
