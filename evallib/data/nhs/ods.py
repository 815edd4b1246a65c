"""ODS successor codes: one consistent series per organisation across mergers.

When trusts merge, the predecessors' codes stop and the successor's starts (or a
predecessor's code is kept, e.g. RAJ for Mid and South Essex). To give an analysis
one series, every row of an *old* code is relabelled to its *successor* and summed
with it, in every period. Counts add; percentages are recomputed from the summed
numerators and denominators (never averaged).

The table is a small CSV, ``old_code,new_code,date,note``, that users edit:

- the packaged default is ``evallib/data/nhs/ods_successors.csv`` (a few well-known
  acute-trust mergers; check them against the NHS ODS record before relying on them);
- ``evallib import ... --ods-map FILE`` adds a user table; its rows override the
  default for the same ``old_code``. A row mapping a code to itself switches a
  default mapping off.

Edge cases: chains (A -> B -> C) resolve to the last code; a cycle is a DataError;
lines starting with ``#`` are comments; ``date`` is the first month under the
successor (``YYYY-MM`` or ``YYYY-MM-DD``) and is used only to report an old code
still reporting on or after it. That comparison is made on real periods, not on
the text of the labels: a quarter (``2020-Q3``, July to September) or a year counts
as "on or after" the merger only when it *starts* on or after the merger month
(as text, ``"2020-Q3" >= "2020-10"`` would be true). A code change with no merger
(a new code for the same trust) is also a successor row. A *name* change with the
same code (RXK in 2022) needs no row: names are taken from each code's latest period.

A trust *split* between several successors (Pennine Acute RW6 in 2021, North West
Boroughs RTV in 2021) has no single successor and is not in the table: its series
ends, and the successors' series carry on without it.

The report (``report.ods`` and ``report.ods_detail``) says which codes were mapped,
how many rows, over which periods, and the merger's note and date; ``evallib import``
prints one line per mapping.
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evallib.exceptions import DataError

logger = logging.getLogger(__name__)

DEFAULT_TABLE = Path(__file__).with_name("ods_successors.csv")
COLUMNS = ["old_code", "new_code", "date", "note"]


@dataclass(frozen=True)
class Successor:
    old_code: str
    new_code: str
    date: str      # YYYY-MM
    note: str = ""


def read_successors(path: str | Path) -> dict[str, Successor]:
    """Read one successor table; a DataError names the file, line and problem."""
    from evallib.data.nhs.common import month_label

    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: ODS successor table not found (expected a CSV with columns {','.join(COLUMNS)})")
    from evallib.inputs import MAX_META_BYTES, decode_utf8, read_input

    raw = read_input(p, what="ODS successor table", error=DataError, max_bytes=64 * MAX_META_BYTES)
    text = decode_utf8(raw, p, what="the ODS successor table", error=DataError,
                       resave="re-save it as UTF-8 CSV (a byte-order mark is fine)")
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise DataError(f"{p}: the ODS successor table is empty (expected a header {','.join(COLUMNS)})")
    reader = list(csv.reader(io.StringIO("\n".join(ln for _, ln in lines))))
    header = [h.strip().lower() for h in reader[0]]
    missing = [c for c in COLUMNS[:3] if c not in header]
    if missing:
        raise DataError(f"{p}: line {lines[0][0]}: column {missing[0]!r} is missing; the header must be "
                        f"{','.join(COLUMNS)} (note optional)")
    idx = {c: header.index(c) for c in COLUMNS if c in header}
    out: dict[str, Successor] = {}
    for (lineno, _), row in zip(lines[1:], reader[1:]):
        cell = {c: (row[i].strip() if i < len(row) else "") for c, i in idx.items()}
        old, new = cell["old_code"].upper(), cell["new_code"].upper()
        if not old or not new:
            raise DataError(f"{p}: line {lineno}: old_code and new_code must both be given")
        when = month_label(cell["date"]) if cell["date"] else None
        if when is None:
            raise DataError(f"{p}: line {lineno}, column date: {cell['date']!r} is not a date "
                            f"(expected YYYY-MM or YYYY-MM-DD, the first month under {new})")
        if old in out:
            raise DataError(f"{p}: line {lineno}: old_code {old} is listed twice; keep one successor")
        out[old] = Successor(old, new, when, cell.get("note", ""))
    return out


def load_successors(user_table: str | Path | None = None) -> dict[str, Successor]:
    """The default table, overridden by ``user_table`` rows; self-mappings switch a row off."""
    table = read_successors(DEFAULT_TABLE)
    if user_table is not None:
        table.update(read_successors(user_table))
    table = {k: v for k, v in table.items() if v.old_code != v.new_code}
    for code in table:
        resolve(code, table)  # raises on a cycle
    return table


def resolve(code: str, table: dict[str, Successor]) -> str:
    """Follow successors to the current code (A -> B -> C gives C)."""
    seen = [code]
    while code in table:
        code = table[code].new_code
        if code in seen:
            raise DataError(f"ODS successor table: the codes {' -> '.join(seen + [code])} form a cycle; "
                            f"remove one row")
        seen.append(code)
    return code


def apply_successors(raw: pd.DataFrame, ods_map, report) -> pd.DataFrame:
    """Relabel old codes in ``raw`` (a frame with ``org_code`` and ``period``) to their successors.

    ``ods_map`` is None (default table only), a path to a user table, a dict of
    ``{old: Successor}`` (used as is), or False (no mapping at all).
    """
    if ods_map is False:
        return raw
    table = ods_map if isinstance(ods_map, dict) else load_successors(ods_map)
    if not table:
        return raw
    codes = pd.unique(raw["org_code"])
    mapping = {c: resolve(c, table) for c in codes if c in table}
    if not mapping:
        return raw
    out = raw.copy()
    starts = _period_starts(out["period"])
    for old, new in mapping.items():
        rows = out["org_code"] == old
        key = f"{old} -> {new}"
        report.ods[key] += int(rows.sum())
        periods = sorted(set(out.loc[rows, "period"].astype(str)) | set(report.ods_detail.get(key, {})
                                                                        .get("periods", [])))
        report.ods_detail[key] = {"periods": periods, "date": table[old].date, "note": table[old].note}
        merged = pd.Period(table[old].date, freq="M").start_time
        late = rows & (starts >= merged)
        if late.any():
            first = sorted(out.loc[late, "period"].astype(str))[0]
            report.note(f"{old} still reports in {first}, on or after {table[old].date} when "
                        f"{table[old].new_code} succeeded it; its rows are added to {new}")
        out.loc[rows, "org_code"] = new
        out.loc[rows, "org_name"] = None  # names come from the successor's own rows
    return out


def _period_starts(periods: pd.Series) -> pd.Series:
    """The first day of each period label (``YYYY-MM``, ``YYYY-Qn``, ``YYYY``) as a Timestamp."""
    from evallib.periods import parse_period

    cache = {}
    for lab in pd.unique(periods.astype(str)):
        try:
            cache[lab] = parse_period(lab).start_time
        except ValueError:
            raise DataError(f"ODS successors: period {lab!r} is not a period label (expected YYYY-MM, "
                            f"YYYY-Qn or YYYY); this is a loader bug, please report it") from None
    return periods.astype(str).map(cache)
