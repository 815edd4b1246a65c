"""Referral to treatment (RTT): the monthly "Full CSV data file".

Metrics, per provider and month (docs/contracts.md metric ids):

===================================== =====================================================
``rtt_waiting_list``                  Part_2 ``Total All`` (incomplete pathways, including
                                      unknown clock starts)
``rtt_52w_waiters``                   Part_2, the weekly bands from 52 weeks up
                                      (``Gt 52 Weeks SUM 1`` in the 52-week layout;
                                      ``Gt 52 To 53`` ... ``Gt 104 Weeks SUM 1`` in the 104-week one)
``rtt_18w_pct``                       Part_2: numerator = bands under 18 weeks
                                      (``Gt 00 To 01`` ... ``Gt 17 To 18``), denominator = all
                                      bands (unknown clock starts excluded); value in percent
``rtt_waiting_list_<specialty>``      Part_2 ``Total All`` per treatment function
                                      (see :data:`TREATMENT_FUNCTIONS`)
===================================== =====================================================

Rules (REFERENCES.md, "Referral to treatment"):

- Only ``Part_2`` is used. ``Part_2A`` is a subset of Part_2 and is never added to
  it; Part_1A/1B (completed) and Part_3 (new periods) are dropped and counted.
- There is one row per commissioner: figures are summed over commissioners.
- ``C_999`` is the all-specialty total. The all-specialty metrics come from the
  C_999 rows; the specialty rows give only the specialty metrics. When a
  provider-month has no C_999 row (older files), the specialties are summed
  instead, and the report says so. Never both.
- Blank means not collected: a sum with a blank addend is missing, not a smaller
  number.
- Layouts: bands to ``Gt 52 Weeks SUM 1`` (2017-10 to 2021-03 and the older files)
  or to ``Gt 104 Weeks SUM 1`` (2021-04 on). Files before 2017-10 have two lines of
  front matter above the header; the header is found wherever it is.
- ``Period`` reads like ``RTT-June-2026``.
"""
from __future__ import annotations

import logging
import re

import pandas as pd

from evallib.data.nhs.common import (LoadReport, LoadResult, check_one_file_per_month, column,
                                     drop_superseded, finish, frame_from, header_or_fail, parse_periods,
                                     read_all, row_sum, strict_sum, to_number)
from evallib.exceptions import DataError

logger = logging.getLogger(__name__)

#: Treatment function code -> metric suffix (``rtt_waiting_list_<suffix>``). Codes
#: not listed use a slug of the ``Treatment Function Name`` in the file.
TREATMENT_FUNCTIONS: dict[str, str] = {
    "C_100": "general_surgery",
    "C_101": "urology",
    "C_110": "trauma_orthopaedics",
    "C_120": "ent",
    "C_130": "ophthalmology",
    "C_140": "oral_surgery",
    "C_150": "neurosurgery",
    "C_160": "plastic_surgery",
    "C_170": "cardiothoracic_surgery",
    "C_300": "general_medicine",
    "C_301": "gastroenterology",
    "C_320": "cardiology",
    "C_330": "dermatology",
    "C_340": "respiratory_medicine",
    "C_400": "neurology",
    "C_410": "rheumatology",
    "C_430": "geriatric_medicine",
    "C_502": "gynaecology",
    "X01": "other",
    "X02": "other_medical",
    "X03": "other_mental_health",
    "X04": "other_paediatric",
    "X05": "other_surgical",
    "X06": "other_other",
}
ALL_SPECIALTIES = "C_999"
_BAND = re.compile(r"^gt (\d+) to (\d+) weeks sum 1$")
_OPEN = re.compile(r"^gt (\d+) weeks sum 1$")
PART_REASONS = {"PART_2A": "Part_2A rows (a subset of Part_2, never added to it)",
                "PART_1A": "Part_1A rows (completed admitted pathways, not used)",
                "PART_1B": "Part_1B rows (completed non-admitted pathways, not used)",
                "PART_3": "Part_3 rows (new periods, not used)"}
