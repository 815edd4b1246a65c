"""Every quirk of the published NHS England files, on small files written by nhs_fixtures in
the same layouts, so the suite covers them without ../shared (tests/test_nhs_real_files.py
runs the same loaders on the published files themselves). Expected values are worked out
by hand in the comments.
"""
from __future__ import annotations

import math

import pytest

import nhs_fixtures as F
from evallib.cli import main
from evallib.data.nhs import load
from evallib.data.nhs.ods import Successor
from evallib.exceptions import DataError


def _get(frame, org, metric, period):
    r = frame[(frame["org_code"] == org) & (frame["metric"] == metric) & (frame["period"] == period)]
    assert len(r) == 1, (org, metric, period)
    return r.iloc[0]


def _error(kind, path, **kw) -> str:
    with pytest.raises(DataError) as exc:
        load(kind, path, **kw)
    return str(exc.value)


# --------------------------------------------------------------------------- A&E field-test trusts
AE_MONTH = [
    # 100 + 0 + 50 = 150 attendances, 30 + 0 + 2 = 32 over 4 hours -> 118/150 = 78.67%
    {"code": "RNA", "name": "THE DUDLEY GROUP NHS FOUNDATION TRUST", "att": [100, 0, 50], "over": [30, 0, 2]},
    # a field-test trust: type 1 attendances, 0 in every over-4-hours cell -> missing, not 100%
    {"code": "RD3", "name": "POOLE HOSPITAL NHS FOUNDATION TRUST", "att": [80, 0, 20], "over": [0, 0, 0]},
    # its merger partner reports normally: 60/70 within
    {"code": "RDZ", "name": "ROYAL BOURNEMOUTH HOSPITAL", "att": [70, 0, 0], "over": [10, 0, 0]},
    # a walk-in centre with no breach is a real 100% (type 3 only)
    {"code": "NMH01", "name": "NORWICH PRACTICES LTD", "att": [0, 0, 40], "over": [0, 0, 0]},
    # a type 2 eye unit with no breach: real 100%
    {"code": "RP6", "name": "MOORFIELDS EYE HOSPITAL", "att": [0, 25, 0], "over": [0, 0, 0]},
    # a unit closed for the month: 0 attendances, no denominator
    {"code": "Y02572", "name": "PARK COMMUNITY PRACTICE", "att": [0, 0, 0], "over": [0, 0, 0]},
]


@pytest.mark.parametrize("generation,month", [("number-of", "2019-12"), ("2020", "2020-04")])
def test_ae_field_test_trust_is_not_reported_and_listed(tmp_path, generation, month):
    path = F.write_ae_real(tmp_path / "ae.csv", month, AE_MONTH, generation=generation)
    res = load("ae", path, ods_map=False)
    f = res.frame
    r = _get(f, "RNA", "ae_4h_pct", month)
    assert (r.numerator, r.denominator) == (118, 150)
    rd3 = _get(f, "RD3", "ae_4h_pct", month)
    assert math.isnan(rd3.value) and math.isnan(rd3.numerator) and math.isnan(rd3.denominator)
    assert _get(f, "RD3", "ae_attendances", month).value == 100
    assert _get(f, "NMH01", "ae_4h_pct", month).value == 100.0
    assert _get(f, "RP6", "ae_4h_pct", month).value == 100.0
    assert math.isnan(_get(f, "Y02572", "ae_4h_pct", month).value)
    assert _get(f, "Y02572", "ae_attendances", month).value == 0
    assert res.report.not_reported == {("RD3", "ae_4h_pct"): {
        "name": "POOLE HOSPITAL NHS FOUNDATION TRUST", "periods": [month],
        "reason": "type 1 attendances but 0 in every over-4-hours cell (a field-test trust: no 4-hour figures)"}}
    lines = res.report.lines()
    i = lines.index("  not reported, so ae_4h_pct is left missing (never 0 or 100): 1 provider(s)")
    assert lines[i + 1:i + 3] == [
        "    why: type 1 attendances but 0 in every over-4-hours cell (a field-test trust: no 4-hour figures)",
        f"    RD3 POOLE HOSPITAL NHS FOUNDATION TRUST: {month}"]
    # the footer (label ',,,Total' or 'TOTAL' in every label cell) is dropped and checked: 385 and 42
    assert res.report.dropped == {"TOTAL footer rows": 1}
    assert [(c.what, c.published, c.loaded, c.ok) for c in res.report.checks] == [
        ("attendances: TOTAL row vs sum of the providers (all types)", 385, 385, True),
        ("attendances over 4 hours: TOTAL row vs sum of the providers (all types)", 42, 42, True)]
    assert dict(res.report.layouts) == {"ae-number-of" if generation == "number-of" else "ae-unbooked": 1}


