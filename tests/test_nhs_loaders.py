"""Cancer, A&E, DM01 and beds loaders: values worked out by hand from fixture files."""
from __future__ import annotations

import math

import pytest

import nhs_fixtures as F
from evallib.data.nhs import load
from evallib.data.table import TIDY_COLUMNS
from evallib.exceptions import DataError


def _get(frame, org, metric, period):
    r = frame[(frame["org_code"] == org) & (frame["metric"] == metric) & (frame["period"] == period)]
    assert len(r) == 1, (org, metric, period)
    return r.iloc[0]


# --------------------------------------------------------------------------- cancer
CANCER_ROWS = [
    # 62-day: 10/7 + 5/5 + 4/2 = 19 treated, 14 within -> 73.684%
    ("2024-04-01", "62-day Combined", "RNA", "Surgery", "Lung", "Urgent Suspected Cancer", 10, 7),
    ("2024-04-01", "62-day Combined", "RNA", "Surgery", "Breast", "Urgent Suspected Cancer", 5, 5),
    ("2024-04-01", "62-day Combined", "RNA", "Radiotherapy", "Lung", "Screening", 4, 2),
    # 28-day FDS: 20/15 + 10/9 = 30, 24 -> 80%
    ("2024-04-01", "28-day FDS", "RNA", "", "Suspected lung cancer", "URGENT SUSPECTED CANCER", 20, 15),
    ("2024-04-01", "28-day FDS", "RNA", "", "Suspected breast cancer", "BREAST SYMPTOMATIC, CANCER NOT SUSPECTED",
     10, 9),
    # 31-day: ALL MODALITIES subtotals 40/38 (first) + 10/9 (subsequent) = 50, 47 -> 94%;
    # the Surgery and Radiotherapy rows are covered by the first-treatment subtotal
    ("2024-04-01", "31-day Combined", "RNA", "ALL MODALITIES", "ALL CANCERS", "First Treatment", 40, 38),
    ("2024-04-01", "31-day Combined", "RNA", "Surgery", "ALL CANCERS", "First Treatment", 25, 24),
    ("2024-04-01", "31-day Combined", "RNA", "Radiotherapy", "ALL CANCERS", "First Treatment", 15, 14),
    ("2024-04-01", "31-day Combined", "RNA", "ALL MODALITIES", "ALL CANCERS", "Subsequent Treatment", 10, 9),
    # RL4 62-day has a suppressed count: missing, not 0%
    ("2024-04-01", "62-day Combined", "RL4", "Surgery", "Lung", "Urgent Suspected Cancer", 8, "*"),
    ("2024-04-01", "62-day Combined", "RL4", "Surgery", "Breast", "Urgent Suspected Cancer", 6, 6),
    # a retired standard is dropped
    ("2024-04-01", "2WW", "RNA", "", "Suspected lung cancer", "", 50, 45),
]


def test_cancer_hand_worked_percentages(tmp_path):
    res = load("cancer", F.write_cancer(tmp_path / "cwt.csv", CANCER_ROWS))
    f = res.frame
    assert list(f.columns) == TIDY_COLUMNS
    r = _get(f, "RNA", "cancer_62d_pct", "2024-04")
    assert (r.value, r.numerator, r.denominator) == (pytest.approx(100 * 14 / 19), 14, 19)
    r = _get(f, "RNA", "cancer_fds_28d_pct", "2024-04")
    assert (r.value, r.numerator, r.denominator) == (80.0, 24, 30)
    r = _get(f, "RNA", "cancer_31d_pct", "2024-04")
    assert (r.value, r.numerator, r.denominator) == (94.0, 47, 50)
    assert math.isnan(_get(f, "RL4", "cancer_62d_pct", "2024-04").value)


def test_cancer_report_counts_drops_and_suppression(tmp_path):
    res = load("cancer", F.write_cancer(tmp_path / "cwt.csv", CANCER_ROWS))
    assert res.report.dropped == {
        "standard '2WW' (not one of 28-day FDS, 31-day Combined, 62-day Combined)": 1,
        "rows with CANCER TYPE ALL ... counting the same patients as rows already used, not added twice": 2,
    }
    assert res.report.missing == {"'*' (suppressed)": 1, "blank (not collected)": 1}  # WITHIN and BREACHES


