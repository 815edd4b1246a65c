"""Provider collaborative memberships: who joined which collaborative, and when.

The table is a small, user-editable CSV (the format is in the comment header of the shipped
``evallib/data/collaboratives.csv``): one row per member trust with ``collaborative_id``,
``collaborative_name``, ``org_code`` (ODS code), ``joined`` (YYYY-MM) and an optional ``left``
(YYYY-MM; blank: still a member). Lines starting with ``#`` are comments. A params file names
its own table with ``memberships: PATH`` (relative to the params file, like ``data``); with it,
the aligned design's comparators default to ``not_yet_treated`` (evallib/its/comparators.py).

Every problem is a :class:`~evallib.exceptions.DataError` naming the file, the line, the
value and the fix: a malformed date, ``left`` before ``joined``, a collaborative without
members, a trust in two collaboratives (or twice in one) with overlapping dates, names that
differ within one id; and, against a tidy table (:meth:`Memberships.validate_against`), an ODS
code the table does not have or a date outside the table's periods.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from evallib.exceptions import DataError
from evallib.inputs import decode_utf8, read_input
from evallib.periods import format_period, parse_period

COLUMNS = ["collaborative_id", "collaborative_name", "org_code", "joined", "left"]
SHIPPED = "evallib/data/collaboratives.csv"
MAX_BYTES = 20 * 1024 * 1024
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_CODE = re.compile(r"^[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Membership:
    """One member row: ``joined``/``left`` are monthly ``pd.Period`` (``left`` None: still a member)."""

    collaborative_id: str
    collaborative_name: str
    org_code: str
    joined: pd.Period
    left: pd.Period | None
    line: int


class Memberships:
    """The validated membership table (see the module docstring)."""

    def __init__(self, rows: list[Membership], source: str):
        self.rows = list(rows)
        self.source = source

    def collaboratives(self) -> list[str]:
        """Collaborative ids in file order."""
        return list(dict.fromkeys(r.collaborative_id for r in self.rows))

    def name(self, collab_id: str) -> str:
        return self._rows_of(collab_id)[0].collaborative_name

    def members(self, collab_id: str) -> list[str]:
        """ODS codes of a collaborative's members, in file order; DataError for an unknown id."""
        return list(dict.fromkeys(r.org_code for r in self._rows_of(collab_id)))

    def formation(self, collab_id: str) -> pd.Period:
        """The earliest joining date among a collaborative's members (its formation)."""
        return min(r.joined for r in self._rows_of(collab_id))

    def join_date(self, org_code: str) -> pd.Period | None:
        """The first month ``org_code`` joined any collaborative, or None if it never did."""
        dates = [r.joined for r in self.rows if r.org_code == org_code]
        return min(dates) if dates else None

    def collaborative_of(self, org_code: str) -> str | None:
        """The id of the collaborative ``org_code`` joined first, or None."""
        rows = sorted((r for r in self.rows if r.org_code == org_code), key=lambda r: r.joined)
        return rows[0].collaborative_id if rows else None

    def org_codes(self) -> list[str]:
        return list(dict.fromkeys(r.org_code for r in self.rows))

    def _rows_of(self, collab_id: str) -> list[Membership]:
        rows = [r for r in self.rows if r.collaborative_id == collab_id]
        if not rows:
            raise DataError(f"{self.source}: collaborative_id {collab_id!r} is not in the membership table "
                            f"(have {', '.join(self.collaboratives()[:20])}): use one of those ids")
        return rows

    def validate_against(self, table) -> "Memberships":
        """Check the table against a tidy table: every ODS code has rows in it, and every date lies
        within its periods. Returns ``self``; DataError naming the file, line, value and fix."""
        have = set(table.frame["org_code"].unique())
        periods = table.frame["period"]
        first, last = parse_period(periods.min()), parse_period(periods.max())
        for r in self.rows:
            if r.org_code not in have:
                raise DataError(f"{self.source}: line {r.line}: org_code {r.org_code!r} (collaborative "
                                f"{r.collaborative_id}) is not in the data {table.source}: correct the ODS code "
                                f"or remove the row")
            for col, d in (("joined", r.joined), ("left", r.left)):
                if d is None:
                    continue
                dd = d.asfreq(first.freqstr[0]) if first.freqstr[0] != "M" else d
                if dd < first or dd > last:
                    raise DataError(f"{self.source}: line {r.line}: {col} {format_period(d)} is outside the data "
                                    f"{table.source} ({format_period(first)} to {format_period(last)}): correct "
                                    f"the date, or use data that cover it")
        return self

    def __repr__(self) -> str:
        return f"<Memberships {len(self.collaboratives())} collaboratives, {len(self.org_codes())} trusts>"


