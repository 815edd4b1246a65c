"""RTT Full CSV loader: metric values worked out by hand from small fixture files.

The hand-worked month (Part_2 cells; Part_1A/1B/2A/3 rows are also written and
must be ignored; C_999 rows are the per-commissioner sums of the specialties):

RNA  05C  C_330 dermatology  weeks 5:10 17:2 18:3 51:4 52:5 104:6, unknown clock start 1
RNA  15E  C_330 dermatology  week 0:1
RNA  15E  C_120 ENT          week 60:7, unknown 2
RL4  05C  C_130 ophthalmology weeks 3:20 70:1

RNA: bands 30 + 1 + 7 = 38; waiting list (Total All) 38 + 1 + 2 = 41; under 18 weeks
(weeks 0-17) 10 + 2 + 1 = 13, so 13/38 = 34.2105%; 52+ weeks 5 + 6 + 7 = 18;
dermatology 31 + 1 = 32 (summed over two commissioners); ENT 9.
RL4: waiting list 21; under 18 weeks 20/21 = 95.2381%; 52+ weeks 1; ophthalmology 21.
"""
from __future__ import annotations

import pytest

import nhs_fixtures as F
from evallib.data.nhs import load
from evallib.data.nhs.rtt import TREATMENT_FUNCTIONS, specialty_suffix
from evallib.data.table import TIDY_COLUMNS

CELLS = [
    {"prov": "RNA", "comm": "05C", "tfc": "C_330", "weeks": {5: 10, 17: 2, 18: 3, 51: 4, 52: 5, 104: 6}, "unknown": 1},
    {"prov": "RNA", "comm": "15E", "tfc": "C_330", "weeks": {0: 1}},
    {"prov": "RNA", "comm": "15E", "tfc": "C_120", "weeks": {60: 7}, "unknown": 2},
    {"prov": "RL4", "comm": "05C", "tfc": "C_130", "weeks": {3: 20, 70: 1}},
]
EXPECTED = {
    ("RNA", "rtt_waiting_list"): (41, None, None),
    ("RNA", "rtt_52w_waiters"): (18, None, None),
    ("RNA", "rtt_18w_pct"): (100 * 13 / 38, 13, 38),
    ("RNA", "rtt_waiting_list_dermatology"): (32, None, None),
    ("RNA", "rtt_waiting_list_ent"): (9, None, None),
    ("RL4", "rtt_waiting_list"): (21, None, None),
    ("RL4", "rtt_52w_waiters"): (1, None, None),
    ("RL4", "rtt_18w_pct"): (100 * 20 / 21, 20, 21),
    ("RL4", "rtt_waiting_list_ophthalmology"): (21, None, None),
}


def _values(frame, period):
    f = frame[frame["period"] == period]
    return {(r.org_code, r.metric): (r.value, r.numerator, r.denominator) for r in f.itertuples()}


def _assert_expected(got):
    assert set(got) == set(EXPECTED)
    for key, (v, n, d) in EXPECTED.items():
        gv, gn, gd = got[key]
        assert gv == pytest.approx(v, rel=1e-12), key
        if n is None:
            assert gn != gn and gd != gd, key  # NaN for counts
        else:
            assert (gn, gd) == (n, d), key


@pytest.mark.parametrize("layout", [104, 52])
def test_rtt_hand_worked_month_both_band_layouts(tmp_path, layout):
    F.write_rtt(tmp_path / "rtt.csv", "2026-06", CELLS, layout=layout)
    res = load("rtt", tmp_path / "rtt.csv")
    assert list(res.frame.columns) == TIDY_COLUMNS
    _assert_expected(_values(res.frame, "2026-06"))
    assert dict(res.report.layouts) == {f"rtt-bands-to-{layout}w": 1}


def test_rtt_pre_2017_front_matter_is_skipped_and_reported(tmp_path):
    F.write_rtt(tmp_path / "old.csv", "2016-06", CELLS, layout=52, front_matter=True)
    res = load("rtt", tmp_path / "old.csv")
    _assert_expected(_values(res.frame, "2016-06"))
    assert dict(res.report.layouts) == {"rtt-bands-to-52w +2 line(s) of front matter": 1}


def test_rtt_other_parts_are_dropped_and_counted(tmp_path):
    F.write_rtt(tmp_path / "rtt.csv", "2026-06", CELLS)
    res = load("rtt", tmp_path / "rtt.csv")
    # 4 specialty cells + 3 C_999 (RNA 05C, RNA 15E, RL4 05C) = 7 cells, one row each per part
    assert res.report.dropped["Part_2A rows (a subset of Part_2, never added to it)"] == 7
    assert res.report.dropped["Part_3 rows (new periods, not used)"] == 7
    assert res.report.dropped["Part_1A rows (completed admitted pathways, not used)"] == 7