# --------------------------------------------------------------------------- A&E
AE_TRUSTS = [
    # all types incl. booked: 160 attendances, 26 over 4 hours -> 134 within, 83.75%
    {"code": "RNA", "name": "THE DUDLEY GROUP NHS FOUNDATION TRUST", "att": [100, 0, 50, 0, 0, 10],
     "over": [20, 0, 5, 0, 0, 1]},
    # 255 attendances, 56 over -> 199 within, 78.0392%
    {"code": "RL4", "name": "THE ROYAL WOLVERHAMPTON NHS TRUST", "att": [200, 10, 40, 5, 0, 0],
     "over": [50, 1, 4, 1, 0, 0]},
    # reports no 4-hour figures
    {"code": "RBK", "name": "WALSALL HEALTHCARE NHS TRUST", "att": [80, 0, 0], "over": [None, None, None]},
]


def test_ae_booked_generation_hand_worked(tmp_path):
    res = load("ae", F.write_ae(tmp_path / "Monthly-AE-March-2024.csv", "2024-03", AE_TRUSTS))
    f = res.frame
    r = _get(f, "RNA", "ae_4h_pct", "2024-03")
    assert (r.value, r.numerator, r.denominator) == (83.75, 134, 160)
    r = _get(f, "RL4", "ae_4h_pct", "2024-03")
    assert (r.value, r.numerator, r.denominator) == (pytest.approx(100 * 199 / 255), 199, 255)
    assert _get(f, "RL4", "ae_attendances", "2024-03").value == 255
    assert res.report.dropped == {"TOTAL footer rows": 1}
    assert dict(res.report.layouts) == {"ae-booked": 1}


def test_ae_trust_without_4h_figures_is_missing_not_zero(tmp_path):
    res = load("ae", F.write_ae(tmp_path / "Monthly-AE-March-2024.csv", "2024-03", AE_TRUSTS))
    r = _get(res.frame, "RBK", "ae_4h_pct", "2024-03")
    assert math.isnan(r.value) and math.isnan(r.numerator)
    assert _get(res.frame, "RBK", "ae_attendances", "2024-03").value == 80
    assert res.report.missing == {"blank (not collected)": 6}
    assert res.report.not_reported == {("RBK", "ae_4h_pct"): {
        "name": "WALSALL HEALTHCARE NHS TRUST", "reason": "blank or '-' in the over-4-hours cells",
        "periods": ["2024-03"]}}


def test_ae_older_number_of_generation_and_total_row_check(tmp_path):
    trusts = [{"code": "RNA", "name": "DUDLEY", "att": [100, 0, 50], "over": [20, 0, 5]},
              {"code": "RXK", "name": "SANDWELL", "att": [300, 0, 25], "over": [100, 0, 0]}]
    path = F.write_ae(tmp_path / "Monthly-AE-March-2018.csv", "2018-03", trusts, old=True)
    res = load("ae", path)
    r = _get(res.frame, "RXK", "ae_4h_pct", "2018-03")
    assert (r.value, r.numerator, r.denominator) == (pytest.approx(100 * 225 / 325), 225, 325)
    assert dict(res.report.layouts) == {"ae-number-of": 1}
    F.edit_cell(path, {"Period": "TOTAL"}, "Number of A&E attendances Type 1", "999")
    res = load("ae", path)
    assert (f"{path}: the TOTAL row's attendances (1,074) differ from the sum of the providers (475)"
            in res.report.notes)


# --------------------------------------------------------------------------- DM01
DM01_CELLS = [
    # 05C: MRI weeks 0:10 6:2, CT weeks 13:3 5:5 -> WL 20, 6+ weeks 5
    {"prov": "RNA", "comm": "05C", "weeks": {1: {0: 10, 6: 2}, 2: {13: 3, 5: 5}}},
    # 15E: ultrasound weeks 12:4 1:6 -> WL 10, 6+ weeks 4
    {"prov": "RNA", "comm": "15E", "weeks": {3: {12: 4, 1: 6}}},
]


def test_dm01_total_row_summed_over_commissioners(tmp_path):
    res = load("dm01", F.write_dm01(tmp_path / "dm01.csv", "2026-05", DM01_CELLS))
    r = _get(res.frame, "RNA", "diagnostics_6w_pct", "2026-05")
    assert (r.value, r.numerator, r.denominator) == (30.0, 9, 30)
    assert res.report.dropped == {"individual test rows (the TOTAL row, sort order 16, is used)": 6}


