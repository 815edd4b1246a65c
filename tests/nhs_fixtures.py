"""Fixture writers: small files in the exact published NHS England layouts.

The header lists are copied from ``../shared/formats/`` (RTT, A&E 2019 onwards,
DM01) and from the column names in ``../shared/REFERENCES.md`` (cancer); the
tests do not read ``../shared`` to build them. ``test_nhs_formats`` checks the
copies against ``../shared/formats`` when it is present.

Older A&E files ("Number of A&E attendances Type 1" generation) and the beds files
(UEC sitrep, KH03 "NHS Trust by Sector") have no header file in ``../shared``; their
layouts here follow public parsers of those files and REFERENCES.md.
"""
from __future__ import annotations

import calendar
import csv
import io
import zipfile
from pathlib import Path

# --------------------------------------------------------------------------- RTT
RTT_ID_COLUMNS = [
    "Period", "Provider Parent Org Code", "Provider Parent Name", "Provider Org Code", "Provider Org Name",
    "Commissioner Parent Org Code", "Commissioner Parent Name", "Commissioner Org Code", "Commissioner Org Name",
    "RTT Part Type", "RTT Part Description", "Treatment Function Code", "Treatment Function Name",
]
RTT_TAIL = ["Total", "Patients with unknown clock start date", "Total All"]
RTT_HEADER_52 = (RTT_ID_COLUMNS + [f"Gt {k:02d} To {k + 1:02d} Weeks SUM 1" for k in range(52)]
                 + ["Gt 52 Weeks SUM 1"] + RTT_TAIL)
RTT_HEADER_104 = (RTT_ID_COLUMNS + [f"Gt {k:02d} To {k + 1:02d} Weeks SUM 1" for k in range(104)]
                  + ["Gt 104 Weeks SUM 1"] + RTT_TAIL)
RTT_PART_DESCRIPTIONS = {
    "Part_1A": "Completed Pathways For Admitted Patients",
    "Part_1B": "Completed Pathways For Non-Admitted Patients",
    "Part_2": "Incomplete Pathways",
    "Part_2A": "Incomplete Pathways with DTA",
    "Part_3": "New RTT Periods - All Patients",
}
TFC_NAMES = {"C_330": "Dermatology Service", "C_120": "Ear Nose and Throat Service",
             "C_130": "Ophthalmology Service", "C_999": "Total"}
TRUSTS = {"RNA": "THE DUDLEY GROUP NHS FOUNDATION TRUST", "RL4": "THE ROYAL WOLVERHAMPTON NHS TRUST",
          "RXK": "SANDWELL AND WEST BIRMINGHAM HOSPITALS NHS TRUST", "RBK": "WALSALL HEALTHCARE NHS TRUST"}
COMMISSIONERS = {"15E": "NHS BIRMINGHAM AND SOLIHULL CCG", "05C": "NHS DUDLEY CCG"}


def month_name_label(month: str, prefix: str, upper: bool = False) -> str:
    """'2026-06' -> 'RTT-June-2026' (or 'MSitAE-JUNE-2026' with upper=True)."""
    y, m = int(month[:4]), int(month[5:7])
    name = calendar.month_name[m]
    return f"{prefix}-{name.upper() if upper else name}-{y}"