KEY_COLUMNS = "Period, Provider Org Code, RTT Part Type, Treatment Function Code, Gt 00 To 01 Weeks SUM 1, Total All"


def _is_count_column(name: str) -> bool:
    n = " ".join(name.lower().split())
    return bool(_BAND.match(n) or _OPEN.match(n)) or n in ("total", "total all",
                                                           "patients with unknown clock start date")


def specialty_suffix(code: str, name: str) -> str:
    """Metric suffix for a treatment function (documented map, else a slug of its name)."""
    if code in TREATMENT_FUNCTIONS:
        return TREATMENT_FUNCTIONS[code]
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower().replace("&", "and")).strip("_")
    slug = re.sub(r"_service$", "", slug)
    return slug or re.sub(r"[^a-z0-9]+", "_", code.lower()).strip("_")


def _bands(source, cols: list[str]) -> tuple[list[tuple[str, int, int | None]], str]:
    """Band columns as (name, lower, upper or None) and the layout name."""
    bands = []
    for c in cols:
        n = " ".join(c.lower().split())
        m = _BAND.match(n)
        if m:
            bands.append((c, int(m.group(1)), int(m.group(2))))
            continue
        m = _OPEN.match(n)
        if m:
            bands.append((c, int(m.group(1)), None))
    opens = [b for b in bands if b[2] is None]
    if len(opens) != 1:
        raise DataError(f"{source.name}: unknown header: expected one open band 'Gt 52 Weeks SUM 1' or "
                        f"'Gt 104 Weeks SUM 1', found {len(opens)}")
    top = opens[0][1]
    closed = sorted(b for b in bands if b[2] is not None)
    expected = [(k, k + 1) for k in range(top)]
    if [(lo, hi) for _, lo, hi in sorted(closed, key=lambda b: b[1])] != expected:
        raise DataError(f"{source.name}: unknown header: the weekly bands do not run from 'Gt 00 To 01 Weeks "
                        f"SUM 1' to 'Gt {top - 1:02d} To {top:02d} Weeks SUM 1' in steps of one week")
    if top not in (52, 104):
        raise DataError(f"{source.name}: unknown header: bands stop at {top} weeks (known layouts stop at 52 or 104)")
    return sorted(bands, key=lambda b: b[1]), f"rtt-bands-to-{top}w"


def load_rtt(paths, ods_map=None) -> LoadResult:
    """Load RTT Full CSV files, zips or folders into the tidy table (see the module docstring)."""
    report = LoadReport("rtt")
    parts = []
    per_file = []
    for src, rows, lines in read_all(paths, "rtt", report):
        h = header_or_fail(src, rows, "rtt", KEY_COLUMNS)
        df = frame_from(src, rows, lines, h, numeric=_is_count_column)
        bands, layout = _bands(src, list(df.columns))
        if h > 0:
            layout += f" +{h} line(s) of front matter"
        report.layouts[layout] += 1
        if df.empty:
            raise DataError(f"{src.name}: has a header but no data rows; the file is truncated: download it again")
        c_period = column(src, df, "Period")
        c_prov = column(src, df, "Provider Org Code")
        c_pname = column(src, df, "Provider Org Name")
        c_part = column(src, df, "RTT Part Type")
        c_tfc = column(src, df, "Treatment Function Code")
        c_tfn = column(src, df, "Treatment Function Name")
        c_all = column(src, df, "Total All")

        part = df[c_part].astype(str).str.strip().str.upper()
        keep = part == "PART_2"
        for p, n in part[~keep].value_counts().items():
            report.drop(PART_REASONS.get(p, f"{p or 'blank'} part rows (unknown part, not used)"), n)
        df = df[keep].copy()
        if df.empty:
            report.note(f"{src.name}: no Part_2 rows")
            continue
        df["period"] = parse_periods(src, df, c_period)
        per_file.append((src.name, set(df["period"])))
        band_cols = [b[0] for b in bands]
        num = pd.DataFrame({c: to_number(src, df, c, report) for c in band_cols + [c_all]}, index=df.index)
        under18 = [c for c, lo, hi in bands if hi is not None and hi <= 18]
        over52 = [c for c, lo, hi in bands if lo >= 52]
        out = pd.DataFrame({
            "period": df["period"],
            "org_code": df[c_prov].astype(str).str.strip().str.upper(),
            "org_name": df[c_pname].astype(str).str.strip(),
            "tfc": df[c_tfc].astype(str).str.strip().str.upper(),
            "tfn": df[c_tfn].astype(str).str.strip(),
            "total_all": num[c_all],
            "over52": row_sum(num, over52),
            "under18": row_sum(num, under18),
            "bands": row_sum(num, band_cols),
            "_file": src.name,
        })
        blank_org = out["org_code"].isin(["", "NAN"])
        report.drop("rows with no provider code", int(blank_org.sum()))
        parts.append(out[~blank_org])

    skip = check_one_file_per_month(per_file, report)
    if not parts:
        raise DataError(f"{', '.join(report.files[:3])}: no Part_2 (incomplete pathway) rows found")
    data = pd.concat(parts, ignore_index=True)
    data = drop_superseded(data, skip, report)
    return finish(_metrics(data, report), report, ods_map)


