"""The tidy table (docs/contracts.md §1): loading, validation and atomic writing.

Every loader produces this table and every analysis reads it:

========== ==================================================================
period     ``YYYY-MM`` or ``YYYY-MM-DD`` (monthly), ``YYYY-Qn``, ``YYYY``
org_code   ODS code or any unit id
org_name   optional
metric     id, e.g. ``rtt_waiting_list``
value      the measure
numerator  optional; a proportion is numerator/denominator
denominator optional; for a count, its exposure (a log offset)
========== ==================================================================

Edge cases, decided here once:

- NHS suppression marks ``*`` and ``-`` and empty cells (also ``NA``/``N/A``/``..``)
  become missing values. They are counted in ``report["suppressed"]`` and never read
  as zero.
- ``YYYY-MM-DD`` labels are monthly: ``2020-01-01`` and ``2020-01`` are the same
  period, so both in one file are a duplicate.
- Gaps (months missing between a unit's first and last period) are *reported* in
  ``report["gaps"]``, never filled.
- A file must be UTF-8 (a byte-order mark is fine) and comma-separated, a regular
  file (not a folder, device or pipe) of at most ``EVALLIB_MAX_TABLE_BYTES`` (512 MiB)
  and ``EVALLIB_MAX_TABLE_ROWS`` (5 million) rows; see :mod:`evallib.inputs`.
- Numbers: a comma is read only as a thousands separator (``1,234.5``); any other
  comma (``983,9``, a decimal comma) is an error, never a silent 9839. Values must be
  finite: ``inf``, ``-Infinity`` and numbers beyond the range of a float (``1e309``)
  are refused, and so is any magnitude above ``MAX_ABS_VALUE`` (1e15, larger than any
  NHS measure; the sums of squares of the fit would overflow long before 1e300).
- Period years must be within ``YEARS`` (1800 to 2199): ``0201-04`` for ``2021-04``
  would otherwise stretch a series over centuries of gaps.
- A header that names a column twice (two ``value`` columns) is refused: pandas would
  keep the first and rename the second.
- The ``<stem>.meta.json`` sidecar, when present, must be a JSON object whose
  ``synthetic`` (if given) is ``true`` or ``false``.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evallib.exceptions import DataError
from evallib.inputs import MAX_META_BYTES, decode_utf8, limit, read_input
from evallib.fsutil import atomic_write_bytes  # the project's one atomic writer (also used by demo.py)
from evallib.metrics import metric_info
from evallib.periods import FREQ_NAMES, format_period, parse_period, period_freq

logger = logging.getLogger(__name__)
_MEMO_LOCK = threading.RLock()

TIDY_COLUMNS = ["period", "org_code", "org_name", "metric", "value", "numerator", "denominator"]
REQUIRED_COLUMNS = ["period", "org_code", "metric", "value"]
NUMERIC_COLUMNS = ["value", "numerator", "denominator"]
SUPPRESSION_MARKS = {"*", "-", "", "NA", "N/A", "..", "nan", "NaN", "null"}
MAX_ABS_VALUE = 1e15
YEARS = (1800, 2199)  # periods outside these years are typos
#: a number with commas as thousands separators: 1,234 or -12,345,678.9
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_NOT_FOUND = ("data file not found (check `data:` in the params file; relative paths resolve "
              "against the params file's folder)")
_EXPECTED = (f"a CSV (or Parquet) tidy table whose header row names the columns "
             f"{', '.join(REQUIRED_COLUMNS)} (numerator, denominator, org_name optional)")


@dataclass
class TidyTable:
    """A validated tidy table and what was learned while loading it."""

    frame: pd.DataFrame
    path: Path | None = None
    freq: str = "M"
    synthetic: bool = False
    sha256: str | None = None
    report: dict = field(default_factory=dict)
    #: results computed from this table (``memo``); not part of equality, repr or pickles
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_memo"] = {}
        return state

    def memo(self, namespace: str, key, compute, maxsize: int | None = None):
        """``compute()``, computed once per ``(namespace, key)`` for the life of this table object.

        The analyses read the same rows many times (eligibility, unit panels, the designs of the
        sensitivity set); they cache what they derive here, so a cache never outlives its table
        and two tables never share one. The frame is read-only once loaded: assigning a new
        ``frame`` empties the cache. ``maxsize`` bounds a namespace (least recently used out).
        An exception from ``compute`` is raised and nothing is stored. Callers return copies of
        anything mutable they cache.
        """
        with _MEMO_LOCK:                    # threads of one worker may share a table
            if self._memo.get("__frame__") is not self.frame:
                self._memo.clear()
                self._memo["__frame__"] = self.frame
            space = self._memo.setdefault(namespace, {})
            if key in space:
                value = space.pop(key)      # re-insert: most recently used last
                space[key] = value
                return value
        value = compute()                   # outside the lock: two threads may both compute it
        with _MEMO_LOCK:
            space[key] = value
            if maxsize is not None:
                while len(space) > maxsize:
                    space.pop(next(iter(space)))
        return value

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "<in-memory table>"

    def metrics(self) -> list[str]:
        return sorted(self.frame["metric"].unique())

    def units(self, metric: str | None = None) -> list[str]:
        f = self.frame if metric is None else self.frame[self.frame["metric"] == metric]
        return sorted(f["org_code"].unique())

    def org_names(self) -> dict[str, str]:
        f = self.frame.dropna(subset=["org_name"]).drop_duplicates("org_code")
        return dict(zip(f["org_code"], f["org_name"]))

    def for_metric(self, metric: str) -> pd.DataFrame:
        """Rows of one metric; a DataError names the metrics available when absent.

        The selection is made once per table and metric (:meth:`memo`); each call returns a
        shallow copy of it, which callers read and filter but do not modify in place."""
        f = self.memo("for_metric", metric, lambda: self.frame[self.frame["metric"] == metric])
        if f.empty:
            have = ", ".join(self.metrics()[:20])
            raise DataError(f"{self.source}: metric {metric!r} is not in the table "
                            f"(metrics found: {have})")
        return f.copy(deep=False)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_csv(path: Path, raw: bytes) -> pd.DataFrame:
    """Parse the bytes of a CSV tidy table (already read, within the size bound)."""
    if not raw.strip() or not raw.lstrip(b"\xef\xbb\xbf").strip():
        raise DataError(f"{path}: the file is empty (expected a header row with "
                        f"{', '.join(REQUIRED_COLUMNS)} and one row per unit, metric and period)")
    text = decode_utf8(raw, path, what="data file", error=DataError,
                       resave="re-save the file as UTF-8 CSV (a byte-order mark is fine)")
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DataError(f"{path}: line {line} contains a NUL byte (0x00), which a text CSV never has: the file "
                        f"is binary or corrupt; export the table again as UTF-8 CSV")
    max_rows = limit("EVALLIB_MAX_TABLE_ROWS")
    if text.count("\n") > max_rows + 1:
        raise DataError(f"{path}: has more than {max_rows:,} rows, the bound for a tidy table (set "
                        f"EVALLIB_MAX_TABLE_ROWS to raise it): check that it is the file you meant")
    first = text.splitlines()[0]
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (csv.Error, StopIteration):
        header = first.split(",")
    names = [h.strip() for h in header]
    if "," not in first:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            # only a header that names tidy columns is shown (never the first line of an unrelated file)
            if sep in first and any(h.strip().strip('"') in TIDY_COLUMNS for h in first.split(sep)):
                raise DataError(f"{path}: the header {first[:60]!r} is separated by {name}, not commas; "
                                f"save the file as comma-separated CSV")
    if not any(n in TIDY_COLUMNS for n in names):
        raise DataError(f"{path}: the first line is not a tidy-table header (it names none of the columns "
                        f"{', '.join(REQUIRED_COLUMNS)}); expected {_EXPECTED}")
    _check_unique_columns(names, path)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({' '.join(str(exc).split())})") from None
    if df.empty and len(df.columns) > 0:
        raise DataError(f"{path}: has a header but no data rows")
    return df


def _check_unique_columns(names, source) -> None:
    """DataError when a (non-blank) column name appears twice in the header."""
    seen: dict[str, int] = {}
    for k, n in enumerate(names):
        if not n:
            continue
        if n in seen:
            raise DataError(f"{source}: the header names column {n!r} twice (columns {seen[n] + 1} and {k + 1}); "
                            f"only one would be read: keep one and rename or delete the other")
        seen[n] = k


def _read_parquet(path: Path, raw: bytes) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq

        n_rows = pq.ParquetFile(io.BytesIO(raw)).metadata.num_rows
    except Exception as exc:  # pyarrow raises many types; re-raise as DataError with the cause
        raise DataError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())})") from None
    max_rows = limit("EVALLIB_MAX_TABLE_ROWS")
    if n_rows > max_rows:
        raise DataError(f"{path}: has {n_rows:,} rows, more than the bound of {max_rows:,} for a tidy table (set "
                        f"EVALLIB_MAX_TABLE_ROWS to raise it): check that it is the file you meant")
    try:
        df = pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())})") from None
    if df.empty:
        raise DataError(f"{path}: the file is empty (no rows)")
    return df


def _read_any(path: Path) -> tuple[pd.DataFrame, bytes]:
    """The raw frame and the file's bytes (hashed for provenance: the bytes that were parsed)."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".txt", ""):
        if os.path.lexists(path) or suffix in (".xlsx", ".xls", ".ods", ".json"):
            raise DataError(f"{path}: unsupported file type {suffix!r} (expected .csv or .parquet)")
        raise DataError(f"{path}: {_NOT_FOUND}")
    raw = read_input(path, what="data file", error=DataError, max_bytes=limit("EVALLIB_MAX_TABLE_BYTES"),
                     limit_name="EVALLIB_MAX_TABLE_BYTES", not_found=_NOT_FOUND)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path, raw), raw
    return _read_csv(path, raw), raw


