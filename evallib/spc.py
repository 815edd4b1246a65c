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

Edge cases (stated here once, relied on by the tests)
-----------------------------------------------------
- **Missing values** (NaN values, or periods absent from the data) are skipped:
  the mean and moving ranges use the observed points only (the moving range
  across a gap is taken between the observed points either side of it), and a
  gap neither breaks nor extends a run or trend. A missing row keeps its
  group's mean and limits but has ``special_cause=False`` and ``rule``, ``side``
  and ``point_type`` all ``None``.
- **Rebasing** happens only at the periods you give (in the board pack, the
  interruption dates); it never happens automatically. A rebase period starts a
  new group that includes it. Rebase periods at or before the first period, or
  after the last, are ignored with a warning.
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
    "xmr", "SPCResult", "LIMIT", "NEAR_LIMIT", "SCREEN_FACTOR", "MIN_POINTS", "RUN_LENGTH",
    "IMPROVEMENTS", "RULES", "POINT_TYPES", "VARIATIONS", "ASSURANCES",
    "VARIATION_LABELS", "ASSURANCE_LABELS", "POINT_COLUMNS",
]

LIMIT = 2.66                 #: process limits at mean ± LIMIT × MR̄
NEAR_LIMIT = 2 * LIMIT / 3   #: near (two-sigma) band at mean ± NEAR_LIMIT × MR̄
SCREEN_FACTOR = 3.267        #: screen_outliers drops moving ranges ≥ SCREEN_FACTOR × MR̄
MIN_POINTS = 12              #: groups with fewer observed points get trial limits
RUN_LENGTH = 7               #: points needed for a shift or a trend

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
        lpl, upl, near_lower, near_upper, trial``.
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


def xmr(data: pd.DataFrame, *, value: str = "value", period: str = "period",
        improvement: str = "increase", target=None, rebase=None,
        screen_outliers: bool = False) -> SPCResult:
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
    rebase : label or list of labels, optional
        Periods at which the process is known to have changed; each starts a new
        group with its own mean and limits. Never inferred from the data.
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
        mean, mr_bar = _group_limits(y, screen_outliers)
        lpl, upl = mean - LIMIT * mr_bar, mean + LIMIT * mr_bar
        nl, nu = mean - NEAR_LIMIT * mr_bar, mean + NEAR_LIMIT * mr_bar
        for c, v in (("mean", mean), ("lpl", lpl), ("upl", upl), ("near_lower", nl), ("near_upper", nu)):
            cols[c][idx] = v
        start = format_period(frame["_p"].iloc[idx[0]])
        trial = len(y) < MIN_POINTS
        group_rows.append({"group": int(g), "start": start,
                           "end": format_period(frame["_p"].iloc[idx[-1]]),
                           "n_points": int(len(y)), "mean": mean, "mr_bar": mr_bar,
                           "lpl": lpl, "upl": upl, "near_lower": nl, "near_upper": nu,
                           "trial": bool(trial)})
        if len(y) < 2:
            msg = (f"group starting {start} has {len(y)} observed point(s): no moving range, "
                   f"so no limits; all its points are common cause")
            warnings.append(msg)
            logger.warning(msg)
        elif trial:
            msg = (f"group starting {start} has {len(y)} points (fewer than {MIN_POINTS}): "
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
        groups=pd.DataFrame(group_rows),
    )
