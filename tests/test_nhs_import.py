"""`evallib import`: idempotent updates, Parquet, the report, ODS successors, and a
round trip of an imported RTT series through `evallib fit`."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

import nhs_fixtures as F
from evallib.cli import main
from evallib.data.nhs import load
from evallib.data.nhs.ods import DEFAULT_TABLE, load_successors, read_successors
from evallib.data.table import load_table
from evallib.exceptions import DataError

CELLS = [{"prov": "RNA", "comm": "05C", "tfc": "C_330", "weeks": {5: 10, 60: 2}, "unknown": 1},
         {"prov": "RL4", "comm": "05C", "tfc": "C_120", "weeks": {20: 4}}]


def _import(capsys, *args) -> tuple[int, str]:
    rc = main(["import", *map(str, args)])
    return rc, capsys.readouterr().out


def test_import_twice_replaces_never_duplicates(tmp_path, capsys):
    F.write_rtt(tmp_path / "jun.csv", "2026-06", CELLS)
    F.write_rtt(tmp_path / "jul.csv", "2026-07", CELLS)
    out = tmp_path / "metrics.csv"
    assert _import(capsys, "rtt", tmp_path / "jun.csv", "--out", out)[0] == 0
    first = out.read_bytes()
    rc, text = _import(capsys, "rtt", tmp_path / "jun.csv", "--out", out)
    assert rc == 0 and out.read_bytes() == first
    assert "wrote " + str(out) + ": 8 rows (0 new, 8 replaced, 0 kept from before)" in text
    # a revision of June plus a new month: June rows replaced, July added
    F.write_rtt(tmp_path / "rev" / "jun-revised.csv", "2026-06",
                [CELLS[0], {"prov": "RL4", "comm": "05C", "tfc": "C_120", "weeks": {20: 9}}])
    rc, text = _import(capsys, "rtt", tmp_path / "rev" / "jun-revised.csv", tmp_path / "jul.csv", "--out", out)
    assert "16 rows (8 new, 8 replaced, 0 kept from before)" in text
    f = load_table(out).frame
    assert len(f) == 16 and not f.duplicated(["org_code", "metric", "period"]).any()
    wl = f[(f.metric == "rtt_waiting_list") & (f.org_code == "RL4")].set_index("period")["value"]
    assert wl.to_dict() == {"2026-06": 9.0, "2026-07": 4.0}


def test_import_keeps_other_metrics_in_the_table(tmp_path, capsys):
    out = tmp_path / "metrics.csv"
    F.write_rtt(tmp_path / "jun.csv", "2026-06", CELLS)
    F.write_ae(tmp_path / "Monthly-AE-June-2026.csv", "2026-06",
               [{"code": "RNA", "name": "DUDLEY", "att": [100, 0, 0], "over": [25, 0, 0]}])
    _import(capsys, "rtt", tmp_path / "jun.csv", "--out", out)
    rc, text = _import(capsys, "ae", tmp_path / "Monthly-AE-June-2026.csv", "--out", out)
    assert rc == 0
    assert "10 rows (2 new, 0 replaced, 8 kept from before)" in text
    f = load_table(out).frame
    assert f.loc[f.metric == "ae_4h_pct", "value"].tolist() == [75.0]


def test_import_parquet_round_trips_the_same_rows(tmp_path, capsys):
    F.write_rtt(tmp_path / "jun.csv", "2026-06", CELLS)
    _import(capsys, "rtt", tmp_path / "jun.csv", "--out", tmp_path / "m.csv")
    _import(capsys, "rtt", tmp_path / "jun.csv", "--out", tmp_path / "m.parquet")
    a, b = load_table(tmp_path / "m.csv").frame, load_table(tmp_path / "m.parquet").frame
    pd.testing.assert_frame_equal(a, b)


def test_import_report_is_one_screen_and_names_what_it_saw(tmp_path, capsys):
    path = F.write_rtt(tmp_path / "jun.csv", "2026-06", CELLS, layout=52, front_matter=True)
    F.edit_cell(path, {"Provider Org Code": "RL4", "RTT Part Type": "Part_2", "Treatment Function Code": "C_999"},
                "Gt 20 To 21 Weeks SUM 1", "*")
    rc, text = _import(capsys, "rtt", path, "--out", tmp_path / "m.csv")
    lines = text.splitlines()
    assert rc == 0 and len(lines) <= 25
    assert lines[:4] == ["RTT Full CSV: 1 file(s)", "  periods:   2026-06", "  providers: 2: RL4, RNA",
                         "  layouts:   rtt-bands-to-52w +2 line(s) of front matter x1"]
    assert "  missing cells read as missing, never zero: '*' (suppressed) 1" in lines
    assert "           4  Part_2A rows (a subset of Part_2, never added to it)" in lines


def test_default_successor_table_merges_predecessors(tmp_path):
    """RD3 and RDZ became R0D in 2020-10: their rows are summed into one R0D series."""
    cells = [{"prov": "RD3", "comm": "11J", "tfc": "C_330", "weeks": {5: 10}},
             {"prov": "RDZ", "comm": "11J", "tfc": "C_330", "weeks": {5: 30, 60: 5}}]
    F.write_rtt(tmp_path / "in" / "sep.csv", "2020-09", cells, layout=52)
    F.write_rtt(tmp_path / "in" / "oct.csv", "2020-10",
                [{"prov": "R0D", "comm": "11J", "tfc": "C_330", "weeks": {5: 41, 60: 5}}], layout=52)
    res = load("rtt", tmp_path / "in")
    wl = res.frame[res.frame.metric == "rtt_waiting_list"].set_index(["org_code", "period"])["value"]
    assert wl.to_dict() == {("R0D", "2020-09"): 45.0, ("R0D", "2020-10"): 46.0}
    pct = res.frame[res.frame.metric == "rtt_18w_pct"].set_index("period")
    assert (pct.loc["2020-09", "numerator"], pct.loc["2020-09", "denominator"]) == (40, 45)
    assert dict(res.report.ods) == {"RD3 -> R0D": 4, "RDZ -> R0D": 4}
    assert set(res.frame["org_name"]) == {"R0D TRUST"}


def test_user_successor_table_overrides_and_chains(tmp_path, capsys):
    table = tmp_path / "ods.csv"
    table.write_text("old_code,new_code,date,note\nRD3,RD3,2020-10,keep Poole separate\n"
                     "RL4,RXX,2027-01,hypothetical merger\nRXX,RNA,2028-01,and again\n")
    succ = load_successors(table)
    assert "RD3" not in succ and succ["RL4"].new_code == "RXX"
    F.write_rtt(tmp_path / "jun.csv", "2026-06", CELLS)
    out = tmp_path / "m.csv"
    rc, text = _import(capsys, "rtt", tmp_path / "jun.csv", "--out", out, "--ods-map", table)
    assert rc == 0 and "    RL4 -> RNA (2027-01): 4 row(s), 2026-06" in text
    wl = load_table(out).for_metric("rtt_waiting_list")
    assert wl[["org_code", "value"]].values.tolist() == [["RNA", 17.0]]  # 13 + 4


def test_successor_cycle_and_bad_date_are_errors(tmp_path):
    cyc = tmp_path / "cyc.csv"
    cyc.write_text("old_code,new_code,date\nAAA,BBB,2020-01\nBBB,AAA,2021-01\n")
    with pytest.raises(DataError) as exc:
        load_successors(cyc)
    assert str(exc.value) == "ODS successor table: the codes AAA -> BBB -> AAA form a cycle; remove one row"
    bad = tmp_path / "bad.csv"
    bad.write_text("old_code,new_code,date\nAAA,BBB,soon\n")
    with pytest.raises(DataError) as exc:
        read_successors(bad)
    assert str(exc.value) == (f"{bad}: line 2, column date: 'soon' is not a date (expected YYYY-MM or "
                              f"YYYY-MM-DD, the first month under BBB)")


def test_packaged_successor_table_is_valid_and_leaves_black_country_alone():
    succ = load_successors()
    assert len(succ) == len(read_successors(DEFAULT_TABLE)) >= 5
    assert not {"RNA", "RL4", "RXK", "RBK"} & (set(succ) | {s.new_code for s in succ.values()})


def test_imported_rtt_series_runs_through_evallib_fit(tmp_path, capsys):
    """24 months (both band layouts, some zipped) -> import -> `evallib fit` on three trusts."""
    months = F.write_rtt_series(tmp_path / "downloads", start="2020-01", n=24)
    data = tmp_path / "data" / "metrics.csv"
    rc, text = _import(capsys, "rtt", tmp_path / "downloads", "--out", data)
    assert rc == 0
    assert "  layouts:   rtt-bands-to-104w x9, rtt-bands-to-52w x15" in text.splitlines()
    wl = load_table(data).for_metric("rtt_waiting_list")
    # trust k, month t: 171 + 11k + 2t (see nhs_fixtures.rtt_series_month_pathways)
    rxk = wl[wl.org_code == "RXK"]["value"].tolist()
    assert rxk == [171 + 22 + 2 * t for t in range(24)]
    params = {"title": "RTT waiting list, imported", "data": "data/metrics.csv", "metric": "rtt_waiting_list",
              "units": ["RNA", "RL4", "RXK"], "seasonality": "none",
              "interruptions": [{"name": "collaborative", "date": months[12]}]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    rc = main(["fit", str(tmp_path / "params.yaml"), "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    res = json.loads(out[out.index("{"):])
    assert res["n_obs"] == 24
    assert res["periods"] == {"first": "2020-01", "last": "2021-12"}
    # the same through the library entry points
    import evallib
    from evallib.config import params_from_dict

    assert evallib.analyse(params_from_dict(params, base_dir=tmp_path)).n_obs == 24


def test_import_refuses_to_write_into_the_synthetic_demo_table(tmp_path, capsys):
    out = tmp_path / "metrics.csv"
    out.write_text("period,org_code,metric,value\n2020-01,RNA,rtt_waiting_list,5\n")
    (tmp_path / "metrics.meta.json").write_text('{"synthetic": true}')
    F.write_rtt(tmp_path / "jun.csv", "2026-06", CELLS)
    rc = main(["import", "rtt", str(tmp_path / "jun.csv"), "--out", str(out)])
    assert rc == 2
    assert capsys.readouterr().err == (f"evallib import: error: {out}: is the SYNTHETIC demo table (its .meta.json "
                                       f"says so); write real data to another file, e.g. data/real/metrics.csv\n")


def test_import_quarterly_kh03_into_a_monthly_table_is_refused(tmp_path, capsys):
    out = tmp_path / "metrics.csv"
    F.write_rtt(tmp_path / "jun.csv", "2026-06", CELLS)
    assert main(["import", "rtt", str(tmp_path / "jun.csv"), "--out", str(out)]) == 0
    before = out.read_bytes()
    F.write_kh03(tmp_path / "kh03.csv", "2023-24", "June", [("RNA", "DUDLEY", 636, 600)])
    rc = main(["import", "beds", str(tmp_path / "kh03.csv"), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and f"evallib import: error: {out}: column period mixes monthly and quarterly periods" in err
    assert out.read_bytes() == before