def _to_numeric(df: pd.DataFrame, col: str, source: str) -> pd.Series:
    """Numbers from a column; suppression marks become NaN, any other text is a DataError.

    So after this, NaN means exactly "suppressed or blank in the source".
    """
    s = df[col]
    if pd.api.types.is_bool_dtype(s):
        raise DataError(f"{source}: column {col} holds true/false values, not numbers; write the numbers")
    if pd.api.types.is_numeric_dtype(s):
        out = s.astype(float)
        _check_finite(out, s, col, source)
        return out
    text = s.astype(str).str.strip()
    missing = text.isin(SUPPRESSION_MARKS) | s.isna()
    has_comma = text.str.contains(",", regex=False) & ~missing
    if has_comma.any():
        odd = has_comma & ~text.str.match(_THOUSANDS)
        if odd.any():
            i = int(np.flatnonzero(odd.to_numpy())[0])
            raise DataError(f"{source}: line {i + 2}, column {col}: {s.iloc[i]!r} has a comma that is not a "
                            f"thousands separator (a decimal comma?); write numbers with a decimal point "
                            f"({text.iloc[i].replace('.', '').replace(',', '.', 1)!r} if the comma is decimal) "
                            f"and no other commas than thousands separators (1,234.5)")
    cleaned = text.where(~missing, None).str.replace(",", "", regex=False)
    out = pd.to_numeric(cleaned, errors="coerce")
    bad = out.isna() & ~missing
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        try:
            overflow = not np.isfinite(float(cleaned.iloc[i]))
        except (TypeError, ValueError):
            overflow = False
        if overflow:
            _not_finite(s.iloc[i], i, col, source)
        raise DataError(f"{source}: line {i + 2}, column {col}: {s.iloc[i]!r} is not a number "
                        f"(suppression marks *, - and blank cells are allowed and become missing)")
    out = out.astype(float)
    _check_finite(out, s, col, source)
    return out


