"""Cancer waiting times: the provider extract (CWT-CRS "Data Extract (Provider)").

Columns: ``PERIOD, STANDARD, ORG CODE, TREATMENT MODALITY, CANCER TYPE,
STAGE/ROUTE, TOTAL, WITHIN STANDARD, BREACHES`` (``TOTAL TREATED`` is accepted for
``TOTAL``). The workbook is published as Excel; save its data sheet as CSV, or
install openpyxl to read the ``.xlsx`` directly.

Metrics (percent, with numerator = WITHIN STANDARD and denominator = TOTAL, summed
over cancer types, treatment modalities and stages/routes):

=====================  =========================
``STANDARD``           metric
=====================  =========================
``28-day FDS``         ``cancer_fds_28d_pct``
``31-day Combined``    ``cancer_31d_pct``
``62-day Combined``    ``cancer_62d_pct``
=====================  =========================

Edge cases:

- Other standards (older or retired ones) are dropped and counted.
- Where the extract carries its own subtotal rows (a value starting ``ALL``, such as
  ``ALL CANCERS`` or ``ALL MODALITIES``), the subtotal is used and the rows it
  covers are not added again; the count of such covered rows is reported.
- ``BREACHES`` is checked against ``TOTAL - WITHIN STANDARD``; disagreements are
  reported, and TOTAL and WITHIN STANDARD are used.
- A blank or suppressed TOTAL or WITHIN STANDARD leaves that provider-month missing.
- ``PERIOD`` may be a date (``2024-04-01``, ``01/04/2024``) or a month name (``APR-24``).
- The extract has no organisation names; ``org_name`` is left empty.
"""
from __future__ import annotations

import logging

import pandas as pd

from evallib.data.nhs.common import (LoadReport, LoadResult, check_one_file_per_month, column,
                                     drop_superseded, finish, frame_from, header_or_fail, parse_periods,
                                     read_all, to_number)
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
    for src, rows, lines in read_all(paths, "cancer", report):
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
        df = _drop_covered(df, dims, report)
        df["_file"] = src.name
        parts.append(df[["period", "org_code", "metric", "total", "within", "_file"]])

    skip = check_one_file_per_month(per_file, report)
    if not parts:
        raise DataError(f"{', '.join(report.files[:3])}: no 28-day FDS, 31-day or 62-day Combined rows found")
    data = pd.concat(parts, ignore_index=True)
    data = drop_superseded(data, skip, report)
    raw = pd.DataFrame({"period": data["period"], "org_code": data["org_code"], "org_name": None,
                        "metric": data["metric"], "value": float("nan"), "numerator": data["within"],
                        "denominator": data["total"]})
    return finish(raw, report, ods_map)


def _drop_covered(df: pd.DataFrame, dims: list[str], report: LoadReport) -> pd.DataFrame:
    """Keep an ``ALL ...`` subtotal instead of the rows it covers, dimension by dimension."""
    for d in dims:
        is_all = df[d].str.upper().str.startswith("ALL")
        if not is_all.any():
            continue
        others = ["period", "org_code", "metric"] + [x for x in dims if x != d]
        has_all = is_all.groupby([df[k] for k in others]).transform("any")
        covered = has_all & ~is_all
        report.drop(f"rows covered by an '{d}' subtotal (ALL ...) in the file, not added twice", int(covered.sum()))
        df = df[~covered]
    return df
