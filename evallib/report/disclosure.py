"""Statistical disclosure control for board outputs (issue 14, item 6).

The default policy is the NHS Digital rule for sub-national counts (as used for
Hospital Episode Statistics and most NHS England official statistics below
national level):

- a count from 1 to 7 is shown as ``*``;
- every other count is rounded to the nearest 5 (8 -> 10, 12 -> 10, 13 -> 15,
  1,234 -> 1,235), so that a suppressed cell cannot be recovered by subtracting
  the published cells from a published total;
- 0 is shown as 0 (a true zero is not disclosive);
- rates, percentages and modelled estimates (fitted values, counterfactuals,
  effects and their intervals, SPC means and limits) are exempt: they are not
  counts of people.

Only values whose *kind* is ``"count"`` are touched. A value is a count when it is
a number of people, events or records taken from the data: waiting-list sizes,
52-week waiters, numerators and denominators of a percentage, per-trust monthly
counts. The policy is applied once, where a number is turned into text for a
board page, a chart label or ``summary.json``; analyses always run on the raw
data.

Non-integer counts (a mean of counts, an aggregated count with imputed parts)
are treated by value: anything above 0 and below ``suppress_max + 1`` (that is,
anything that would display as 1 to 7) is suppressed, and the rest is rounded
half up to the nearest ``round_to``. Missing values stay missing. A negative
count is a :class:`~evallib.exceptions.DataError`.

API::

    from evallib.report.disclosure import NHS_DIGITAL, DisclosurePolicy, apply_count, scan_text
    apply_count(3)            # '*'
    apply_count(1234)         # 1235
    apply_count(0)            # 0
    show_count(12345.0)       # '12,345'  (formatted, with thousands separators)
    NHS_DIGITAL.apply_frame(df, {"waiters": "count", "pct": "percentage"})
    raw_counts = table_counts(tidy_frame)   # numerators, denominators, values of count metrics
    scan_text(html, counts=raw_counts)   # -> list[Hit]; empty when nothing disclosive is shown
    check_text(html, counts=raw_counts, source="rtt/rtt.html")   # raises PublishError

:func:`scan_text` is the publish-time check: given the raw counts of the data
behind a page, it lists every place where one of them that the policy would not
show as it is (1 to 7, or a count not already a multiple of 5) appears in the
page's text as a number. See ``docs/disclosure.md``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from evallib.exceptions import DataError, ParameterError, PublishError

#: column kinds understood by :meth:`DisclosurePolicy.apply_frame`; only ``count`` is controlled
KINDS = ("count", "rate", "percentage", "modelled", "label")

_POLICY_KEYS = ("suppress_max", "round_to", "symbol")


@dataclass(frozen=True)
class DisclosurePolicy:
    """A disclosure-control rule for counts.

    ``suppress_max``: counts from 1 to ``suppress_max`` are shown as ``symbol``
    (0 disables suppression). ``round_to``: other counts are rounded half up to
    the nearest multiple (1 disables rounding). The default is the NHS Digital
    rule for sub-national counts: ``suppress_max=7, round_to=5, symbol="*"``.
    """

    suppress_max: int = 7
    round_to: int = 5
    symbol: str = "*"

    def __post_init__(self):
        if not isinstance(self.suppress_max, int) or isinstance(self.suppress_max, bool) or self.suppress_max < 0:
            raise ParameterError(f"disclosure: suppress_max: {self.suppress_max!r} is not a whole number >= 0 "
                                 f"(use 7 for the NHS Digital rule, 0 for no suppression)")
        if not isinstance(self.round_to, int) or isinstance(self.round_to, bool) or self.round_to < 1:
            raise ParameterError(f"disclosure: round_to: {self.round_to!r} is not a whole number >= 1 "
                                 f"(use 5 for the NHS Digital rule, 1 for no rounding)")
        if not isinstance(self.symbol, str) or not self.symbol or any(c.isdigit() for c in self.symbol):
            raise ParameterError(f"disclosure: symbol: {self.symbol!r} must be a non-empty text without "
                                 f"digits (the NHS convention is '*')")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, d: Mapping | str | None, source: str = "params") -> "DisclosurePolicy":
        """A policy from a params value: ``None`` or ``"nhs_digital"`` (the default),
        ``"none"`` (no control: national totals only), or a mapping with any of
        ``suppress_max``, ``round_to``, ``symbol``. Raises :class:`ParameterError`."""
        if d is None or d == "nhs_digital":
            return NHS_DIGITAL
        if d == "none":
            return NO_CONTROL
        if isinstance(d, str):
            raise ParameterError(f"{source}: disclosure: {d!r} is not a known policy; use nhs_digital, none, "
                                 f"or a mapping with keys {', '.join(_POLICY_KEYS)}")
        if not isinstance(d, Mapping):
            raise ParameterError(f"{source}: disclosure: expected nhs_digital, none or a mapping, "
                                 f"got {type(d).__name__} {d!r}")
        unknown = sorted(set(d) - set(_POLICY_KEYS))
        if unknown:
            raise ParameterError(f"{source}: disclosure: unknown key(s) {', '.join(map(str, unknown))}; "
                                 f"allowed keys are {', '.join(_POLICY_KEYS)}")
        try:
            return cls(**dict(d))
        except ParameterError as e:
            raise ParameterError(f"{source}: {e}") from None

    @property
    def active(self) -> bool:
        return self.suppress_max > 0 or self.round_to > 1

    def describe(self) -> str:
        """One plain-English sentence for a page footer or a PDF appendix."""
        if not self.active:
            return "Counts are shown as they are (no disclosure control)."
        parts = []
        if self.suppress_max > 0:
            parts.append(f"counts from 1 to {self.suppress_max} are shown as {self.symbol}")
        if self.round_to > 1:
            parts.append(f"other counts are rounded to the nearest {self.round_to}")
        s = "; ".join(parts)
        return (f"Small numbers: {s}; 0 is shown as 0. Rates, percentages and modelled estimates "
                f"are not rounded.")

    # ------------------------------------------------------------------ values
    def suppresses(self, x: float) -> bool:
        """True when the count ``x`` (> 0, not missing) is shown as the symbol."""
        return 0 < x < self.suppress_max + 1 if self.suppress_max > 0 else False

    def apply_count(self, x, source: str = "count"):
        """``"*"`` for 1..suppress_max, 0 for 0, None for missing, else the count rounded (an int).

        Raises :class:`DataError` for a negative or non-numeric count.
        """
        if x is None:
            return None
        if isinstance(x, bool):
            raise DataError(f"{source}: {x!r} is not a count (a number of people or events)")
        try:
            v = float(x)
        except (TypeError, ValueError):
            if isinstance(x, str) and x.strip() == self.symbol:
                return self.symbol
            raise DataError(f"{source}: {x!r} is not a count (a number of people or events); pass numbers, "
                            f"or mark the column as kind 'label'") from None
        if math.isnan(v):
            return None
        if math.isinf(v):
            raise DataError(f"{source}: {x!r} is not a finite count")
        if v < 0:
            raise DataError(f"{source}: {x!r} is negative; a count cannot be, and a difference of counts is a "
                            f"modelled estimate (kind 'modelled', exempt from rounding)")
        if v == 0:
            return 0
        if self.suppresses(v):
            return self.symbol
        if self.round_to <= 1:
            return int(math.floor(v + 0.5))
        return int(math.floor(v / self.round_to + 0.5)) * self.round_to

    def show_count(self, x, missing: str = "\u2014", source: str = "count") -> str:
        """:meth:`apply_count` as board text: ``'*'``, ``'0'``, ``'1,235'``; missing -> ``missing``."""
        v = self.apply_count(x, source=source)
        if v is None:
            return missing
        if isinstance(v, str):
            return v
        return f"{v:,d}"

    def apply_frame(self, frame, kinds: Mapping[str, str], source: str = "table"):
        """A copy of ``frame`` with every column of kind ``"count"`` controlled.

        ``kinds`` maps column -> one of :data:`KINDS`. Count columns become object
        dtype holding ints, the symbol, or None. Other kinds, and columns not named
        in ``kinds``, are returned unchanged (exempt). Raises :class:`ParameterError`
        for an unknown kind and :class:`DataError` for a column that is not in the
        frame or a negative count.
        """
        for col, kind in kinds.items():
            if kind not in KINDS:
                raise ParameterError(f"{source}: column {col!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
            if col not in frame.columns:
                raise DataError(f"{source}: column {col!r} named in the disclosure kinds is not in the table "
                                f"(columns: {', '.join(map(str, frame.columns))})")
        out = frame.copy()
        for col, kind in kinds.items():
            if kind != "count":
                continue
            import pandas as pd

            out[col] = pd.Series([self.apply_count(v, source=f"{source}: column {col!r}, row {i}")
                                  for i, v in zip(frame.index, frame[col].tolist())],
                                 index=frame.index, dtype=object)
        return out

    def disclosive(self, counts: Iterable) -> set[int]:
        """The integer counts in ``counts`` that this policy would not show as they are."""
        out = set()
        for c in counts:
            try:
                v = float(c)
            except (TypeError, ValueError):
                continue
            if math.isnan(v) or math.isinf(v) or v <= 0 or v != math.floor(v):
                continue
            shown = self.apply_count(v)
            if shown != int(v):
                out.add(int(v))
        return out


#: the default: NHS Digital's rule for sub-national counts
NHS_DIGITAL = DisclosurePolicy()
#: no disclosure control (national totals, or an analyst's own notebook)
NO_CONTROL = DisclosurePolicy(suppress_max=0, round_to=1)


def apply_count(x, policy: DisclosurePolicy = NHS_DIGITAL):
    """:meth:`DisclosurePolicy.apply_count` under ``policy`` (default: the NHS Digital rule)."""
    return policy.apply_count(x)


def show_count(x, policy: DisclosurePolicy = NHS_DIGITAL, missing: str = "\u2014") -> str:
    """:meth:`DisclosurePolicy.show_count` under ``policy``."""
    return policy.show_count(x, missing=missing)


def apply_frame(frame, kinds: Mapping[str, str], policy: DisclosurePolicy = NHS_DIGITAL, source: str = "table"):
    """:meth:`DisclosurePolicy.apply_frame` under ``policy``."""
    return policy.apply_frame(frame, kinds, source=source)


def table_counts(frame, metrics: Iterable[str] | None = None) -> set[int]:
    """The raw counts of a tidy table (docs/contracts.md §1), for :func:`scan_text`.

    Every whole, positive ``numerator`` and ``denominator``, and the ``value`` of
    metrics whose catalogue kind is ``count`` (a percentage or a spend is not a
    count). ``metrics`` limits the rows to those metrics.
    """
    from evallib.metrics import metric_info

    f = frame if metrics is None else frame[frame["metric"].isin(list(metrics))]
    out: set[int] = set()

    def add(values) -> None:
        for v in values:
            try:
                x = float(v)
            except (TypeError, ValueError):
                continue
            if x > 0 and not math.isinf(x) and x == math.floor(x):
                out.add(int(x))

    for col in ("numerator", "denominator"):
        if col in f.columns:
            add(f[col].dropna().tolist())
    for metric, rows in f.groupby("metric", sort=False):
        if metric_info(str(metric)).kind == "count":
            add(rows["value"].dropna().tolist())
    return out


# ------------------------------------------------------------------ publish-time scan
@dataclass(frozen=True)
class Hit:
    """One disclosive number found by :func:`scan_text`."""

    offset: int        # character offset in the text as given
    text: str          # the number as written, e.g. '3' or '1,234' or '3.0'
    value: int         # its value
    context: str       # up to 40 characters either side, tags stripped, the number itself as '#'


_DATA_URI = re.compile(r"data:[A-Za-z0-9.+/-]+;base64,[A-Za-z0-9+/=\s]+")
_BLOCKS = re.compile(r"<(style|script)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_TAG = re.compile(r"<[^>]*>")
_ATTR_TEXT = re.compile(r"""\b(?:alt|title|aria-label)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
# a number: digits with optional thousands separators and decimals
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-f]+|[a-z]+);", re.I)
_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
           "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
