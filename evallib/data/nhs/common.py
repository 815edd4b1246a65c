"""Shared reading for the NHS England loaders: files, zips and folders; text
encodings; header (front-matter) detection; numbers and suppression marks; the
load report; and the final step every loader shares (ODS mapping, percentages,
the tidy table).

Edge cases, decided here once for every publication:

- **Inputs.** A path may be a CSV file, an Excel workbook (``.xlsx``/``.xlsm``), a zip
  of them (every ``.csv`` and ``.xlsx`` inside is read; ``__MACOSX`` entries and ``~$``
  lock files are ignored) or a folder (searched recursively for ``.csv``, ``.xlsx``
  and ``.zip``). Old binary ``.xls`` workbooks are an error that says to save them as
  ``.xlsx``.
- **Workbooks** (read with ``openpyxl``): every sheet is turned into CSV text (dates as
  ``YYYY-MM-DD``, whole numbers without ``.0``, the stored value of a formula) and
  goes through the same header search as a CSV file, so the header may sit on any of
  the first 40 rows. Sheets without a header of any publication (notes, contents,
  charts) are skipped and noted in the report; a workbook none of whose sheets has
  a recognisable header is a :class:`~evallib.exceptions.DataError` listing its sheets.
  Messages name a sheet as ``book.xlsx!Sheet``.
- **Encodings.** UTF-8, with or without a byte-order mark; files that are not
  UTF-8 are read as Windows-1252 (older NHS England CSVs are).
- **Front matter.** The header is the first of the first 40 lines that carries the
  publication's key columns; lines above it (titles, ``Period:`` notes, the two
  lines of pre-2017-10 RTT files) are skipped and the layout name records them.
- **Numbers.** Thousands separators (``1,234``, commas between groups of three
  digits) are removed; any other comma (``12,5``) is an error, not a number. Empty cells and the suppression
  marks ``*``, ``-``, ``..``, ``NA``, ``N/A`` and the GSS shorthand ``[c]``, ``[x]``,
  ``[z]``, ``[u]``, ``[w]`` become missing values, are counted in the report, and are
  never read as zero. Anything else that is not a number
  is a :class:`~evallib.exceptions.DataError` naming the file, line, column and value.
- **Sums.** A sum (over commissioners, cancer types, A&E types) with a missing
  addend is missing: a blank is "not collected", and a total built from it would
  silently undercount.
- **Truncation.** A data row with a different number of fields from the header is
  an error ("truncated or corrupt"), as is a zip that cannot be opened.
- **Not reported.** A loader that recognises a provider which reports a count as a
  placeholder (A&E field-test trusts: ``0`` in every over-4-hours cell) leaves the
  metric missing and lists the provider, with the reason, in ``report.not_reported``.
- **Published totals.** Where a file carries its own totals (A&E ``TOTAL`` footer,
  KH03 England row, sitrep National rows, the cancer extract's two subtotals), the
  loader compares them with what it read and records each comparison in
  ``report.checks``; ``evallib import`` prints them.
"""
from __future__ import annotations

import csv
import datetime
import io
import logging
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from evallib.exceptions import DataError

logger = logging.getLogger(__name__)

TIDY_COLUMNS = ["period", "org_code", "org_name", "metric", "value", "numerator", "denominator"]
MISSING_MARKS = {"*": "'*' (suppressed)", "-": "'-' (not available)", "..": "'..' (not available)",
                 "NA": "'NA'", "N/A": "'N/A'", "": "blank (not collected)",
                 # the Government Statistical Service shorthand, used in publications from 2024
                 "[c]": "'[c]' (confidential)", "[x]": "'[x]' (not available)", "[z]": "'[z]' (not applicable)",
                 "[u]": "'[u]' (low reliability)", "[w]": "'[w]' (no data)"}
HEADER_SEARCH_LINES = 40

MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], start=1)}
MONTHS.update({k[:3]: v for k, v in list(MONTHS.items())})
MONTHS["sept"] = 9
_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})(?:-(\d{1,2}))?(?:[ T]\d{2}:\d{2}(?::\d{2})?)?\s*$")
_DMY = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_NAMED = re.compile(r"(?<![a-z])([a-z]{3,9})[\s\-_/.]*('?\d{4}|\d{2})(?!\d)", re.IGNORECASE)