def _cell(v) -> str:
    """A cell for a message: text quoted as found, numbers plainly (``inf``, ``1e+300``)."""
    return repr(v) if isinstance(v, str) else f"{float(v):g}"


def _not_finite(shown, i: int, col: str, source: str):
    raise DataError(f"{source}: line {i + 2}, column {col}: {_cell(shown)} is not a finite number (infinite, or "
                    f"beyond the range of numbers); write the value, or leave the cell blank or * if it is "
                    f"missing")


def _check_finite(out: pd.Series, raw: pd.Series, col: str, source: str) -> None:
    """DataError for the first infinite value, or one whose magnitude exceeds MAX_ABS_VALUE."""
    v = out.to_numpy()
    inf = np.isinf(v)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        _not_finite(raw.iloc[i], i, col, source)
    with np.errstate(invalid="ignore"):
        big = np.abs(v) > MAX_ABS_VALUE
    if big.any():
        i = int(np.flatnonzero(big)[0])
        raise DataError(f"{source}: line {i + 2}, column {col}: {_cell(raw.iloc[i])} is too large (more than "
                        f"1e15 in size, beyond any NHS measure); check the column and the units "
                        f"(rescale to thousands or millions)")


def validate_table(df: pd.DataFrame, source: str = "<in-memory table>") -> tuple[pd.DataFrame, dict]:
    """Check a raw frame against the tidy-table contract; return (clean frame, report).

    Line numbers in messages count the header as line 1 (as a spreadsheet or editor shows).
    """
    df = df.copy()
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    _check_unique_columns(list(df.columns), source)
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing_cols:
        if not any(c in TIDY_COLUMNS for c in df.columns):
            raise DataError(f"{source}: no tidy-table columns (none of {', '.join(REQUIRED_COLUMNS)} is there); "
                            f"expected {_EXPECTED}")
        found = ", ".join(df.columns[:12]) if len(df.columns) else "no columns"
        raise DataError(f"{source}: column {missing_cols[0]!r} is missing (found: {found}); the tidy table "
                        f"needs {', '.join(REQUIRED_COLUMNS)} (numerator, denominator, org_name optional)")
    if df.empty:
        raise DataError(f"{source}: has a header but no data rows")
    report: dict = {"n_rows": int(len(df)), "suppressed": {}, "gaps": []}

    # periods: parse each distinct label once
    labels = df["period"].map(lambda v: v if isinstance(v, str) else
                              (v.strftime("%Y-%m-%d") if hasattr(v, "strftime") else str(v)))
    labels = labels.astype(str).str.strip()
    parsed: dict[str, pd.Period] = {}
    for lab in pd.unique(labels):
        try:
            parsed[lab] = parse_period(lab)
        except ValueError as exc:
            i = int(np.flatnonzero((labels == lab).to_numpy())[0])
            raise DataError(f"{source}: line {i + 2}, column period: {exc}") from None
        if not YEARS[0] <= parsed[lab].year <= YEARS[1]:
            i = int(np.flatnonzero((labels == lab).to_numpy())[0])
            raise DataError(f"{source}: line {i + 2}, column period: {lab!r} is outside the years {YEARS[0]} to "
                            f"{YEARS[1]}; check the year (a typo would stretch the series over centuries)")
    freqs = {lab: p.freqstr[0] for lab, p in parsed.items()}
    kinds = sorted(set(freqs.values()), key="MQY".index)
    if len(kinds) > 1:
        examples = []
        for k in kinds[:2]:
            lab = next(lab for lab, f in freqs.items() if f == k)
            i = int(np.flatnonzero((labels == lab).to_numpy())[0])
            examples.append(f"line {i + 2} {lab!r}")
        raise DataError(f"{source}: column period mixes {FREQ_NAMES[kinds[0]]} and {FREQ_NAMES[kinds[1]]} "
                        f"periods ({' and '.join(examples)}); use one frequency per table")
    freq = kinds[0]
    canon = {lab: format_period(p) for lab, p in parsed.items()}

    out = pd.DataFrame({
        "period": labels.map(canon),
        "org_code": df["org_code"].astype(str).str.strip(),
        "org_name": df["org_name"].astype(str).str.strip() if "org_name" in df.columns else "",
        "metric": df["metric"].astype(str).str.strip(),
    })
    for col, what in (("org_code", "a unit code"), ("metric", "a metric id")):
        blank = out[col].isin(["", "nan", "None"])
        if blank.any():
            i = int(np.flatnonzero(blank.to_numpy())[0])
            raise DataError(f"{source}: line {i + 2}, column {col}: blank; every row needs {what}")
    out.loc[out["org_name"].isin(["", "nan", "None"]), "org_name"] = np.nan
    for col in NUMERIC_COLUMNS:
        out[col] = _to_numeric(df, col, source) if col in df.columns else np.nan

    # Missing cells counted per column; optional numerator/denominator cells count only
    # for metrics that use them (a count metric has no numerator at all).
    uses = out.groupby("metric")[["numerator", "denominator"]].transform(lambda c: c.notna().any())
    for col in NUMERIC_COLUMNS:
        if col in df.columns:
            miss = out[col].isna() if col == "value" else out[col].isna() & uses[col]
            report["suppressed"][col] = int(miss.sum())
    # duplicates on (org, metric, period) after normalising period labels
    key = ["org_code", "metric", "period"]
    dup = out.duplicated(key, keep=False)
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())
        first = rows[0]
        k = tuple(out.iloc[first][key])
        same = [r for r in rows if tuple(out.iloc[r][key]) == k]
        raise DataError(f"{source}: line {same[1] + 2} duplicates (org_code {k[0]}, metric {k[1]}, period {k[2]}) "
                        f"first seen at line {same[0] + 2}; each unit, metric and period must appear once")

    # negative counts
    for col in ("numerator", "denominator"):
        neg = out[col] < 0
        if neg.any():
            i = int(np.flatnonzero(neg.to_numpy())[0])
            raise DataError(f"{source}: line {i + 2}, column {col}: {out[col].iloc[i]:g} is negative; "
                            f"counts cannot be negative")
    count_metrics = {m for m in out["metric"].unique() if metric_info(m).kind in ("count", "proportion")}
    neg = (out["value"] < 0) & out["metric"].isin(count_metrics)
    if neg.any():
        i = int(np.flatnonzero(neg.to_numpy())[0])
        raise DataError(f"{source}: line {i + 2}, column value: {out['value'].iloc[i]:g} is negative for "
                        f"{out['metric'].iloc[i]}, a count or percentage; counts cannot be negative")
    over = out["numerator"] > out["denominator"]
    if over.any():
        i = int(np.flatnonzero(over.to_numpy())[0])
        r = out.iloc[i]
        raise DataError(f"{source}: line {i + 2}: numerator {r['numerator']:g} is greater than denominator "
                        f"{r['denominator']:g} (org_code {r['org_code']}, metric {r['metric']}, period "
                        f"{r['period']}); a proportion's numerator cannot exceed its denominator")

    # gaps: periods missing inside each unit's series (reported, never filled)
    out["_p"] = out["period"].map({canon[k]: v for k, v in parsed.items()})
    for (org, metric), g in out.groupby(["org_code", "metric"], sort=True):
        ps = g["_p"]
        first, last = ps.min(), ps.max()
        expected = (last - first).n + 1
        if expected > len(ps):
            have = set(ps)
            gap = [format_period(p) for p in pd.period_range(first, last, freq=first.freq) if p not in have]
            report["gaps"].append({"org_code": org, "metric": metric, "missing": gap})
    if report["gaps"]:
        n = sum(len(g["missing"]) for g in report["gaps"])
        logger.warning("%s: %d period(s) missing inside %d series (reported, not filled)", source, n,
                       len(report["gaps"]))
    out = out.sort_values(["metric", "org_code", "_p"], kind="stable").drop(columns="_p")
    out = out.reset_index(drop=True)[TIDY_COLUMNS]
    report["suppressed_total"] = int(sum(report["suppressed"].values()))
    report["freq"] = freq
    return out, report


