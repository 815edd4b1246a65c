"""Excel workbooks (.xlsx, and zips of them) through the NHS loaders: KH03, the UEC
sitrep, the cancer provider extract and the older multi-sheet cancer workbooks.

Every fixture is written with openpyxl in the published layout (nhs_fixtures); the
expected values are worked out by hand in the comments.
"""
from __future__ import annotations

import datetime
import math
import sys

import pytest

import nhs_fixtures as F
from evallib.data.nhs import load
from evallib.data.table import TIDY_COLUMNS
from evallib.exceptions import DataError

pytest.importorskip("openpyxl")


def _get(frame, org, metric, period):
    r = frame[(frame["org_code"] == org) & (frame["metric"] == metric) & (frame["period"] == period)]
    assert len(r) == 1, (org, metric, period)
    return r.iloc[0]


def _error(kind, path) -> str:
    with pytest.raises(DataError) as exc:
        load(kind, path)
    return str(exc.value)


# --------------------------------------------------------------------------- KH03
def test_kh03_workbook_front_matter_dash_and_england_row(tmp_path):
    # 2023-24, Period End September -> calendar 2023-Q3. RNA 608/640 = 95%; RXK 450/500 = 90%;
    # RL4 has '-' for G&A available -> missing, never 0. Header on row 13 (11 title rows + group row).
    p = F.write_kh03_xlsx(tmp_path / "Beds-Open-Overnight-Web_File-Q2-2023-24.xlsx", "2023-24", "September",
                          [("RNA", "DUDLEY", 640, 608), ("RL4", "WOLVERHAMPTON", "-", 500),
                           ("RXK", "SANDWELL", 500, 450)])
    res = load("beds", p)
    f = res.frame
    assert list(f.columns) == TIDY_COLUMNS
    assert sorted(f["org_code"]) == ["RL4", "RNA", "RXK"]
    r = _get(f, "RNA", "ga_occupancy_pct", "2023-Q3")
    assert (r.value, r.numerator, r.denominator, r.org_name) == (95.0, 608, 640, "DUDLEY")
    r = _get(f, "RXK", "ga_occupancy_pct", "2023-Q3")
    assert (r.value, r.numerator, r.denominator) == (90.0, 450, 500)
    assert math.isnan(_get(f, "RL4", "ga_occupancy_pct", "2023-Q3").value)
    rep = res.report
    assert dict(rep.layouts) == {"kh03 (header on line 13)": 1}
    assert rep.files == [f"{p}!NHS Trust by Sector"]
    assert rep.missing == {"'-' (not available)": 1}
    assert rep.dropped == {"rows without an organisation code (England and region totals, notes)": 1}
    assert rep.notes[:2] == [f"{p}!Contents: sheet skipped (no beds (UEC sitrep / KH03) header)",
                             f"{p}!Notes: sheet skipped (no beds (UEC sitrep / KH03) header)"]


# --------------------------------------------------------------------------- UEC sitrep
def test_sitrep_workbooks_moving_header_date_period_and_zip(tmp_path):
    # November: header on row 5, Period: cell is a date (2024-11-01). RNA G&A 570/600 = 95%,
    # critical care 25/30 = 83.33%; RBK G&A available '-' -> missing, critical care 13/13 = 100%.
    # December (inside a zip): header on row 3; RNA G&A 608/640 = 95%, critical care 24/32 = 75%.
    F.write_sitrep_xlsx(tmp_path / "in" / "sitrep-nov.xlsx", "2024-11",
                        [("RNA", "DUDLEY", 600, 570, 30, 25), ("RBK", "WALSALL", "-", 500, 13, 13)], front_lines=4)
    dec = F.write_sitrep_xlsx(tmp_path / "tmp" / "sitrep-dec.xlsx", "2024-12",
                              [("RNA", "DUDLEY", 640, 608, 32, 24)], front_lines=2)
    F.zip_files(tmp_path / "in" / "sitrep-dec.zip", {"sitrep-dec.xlsx": dec.read_bytes()})
    res = load("beds", tmp_path / "in")
    f = res.frame
    r = _get(f, "RNA", "ga_occupancy_pct", "2024-11")
    assert (r.value, r.numerator, r.denominator) == (95.0, 570, 600)
    r = _get(f, "RNA", "critical_care_occupancy_pct", "2024-11")
    assert (r.value, r.numerator, r.denominator) == (pytest.approx(100 * 25 / 30), 25, 30)
    assert math.isnan(_get(f, "RBK", "ga_occupancy_pct", "2024-11").value)
    assert _get(f, "RBK", "critical_care_occupancy_pct", "2024-11").value == 100.0
    r = _get(f, "RNA", "critical_care_occupancy_pct", "2024-12")
    assert (r.value, r.numerator, r.denominator) == (75.0, 24, 32)
    assert _get(f, "RNA", "ga_occupancy_pct", "2024-12").value == 95.0
    assert len(f) == 6
    assert dict(res.report.layouts) == {"uec-sitrep (header on line 5)": 1, "uec-sitrep (header on line 3)": 1}
    assert res.report.files == [f"{tmp_path / 'in' / 'sitrep-dec.zip'}!sitrep-dec.xlsx!Trust level",
                                f"{tmp_path / 'in' / 'sitrep-nov.xlsx'}!Trust level"]
    assert res.report.missing == {"'-' (not available)": 1}


