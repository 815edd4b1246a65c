"""Design matrix and time coding for segmented regression (docs/contracts.md §3).

Time coding (as Stata ``itsa`` and Wagner 2002):

- ``pre_trend`` is ``t``, counted in calendar periods from 0 at the *origin* (the
  first period included in the fit), so the intercept is the level at the start.
  Gaps (excluded periods, transitions, missing values) do not shift ``t``: it is
  always the calendar distance from the origin.
- For an interruption NAME at period P, ``level_change[NAME]`` is 1 from P onwards
  (**P itself is post-interruption**) and ``slope_change[NAME]`` is ``t - t_P`` from
  P onwards, so it is 0 at P.
- ``post_trend[NAME]`` is not a column: it is the contrast ``pre_trend`` + every
  slope change up to and including NAME (see :func:`its_contrasts`).
- A transition of k periods leaves P..P+k-1 out of the fit (``in_fit`` False); the
  rows stay in the design so that fitted values and counterfactuals exist there.

Seasonality comes from the calendar position (month 1-12, quarter 1-4):

- ``none``: no terms;
- ``month``: one dummy per season except the first (January or Q1 is the
  reference), named ``month[2]`` .. ``month[12]`` (``quarter[2]`` .. for quarterly);
- ``fourierK``: ``sin1, cos1, .., sinK, cosK`` of ``2*pi*k*season/S`` (S = 12 or 4),
  which is R ``tsModel::harmonic(month, K, 12)`` as used by Lopez Bernal 2017. The
  sine at k = S/2 is identically zero and is dropped. K > S/2 is a ParameterError.
- Annual series have no seasonality: any other choice gives a warning and no terms.

Everything here is pure numpy/pandas and cheap, so it can be called once and reused
for many outcome vectors (batch fitting, placebo grids, controlled designs).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from evallib.exceptions import ParameterError
from evallib.periods import PERIODS_PER_YEAR, format_period, parse_period, parse_range, season_of

logger = logging.getLogger(__name__)

INTERCEPT = "intercept"
PRE_TREND = "pre_trend"


def level_name(name: str) -> str:
    return f"level_change[{name}]"


def slope_name(name: str) -> str:
    return f"slope_change[{name}]"


def post_trend_name(name: str) -> str:
    return f"post_trend[{name}]"


@dataclass(frozen=True)
class InterruptionSpec:
    """One interruption at period ``period`` (the first post-interruption period)."""

    name: str
    period: pd.Period
    terms: tuple[str, ...] = ("level", "slope")
    transition: int = 0

    @classmethod
    def from_params(cls, intr, freq: str | None = None) -> "InterruptionSpec":
        """From an :class:`evallib.config.Interruption` (or anything with the same fields)."""
        try:
            p = parse_period(intr.date, freq)
        except ValueError as exc:
            raise ParameterError(f"interruption {intr.name}: date {exc}") from None
        return cls(intr.name, p, tuple(intr.terms), int(intr.transition))

    @property
    def columns(self) -> list[str]:
        out = []
        if "level" in self.terms:
            out.append(level_name(self.name))
        if "slope" in self.terms:
            out.append(slope_name(self.name))
        return out


def _as_periods(periods: Iterable) -> list[pd.Period]:
    out = []
    for p in periods:
        out.append(p if isinstance(p, pd.Period) else parse_period(p))
    return out


def time_terms(periods: Sequence, interruptions: Sequence[InterruptionSpec], *,
               origin=None) -> pd.DataFrame:
    """Columns ``intercept, pre_trend`` and, per interruption, its level/slope columns.

    ``periods``: pd.Period objects or labels, in any order (rows keep that order).
    ``origin``: the period where t = 0 (default: the first of ``periods``). Rows before
    the origin get negative t. Returns a float DataFrame with a RangeIndex.
    """
    ps = _as_periods(periods)
    if not ps:
        return pd.DataFrame(columns=[INTERCEPT, PRE_TREND], dtype=float)
    org = ps[0] if origin is None else (origin if isinstance(origin, pd.Period) else parse_period(origin))
    t = np.array([(p - org).n for p in ps], dtype=float)
    cols = {INTERCEPT: np.ones(len(ps)), PRE_TREND: t}
    for intr in interruptions:
        tp = float((intr.period - org).n)
        post = t >= tp
        if "level" in intr.terms:
            cols[level_name(intr.name)] = post.astype(float)
        if "slope" in intr.terms:
            cols[slope_name(intr.name)] = np.where(post, t - tp, 0.0)
    return pd.DataFrame(cols)


def seasonal_terms(periods: Sequence, seasonality: str) -> tuple[pd.DataFrame, list[str]]:
    """Seasonal columns for ``periods`` and a list of warnings (see module docstring).

    Columns that are constant zero over ``periods`` (a month never observed) are
    dropped, so a short window never makes the design singular through seasonality.
    """
    ps = _as_periods(periods)
    warnings: list[str] = []
    if seasonality in (None, "none") or not ps:
        return pd.DataFrame(index=range(len(ps))), warnings
    freq = ps[0].freqstr[0]
    S = PERIODS_PER_YEAR[freq]
    if S == 1:
        warnings.append(f"seasonality {seasonality} ignored: an annual series has no seasons")
        return pd.DataFrame(index=range(len(ps))), warnings
    season = np.array([season_of(p) for p in ps], dtype=float)
    cols: dict[str, np.ndarray] = {}
    if seasonality == "month":
        prefix = "month" if freq == "M" else "quarter"
        for s in range(2, S + 1):
            col = (season == s).astype(float)
            if col.any():
                cols[f"{prefix}[{s}]"] = col
    elif seasonality.startswith("fourier"):
        K = int(seasonality[len("fourier"):])
        if K > S // 2:
            raise ParameterError(
                f"seasonality {seasonality}: a {'monthly' if S == 12 else 'quarterly'} series has at most "
                f"{S // 2} harmonics; use fourier{S // 2} or fewer, or month")
        for k in range(1, K + 1):
            ang = 2 * np.pi * k * season / S
            if 2 * k != S:
                cols[f"sin{k}"] = np.sin(ang)
            cols[f"cos{k}"] = np.cos(ang)
    else:
        raise ParameterError(f"seasonality {seasonality!r} is not allowed (none, month or fourierK)")
    return pd.DataFrame(cols, index=range(len(ps))), warnings


def excluded_mask(periods: Sequence, exclude: Sequence[str]) -> np.ndarray:
    """True for periods inside any ``exclude`` entry ('A' or 'A/B', inclusive)."""
    ps = _as_periods(periods)
    out = np.zeros(len(ps), dtype=bool)
    if not ps:
        return out
    freq = ps[0].freqstr[0]
    for item in exclude:
        try:
            a, b = parse_range(item, freq)
        except ValueError as exc:
            raise ParameterError(f"exclude: {exc}") from None
        out |= np.array([a <= p <= b for p in ps])
    return out


def transition_mask(periods: Sequence, interruptions: Sequence[InterruptionSpec]) -> np.ndarray:
    """True for periods P..P+k-1 of an interruption with transition k."""
    ps = _as_periods(periods)
    out = np.zeros(len(ps), dtype=bool)
    for intr in interruptions:
        if intr.transition > 0:
            last = intr.period + (intr.transition - 1)
            out |= np.array([intr.period <= p <= last for p in ps])
    return out


def column_weights(columns: Sequence[str], name: str) -> np.ndarray:
    """Weights over ``columns`` that pick the single coefficient ``name`` (1 there, 0 elsewhere).

    ValueError when ``name`` is not one of ``columns``.
    """
    columns = list(columns)
    w = np.zeros(len(columns))
    w[columns.index(name)] = 1.0
    return w


def segments(periods: Sequence[pd.Period],
             interruptions: Sequence[InterruptionSpec]) -> list[tuple[str, pd.Period, pd.Period]]:
    """``(name, first, last)`` of each segment between consecutive interruptions.

    The first segment is named ``pre-NAME`` after the first interruption and runs from
    the first period to the period before it; each later segment is named after the
    interruption that starts it and ends the period before the next one (the last ends
    at the last period). ``interruptions`` must be in time order and non-empty.
    """
    bounds = [s.period for s in interruptions]
    names = ["pre-" + interruptions[0].name] + [s.name for s in interruptions]
    out = []
    for j in range(len(bounds) + 1):
        lo = periods[0] if j == 0 else bounds[j - 1]
        hi = periods[-1] if j == len(bounds) else bounds[j] - 1
        out.append((names[j], lo, hi))
    return out


def its_contrasts(columns: Sequence[str], interruptions: Sequence[InterruptionSpec]) -> dict[str, np.ndarray]:
    """Named linear combinations of the coefficients: the ITS terms of results.json.

    Returns ``{term: weights}`` with weights over ``columns``, in the order
    intercept, pre_trend, then per interruption level_change, slope_change, post_trend.
    ``post_trend[NAME]`` = pre_trend + every slope change up to and including NAME;
    it is reported for every interruption (equal to the previous trend when NAME has
    no slope term).
    """
    idx = {c: i for i, c in enumerate(columns)}

    def unit(name: str) -> np.ndarray:
        return column_weights(columns, name)

    out = {INTERCEPT: unit(INTERCEPT), PRE_TREND: unit(PRE_TREND)}
    trend = unit(PRE_TREND)
    for intr in interruptions:
        if level_name(intr.name) in idx:
            out[level_name(intr.name)] = unit(level_name(intr.name))
        if slope_name(intr.name) in idx:
            out[slope_name(intr.name)] = unit(slope_name(intr.name))
            trend = trend + unit(slope_name(intr.name))
        out[post_trend_name(intr.name)] = trend.copy()
    return out


def counterfactual_columns(interruptions: Sequence[InterruptionSpec]) -> dict[str, list[str]]:
    """Columns zeroed for each interruption's counterfactual.

    The counterfactual of interruption NAME is the fit with NAME's terms **and those
    of every later interruption** set to zero: "what the trend would have been had
    NAME (and what followed) not happened", keeping earlier interruptions (e.g. COVID
    before the collaborative) in the counterfactual.
    """
    out: dict[str, list[str]] = {}
    for j, intr in enumerate(interruptions):
        cols: list[str] = []
        for later in interruptions[j:]:
            cols.extend(later.columns)
        out[intr.name] = cols
    return out


@dataclass
class Design:
    """A full design for one series: every period of the window, fitted or not.

    ``X`` has one row per period of ``periods`` (including excluded/transition rows);
    ``in_fit`` marks rows used for estimation (before missing outcomes are dropped).
    """

    periods: list[pd.Period]
    X: pd.DataFrame
    in_fit: np.ndarray
    interruptions: list[InterruptionSpec]
    its_columns: list[str]
    seasonal_columns: list[str]
    contrasts: dict[str, np.ndarray]
    cf_columns: dict[str, list[str]]
    origin: pd.Period
    warnings: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [format_period(p) for p in self.periods]


def build_design(periods: Sequence, interruptions: Sequence[InterruptionSpec], *,
                 seasonality: str = "none", exclude: Sequence[str] = (),
                 origin=None) -> Design:
    """Time and seasonal terms for a contiguous window of ``periods``.

    ``origin`` (t = 0) defaults to the first period that is not excluded and not in
    a transition. Raises ParameterError when nothing is left to fit.
    """
    ps = _as_periods(periods)
    ints = list(interruptions)
    excl = excluded_mask(ps, exclude) | transition_mask(ps, ints)
    in_fit = ~excl
    if not in_fit.any():
        raise ParameterError("exclude and transitions leave no period to fit")
    if origin is None:
        origin = ps[int(np.argmax(in_fit))]
    tt = time_terms(ps, ints, origin=origin)
    seas, warns = seasonal_terms(ps, seasonality)
    X = pd.concat([tt, seas], axis=1)
    its_cols = list(tt.columns)
    return Design(periods=ps, X=X, in_fit=in_fit, interruptions=ints, its_columns=its_cols,
                  seasonal_columns=list(seas.columns), contrasts=its_contrasts(list(X.columns), ints),
                  cf_columns=counterfactual_columns(ints), origin=origin, warnings=warns)
