"""A&E attendances and emergency admissions: the monthly provider CSV.

Files look like ``Monthly-AE-March-2024.csv``; ``Period`` reads ``MSitAE-MARCH-2024``.

Header generations (each is a layout in the report):

- ``ae-number-of``: older files, ``Number of A&E attendances Type 1`` ...
  ``Number of attendances over 4hrs Other A&E Department``;
- ``ae-unbooked``: ``A&E attendances Type 1`` ... without booked-appointment columns;
- ``ae-booked``: 2020-08 on, adding ``A&E attendances Booked Appointments ...`` and
  ``Attendances over 4hrs Booked Appointments ...`` (the header in ``../shared/formats``).

Metrics, per provider and month, over **all types** (Type 1, Type 2 and other A&E
departments, plus booked appointments where the file has them, as the published
"total attendances" count them):

- ``ae_attendances``: the sum of the attendance columns;
- ``ae_4h_pct``: percent seen within 4 hours, numerator = attendances - attendances
  over 4 hours, denominator = attendances.

Edge cases:

- The ``TOTAL`` footer row (its label may sit in ``Period`` or ``Org Code``, in any
  case) is dropped and counted; it is checked against the sum of the providers.
- A trust that reports no 4-hour figures (blank or ``-`` over-4-hour cells, as 12-14
  trusts a month did in 2021-2023) has a missing ``ae_4h_pct``, never 0% or 100%;
  its attendances are still reported.
- Any blank addend leaves the sum missing (a blank is not a zero).
"""
from __future__ import annotations

import logging
import re
from pathlib import PurePath

import pandas as pd

from evallib.data.nhs.common import (LoadReport, LoadResult, check_one_file_per_month, column,
                                     drop_superseded, finish, frame_from, header_or_fail, month_label, norm,
                                     parse_periods, read_all, row_sum, to_number)
from evallib.exceptions import DataError

logger = logging.getLogger(__name__)

_ATT = re.compile(r"^(number of )?a&e attendances (type 1|type 2|other a&e department|"
                  r"booked appointments type 1|booked appointments type 2|booked appointments other department)$")
_OVER = re.compile(r"^(number of )?attendances over 4hrs (type 1|type 2|other a&e department|other department|"
                   r"booked appointments type 1|booked appointments type 2|booked appointments other department)$")
KEY_COLUMNS = "Period, Org Code, Org name, A&E attendances Type 1, Attendances over 4hrs Type 1"


def _layout(cols: list[str]) -> str:
    n = [norm(c) for c in cols]
    if any(c.startswith("number of a&e attendances") for c in n):
        return "ae-number-of"
    if any("booked appointments" in c for c in n):
        return "ae-booked"
    return "ae-unbooked"


def load_ae(paths, ods_map=None) -> LoadResult:
    """Load monthly A&E CSVs into the tidy table (see the module docstring)."""
    report = LoadReport("ae")
    parts, per_file = [], []
    for src, rows, lines in read_all(paths, "ae", report):
        h = header_or_fail(src, rows, "ae", KEY_COLUMNS)
        df = frame_from(src, rows, lines, h)
        layout = _layout(list(df.columns))
        report.layouts[layout + (f" +{h} line(s) of front matter" if h else "")] += 1
        c_period = column(src, df, "Period")
        c_org = column(src, df, "Org Code")
        c_name = column(src, df, "Org name", required=False)
        att_cols = [c for c in df.columns if _ATT.match(norm(c))]
        over_cols = [c for c in df.columns if _OVER.match(norm(c))]
        if len(att_cols) < 3 or len(over_cols) < 3 or len(att_cols) != len(over_cols):
            raise DataError(f"{src.name}: unknown header: expected attendance and over-4-hour columns for "
                            f"Type 1, Type 2 and Other A&E Department (found {len(att_cols)} attendance and "
                            f"{len(over_cols)} over-4-hour columns)")

        labels = [df[c].astype(str).str.strip().str.upper() for c in (c_period, c_org)]
        total = (labels[0] == "TOTAL") | (labels[1] == "TOTAL")
        if c_name:
            total |= df[c_name].astype(str).str.strip().str.upper() == "TOTAL"
        footer = df[total]
        report.drop("TOTAL footer rows", len(footer))
        df = df[~total].copy()
        if df.empty:
            raise DataError(f"{src.name}: has no provider rows; the file is truncated: download it again")
        fallback = month_label(PurePath(src.name.split("!")[-1]).stem)
        df["period"] = parse_periods(src, df, c_period, fallback=fallback)
        per_file.append((src.name, set(df["period"])))
        num = pd.DataFrame({c: to_number(src, df, c, report) for c in att_cols + over_cols}, index=df.index)
        att = row_sum(num, att_cols)
        over = row_sum(num, over_cols)
        no4h = num[over_cols].isna().any(axis=1) & att.notna()
        if no4h.any():
            report.note(f"{src.name}: {int(no4h.sum())} trust(s) report no 4-hour figures; their ae_4h_pct is missing")
        if len(footer) == 1:
            fnum = pd.DataFrame({c: to_number(src, footer, c, LoadReport("ae")) for c in att_cols}, index=footer.index)
            published, ours = float(fnum.sum(axis=1).iloc[0]), float(num[att_cols].sum().sum())
            if abs(published - ours) > 0.5:
                report.note(f"{src.name}: the TOTAL row's attendances ({published:,.0f}) differ from the sum "
                            f"of the providers ({ours:,.0f})")
        org = df[c_org].astype(str).str.strip().str.upper()
        name = df[c_name].astype(str).str.strip() if c_name else None
        base = pd.DataFrame({"period": df["period"], "org_code": org, "org_name": name})
        parts.append(pd.concat([
            base.assign(metric="ae_attendances", value=att, numerator=float("nan"), denominator=float("nan")),
            base.assign(metric="ae_4h_pct", value=float("nan"), numerator=att - over, denominator=att),
        ], ignore_index=True).assign(_file=src.name))

    skip = check_one_file_per_month(per_file, report)
    data = pd.concat(parts, ignore_index=True)
    data = drop_superseded(data, skip, report, rows_per_source_row=2)
    return finish(data, report, ods_map)