# --------------------------------------------------------------------------- cancer provider extract
EXTRACT_ROWS = [
    # 62-day: 7/10 + 5/5 + 2/4 = 14/19
    ("2024-04-01", "62-day Combined", "RNA", "Surgery", "Lung", "Urgent Suspected Cancer", 10, 7),
    ("2024-04-01", "62-day Combined", "RNA", "Surgery", "Breast", "Urgent Suspected Cancer", 5, 5),
    ("2024-04-01", "62-day Combined", "RNA", "Radiotherapy", "Lung", "Screening", 4, 2),
    # 28-day FDS: 15/20 + 9/10 = 24/30 = 80%
    ("2024-04-01", "28-day FDS", "RNA", "", "Suspected lung cancer", "URGENT SUSPECTED CANCER", 20, 15),
    ("2024-04-01", "28-day FDS", "RNA", "", "Suspected breast cancer", "BREAST SYMPTOMATIC", 10, 9),
    # 31-day: 24/25 + 14/15 = 38/40 = 95%
    ("2024-04-01", "31-day Combined", "RNA", "Surgery", "ALL CANCERS", "First Treatment", 25, 24),
    ("2024-04-01", "31-day Combined", "RNA", "Radiotherapy", "ALL CANCERS", "First Treatment", 15, 14),
    # RL4: suppressed within -> missing, not 0%
    ("2024-04-01", "62-day Combined", "RL4", "Surgery", "Lung", "Urgent Suspected Cancer", 8, "*"),
    # May, PERIOD a date cell too: RNA 62-day 9/12 = 75%
    ("2024-05-01", "62-day Combined", "RNA", "Surgery", "Lung", "Urgent Suspected Cancer", 12, 9),
]


def test_cancer_extract_xlsx_dates_and_notes_sheet(tmp_path):
    p = F.write_cancer_xlsx(tmp_path / "CWT-CRS-Provider-Extract.xlsx", EXTRACT_ROWS)
    res = load("cancer", p)
    f = res.frame
    r = _get(f, "RNA", "cancer_62d_pct", "2024-04")
    assert (r.value, r.numerator, r.denominator) == (pytest.approx(100 * 14 / 19), 14, 19)
    r = _get(f, "RNA", "cancer_fds_28d_pct", "2024-04")
    assert (r.value, r.numerator, r.denominator) == (80.0, 24, 30)
    r = _get(f, "RNA", "cancer_31d_pct", "2024-04")
    assert (r.value, r.numerator, r.denominator) == (95.0, 38, 40)
    r = _get(f, "RNA", "cancer_62d_pct", "2024-05")
    assert (r.value, r.numerator, r.denominator) == (75.0, 9, 12)
    assert math.isnan(_get(f, "RL4", "cancer_62d_pct", "2024-04").value)
    assert len(f) == 5
    assert res.report.files == [f"{p}!CWT CRS Provider Extract"]
    assert dict(res.report.layouts) == {"cwt-provider-extract": 1}
    # RL4: WITHIN STANDARD '*', so the writer leaves BREACHES blank
    assert res.report.missing == {"'*' (suppressed)": 1, "blank (not collected)": 1}
    assert f"{p}!Notes: sheet skipped (no cancer waiting times provider extract header)" in res.report.notes


