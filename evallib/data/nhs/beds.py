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
- ``uec-sitrep-long``: the long format published from 2024-25, one value per row:
  ``Period, Level, Region, ICB, Org Code, Org Name, Metric, Type, Value``. Only rows
  whose ``Level`` is ``Provider`` are read (``National``, ``Region`` and ``ICB`` rows
  are totals of the providers and are dropped and counted); of the metrics only
  ``G&A beds available`` / ``G&A beds occupied`` (all ages, as in the wide layout) and
  ``Adult critical care beds available`` / ``occupied`` are used; the published
  ``... occupancy rate`` rows, core/escalation/void beds, paediatric and neonatal
  beds and the length-of-stay counts are dropped and counted. ``Type`` says whether
  the trust has a type 1 A&E (``Type 1``) or not (``Other``, specialist trusts); both
  are kept. ``Period`` is the first day of the month (``01/01/2025``). Values are
  monthly averages rounded to whole beds by NHS England. Checks recorded in
  ``report.checks``: the sum over providers against the ``National`` ``All Type``
  row (and ``Type 1`` providers against the ``Type 1`` row), within the rounding of
  the figures (half a bed per provider); the file's occupancy-rate rows against
  occupied / available (3 decimals). A provider with two rows for one metric is an
  error unless one of them is ``All Type`` (then that one is used).
- ``kh03``: the quarterly sheet "NHS Trust by Sector": a title block (``Title:``,
  ``Period:``, ... in column B, column A empty), a ``Provider Level Data`` line, a
  group row (``Available`` ... ``Occupied`` ... ``% Occupied`` ...) above the header
  ``Year, Period End, Region Code, Org Code, Org Name, Total, General & Acute, ...``,
  with an empty spacer column between the blocks, then an England row (no org code)
  and the trusts. The block of each column is the group label above it or, under a
  blank group cell, the label to its left; ``General & Acute`` must appear exactly
  once under ``Available`` and once under ``Occupied`` (the ``% Occupied`` block is
  not a count and is used only as a check). The quarter is the calendar
  quarter of ``Period End`` in the financial ``Year`` (``2023-24`` + ``June`` is
  2023-Q2). Quarterly periods ``YYYY-Qn``. Checks recorded in ``report.checks``:
  the England row against the sum of the trusts (G&A available and occupied), and
  the file's G&A ``% Occupied`` against occupied / available for every trust.

