"""Data-quality summary for board pages: coverage, missing or suppressed months, outliers.

- :func:`summarise_metric` looks at one metric for the units of an analysis over the
  analysis window and returns a :class:`QualitySummary` (a per-unit table plus
  plain-English flags).
- :func:`coverage_matrix` (drawn by :func:`evallib.plots.quality.coverage_heatmap`): share of expected periods with
  a value, by unit and metric (the ``data_quality`` notebook).

Definitions (edge cases):

- **Expected periods** run from ``start`` to ``end`` (the params window; by default
  the first and last period of the metric in the table, over all units).
- **Missing** = an expected period with no row for the unit; **suppressed** = a row
  whose value is missing (NHS suppression marks ``*``/``-``/blank become NaN when
  the table is loaded). Both count against coverage.
- **Outlier** = a value whose distance from the centred rolling median of 7 points
  exceeds 4 robust standard deviations (1.4826 × MAD of those distances over the
  series) *and* 10% of that median (so that smooth series with tiny noise do not
  flag every bend). When that MAD is 0 (a flat series), the 10% rule alone applies
  and ``z`` is reported as infinite. Flagged, never removed. Fewer than 8 observed points: no outlier check.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evallib.periods import format_period, parse_period

OUTLIER_Z = 4.0
OUTLIER_REL = 0.10


@dataclass
class QualitySummary:
    metric: str
    start: str
    end: str
    expected: int
    table: pd.DataFrame                 # one row per unit: org_code, org_name, expected, observed,
                                        #   missing, suppressed, coverage_pct, outliers, first_gap
    outliers: pd.DataFrame              # org_code, period, value, median, z
    flags: list[str] = field(default_factory=list)

    @property
    def coverage_pct(self) -> float:
        exp = self.table["expected"].sum()
        return float(100 * self.table["observed"].sum() / exp) if exp else float("nan")

    def to_markdown(self) -> str:
        """Short markdown for a board page: one sentence and the flags."""
        lines = [f"Data from {self.start} to {self.end}: {self.coverage_pct:.1f}% of the expected "
                 f"{self.expected} months per trust have a value."]
        lines += [f"- {f}" for f in self.flags] or ["- No gaps, suppressed values or outliers were found."]
        return "\n".join(lines)


def _expected_periods(start: str, end: str) -> list[str]:
    a, b = parse_period(start), parse_period(end)
    return [format_period(p) for p in pd.period_range(a, b, freq=a.freq)]


def _ranges(labels: list[str], all_labels: list[str]) -> list[str]:
    """Compress sorted period labels into ``A`` / ``A to B`` runs (consecutive in all_labels)."""
    pos = {p: i for i, p in enumerate(all_labels)}
    out, run = [], []
    for lab in labels:
        if run and pos[lab] == pos[run[-1]] + 1:
            run.append(lab)
        else:
            if run:
                out.append(run[0] if len(run) == 1 else f"{run[0]} to {run[-1]}")
            run = [lab]
    if run:
        out.append(run[0] if len(run) == 1 else f"{run[0]} to {run[-1]}")
    return out


#: at most this many periods or ranges are named in a flag; the rest are counted ("and 2 more")
LIST_MAX = 6


def listing(items: list[str], limit: int = LIST_MAX) -> str:
    """``a, b and c``; beyond ``limit`` items the rest are counted: ``a, b, c and 2 more``.

    Every count in a flag agrees with what it lists: the items named plus "N more".
    """
    items = [str(i) for i in items]
    if len(items) <= limit:
        return items[0] if len(items) == 1 else (", ".join(items[:-1]) + " and " + items[-1] if items else "")
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def find_outliers(values: pd.Series) -> pd.DataFrame:
    """Robust outliers of one ordered series (index = period labels); see the module docstring."""
    v = values.dropna()
    if len(v) < 8:
        return pd.DataFrame(columns=["period", "value", "median", "z"])
    med = v.rolling(7, center=True, min_periods=3).median()
    resid = (v - med).dropna()
    mad = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826
    rel = (v - med).abs() > OUTLIER_REL * med.abs()
    if mad > 0:
        z = (v - med) / mad
        hit = (z.abs() > OUTLIER_Z) & rel
    else:  # most points sit on their median: any clear departure is unusual
        z = (v - med).where(rel, 0.0) * np.inf
        hit = rel
    return pd.DataFrame({"period": v.index[hit], "value": v[hit].to_numpy(),
                         "median": med[hit].to_numpy(), "z": z[hit].to_numpy()})


def summarise_metric(table, metric: str, units: list[str], start: str | None = None,
                     end: str | None = None) -> QualitySummary:
    """Coverage, missing/suppressed months and outliers of ``metric`` for ``units``."""
    frame = table.frame if hasattr(table, "frame") else table
    f = frame[frame["metric"] == metric]
    allp = sorted(f["period"].unique(), key=parse_period)
    start = start or (allp[0] if allp else None)
    end = end or (allp[-1] if allp else None)
    if start is None:
        empty = pd.DataFrame(columns=["org_code", "org_name", "expected", "observed", "missing",
                                      "suppressed", "coverage_pct", "outliers", "gaps"])
        return QualitySummary(metric, "", "", 0, empty, pd.DataFrame(),
                              [f"{metric} has no rows in the table."])
    expected = _expected_periods(start, end)
    exp_set = set(expected)
    rows, outl, flags = [], [], []
    names = {}
    if "org_name" in f:
        nm = f.dropna(subset=["org_name"]).drop_duplicates("org_code")
        names = dict(zip(nm["org_code"], nm["org_name"]))
    for u in units:
        g = f[(f["org_code"] == u) & f["period"].isin(exp_set)]
        present = set(g["period"])
        missing = [p for p in expected if p not in present]
        suppressed = sorted(g.loc[g["value"].isna(), "period"], key=parse_period)
        observed = int(g["value"].notna().sum())
        series = g.set_index("period")["value"].reindex(expected)
        o = find_outliers(series)
        o.insert(0, "org_code", u)
        outl.append(o)
        gaps = _ranges(sorted(set(missing) | set(suppressed), key=parse_period), expected)
        rows.append({"org_code": u, "org_name": names.get(u, ""), "expected": len(expected),
                     "observed": observed, "missing": len(missing), "suppressed": len(suppressed),
                     "coverage_pct": round(100 * observed / len(expected), 1) if expected else np.nan,
                     "outliers": len(o), "gaps": listing(gaps)})
        if not present:
            flags.append(f"{u}: no data for {metric} between {start} and {end}.")
            continue
        if missing:
            flags.append(f"{u}: {len(missing)} month(s) missing "
                         f"({listing(_ranges(missing, expected))}).")
        if suppressed:
            flags.append(f"{u}: {len(suppressed)} value(s) suppressed or blank in the source "
                         f"({listing(_ranges(suppressed, expected))}); they are left out, never read as zero.")
        if len(o):
            flags.append(f"{u}: {len(o)} unusual value(s) ({listing(list(o['period'].astype(str)))}); "
                         f"kept in the analysis, check them against the source.")
    tab = pd.DataFrame(rows)
    outliers = pd.concat(outl, ignore_index=True) if outl else pd.DataFrame()
    return QualitySummary(metric, start, end, len(expected), tab, outliers, flags)


def coverage_matrix(table, metrics: list[str] | None = None, units: list[str] | None = None,
                    start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """Percentage of expected periods with a value: rows = units, columns = metrics.

    Each metric's expected periods run over its own span in the table (or
    ``start``..``end``). Units with no rows for a metric get 0.
    """
    frame = table.frame if hasattr(table, "frame") else table
    metrics = metrics or sorted(frame["metric"].unique())
    units = units or sorted(frame["org_code"].unique())
    out = pd.DataFrame(index=pd.Index(units, name="org_code"), columns=metrics, dtype=float)
    for m in metrics:
        f = frame[frame["metric"] == m]
        allp = sorted(f["period"].unique(), key=parse_period)
        if not allp:
            out[m] = 0.0
            continue
        expected = set(_expected_periods(start or allp[0], end or allp[-1]))
        obs = f[f["period"].isin(expected) & f["value"].notna()].groupby("org_code")["period"].nunique()
        out[m] = (100 * obs.reindex(units).fillna(0) / len(expected)).round(1).to_numpy()
    return out


__all__ = ["QualitySummary", "summarise_metric", "listing", "LIST_MAX",
           "find_outliers", "coverage_matrix"]
