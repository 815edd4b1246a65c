"""Period parsing and time coding helpers shared by the data layer and the engine.

Accepted period labels (docs/contracts.md §1):
- monthly ``YYYY-MM`` or ``YYYY-MM-DD`` (any day; the month is what counts);
- quarterly ``YYYY-Qn``;
- annual ``YYYY``.
"""
from __future__ import annotations

import datetime as _dt
import re

import pandas as pd

_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")

FREQ_NAMES = {"M": "monthly", "Q": "quarterly", "Y": "annual"}
PERIODS_PER_YEAR = {"M": 12, "Q": 4, "Y": 1}


def normalise_label(value) -> str:
    """Turn YAML/pandas values (dates, ints, Timestamps) into a period label string."""
    if isinstance(value, pd.Period):
        return str(value)
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date)):
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, int):
        return f"{value:04d}"
    return str(value).strip()


def period_freq(label) -> str | None:
    """'M', 'Q' or 'Y' for a valid label, else None."""
    s = normalise_label(label)
    m = _MONTH.match(s)
    if m:
        month = int(m.group(2))
        if not 1 <= month <= 12:
            return None
        if m.group(3) is not None:
            try:
                _dt.date(int(m.group(1)), month, int(m.group(3)))
            except ValueError:
                return None
        return "M"
    if _QUARTER.match(s):
        return "Q"
    if _YEAR.match(s):
        return "Y"
    return None


def parse_period(label, freq: str | None = None) -> pd.Period:
    """Parse one label to a ``pd.Period``; raises ``ValueError`` with the label on failure."""
    s = normalise_label(label)
    f = period_freq(s)
    if f is None:
        raise ValueError(f"{s!r} is not a period (expected YYYY-MM, YYYY-MM-DD, YYYY-Qn or YYYY)")
    if freq is not None and f != freq:
        raise ValueError(f"{s!r} is {FREQ_NAMES[f]} but the series is {FREQ_NAMES[freq]}")
    if f == "M":
        m = _MONTH.match(s)
        return pd.Period(year=int(m.group(1)), month=int(m.group(2)), freq="M")
    if f == "Q":
        m = _QUARTER.match(s)
        return pd.Period(year=int(m.group(1)), quarter=int(m.group(2)), freq="Q")
    return pd.Period(year=int(s), freq="Y")


def format_period(p: pd.Period) -> str:
    """Canonical label: ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``."""
    f = p.freqstr[0]
    if f == "M":
        return f"{p.year:04d}-{p.month:02d}"
    if f == "Q":
        return f"{p.year:04d}-Q{p.quarter}"
    return f"{p.year:04d}"


def period_index(p: pd.Period, origin: pd.Period) -> int:
    """Number of periods from ``origin`` to ``p`` (0 at the origin)."""
    return (p - origin).n


def season_of(p: pd.Period) -> int:
    """Calendar position within the year: month 1-12, quarter 1-4, or 1 for annual."""
    f = p.freqstr[0]
    if f == "M":
        return p.month
    if f == "Q":
        return p.quarter
    return 1


def parse_range(text: str, freq: str | None = None) -> tuple[pd.Period, pd.Period]:
    """Parse ``A`` or ``A/B`` (inclusive) into a (first, last) pair of periods."""
    s = normalise_label(text)
    parts = [x.strip() for x in re.split(r"/|\.\.", s)] if ("/" in s or ".." in s) else [s]
    if len(parts) not in (1, 2):
        raise ValueError(f"{s!r} is not a period or a range A/B")
    first = parse_period(parts[0], freq)
    last = parse_period(parts[-1], freq)
    if last < first:
        raise ValueError(f"range {s!r} ends before it starts")
    return first, last
