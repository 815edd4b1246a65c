"""Cancer waiting times: the provider extract (CWT-CRS "Data Extract (Provider)"),
and the older provider workbooks.

**Provider extract** (``cwt-provider-extract``; CSV, or the ``.xlsx`` as published).
Columns: ``PERIOD, STANDARD, ORG CODE, TREATMENT MODALITY, CANCER TYPE,
STAGE/ROUTE, TOTAL, WITHIN STANDARD, BREACHES`` (``TOTAL TREATED`` is accepted for
``TOTAL``).

Metrics (percent, with numerator = WITHIN STANDARD and denominator = TOTAL, summed
over cancer types, treatment modalities and stages/routes):

=====================  =========================
``STANDARD``           metric
=====================  =========================
``28-day FDS``         ``cancer_fds_28d_pct``
``31-day Combined``    ``cancer_31d_pct``
``62-day Combined``    ``cancer_62d_pct``
=====================  =========================

**Older provider workbooks** (``cwt-provider-workbook``; ``.xlsx``, one sheet per
standard). Only the all-cancer sheets are read: ``62-DAY (ALL CANCER)`` gives
``cancer_62d_pct`` and ``31-DAY (ALL CANCER)`` gives ``cancer_31d_pct`` (``CANCERS``
and ``62 DAY`` spellings accepted). Every other sheet (by-cancer breakdowns, 2WW,
screening, notes) is skipped and noted: the by-cancer sheets count the same patients
again. Each sheet has a title block above a header such as ``ODS CODE (1),
ACCOUNTABLE PROVIDER, TOTAL TREATED, WITHIN 62 DAYS, AFTER 62 DAYS, % WITHIN 62
DAYS``; the header is searched for, numerator = ``WITHIN nn DAYS``, denominator =
``TOTAL`` (or ``TOTAL TREATED``); the ``%`` column is not used. The month comes from a
``Period``/``Month`` cell in the title block, else the first cell there naming a
month (``April 2019``, ``APR-19``, a date), else the workbook's file name. The
England total and footnote lines (no provider code, a code ``-`` or a code with
spaces) are dropped and counted. The same sheet saved as CSV is read too; the
standard then comes from the ``WITHIN nn DAYS`` column. This layout follows the
description in REFERENCES.md ("sheets such as ``62-DAY (ALL CANCER)``, with header
rows to skip"); the column names are the ones the published workbooks use as far
as could be checked, so a workbook with other names gives an "unknown header" error.

Edge cases:

- Other standards (older or retired ones) are dropped and counted.
- **Subtotals: every patient is counted once.** A value starting ``ALL`` (``ALL
  CANCERS``, ``ALL MODALITIES``) marks a subtotal over that dimension. The published
  extract (October 2023 on) has *no* ``ALL CANCERS`` x ``ALL MODALITIES`` row: for
  the 31-day and 62-day standards each STAGE/ROUTE is given twice, once by cancer
  type (with ``ALL MODALITIES``) and once by treatment modality (with ``ALL
  CANCERS``), so adding every row counts every patient twice. The rule, whatever
  subtotals a file carries: rows are taken coarsest first (most ``ALL`` values),
  ties broken in the order of ``DIMENSIONS`` (``CANCER TYPE`` = ``ALL CANCERS``
  first: the by-modality rows are used and the by-cancer-type rows, which count
  the same patients, are left out and used as the cross-check), and a row is used
  only if it shares no patients with a row already used (two rows share patients
  when, in every dimension, their values are equal or one of them is ``ALL``). So
  a complete subtotal replaces the rows it covers, a partial one replaces only its
  own rows, and of two crossing subtotals only one is used. The rows left out are counted in the report.
- **Cross-check.** Every pair of subtotal patterns the file carries is compared
  where both apply (the by-cancer and by-modality rows of each provider, standard and
  route; a subtotal and the rows it covers); each comparison that disagrees is
  reported, and one check per standard is recorded in ``report.checks`` (the sum
  over providers and routes of the rows used against the same sum over the other
  subtotal). The extract has no all-provider (England) row, so this is the check
  that the counts are not doubled.
- Counts may be halves (``94.5``): a patient shared between two providers is
  counted half to each; they are kept as they are.
- ``BREACHES`` (``AFTER nn DAYS`` in the older workbooks) is checked against
  ``TOTAL - WITHIN``; disagreements are reported, and TOTAL and WITHIN are used.
- A blank or suppressed TOTAL or WITHIN STANDARD leaves that provider-month missing.
- ``PERIOD`` may be a date (``2024-04-01``, ``01/04/2024``) or a month name (``APR-24``).
- The extract has no organisation names; ``org_name`` is left empty (the older
  workbooks' ``ACCOUNTABLE PROVIDER`` names are used).
- A workbook without any sheet of either layout is a DataError listing its sheets.
"""
from __future__ import annotations