def _month(value: str, col: str, line: int, source: str) -> pd.Period:
    m = _MONTH.match(value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise DataError(f"{source}: line {line}: {col} {value!r} is not a month: write it as YYYY-MM "
                        f"(e.g. 2020-09)")
    return pd.Period(year=int(m.group(1)), month=int(m.group(2)), freq="M")


def parse_memberships(text: str, source: str) -> Memberships:
    """Parse and validate membership CSV text (see the module docstring)."""
    lines = text.splitlines()
    body = [(k + 1, ln) for k, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")]
    if not body:
        raise DataError(f"{source}: no header line: the first line that is not a comment must be "
                        f"{','.join(COLUMNS)}")
    hline, header = body[0]
    cols = [c.strip() for c in next(csv.reader([header]))]
    if cols[:4] != COLUMNS[:4] or cols[4:] not in ([], ["left"]):
        raise DataError(f"{source}: line {hline}: header {','.join(cols)!r} is not the membership format: the "
                        f"columns are {','.join(COLUMNS)} (left optional)")
    rows: list[Membership] = []
    declared: dict[str, int] = {}
    names: dict[str, tuple[str, int]] = {}
    for line, raw in body[1:]:
        vals = [v.strip() for v in next(csv.reader(io.StringIO(raw)))]
        if len(vals) > len(cols) or len(vals) < 4:
            raise DataError(f"{source}: line {line}: {len(vals)} field(s) in {raw!r}; the header has {len(cols)} "
                            f"({','.join(cols)}): one row per member trust")
        vals += [""] * (len(cols) - len(vals))
        d = dict(zip(cols, vals))
        cid, cname, code = d["collaborative_id"], d["collaborative_name"], d["org_code"]
        if not _ID.match(cid):
            raise DataError(f"{source}: line {line}: collaborative_id {cid!r}: use letters, digits, _ and - only "
                            f"(it names folders of a national pack)")
        if cid in names and names[cid][0] != cname:
            raise DataError(f"{source}: line {line}: collaborative_name {cname!r} differs from "
                            f"{names[cid][0]!r} on line {names[cid][1]} for collaborative_id {cid}: use one name "
                            f"per id")
        names.setdefault(cid, (cname, line))
        declared.setdefault(cid, line)
        if not code:
            continue
        if not _CODE.match(code):
            raise DataError(f"{source}: line {line}: org_code {code!r} is not an ODS code (letters and digits): "
                            f"correct it")
        joined = _month(d["joined"], "joined", line, source)
        left = _month(d["left"], "left", line, source) if d.get("left") else None
        if left is not None and left <= joined:
            raise DataError(f"{source}: line {line}: left {d['left']} is not after joined {d['joined']} for "
                            f"{code}: correct one of the dates")
        rows.append(Membership(cid, cname, code.upper(), joined, left, line))
    for cid, line in declared.items():
        if not any(r.collaborative_id == cid for r in rows):
            raise DataError(f"{source}: line {line}: collaborative {cid} has no members (no row with an "
                            f"org_code): add its member trusts or remove it")
    def span(m: Membership) -> str:
        return f"{format_period(m.joined)} to {format_period(m.left) if m.left else 'now'}"

    by_code: dict[str, list[Membership]] = {}
    for r in rows:
        for o in by_code.get(r.org_code, []):
            if (o.left is None or r.joined < o.left) and (r.left is None or o.joined < r.left):
                raise DataError(f"{source}: line {r.line}: {r.org_code} is in {r.collaborative_id} from {span(r)}, "
                                f"overlapping its membership of {o.collaborative_id} from {span(o)} on line {o.line}: "
                                f"a trust is in one collaborative at a time; set left on the earlier row or "
                                f"correct the dates")
        by_code.setdefault(r.org_code, []).append(r)
    return Memberships(rows, source)


def load_memberships(path: str | Path | None = None) -> Memberships:
    """The membership table at ``path`` (default: the shipped ``evallib/data/collaboratives.csv``)."""
    if path is None:
        text = resources.files("evallib.data").joinpath("collaboratives.csv").read_text(encoding="utf-8")
        return parse_memberships(text, SHIPPED)
    raw = read_input(path, what="membership table", error=DataError, max_bytes=MAX_BYTES)
    text = decode_utf8(raw, path, what="membership table", error=DataError,
                       resave="re-save the file as UTF-8 CSV")
    return parse_memberships(text, str(path))