# --------------------------------------------------------------------------- sources
@dataclass
class Source:
    """One CSV text to read: a file, or a member of a zip (``name`` shows both)."""

    name: str           # for messages: "path/file.csv" or "path/x.zip!inner.csv"
    data: bytes
    folder: str | None = None  # the folder it was found in, when a folder was given
    text: str | None = None    # decoded text, set by read_rows
    sheet: bool = False        # one sheet of an Excel workbook (other sheets may be notes)
    workbook: str | None = None    # the workbook's name, for a sheet
    sheet_name: str | None = None  # the sheet's title, for a sheet


def _excel_cell(v) -> str:
    """One workbook cell as CSV text: dates as ``YYYY-MM-DD``, whole floats without ``.0``."""
    if v is None:
        return ""
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _excel_rows(name: str, data: bytes, folder: str | None = None) -> list[Source]:
    """One :class:`Source` per sheet of an ``.xlsx`` workbook, each converted to CSV text.

    Cells are taken as stored values (``data_only``: the last value Excel computed for a
    formula). The used range stored in the file is ignored (some writers store a wrong
    one) and rows are padded to the sheet's widest row, so a short row is never
    mistaken for a truncated line. Empty sheets give an empty text; the loaders skip
    sheets that carry no header of their publication, and :func:`read_all` raises
    when none does. An unreadable file (truncated, or an ``.xls`` renamed) is a
    DataError naming it.
    """
    try:
        import openpyxl
    except ImportError:
        raise DataError(f"{name}: is an Excel workbook and openpyxl is not installed; install openpyxl, or open it, "
                        f"save the data sheet (e.g. 'NHS Trust by Sector' for KH03) as CSV and import the CSV")
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, zlib.error) as exc:
        raise DataError(f"{name}: not a readable Excel workbook ({type(exc).__name__}: {exc}); the download is "
                        f"truncated or corrupt, or it is an old .xls file: download it again, or save it as .xlsx") \
            from None
    out = []
    try:
        for ws in wb.worksheets:
            ws.reset_dimensions()  # some writers store a wrong used range (e.g. A1:A1); read every cell
            cells = []
            for row in ws.iter_rows(values_only=True):
                vals = [_excel_cell(v) for v in row]
                while vals and not vals[-1].strip():
                    vals.pop()
                cells.append(vals)
            while cells and not cells[-1]:
                cells.pop()
            width = max((len(r) for r in cells), default=0)
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            for vals in cells:
                w.writerow(vals + [""] * (width - len(vals)))
            out.append(Source(f"{name}!{ws.title}", buf.getvalue().encode("utf-8"), folder, sheet=True,
                              workbook=name, sheet_name=ws.title))
    finally:
        wb.close()
    return out


def _zip_sources(path: Path, folder: str | None) -> list[Source]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n]
            csvs = [n for n in names if n.lower().endswith((".csv", ".xlsx", ".xlsm"))
                    and not Path(n).name.startswith("~$")]
            if not csvs:
                found = ", ".join(names[:5]) if names else "nothing"
                raise DataError(f"{path}: the zip holds no CSV file (found: {found}); download the "
                                f"CSV zip from the NHS England statistics page again")
            out: list[Source] = []
            for n in sorted(csvs):
                if n.lower().endswith(".csv"):
                    out.append(Source(f"{path}!{n}", zf.read(n), folder))
                else:
                    out.extend(_excel_rows(f"{path}!{n}", zf.read(n), folder))
            return out
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable zip ({exc}); the download is truncated or corrupt: "
                        f"download it again") from None


def collect_sources(paths: Iterable[str | Path]) -> list[Source]:
    """Expand files, zips and folders into the CSV texts to read, in a stable order."""
    out: list[Source] = []
    paths = list(paths)
    if not paths:
        raise DataError("no input given: pass one or more files, zips or folders")
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise DataError(f"{p}: not found (pass a CSV file, a zip or a folder of them)")
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and
                           f.suffix.lower() in (".csv", ".zip", ".xlsx") and not f.name.startswith((".", "~$")))
            if not files:
                raise DataError(f"{p}: the folder holds no .csv, .xlsx or .zip file")
            for f in files:
                out.extend(_file_sources(f, str(p)))
        else:
            out.extend(_file_sources(p, None))
    return out


def _file_sources(f: Path, folder: str | None) -> list[Source]:
    suffix = f.suffix.lower()
    if suffix == ".zip":
        return _zip_sources(f, folder)
    if suffix in (".xlsx", ".xlsm"):
        return _excel_rows(str(f), _read(f), folder)
    if suffix == ".xls":
        raise DataError(f"{f}: is an old-format Excel workbook (.xls), which cannot be read; open it and save it "
                        f"as .xlsx (Excel Workbook), or save the data sheet as CSV")
    return [Source(str(f), _read(f), folder)]