def _write(path: Path, header: list[str], rows: list[list], front: list[str] | None = None,
           encoding: str = "utf-8", quote_all: bool = False) -> Path:
    buf = io.StringIO()
    for line in front or []:
        buf.write(line + "\r\n")
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def rtt_rows(month: str, pathways: list[dict], layout: int = 104, c999: bool = True,
             other_parts: bool = True) -> list[list]:
    """Rows of one RTT Full CSV month.

    ``pathways``: Part_2 cells, one dict per (provider, commissioner, treatment
    function): ``{"prov", "comm", "tfc", "weeks": {lower_week: count}, "unknown": n}``.
    A band at or over the layout's top goes into its open band. ``c999`` adds the
    all-specialty rows (the sum of the specialties per commissioner). ``other_parts``
    adds Part_1A/1B (completed), Part_2A (a subset of Part_2) and Part_3 (new
    periods, bands blank) rows that a loader must not add to the waiting list.
    """
    header = RTT_HEADER_104 if layout == 104 else RTT_HEADER_52
    nb = layout
    period = month_name_label(month, "RTT")
    out = []

    def row(prov, comm, part, tfc, bands, total, unknown, total_all):
        ident = [period, "QUA", "NHS BLACK COUNTRY INTEGRATED CARE BOARD", prov, TRUSTS.get(prov, prov + " TRUST"),
                 "Y60", "MIDLANDS COMMISSIONING REGION", comm, COMMISSIONERS.get(comm, comm),
                 part, RTT_PART_DESCRIPTIONS[part], tfc, TFC_NAMES.get(tfc, tfc)]
        r = ident + bands + [total, unknown, total_all]
        assert len(r) == len(header)
        return r

    def bandvec(weeks: dict[int, int]) -> list:
        v = [0] * (nb + 1)
        for lo, n in weeks.items():
            v[min(lo, nb)] += n
        return v

    cells = list(pathways)
    if c999:
        agg: dict[tuple, dict] = {}
        for p in pathways:
            a = agg.setdefault((p["prov"], p["comm"]), {"prov": p["prov"], "comm": p["comm"], "tfc": "C_999",
                                                         "weeks": {}, "unknown": 0})
            for lo, n in p["weeks"].items():
                a["weeks"][lo] = a["weeks"].get(lo, 0) + n
            a["unknown"] += p.get("unknown", 0)
        cells += list(agg.values())
    for p in cells:
        b = bandvec(p["weeks"])
        unk = p.get("unknown", 0)
        out.append(row(p["prov"], p["comm"], "Part_2", p["tfc"], b, None, unk, sum(b) + unk))
        if other_parts:
            half = [x // 2 for x in b]
            out.append(row(p["prov"], p["comm"], "Part_2A", p["tfc"], half, None, 0, sum(half)))
            done = [x + 3 for x in b]
            out.append(row(p["prov"], p["comm"], "Part_1A", p["tfc"], done, sum(done), 0, sum(done)))
            out.append(row(p["prov"], p["comm"], "Part_1B", p["tfc"], done, sum(done), 1, sum(done) + 1))
            out.append(row(p["prov"], p["comm"], "Part_3", p["tfc"], [None] * (nb + 1), None, None, 77))
    return out


def write_rtt(path: Path, month: str, pathways: list[dict], layout: int = 104, front_matter: bool = False,
              encoding: str = "utf-8", **kw) -> Path:
    """One RTT Full CSV file; ``front_matter`` adds the two lines of pre-2017-10 files."""
    header = RTT_HEADER_104 if layout == 104 else RTT_HEADER_52
    front = None
    if front_matter:
        y, m = int(month[:4]), int(month[5:7])
        front = [f"Referral to Treatment Waiting Times Statistics,{calendar.month_name[m]} {y}",
                 "Source: NHS England Unify2 data collection - RTT"]
    return _write(path, header, rtt_rows(month, pathways, layout, **kw), front, encoding)


def zip_files(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def rtt_series_month_pathways(month_index: int, trusts: list[str]) -> list[dict]:
    """Part_2 cells for month ``month_index`` of a series: a known waiting list per trust.

    Trust k, month t: dermatology 100 + 10k + t patients at week 5, 20 at week 30 and
    t at week 60; ENT 50 + k patients at week 10; unknown clock start 1 (dermatology).
    The waiting list is therefore 171 + 11k + 2t, and the 52-week waiters t.
    """
    cells = []
    for k, prov in enumerate(trusts):
        cells.append({"prov": prov, "comm": "05C", "tfc": "C_330",
                      "weeks": {5: 100 + 10 * k + month_index, 30: 20, 60: month_index}, "unknown": 1})
        cells.append({"prov": prov, "comm": "15E", "tfc": "C_120", "weeks": {10: 50 + k}, "unknown": 0})
    return cells


def month_seq(start: str, n: int) -> list[str]:
    y, m = int(start[:4]), int(start[5:7])
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        m += 1
        if m == 13:
            y, m = y + 1, 1
    return out


def write_rtt_series(folder: Path, start: str = "2020-01", n: int = 24, trusts=("RNA", "RL4", "RXK", "RBK"),
                     zipped_every: int = 3) -> list[str]:
    """One file per month; the 52-week layout before 2021-04, the 104-week one after;
    every ``zipped_every``-th month is published as a zip, as NHS England does."""
    months = month_seq(start, n)
    for t, month in enumerate(months):
        layout = 104 if month >= "2021-04" else 52
        cells = rtt_series_month_pathways(t, list(trusts))
        name = f"{month}-RTT-full-extract.csv"
        if zipped_every and t % zipped_every == 0:
            tmp = folder / ".tmp" / name
            write_rtt(tmp, month, cells, layout=layout, other_parts=False)
            zip_files(folder / f"Full-CSV-data-file-{month}-ZIP.zip", {name: tmp.read_bytes()})
            tmp.unlink()
            tmp.parent.rmdir()
        else:
            write_rtt(folder / name, month, cells, layout=layout, other_parts=False)
    return months


# --------------------------------------------------------------------------- cancer
CANCER_HEADER = ["PERIOD", "STANDARD", "ORG CODE", "TREATMENT MODALITY", "CANCER TYPE", "STAGE/ROUTE",
                 "TOTAL", "WITHIN STANDARD", "BREACHES"]


def write_cancer(path: Path, rows: list[tuple], encoding: str = "utf-8") -> Path:
    """rows: (period 'YYYY-MM-DD', standard, org, modality, cancer type, route, total, within)."""
    out = [[p, s, o, mod, ct, rt, tot, wi, (None if tot in (None, "", "*") or wi in (None, "", "*")
                                            else int(tot) - int(wi))]
           for p, s, o, mod, ct, rt, tot, wi in rows]
    return _write(path, CANCER_HEADER, out, encoding=encoding)


# --------------------------------------------------------------------------- A&E
AE_HEADER_2019 = [
    "Period", "Org Code", "Parent Org", "Org name", "A&E attendances Type 1", "A&E attendances Type 2",
    "A&E attendances Other A&E Department", "A&E attendances Booked Appointments Type 1",
    "A&E attendances Booked Appointments Type 2", "A&E attendances Booked Appointments Other Department",
    "Attendances over 4hrs Type 1", "Attendances over 4hrs Type 2", "Attendances over 4hrs Other Department",
    "Attendances over 4hrs Booked Appointments Type 1", "Attendances over 4hrs Booked Appointments Type 2",
    "Attendances over 4hrs Booked Appointments Other Department",
    "Patients who have waited 4-12 hs from DTA to admission",
    "Patients who have waited 12+ hrs from DTA to admission", "Emergency admissions via A&E - Type 1",
    "Emergency admissions via A&E - Type 2", "Emergency admissions via A&E - Other A&E department",
    "Other emergency admissions",
]
AE_HEADER_OLD = [
    "Period", "Org Code", "Parent Org", "Org name", "Number of A&E attendances Type 1",
    "Number of A&E attendances Type 2", "Number of A&E attendances Other A&E Department",
    "Number of attendances over 4hrs Type 1", "Number of attendances over 4hrs Type 2",
    "Number of attendances over 4hrs Other A&E Department",
    "Number of patients spending >4 hours from decision to admit to admission",
    "Number of patients spending >12 hours from decision to admit to admission",
    "Emergency admissions via A&E - Type 1", "Emergency admissions via A&E - Type 2",
    "Emergency admissions via A&E - Other A&E department", "Other emergency admissions",
]


def write_ae(path: Path, month: str, trusts: list[dict], old: bool = False, total_row: bool = True,
             encoding: str = "utf-8") -> Path:
    """One monthly A&E CSV. trusts: {"code", "name", "att": [t1, t2, other(, b1, b2, bo)],
    "over": [same shape]}; None cells are written blank (a trust reporting no 4-hour
    figures). A TOTAL footer row (column sums) ends the file, as published."""
    header = AE_HEADER_OLD if old else AE_HEADER_2019
    period = month_name_label(month, "MSitAE", upper=True)
    rows, tot = [], None
    for t in trusts:
        att, over = list(t["att"]), list(t["over"])
        if old:
            body = att[:3] + over[:3] + [5, 1, 40, 0, 2, 30]
        else:
            att += [0] * (6 - len(att))
            over += [None if all(v is None for v in over) else 0] * (6 - len(over))
            body = att + over + [5, 1, 40, 0, 2, 30]
        rows.append([period, t["code"], "NHS ENGLAND MIDLANDS", t["name"]] + body)
        vals = [0 if v is None else v for v in body]
        tot = vals if tot is None else [a + b for a, b in zip(tot, vals)]
    if total_row:
        rows.append(["TOTAL", "-", "-", "-"] + tot)
    return _write(path, header, rows, encoding=encoding)


# --------------------------------------------------------------------------- DM01
DM01_HEADER = [
    "Period", "Provider Parent Org Code", "Provider Parent Name", "Provider Org Code", "Provider Org Name",
    "Commissioner Parent Org Code", "Commissioner Parent Name", "Commissioner Org Code", "Commissioner Org Name",
    "Diagnostic Tests Sort Order", "Diagnostic Tests", "00 < 01 Week", "01 < 02 Weeks", "02 < 03 Weeks",
    "03 < 04 Weeks", "04 < 05 Weeks", "05 < 06 Weeks", "06 < 07 Weeks", "07 < 08 Weeks", "08 < 09 Weeks",
    "09 < 10 Weeks", "10 < 11 Weeks", "11 < 12 Weeks", "12 < 13 Weeks", "13+ Weeks", "Total WL",
    "Waiting List Activity", "Planned Activity", "Unscheduled Activity", "Total Activity",
]
DM01_TESTS = [(1, "MRI"), (2, "CT"), (3, "NON_OBSTETRIC_ULTRASOUND")]


def write_dm01(path: Path, month: str, cells: list[dict], encoding: str = "utf-8") -> Path:
    """cells: {"prov", "comm", "weeks": {test sort order: {week: count}}}; the TOTAL row
    (sort order 16) is the sum of the tests, as published; quoted like the real file."""
    period = month_name_label(month, "DM01", upper=True)
    rows = []
    for c in cells:
        total = [0] * 14
        for order, test in DM01_TESTS:
            v = [0] * 14
            for wk, n in c["weeks"].get(order, {}).items():
                v[min(wk, 13)] += n
            total = [a + b for a, b in zip(total, v)]
            rows.append(_dm01_row(period, c, order, test, v))
        rows.append(_dm01_row(period, c, 16, "TOTAL", total))
    return _write(path, DM01_HEADER, rows, encoding=encoding, quote_all=True)


def _dm01_row(period, c, order, test, v):
    return [period, "QUA", "NHS BLACK COUNTRY INTEGRATED CARE BOARD", c["prov"], TRUSTS.get(c["prov"], c["prov"]),
            "QUA", "NHS BLACK COUNTRY INTEGRATED CARE BOARD", c["comm"], COMMISSIONERS.get(c["comm"], c["comm"]),
            order, test] + v + [sum(v), 11, 12, 13, 36]


# --------------------------------------------------------------------------- beds
SITREP_FRONT = ["Title:,Urgent and Emergency Care Daily Situation Reports - Monthly average", "Period:,{label}",
                "Source:,UEC Daily Sitrep", ""]
SITREP_HEADER = ["Region", "Code", "Name", "G&A beds available", "G&A beds occupied", "G&A occupancy rate",
                 "Adult critical care beds available", "Adult critical care beds occupied",
                 "Adult critical care occupancy rate"]


def write_sitrep(path: Path, month: str, trusts: list[tuple], front_lines: int = 4) -> Path:
    """trusts: (code, name, ga_avail, ga_occ, cc_avail, cc_occ); '-' cells allowed.
    ``front_lines`` moves the header row down, as the workbooks do from year to year."""
    y, m = int(month[:4]), int(month[5:7])
    front = [ln.format(label=f"{calendar.month_name[m]} {y}") for ln in SITREP_FRONT][:front_lines]
    rows = []
    for code, name, ga, go, ca, co in trusts:
        def rate(a, b):
            return "-" if "-" in (a, b) or a in (0, None) else round(b / a, 3)
        rows.append(["Midlands", code, name, ga, go, rate(ga, go), ca, co, rate(ca, co)])
    return _write(path, SITREP_HEADER, rows, front)


KH03_GROUP = ["", "", "", "", "", "Available", "", "", "", "", "Occupied", "", "", "", ""]
KH03_HEADER = ["Year", "Period End", "Region Code", "Org Code", "Org Name", "Total", "General & Acute",
               "Learning Disabilities", "Maternity", "Mental Illness", "Total", "General & Acute",
               "Learning Disabilities", "Maternity", "Mental Illness"]


def write_kh03(path: Path, year: str, period_end: str, trusts: list[tuple], title_lines: int = 11) -> Path:
    """Sheet 'NHS Trust by Sector' saved as CSV: title block, a group row (Available /
    Occupied), then the header. trusts: (code, name, ga_avail, ga_occ); '-' is missing."""
    front = ["NHS Trust by Sector", "Beds Open Overnight", f"{period_end} {year}"] + [""] * (title_lines - 3)
    front.append(",".join(KH03_GROUP))
    rows = []
    for code, name, ga, go in trusts:
        tot_a = ga if ga == "-" else ga + 40
        tot_o = go if go == "-" else go + 30
        rows.append([year, period_end, "Y60", code, name, tot_a, ga, "-", 40, 0, tot_o, go, "-", 30, 0])
    return _write(path, KH03_HEADER, rows, front)


# --------------------------------------------------------------------------- editing
def edit_cell(path: Path, match: dict[str, str], col: str, value: str, encoding: str = "utf-8") -> int:
    """Set ``col`` to ``value`` in the rows whose cells equal ``match``; returns the
    1-based file line of the first edited row. Lines above the header are kept."""
    text = path.read_bytes().decode(encoding)
    lines = text.splitlines(keepends=True)
    h = next(i for i, ln in enumerate(lines) if ln.startswith(("Period", '"Period"', "PERIOD", "Region", "Year")))
    rows = list(csv.reader(io.StringIO("".join(lines[h:]))))
    header = rows[0]
    first = None
    for k, r in enumerate(rows[1:], start=1):
        if all(r[header.index(c)] == v for c, v in match.items()):
            r[header.index(col)] = value
            first = first or h + k + 1
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(("".join(lines[:h]) + buf.getvalue()).encode(encoding))
    assert first is not None, f"no row matches {match}"
    return first


# --------------------------------------------------------------------------- Excel workbooks
# Written with openpyxl in the published layouts; cells hold numbers as numbers and
# dates as dates, as in the real workbooks. Tests skip when openpyxl is absent.
def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    """A workbook with one sheet per item (in order); ``None`` cells are left empty."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(list(r))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _title_block(lines: list[str], blank: int) -> list[list]:
    return [[t] for t in lines] + [[None]] * blank


def kh03_sheet(year: str, period_end: str, trusts: list[tuple], title_lines: int = 11) -> list[list]:
    """Rows of sheet 'NHS Trust by Sector': title block, group row (Available / Occupied),
    header, an England total row without an org code, then one row per trust;
    trusts: (code, name, ga_avail, ga_occ) with '-' for missing."""
    rows = _title_block(["NHS Trust by Sector", "Beds Open Overnight", f"{period_end} {year}"], title_lines - 3)
    rows.append([None if g == "" else g for g in KH03_GROUP])
    rows.append(list(KH03_HEADER))
    body, tot = [], [0, 0]
    for code, name, ga, go in trusts:
        tot_a = ga if ga == "-" else ga + 40
        tot_o = go if go == "-" else go + 30
        body.append([year, period_end, "Y60", code, name, tot_a, ga, "-", 40, 0, tot_o, go, "-", 30, 0])
    rows.append([year, period_end, None, None, "ENGLAND", 99999, 88888, "-", 40, 0, 99990, 77777, "-", 30, 0])
    return rows + body


def write_kh03_xlsx(path: Path, year: str, period_end: str, trusts: list[tuple], title_lines: int = 11) -> Path:
    """KH03 quarterly workbook: a 'Contents' sheet, 'NHS Trust by Sector' and 'Notes'."""
    return write_xlsx(path, {"Contents": [["Bed Availability and Occupancy Data - Overnight"],
                                          ["NHS Trust by Sector"], ["Notes"]],
                             "NHS Trust by Sector": kh03_sheet(year, period_end, trusts, title_lines),
                             "Notes": [["Notes"], ["'-' denotes not applicable or not available"]]})


def write_sitrep_xlsx(path: Path, month: str, trusts: list[tuple], front_lines: int = 4) -> Path:
    """UEC sitrep monthly workbook: column A empty (as published), a title block with a
    'Period:' cell holding the first day of the month as a date, then the header on a
    row that moves with ``front_lines``; trusts as :func:`write_sitrep`."""
    import datetime

    y, m = int(month[:4]), int(month[5:7])
    front = [[None, "Title:", "Urgent and Emergency Care Daily Situation Reports - Monthly average"],
             [None, "Period:", datetime.datetime(y, m, 1)],
             [None, "Source:", "UEC Daily Sitrep"], [None]][:front_lines]
    rows = front + [[None] + SITREP_HEADER]
    for code, name, ga, go, ca, co in trusts:
        def rate(a, b):
            return "-" if "-" in (a, b) or a in (0, None) else round(b / a, 3)
        rows.append([None, "Midlands", code, name, ga, go, rate(ga, go), ca, co, rate(ca, co)])
    return write_xlsx(path, {"Trust level": rows})


def write_cancer_xlsx(path: Path, rows: list[tuple]) -> Path:
    """The provider extract as the published .xlsx: one data sheet whose PERIOD cells
    are dates, preceded by a 'Notes' sheet; rows as :func:`write_cancer`."""
    import datetime

    out = [list(CANCER_HEADER)]
    for p, s, o, mod, ct, rt, tot, wi in rows:
        br = None if tot in (None, "", "*") or wi in (None, "", "*") else int(tot) - int(wi)
        out.append([datetime.datetime.strptime(p, "%Y-%m-%d"), s, o, mod or None, ct, rt or None, tot, wi, br])
    return write_xlsx(path, {"Notes": [["Cancer Waiting Times - Provider Data Extract"],
                                       ["See the CWT guidance for definitions"]],
                             "CWT CRS Provider Extract": out})


OLD_CANCER_HEADER = ["ODS CODE (1)", "ACCOUNTABLE PROVIDER", "TOTAL TREATED", "WITHIN {d} DAYS",
                     "AFTER {d} DAYS", "% WITHIN {d} DAYS"]


def old_cancer_sheet(days: int, title: str, period_label, trusts: list[tuple], front_blank: int = 2) -> list[list]:
    """Rows of one sheet of an older provider workbook: title lines, a 'Period:' line, blank
    rows, the header, an England total row (code '-'), the trusts, then a footnote.
    trusts: (code, name, total, within), '-' or '*' allowed."""
    rows = [[title], ["Provider based - Monthly"], ["Period:", period_label]] + [[None]] * front_blank
    rows.append([h.format(d=days) for h in OLD_CANCER_HEADER])
    num = [(t, w) for _, _, t, w in trusts if isinstance(t, int) and isinstance(w, int)]
    et, ew = sum(t for t, _ in num), sum(w for _, w in num)
    rows.append(["-", "ENGLAND", et, ew, et - ew, round(ew / et, 3) if et else "-"])
    for code, name, tot, wi in trusts:
        both = isinstance(tot, int) and isinstance(wi, int)
        rows.append([code, name, tot, wi, tot - wi if both else "-", round(wi / tot, 3) if both and tot else "-"])
    rows += [[None], ["(1) ODS code of the accountable provider"]]
    return rows


def write_old_cancer_xlsx(path: Path, period_label, t62: list[tuple], t31: list[tuple],
                          by_cancer: bool = True) -> Path:
    """An older provider workbook: 'Notes', '62-DAY (ALL CANCER)', '31-DAY (ALL CANCER)' and
    (``by_cancer``) a '62-DAY (BY CANCER)' sheet that must not be added again."""
    sheets = {"Notes": [["Cancer Waiting Times"], ["Figures are provisional"]],
              "62-DAY (ALL CANCER)": old_cancer_sheet(
                  62, "62 DAY WAIT FOR FIRST TREATMENT FROM URGENT GP REFERRAL - ALL CANCERS", period_label, t62),
              "31-DAY (ALL CANCER)": old_cancer_sheet(
                  31, "31 DAY WAIT FOR FIRST TREATMENT - ALL CANCERS", period_label, t31, front_blank=4)}
    if by_cancer:
        sheets["62-DAY (BY CANCER)"] = old_cancer_sheet(
            62, "62 DAY WAIT FOR FIRST TREATMENT - BY CANCER", period_label,
            [(c, n, t, w) for c, n, t, w in t62 if isinstance(t, int)])
    return write_xlsx(path, sheets)


# --------------------------------------------------------------------------- real-file layouts
# The layouts below follow the files NHS England publishes, as kept in ../shared/data/nhs-raw
# (read by tests/test_nhs_real_files.py); these writers build small files with the same quirks so
# that the suite covers them without ../shared. Nothing here reads those files.

# A&E, April 2020 to July 2020: the "A&E attendances ..." generation without booked appointments.
AE_HEADER_2020 = [
    "Period", "Org Code", "Parent Org", "Org name", "A&E attendances Type 1", "A&E attendances Type 2",
    "A&E attendances Other A&E Department", "Attendances over 4hrs Type 1", "Attendances over 4hrs Type 2",
    "Attendances over 4hrs Other Department", "Patients who have waited 4-12 hs from DTA to admission",
    "Patients who have waited 12+ hrs from DTA to admission", "Emergency admissions via A&E - Type 1",
    "Emergency admissions via A&E - Type 2", "Emergency admissions via A&E - Other A&E department",
    "Other emergency admissions",
]
# the field-testing trusts of 2019-2020 (0 in every over-4-hours cell)
FIELD_TEST_TRUSTS = ["RC9", "RD3", "RDU", "RFR", "RGR", "RGT", "RHU", "RK9", "RNQ", "RQM", "RVW", "RX1", "RXF",
                     "RYJ"]


def write_ae_real(path: Path, month: str, trusts: list[dict], generation: str = "number-of") -> Path:
    """A monthly A&E CSV as published 2019-12 to 2020-06. trusts: {"code", "name", "att": [t1, t2, other],
    "over": [t1, t2, other]}. ``generation`` "number-of" (to 2020-03: ``Number of ...`` header, footer
    ``,,,Total``) or "2020" (from 2020-04: ``A&E attendances ...`` header, footer ``TOTAL`` in every
    label cell). The footer holds the column sums of the cells as written (a field-test trust's zeros
    included), as NHS England's does."""
    header = AE_HEADER_OLD if generation == "number-of" else AE_HEADER_2020
    period = month_name_label(month, "MSitAE", upper=True)
    rows, tot = [], [0] * 12
    for t in trusts:
        body = list(t["att"]) + list(t["over"]) + [t.get("dta4", 5), 0, t.get("adm", 40), 0, 0, 9]
        rows.append([period, t["code"], "NHS ENGLAND MIDLANDS", t["name"]] + body)
        tot = [a + b for a, b in zip(tot, body)]
    label = ["", "", "", "Total"] if generation == "number-of" else ["TOTAL"] * 4
    rows.append(label + tot)
    return _write(path, header, rows)


CANCER_EXTRACT_HEADER = ["PERIOD", "YEAR", "MONTH", "STANDARD", "ORG CODE", "STAGE/ROUTE", "TREATMENT MODALITY",
                         "CANCER TYPE", "TOTAL TREATED", "WITHIN STANDARD", "BREACHES"]


def cancer_extract_rows(month: str, cells: list[tuple], fds: list[tuple] = ()) -> list[list]:
    """Rows of the provider extract as published from October 2023: for the 31-day and 62-day
    standards, NO 'ALL CANCERS' x 'ALL MODALITIES' row, but two subtotals of the same patients:
    each cancer type with 'ALL MODALITIES' and 'ALL CANCERS' with each modality (one of each per
    provider, standard and route). cells: (standard, org, route, modality, cancer, total, within),
    the patient-level breakdown, which the file itself does not carry; halves allowed.
    fds: (org, route, cancer, total, within) for the 28-day FDS (modality blank, no subtotals)."""
    import datetime

    y, m = int(month[:4]), int(month[5:7])
    day = datetime.datetime(y, m, 1)
    fy = f"{y if m >= 4 else y - 1}/{(y + 1 if m >= 4 else y) % 100:02d}"
    mon = calendar.month_abbr[m].upper()
    by_cancer: dict[tuple, list[float]] = {}
    by_mod: dict[tuple, list[float]] = {}
    for std, org, route, mod, cancer, tot, wi in cells:
        for key, store in (((std, org, route, "ALL MODALITIES", cancer), by_cancer),
                           ((std, org, route, mod, "ALL CANCERS"), by_mod)):
            acc = store.setdefault(key, [0.0, 0.0])
            acc[0] += tot
            acc[1] += wi
    out = []
    for org, route, cancer, tot, wi in fds:
        out.append([day, fy, mon, "28-day FDS", org, route, "", cancer, tot, wi, tot - wi])
    for store in (by_cancer, by_mod):
        for (std, org, route, mod, cancer), (tot, wi) in store.items():
            out.append([day, fy, mon, std, org, route, mod, cancer, tot, wi, tot - wi])
    return out


def write_cancer_extract_xlsx(path: Path, rows: list[list]) -> Path:
    """The extract workbook as published: a single sheet 'CWT CRS Provider Extract'."""
    return write_xlsx(path, {"CWT CRS Provider Extract": [list(CANCER_EXTRACT_HEADER)] + rows})


def kh03_real_sheet(year: str, period_end: str, period_text: str, trusts: list[tuple]) -> list[list]:
    """Sheet 'NHS Trust by Sector' as published (Q2 2020-21): column A empty, a title block in
    column B (Title:, Summary:, Period:, Source:, ... Contact:), a 'Provider Level Data' line, the
    group row (Available / Occupied / % Occupied over the first column of each block), the header
    ('Total ' with a trailing space), an empty spacer column between the blocks, an England row
    without an org code (column sums; 0 in a spacer cell), an empty row, then the trusts.
    trusts: (code, name, ga_avail, ga_occ); the other sectors are fixed; '-' where % is undefined."""
    blocks = ["Total ", "General & Acute", "Learning Disabilities", "Maternity", "Mental Illness"]
    rows = [[], [None, "Title:", "Average daily number of available and occupied beds open overnight by sector"],
            [None, "Summary:", "KH03 is the collection of data to monitor available and occupied beds"],
            [None], [None, "Period:", period_text], [None, "Source:", "NHS England: SDCS data collection - KH03"],
            [None, "Basis:", "Provider"], [None, "Published:", "19th November 2020"], [None, "Revised:"],
            [None, "Status:", "Public"], [None, "Contact:", "england.nhsdata@nhs.net"], [None],
            [None, "Provider Level Data", None, None, len(trusts)]]
    group = [None] * 6 + ["Available"] + [None] * 5 + ["Occupied"] + [None] * 5 + ["% Occupied"] + [None] * 4
    rows.append(group)
    rows.append([None, "Year", "Period End", "Region Code", "Org Code", "Org Name"] + blocks + [None] + blocks
                + [None] + blocks)
    body, tot_a, tot_o = [], [0.0] * 5, [0.0] * 5
    for code, name, ga, go in trusts:
        avail = [None, ga, 0, 12.5, 0]
        occ = [None, go, 0, 7.25, 0]
        avail[0] = sum(v for v in avail[1:] if isinstance(v, (int, float)))
        occ[0] = sum(v for v in occ[1:] if isinstance(v, (int, float)))
        pct = [(o / a if isinstance(a, (int, float)) and isinstance(o, (int, float)) and a else "-")
               for a, o in zip(avail, occ)]
        body.append([None, year, period_end, "Y60", code, name] + avail + [None] + occ + [None] + pct)
        tot_a = [t + (v if isinstance(v, (int, float)) else 0) for t, v in zip(tot_a, avail)]
        tot_o = [t + (v if isinstance(v, (int, float)) else 0) for t, v in zip(tot_o, occ)]
    eng_pct = [o / a if a else "-" for a, o in zip(tot_a, tot_o)]
    rows.append([None, year, period_end, None, None, "England"] + tot_a + [0] + tot_o + [None] + eng_pct)
    rows.append([])
    return rows + body + [[], []]


def write_kh03_real_xlsx(path: Path, year: str, period_end: str, period_text: str, trusts: list[tuple]) -> Path:
    """The KH03 workbook as published: 'NHS Trust by Sector', 'Region by Sector' (no org codes),
    'Occupied by Specialty' (no beds columns) and 'Data Quality' sheets."""
    region = [[], [None, "Title:", "Average daily number of available and occupied beds open overnight by sector"],
              [None, "Area Team Level Data"],
              [None] * 5 + ["Available"] + [None] * 5 + ["Occupied"],
              [None, "Year", "Period End", "Region Code", "AT Name", "Total ", "General & Acute"] + [None] * 4
              + ["Total ", "General & Acute"],
              [None, year, period_end, "Y60", "MIDLANDS COMMISSIONING REGION", 100, 90] + [None] * 4 + [80, 70]]
    specialty = [[], [None, "Title:", "Average daily number of occupied beds open overnight by Consultant Specialty"],
                 [None, "Year", "Period End", "Region Code", "Org Code", "Org Name", "100 General Surgery"],
                 [None, year, period_end, "Y60", trusts[0][0], trusts[0][1], 12.5]]
    return write_xlsx(path, {"NHS Trust by Sector": kh03_real_sheet(year, period_end, period_text, trusts),
                             "Region by Sector": region, "Occupied by Specialty": specialty,
                             "Data Quality": [["Data Quality KH03"], [], ["This file includes all data submitted."]]})


SITREP_LONG_HEADER = ["Period", "Level", "Region", "ICB", "Org Code", "Org Name", "Metric", "Type", "Value"]
SITREP_LONG_METRICS = ["G&A beds available", "G&A core beds available", "G&A beds occupied", "G&A occupancy rate",
                       "Adult G&A beds available", "Adult G&A beds occupied", "Adult critical care beds available",
                       "Adult critical care beds occupied", "Adult critical care occupancy rate",
                       "Number of G&A beds occupied by patients with a length of stay of - 7 or more days"]


def write_sitrep_long(path: Path, month: str, providers: list[dict], national: bool = True,
                      trailing_blank_rows: int = 3) -> Path:
    """The long-format UEC sitrep CSV published from 2024-25 (UTF-8 with a byte-order mark).
    providers: {"code", "name", "icb", "type" ('Type 1' or 'Other'), "ga": (avail, occ, rate),
    "cc": (avail, occ, rate)} with values as published (whole beds; rates to 3 decimals, from the
    unrounded averages, so they need not equal occ / avail); a value may be '-' or '[x]'. National,
    Region and ICB rows are the sums over the providers ('All Type' and 'Type 1'); each metric block
    is written for every level, in the published order (metric by metric). Blank rows end the file."""
    y, m = int(month[:4]), int(month[5:7])
    period = f"01/{m:02d}/{y}"

    def num(v):
        return v if isinstance(v, (int, float)) else 0

    def value(p, metric):
        ga_a, ga_o, ga_r = p["ga"]
        cc_a, cc_o, cc_r = p["cc"]
        return {"G&A beds available": ga_a, "G&A core beds available": ga_a, "G&A beds occupied": ga_o,
                "G&A occupancy rate": ga_r, "Adult G&A beds available": num(ga_a) - 10,
                "Adult G&A beds occupied": num(ga_o) - 5, "Adult critical care beds available": cc_a,
                "Adult critical care beds occupied": cc_o, "Adult critical care occupancy rate": cc_r,
                SITREP_LONG_METRICS[-1]: round(num(ga_o) * 0.4)}[metric]

    rows = []
    for metric in SITREP_LONG_METRICS:
        rate = "rate" in metric
        if national:
            for typ in ("Type 1", "All Type"):
                sel = [p for p in providers if typ == "All Type" or p["type"] == typ]
                if rate:
                    a = sum(num(value(p, metric.replace("occupancy rate", "beds available"))) for p in sel)
                    o = sum(num(value(p, metric.replace("occupancy rate", "beds occupied"))) for p in sel)
                    v = round(o / a, 3) if a else 0
                else:
                    v = sum(num(value(p, metric)) for p in sel)
                rows.append([period, "National", "[z]", "[z]", "ENG", "England", metric, typ, v])
                rows.append([period, "Region", "MIDLANDS", "[z]", "Y60", "Midlands", metric, typ, v])
                rows.append([period, "ICB", "MIDLANDS", "NHS BLACK COUNTRY INTEGRATED CARE BOARD", "QUA",
                             "NHS Black Country ICB", metric, typ, v])
        for p in providers:
            rows.append([period, "Provider", "MIDLANDS", p.get("icb", "NHS BLACK COUNTRY INTEGRATED CARE BOARD"),
                         p["code"], p["name"], metric, p["type"], value(p, metric)])
    rows += [[""] * 9] * trailing_blank_rows
    return _write(path, SITREP_LONG_HEADER, rows, encoding="utf-8-sig")