import logging
import re
from pathlib import PurePath

import pandas as pd

from evallib.data.nhs.common import (LoadReport, LoadResult, check_one_file_per_month, column,
                                     drop_superseded, find_header, finish, frame_from, header_or_fail,
                                     month_label, norm, parse_periods, read_all, to_number)
from evallib.exceptions import DataError

logger = logging.getLogger(__name__)

STANDARDS = {"28-day fds": "cancer_fds_28d_pct", "31-day combined": "cancer_31d_pct",
             "62-day combined": "cancer_62d_pct"}
DIMENSIONS = ["CANCER TYPE", "TREATMENT MODALITY", "STAGE/ROUTE"]
KEY_COLUMNS = "PERIOD, STANDARD, ORG CODE, TOTAL, WITHIN STANDARD"


def load_cancer(paths, ods_map=None) -> LoadResult:
    """Load cancer waiting times provider extracts into the tidy table."""
    report = LoadReport("cancer")
    parts, per_file = [], []
    books: dict[str, set[str]] = {}  # older workbooks: months over their sheets
    for src, rows, lines in read_all(paths, "cancer", report):
        if find_header(rows, _is_extract) is None and find_header(rows, _is_workbook) is not None:
            out = _workbook_sheet(src, rows, lines, report)
            if out is not None:
                book = src.workbook or src.name
                books.setdefault(book, set()).update(out["period"])
                parts.append(out.assign(_file=book))
            continue
        h = header_or_fail(src, rows, "cancer", KEY_COLUMNS)
        df = frame_from(src, rows, lines, h)
        report.layouts["cwt-provider-extract" + (f" +{h} line(s) of front matter" if h else "")] += 1
        if df.empty:
            raise DataError(f"{src.name}: has a header but no data rows; the file is truncated: download it again")
        c_period = column(src, df, "PERIOD")
        c_std = column(src, df, "STANDARD")
        c_org = column(src, df, "ORG CODE")
        c_tot = column(src, df, "TOTAL", "TOTAL TREATED")
        c_in = column(src, df, "WITHIN STANDARD")
        c_br = column(src, df, "BREACHES", required=False)
        dims = [column(src, df, d, required=False) for d in DIMENSIONS]
        dims = [d for d in dims if d is not None]

        std = df[c_std].astype(str).str.strip().str.lower().map(lambda s: " ".join(s.split()))
        metric = std.map(STANDARDS)
        for s, n in df.loc[metric.isna(), c_std].value_counts().items():
            report.drop(f"standard {s!r} (not one of 28-day FDS, 31-day Combined, 62-day Combined)", n)
        df = df[metric.notna()].copy()
        df["metric"] = metric[metric.notna()]
        if df.empty:
            report.note(f"{src.name}: no rows for the 28-day, 31-day or 62-day standards")
            continue
        df["period"] = parse_periods(src, df, c_period)
        per_file.append((src.name, set(df["period"])))
        df["total"] = to_number(src, df, c_tot, report)
        df["within"] = to_number(src, df, c_in, report)
        if c_br:
            br = to_number(src, df, c_br, report)
            off = (df["total"] - df["within"] - br).abs() > 0.5
            if off.any():
                report.note(f"{src.name}: {int(off.sum())} row(s) where BREACHES is not TOTAL - WITHIN STANDARD")
        df["org_code"] = df[c_org].astype(str).str.strip().str.upper()
        for d in dims:
            df[d] = df[d].astype(str).str.strip()
        df = _drop_covered(df, dims, report, src.name)
        df["_file"] = src.name
        df["org_name"] = None
        parts.append(df[["period", "org_code", "org_name", "metric", "total", "within", "_file"]])

    per_file.extend(books.items())
    skip = check_one_file_per_month(per_file, report)
    if not parts:
        raise DataError(f"{', '.join(report.files[:3])}: no 28-day FDS, 31-day or 62-day Combined rows found")
    data = pd.concat(parts, ignore_index=True)
    data = drop_superseded(data, skip, report)
    raw = pd.DataFrame({"period": data["period"], "org_code": data["org_code"], "org_name": data["org_name"],
                        "metric": data["metric"], "value": float("nan"), "numerator": data["within"],
                        "denominator": data["total"]})
    return finish(raw, report, ods_map)


def _is_all(values: pd.Series) -> pd.Series:
    return values.str.upper().str.startswith("ALL")