Edge cases: rows whose code is England's (``ENG``), a region's (``Y56``-``Y63``) or an
ICB's (``QE1``, ``QUA``, ...) are totals of the providers and are dropped and counted
in every layout, so a trust-level sheet carrying them is never double counted; the
header row moves between years (it is searched for; in a workbook
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
            kind, layout, out = "kh03", "kh03", _kh03(src, rows, lines, h, report)
        elif {"level", "metric", "value"} <= cells:
            kind, layout, out = "uec-sitrep", "uec-sitrep-long", _sitrep_long(src, rows, lines, h, report)
        else:
            kind, layout, out = "uec-sitrep", "uec-sitrep", _sitrep(src, rows, lines, h, report)
        kinds.setdefault(kind, src.name)
        if len(kinds) > 1:
            raise DataError(f"{src.name}: mixed layouts: {kinds['kh03']} is KH03 (quarterly) and "
                            f"{kinds['uec-sitrep']} is the UEC sitrep (monthly); import them into separate tables")
        report.layouts[layout + (f" (header on line {lines[h]})" if h else "")] += 1
        per_file.append((src.name, set(out["period"])))
        parts.append(out.assign(_file=src.name))
    skip = check_one_file_per_month(per_file, report)
    data = pd.concat(parts, ignore_index=True)
    data = drop_superseded(data, skip, report)
    return finish(data, report, ods_map)


_TOTAL_CODE = re.compile(r"^(ENG|Y\d\d|Q[A-Z0-9]{2})$")


def _is_total_code(org: pd.Series) -> pd.Series:
    """Codes of England (ENG), NHS England regions (Y56-Y63) and ICBs (QE1, QUA, ...): totals of the
    providers, which a trust-level sheet may carry beside them. No NHS trust code has this form (trusts
    start with R or T; the 5-character Y codes in A&E files are GP practices and are not matched)."""
    return org.astype(str).str.upper().str.match(_TOTAL_CODE)


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
    total = ~blank & _is_total_code(org)
    report.drop("rows of England, region or ICB totals (code ENG, Ynn or Qxx), not providers", int(total.sum()))
    df, org = df[~blank & ~total].copy(), org[~blank & ~total]
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


def _letter(j: int) -> str:
    """Spreadsheet column letter of 0-based column ``j`` (0 -> A, 26 -> AA)."""
    out = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        out = chr(65 + r) + out
    return out


_BLOCKS = {"available": "available", "occupied": "occupied", "% occupied": "% occupied",
           "percentage occupied": "% occupied", "occupancy": "% occupied", "% occupancy": "% occupied"}


def _kh03_blocks(src, rows, lines, h) -> tuple[list[str], int | None]:
    """The block (available / occupied / % occupied / '') of every header column, and the group row used.

    The group row is the nearest of the three rows above the header holding an
    ``Available`` cell; a blank group cell belongs to the block on its left (the
    block's label sits over its first column), spacer columns included.
    """
    width = len(rows[h])
    g = next((i for i in range(h - 1, max(h - 4, -1), -1) if "available" in {norm(c) for c in rows[i]}), None)
    if g is None:
        raise DataError(f"{src.name}: unknown header: no 'Available' / 'Occupied' group row in the 3 lines above "
                        f"the header on line {lines[h]} (KH03 'NHS Trust by Sector' has one)")
    blocks, last = [], ""
    for j in range(width):
        label = norm(rows[g][j]) if j < len(rows[g]) else ""
        if label:
            if label not in _BLOCKS:
                raise DataError(f"{src.name}: line {lines[g]}, column {_letter(j)}: unknown block {rows[g][j]!r} "
                                f"in the group row (expected Available, Occupied or % Occupied)")
            last = _BLOCKS[label]
        blocks.append(last)
    return blocks, g


def _kh03(src, rows, lines, h, report: LoadReport) -> pd.DataFrame:
    df = frame_from(src, rows, lines, h)
    header = rows[h]
    blocks, g = _kh03_blocks(src, rows, lines, h)
    ga = [j for j in range(len(df.columns) - 1) if norm(header[j]) == "general & acute"]  # last column is _line
    where = {b: [j for j in ga if blocks[j] == b] for b in ("available", "occupied", "% occupied")}
    if len(where["available"]) != 1 or len(where["occupied"]) != 1:
        found = ", ".join(f"{(blocks[j] or 'no block').title()} (column {_letter(j)})" for j in ga) or "none"
        raise DataError(f"{src.name}: line {lines[h]}: unknown header: expected one 'General & Acute' column under "
                        f"'Available' and one under 'Occupied' (group row, line {lines[g]}); found: {found}")
    idx = {}
    for j, c in enumerate(header[:len(df.columns) - 1]):
        if norm(c):
            idx.setdefault(norm(c), j)
    for key in ("year", "period end", "org code"):
        if key not in idx:
            raise DataError(f"{src.name}: line {lines[h]}: unknown header: column {key!r} is missing from the KH03 "
                            f"header (expected Year, Period End, Org Code, Org Name, ...)")
    col = lambda j: df.iloc[:, j].astype(str).str.strip()  # noqa: E731
    ja, jo = where["available"][0], where["occupied"][0]
    c_avail = f"General & Acute (Available, column {_letter(ja)})"
    c_occ = f"General & Acute (Occupied, column {_letter(jo)})"
    frame = pd.DataFrame({"year": col(idx["year"]), "end": col(idx["period end"]),
                          "org": col(idx["org code"]).str.upper(),
                          "name": col(idx["org name"]) if "org name" in idx else None,
                          c_avail: col(ja), c_occ: col(jo), "_line": df["_line"]})
    if where["% occupied"]:
        c_pct = f"General & Acute (% Occupied, column {_letter(where['% occupied'][0])})"
        frame[c_pct] = col(where["% occupied"][0])
    blank = frame["org"].isin(["", "-", "NAN", "NONE"])
    england = blank & frame["name"].astype(str).str.strip().str.lower().eq("england") if "org name" in idx else None
    report.drop("rows without an organisation code (England and region totals, notes)", int(blank.sum()))
    total = ~blank & _is_total_code(frame["org"])
    report.drop("rows of England, region or ICB totals (code ENG, Ynn or Qxx), not providers", int(total.sum()))
    eng = frame[england] if england is not None else frame.iloc[:0]
    frame = frame[~blank & ~total].reset_index(drop=True)
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
    if len(eng) == 1:
        silent = LoadReport("beds")
        for what, c, ours in (("G&A available", c_avail, avail), ("G&A occupied", c_occ, occ)):
            published = to_number(src, eng, c, silent).iloc[0]
            if not np.isnan(published):
                report.check(src.name, f"{what}: England row vs sum of the trusts", published, ours.sum(), 0.005)
    if where["% occupied"]:
        pct = to_number(src, frame, c_pct, LoadReport("beds"))
        both = pct.notna() & (avail > 0) & occ.notna()
        off = both & ((occ / avail - pct).abs() > 5e-4)
        report.check(src.name, f"G&A % Occupied: trusts where occupied / available differs from the file's % "
                               f"(of {int(both.sum())})", 0, int(off.sum()), 0)
    return _long(pd.Series(quarters), frame["org"], frame["name"], {"ga_occupancy_pct": (avail, occ)})


# --------------------------------------------------------------------------- long-format sitrep (2024-25 on)
LONG_METRICS = {"g&a beds available": ("ga_occupancy_pct", "denominator"),
                "g&a beds occupied": ("ga_occupancy_pct", "numerator"),
                "adult critical care beds available": ("critical_care_occupancy_pct", "denominator"),
                "adult critical care beds occupied": ("critical_care_occupancy_pct", "numerator")}
LONG_RATES = {"g&a occupancy rate": "ga_occupancy_pct",
              "adult critical care occupancy rate": "critical_care_occupancy_pct"}


def _sitrep_long(src, rows, lines, h, report: LoadReport) -> pd.DataFrame:
    df = frame_from(src, rows, lines, h)
    c_period = column(src, df, "Period")
    c_level = column(src, df, "Level")
    c_org = column(src, df, "Org Code")
    c_name = column(src, df, "Org Name", required=False)
    c_metric = column(src, df, "Metric")
    c_type = column(src, df, "Type", required=False)
    c_value = column(src, df, "Value")
    if df.empty:
        raise DataError(f"{src.name}: has a header but no data rows; the file is truncated: download it again")
    level = df[c_level].astype(str).str.strip().str.lower()
    metric = df[c_metric].astype(str).map(norm)
    known = metric.isin(LONG_METRICS)
    if not known.any():
        found = ", ".join(pd.unique(df[c_metric].astype(str).str.strip())[:6])
        raise DataError(f"{src.name}: unknown layout: no row has Metric 'G&A beds available', 'G&A beds occupied', "
                        f"'Adult critical care beds available' or '... occupied' (found: {found[:200]})")
    prov = level.isin(["provider", "trust", "nhs trust"])
    if not prov.any():
        raise DataError(f"{src.name}: no row has Level 'Provider' (levels found: "
                        f"{', '.join(sorted(set(df[c_level].astype(str).str.strip()) - {''}))}); expected the "
                        f"provider-level rows of the long-format sitrep")
    for lev, n in df.loc[~prov, c_level].astype(str).str.strip().value_counts().items():
        report.drop(f"rows of Level {lev!r} (totals of the providers, not read)", int(n))
    report.drop("provider rows of other metrics (rates, core/escalation/void, paediatric, neonatal, length of stay)",
                int((prov & ~known).sum()))
    periods = parse_periods(src, df, c_period)
    typ = df[c_type].astype(str).str.strip() if c_type else pd.Series("", index=df.index)
    org = df[c_org].astype(str).str.strip().str.upper()
    desc = "Org Code " + org + ", Metric " + df[c_metric].astype(str).str.strip()
    use = df[known].copy()
    use["period"], use["org"], use["type"] = periods[known], org[known], typ[known]
    use["slot"] = metric[known].map(LONG_METRICS)
    use["v"] = to_number(src, use, c_value, report, where=desc[known])
    is_prov = prov[known]
    p = use[is_prov]
    dup = p.duplicated(["period", "org", "slot"], keep=False)
    if dup.any():
        allt = p["type"].str.lower().eq("all type")
        has_all = allt.groupby([p["period"], p["org"], p["slot"]]).transform("any")
        resolved = dup & has_all & ~allt
        p = p[~resolved]
        report.drop("provider rows of one Type where an 'All Type' row gives the same metric", int(resolved.sum()))
        dup = p.duplicated(["period", "org", "slot"], keep=False)
        if dup.any():
            first = p[dup].iloc[:2]
            raise DataError(f"{src.name}: lines {first['_line'].iloc[0]} and {first['_line'].iloc[1]}: two rows for "
                            f"{first['org'].iloc[0]} {df.loc[first.index[0], c_metric].strip()!r} "
                            f"{first['period'].iloc[0]} (Types {first['type'].iloc[0]!r} and "
                            f"{first['type'].iloc[1]!r}); expected one row per provider, metric and month")
    names = (df.loc[p.index, c_name].astype(str).str.strip() if c_name else pd.Series(None, index=p.index))
    p = p.assign(name=names, metric=[m for m, _ in p["slot"]], part=[x for _, x in p["slot"]])
    wide = p.pivot_table(index=["period", "org", "metric"], columns="part", values="v", aggfunc="first",
                         dropna=False)
    wide = wide.reindex(columns=["numerator", "denominator"])
    present = p.groupby(["period", "org", "metric"])["part"].nunique()
    half = present[present < 2]
    if len(half):
        report.missing["no row for one of occupied / available"] += int(len(half))
    wide = wide.reset_index()
    name = p.groupby("org")["name"].last()
    out = pd.DataFrame({"period": wide["period"], "org_code": wide["org"], "org_name": wide["org"].map(name),
                        "metric": wide["metric"], "value": np.nan, "numerator": wide["numerator"],
                        "denominator": wide["denominator"]})
    _sitrep_long_checks(src, use, p, df, metric, level, typ, org, c_value, report)
    return out


def _sitrep_long_checks(src, use, p, df, metric, level, typ, org, c_value, report: LoadReport) -> None:
    """Provider sums against the National rows, and the file's occupancy rates against occupied / available."""
    nat = use[level[use.index].eq("national").to_numpy()]
    labels = {("ga_occupancy_pct", "denominator"): "G&A beds available",
              ("ga_occupancy_pct", "numerator"): "G&A beds occupied",
              ("critical_care_occupancy_pct", "denominator"): "Adult critical care beds available",
              ("critical_care_occupancy_pct", "numerator"): "Adult critical care beds occupied"}
    for (slot, t), g in nat.groupby(["slot", "type"]):
        sel = p[p["slot"] == slot]
        if t.lower() != "all type":
            sel = sel[sel["type"] == t]
        if sel.empty or g["v"].isna().all():
            continue
        n = int(sel["v"].notna().sum())
        report.check(src.name, f"{labels[slot]} ({t}): National row vs sum of {n} providers (rounded to whole "
                               f"beds: within {n / 2:g})", float(g["v"].iloc[0]), float(sel["v"].sum()), n / 2)
    rate = metric.isin(LONG_RATES) & level.isin(["provider", "trust", "nhs trust"])
    if rate.any():
        r = pd.DataFrame({"org": org[rate], "metric": metric[rate].map(LONG_RATES),
                          "rate": to_number(src, df[rate], c_value, LoadReport("beds"))})
        vals = p.assign(metric=[m for m, _ in p["slot"]], part=[x for _, x in p["slot"]])
        w = vals.pivot_table(index=["org", "metric"], columns="part", values="v", aggfunc="first")
        j = r.join(w, on=["org", "metric"], how="inner")
        if "numerator" not in j or "denominator" not in j:
            return
        ok = j["rate"].notna() & (j["denominator"] > 0.5) & j["numerator"].notna()
        diff = (j["numerator"] / j["denominator"] - j["rate"]).abs()
        # the rates come from unrounded averages, the counts are rounded to whole beds (+-0.5 each)
        bound = 5e-4 + 0.5 * (1 + j["rate"]) / (j["denominator"] - 0.5) + 1e-9
        off = ok & (diff > bound)
        report.check(src.name, "occupancy rate rows vs occupied / available within the rounding of the counts "
                               f"(providers differing, of {int(ok.sum())})", 0, int(off.sum()), 0)
        for m, g in j[ok].assign(diff=100 * diff[ok]).groupby("metric"):
            worst = g.sort_values("diff").iloc[-1]
            report.note(f"{src.name}: {m} from the rounded counts differs from the file's occupancy rate by "
                        f"{g['diff'].median():.2f} percentage points (median) and at most {worst['diff']:.1f} "
                        f"({worst['org']}, {worst['numerator']:g} of {worst['denominator']:g} beds); small units "
                        f"differ most")
