"""Charts of the comparator-aligned design: the system against its expected line, and the event study.

Read in ten seconds: dots are what happened; the dashed line is what the comparators'
month-by-month change says the system would have done without the collaborative (before
formation it shows how well that alignment fits); the shaded band is its interval after
formation. The event study shows the gap itself, month by month, with its placebo interval:
before formation the gaps should hover around zero.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from evallib.text import interval_label
from evallib.text import unit_word
from evallib.metrics import metric_info
from evallib.periods import parse_period
from evallib.plots import palette


def _x(labels) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([parse_period(p).to_timestamp(how="start") for p in labels])


def _axis_format(ax, unit: str, values) -> None:
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    v = np.asarray(values, dtype=float)
    if unit == "%":
        ax.yaxis.set_major_formatter(lambda y, _: f"{y:g}%")
    elif np.isfinite(v).any() and np.nanmax(np.abs(v)) >= 1000:
        ax.yaxis.set_major_formatter(lambda y, _: f"{y:,.0f}".replace("-", "\u2212"))


def _mark_events(ax, result) -> None:
    for i in result.interruptions:
        xi = parse_period(str(i.period)).to_timestamp(how="start")
        main = i.name == result.evaluated.name
        ax.axvline(xi, color=palette.NHS_BLACK if main else palette.NHS_MID_GREY, lw=1.2 if main else 1,
                   ls="-" if main else ":", zorder=2)
        ax.annotate(f"{i.name.replace('_', ' ')} {i.period}", xy=(xi, 1.0 if main else 0.93),
                    xycoords=("data", "axes fraction"), xytext=(3, -2), textcoords="offset points", ha="left",
                    va="top", fontsize=9, fontweight="bold" if main else "normal",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))


def aligned_chart(result, ax=None, title: str | None = None, show_legend: bool = True, alpha: float | None = None):
    """Observed series against the comparator-aligned expected line. Returns ``(fig, ax)``."""
    import matplotlib.pyplot as plt

    palette.apply_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 5.2))
    else:
        fig = ax.figure
    info = metric_info(result.metric)
    cf = result.counterfactual(alpha=alpha)
    x = _x(cf["period"])
    obs = cf["observed"].to_numpy(dtype=float)
    exp_ = cf["counterfactual"].to_numpy(dtype=float)
    iP = result.af.formation
    ax.scatter(x, obs, s=16, color=palette.NHS_BLUE, zorder=3, label="Observed")
    ax.plot(x[:iP], exp_[:iP], color=palette.NHS_MID_GREY, lw=1.6, ls="--", zorder=2,
            label="Expected line before formation (how well the comparators track the system)")
    ax.fill_between(x[iP:], cf["cf_lower"].to_numpy()[iP:], cf["cf_upper"].to_numpy()[iP:],
                    color=palette.NHS_WARM_YELLOW, alpha=0.25, lw=0, zorder=1,
                    label=f"{interval_label(result.alpha if alpha is None else alpha)} of the expected line")
    ax.plot(x[iP:], exp_[iP:], color="#B27A00", lw=2, ls="--", zorder=4,
            label="Expected without the collaborative: the comparators' month-by-month change")
    vals = np.concatenate([obs[np.isfinite(obs)], exp_[np.isfinite(exp_)]])
    lo_c, hi_c = cf["cf_lower"].to_numpy(dtype=float), cf["cf_upper"].to_numpy(dtype=float)
    if vals.size:
        lo, hi = float(vals.min()), float(vals.max())
        span = max(hi - lo, abs(hi) * 0.05, 1e-9)
        ylo, yhi = lo - 0.08 * span, hi + 0.25 * span
        if lo >= 0:
            ylo = max(ylo, 0.0)
        ax.set_ylim(ylo, yhi)
        if np.any((lo_c[iP:] < ylo) | (hi_c[iP:] > yhi)):
            ax.text(0.99, 0.02, "the interval band runs beyond the chart", transform=ax.transAxes, ha="right",
                    va="bottom", fontsize=8.5, color="#B27A00", style="italic")
    _mark_events(ax, result)
    unit = info.unit
    ax.set_ylabel(f"{info.label} ({unit})" if unit else info.label)
    ax.set_title(title or result.title, loc="left")
    _axis_format(ax, unit, vals)
    if show_legend:
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.08), ncol=1, fontsize=9, frameon=False)
    fig.tight_layout()
    if result.synthetic_data:
        palette.stamp_synthetic(fig)
    return fig, ax


def event_study_chart(result, ax=None, title: str | None = None, alpha: float | None = None):
    """Per-period gap (observed minus expected) with its placebo interval. Returns ``(fig, ax)``."""
    import matplotlib.pyplot as plt

    palette.apply_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4.2))
    else:
        fig = ax.figure
    info = metric_info(result.metric)
    es = result.event_study(alpha)
    x = _x(es["period"])
    pre = (es["phase"] == "pre").to_numpy()
    ax.fill_between(x, es["lower"], es["upper"], color=palette.NHS_MID_GREY, alpha=0.25, lw=0,
                    label=f"{interval_label(result.alpha if alpha is None else alpha)} from placebo systems")
    ax.plot(x[pre], es["gap"][pre], color=palette.NHS_DARK_GREY, lw=1.5, marker="o", ms=2.5,
            label="Gap before formation (should hover around zero)")
    ax.plot(x[~pre], es["gap"][~pre], color=palette.NHS_DARK_BLUE, lw=2, marker="o", ms=3,
            label="Gap after formation: the estimated effect")
    ax.axhline(0, color=palette.NHS_BLACK, lw=0.8)
    # y range from the gaps (and the band where it is of the same order), so a wide placebo band
    # cannot flatten the gaps into a line at zero; a clipped band says so
    g = es["gap"].to_numpy(dtype=float)
    top = float(np.nanmax(np.abs(g))) if np.isfinite(g).any() else 1.0
    band = np.abs(es[["lower", "upper"]].to_numpy(dtype=float))
    lim = max(top, float(np.nanquantile(band, 0.5)) if np.isfinite(band).any() else 0.0) * 1.35 or 1.0
    ax.set_ylim(-lim, lim)
    if np.nanmax(band) > lim:
        ax.text(0.99, 0.97, "the interval band runs beyond the chart", transform=ax.transAxes, ha="right",
                va="top", fontsize=8.5, color=palette.NHS_DARK_GREY, style="italic")
    _mark_events(ax, result)
    pt = result.pre_trend_test
    ax.set_title(title or f"{result.title}: observed minus expected, {unit_word(result.freq)} by "
                 f"{unit_word(result.freq)}", loc="left")
    ax.text(0.01, 0.04, f"pre-formation test ({pt['leads']} {unit_word(result.freq)}s before): placebo p = "
            f"{pt['p']:.2f}", transform=ax.transAxes, fontsize=8.5, color=palette.NHS_DARK_GREY,
            bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
    unit = info.unit
    ax.set_ylabel(f"gap ({unit})" if unit else "gap")
    _axis_format(ax, unit, es["gap"])
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.1), ncol=1, fontsize=9, frameon=False)
    fig.tight_layout()
    if result.synthetic_data:
        palette.stamp_synthetic(fig)
    return fig, ax