def _read(f: Path) -> bytes:
    """The bytes of one input file, bounded (regular files only: a folder, FIFO or /dev/zero is a DataError)."""
    from evallib.inputs import limit, read_input

    return read_input(f, what="NHS England file", error=DataError, max_bytes=limit("EVALLIB_MAX_IMPORT_BYTES"),
                      limit_name="EVALLIB_MAX_IMPORT_BYTES")


# --------------------------------------------------------------------------- text, rows, header
def decode(source: Source) -> tuple[str, str]:
    """Text of a source and the encoding used; an empty file is a DataError."""
    data = source.data
    if not data.strip() or not data.lstrip(b"\xef\xbb\xbf").strip():
        raise DataError(f"{source.name}: the file is empty ({len(data)} bytes); download it again")
    try:
        return data.decode("utf-8-sig"), ("utf-8-bom" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def read_rows(source: Source) -> tuple[list[list[str]], list[int], str]:
    """The first rows of a source (cells stripped; enough to find the header), the file
    line where each starts, and the encoding. The full text is kept on ``source.text``."""
    text, enc = decode(source)
    source.text = text
    reader = csv.reader(io.StringIO(text))
    rows, lines = [], []
    start = 1
    try:
        for row in reader:
            rows.append([c.strip() for c in row])
            lines.append(start)
            start = reader.line_num + 1
            if len(rows) > HEADER_SEARCH_LINES:
                break
    except csv.Error as exc:
        raise DataError(f"{source.name}: line {reader.line_num}: cannot be read as CSV ({exc}); "
                        f"the file is truncated or corrupt: download it again") from None
    return rows, lines, enc


def norm(cell: str) -> str:
    """Header cell for matching: lower case, single spaces, BOM and quotes removed."""
    return " ".join(str(cell).replace("\ufeff", "").strip().strip('"').lower().split())


def find_header(rows: list[list[str]], test: Callable[[set[str]], bool]) -> int | None:
    """Index of the first row (within the first 40) whose normalised cells pass ``test``."""
    for i, row in enumerate(rows[:HEADER_SEARCH_LINES]):
        cells = {norm(c) for c in row if c.strip()}
        if cells and test(cells):
            return i
    return None


# Signatures of every publication, used to say "this is a DM01 file, not RTT".
SIGNATURES: dict[str, Callable[[set[str]], bool]] = {
    "rtt": lambda c: {"rtt part type", "treatment function code"} <= c,
    "dm01": lambda c: {"diagnostic tests", "total wl"} <= c,
    "ae": lambda c: "org code" in c and any(re.match(r"^(number of )?a&e attendances type 1$", x) for x in c),
    "cancer": lambda c: ({"standard", "org code", "within standard"} <= c
                         or (any(re.match(r"^(ods code|org code|provider code|code)\b", x) for x in c)
                             and any(re.match(r"^within \d+ days", x) for x in c))),
    "beds": lambda c: (any(x in c for x in ("org code", "code", "organisation code", "trust code"))
                       and ((any("occupied" in x for x in c) and any("available" in x for x in c))
                            or "general & acute" in c
                            or {"level", "metric", "value"} <= c)),   # the long format, 2024-25 on
}
KIND_NAMES = {"rtt": "RTT Full CSV", "dm01": "DM01 diagnostics", "ae": "A&E monthly",
              "cancer": "cancer waiting times provider extract", "beds": "beds (UEC sitrep / KH03)"}


def sniff_kind(rows: list[list[str]]) -> str | None:
    for kind, test in SIGNATURES.items():
        if find_header(rows, test) is not None:
            return kind
    return None


def header_or_fail(source: Source, rows: list[list[str]], kind: str, expected: str) -> int:
    """Header row index for ``kind``; a DataError says which publication the file is instead."""
    h = find_header(rows, SIGNATURES[kind])
    if h is not None:
        return h
    other = sniff_kind(rows)
    if other is not None and other != kind:
        raise DataError(f"{source.name}: this file is {KIND_NAMES[other]} data, not {KIND_NAMES[kind]}; "
                        f"import it with `evallib import {other} ...`")
    first = next((r for r in rows if any(c for c in r)), [])
    # what was found is described, not echoed (the file may be anything: never print its content)
    found = f"the first non-empty line has {len(first)} field(s)" if first else "every line is empty"
    raise DataError(f"{source.name}: unknown header: no line in the first {HEADER_SEARCH_LINES} lines has "
                    f"the {KIND_NAMES[kind]} columns ({expected}); {found}: is this the right file and kind?")


def frame_from(source: Source, rows: list[list[str]], lines: list[int], h: int,
               numeric: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Data rows under header ``h`` as strings (not stripped), with a ``_line`` column.

    Columns for which ``numeric(name)`` is true are parsed by pandas as numbers where
    they hold only numbers (blank cells become NaN); :func:`to_number` handles both.

    One pass of the csv module checks every row's width (a short row means a
    truncated download) and records line numbers; pandas' C parser then reads the
    cells, which is several times faster than building the frame in Python.
    Rows whose cells are all empty are skipped. Columns are positional when the
    header repeats a name (KH03 repeats "General & Acute" under Available and Occupied).
    """
    header = rows[h]
    width = len(header)
    while width > 0 and not header[width - 1]:
        width -= 1  # trailing empty header cells (a trailing comma)
    text = source.text
    reader = csv.reader(io.StringIO(text))
    where: list[int] = []
    k = -1
    try:
        for row in reader:
            k += 1
            if k <= h or not row:
                continue
            if len(row) < width and any(row):
                raise DataError(f"{source.name}: line {reader.line_num} has {len(row)} fields but the header has "
                                f"{width}; the file is truncated or corrupt: download it again")
            if len(row) > width and any(c.strip() for c in row[width:]):
                raise DataError(f"{source.name}: line {reader.line_num} has {len(row)} fields but the header has "
                                f"{width}; the file is corrupt (an unquoted comma?): download it again")
            if any(row[:width]) and (len(row) == width or any(c.strip() for c in row[:width])):
                where.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(f"{source.name}: line {reader.line_num}: cannot be read as CSV ({exc}); "
                        f"the file is truncated or corrupt: download it again") from None
    cols = [c.replace("\ufeff", "").strip() for c in header[:width]]
    if not where:
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in dict.fromkeys(cols)})
        df["_line"] = pd.Series(dtype=int)
        return df
    try:
        nums = [j for j, c in enumerate(cols) if numeric is not None and numeric(c)]
        df = pd.read_csv(io.StringIO(text), header=None, skiprows=lines[h] if h < len(lines) else h + 1,
                         dtype={j: str for j in range(width) if j not in nums}, keep_default_na=False,
                         na_values={j: [""] for j in nums}, skip_blank_lines=True,
                         usecols=range(width) if width else None, engine="c")
    except (pd.errors.ParserError, ValueError):
        df = None
    if df is not None and len(df) != len(where):  # rows of empty cells (,,,) or spaces
        texts = df.astype(str).apply(lambda c: c.str.strip())
        df = df[((texts != "") & (texts != "nan")).any(axis=1)]
    if df is None or len(df) != len(where):
        # quoted line breaks or other oddities: the slower, exact reader
        body = []
        for k, row in enumerate(csv.reader(io.StringIO(text))):
            if k > h and row and any(c.strip() for c in row[:width]):
                body.append((row + [""] * width)[:width])
        df = pd.DataFrame(body, dtype=object)
    df.columns = cols if len(set(cols)) == len(cols) else [f"{c}#{j}" if cols.count(c) > 1 else c
                                                          for j, c in enumerate(cols)]
    df = df.reset_index(drop=True)
    df["_line"] = where
    return df


def column(source: Source, df: pd.DataFrame, *names: str, required: bool = True) -> str | None:
    """The frame's column matching one of ``names`` (case and spacing insensitive)."""
    lookup = {norm(c): c for c in df.columns}
    for n in names:
        if norm(n) in lookup:
            return lookup[norm(n)]
    if required:
        raise DataError(f"{source.name}: unknown header: column {names[0]!r} is missing "
                        f"(found: {', '.join(c for c in df.columns if c != '_line')[:200]})")
    return None


# --------------------------------------------------------------------------- periods
def month_label(text: str) -> str | None:
    """``YYYY-MM`` from the period spellings the publications use, else None.

    Handles ``RTT-June-2026``, ``MSitAE-MARCH-2024``, ``DM01-MAY-2026``, ``June 2026``,
    ``Jun-26``, ``2026-06``, ``2026-06-01`` (with or without a time) and ``01/06/2026``.
    """
    s = str(text).strip()
    m = _ISO.match(s)
    if m:
        y, mo = int(m.group(1)), int(m.group(2))
        return f"{y:04d}-{mo:02d}" if 1 <= mo <= 12 else None
    m = _DMY.match(s)
    if m:
        mo = int(m.group(2))
        return f"{int(m.group(3)):04d}-{mo:02d}" if 1 <= mo <= 12 else None
    for m in _NAMED.finditer(s):
        name = m.group(1).lower()
        if name in MONTHS:
            y = m.group(2).lstrip("'")
            year = int(y) if len(y) == 4 else 2000 + int(y)
            return f"{year:04d}-{MONTHS[name]:02d}"
    return None


def parse_periods(source: Source, df: pd.DataFrame, col: str, fallback: str | None = None) -> pd.Series:
    """Map a period column to ``YYYY-MM``; an unparseable value is a DataError naming the line."""
    labels = df[col].astype(str).str.strip()
    cache: dict[str, str | None] = {}
    for lab in pd.unique(labels):
        cache[lab] = month_label(lab) if lab else fallback
    bad = [lab for lab, v in cache.items() if v is None]
    if bad:
        i = int(np.flatnonzero((labels == bad[0]).to_numpy())[0])
        raise DataError(f"{source.name}: line {df['_line'].iloc[i]}, column {col}: {bad[0]!r} is not a month "
                        f"(expected e.g. RTT-June-2026, MSitAE-MARCH-2024, 2026-06 or 01/06/2026)")
    return labels.map(cache)


# --------------------------------------------------------------------------- numbers
def to_number(source: Source, df: pd.DataFrame, col: str, report: "LoadReport",
              where: pd.Series | None = None) -> pd.Series:
    """Numeric column; suppression marks and blanks become NaN and are counted in ``report``.

    ``where`` (optional, indexed like ``df``) describes each row for the error message
    (e.g. the organisation and metric of a long-format file).

    Fast path: the C converter handles plain numbers; only the cells it cannot read
    (blanks, marks, thousands separators, mistakes) are examined one by one.
    """
    raw = df[col]
    if pd.api.types.is_numeric_dtype(raw):
        blank = int(raw.isna().sum())
        if blank:
            report.missing[MISSING_MARKS[""]] += blank
        return raw.astype(float)
    out = pd.to_numeric(raw, errors="coerce").astype(float)
    odd = out.isna()
    if not odd.any():
        return out
    text = raw[odd].astype(object).where(raw[odd].notna(), "").astype(str).str.strip()
    marks = text.isin(MISSING_MARKS.keys())
    for mark, n in text[marks].value_counts().items():
        report.missing[MISSING_MARKS[mark]] += int(n)
    rest = text[~marks]
    if len(rest):
        # a comma is a thousands separator only between groups of three digits: "12,5" (a decimal
        # comma) is not silently read as 125
        grouped = rest.str.match(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
        fixed = pd.to_numeric(rest.where(~grouped, rest.str.replace(",", "", regex=False)), errors="coerce")
        bad = fixed.isna()
        if bad.any():
            i = bad.index[bad.to_numpy()][0]
            what = f" ({where.loc[i]})" if where is not None else ""
            raise DataError(f"{source.name}: line {df.loc[i, '_line']}, column {col!r}{what}: {raw.loc[i].strip()!r} "
                            f"is not a number (expected a count; blank, *, - and [x] are read as missing)")
        out.loc[fixed.index] = fixed.astype(float)
    return out


def strict_sum(frame: pd.DataFrame, keys: list[str], cols: list[str]) -> pd.DataFrame:
    """Group sums that are NaN when any addend is NaN (a blank is not a zero)."""
    g = frame.groupby(keys, sort=True, dropna=False)
    sums = g[cols].sum(min_count=1)
    anyna = frame[cols].isna().groupby([frame[k] for k in keys], sort=True, dropna=False).any()
    sums = sums.mask(anyna.to_numpy())
    return sums.reset_index()


def row_sum(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    """Sum across columns; NaN when any of them is NaN."""
    if not cols:
        return pd.Series(np.nan, index=frame.index)
    return frame[cols].sum(axis=1, min_count=len(cols)).where(frame[cols].notna().all(axis=1))


# --------------------------------------------------------------------------- report
@dataclass
class Check:
    """One comparison of what a loader read with a total the file publishes itself."""

    source: str        # the file (or sheet)
    what: str          # e.g. "attendances: TOTAL row vs sum of providers"
    published: float
    loaded: float
    tolerance: float = 0.5

    @property
    def ok(self) -> bool:
        return bool(abs(self.published - self.loaded) <= self.tolerance)

    def as_dict(self) -> dict:
        return {"source": self.source, "what": self.what, "published": self.published, "loaded": self.loaded,
                "tolerance": self.tolerance, "ok": self.ok}


@dataclass
class LoadReport:
    """What a loader saw: for the one-screen report of ``evallib import``."""

    kind: str
    files: list[str] = field(default_factory=list)
    layouts: Counter = field(default_factory=Counter)       # layout name -> files
    encodings: Counter = field(default_factory=Counter)
    missing: Counter = field(default_factory=Counter)       # mark -> cells (in the columns used)
    dropped: Counter = field(default_factory=Counter)       # reason -> rows
    notes: list[str] = field(default_factory=list)
    ods: Counter = field(default_factory=Counter)           # "OLD -> NEW" -> rows relabelled
    ods_detail: dict = field(default_factory=dict)          # "OLD -> NEW" -> {periods, date, note}
    periods: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    metrics: Counter = field(default_factory=Counter)       # metric -> rows
    missing_values: int = 0                                 # tidy rows whose value is missing
    not_reported: dict = field(default_factory=dict)        # (code, metric) -> {name, reason, periods}
    checks: list[Check] = field(default_factory=list)

    def drop(self, reason: str, n: int) -> None:
        if n:
            self.dropped[reason] += int(n)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def not_reporting(self, code: str, name: str | None, metric: str, period: str, reason: str) -> None:
        """Record that ``code`` did not report ``metric`` in ``period`` (its value is left missing)."""
        entry = self.not_reported.setdefault((code, metric), {"name": name or "", "reason": reason,
                                                               "periods": []})
        if name:
            entry["name"] = name
        if period not in entry["periods"]:
            entry["periods"].append(period)
            entry["periods"].sort()

    def check(self, source: str, what: str, published: float, loaded: float, tolerance: float = 0.5) -> Check:
        c = Check(source, what, float(published), float(loaded), float(tolerance))
        self.checks.append(c)
        if not c.ok:
            logger.warning("%s: %s: the file says %s, the loader read %s", source, what, f"{published:,.6g}",
                           f"{loaded:,.6g}")
        return c

    def as_dict(self) -> dict:
        return {"kind": self.kind, "files": list(self.files), "layouts": dict(self.layouts),
                "encodings": dict(self.encodings), "missing_cells": dict(self.missing),
                "dropped": dict(self.dropped), "notes": list(self.notes), "ods": dict(self.ods),
                "ods_detail": {k: dict(v) for k, v in self.ods_detail.items()},
                "periods": list(self.periods), "providers": list(self.providers),
                "metrics": dict(self.metrics), "missing_values": self.missing_values,
                "not_reported": [{"org_code": c, "metric": m, **v} for (c, m), v in self.not_reported.items()],
                "checks": [c.as_dict() for c in self.checks]}

    def lines(self, max_width: int = 120) -> list[str]:
        """A one-screen summary (about 20 lines, plus one per provider not reporting and per ODS mapping)."""
        def span(ps: list[str]) -> str:
            if not ps:
                return "none"
            return f"{ps[0]} to {ps[-1]} ({len(ps)})" if len(ps) > 1 else ps[0]

        def short(items: list[str], n: int = 12) -> str:
            return ", ".join(items[:n]) + (f", ... (+{len(items) - n})" if len(items) > n else "")

        out = [f"{KIND_NAMES.get(self.kind, self.kind)}: {len(self.files)} file(s)",
               f"  periods:   {span(self.periods)}",
               f"  providers: {len(self.providers)}: {short(self.providers)}",
               "  layouts:   " + (", ".join(f"{k} x{v}" for k, v in sorted(self.layouts.items())) or "none"),
               f"  metrics:   {len(self.metrics)}: {short(sorted(self.metrics), 4)}"]
        if self.missing:
            out.append("  missing cells read as missing, never zero: "
                       + ", ".join(f"{k} {v}" for k, v in sorted(self.missing.items())))
        if self.missing_values:
            out.append(f"  tidy rows with a missing value: {self.missing_values}")
        if self.not_reported:
            by_reason: dict[tuple[str, str], list[str]] = {}
            for (code, metric), v in sorted(self.not_reported.items()):
                by_reason.setdefault((metric, v["reason"]), []).append(
                    f"{code} {v['name']}".strip() + f": {span(v['periods'])}")
            for (metric, reason), who in by_reason.items():
                out.append(f"  not reported, so {metric} is left missing (never 0 or 100): {len(who)} provider(s)")
                out.append(f"    why: {reason}")
                out.extend(f"    {w}" for w in who)
        if self.dropped:
            out.append("  rows dropped:")
            out.extend(f"    {v:>8}  {k}" for k, v in sorted(self.dropped.items(), key=lambda kv: -kv[1]))
        if self.ods:
            out.append("  ODS successor codes mapped (old -> new, merger month: rows relabelled and summed, periods):")
            for k, v in sorted(self.ods.items()):
                d = self.ods_detail.get(k, {})
                out.append(f"    {k}" + (f" ({d['date']})" if d.get("date") else "")
                           + f": {v} row(s), {span(d.get('periods', []))}")
        if self.checks:
            bad = [c for c in self.checks if not c.ok]
            out.append(f"  checked against the file's own totals: {len(self.checks) - len(bad)} of "
                       f"{len(self.checks)} agree" + (" (what each check is: docs/real-data.md)" if bad else ""))
            for c in bad[:6]:
                out.append(f"    DIFFERS: {c.what}: file {c.published:,.6g}, read {c.loaded:,.6g} ({c.source})")
        for n in self.notes[:6]:
            out.append(f"  note: {n}")
        if len(self.notes) > 6:
            out.append(f"  ... and {len(self.notes) - 6} more note(s)")
        return [ln if len(ln) <= max_width else ln[:max_width - 3] + "..." for ln in out]


@dataclass
class LoadResult:
    """A tidy table (exactly ``TIDY_COLUMNS``) and the report of how it was made."""

    frame: pd.DataFrame
    report: LoadReport


# --------------------------------------------------------------------------- shared driver
def read_all(paths, kind: str, report: LoadReport) -> list[tuple[Source, list[list[str]], list[int]]]:
    """Read every source, checking that a folder does not mix publications."""
    sources = collect_sources(paths)
    out = []
    kinds_in_folder: dict[str, tuple[str, str]] = {}
    sheets: dict[str, list[str]] = {}   # workbook -> its sheet titles
    used: set[str] = set()              # workbooks with at least one data sheet
    for src in sources:
        if src.sheet:
            sheets.setdefault(src.workbook, []).append(src.sheet_name)
        if src.sheet and not src.data.replace(b",", b"").strip():
            continue  # an empty sheet of a workbook
        rows, lines, enc = read_rows(src)
        k = sniff_kind(rows)
        if src.sheet and k is None:
            report.note(f"{src.name}: sheet skipped (no {KIND_NAMES[kind]} header)")
            continue
        if src.sheet:
            used.add(src.workbook)
        report.encodings[enc] += 1
        if src.folder is not None and k is not None:
            seen = kinds_in_folder.setdefault(src.folder, (k, src.name))
            if seen[0] != k:
                raise DataError(f"{src.folder}: mixed layouts in one folder: {seen[1]} is {KIND_NAMES[seen[0]]} "
                                f"data but {src.name} is {KIND_NAMES[k]} data; put each publication in "
                                f"its own folder and import each with its own kind")
        out.append((src, rows, lines))
        report.files.append(src.name)
    for book, titles in sheets.items():
        if book not in used:
            raise DataError(f"{book}: no sheet of the workbook has a recognisable header (sheets: "
                            f"{', '.join(repr(t) for t in titles)}); expected {KIND_NAMES[kind]} data: check "
                            f"the workbook and the kind, or save the data sheet as CSV")
    return out


def check_one_file_per_month(per_file: list[tuple[str, set[str]]], report: LoadReport) -> set[tuple[str, str]]:
    """(file, month) pairs to leave out because a ``-revised`` file gives the same month.

    Only the overlapping months are left out: a file's other months are kept. Two
    files for the same month, neither of them revised, are an error: importing both
    would double count.
    """
    skip: set[tuple[str, str]] = set()
    owner: dict[str, str] = {}
    for name, months in per_file:
        for m in sorted(months):
            if m not in owner:
                owner[m] = name
                continue
            other = owner[m]
            a_rev, b_rev = ("revised" in " ".join(Path(part).name for part in x.split("!")).lower()
                            for x in (other, name))
            if a_rev == b_rev:
                raise DataError(f"{name}: month {m} is also in {other}; pass only one file per month "
                                f"(keep the -revised file when there are two)")
            loser = name if a_rev else other
            skip.add((loser, m))
            owner[m] = other if a_rev else name
            report.note(f"{loser}: {m} skipped, superseded by the revised file")
    return skip


def drop_superseded(data: pd.DataFrame, skip: set[tuple[str, str]], report: LoadReport,
                    rows_per_source_row: int = 1) -> pd.DataFrame:
    """Remove the rows of ``data`` (with ``_file`` and ``period``) whose month a revised file replaced."""
    if skip:
        gone = pd.MultiIndex.from_frame(data[["_file", "period"]]).isin(list(skip))
        report.drop("rows of months superseded by a -revised file", int(gone.sum()) // rows_per_source_row)
        data = data[~gone]
    return data.drop(columns="_file")


def finish(raw: pd.DataFrame, report: LoadReport, ods_map=None) -> LoadResult:
    """Shared last step: ODS successors, strict sums, percentages, names, tidy columns.

    ``raw`` has period, org_code, org_name, metric, value, numerator, denominator with
    counts (percent metrics carry numerator and denominator; ``value`` is computed
    here as 100 * numerator / denominator). Rows whose numerator exceeds the
    denominator, or is negative, are dropped and reported.
    """
    from evallib.data.nhs.ods import apply_successors

    if raw.empty:
        raise DataError(f"{', '.join(report.files[:3]) or 'input'}: no {KIND_NAMES[report.kind]} rows to import "
                        f"after filtering (see the rows dropped in the report)")
    raw = raw.copy()
    raw["org_code"] = raw["org_code"].astype(str).str.strip().str.upper()
    raw = apply_successors(raw, ods_map, report)
    names = _latest_names(raw, report)
    cols = ["value", "numerator", "denominator"]
    for c in cols:
        raw[c] = raw[c].astype(float)
    summed = strict_sum(raw, ["period", "org_code", "metric"], cols)
    pct = summed["metric"].str.endswith("_pct")
    summed.loc[pct, "value"] = 100.0 * summed.loc[pct, "numerator"] / summed.loc[pct, "denominator"]
    zero_den = pct & (summed["denominator"] == 0)
    if zero_den.any():
        report.note(f"{int(zero_den.sum())} percentage(s) with a zero denominator left missing")
        summed.loc[zero_den, "value"] = np.nan
    bad = pct & ((summed["numerator"] > summed["denominator"]) | (summed["numerator"] < 0))
    if bad.any():
        for _, r in summed[bad].head(3).iterrows():
            report.note(f"{r['org_code']} {r['metric']} {r['period']}: numerator {r['numerator']:g} outside "
                        f"0..denominator {r['denominator']:g}; row dropped")
        report.drop("numerator outside 0..denominator (inconsistent source figures)", int(bad.sum()))
        summed = summed[~bad]
    gone = pct & summed["value"].isna()
    summed.loc[gone, ["numerator", "denominator"]] = np.nan  # a missing percentage carries no half-counts
    summed["org_name"] = summed["org_code"].map(names)
    _note_mapped_not_reported(summed, report)
    frame = summed[TIDY_COLUMNS].sort_values(["metric", "org_code", "period"], kind="stable").reset_index(drop=True)
    report.periods = sorted(frame["period"].unique())
    report.providers = sorted(frame["org_code"].unique())
    report.metrics = Counter(frame["metric"].value_counts().to_dict())
    report.missing_values = int(frame["value"].isna().sum())
    return LoadResult(frame, report)


def _note_mapped_not_reported(summed: pd.DataFrame, report: LoadReport) -> None:
    """Say when a successor's value is missing because a predecessor mapped into it did not report."""
    succ = {k.split(" -> ")[0]: k.split(" -> ")[1] for k in report.ods_detail}
    for (code, metric), v in sorted(report.not_reported.items()):
        if code not in succ:
            continue
        new = succ[code]
        hit = summed[(summed["org_code"] == new) & (summed["metric"] == metric)
                     & summed["period"].isin(v["periods"]) & summed["value"].isna()]
        if len(hit):
            ps = sorted(hit["period"])
            report.note(f"{new} {metric}: missing in {ps[0]}" + (f" to {ps[-1]}" if len(ps) > 1 else "")
                        + f" because {code}, mapped to {new}, did not report it (a sum with a missing part "
                        f"is missing)")


def _latest_names(raw: pd.DataFrame, report: LoadReport) -> dict[str, str]:
    """One name per code: the name in its latest period; changes are noted in the report."""
    named = raw[raw["org_name"].notna() & (raw["org_name"].astype(str).str.strip() != "")]
    names: dict[str, str] = {}
    for code, g in named.groupby("org_code"):
        g = g.sort_values("period")
        distinct = list(dict.fromkeys(g["org_name"].astype(str).str.strip()))
        names[code] = g["org_name"].iloc[-1].strip()
        if len(distinct) > 1:
            report.note(f"{code}: name changed from {distinct[0]!r} to {distinct[-1]!r}; the latest is used")
    return names
