"""The NHS loaders on the files NHS England actually publishes (../shared/data/nhs-raw).

Every expected value is read here from the raw cells with the csv module or openpyxl,
independently of the loaders, and the figures quoted in issue 11 are asserted as
literals too. The module skips, saying why, when ../shared is absent; the same quirks
are covered without it by tests/test_nhs_real_layouts.py (fixtures written by
nhs_fixtures).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from evallib.cli import main
from evallib.data.nhs import load
from evallib.data.table import load_table

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "nhs-raw"
AE = RAW / "ae"
CANCER = RAW / "cancer" / "CWT-CRS-Oct-2023-Data-Extract-Provider.xlsx"
KH03 = RAW / "beds" / "Beds-Open-Overnight-Web_File-Final-DE5WC.xlsx"
SITREP = RAW / "beds" / "202501-January-2025-beds-sitrep-data-FINAL-revised.csv"
AE_FILES = {"2019-12": "dec-2019.csv", "2020-01": "jan-2020.csv", "2020-02": "feb-2020.csv",
            "2020-03": "mar-2020.csv", "2020-04": "apr-2020.csv", "2020-05": "may-2020.csv",
            "2020-06": "jun-2020.csv"}
FIELD_TEST = {"RC9", "RD3", "RDU", "RFR", "RGR", "RGT", "RHU", "RK9", "RNQ", "RQM", "RVW", "RX1", "RXF", "RYJ"}

pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not RAW.is_dir(), reason=f"the published NHS England files are not at {RAW} "
                                                          f"(../shared is absent), so they cannot be read")]


def _get(frame, org, metric, period):
    r = frame[(frame["org_code"] == org) & (frame["metric"] == metric) & (frame["period"] == period)]
    assert len(r) == 1, (org, metric, period)
    return r.iloc[0]


def _ae_raw(month: str) -> list[dict]:
    """Provider rows of one A&E CSV: code, name, attendances (3 types), over 4 hours (3 types)."""
    with open(AE / AE_FILES[month], newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    out = []
    for r in rows[1:]:
        if not r or "TOTAL" in (r[0].upper(), r[1].upper(), r[3].upper()):
            continue
        out.append({"code": r[1], "name": r[3], "att": [int(x) for x in r[4:7]], "over": [int(x) for x in r[7:10]],
                    "footer": False})
    return out


def _sheet(path: Path, title: str | None = None) -> list[tuple]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    ws = wb[title] if title else wb.worksheets[0]
    ws.reset_dimensions()
    rows = list(ws.iter_rows(values_only=True))
    wb.close()
    return rows


@pytest.fixture(scope="module")
def ae():
    return load("ae", AE)


@pytest.fixture(scope="module")
def ae_unmapped():
    return load("ae", AE, ods_map=False)


# --------------------------------------------------------------------------- A&E
def test_ae_rna_december_2019_matches_the_raw_cells(ae):
    raw = next(r for r in _ae_raw("2019-12") if r["code"] == "RNA")
    assert (sum(raw["att"]), sum(raw["over"])) == (17114, 3721)
    r = _get(ae.frame, "RNA", "ae_4h_pct", "2019-12")
    assert (r.numerator, r.denominator) == (17114 - 3721, 17114)
    assert round(r.value, 2) == 78.26
    assert _get(ae.frame, "RNA", "ae_attendances", "2019-12").value == 17114


def test_ae_field_test_trusts_are_missing_never_100_and_listed_by_name(ae_unmapped):
    f = ae_unmapped.frame
    rep = ae_unmapped.report
    for month in AE_FILES:
        raw = _ae_raw(month)
        zero = {r["code"] for r in raw if r["att"][0] > 0 and sum(r["over"]) == 0}
        assert zero == FIELD_TEST, month  # exactly the fourteen, every month
        for r in raw:
            if r["code"] in FIELD_TEST:
                row = _get(f, r["code"], "ae_4h_pct", month)
                assert math.isnan(row.value) and math.isnan(row.numerator)
                assert _get(f, r["code"], "ae_attendances", month).value == sum(r["att"])  # attendances kept
    pct = f[f.metric == "ae_4h_pct"]
    assert not (pct[pct.org_code.isin(FIELD_TEST)]["value"] == 100).any()
    assert {c for c, m in rep.not_reported} == FIELD_TEST
    rd3 = rep.not_reported[("RD3", "ae_4h_pct")]
    assert rd3["name"] == "POOLE HOSPITAL NHS FOUNDATION TRUST" and rd3["periods"] == list(AE_FILES)
    assert rd3["reason"].startswith("type 1 attendances but 0 in every over-4-hours cell")
    lines = rep.lines()
    assert "  not reported, so ae_4h_pct is left missing (never 0 or 100): 14 provider(s)" in lines
    assert "    RD3 POOLE HOSPITAL NHS FOUNDATION TRUST: 2019-12 to 2020-06 (7)" in lines
    # walk-in centres and minor injury units with 0 over 4 hours are real zeros: kept at 100%
    assert _get(f, "NMH01", "ae_4h_pct", "2019-12").value == 100.0


def test_ae_england_figure_and_total_rows(ae_unmapped):
    """England = sum over providers of the loaded numerators / denominators; the TOTAL rows agree."""
    f = ae_unmapped.frame
    pct = f[(f.metric == "ae_4h_pct") & (f.period == "2019-12")].dropna(subset=["value"])
    assert round(100 * pct.numerator.sum() / pct.denominator.sum(), 2) == 79.81
    raw = _ae_raw("2019-12")
    att, over = sum(sum(r["att"]) for r in raw), sum(sum(r["over"]) for r in raw)
    assert (att, over) == (1373654 + 43458 + 763425, 381159 + 468 + 14571)  # the file's Total row
    assert round(100 * (att - over) / att, 2) == 81.83  # what counting the field-test zeros would give
    checks = ae_unmapped.report.checks
    assert len(checks) == 14 and all(c.ok for c in checks)
    assert {(c.published, c.loaded) for c in checks if c.source.endswith("dec-2019.csv")} == {
        (att, att), (over, over)}


def test_ae_successors_rc1_into_rc9_and_rd3_keeps_r0d_missing(ae):
    raw = {r["code"]: r for r in _ae_raw("2019-12")}
    assert _get(ae.frame, "RC9", "ae_attendances", "2019-12").value == sum(raw["RC1"]["att"]) + sum(
        raw["RC9"]["att"])
    assert not (ae.frame.org_code == "RC1").any()
    r0d = _get(ae.frame, "R0D", "ae_4h_pct", "2020-01")
    assert math.isnan(r0d.value)  # Poole (RD3) did not report: no half-trust figure for R0D
    assert _get(ae.frame, "R0D", "ae_attendances", "2020-01").value == sum(
        sum(r["att"]) for r in _ae_raw("2020-01") if r["code"] in ("RD3", "RDZ"))
    assert ae.report.ods["RC1 -> RC9"] == 8 and ae.report.ods_detail["RC1 -> RC9"]["periods"] == [
        "2019-12", "2020-01", "2020-02", "2020-03"]
    lines = ae.report.lines()
    assert "    RC1 -> RC9 (2020-04): 8 row(s), 2019-12 to 2020-03 (4)" in lines
    assert any(n.startswith("R0D ae_4h_pct: missing in 2019-12 to 2020-06 because RD3") for n in ae.report.notes)
    assert not any("still reports" in n for n in ae.report.notes)


# --------------------------------------------------------------------------- cancer
@pytest.fixture(scope="module")
def cancer_raw():
    pytest.importorskip("openpyxl")
    rows = _sheet(CANCER, "CWT CRS Provider Extract")
    head = list(rows[0])
    return [dict(zip(head, r)) for r in rows[1:] if any(v is not None for v in r)]


def test_cancer_rxk_october_2023_counted_once(cancer_raw):
    res = load("cancer", CANCER)
    r = _get(res.frame, "RXK", "cancer_62d_pct", "2023-10")
    assert (r.numerator, r.denominator) == (94.5, 139.5)
    by_mod = [x for x in cancer_raw if x["ORG CODE"] == "RXK" and x["STANDARD"] == "62-day Combined"
              and x["CANCER TYPE"] == "ALL CANCERS"]
    by_type = [x for x in cancer_raw if x["ORG CODE"] == "RXK" and x["STANDARD"] == "62-day Combined"
               and x["TREATMENT MODALITY"] == "ALL MODALITIES"]
    for rows in (by_mod, by_type):  # each subtotal alone gives the figure; both together double it
        assert (sum(x["WITHIN STANDARD"] for x in rows), sum(x["TOTAL TREATED"] for x in rows)) == (94.5, 139.5)
    assert not [x for x in cancer_raw if x["CANCER TYPE"] == "ALL CANCERS"
                and x["TREATMENT MODALITY"] == "ALL MODALITIES"]  # no ALL x ALL row in the file


@pytest.mark.parametrize("standard,metric", [("62-day Combined", "cancer_62d_pct"),
                                             ("31-day Combined", "cancer_31d_pct"),
                                             ("28-day FDS", "cancer_fds_28d_pct")])
def test_cancer_provider_sums_equal_each_subtotal_of_the_file(cancer_raw, standard, metric):
    res = load("cancer", CANCER, ods_map=False)
    got = res.frame[res.frame.metric == metric]
    rows = [x for x in cancer_raw if x["STANDARD"] == standard]
    if standard == "28-day FDS":
        sets = [rows]  # no subtotals: every row once
    else:
        sets = [[x for x in rows if x["CANCER TYPE"] == "ALL CANCERS"],
                [x for x in rows if x["TREATMENT MODALITY"] == "ALL MODALITIES"]]
    for s in sets:
        assert got.numerator.sum() == sum(x["WITHIN STANDARD"] for x in s)
        assert got.denominator.sum() == sum(x["TOTAL TREATED"] for x in s)
    assert got.denominator.sum() < sum(x["TOTAL TREATED"] for x in rows) or standard == "28-day FDS"
    expected = {"cancer_62d_pct": (15375.5, 24371.5), "cancer_31d_pct": (46911, 52449),
                "cancer_fds_28d_pct": (192880, 271402)}[metric]
    assert (got.numerator.sum(), got.denominator.sum()) == expected
    assert all(c.ok for c in res.report.checks) and len(res.report.checks) == 4
    assert any("subtotals agree in all 746 comparison(s)" in n for n in res.report.notes)


# --------------------------------------------------------------------------- KH03
def test_kh03_real_workbook_r1h_and_the_file_own_percent():
    pytest.importorskip("openpyxl")
    rows = _sheet(KH03, "NHS Trust by Sector")
    head = next(i for i, r in enumerate(rows) if r and "Org Code" in r)
    assert rows[head][0] is None and rows[head][11] is None  # empty column A, a spacer column
    assert [c for c in rows[head - 1] if c] == ["Available", "Occupied", "% Occupied"]
    r1h = next(r for r in rows if r and len(r) > 4 and r[4] == "R1H")
    avail, occ, pct = r1h[7], r1h[13], r1h[19]   # G&A under Available, Occupied and % Occupied
    assert (round(occ, 2), round(avail, 2)) == (1311.35, 1474.90)
    res = load("beds", KH03)
    r = _get(res.frame, "R1H", "ga_occupancy_pct", "2020-Q3")
    assert (r.numerator, r.denominator) == (occ, avail)
    assert r.value == pytest.approx(100 * pct, abs=1e-9) and round(r.value, 2) == 88.91
    assert res.report.layouts == {"kh03 (header on line 15)": 1}
    assert all(c.ok for c in res.report.checks) and len(res.report.checks) == 3
    assert not any("still reports" in n for n in res.report.notes)  # 2020-Q3 ends before RD3's merger
    assert res.report.ods["RD3 -> R0D"] == 1


# --------------------------------------------------------------------------- long-format sitrep
def test_sitrep_long_rxk_january_2025_providers_only():
    with open(SITREP, newline="", encoding="utf-8-sig") as fh:
        raw = list(csv.DictReader(fh))
    cells = {r["Metric"]: float(r["Value"]) for r in raw if r["Org Code"] == "RXK" and r["Level"] == "Provider"}
    assert (cells["G&A beds occupied"], cells["G&A beds available"]) == (522, 572)
    assert (cells["Adult critical care beds occupied"], cells["Adult critical care beds available"]) == (17, 17)
    res = load("beds", SITREP)
    f = res.frame
    r = _get(f, "RXK", "ga_occupancy_pct", "2025-01")
    assert (r.numerator, r.denominator, round(r.value, 2)) == (522, 572, 91.26)
    r = _get(f, "RXK", "critical_care_occupancy_pct", "2025-01")
    assert (r.numerator, r.denominator, r.value) == (17, 17, 100.0)
    providers = {r["Org Code"] for r in raw if r["Level"] == "Provider"}
    assert set(f.org_code) == providers and len(providers) == 134
    assert not {"ENG", "Y60", "QUA"} & set(f.org_code)
    assert res.report.layouts == {"uec-sitrep-long": 1}
    assert all(c.ok for c in res.report.checks) and len(res.report.checks) == 9
    ga = f[f.metric == "ga_occupancy_pct"]
    nat = {(r["Metric"], r["Type"]): float(r["Value"]) for r in raw if r["Level"] == "National"}
    assert ga.denominator.sum() == 103579 and nat[("G&A beds available", "All Type")] == 103578  # rounding


# --------------------------------------------------------------------------- the command, every file
@pytest.mark.parametrize("kind,path", [("ae", AE), ("cancer", CANCER), ("beds", KH03), ("beds", SITREP)],
                         ids=["ae", "cancer", "kh03", "sitrep"])
def test_every_published_file_imports_with_the_command(tmp_path, capsys, kind, path):
    out = tmp_path / "metrics.csv"
    rc = main(["import", kind, str(path), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "checked against the file's own totals:" in text and "DIFFERS" not in text
    assert len(load_table(out).frame) > 100