_AFTER_NOT_COUNT = re.compile(r"[ \u00a0]+(?:(?:seconds?|minutes?|hours?|days?|weeks?|months?|quarters?|years?)\b|"
                              rf"(?:{_MONTHS})\b)", re.I)
_BEFORE_NOT_COUNT = re.compile(rf"(?:\b(?:lag|lags|page|pages|figure|table|step|version|{_MONTHS})[ \u00a0]+)$",
                               re.I)


def _blank(m: re.Match) -> str:
    return " " * len(m.group(0))


def _visible(text: str) -> str:
    """``text`` with markup, CSS, scripts and data URIs blanked (same length, so offsets hold).

    The text of ``alt``, ``title`` and ``aria-label`` attributes is kept: a screen
    reader reads it out, so it is published too.
    """
    t = _DATA_URI.sub(_blank, text)
    t = _BLOCKS.sub(_blank, t)
    t = _COMMENT.sub(_blank, t)

    def tag(m: re.Match) -> str:
        s = m.group(0)
        keep = [" "] * len(s)
        for a in _ATTR_TEXT.finditer(s):
            g = 1 if a.group(1) is not None else 2
            for k in range(a.start(g), a.end(g)):
                keep[k] = s[k]
        return "".join(keep)

    t = _TAG.sub(tag, t)
    # entities such as &#8722; or &nbsp; contain digits that are not numbers on the page
    return _ENTITY.sub(_blank, t)


