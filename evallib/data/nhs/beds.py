"""Beds: the urgent and emergency care (UEC) sitrep, and KH03.

Metrics, in percent, numerator = beds occupied, denominator = beds available:

- ``ga_occupancy_pct``: general and acute (G&A) beds;
- ``critical_care_occupancy_pct``: adult critical care beds (sitrep only).

Layouts (both are published as Excel workbooks, read directly as ``.xlsx`` or as the
data sheet saved as CSV; in a workbook the data sheet is found by its header and
the other sheets are skipped, see :mod:`evallib.data.nhs.common`):

- ``uec-sitrep``: one header row with an organisation ``Code`` column and columns
  named like ``G&A beds available``, ``G&A beds occupied``, ``Adult critical care
  beds available``, ``Adult critical care beds occupied``. The month comes from a
  ``Period``/``Month``/``Date`` column, else from a ``Period:`` line above the
  header, else from the file name. Daily rows (several per trust and month) are
  averaged over the month before the occupancy is taken (mean occupied over mean
  available; a day with a missing figure is left out of that day's mean, never
  read as zero), and the report says so. Monthly periods ``YYYY-MM``.
- ``kh03``: the quarterly sheet "NHS Trust by Sector": a title block, a group row
  (``Available`` ... ``Occupied`` ...) above the header ``Year, Period End, ...,
  Org Code, Org Name, Total, General & Acute, ...``. The quarter is the calendar
  quarter of ``Period End`` in the financial ``Year`` (``2023-24`` + ``June`` is
  2023-Q2). Quarterly periods ``YYYY-Qn``.

Edge cases: the header row moves between years (it is searched for; in a workbook
the line numbers in messages and the layout name are sheet row numbers); an empty
column A (as in the sitrep workbooks) is ignored; a ``Period:`` cell holding a date
gives its month; ``-`` marks a
missing value and is never read as zero; a folder mixing the monthly sitrep with the
quarterly KH03 is an error, because one tidy table holds one frequency.
"""
from __future__ import annotations

import logging
import re
from pathlib import PurePath

import numpy as np
import pandas as pd

from evallib.data.nhs.common import (LoadReport, LoadResult, check_one_file_per_month, column,
                                     drop_superseded, finish, frame_from, header_or_fail, month_label, norm,
                                     parse_periods, read_all, to_number)
from evallib.exceptions import DataError

logger = logging.getLogger(__name__)

KEY_COLUMNS = "Code (or Org Code), G&A beds available, G&A beds occupied (sitrep) or General & Acute (KH03)"
_GA = re.compile(r"(g&a|general & acute|general and acute)")


def _pick(cols: list[str], *, ga: bool, what: str) -> str | None:
    """The column for G&A (ga=True) or adult critical care beds ``what`` (available/occupied)."""
    cands = []
    for c in cols:
        n = norm(c)
        if what not in n or "rate" in n or "%" in n or "occupancy" in n:
            continue
        if ga and _GA.search(n) and not re.search(r"adult|paediatric|child", n):
            cands.append(c)
        if not ga and "critical care" in n and "adult" in n:
            cands.append(c)
    return cands[0] if cands else None


def load_beds(paths, ods_map=None) -> LoadResult:
    """Load UEC sitrep (monthly) or KH03 (quarterly) bed files into the tidy table."""
    report = LoadReport("beds")
    parts, per_file, kinds = [], [], {}
    for src, rows, lines in read_all(paths, "beds", report):
        h = header_or_fail(src, rows, "beds", KEY_COLUMNS)
        cells = {norm(c) for c in rows[h]}
        if "general & acute" in cells and "period end" in cells:
            kind, out = "kh03", _kh03(src, rows, lines, h, report)
        else:
            kind, out = "uec-sitrep", _sitrep(src, rows, lines, h, report)
        kinds.setdefault(kind, src.name)
        if len(kinds) > 1:
            raise DataError(f"{src.name}: mixed layouts: {kinds['kh03']} is KH03 (quarterly) and "
                            f"{kinds['uec-sitrep']} is the UEC sitrep (monthly); import them into separate tables")
        report.layouts[kind + (f" (header on line {lines[h]})" if h else "")] += 1
        per_file.append((src.name, set(out["period"])))
        parts.append(out.assign(_file=src.name))
    skip = check_one_file_per_month(per_file, report)
    data = pd.concat(parts, ignore_index=True)
    data = drop_superseded(data, skip, report)
    return finish(data, report, ods_map)


def _long(period, org, name, pairs: dict[str, tuple[pd.Series, pd.Series]]) -> pd.DataFrame:
    base = pd.DataFrame({"period": period, "org_code": org, "org_name": name})
    return pd.concat([base.assign(metric=m, value=np.nan, numerator=occ, denominator=avail)
                      for m, (avail, occ) in pairs.items()], ignore_index=True)