def read_meta(path: str | Path) -> dict:
    """The ``<stem>.meta.json`` sidecar of the table at ``path`` as a dict (``{}`` when absent).

    DataError (naming the sidecar and the fix) when it is not a regular file, is larger
    than 64 KiB, is not UTF-8 JSON, is not a JSON object, or has a ``synthetic`` that is
    not ``true``/``false``.
    """
    p = Path(path)
    meta = p.with_name(p.stem + ".meta.json")
    if not os.path.lexists(meta):
        return {}
    raw = read_input(meta, what="metadata file", error=DataError, max_bytes=MAX_META_BYTES)
    text = decode_utf8(raw, meta, what="metadata file", error=DataError, resave="re-save it as UTF-8 JSON")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{meta}: not valid JSON ({exc}); delete it or fix it") from None
    except RecursionError:
        raise DataError(f"{meta}: not valid JSON (nested too deeply); delete it or fix it") from None
    if not isinstance(doc, dict):
        raise DataError(f"{meta}: expected a JSON object such as {{\"synthetic\": true}}, found a JSON "
                        f"{_JSON_TYPES.get(type(doc), type(doc).__name__)}; delete it or fix it")
    if "synthetic" in doc and not isinstance(doc["synthetic"], bool):
        raise DataError(f"{meta}: \"synthetic\" is {json.dumps(doc['synthetic'])[:40]}; it must be true or false")
    return doc