# --------------------------------------------------------------------------- older cancer workbooks
T62 = [("RNA", "THE DUDLEY GROUP NHS FOUNDATION TRUST", 40, 32),   # 32/40 = 80%
       ("RL4", "THE ROYAL WOLVERHAMPTON NHS TRUST", 50, "*"),      # suppressed -> missing
       ("RXK", "SANDWELL AND WEST BIRMINGHAM HOSPITALS NHS TRUST", 16, 12)]  # 12/16 = 75%
T31 = [("RNA", "THE DUDLEY GROUP NHS FOUNDATION TRUST", 100, 97),  # 97%
       ("RL4", "THE ROYAL WOLVERHAMPTON NHS TRUST", 64, 62),       # 62/64 = 96.875%
       ("RXK", "SANDWELL AND WEST BIRMINGHAM HOSPITALS NHS TRUST", "-", "-")]  # not available


def test_old_cancer_workbook_all_cancer_sheets(tmp_path):
    p = F.write_old_cancer_xlsx(tmp_path / "Provider-Based-Cancer-Waiting-Times.xlsx", "April 2019", T62, T31)
    res = load("cancer", p)
    f = res.frame
    assert list(f.columns) == TIDY_COLUMNS
    r = _get(f, "RNA", "cancer_62d_pct", "2019-04")
    assert (r.value, r.numerator, r.denominator, r.org_name) == (80.0, 32, 40, "THE DUDLEY GROUP NHS FOUNDATION TRUST")
    r = _get(f, "RXK", "cancer_62d_pct", "2019-04")
    assert (r.value, r.numerator, r.denominator) == (75.0, 12, 16)
    r = _get(f, "RL4", "cancer_62d_pct", "2019-04")
    assert math.isnan(r.value) and math.isnan(r.numerator) and math.isnan(r.denominator)
    r = _get(f, "RNA", "cancer_31d_pct", "2019-04")
    assert (r.value, r.numerator, r.denominator) == (97.0, 97, 100)
    r = _get(f, "RL4", "cancer_31d_pct", "2019-04")
    assert (r.value, r.numerator, r.denominator) == (96.875, 62, 64)
    assert math.isnan(_get(f, "RXK", "cancer_31d_pct", "2019-04").value)
    assert len(f) == 6  # the '62-DAY (BY CANCER)' sheet is not added to the all-cancer figures
    rep = res.report
    assert dict(rep.layouts) == {"cwt-provider-workbook 62-day (header on line 6)": 1,
                                 "cwt-provider-workbook 31-day (header on line 8)": 1}
    # per sheet: the England row (code '-') and the footnote line
    assert rep.dropped == {"rows without a provider code (England total, footnotes)": 4}
    # RL4 62-day: WITHIN '*', AFTER '-'; RXK 31-day: TOTAL, WITHIN and AFTER '-'
    assert rep.missing == {"'*' (suppressed)": 1, "'-' (not available)": 4}
    assert rep.notes == [f"{p}!Notes: sheet skipped (no cancer waiting times provider extract header)",
                         f"{p}!62-DAY (BY CANCER): sheet skipped (only the '62-DAY (ALL CANCER)' and "
                         f"'31-DAY (ALL CANCER)' sheets are read; the other sheets count the same patients again)"]


def test_old_cancer_workbooks_in_a_zip_with_a_date_period(tmp_path):
    # April from the 'Period:' text, May from a date cell; both workbooks inside one zip.
    a = F.write_old_cancer_xlsx(tmp_path / "t" / "apr.xlsx", "April 2019", T62, T31, by_cancer=False)
    b = F.write_old_cancer_xlsx(tmp_path / "t" / "may.xlsx", datetime.datetime(2019, 5, 1),
                                [("RNA", "THE DUDLEY GROUP NHS FOUNDATION TRUST", 50, 45)],   # 90%
                                [("RNA", "THE DUDLEY GROUP NHS FOUNDATION TRUST", 80, 76)])   # 95%
    z = F.zip_files(tmp_path / "cwt-2019.zip", {"apr.xlsx": a.read_bytes(), "may.xlsx": b.read_bytes()})
    f = load("cancer", z).frame
    assert list(f.loc[f["org_code"] == "RNA", "period"].unique()) == ["2019-04", "2019-05"]
    assert _get(f, "RNA", "cancer_62d_pct", "2019-05").value == 90.0
    assert _get(f, "RNA", "cancer_31d_pct", "2019-05").value == 95.0
    assert _get(f, "RNA", "cancer_62d_pct", "2019-04").value == 80.0


