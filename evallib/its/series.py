"""Units into one series (``combine_units``) and per-unit panels (``unit_panel``).

``aggregate`` (docs/contracts.md §2):

- ``sum``: value, numerator and denominator are each summed over the units;
- ``mean``: value is the mean over the units; numerator and denominator are summed;
- ``ratio``: numerator and denominator are summed and value is
  ``scale * sum(numerator) / sum(denominator)``, where ``scale`` (1 or 100) is
  inferred from the rows (a percentage metric stores 100 * numerator / denominator).

Edge cases:

- A period where **any** unit is missing (absent row or suppressed value) is
  missing in the combined series: partial sums are never reported as totals. The
  number of such periods is returned as a warning.
- The series is contiguous from the first to the last period of the window
  (``start``/``end``, or the data's first/last period for the units); periods without
  rows are missing (NaN), never zero.
- ``sum`` of a percentage metric adds percentages: a warning says to use ``ratio``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from evallib.exceptions import ParameterError
from evallib.text import approx
from evallib.metrics import metric_info
from evallib.periods import format_period, parse_period

logger = logging.getLogger(__name__)

NEAR_ZERO_RATIO = 0.05
#: unit panels and combined series kept per table (``TidyTable.memo``), least recently used out
_MEMO_SIZE = 64


@dataclass
class Series:
    """One combined series over a contiguous window.

    ``frame`` columns: period (label), value, numerator, denominator, n_units.
    ``scale``: value = scale * numerator / denominator for proportions (1 or 100);
    None when the metric has no numerator/denominator.
    """

    frame: pd.DataFrame
    freq: str
    metric: str
    units: list[str]
    scale: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def periods(self) -> list[pd.Period]:
        return [parse_period(p, self.freq) for p in self.frame["period"]]

    @property
    def has_ratio(self) -> bool:
        f = self.frame
        return bool(f["numerator"].notna().any() and f["denominator"].notna().any())

    @property
    def has_exposure(self) -> bool:
        return bool(self.frame["denominator"].notna().any())


def infer_scale(rows: pd.DataFrame) -> float | None:
    """1 or 100: how ``value`` relates to numerator/denominator in these rows (None if unknown)."""
    ok = rows[["value", "numerator", "denominator"]].notna().all(axis=1) & (rows["numerator"] > 0) \
        & (rows["denominator"] > 0)
    if not ok.any():
        return None
    r = (rows.loc[ok, "value"] / (rows.loc[ok, "numerator"] / rows.loc[ok, "denominator"])).median()
    if abs(r - 100.0) < 1.0:
        return 100.0
    if abs(r - 1.0) < 0.01:
        return 1.0
    return None


def near_zero_pre_period(values, pre, post, ratio: float = NEAR_ZERO_RATIO) -> str | None:
    """The start of a warning when a series was near zero before its interruption, else None.

    ``values``: the (treated) series; ``pre``/``post``: boolean masks of the periods
    before and after. Near zero means the mean absolute pre-period value is below
    ``ratio`` (5%) of the post-period's, as 52-week waits were before 2020-04. Returns
    ``"the treated series is near zero in the pre-period (mean 125 against 12,400
    after)"``; each design appends what that means for it. Edge cases: missing values
    are ignored; an empty pre- or post-period, or a post-period mean of 0, gives None.
    """
    v = np.asarray(values, dtype=float)
    a = np.abs(v[np.asarray(pre, dtype=bool) & np.isfinite(v)])
    b = np.abs(v[np.asarray(post, dtype=bool) & np.isfinite(v)])
    if not a.size or not b.size:
        return None
    pre_level, post_level = float(a.mean()), float(b.mean())
    if post_level > 0 and pre_level < ratio * post_level:
        return (f"the treated series is near zero in the pre-period (mean {approx(pre_level)} against "
                f"{approx(post_level)} after)")
    return None


def _window(rows: pd.DataFrame, freq: str, start: str | None, end: str | None, metric: str,
            source: str) -> list[pd.Period]:
    # parse each distinct label once (a 566-unit panel has ~32,000 rows but ~75 labels)
    have = sorted(parse_period(p, freq) for p in pd.unique(rows["period"]))
    first = parse_period(start, freq) if start else have[0]
    last = parse_period(end, freq) if end else have[-1]
    if start and first > have[-1]:
        raise ParameterError(f"start {start} is after the last period {format_period(have[-1])} of {metric} "
                             f"in {source}")
    if end and last < have[0]:
        raise ParameterError(f"end {end} is before the first period {format_period(have[0])} of {metric} "
                             f"in {source}")
    return list(pd.period_range(first, last, freq=first.freq))


def unit_panel(table, metric: str, units: Sequence[str], start: str | None = None,
               end: str | None = None) -> pd.DataFrame:
    """Rows of ``metric`` for ``units`` inside the window, with every (unit, period) present.

    Returns columns period, org_code, value, numerator, denominator (NaN where absent).
    Raises ParameterError naming units with no rows at all.

    Computed once per table object and arguments (``TidyTable.memo``); each call gets its own copy.
    """
    units = list(units)
    key = (metric, tuple(units), start, end)
    if not hasattr(table, "memo"):
        return _unit_panel(table, metric, units, start, end)
    return table.memo("unit_panel", key, lambda: _unit_panel(table, metric, units, start, end),
                      maxsize=_MEMO_SIZE).copy()


def _unit_panel(table, metric: str, units: list[str], start: str | None, end: str | None) -> pd.DataFrame:
    rows = table.for_metric(metric)
    present = set(rows["org_code"].unique())
    missing = [u for u in units if u not in present]
    if missing:
        have = sorted(present)
        shown = ", ".join(have[:12]) + (" ..." if len(have) > 12 else "")
        raise ParameterError(f"units {missing} have no rows for metric {metric} in {table.source} "
                             f"(units with data: {shown})")
    rows = rows[rows["org_code"].isin(list(units))]
    periods = _window(rows, table.freq, start, end, metric, table.source)
    labels = [format_period(p) for p in periods]
    idx = pd.MultiIndex.from_product([list(units), labels], names=["org_code", "period"])
    panel = rows.set_index(["org_code", "period"])[["value", "numerator", "denominator"]].reindex(idx)
    return panel.reset_index()


def combine_units(table, metric: str, units: Sequence[str], aggregate: str = "sum",
                  start: str | None = None, end: str | None = None) -> Series:
    """Combine ``units`` of ``metric`` into one series (see the module docstring).

    Computed once per table object and arguments (``TidyTable.memo``); each call gets its own copy.
    """
    units = list(units)
    if not hasattr(table, "memo"):
        return _combine_units(table, metric, units, aggregate, start, end)
    s = table.memo("combine_units", (metric, tuple(units), aggregate, start, end),
                   lambda: _combine_units(table, metric, units, aggregate, start, end), maxsize=_MEMO_SIZE)
    return Series(frame=s.frame.copy(), freq=s.freq, metric=s.metric, units=list(s.units), scale=s.scale,
                  warnings=list(s.warnings))


def _combine_units(table, metric: str, units: list[str], aggregate: str, start: str | None,
                   end: str | None) -> Series:
    panel = unit_panel(table, metric, units, start, end)
    warns: list[str] = []
    info = metric_info(metric)
    rows = table.for_metric(metric)
    scale = infer_scale(rows[rows["org_code"].isin(units)])
    g = panel.groupby("period", sort=False)
    labels = list(dict.fromkeys(panel["period"]))
    n_units = g["value"].count().reindex(labels)
    n_u = len(units)

    def full_sum(col: str) -> pd.Series:
        s = g[col].sum(min_count=1).reindex(labels)
        complete = g[col].count().reindex(labels) == n_u
        return s.where(complete)

    num = full_sum("numerator")
    den = full_sum("denominator")
    if aggregate == "sum":
        value = full_sum("value")
        if info.unit == "%" or info.kind == "proportion":
            warns.append(f"aggregate sum adds the percentages of {metric} across units; use aggregate: ratio "
                         f"to combine numerators and denominators")
    elif aggregate == "mean":
        value = g["value"].mean().reindex(labels).where(n_units == n_u)
    elif aggregate == "ratio":
        if num.notna().sum() == 0 or den.notna().sum() == 0:
            raise ParameterError(f"aggregate ratio needs numerator and denominator columns, but {metric} has "
                                 f"none for units {units} in {table.source}; use sum or mean")
        value = (scale or 1.0) * num / den
    else:
        raise ParameterError(f"aggregate {aggregate!r} is not allowed (sum, mean or ratio)")
    partial = int(((n_units > 0) & (n_units < n_u)).sum())
    if partial and n_u > 1:
        warns.append(f"{partial} period(s) where only some of the units {units} report {metric} are left "
                     f"out (a partial {aggregate} would not be comparable)")
    frame = pd.DataFrame({"period": labels, "value": value.to_numpy(dtype=float),
                          "numerator": num.to_numpy(dtype=float), "denominator": den.to_numpy(dtype=float),
                          "n_units": n_units.to_numpy(dtype=int)})
    return Series(frame=frame, freq=table.freq, metric=metric, units=units, scale=scale, warnings=warns)
