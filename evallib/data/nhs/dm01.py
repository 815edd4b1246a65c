"""Diagnostics waiting times and activity (DM01): the monthly provider CSV.

30 columns, ``"Period"`` (``DM01-MAY-2026``) to ``"Total Activity"``; one row per
provider, commissioner and diagnostic test, and a ``TOTAL`` test row (sort order
16) that is the sum of the tests.

Metric, per provider and month: ``diagnostics_6w_pct``, the percent of the waiting
list waiting 6 weeks or more. Numerator = the bands ``06 < 07 Weeks`` ... ``13+
Weeks``; denominator = ``Total WL``; both from the ``TOTAL`` rows, summed over
commissioners.

Edge cases:

- Only ``TOTAL`` rows are read (the test rows are dropped and counted), so tests are
  never added to their own total. A file with no TOTAL row is an error.
- A TOTAL row whose sort order is not 16 is used but reported.
- ``Total WL`` is checked against the sum of the bands; disagreements are reported.
"""
from __future__ import annotations

import logging
import re

import pandas as pd

from evallib.data.nhs.common import (LoadReport, LoadResult, check_one_file_per_month, column,
                                     drop_superseded, finish, frame_from, header_or_fail, norm, parse_periods,
                                     read_all, row_sum, to_number)
from evallib.exceptions import DataError

logger = logging.getLogger(__name__)

_BAND = re.compile(r"^(\d+) < (\d+) weeks?$")
_TOP = re.compile(r"^(\d+)\+ weeks?$")
KEY_COLUMNS = "Period, Provider Org Code, Diagnostic Tests, 00 < 01 Week ... 13+ Weeks, Total WL"


def _bands(src, cols: list[str]) -> list[tuple[str, int]]:
    out = []
    for c in cols:
        n = norm(c)
        m = _BAND.match(n) or _TOP.match(n)
        if m:
            out.append((c, int(m.group(1))))
    weeks = sorted(lo for _, lo in out)
    if weeks != list(range(14)):
        raise DataError(f"{src.name}: unknown header: the waiting bands should run from '00 < 01 Week' to "
                        f"'13+ Weeks' (found {len(out)} band columns)")
    return out


def load_dm01(paths, ods_map=None) -> LoadResult:
    """Load DM01 CSVs (files, zips, folders) into the tidy table."""
    report = LoadReport("dm01")
    parts, per_file = [], []
    for src, rows, lines in read_all(paths, "dm01", report):
        h = header_or_fail(src, rows, "dm01", KEY_COLUMNS)
        df = frame_from(src, rows, lines, h,
                        numeric=lambda c: bool(_BAND.match(norm(c)) or _TOP.match(norm(c))) or norm(c) == "total wl")
        report.layouts["dm01-30-columns" + (f" +{h} line(s) of front matter" if h else "")] += 1
        bands = _bands(src, list(df.columns))
        c_period = column(src, df, "Period")
        c_prov = column(src, df, "Provider Org Code")
        c_name = column(src, df, "Provider Org Name", required=False)
        c_test = column(src, df, "Diagnostic Tests")
        c_sort = column(src, df, "Diagnostic Tests Sort Order", required=False)
        c_wl = column(src, df, "Total WL")
        is_total = df[c_test].astype(str).str.strip().str.upper() == "TOTAL"
        if not is_total.any():
            raise DataError(f"{src.name}: no 'TOTAL' diagnostic test row (sort order 16); the file is truncated "
                            f"or not a DM01 provider extract")
        report.drop("individual test rows (the TOTAL row, sort order 16, is used)", int((~is_total).sum()))
        df = df[is_total].copy()
        if c_sort is not None:
            odd = df[c_sort].astype(str).str.strip() != "16"
            if odd.any():
                report.note(f"{src.name}: {int(odd.sum())} TOTAL row(s) with a sort order other than 16")
        df["period"] = parse_periods(src, df, c_period)
        per_file.append((src.name, set(df["period"])))
        num = pd.DataFrame({c: to_number(src, df, c, report) for c, _ in bands}, index=df.index)
        wl = to_number(src, df, c_wl, report)
        six = row_sum(num, [c for c, lo in bands if lo >= 6])
        off = (row_sum(num, [c for c, _ in bands]) - wl).abs() > 0.5
        if off.any():
            report.note(f"{src.name}: {int(off.sum())} TOTAL row(s) where Total WL is not the sum of the bands")
        parts.append(pd.DataFrame({
            "period": df["period"], "org_code": df[c_prov].astype(str).str.strip().str.upper(),
            "org_name": df[c_name].astype(str).str.strip() if c_name else None,
            "metric": "diagnostics_6w_pct", "value": float("nan"), "numerator": six, "denominator": wl,
            "_file": src.name}))

    skip = check_one_file_per_month(per_file, report)
    data = pd.concat(parts, ignore_index=True)
    data = drop_superseded(data, skip, report)
    return finish(data, report, ods_map)