def _drop_covered(df: pd.DataFrame, dims: list[str], report: LoadReport, source: str = "") -> pd.DataFrame:
    """Keep a set of rows that counts every patient once (see the module docstring, "Subtotals").

    Rows are grouped by their *pattern* (the dimensions holding ``ALL``) and taken
    coarsest pattern first; a row is dropped when it shares patients with a row of
    a pattern already kept. Pairs of patterns are cross-checked where both apply.
    """
    keys = ["period", "org_code", "metric"]
    if not dims:
        return df
    bits = sum(_is_all(df[d]).astype(int) * (1 << k) for k, d in enumerate(dims))
    if not len(df) or not bits.any():
        return df
    pattern = bits.map({b: tuple(d for k, d in enumerate(dims) if b >> k & 1) for b in pd.unique(bits)})
    order = sorted(set(pattern), key=lambda p: (-len(p), [dims.index(d) for d in p]))
    kept: list[tuple[tuple, pd.DataFrame]] = []
    out = []
    for p in order:
        rows = df[pattern == p]
        drop = pd.Series(False, index=rows.index)
        for q, krows in kept:
            on = keys + [d for d in dims if d not in p and d not in q]
            hit = pd.MultiIndex.from_frame(rows[on]).isin(pd.MultiIndex.from_frame(krows[on].drop_duplicates()))
            drop |= hit
        if drop.any():
            what = " and ".join(f"{d} ALL ..." for d in p) or "no ALL subtotal"
            report.drop(f"rows with {what} counting the same patients as rows already used, not added twice",
                        int(drop.sum()))
        keep = rows[~drop]
        if len(keep):
            kept.append((p, keep))
            out.append(keep)
    _cross_check(df, pattern, order, dims, keys, report, source)
    return pd.concat(out).sort_index() if out else df.iloc[:0]


def _cross_check(df, pattern, order, dims, keys, report: LoadReport, source: str) -> None:
    """Compare the totals of every pair of subtotal patterns where both apply."""
    if len(order) < 2:
        return
    sums = {}
    for p in order:
        sums[p] = df[pattern == p]
    n_cmp = n_bad = 0
    first_bad = None
    per_metric: dict[str, list[float]] = {}
    for i, p in enumerate(order):
        for q in order[i + 1:]:
            on = keys + [d for d in dims if d not in p and d not in q]
            a = sums[p].groupby(on)[["total", "within"]].sum()
            b = sums[q].groupby(on)[["total", "within"]].sum()
            j = a.join(b, how="inner", lsuffix="_a", rsuffix="_b")
            if j.empty:
                continue
            bad = ((j["total_a"] - j["total_b"]).abs() > 1e-6) | ((j["within_a"] - j["within_b"]).abs() > 1e-6)
            n_cmp += len(j)
            n_bad += int(bad.sum())
            if bad.any() and first_bad is None:
                first_bad = (j.index[bad.to_numpy()][0], p, q)
            if i == 0:  # the pattern used, against each other one
                for m, g in j.groupby(level="metric"):
                    t = per_metric.setdefault(m, [0.0, 0.0, 0.0, 0.0])
                    t[0] += g["total_a"].sum(); t[1] += g["total_b"].sum()
                    t[2] += g["within_a"].sum(); t[3] += g["within_b"].sum()
    for m, (ta, tb, wa, wb) in sorted(per_metric.items()):
        report.check(source, f"{m} denominator: rows used vs the file's other subtotal, all providers", tb, ta, 1e-6)
        report.check(source, f"{m} numerator: rows used vs the file's other subtotal, all providers", wb, wa, 1e-6)
    if n_bad:
        where = ", ".join(str(x) for x in first_bad[0])
        report.note(f"{source}: the file's subtotals disagree in {n_bad} of {n_cmp} comparison(s) (first: {where}, "
                    f"{' x '.join(first_bad[1]) or 'no ALL'} against {' x '.join(first_bad[2]) or 'no ALL'}); "
                    f"the rows used are the coarsest subtotals")
    elif n_cmp:
        report.note(f"{source}: the file's subtotals agree in all {n_cmp} comparison(s) (each provider, standard "
                    f"and route counted once)")


# --------------------------------------------------------------------------- older provider workbooks
_CODE = re.compile(r"^(ods code|org code|provider code|code)\b")
_WITHIN = re.compile(r"^within (\d+) days\b")
_AFTER = re.compile(r"^after (\d+) days\b")
_ALL_SHEET = re.compile(r"^(62|31)[\s-]*day\s*\(\s*all\s+cancers?\s*\)$")
_DAYS_METRIC = {62: "cancer_62d_pct", 31: "cancer_31d_pct"}
_NOT_PROVIDERS = {"", "-", "ENGLAND", "TOTAL", "ALL", "NAN"}