_read_meta = read_meta
_JSON_TYPES = {list: "array (a list)", str: "string", int: "number", float: "number", bool: "true/false",
               type(None): "null"}


def load_table(path: str | Path) -> TidyTable:
    """Load a CSV or Parquet tidy table, validate it, and return a :class:`TidyTable`.

    The file is read once (bounded, see :mod:`evallib.inputs`); ``sha256`` is the hash of
    exactly the bytes that were parsed.
    """
    p = Path(path)
    raw, data = _read_any(p)
    frame, report = validate_table(raw, str(p))
    meta = read_meta(p)
    return TidyTable(frame=frame, path=p.resolve(), freq=report["freq"],
                     synthetic=bool(meta.get("synthetic", False)), sha256=hashlib.sha256(data).hexdigest(),
                     report=report)


def as_table(data, source: str = "<in-memory table>") -> TidyTable:
    """Accept a TidyTable, a raw DataFrame, or a path."""
    if isinstance(data, TidyTable):
        return data
    if isinstance(data, pd.DataFrame):
        frame, report = validate_table(data, source)
        return TidyTable(frame=frame, path=None, freq=report["freq"], report=report)
    return load_table(data)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a tidy table atomically as CSV or Parquet (by suffix), columns in contract order.

    DataError for any other suffix (``out.xlsx`` would otherwise get CSV text).
    """
    p = Path(path)
    if p.suffix.lower() not in (".csv", ".parquet", ".pq"):
        kind = f"a {p.suffix.lower()!r} file" if p.suffix else "a file without a suffix"
        raise DataError(f"{p}: cannot write a tidy table as {kind}: name the file .csv or .parquet")
    cols = [c for c in TIDY_COLUMNS if c in frame.columns]
    f = frame[cols]
    if p.suffix.lower() in (".parquet", ".pq"):
        buf = io.BytesIO()
        f.to_parquet(buf, index=False)
        atomic_write_bytes(p, buf.getvalue())
    else:
        atomic_write_bytes(p, f.to_csv(index=False, lineterminator="\n", float_format="%.10g").encode("utf-8"))
    return p