def test_ae_footer_that_disagrees_is_reported(tmp_path):
    path = F.write_ae_real(tmp_path / "ae.csv", "2019-12", AE_MONTH)
    F.edit_cell(path, {"Org name": "Total"}, "Number of attendances over 4hrs Type 1", "99")  # 40 -> 99
    res = load("ae", path, ods_map=False)
    bad = [c for c in res.report.checks if not c.ok]
    assert [(c.published, c.loaded) for c in bad] == [(101, 42)]
    assert any(ln.startswith("    DIFFERS: attendances over 4 hours: TOTAL row vs sum of the providers (all types): "
                             "file 101, read 42 (") for ln in res.report.lines())


def test_ae_field_test_predecessor_leaves_the_successor_missing(tmp_path):
    """RD3 and RDZ -> R0D: R0D's 4-hour figure needs both; RD3 did not report, so it is missing."""
    res = load("ae", F.write_ae_real(tmp_path / "ae.csv", "2019-12", AE_MONTH))
    assert math.isnan(_get(res.frame, "R0D", "ae_4h_pct", "2019-12").value)
    assert _get(res.frame, "R0D", "ae_attendances", "2019-12").value == 170  # 100 + 70
    assert ("R0D ae_4h_pct: missing in 2019-12 because RD3, mapped to R0D, did not report it (a sum with a "
            "missing part is missing)") in res.report.notes


# --------------------------------------------------------------------------- cancer extract, real layout
CELLS = [  # the patients behind the file (the file gives only the two subtotals of them)
    # RXK 62-day: USC 40.5/72 (two modalities), consultant upgrade 39/50.5, screening 15/17 -> 94.5/139.5
    ("62-day Combined", "RXK", "Urgent Suspected Cancer", "Surgery", "Lung", 30, 20.5),
    ("62-day Combined", "RXK", "Urgent Suspected Cancer", "Radiotherapy", "Lung", 12, 5),
    ("62-day Combined", "RXK", "Urgent Suspected Cancer", "Surgery", "Breast", 30, 15),
    ("62-day Combined", "RXK", "Consultant Upgrade", "Anti-cancer drug regimen", "Lung", 50.5, 39),
    ("62-day Combined", "RXK", "Screening", "Surgery", "Breast", 17, 15),
    # RXK 31-day: first 114/126, subsequent 17/19 -> 131/145
    ("31-day Combined", "RXK", "First Treatment", "Surgery", "Skin", 100, 90),
    ("31-day Combined", "RXK", "First Treatment", "Other", "Skin", 26, 24),
    ("31-day Combined", "RXK", "Subsequent Treatment", "Radiotherapy", "Breast", 19, 17),
    # RNA 62-day: 7/10
    ("62-day Combined", "RNA", "Urgent Suspected Cancer", "Surgery", "Breast", 10, 7),
]
FDS = [("RXK", "URGENT SUSPECTED CANCER", "Suspected lung cancer", 100, 70),
       ("RXK", "BREAST SYMPTOMATIC, CANCER NOT SUSPECTED", "Exhibited (non-cancer) breast symptoms", 20, 19)]