def test_dm01_file_without_total_row_is_an_error(tmp_path):
    path = F.write_dm01(tmp_path / "dm01.csv", "2026-05", DM01_CELLS)
    F.edit_cell(path, {"Diagnostic Tests": "TOTAL"}, "Diagnostic Tests", "ALL TESTS")
    with pytest.raises(DataError) as exc:
        load("dm01", path)
    assert str(exc.value) == (f"{path}: no 'TOTAL' diagnostic test row (sort order 16); the file is truncated "
                              f"or not a DM01 provider extract")


# --------------------------------------------------------------------------- beds
def test_sitrep_moving_header_and_dash_missing(tmp_path):
    F.write_sitrep(tmp_path / "a" / "sitrep-nov.csv", "2024-11",
                   [("RNA", "DUDLEY", 600, 570, 30, 25), ("RBK", "WALSALL", "-", 500, 13, 13)], front_lines=4)
    F.write_sitrep(tmp_path / "a" / "sitrep-dec.csv", "2024-12",
                   [("RNA", "DUDLEY", 640, 608, 32, 24)], front_lines=2)
    res = load("beds", tmp_path / "a")
    f = res.frame
    r = _get(f, "RNA", "ga_occupancy_pct", "2024-11")
    assert (r.value, r.numerator, r.denominator) == (95.0, 570, 600)
    assert _get(f, "RNA", "critical_care_occupancy_pct", "2024-12").value == 75.0
    assert math.isnan(_get(f, "RBK", "ga_occupancy_pct", "2024-11").value)
    assert _get(f, "RBK", "critical_care_occupancy_pct", "2024-11").value == 100.0
    assert res.report.missing == {"'-' (not available)": 1}
    assert dict(res.report.layouts) == {"uec-sitrep (header on line 3)": 1, "uec-sitrep (header on line 5)": 1}


def test_kh03_quarter_from_financial_year_and_period_end(tmp_path):
    F.write_kh03(tmp_path / "k" / "kh03-q1.csv", "2023-24", "June", [("RNA", "DUDLEY", 636, 600)])
    F.write_kh03(tmp_path / "k" / "kh03-q4.csv", "2023-24", "March", [("RNA", "DUDLEY", 640, 608)], title_lines=9)
    res = load("beds", tmp_path / "k")
    assert _get(res.frame, "RNA", "ga_occupancy_pct", "2023-Q2").numerator == 600
    r = _get(res.frame, "RNA", "ga_occupancy_pct", "2024-Q1")
    assert (r.value, r.numerator, r.denominator) == (95.0, 608, 640)


def test_beds_mixing_kh03_and_sitrep_is_an_error(tmp_path):
    a = F.write_kh03(tmp_path / "m" / "a-kh03.csv", "2023-24", "June", [("RNA", "DUDLEY", 636, 600)])
    b = F.write_sitrep(tmp_path / "m" / "b-sitrep.csv", "2024-11", [("RNA", "DUDLEY", 600, 570, 30, 25)])
    with pytest.raises(DataError) as exc:
        load("beds", tmp_path / "m")
    assert str(exc.value) == (f"{b}: mixed layouts: {a} is KH03 (quarterly) and {b} is the UEC sitrep (monthly); "
                              f"import them into separate tables")


def test_sitrep_daily_rows_are_averaged_over_the_month(tmp_path):
    path = tmp_path / "sitrep-daily.csv"
    path.write_text("Date,Code,Name,G&A beds available,G&A beds occupied\n"
                    "2024-11-01,RNA,DUDLEY,600,560\n2024-11-02,RNA,DUDLEY,620,600\n"
                    "2024-12-01,RNA,DUDLEY,610,600\n")
    res = load("beds", path)
    r = _get(res.frame, "RNA", "ga_occupancy_pct", "2024-11")
    assert (r.value, r.numerator, r.denominator) == (pytest.approx(100 * 580 / 610), 580, 610)
    assert _get(res.frame, "RNA", "ga_occupancy_pct", "2024-12").numerator == 600
    assert (f"{path}: several rows per trust and month (daily figures): beds available and occupied are "
            f"averaged over the month") in res.report.notes
