"""The text layer: plain-English pieces of sentences and warnings, the one verdict rule, labels.

Below the charts and the designs (see the layers in pyproject.toml): every design's
sentences, the charts, the pack index and the PDF take their words, their interval labels
(``interval_label(0.1) -> '90% CI'``) and their verdicts (:func:`verdict`) from here.

The single-group engine (:class:`~evallib.its.results.ITSResult`), the controlled design
and the synthetic control all build their sentences from these, so a number or a metric
name reads the same way in each: ``percent(0.234) -> '23%'``, ``amount(3.2, '%') ->
'3.2 percentage points'``, ``subject('Patients waiting under 18 weeks') -> 'patients
waiting under 18 weeks'``.
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import re

import numpy as np

UNIT_WORDS = {"M": "month", "Q": "quarter", "Y": "year"}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                "nineteen", "twenty"]


def unit_word(freq: str) -> str:
    """'month', 'quarter' or 'year' for a frequency code 'M', 'Q' or 'Y'; 'period' otherwise."""
    return UNIT_WORDS.get(freq, "period")


def number_word(n: int) -> str:
    """0-20 in words ('twelve'); larger or negative numbers as digits ('24')."""
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


# How a sentence names a well-known interruption: (the event, the adjective of its trend).
EVENTS = {
    "collaborative": ("the collaborative formed", "pre-formation"),
    "formation": ("the collaborative formed", "pre-formation"),
    "covid": ("COVID-19 struck", "pre-COVID-19"),
    "covid19": ("COVID-19 struck", "pre-COVID-19"),
}
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]


def event(name: str) -> str:
    """'collaborative' -> 'the collaborative formed'; any other name -> 'the <name> interruption'."""
    return EVENTS.get(name.lower(), (f"the {name.replace('_', ' ')} interruption", ""))[0]


def pre_trend_phrase(name: str) -> str:
    """'collaborative' -> 'the pre-formation trend'; any other name -> 'the pre-<name> trend'."""
    adj = EVENTS.get(name.lower(), (None, ""))[1] or f"pre-{name.replace('_', ' ')}"
    return f"the {adj} trend"


def long_period(label: str) -> str:
    """'2020-09' -> 'September 2020'; '2020-Q3' -> '2020 Q3'; other labels unchanged."""
    if len(label) == 7 and label[4] == "-" and label[5:].isdigit():
        return f"{_MONTHS[int(label[5:]) - 1]} {label[:4]}"
    return label.replace("-Q", " Q")


def when(horizon: int, name: str, freq: str, period: str, date: str) -> str:
    """The opening of an effect sentence.

    Horizon 0: 'In September 2020, the month the collaborative formed'; otherwise
    'Twelve months after the collaborative formed (September 2020)'. ``period`` is the
    label of the effect's period, ``date`` that of the interruption; ``name`` is the
    interruption's name (see :data:`EVENTS`).
    """
    unit = unit_word(freq)
    if horizon == 0:
        return f"In {long_period(period)}, the {unit} {event(name)}"
    return (f"{number_word(horizon).capitalize()} {unit}{'s' if horizon != 1 else ''} after "
            f"{event(name)} ({long_period(date)})")


def percent(x: float, digits: int | None = None) -> str:
    """The size of a proportion as a percentage, without its sign: 0.234 -> '23%', -0.052 -> '5.2%'.

    ``digits`` defaults to 0 from 9.5% up and 1 below it; the caller says 'higher' or 'lower'.
    """
    a = abs(x) * 100
    if digits is None:
        digits = 0 if a >= 9.5 else 1
    return f"{a:.{digits}f}%"


def amount(x: float, unit: str) -> str:
    """The size of an absolute change in the metric's unit, without its sign.

    ``'%'`` gives percentage points ('3.2 percentage points', '1.0 percentage point');
    a unit starting with '£' gives money ('£2.5k', '£1,234k'); anything else is a count
    or measure followed by the unit ('1,234 patients', '12.5 days'). One decimal below
    100, whole numbers with thousands separators from 100 up.
    """
    a = abs(x)
    s = f"{a:.1f}" if a < 100 else f"{a:,.0f}"
    if unit == "%":
        return f"{s} percentage point{'s' if s != '1.0' else ''}"
    if unit.startswith("£"):
        return f"£{a:,.0f}{unit[1:]}" if a >= 100 else f"£{s}{unit[1:]}"
    return f"{a:,.0f} {unit}".strip() if a >= 100 else f"{s} {unit}".strip()


def bare_number(x: float) -> str:
    """:func:`amount` without the unit: '2.1' or '1,234' (the near end of 'from 2.1 to 3.4 ...')."""
    a = abs(x)
    return f"{a:,.0f}" if a >= 100 else f"{a:.1f}"


def big_number(x: float) -> str:
    """Whole numbers with separators, in words from a million: 1234 -> '1,234'; 2.09e7 -> '21 million'."""
    a = abs(x)
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if a >= size:
            return f"{x / size:,.0f} {word}"
    return f"{x:,.0f}"


def approx(x: float) -> str:
    """Three significant figures without exponents: 6.864 -> '6.86'; 12431 -> '12,400'; 2.09e7 -> '21 million'.

    NaN and infinities are returned as 'nan' / 'inf'.
    """
    if not math.isfinite(x):
        return str(x)
    r = float(f"{x:.3g}")
    if abs(r) >= 1e6:
        return big_number(x)
    return f"{r:,g}"


def subject(label: str) -> str:
    """The metric label as a sentence subject: lower-case the first word unless it is an acronym.

    'Patients waiting under 18 weeks' -> 'patients waiting ...'; 'A&E seen within 4 hours'
    and 'RTT waiting list' keep their capitals.
    """
    first = label.split()[0] if label.split() else label
    if first[:1].isupper() and first[1:] == first[1:].lower():
        return label[:1].lower() + label[1:]
    return label


def is_plural(label: str) -> bool:
    """Whether a metric label takes 'were': '52-week waiters' and 'Patients waiting ...' are
    plural, 'Agency staff spend' is not (words ending in 'ss' are not plurals; a bracketed
    note is ignored)."""
    words = re.sub(r"\(.*?\)", "", label).split()[:2]
    return any(w.lower().endswith("s") and not w.lower().endswith("ss") for w in words)


# ---------------------------------------------------------------- verdicts and labels
VERDICTS = ("improvement", "deterioration", "unclear", "no direction")


def verdict(lower: float, upper: float, improvement: str, credible: bool = True) -> str:
    """One verdict for an effect from its absolute interval (see the module docstring)."""
    if not credible or not (np.isfinite(lower) and np.isfinite(upper)):
        return "unclear"
    if lower > 0 or upper < 0:
        if improvement not in ("increase", "decrease"):
            return "no direction"
        up = lower > 0
        return "improvement" if up == (improvement == "increase") else "deterioration"
    return "unclear"


def interval_label(alpha: float) -> str:
    """``"95% CI"`` for alpha 0.05, ``"90% CI"`` for 0.1 (no trailing zeros)."""
    return f"{100 * (1 - float(alpha)):g}% CI"


def created_timestamp() -> str:
    """ISO UTC timestamp of now, or of ``SOURCE_DATE_EPOCH`` when it is set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        when = _dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc)
    else:
        when = _dt.datetime.now(_dt.timezone.utc)
    return when.replace(microsecond=0).isoformat()