def test_cancer_two_crossing_subtotals_count_every_patient_once(tmp_path):
    pytest.importorskip("openpyxl")
    rows = F.cancer_extract_rows("2023-10", CELLS, FDS)
    assert not [r for r in rows if r[6] == "ALL MODALITIES" and r[7] == "ALL CANCERS"]
    path = F.write_cancer_extract_xlsx(tmp_path / "CWT-CRS-Oct-2023-Data-Extract-Provider.xlsx", rows)
    res = load("cancer", path)
    f = res.frame
    r = _get(f, "RXK", "cancer_62d_pct", "2023-10")
    assert (r.numerator, r.denominator) == (94.5, 139.5)  # adding both subtotals would give 189 / 279
    r = _get(f, "RXK", "cancer_31d_pct", "2023-10")
    assert (r.numerator, r.denominator) == (131, 145)
    r = _get(f, "RXK", "cancer_fds_28d_pct", "2023-10")
    assert (r.numerator, r.denominator) == (89, 120)
    assert (_get(f, "RNA", "cancer_62d_pct", "2023-10").value) == 70.0
    # provider sums equal the patients behind the file, standard by standard
    for std, metric in (("62-day Combined", "cancer_62d_pct"), ("31-day Combined", "cancer_31d_pct")):
        cells = [c for c in CELLS if c[0] == std]
        got = f[f.metric == metric]
        assert (got.numerator.sum(), got.denominator.sum()) == (sum(c[6] for c in cells), sum(c[5] for c in cells))
    # the by-cancer-type rows (ALL MODALITIES) are left out: RXK 4 and RNA 1 (62-day), RXK 2 (31-day)
    assert res.report.dropped == {
        "rows with TREATMENT MODALITY ALL ... counting the same patients as rows already used, not added twice": 7}
    assert [(c.what, c.published, c.loaded, c.ok) for c in res.report.checks] == [
        ("cancer_31d_pct denominator: rows used vs the file's other subtotal, all providers", 145, 145, True),
        ("cancer_31d_pct numerator: rows used vs the file's other subtotal, all providers", 131, 131, True),
        ("cancer_62d_pct denominator: rows used vs the file's other subtotal, all providers", 149.5, 149.5, True),
        ("cancer_62d_pct numerator: rows used vs the file's other subtotal, all providers", 101.5, 101.5, True)]
    assert res.report.notes == [f"{path}!CWT CRS Provider Extract: the file's subtotals agree in all 6 "
                                f"comparison(s) (each provider, standard and route counted once)"]


def test_cancer_subtotals_that_disagree_are_reported(tmp_path):
    rows = F.cancer_extract_rows("2023-10", CELLS)
    for r in rows:  # one by-modality subtotal of RXK's screening route is off by 2 treated
        if r[4] == "RXK" and r[5] == "Screening" and r[7] == "ALL CANCERS":
            r[8] += 2
            r[10] += 2
    path = F.write_cancer_extract_xlsx(tmp_path / "cwt.xlsx", rows)
    res = load("cancer", path)
    assert [(c.what.split(":")[0], c.published, c.loaded) for c in res.report.checks if not c.ok] == [
        ("cancer_62d_pct denominator", 149.5, 151.5)]
    assert res.report.notes == [
        f"{path}!CWT CRS Provider Extract: the file's subtotals disagree in 1 of 6 comparison(s) (first: "
        f"2023-10, RXK, cancer_62d_pct, Screening, CANCER TYPE against TREATMENT MODALITY); the rows used are "
        f"the coarsest subtotals"]


def test_cancer_partial_subtotal_replaces_only_its_own_rows(tmp_path):
    """A subtotal for Lung only: it replaces the Lung rows; the Breast row is still counted."""
    rows = [("2024-04-01", "62-day Combined", "RNA", "Surgery", "Lung", "Urgent Suspected Cancer", 10, 7),
            ("2024-04-01", "62-day Combined", "RNA", "Radiotherapy", "Lung", "Urgent Suspected Cancer", 4, 2),
            ("2024-04-01", "62-day Combined", "RNA", "ALL MODALITIES", "Lung", "Urgent Suspected Cancer", 14, 9),
            ("2024-04-01", "62-day Combined", "RNA", "Surgery", "Breast", "Urgent Suspected Cancer", 5, 5)]
    res = load("cancer", F.write_cancer(tmp_path / "cwt.csv", rows))
    r = _get(res.frame, "RNA", "cancer_62d_pct", "2024-04")
    assert (r.numerator, r.denominator) == (14, 19)
    assert [(c.published, c.loaded) for c in res.report.checks] == [(14, 14), (9, 9)]  # parts vs subtotal


