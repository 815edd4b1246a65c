"""Making Data Count (MDC) XmR charts: process limits, special-cause rules and icons.

One call, :func:`xmr`, turns a series into an :class:`SPCResult`: a points frame
with the limits and the rule each point breaks, the *variation* icon and the
*assurance* icon, as NHS England's "Making Data Count" tools and
NHSRplotthedots 0.2.2 define them (``../shared/REFERENCES.md``).

The rules, within each rebase group
----------------------------------
- **Limits.** ``mean ± 2.66 × MR̄``, where MR̄ is the mean of the moving ranges
  ``|x[t] - x[t-1]|``. The "near" (two-sigma) band starts at
  ``mean ± (2/3 × 2.66) × MR̄`` (= 1.7733… × MR̄).
- **outside**: a point strictly above the upper or below the lower process limit.
- **trend**: 7 or more consecutive points, each strictly higher (or each strictly
  lower) than the one before. A trend may cross the mean. Two equal neighbours
  break it. Every point of the run is flagged; the side is the direction
  (rising = ``high``). A turning point that ends one trend and starts another
  takes the direction of the trend it starts (as NHSRplotthedots does).
- **two_of_three**: in any three consecutive points that all lie on the same side
  of the mean, at least two lie in the near band (beyond the two-sigma line but
  not beyond the process limit). The points in the band are flagged. Two near
  points on opposite sides of the mean are no signal. As in NHSRplotthedots, a
  point beyond the limit does not count towards two-of-three (it is flagged
  ``outside`` anyway).
- **shift**: 7 or more consecutive points on the same side of the mean. A point
  exactly on the mean breaks the run. Every point of the run is flagged.
- **Priority.** A point that breaks several rules is labelled by the first of
  ``outside > trend > two_of_three > shift``.

Rebasing only where a sustained change is evidenced (``rebase="evidenced"``)
---------------------------------------------------------------------------
Making Data Count recalculates limits when the chart shows that the process has
changed and settled, and the change is explained by a known event; it does not
rebase at every date something happened, and it never rebases a trend away.
:func:`evidenced_rebase` (used by ``xmr(..., rebase="evidenced", candidates=[...])``
and by the board pages with the interruption dates as candidates) takes the
candidate dates in order and decides each one against the limits in force
before it:

1. **Baseline.** The observed points of the current group before the candidate
   (before an earlier freeze, when the group is frozen) give the mean and MR̄ in
   force. Fewer than 2 baseline points: the candidate is skipped (``too few
   points``).
2. **Evidence.** A *shift* against that baseline mean (7 or more consecutive
   points on one side of it) whose first point is at or after the candidate and
   within 12 periods of it (and before the next candidate, whose change it
   would be), counting points from the candidate on. No such run: the limits
   carry on unchanged (decision ``none``). If the same run reaches back before
   the candidate with a signal of its own there (7 points, or a point beyond the
   limits in force), the change began earlier and is not this date's (``none``).
3. **Settled, not a trend.** If a *trend* (7 or more points each higher, or each
   lower, than the one before) overlaps that run, the process is still moving:
   it is not rebased; the group's limits are frozen at the baseline so the
   change is shown against the limits in force before it (points beyond them
   and the trend are flagged) rather than absorbed into new limits
   (``trend: limits held``). Otherwise the limits are recalculated from the
   candidate (``rebased``).

On the real 52-week waiters of the four Black Country trusts (about 5 a month in
2019, 10,121 in March 2021, 22,221 in October 2023) the COVID-19 date is evidenced
but trending, so the limits of 2019-20 are held and the rise reads as concern;
an explicit rebase at 2020-03 and 2020-09 made the 2020 part of the rise look
like improvement against a mean inflated by the peak. ``SPCResult.decisions``
records each candidate's decision and reason; explicit ``rebase=[...]`` is still
available and is applied as given.

Edge cases (stated here once, relied on by the tests)
-----------------------------------------------------
- **Missing values** (NaN values, or periods absent from the data) are skipped:
  the mean and moving ranges use the observed points only (the moving range
  across a gap is taken between the observed points either side of it), and a
  gap neither breaks nor extends a run or trend. A missing row keeps its
  group's mean and limits but has ``special_cause=False`` and ``rule``, ``side``
  and ``point_type`` all ``None``.
- **Rebasing** happens only at the periods you give; it never happens at a date
  the data do not point to. A rebase period starts a new group that includes it.
  Rebase periods at or before the first period, or after the last, are ignored
  with a warning. ``freeze`` periods keep a group's limits at those of its
  points before the freeze period (a baseline, extended: NHSRplotthedots'
  ``fix_after_n_points``); the rules are applied to all the group's points.
- **Short groups.** A group with fewer than 12 observed points gets *trial
  limits* (computed the same way) and a warning. A group with fewer than 2
  observed points has no moving range, so its limits are NaN and every point
  in it is common cause (with a warning).
- **Variation** is read from the latest *observed* point of the last rebase
  group: ``common_cause``, or ``<point_type>_<side>`` such as
  ``improvement_high`` or ``concern_low`` (``neither_high``/``neither_low`` for a
  neutral metric).
- **Assurance** compares the target with the last group's limits:
  beyond the limit on the improvement side → ``pass``; beyond the other limit
  → ``fail``; otherwise (including a target exactly on a limit) →
  ``hit_and_miss``. It is ``None`` with no target or a neutral metric.
- **screen_outliers** (default ``False``, the MDC Excel behaviour). When ``True``,
  as NHSRplotthedots' ``screen_outliers`` does: moving ranges at or above
  ``3.267 × MR̄`` are dropped and MR̄ is recomputed from the rest (once, not
  iteratively). The mean is unchanged; only the limits narrow.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evallib.exceptions import DataError, ParameterError
from evallib.periods import FREQ_NAMES, format_period, normalise_label, parse_period

logger = logging.getLogger(__name__)

__all__ = [
    "xmr", "evidenced_rebase", "SPCResult", "EVIDENCE_WINDOW",
    "LIMIT", "NEAR_LIMIT", "SCREEN_FACTOR", "MIN_POINTS", "RUN_LENGTH",
    "IMPROVEMENTS", "RULES", "POINT_TYPES", "VARIATIONS", "ASSURANCES",
    "VARIATION_LABELS", "ASSURANCE_LABELS", "POINT_COLUMNS",
]

LIMIT = 2.66                 #: process limits at mean ± LIMIT × MR̄
NEAR_LIMIT = 2 * LIMIT / 3   #: near (two-sigma) band at mean ± NEAR_LIMIT × MR̄
SCREEN_FACTOR = 3.267        #: screen_outliers drops moving ranges ≥ SCREEN_FACTOR × MR̄
MIN_POINTS = 12              #: groups with fewer observed points get trial limits
RUN_LENGTH = 7               #: points needed for a shift or a trend
EVIDENCE_WINDOW = 12         #: an evidencing shift starts within this many periods of its date

IMPROVEMENTS = ("increase", "decrease", "neutral")
RULES = ("outside", "trend", "two_of_three", "shift")   # in priority order
POINT_TYPES = ("common_cause", "improvement", "concern", "neither")
VARIATIONS = ("common_cause", "improvement_high", "improvement_low", "concern_high",
              "concern_low", "neither_high", "neither_low")
ASSURANCES = ("pass", "fail", "hit_and_miss")
POINT_COLUMNS = ["period", "value", "mean", "lpl", "upl", "near_lower", "near_upper",
                 "special_cause", "rule", "side", "point_type"]

#: Plain-English text for each variation icon (alt text, tooltips, captions).
VARIATION_LABELS = {
    "common_cause": "Common cause variation: no significant change",
    "improvement_high": "Special cause variation: improvement (higher values)",
    "improvement_low": "Special cause variation: improvement (lower values)",
    "concern_high": "Special cause variation: concern (higher values)",
    "concern_low": "Special cause variation: concern (lower values)",
    "neither_high": "Special cause variation: higher values (neither improvement nor concern)",
    "neither_low": "Special cause variation: lower values (neither improvement nor concern)",
}
#: Plain-English text for each assurance icon.
ASSURANCE_LABELS = {
    "pass": "Assurance: the process will consistently meet the target",
    "fail": "Assurance: the process will consistently miss the target",
    "hit_and_miss": "Assurance: the process will hit and miss the target at random",
}


@dataclass
class SPCResult:
    """The result of :func:`xmr`.

    Attributes
    ----------
    points : DataFrame
        One row per period, in period order, with exactly :data:`POINT_COLUMNS`:
        ``period`` (canonical label ``YYYY-MM``/``YYYY-Qn``/``YYYY``), ``value``,
        ``mean``, ``lpl``, ``upl``, ``near_lower``, ``near_upper`` (the two-sigma
        band), ``special_cause`` (bool), ``rule`` (``outside``, ``trend``,
        ``two_of_three``, ``shift`` or None), ``side`` (``high``/``low``: the
        direction of the signal for a special-cause point, the side of the mean
        for a common-cause point, None on the mean or when missing) and
        ``point_type`` (``common_cause``, ``improvement``, ``concern``,
        ``neither``, or None when the value is missing).
    variation : str
        One of :data:`VARIATIONS`, from the latest observed point of the last group.
    assurance : str or None
        ``pass``, ``fail``, ``hit_and_miss``; None without a target or when neutral.
    warnings : list of str
        Trial limits, ignored rebase periods, groups too short for limits.
    improvement, target, rebase, freq, value_name, screen_outliers
        The inputs as applied (``rebase`` holds the labels actually used).
    groups : DataFrame
        One row per rebase group: ``group, start, end, n_points, mean, mr_bar,
        lpl, upl, near_lower, near_upper, trial, baseline_end`` (``baseline_end``:
        the last period the limits come from when the group is frozen, else None).
    freeze : list of str
        The freeze periods applied (limits held at the baseline before them).
    decisions : list of dict
        With ``rebase="evidenced"``: one per candidate date, ``{"date", "decision"
        ("rebased", "held" or "none"), "reason", "side", "point_type"}``.
    """

    points: pd.DataFrame
    variation: str
    assurance: str | None
    warnings: list[str] = field(default_factory=list)
    improvement: str = "neutral"
    target: float | None = None
    rebase: list[str] = field(default_factory=list)
    freq: str = "M"
    value_name: str = "value"
    screen_outliers: bool = False
    groups: pd.DataFrame | None = None
    freeze: list[str] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)

    @property
    def variation_label(self) -> str:
        """Plain-English text for :attr:`variation`."""
        return VARIATION_LABELS[self.variation]

    @property
    def assurance_label(self) -> str | None:
        """Plain-English text for :attr:`assurance` (None when there is no assurance)."""
        return None if self.assurance is None else ASSURANCE_LABELS[self.assurance]

    def summary(self) -> str:
        """One or two sentences for a board reader."""
        g = self.groups.iloc[-1]
        if np.isfinite(g["upl"]):
            text = (f"{self.variation_label}. Latest limits (from {g['start']}): mean {_num(g['mean'])}, "
                    f"process limits {_num(g['lpl'])} to {_num(g['upl'])}.")
        else:
            text = (f"{self.variation_label}. The latest group (from {g['start']}) has too few "
                    f"points for process limits.")
        if self.assurance is not None:
            text += f" Target {_num(self.target)}: {self.assurance_label[len('Assurance: '):]}."
        if any(self.groups["trial"]):
            text += " Some limits are trial limits (fewer than 12 points)."
        return text

    def to_dict(self) -> dict:
        """JSON-ready summary: icons, inputs, warnings and the limits of each group."""
        groups = self.groups.replace({np.nan: None}).to_dict(orient="records")
        return {
            "variation": self.variation,
            "assurance": self.assurance,
            "improvement": self.improvement,
            "target": self.target,
            "rebase": list(self.rebase),
            "screen_outliers": self.screen_outliers,
            "freeze": list(self.freeze),
            "decisions": [dict(d) for d in self.decisions],
            "groups": groups,
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------

def _parse_periods(values: pd.Series, column: str) -> tuple[list[pd.Period], str]:
    parsed = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            raise DataError(f"column {column!r} has a missing period; every row needs a period")
        try:
            parsed.append(parse_period(v))
        except ValueError as exc:
            raise DataError(f"column {column!r}: {exc}") from None
    freqs = {p.freqstr[0] for p in parsed}
    if len(freqs) > 1:
        names = " and ".join(sorted(FREQ_NAMES[f] for f in freqs))
        raise DataError(f"column {column!r} mixes {names} periods; use one frequency per series")
    freq = freqs.pop() if freqs else "M"
    return parsed, freq


def _parse_rebase(rebase, freq: str) -> list[pd.Period]:
    if rebase is None:
        return []
    if isinstance(rebase, (str, pd.Period, pd.Timestamp)) or not isinstance(rebase, Iterable):
        rebase = [rebase]
    out = []
    for r in rebase:
        try:
            out.append(parse_period(r, freq))
        except ValueError as exc:
            raise ParameterError(f"rebase {normalise_label(r)!r}: {exc}; give rebase periods as "
                                 f"labels like the period column") from None
    return sorted(set(out))


def _validate_target(target) -> float | None:
    if target is None:
        return None
    try:
        t = float(target)
    except (TypeError, ValueError):
        raise ParameterError(f"target {target!r} is not a number; give a number or None") from None
    if not np.isfinite(t):
        raise ParameterError(f"target {target!r} is not finite; give a number or None")
    return t


# ---------------------------------------------------------------------------
# Rules on the observed points of one group (arrays without NaN)
# ---------------------------------------------------------------------------

def _runs(a: np.ndarray):
    """Yield (start, end_exclusive, value) for maximal runs of equal values in ``a``."""
    n = len(a)
    i = 0
    while i < n:
        j = i + 1
        while j < n and a[j] == a[i]:
            j += 1
        yield i, j, a[i]
        i = j


def _shift(rel: np.ndarray) -> np.ndarray:
    """+1/-1 for points in a run of >= 7 on one side of the mean, else 0."""
    out = np.zeros(len(rel), dtype=int)
    for s, e, v in _runs(rel):
        if v != 0 and e - s >= RUN_LENGTH:
            out[s:e] = v
    return out


def _trend(y: np.ndarray) -> np.ndarray:
    """+1/-1 for points in a run of >= 7 strictly rising/falling points, else 0.

    Later runs overwrite earlier ones, so a turning point takes the direction
    of the trend it starts.
    """
    out = np.zeros(len(y), dtype=int)
    if len(y) < RUN_LENGTH:
        return out
    d = np.sign(np.diff(y)).astype(int)
    for s, e, v in _runs(d):
        # diffs s..e-1 are the steps between points s..e
        if v != 0 and e - s >= RUN_LENGTH - 1:
            out[s:e + 1] = v
    return out


def _two_of_three(close: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """+1/-1 for near-band points in a qualifying window of three, else 0."""
    n = len(close)
    out = np.zeros(n, dtype=int)
    for i in range(n - 2):
        w = slice(i, i + 3)
        side = rel[i]
        if side != 0 and np.all(rel[w] == side) and close[w].sum() >= 2:
            idx = np.arange(i, i + 3)[close[w]]
            out[idx] = side
    return out


def _group_limits(y: np.ndarray, screen_outliers: bool) -> tuple[float, float]:
    """(mean, MR-bar) of the observed values of one group."""
    mean = float(np.mean(y)) if len(y) else np.nan
    if len(y) < 2:
        return mean, np.nan
    mr = np.abs(np.diff(y))
    mr_bar = float(np.mean(mr))
    if screen_outliers:
        kept = mr[mr < SCREEN_FACTOR * mr_bar]
        if len(kept):
            mr_bar = float(np.mean(kept))
    return mean, mr_bar


# ---------------------------------------------------------------------------
# The public call
# ---------------------------------------------------------------------------

def _num(x: float) -> str:
    """Board-friendly number: thousands separators from 1,000 up, else 4 significant figures."""
    if np.isfinite(x) and abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def _decide(periods: list, y: np.ndarray, cands: list, improvement: str) -> list[dict]:
    """The decisions of :func:`evidenced_rebase` on sorted periods and their values."""
    direction = {"increase": 1, "decrease": -1, "neutral": 0}[improvement]
    n = len(periods)
    observed = ~np.isnan(y)
    start, frozen = 0, None
    out = []
    first_p, last_p = periods[0], periods[-1]
    for k, d in enumerate(cands):
        label = format_period(d)
        rec = {"date": label, "decision": "none", "reason": "", "side": None, "point_type": None}
        out.append(rec)
        if d <= first_p or d > last_p:
            rec["reason"] = "outside the series"
            continue
        i_d = next(i for i in range(n) if periods[i] >= d)
        base_end = frozen if frozen is not None else i_d
        base = y[start:base_end][observed[start:base_end]]
        if len(base) < 2:
            rec["reason"] = f"too few points before {label} for limits to test it against"
            continue
        mean, mr_bar = _group_limits(base, False)
        lpl, upl = mean - LIMIT * mr_bar, mean + LIMIT * mr_bar
        idx = np.arange(start, n)[observed[start:]]
        yy = y[idx]
        rel = np.sign(yy - mean).astype(int)
        horizon = d + EVIDENCE_WINDOW
        if k + 1 < len(cands):
            horizon = min(horizon, cands[k + 1])
        first = int(np.searchsorted([periods[i] >= d for i in idx], True))
        run = None
        for s_, e_, v in _runs(rel[first:]):
            p0 = periods[idx[first + s_]]
            if v != 0 and e_ - s_ >= RUN_LENGTH and p0 < horizon:
                run = (first + s_, first + e_, int(v))
                break
        if run is None:
            rec["reason"] = (f"no run of {RUN_LENGTH} points on one side of the mean "
                             f"({_num(mean)}) starts at or within {EVIDENCE_WINDOW} periods after {label}")
            continue
        # the same run reaching back before the date with a signal of its own (7 points, or a
        # point beyond the limits in force) is an earlier change, not this date's
        b = run[0]
        while b > 0 and rel[b - 1] == run[2]:
            b -= 1
        before = yy[b:run[0]]
        if run[0] - b >= RUN_LENGTH or np.any((before > upl) | (before < lpl)):
            rec["reason"] = (f"the change began before {label} (from {format_period(periods[idx[b]])}), "
                             f"so it is not this date's")
            continue
        s_, e_, v = run
        rec["side"] = {1: "high", -1: "low"}[v]
        rec["point_type"] = "neither" if direction == 0 else ("improvement" if v == direction else "concern")
        trend = _trend(yy)
        if np.any(trend[s_:e_] != 0):
            rec["decision"] = "held"
            rec["reason"] = (f"a sustained {'rise' if v > 0 else 'fall'} from "
                             f"{format_period(periods[idx[s_]])} that is still a trend: limits held "
                             f"at those before {label} so the change shows against them")
            if frozen is None:
                frozen = i_d
            continue
        rec["decision"] = "rebased"
        rec["reason"] = (f"a sustained shift {'above' if v > 0 else 'below'} the mean ({_num(mean)}) from "
                         f"{format_period(periods[idx[s_]])}: limits recalculated from {label}")
        start, frozen = i_d, None
    return out


def evidenced_rebase(data: pd.DataFrame, dates, *, value: str = "value", period: str = "period",
                     improvement: str = "increase") -> list[dict]:
    """Decide, for each candidate date, whether the limits are recalculated there.

    The rule (module docstring, "Rebasing only where a sustained change is
    evidenced"): a shift of 7 points on one side of the mean in force, starting at or
    within 12 periods after the date, rebases the limits there unless a trend
    overlaps it, in which case the limits are held (frozen) at those before the date.
    Returns one dict per date, in date order: ``date``, ``decision`` (``rebased``,
    ``held`` or ``none``), ``reason``, ``side`` and ``point_type`` of the evidencing
    run. :func:`xmr` with ``rebase="evidenced"`` applies them.
    """
    if improvement not in IMPROVEMENTS:
        raise ParameterError(f"improvement {improvement!r} is not one of "
                             f"{', '.join(repr(x) for x in IMPROVEMENTS)}")
    for col in (period, value):
        if col not in data.columns:
            raise DataError(f"column {col!r} is missing; columns are {list(data.columns)}")
    periods, freq = _parse_periods(data[period], period)
    y = pd.to_numeric(data[value], errors="coerce").astype(float).to_numpy()
    order = sorted(range(len(periods)), key=lambda i: periods[i])
    return _decide([periods[i] for i in order], y[order], _parse_rebase(dates, freq), improvement)


def xmr(data: pd.DataFrame, *, value: str = "value", period: str = "period",
        improvement: str = "increase", target=None, rebase=None,
        screen_outliers: bool = False, candidates=None, freeze=None) -> SPCResult:
    """Making Data Count XmR chart of one series.

    Parameters
    ----------
    data : DataFrame
        One row per period (filter to one org and metric first). Other columns are ignored.
    value, period : str
        Column names. Periods may be labels (``YYYY-MM``, ``YYYY-MM-DD``, ``YYYY-Qn``,
        ``YYYY``), ``pd.Period`` or timestamps; rows are sorted by period.
    improvement : {"increase", "decrease", "neutral"}
        Which direction is better.
    target : float, optional
        Target for the assurance icon (ignored for a neutral metric).
    rebase : label, list of labels or ``"evidenced"``, optional
        Periods at which the process is known to have changed; each starts a new
        group with its own mean and limits, as given. ``"evidenced"``: recalculate
        limits only at those of ``candidates`` where the data show a sustained,
        settled change (:func:`evidenced_rebase`; the decisions are in
        ``SPCResult.decisions``).
    candidates : label or list of labels, optional
        The known dates tested with ``rebase="evidenced"`` (an error otherwise).
    freeze : label or list of labels, optional
        A group containing a freeze period takes its limits from its points before
        it (a baseline), and the rules run on all its points.
    screen_outliers : bool
        Drop moving ranges ≥ 3.267 × MR̄ before recomputing MR̄ (NHSRplotthedots'
        default; MDC Excel does not screen, hence False here).

    Returns
    -------
    SPCResult

    Raises
    ------
    DataError
        Missing columns, unparseable/mixed/duplicate periods, non-numeric or
        infinite values, fewer than 2 observed values in total.
    ParameterError
        Unknown ``improvement``, non-numeric ``target``, unparseable ``rebase``.

    See the module docstring for the rules and every edge case (missing values,
    rebase periods outside the series, short groups, ties with the mean).
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"xmr() needs a DataFrame with columns {period!r} and {value!r}, "
                        f"got {type(data).__name__}")
    for col in (period, value):
        if col not in data.columns:
            raise DataError(f"column {col!r} is missing; columns are {list(data.columns)}")
    if improvement not in IMPROVEMENTS:
        raise ParameterError(f"improvement {improvement!r} is not one of "
                             f"{', '.join(repr(x) for x in IMPROVEMENTS)}")
    target = _validate_target(target)

    periods, freq = _parse_periods(data[period], period)
    try:
        values = pd.to_numeric(data[value], errors="raise").astype(float).to_numpy()
    except (TypeError, ValueError) as exc:
        raise DataError(f"column {value!r} is not numeric ({exc}); convert it to numbers "
                        f"with NaN for missing values") from None
    if np.isinf(values).any():
        bad = format_period(periods[int(np.flatnonzero(np.isinf(values))[0])])
        raise DataError(f"column {value!r} is infinite at period {bad}; use NaN for missing values")

    frame = pd.DataFrame({"_p": periods, "value": values})
    dup = frame["_p"].duplicated(keep=False)
    if dup.any():
        first = frame.loc[dup, "_p"].iloc[0]
        n = int((frame["_p"] == first).sum())
        raise DataError(f"period {format_period(first)} appears {n} times in column {period!r}; "
                        f"xmr() takes one series, so filter to one org and metric first")
    frame = frame.sort_values("_p", kind="stable").reset_index(drop=True)
    if frame["value"].notna().sum() < 2:
        raise DataError(f"column {value!r} has fewer than 2 non-missing values; "
                        f"an XmR chart needs at least 2")

    warnings: list[str] = []
    first_p, last_p = frame["_p"].iloc[0], frame["_p"].iloc[-1]
    decisions: list[dict] = []
    freeze_p = _parse_rebase(freeze, freq)
    if isinstance(rebase, str) and rebase == "evidenced":
        decisions = _decide(list(frame["_p"]), frame["value"].to_numpy(), _parse_rebase(candidates, freq),
                            improvement)
        rebase = [d["date"] for d in decisions if d["decision"] == "rebased"]
        freeze_p = sorted(set(freeze_p) | {parse_period(d["date"], freq) for d in decisions
                                           if d["decision"] == "held"})
    elif candidates is not None:
        raise ParameterError(f"candidates {candidates!r} are only read with rebase='evidenced'; "
                             f"give rebase='evidenced' or drop candidates")
    used_rebase = []
    for r in _parse_rebase(rebase, freq):
        if r <= first_p or r > last_p:
            msg = (f"rebase {format_period(r)} ignored: it is not after the first period "
                   f"{format_period(first_p)} and on or before the last {format_period(last_p)}")
            warnings.append(msg)
            logger.warning(msg)
        else:
            used_rebase.append(r)
    frame["group"] = [sum(p >= r for r in used_rebase) for p in frame["_p"]]
    used_freeze = []

    cols = {c: np.full(len(frame), np.nan) for c in ("mean", "lpl", "upl", "near_lower", "near_upper")}
    special = np.zeros(len(frame), dtype=bool)
    rule = np.full(len(frame), None, dtype=object)
    side = np.full(len(frame), None, dtype=object)
    ptype = np.full(len(frame), None, dtype=object)
    group_rows = []
    direction = {"increase": 1, "decrease": -1, "neutral": 0}[improvement]

    for g, idx in frame.groupby("group", sort=True).indices.items():
        idx = np.asarray(idx)
        yv = frame["value"].to_numpy()[idx]
        obs = idx[~np.isnan(yv)]
        y = frame["value"].to_numpy()[obs]
        base, baseline_end = y, None
        gp = frame["_p"].to_numpy()[obs]
        for f in freeze_p:
            if len(gp) and gp[0] < f <= frame["_p"].iloc[idx[-1]]:
                keep = np.array([q < f for q in gp])
                if keep.sum() < 2:
                    msg = (f"freeze {format_period(f)} ignored: fewer than 2 points before it in the "
                           f"group starting {format_period(frame['_p'].iloc[idx[0]])}")
                    warnings.append(msg)
                    logger.warning(msg)
                else:
                    base, baseline_end = y[keep], format_period(gp[keep][-1])
                    used_freeze.append(format_period(f))
                break
        mean, mr_bar = _group_limits(base, screen_outliers)
        lpl, upl = mean - LIMIT * mr_bar, mean + LIMIT * mr_bar
        nl, nu = mean - NEAR_LIMIT * mr_bar, mean + NEAR_LIMIT * mr_bar
        for c, v in (("mean", mean), ("lpl", lpl), ("upl", upl), ("near_lower", nl), ("near_upper", nu)):
            cols[c][idx] = v
        start = format_period(frame["_p"].iloc[idx[0]])
        trial = len(base) < MIN_POINTS
        group_rows.append({"group": int(g), "start": start,
                           "end": format_period(frame["_p"].iloc[idx[-1]]),
                           "n_points": int(len(y)), "mean": mean, "mr_bar": mr_bar,
                           "lpl": lpl, "upl": upl, "near_lower": nl, "near_upper": nu,
                           "trial": bool(trial), "baseline_end": baseline_end})
        if len(y) < 2:
            msg = (f"group starting {start} has {len(y)} observed point(s): no moving range, "
                   f"so no limits; all its points are common cause")
            warnings.append(msg)
            logger.warning(msg)
        elif trial:
            msg = (f"group starting {start} has {len(base)} points (fewer than {MIN_POINTS}): "
                   f"its limits are trial limits and will move as points are added")
            warnings.append(msg)
            logger.info(msg)

        rel = np.sign(y - mean).astype(int)
        outside = (y > upl) | (y < lpl)
        close = ~outside & ((y > nu) | (y < nl))
        trend = _trend(y)
        two = _two_of_three(close, rel)
        shift = _shift(rel)
        for k, row in enumerate(obs):
            if outside[k]:
                r, s = "outside", rel[k]
            elif trend[k]:
                r, s = "trend", trend[k]
            elif two[k]:
                r, s = "two_of_three", two[k]
            elif shift[k]:
                r, s = "shift", shift[k]
            else:
                r, s = None, rel[k]
            side[row] = {1: "high", -1: "low"}.get(int(s))
            if r is None:
                ptype[row] = "common_cause"
            else:
                special[row] = True
                rule[row] = r
                if direction == 0:
                    ptype[row] = "neither"
                else:
                    ptype[row] = "improvement" if s == direction else "concern"

    points = pd.DataFrame({
        "period": [format_period(p) for p in frame["_p"]],
        "value": frame["value"].to_numpy(),
        **cols,
        "special_cause": special,
        "rule": rule,
        "side": side,
        "point_type": ptype,
    })[POINT_COLUMNS]

    # Variation: latest observed point of the last group.
    last_group = frame["group"].iloc[-1]
    in_last = np.flatnonzero((frame["group"] == last_group).to_numpy() & frame["value"].notna().to_numpy())
    if len(in_last) == 0:
        msg = f"the last group (from {group_rows[-1]['start']}) has no observed values; variation is common_cause"
        warnings.append(msg)
        logger.warning(msg)
        variation = "common_cause"
    else:
        k = in_last[-1]
        variation = "common_cause" if not special[k] else f"{ptype[k]}_{side[k]}"

    # Assurance: target against the last group's limits.
    assurance = None
    last = group_rows[-1]
    if target is not None and improvement != "neutral" and np.isfinite(last["upl"]):
        if target > last["upl"]:
            assurance = "fail" if improvement == "increase" else "pass"
        elif target < last["lpl"]:
            assurance = "pass" if improvement == "increase" else "fail"
        else:
            assurance = "hit_and_miss"

    return SPCResult(
        points=points, variation=variation, assurance=assurance, warnings=warnings,
        improvement=improvement, target=target, rebase=[format_period(r) for r in used_rebase],
        freq=freq, value_name=value, screen_outliers=bool(screen_outliers),
        groups=pd.DataFrame(group_rows), freeze=used_freeze, decisions=decisions,
    )