# --------------------------------------------------------------------------- bad input
def test_workbook_without_a_recognisable_sheet(tmp_path):
    p = F.write_xlsx(tmp_path / "cwt.xlsx", {"Notes": [["Cancer Waiting Times"]], "Summary": [["Trust", "Rate"],
                                                                                          ["RNA", 0.8]]})
    assert _error("cancer", p) == (
        f"{p}: no sheet of the workbook has a recognisable header (sheets: 'Notes', 'Summary'); expected cancer "
        f"waiting times provider extract data: check the workbook and the kind, or save the data sheet as CSV")


def test_kh03_workbook_imported_as_cancer_names_the_sheet(tmp_path):
    p = F.write_kh03_xlsx(tmp_path / "kh03.xlsx", "2023-24", "June", [("RNA", "DUDLEY", 636, 600)])
    assert _error("cancer", p) == (f"{p}!NHS Trust by Sector: this file is beds (UEC sitrep / KH03) data, not "
                                   f"cancer waiting times provider extract; import it with `evallib import beds ...`")


def test_old_workbook_sheet_name_and_header_disagree(tmp_path):
    rows = F.old_cancer_sheet(31, "31 DAY WAIT", "April 2019", T31)
    p = F.write_xlsx(tmp_path / "odd.xlsx", {"62-DAY (ALL CANCER)": rows})
    assert _error("cancer", p) == (f"{p}!62-DAY (ALL CANCER): the sheet is a 62-day sheet but its header has "
                                   f"'WITHIN 31 DAYS'; the workbook is inconsistent: check the sheet")


def test_corrupt_xlsx_and_old_xls(tmp_path):
    good = F.write_cancer_xlsx(tmp_path / "good.xlsx", EXTRACT_ROWS)
    bad = tmp_path / "truncated.xlsx"
    bad.write_bytes(good.read_bytes()[:200])
    assert _error("cancer", bad) == (
        f"{bad}: not a readable Excel workbook (BadZipFile: File is not a zip file); the download is truncated "
        f"or corrupt, or it is an old .xls file: download it again, or save it as .xlsx")
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert _error("cancer", xls) == (f"{xls}: is an old-format Excel workbook (.xls), which cannot be read; open "
                                     f"it and save it as .xlsx (Excel Workbook), or save the data sheet as CSV")


def test_missing_openpyxl_says_what_to_do(tmp_path, monkeypatch):
    p = F.write_cancer_xlsx(tmp_path / "cwt.xlsx", EXTRACT_ROWS)
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now raises ImportError
    assert _error("cancer", p) == (
        f"{p}: is an Excel workbook and openpyxl is not installed; install openpyxl, or open it, save the data "
        f"sheet (e.g. 'NHS Trust by Sector' for KH03) as CSV and import the CSV")


def test_wrong_stored_used_range_is_ignored(tmp_path):
    # Some writers store <dimension ref="A1:A1"/>; read-only openpyxl would then see one cell.
    import re
    import zipfile

    good = F.write_kh03_xlsx(tmp_path / "good.xlsx", "2023-24", "June", [("RNA", "DUDLEY", 640, 608)])
    bad = tmp_path / "kh03-bad-dimension.xlsx"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data, n = re.subn(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:A1"', data)
                assert n == 1
            zout.writestr(item, data)
    r = _get(load("beds", bad).frame, "RNA", "ga_occupancy_pct", "2023-Q2")
    assert (r.value, r.numerator, r.denominator) == (95.0, 608, 640)


def test_cli_imports_an_old_cancer_workbook(tmp_path, capsys):
    from evallib.cli import main
    from evallib.data.table import load_table

    p = F.write_old_cancer_xlsx(tmp_path / "cwt-apr-2019.xlsx", "April 2019", T62, T31)
    out = tmp_path / "metrics.csv"
    assert main(["import", "cancer", str(p), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("  layouts:   cwt-provider-workbook 31-day (header on line 8) x1, "
            "cwt-provider-workbook 62-day (header on line 6) x1") in printed
    t = load_table(out).frame
    got = t[(t["org_code"] == "RL4") & (t["metric"] == "cancer_31d_pct")]
    assert got[["period", "value", "numerator", "denominator"]].values.tolist() == [["2019-04", 96.875, 62, 64]]