# --------------------------------------------------------------------------- KH03, real layout
KH03_TRUSTS = [("R1H", "BARTS HEALTH NHS TRUST", 1474.9021739130435, 1311.3478260869565),
               ("RNA", "THE DUDLEY GROUP NHS FOUNDATION TRUST", 640, 608),
               ("RD3", "POOLE HOSPITAL NHS FOUNDATION TRUST", 400, 300),
               ("TAH", "SHEFFIELD HEALTH & SOCIAL CARE", 0, 0)]  # no G&A beds: % is '-'


def test_kh03_real_workbook_blocks_spacers_and_checks(tmp_path):
    pytest.importorskip("openpyxl")
    path = F.write_kh03_real_xlsx(tmp_path / "Beds-Open-Overnight-Web_File-Final.xlsx", "2020-21", "September",
                                  "July to September 2020", KH03_TRUSTS)
    res = load("beds", path)
    f = res.frame
    r = _get(f, "R1H", "ga_occupancy_pct", "2020-Q3")
    # openpyxl stores 16 significant digits (Excel 17): equal to the written cell within that
    assert (r.numerator, r.denominator) == (pytest.approx(1311.3478260869565, rel=1e-15),
                                            pytest.approx(1474.9021739130435, rel=1e-15))
    assert round(r.value, 2) == 88.91
    assert _get(f, "RNA", "ga_occupancy_pct", "2020-Q3").value == 95.0
    assert math.isnan(_get(f, "TAH", "ga_occupancy_pct", "2020-Q3").value)
    rep = res.report
    assert rep.layouts == {"kh03 (header on line 15)": 1}
    assert rep.files == [f"{path}!NHS Trust by Sector"]
    assert [f"{path}!{s}: sheet skipped (no beds (UEC sitrep / KH03) header)"
            for s in ("Region by Sector", "Occupied by Specialty", "Data Quality")] == rep.notes[:3]
    assert [(c.what, c.ok) for c in rep.checks] == [
        ("G&A available: England row vs sum of the trusts", True),
        ("G&A occupied: England row vs sum of the trusts", True),
        ("G&A % Occupied: trusts where occupied / available differs from the file's % (of 3)", True)]
    # RD3 in 2020-Q3 (July-September) is before its merger (2020-10): mapped, and no "still reports" note
    assert rep.ods == {"RD3 -> R0D": 1}
    assert not any("still reports" in n for n in rep.notes)