def _is_extract(cells: set[str]) -> bool:
    return {"standard", "org code", "within standard"} <= cells


def _is_workbook(cells: set[str]) -> bool:
    return any(_CODE.match(c) for c in cells) and any(_WITHIN.match(c) for c in cells)


def _workbook_sheet(src, rows, lines, report: LoadReport) -> pd.DataFrame | None:
    """One sheet of an older provider workbook (or that sheet saved as CSV); None if skipped."""
    h = find_header(rows, _is_workbook)
    header = [norm(c) for c in rows[h]]
    within = [(j, int(m.group(1))) for j, c in enumerate(header) if (m := _WITHIN.match(c))]
    days = {d for _, d in within}
    if len(within) != 1:
        raise DataError(f"{src.name}: unknown header: {len(within)} 'WITHIN nn DAYS' columns on line {lines[h]}; "
                        f"expected one (an older provider workbook sheet such as '62-DAY (ALL CANCER)')")
    (d,) = days
    if src.sheet:
        m = _ALL_SHEET.match(norm(src.sheet_name))
        if m is None:
            report.note(f"{src.name}: sheet skipped (only the '62-DAY (ALL CANCER)' and '31-DAY (ALL CANCER)' "
                        f"sheets are read; the other sheets count the same patients again)")
            return None
        if int(m.group(1)) != d:
            raise DataError(f"{src.name}: the sheet is a {m.group(1)}-day sheet but its header has "
                            f"'WITHIN {d} DAYS'; the workbook is inconsistent: check the sheet")
    if d not in _DAYS_METRIC:
        report.note(f"{src.name}: skipped (a {d}-day standard; only 31-day and 62-day are read)")
        return None
    metric = _DAYS_METRIC[d]
    df = frame_from(src, rows, lines, h)
    report.layouts[f"cwt-provider-workbook {d}-day (header on line {lines[h]})"] += 1
    cols = [c for c in df.columns if c != "_line"]
    c_code = next(c for c in cols if _CODE.match(norm(c)))
    c_name = next((c for c in cols if norm(c) in ("accountable provider", "provider name", "org name", "name",
                                                   "provider", "organisation name")), None)
    totals = [c for c in cols if re.match(r"^total( treated)?\b", norm(c))]
    if len(totals) != 1:
        raise DataError(f"{src.name}: unknown header: expected one 'TOTAL' (or 'TOTAL TREATED') column on line "
                        f"{lines[h]}, found {len(totals)} (found: {', '.join(cols)[:200]})")
    c_in = next(c for c in cols if _WITHIN.match(norm(c)))
    c_after = next((c for c in cols if _AFTER.match(norm(c))), None)

    code = df[c_code].astype(str).str.strip().str.upper()
    drop = code.isin(_NOT_PROVIDERS) | code.str.contains(" ")
    report.drop("rows without a provider code (England total, footnotes)", int(drop.sum()))
    df, code = df[~drop].copy(), code[~drop]
    if df.empty:
        raise DataError(f"{src.name}: has a header but no provider rows; the sheet is truncated: download it again")
    period = _workbook_period(src, rows[:h])
    total = to_number(src, df, totals[0], report)
    inside = to_number(src, df, c_in, report)
    if c_after:
        after = to_number(src, df, c_after, report)
        off = (total - inside - after).abs() > 0.5
        if off.any():
            report.note(f"{src.name}: {int(off.sum())} row(s) where {c_after.strip()} is not "
                        f"{totals[0].strip()} - {c_in.strip()}")
    names = df[c_name].astype(str).str.strip() if c_name else None
    return pd.DataFrame({"period": period, "org_code": code, "org_name": names, "metric": metric,
                         "total": total, "within": inside})


def _workbook_period(src, front: list[list[str]]) -> str:
    """The month of an older workbook sheet: a Period/Month cell, a month in the title block, the file name."""
    for row in front:
        for j, cell in enumerate(row):
            if norm(cell).rstrip(":") in ("period", "month"):
                nxt = next((c for c in row[j + 1:] if c.strip()), "")
                m = month_label(nxt)
                if m:
                    return m
    for row in front:
        for cell in row:
            m = month_label(cell) if cell.strip() else None
            if m:
                return m
    file = (src.workbook or src.name).split("!")[-1]
    m = month_label(PurePath(file).stem)
    if m is None:
        raise DataError(f"{src.name}: no month found: put a 'Period:' line (e.g. 'Period:,April 2019') above the "
                        f"header, or the month in the file name (e.g. cwt-provider-2019-04.xlsx)")
    return m
