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
- **Field-test trusts.** From May 2019 fourteen trusts field-testing the new urgent
  and emergency care standards (RC9, RD3, RDU, RFR, RGR, RGT, RHU, RK9, RNQ, RQM,
  RVW, RX1, RXF, RYJ) publish their attendances but ``0`` in every over-4-hours cell.
  Rule: a provider with attendances at a **type 1** (major) department and ``0`` in
  every over-4-hours cell has not reported 4-hour figures: its ``ae_4h_pct`` is
  missing (never 100%), its attendances are kept, and the report lists it by code,
  name and months with the reason. The rule is limited to type 1 because 45-57 walk-in
  centres, minor injury units and single-specialty type 2 units a month also have
  ``0`` over 4 hours, and for them the zero is a real count: in the published files of
  2019-12 to 2020-06 exactly the fourteen trusts above meet the rule every month,
  and leaving them out gives England's December 2019 all-types figure as 79.81%
  (counting their zeros gives 81.83%; leaving out every all-zero provider, 78.69%).
- The ``TOTAL`` footer is checked against the sum of the providers for attendances
  and for attendances over 4 hours (``report.checks``); the footer includes the
  field-test trusts' zeros, so the comparison uses the cells as published.
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
FIELD_TEST_REASON = "type 1 attendances but 0 in every over-4-hours cell (a field-test trust: no 4-hour figures)"


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
        org = df[c_org].astype(str).str.strip().str.upper()
        name = df[c_name].astype(str).str.strip() if c_name else None
        no4h = num[over_cols].isna().any(axis=1) & att.notna()
        if no4h.any():
            for i in no4h.index[no4h.to_numpy()]:
                report.not_reporting(org[i], None if name is None else name[i], "ae_4h_pct", df.at[i, "period"],
                                     "blank or '-' in the over-4-hours cells")
        type1 = [c for c in att_cols if _ATT.match(norm(c)).group(2) == "type 1"]
        field_test = (num[type1].sum(axis=1) > 0) & (num[over_cols] == 0).all(axis=1)
        if field_test.any():
            for i in field_test.index[field_test.to_numpy()]:
                report.not_reporting(org[i], None if name is None else name[i], "ae_4h_pct", df.at[i, "period"],
                                     FIELD_TEST_REASON)
            over = over.mask(field_test)
        if len(footer) == 1:
            for what, cols, read in (("attendances", att_cols, num[att_cols]),
                                     ("attendances over 4 hours", over_cols, num[over_cols])):
                fnum = pd.DataFrame({c: to_number(src, footer, c, LoadReport("ae")) for c in cols},
                                    index=footer.index)
                published, ours = float(fnum.sum(axis=1).iloc[0]), float(read.sum().sum())
                c = report.check(src.name, f"{what}: TOTAL row vs sum of the providers (all types)", published, ours)
                if not c.ok:
                    report.note(f"{src.name}: the TOTAL row's {what} ({published:,.0f}) differ from the sum "
                                f"of the providers ({ours:,.0f})")
        base = pd.DataFrame({"period": df["period"], "org_code": org, "org_name": name})
        parts.append(pd.concat([
            base.assign(metric="ae_attendances", value=att, numerator=float("nan"), denominator=float("nan")),
            base.assign(metric="ae_4h_pct", value=float("nan"), numerator=att - over, denominator=att),
        ], ignore_index=True).assign(_file=src.name))

    skip = check_one_file_per_month(per_file, report)
    data = pd.concat(parts, ignore_index=True)
    data = drop_superseded(data, skip, report, rows_per_source_row=2)
    return finish(data, report, ods_map)