def test_kh03_unreadable_cell_names_sheet_row_column_and_value(tmp_path, capsys):
    pytest.importorskip("openpyxl")
    import openpyxl

    path = F.write_kh03_real_xlsx(tmp_path / "kh03.xlsx", "2020-21", "September", "July to September 2020",
                                  KH03_TRUSTS)
    wb = openpyxl.load_workbook(path)
    wb["NHS Trust by Sector"]["N19"] = "n/k"  # RNA's G&A occupied (row 19: the second trust)
    wb.save(path)
    msg = (f"{path}!NHS Trust by Sector: line 19, column 'General & Acute (Occupied, column N)': 'n/k' is not a "
           f"number (expected a count; blank, *, - and [x] are read as missing)")
    assert _error("beds", path) == msg
    out = tmp_path / "metrics.csv"
    assert main(["import", "beds", str(path), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().endswith(msg) and not out.exists()  # nothing written


def test_kh03_layout_without_one_occupied_block_is_refused(tmp_path):
    pytest.importorskip("openpyxl")
    sheet = F.kh03_real_sheet("2020-21", "September", "July to September 2020", KH03_TRUSTS)
    sheet[13][12] = "Available"  # the group row: the Occupied block relabelled
    path = F.write_xlsx(tmp_path / "kh03.xlsx", {"NHS Trust by Sector": sheet})
    assert _error("beds", path) == (
        f"{path}!NHS Trust by Sector: line 15: unknown header: expected one 'General & Acute' column under "
        f"'Available' and one under 'Occupied' (group row, line 14); found: Available (column H), Available "
        f"(column N), % Occupied (column T)")
    sheet[13][12] = "Beds in use"
    path = F.write_xlsx(tmp_path / "kh03b.xlsx", {"NHS Trust by Sector": sheet})
    assert _error("beds", path) == (f"{path}!NHS Trust by Sector: line 14, column M: unknown block 'Beds in use' "
                                    f"in the group row (expected Available, Occupied or % Occupied)")


# --------------------------------------------------------------------------- long-format sitrep
SITREP = [
    # rates from unrounded averages: need not be occ / avail exactly
    {"code": "RXK", "name": "Sandwell and West Birmingham Hospitals NHS Trust", "type": "Type 1",
     "ga": (572, 522, 0.913), "cc": (17, 17, 1)},
    {"code": "RNA", "name": "The Dudley Group NHS Foundation Trust", "type": "Type 1",
     "ga": (640, 608, 0.95), "cc": (20, 15, 0.75)},
    {"code": "RP6", "name": "Moorfields Eye Hospital NHS Foundation Trust", "type": "Other",
     "ga": (10, 3, 0.329), "cc": (0, 0, 0)},  # no critical care: zero denominator
    {"code": "RBK", "name": "Walsall Healthcare NHS Trust", "type": "Type 1",
     "ga": ("[x]", 400, "-"), "cc": (12, 10, 0.908)},
]


def test_sitrep_long_providers_only_and_checks(tmp_path):
    path = F.write_sitrep_long(tmp_path / "202501-January-2025-beds-sitrep-data-FINAL-revised.csv", "2025-01",
                               SITREP)
    res = load("beds", path)
    f = res.frame
    r = _get(f, "RXK", "ga_occupancy_pct", "2025-01")
    assert (r.numerator, r.denominator, r.org_name) == (522, 572, "Sandwell and West Birmingham Hospitals NHS Trust")
    r = _get(f, "RXK", "critical_care_occupancy_pct", "2025-01")
    assert (r.numerator, r.denominator, r.value) == (17, 17, 100.0)
    assert _get(f, "RNA", "critical_care_occupancy_pct", "2025-01").value == 75.0
    assert math.isnan(_get(f, "RP6", "critical_care_occupancy_pct", "2025-01").value)
    assert math.isnan(_get(f, "RBK", "ga_occupancy_pct", "2025-01").value)  # '[x]': missing, never 0
    assert set(f.org_code) == {"RXK", "RNA", "RP6", "RBK"} and len(f) == 8
    rep = res.report
    assert rep.layouts == {"uec-sitrep-long": 1}
    assert rep.missing == {"'[x]' (not available)": 1}
    n_metrics = len(F.SITREP_LONG_METRICS)
    assert rep.dropped == {"rows of Level 'National' (totals of the providers, not read)": 2 * n_metrics,
                           "rows of Level 'Region' (totals of the providers, not read)": 2 * n_metrics,
                           "rows of Level 'ICB' (totals of the providers, not read)": 2 * n_metrics,
                           "provider rows of other metrics (rates, core/escalation/void, paediatric, neonatal, "
                           "length of stay)": 4 * (n_metrics - 4)}
    checks = {c.what: (c.published, c.loaded, c.ok) for c in rep.checks}
    assert checks["G&A beds occupied (All Type): National row vs sum of 4 providers (rounded to whole beds: "
                  "within 2)"] == (1533, 1533, True)
    assert checks["G&A beds available (Type 1): National row vs sum of 2 providers (rounded to whole beds: "
                  "within 1)"] == (1212, 1212, True)  # RBK's '[x]' is neither summed nor checked
    assert checks["occupancy rate rows vs occupied / available within the rounding of the counts (providers "
                  "differing, of 6)"] == (0, 0, True)


def test_sitrep_long_type_rows_and_all_type(tmp_path):
    path = F.write_sitrep_long(tmp_path / "s.csv", "2025-01", SITREP[:1], national=False)
    text = path.read_bytes().decode("utf-8-sig")
    extra = "01/01/2025,Provider,MIDLANDS,ICB,RXK,Sandwell,G&A beds occupied,All Type,530\r\n"
    path.write_bytes(text.replace("\r\n,,,", "\r\n" + extra + ",,,", 1).encode("utf-8-sig"))
    res = load("beds", path)
    assert _get(res.frame, "RXK", "ga_occupancy_pct", "2025-01").numerator == 530  # All Type wins
    assert res.report.dropped["provider rows of one Type where an 'All Type' row gives the same metric"] == 1
    path.write_bytes(text.replace("\r\n,,,", "\r\n" + extra.replace("All Type", "Other") + ",,,", 1)
                     .encode("utf-8-sig"))
    line = next(i for i, ln in enumerate(text.split("\r\n"), 1) if ",RXK," in ln and "G&A beds occupied," in ln)
    n_lines = len([ln for ln in text.split("\r\n") if ln and not ln.startswith(",,,")])
    assert _error("beds", path) == (f"{path}: lines {line} and {n_lines + 1}: two rows for RXK 'G&A beds occupied' "
                                    f"2025-01 (Types 'Type 1' and 'Other'); expected one row per provider, metric "
                                    f"and month")


def test_sitrep_long_bad_cell_and_unknown_layouts(tmp_path, capsys):
    path = F.write_sitrep_long(tmp_path / "s.csv", "2025-01", SITREP, national=False)
    line = F.edit_cell(path, {"Org Code": "RNA", "Metric": "G&A beds occupied"}, "Value", "6O8",
                       encoding="utf-8-sig")
    assert _error("beds", path) == (f"{path}: line {line}, column 'Value' (Org Code RNA, Metric G&A beds "
                                    f"occupied): '6O8' is not a number (expected a count; blank, *, - and [x] "
                                    f"are read as missing)")
    out = tmp_path / "m.csv"
    assert main(["import", "beds", str(path), "--out", str(out)]) == 2 and not out.exists()
    capsys.readouterr()
    path = F.write_sitrep_long(tmp_path / "t.csv", "2025-01", SITREP, national=False)
    text = path.read_bytes().decode("utf-8-sig")
    bad = tmp_path / "u.csv"
    bad.write_text(text.replace("G&A beds", "General beds").replace("critical care beds", "ICU beds"),
                   encoding="utf-8-sig")
    assert _error("beds", bad) == (f"{bad}: unknown layout: no row has Metric 'G&A beds available', 'G&A beds "
                                   f"occupied', 'Adult critical care beds available' or '... occupied' (found: "
                                   f"General beds available, G&A core beds available, General beds occupied, "
                                   f"G&A occupancy rate, Adult General beds available, Adult General beds occupied)")
    icb = tmp_path / "icb.csv"
    icb.write_text(text.replace(",Provider,", ",ICB,"), encoding="utf-8-sig")
    assert _error("beds", icb) == (f"{icb}: no row has Level 'Provider' (levels found: ICB); expected the "
                                   f"provider-level rows of the long-format sitrep")


# --------------------------------------------------------------------------- ODS: periods, not text
def test_successor_dates_compare_periods_not_labels(tmp_path):
    """'2020-Q3' >= '2020-10' as text; as periods July-September 2020 is before October 2020."""
    q3 = F.write_kh03(tmp_path / "q3" / "kh03.csv", "2020-21", "September", [("RD3", "POOLE", 400, 300)])
    res = load("beds", q3)
    assert res.report.ods == {"RD3 -> R0D": 1} and not any("still reports" in n for n in res.report.notes)
    q4 = F.write_kh03(tmp_path / "q4" / "kh03.csv", "2020-21", "December", [("RD3", "POOLE", 400, 300)])
    res = load("beds", q4)
    assert ("RD3 still reports in 2020-Q4, on or after 2020-10 when R0D succeeded it; its rows are added to R0D"
            in res.report.notes)
    table = {"RD3": Successor("RD3", "R0D", "2020-09")}  # a merger inside the quarter: Q3 starts before it
    res = load("beds", q3, ods_map=table)
    assert not any("still reports" in n for n in res.report.notes)
    sep = F.write_ae_real(tmp_path / "m" / "ae.csv", "2020-10", AE_MONTH[:3])
    res = load("ae", sep)
    assert "RD3 still reports in 2020-10, on or after 2020-10 when R0D succeeded it; its rows are added to R0D" in (
        res.report.notes)


def test_rc1_into_rc9_from_april_2020(tmp_path):
    trusts = [{"code": "RC1", "name": "BEDFORD HOSPITAL NHS TRUST", "att": [5000, 0, 100], "over": [900, 0, 1]},
              {"code": "RC9", "name": "LUTON AND DUNSTABLE UNIVERSITY HOSPITAL NHS FOUNDATION TRUST",
               "att": [9000, 0, 5000], "over": [0, 0, 0]}]
    F.write_ae_real(tmp_path / "in" / "mar-2020.csv", "2020-03", trusts)
    F.write_ae_real(tmp_path / "in" / "apr-2020.csv", "2020-04",
                    [{"code": "RC9", "name": "BEDFORDSHIRE HOSPITALS NHS FOUNDATION TRUST", "att": [8000, 0, 1300],
                      "over": [0, 0, 0]}], generation="2020")
    res = load("ae", tmp_path / "in")
    att = res.frame[res.frame.metric == "ae_attendances"].set_index("period")["value"].to_dict()
    assert att == {"2020-03": 19100, "2020-04": 9300}  # 5,100 + 14,000: one series for RC9
    assert set(res.frame.org_code) == {"RC9"}
    assert set(res.frame.org_name) == {"BEDFORDSHIRE HOSPITALS NHS FOUNDATION TRUST"}
    assert "    RC1 -> RC9 (2020-04): 2 row(s), 2020-03" in res.report.lines()
    assert res.report.ods_detail["RC1 -> RC9"]["note"].startswith("Bedford Hospital NHS Trust merged")
    assert ("RC9", "ae_4h_pct") in res.report.not_reported  # a field-test trust before and after


def test_wide_sitrep_total_rows_with_codes_are_not_providers(tmp_path):
    """England, region and ICB lines that carry a code (ENG, Y60, QUA) are totals: dropped, never summed."""
    path = F.write_sitrep(tmp_path / "sitrep-nov.csv", "2024-11",
                          [("ENG", "ENGLAND", 100000, 95000, 4000, 3300), ("Y60", "MIDLANDS", 19000, 18000, 800, 700),
                           ("QUA", "NHS BLACK COUNTRY ICB", 2500, 2400, 90, 80), ("RNA", "DUDLEY", 600, 570, 30, 25),
                           ("Y02572", "PARK COMMUNITY PRACTICE", 10, 5, 0, 0)])
    res = load("beds", path)
    assert set(res.frame.org_code) == {"RNA", "Y02572"}  # a 6-character Y code is an organisation
    assert res.report.dropped == {"rows of England, region or ICB totals (code ENG, Ynn or Qxx), not providers": 3}


def test_cancer_extract_unreadable_cell_names_sheet_row_and_column(tmp_path, capsys):
    pytest.importorskip("openpyxl")
    rows = F.cancer_extract_rows("2023-10", CELLS, FDS)
    rows[3][9] = "12,5 "  # WITHIN STANDARD of the 4th data row (sheet row 5), a decimal comma
    path = F.write_cancer_extract_xlsx(tmp_path / "cwt.xlsx", rows)
    msg = (f"{path}!CWT CRS Provider Extract: line 5, column 'WITHIN STANDARD': '12,5' is not a number (expected "
           f"a count; blank, *, - and [x] are read as missing)")
    assert _error("cancer", path) == msg
    out = tmp_path / "m.csv"
    assert main(["import", "cancer", str(path), "--out", str(out)]) == 2 and not out.exists()
    assert capsys.readouterr().err.strip() == f"evallib import: error: {msg}"


def test_thousands_separator_is_read_but_a_decimal_comma_is_an_error(tmp_path):
    path = F.write_ae_real(tmp_path / "ae.csv", "2019-12", AE_MONTH[:1])
    F.edit_cell(path, {"Org Code": "RNA"}, "Number of A&E attendances Type 1", "1,100")
    F.edit_cell(path, {"Org name": "Total"}, "Number of A&E attendances Type 1", "1,100")
    res = load("ae", path)
    assert _get(res.frame, "RNA", "ae_attendances", "2019-12").value == 1150
    assert all(c.ok for c in res.report.checks)
    line = F.edit_cell(path, {"Org Code": "RNA"}, "Number of A&E attendances Type 1", "110,0")
    assert _error("ae", path) == (f"{path}: line {line}, column 'Number of A&E attendances Type 1': '110,0' is not "
                                  f"a number (expected a count; blank, *, - and [x] are read as missing)")