def test_rtt_without_c999_rows_sums_specialties_and_says_so(tmp_path):
    F.write_rtt(tmp_path / "rtt.csv", "2026-06", CELLS, c999=False)
    res = load("rtt", tmp_path / "rtt.csv")
    _assert_expected(_values(res.frame, "2026-06"))
    assert ("2 provider-month(s) have no C_999 row: the all-specialty figures are the sum of their "
            "specialties") in res.report.notes


def test_rtt_c999_is_used_not_added_to_specialties(tmp_path):
    """Changing only the C_999 row changes the totals: the specialties are not re-added."""
    path = F.write_rtt(tmp_path / "rtt.csv", "2026-06", CELLS)
    F.edit_cell(path, {"Provider Org Code": "RL4", "RTT Part Type": "Part_2", "Treatment Function Code": "C_999"},
                "Total All", "25")
    got = _values(load("rtt", path).frame, "2026-06")
    assert got[("RL4", "rtt_waiting_list")][0] == 25
    assert got[("RL4", "rtt_waiting_list_ophthalmology")][0] == 21


def test_rtt_blank_band_is_missing_never_zero(tmp_path):
    path = F.write_rtt(tmp_path / "rtt.csv", "2026-06", CELLS)
    F.edit_cell(path, {"Provider Org Code": "RL4", "RTT Part Type": "Part_2", "Treatment Function Code": "C_999"},
                "Gt 70 To 71 Weeks SUM 1", "")
    res = load("rtt", path)
    got = _values(res.frame, "2026-06")
    assert got[("RL4", "rtt_52w_waiters")][0] != got[("RL4", "rtt_52w_waiters")][0]  # NaN, not 0
    assert got[("RL4", "rtt_18w_pct")][0] != got[("RL4", "rtt_18w_pct")][0]
    assert got[("RL4", "rtt_waiting_list")][0] == 21  # Total All itself was given
    assert res.report.missing["blank (not collected)"] == 1
    assert res.report.missing_values == 2


def test_rtt_zip_bom_and_cp1252_inputs_read_the_same(tmp_path):
    a = F.write_rtt(tmp_path / "src" / "a.csv", "2026-05", CELLS, encoding="utf-8-sig")
    F.zip_files(tmp_path / "in" / "Full-CSV-data-file-May26-ZIP-3532K.zip", {"a.csv": a.read_bytes()})
    b = F.write_rtt(tmp_path / "in" / "b.csv", "2026-06", CELLS, encoding="cp1252")
    F.edit_cell(b, {"Provider Org Code": "RNA"}, "Provider Org Name", "DUDLEY’S TRUST – TEST", encoding="cp1252")
    res = load("rtt", tmp_path / "in")
    _assert_expected(_values(res.frame, "2026-05"))
    _assert_expected(_values(res.frame, "2026-06"))
    assert res.report.periods == ["2026-05", "2026-06"]
    assert res.report.encodings == {"utf-8-bom": 1, "cp1252": 1}
    assert set(res.frame.loc[res.frame["org_code"] == "RNA", "org_name"]) == {"DUDLEY’S TRUST – TEST"}
    assert "RNA: name changed from 'THE DUDLEY GROUP NHS FOUNDATION TRUST' to 'DUDLEY’S TRUST – TEST'; " \
        "the latest is used" in res.report.notes


def test_rtt_revised_file_supersedes_the_original_for_its_month(tmp_path):
    F.write_rtt(tmp_path / "Full-CSV-data-file-Jun26.csv", "2026-06", CELLS)
    revised = [dict(c) for c in CELLS]
    revised[3] = {"prov": "RL4", "comm": "05C", "tfc": "C_130", "weeks": {3: 30, 70: 1}}
    F.write_rtt(tmp_path / "Full-CSV-data-file-Jun26-revised.csv", "2026-06", revised)
    got = _values(load("rtt", tmp_path).frame, "2026-06")
    assert got[("RL4", "rtt_waiting_list")][0] == 31


def test_rtt_specialty_map_documents_the_brief_codes():
    assert (TREATMENT_FUNCTIONS["C_330"], TREATMENT_FUNCTIONS["C_120"], TREATMENT_FUNCTIONS["C_130"]) == \
        ("dermatology", "ent", "ophthalmology")
    assert specialty_suffix("C_999X", "Spinal Surgery Service") == "spinal_surgery"