def _metrics(data: pd.DataFrame, report: LoadReport) -> pd.DataFrame:
    """Provider-month metric rows (counts, numerators, denominators) from Part_2 rows."""
    names = data.groupby(["period", "org_code"])["org_name"].last()
    vals = ["total_all", "over52", "under18", "bands"]
    is_total = data["tfc"] == ALL_SPECIALTIES
    spec = data[~is_total]
    tot = strict_sum(data[is_total], ["period", "org_code"], vals)
    spec_by_tfc = strict_sum(spec, ["period", "org_code", "tfc"], vals)
    spec_sum = strict_sum(spec, ["period", "org_code"], vals)
    # all-specialty figures: C_999 where present, else the sum of the specialties
    have = set(zip(tot["period"], tot["org_code"]))
    fallback = spec_sum[[k not in have for k in zip(spec_sum["period"], spec_sum["org_code"])]]
    if len(fallback):
        report.note(f"{len(fallback)} provider-month(s) have no C_999 row: the all-specialty figures "
                    f"are the sum of their specialties")
    allspec = pd.concat([tot, fallback], ignore_index=True)
    # consistency: C_999 against the sum of specialties (reported, never mixed)
    both = tot.merge(spec_sum, on=["period", "org_code"], suffixes=("", "_spec"))
    differ = (both["total_all"] - both["total_all_spec"]).abs() > 0.5
    if differ.any():
        report.note(f"{int(differ.sum())} provider-month(s) where C_999 Total All differs from the sum of the "
                    f"specialty rows; C_999 is used")
    suffix = {code: specialty_suffix(code, name) for code, name in
              data.loc[~is_total, ["tfc", "tfn"]].drop_duplicates("tfc").itertuples(index=False)}
    nan = float("nan")
    a, s = allspec, spec_by_tfc
    out = pd.concat([
        a.assign(metric="rtt_waiting_list", value=a["total_all"], numerator=nan, denominator=nan),
        a.assign(metric="rtt_52w_waiters", value=a["over52"], numerator=nan, denominator=nan),
        a.assign(metric="rtt_18w_pct", value=nan, numerator=a["under18"], denominator=a["bands"]),
        s.assign(metric="rtt_waiting_list_" + s["tfc"].map(suffix), value=s["total_all"], numerator=nan,
                 denominator=nan),
    ], ignore_index=True)[["period", "org_code", "metric", "value", "numerator", "denominator"]]
    out["org_name"] = pd.MultiIndex.from_frame(out[["period", "org_code"]]).map(names.to_dict().get)
    return out