def _sitrep(src, rows, lines, h, report: LoadReport) -> pd.DataFrame:
    df = frame_from(src, rows, lines, h)
    cols = [c for c in df.columns if c != "_line"]
    c_org = column(src, df, "Org Code", "Code", "Organisation Code", "Trust Code")
    c_name = column(src, df, "Org Name", "Name", "Organisation Name", "Trust Name", required=False)
    c_period = column(src, df, "Period", "Month", "Date", required=False)
    pairs = {}
    ga_a, ga_o = _pick(cols, ga=True, what="available"), _pick(cols, ga=True, what="occupied")
    cc_a, cc_o = _pick(cols, ga=False, what="available"), _pick(cols, ga=False, what="occupied")
    if ga_a and ga_o:
        pairs["ga_occupancy_pct"] = (ga_a, ga_o)
    if cc_a and cc_o:
        pairs["critical_care_occupancy_pct"] = (cc_a, cc_o)
    if not pairs:
        raise DataError(f"{src.name}: unknown header: no 'G&A beds available'/'occupied' or 'Adult critical care "
                        f"beds available'/'occupied' columns (found: {', '.join(cols)[:200]})")
    org = df[c_org].astype(str).str.strip().str.upper()
    blank = org.isin(["", "-"]) | org.str.contains(" ")  # region subtotal lines have no code
    report.drop("rows without an organisation code (subtotals, notes)", int(blank.sum()))
    df, org = df[~blank].copy(), org[~blank]
    if c_period:
        period = parse_periods(src, df, c_period)
    else:
        stated = None
        for row in rows[:h]:
            for j, cell in enumerate(row):
                if norm(cell).rstrip(":") == "period" and j + 1 < len(row):
                    stated = month_label(row[j + 1])
        stated = stated or month_label(PurePath(src.name.split("!")[-1]).stem)
        if stated is None:
            raise DataError(f"{src.name}: no period: add a Period column, keep the 'Period:' line above the "
                            f"header, or put the month in the file name (e.g. beds-2024-11.csv)")
        period = pd.Series(stated, index=df.index)
    num = {m: (to_number(src, df, a, report), to_number(src, df, o, report)) for m, (a, o) in pairs.items()}
    out = _long(period, org, df[c_name].astype(str).str.strip() if c_name else None, num)
    dup = out.duplicated(["period", "org_code", "metric"], keep=False)
    if dup.any():
        report.note(f"{src.name}: several rows per trust and month (daily figures): beds available and "
                    f"occupied are averaged over the month")
        name = out.groupby(["period", "org_code"])["org_name"].last()
        out = out.groupby(["period", "org_code", "metric"], as_index=False)[["numerator", "denominator"]].mean()
        out["value"] = np.nan
        out["org_name"] = [name.get((p, o)) for p, o in zip(out["period"], out["org_code"])]
    return out


def _kh03(src, rows, lines, h, report: LoadReport) -> pd.DataFrame:
    df = frame_from(src, rows, lines, h)
    header = rows[h]
    group = rows[h - 1] if h > 0 else []
    groups, last = [], ""
    for j in range(len(df.columns) - 1):  # the last column is _line
        g = group[j].strip() if j < len(group) else ""
        last = g or last
        groups.append(norm(last))
    ga = [j for j in range(len(groups)) if norm(header[j]) == "general & acute"]
    pos_avail = [j for j in ga if "available" in groups[j]]
    pos_occ = [j for j in ga if "occupied" in groups[j]]
    if len(pos_avail) != 1 or len(pos_occ) != 1:
        raise DataError(f"{src.name}: unknown header: expected one 'General & Acute' column under 'Available' and "
                        f"one under 'Occupied' in the row above the header (KH03 'NHS Trust by Sector')")
    idx = {}
    for j, c in enumerate(header[:len(groups)]):
        idx.setdefault(norm(c), j)
    for key in ("year", "period end", "org code"):
        if key not in idx:
            raise DataError(f"{src.name}: unknown header: column {key!r} is missing from the KH03 header")
    col = lambda j: df.iloc[:, j].astype(str).str.strip()  # noqa: E731
    c_avail, c_occ = "General & Acute (Available)", "General & Acute (Occupied)"
    frame = pd.DataFrame({"year": col(idx["year"]), "end": col(idx["period end"]),
                          "org": col(idx["org code"]).str.upper(),
                          "name": col(idx["org name"]) if "org name" in idx else None,
                          c_avail: col(pos_avail[0]), c_occ: col(pos_occ[0]), "_line": df["_line"]})
    blank = frame["org"].isin(["", "-"])
    report.drop("rows without an organisation code (England and region totals, notes)", int(blank.sum()))
    frame = frame[~blank].reset_index(drop=True)
    quarters = []
    for i, (y, e) in enumerate(zip(frame["year"], frame["end"])):
        m = month_label(f"{e} {str(y)[:4]}")
        fy = re.match(r"^(\d{4})", str(y).strip())
        if m is None or fy is None:
            raise DataError(f"{src.name}: line {frame['_line'][i]}: Year {y!r} and Period End {e!r} do not give a "
                            f"quarter (expected e.g. 2023-24 and June)")
        month = int(m[5:7])
        year = int(fy.group(1)) + (1 if month <= 3 else 0)
        quarters.append(f"{year}-Q{(month - 1) // 3 + 1}")
    avail = to_number(src, frame, c_avail, report)
    occ = to_number(src, frame, c_occ, report)
    return _long(pd.Series(quarters), frame["org"], frame["name"], {"ga_occupancy_pct": (avail, occ)})