def scan_text(text: str, counts: Iterable, policy: DisclosurePolicy = NHS_DIGITAL,
              ignore: Iterable[str] = ()) -> list[Hit]:
    """Every number in ``text`` that equals a raw count the policy would not show as it is.

    ``text`` is a built page (HTML, Typst source, text extracted from a PDF) or a
    JSON document such as ``summary.json``. ``counts`` are the raw counts of the
    data behind it (e.g. the ``value``, ``numerator`` and ``denominator`` of every
    row of the tidy table the page was built from). Disclosive counts are those
    that :meth:`DisclosurePolicy.disclosive` returns: 1 to ``suppress_max``, and
    counts that are not multiples of ``round_to``.

    A number is read as written on the page: ``3``, ``1,234``, ``3.0`` (a decimal
    with an all-zero fraction counts as its integer). These are *not* read as
    counts, because they are something else on a board page: part of a longer
    token (``RTT52``, ``fourier2``, ``v0.1.0``, ``x3``), a period or a date
    (``2020-09``, ``2021-Q3``, ``12:30``, ``1 December 2026``, ``March 3``), a
    compound label (``62-day``, ``4-hour``), a duration (``12 months``, ``4
    hours``), a numbered thing (``lag 12``, ``page 3``, ``figure 2``), a
    percentage or percentage points (``5%``, ``3 pp``), a signed change or
    a ratio (``+3``, ``−4``, ``×1``), a decimal with a non-zero fraction, a four-digit year
    1900-2099 written without a thousands separator, and anything inside an
    HTML tag, a style or script block, an entity or a ``data:`` URI. ``alt`` and
    ``title`` text is scanned. Phrases in ``ignore`` (exact text, such as
    ``"4 trusts"``) are blanked before scanning: use it for structural numbers
    that are not data.
    """
    bad = policy.disclosive(counts)
    if not bad:
        return []
    t = _visible(text)
    for phrase in ignore:
        if phrase:
            t = t.replace(phrase, " " * len(phrase))
    hits = []
    n = len(t)
    for m in _NUMBER.finditer(t):
        s, e, tok = m.start(), m.end(), m.group(0)
        before = t[s - 1] if s > 0 else " "
        after = t[e] if e < n else " "
        if before.isalnum() or before in "_." or after.isalnum() or after in "_":
            continue
        # signed numbers are changes (effects, differences) and x1.05 a ratio: modelled, exempt
        if before in "+-\u2212\u00b1\u00d7":
            if not (before == "-" and s >= 2 and t[s - 2].isdigit()):
                continue
        # periods, dates, times, versions, ranges written 2020-09 / 2021-Q3 / 12:30 / 1.2.3
        if before in "-:/" and s >= 2 and t[s - 2].isdigit():
            continue
        if after in "-:/" and e + 1 < n and (t[e + 1].isdigit() or t[e + 1] == "Q"):
            continue
        if after == "." and e + 1 < n and t[e + 1].isdigit():
            continue
        rest = t[e:e + 4]
        if rest.startswith("%") or re.match(r"\s?pp\b", rest) or rest.startswith("\u00a0%"):
            continue
        # compound labels (62-day, 52-week, 4-hour), durations and dates (12 months, 1 December 2026),
        # and numbered things (lag 12, page 3, figure 2): not counts of people
        if after == "-" and e + 1 < n and t[e + 1].isalpha():
            continue
        if _AFTER_NOT_COUNT.match(t, e) or _BEFORE_NOT_COUNT.search(t, max(0, s - 12), s):
            continue
        if "." in tok:
            whole, frac = tok.split(".", 1)
            if set(frac) != {"0"}:
                continue
            tok_int = whole
        else:
            tok_int = tok
        if "," not in tok_int and len(tok_int) == 4 and 1900 <= int(tok_int) <= 2099:
            continue
        value = int(tok_int.replace(",", ""))
        if value in bad:
            # the context names the place, not the number (error messages may be shown)
            ctx = re.sub(r"\s+", " ", t[max(0, s - 40):s] + "#" * len(tok) + t[e:min(n, e + 40)]).strip()
            hits.append(Hit(offset=s, text=tok, value=value, context=ctx))
    return hits


def check_text(text: str, counts: Iterable, source: str = "page", policy: DisclosurePolicy = NHS_DIGITAL,
               ignore: Iterable[str] = ()) -> None:
    """Raise :class:`PublishError` when :func:`scan_text` finds a disclosive count in ``text``."""
    hits = scan_text(text, counts, policy=policy, ignore=ignore)
    if hits:
        where = "; ".join(f"offset {h.offset} ({h.context!r})" for h in hits[:3])
        raise PublishError(
            f"{source}: {len(hits)} number(s) equal to a raw count that the disclosure policy would not show "
            f"as it is ({policy.describe()}) at {where}; pass those counts through "
            f"evallib.report.disclosure.show_count before they reach the page")


__all__ = ["DisclosurePolicy", "NHS_DIGITAL", "NO_CONTROL", "KINDS", "Hit", "apply_count", "show_count",
           "apply_frame", "table_counts", "scan_text", "check_text"]
