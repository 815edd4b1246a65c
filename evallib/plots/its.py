"""ITS chart: observed points, fitted line, counterfactual with its band, interruptions.

Read in ten seconds by a board member:

- dots are what happened (hollow grey dots were left out of the fit: excluded,
  transition or wash-out periods);
- the solid blue line is the model's fit, drawn segment by segment so that jumps at
  interruptions show as jumps;
- the dashed line and shaded band show what the trend before the interruption
  predicts from that date on (the counterfactual and its interval);
- vertical lines mark the interruptions, labelled with their names and dates;
- a SYNTHETIC DATA stamp when the data are the demo table.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from evallib.text import unit_word
from evallib.metrics import metric_info
from evallib.periods import format_period, parse_period
from evallib.plots import palette

logger = logging.getLogger(__name__)


def _nanrange(*arrays) -> tuple[float, float]:
    vals = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    vals = vals[np.isfinite(vals)]
    return (float(vals.min()), float(vals.max())) if len(vals) else (0.0, 1.0)


def _x(labels) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([parse_period(p).to_timestamp(how="start") for p in labels])


def its_chart(result, ax=None, interruption: str | None = None, title: str | None = None,
              show_legend: bool = True):
    """Draw ``result`` (an ITSResult). The counterfactual is that of ``interruption``
    (default the last). Returns ``(fig, ax)``."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    palette.apply_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 5.2))
    else:
        fig = ax.figure
    info = metric_info(result.metric)
    intr = result._interruption(interruption)
    cf = result.counterfactual(intr.name)
    x = _x(cf["period"])
    fit_mask = cf["in_fit"].to_numpy()
    obs = cf["observed"].to_numpy(dtype=float)

    ax.scatter(x[fit_mask], obs[fit_mask], s=16, color=palette.NHS_BLUE, zorder=3, label="Observed")
    if (~fit_mask & np.isfinite(obs)).any():
        ax.scatter(x[~fit_mask], obs[~fit_mask], s=16, facecolors="white", edgecolors=palette.NHS_MID_GREY,
                   zorder=3, label="Observed, not used in the fit")

    # fitted line, one segment per interruption so the level changes show as steps
    cuts = [0] + [result.rows.index_of(format_period(i.period)) for i in result.interruptions] + [len(cf)]
    cuts = sorted({c for c in cuts if c is not None})
    fitted = cf["fitted"].to_numpy(dtype=float)
    for k in range(len(cuts) - 1):
        a, b = cuts[k], cuts[k + 1]
        ax.plot(x[a:b], fitted[a:b], color=palette.NHS_DARK_BLUE, lw=2.2, zorder=4,
                label="Model fit" if k == 0 else None)

    iP = result.rows.index_of(format_period(intr.period))
    sl = slice(iP, None)
    nice = intr.name.replace("_", " ")
    ax.fill_between(x[sl], cf["cf_lower"].to_numpy()[sl], cf["cf_upper"].to_numpy()[sl],
                    color=palette.NHS_WARM_YELLOW, alpha=0.25, lw=0, zorder=1,
                    label=f"{100 * (1 - result.alpha):g}% interval of the expected line")
    ax.plot(x[sl], cf["counterfactual"].to_numpy()[sl], color="#B27A00", lw=2, ls="--", zorder=4,
            label=f"Expected if the trend before {nice} had continued")

    # y range from what was observed and fitted (plus a credible counterfactual), so an
    # exploding extrapolation cannot flatten the data into a line at zero
    lo, hi = _nanrange(obs, fitted)
    span = max(hi - lo, abs(hi) * 0.05, 1e-9)
    cfv = cf["counterfactual"].to_numpy(dtype=float)[sl]
    if info.unit == "%":  # a percentage is bounded: show all of its counterfactual
        clo, chi = _nanrange(np.clip(cfv, 0.0, 100.0))
    else:
        clo, chi = _nanrange(np.clip(cfv, lo - 0.5 * span, hi + 0.5 * span))
    lo, hi = min(lo, clo), max(hi, chi)
    span = max(hi - lo, abs(hi) * 0.05, 1e-9)
    ylo, yhi = lo - 0.08 * span, hi + 0.22 * span
    if lo >= 0 and ylo < 0:
        ylo = 0.0 if lo - 0.08 * span < 0 else ylo
    ax.set_ylim(ylo, yhi)
    if np.any((cfv < ylo) | (cfv > yhi)):
        ax.text(0.99, 0.02, "the expected line leaves the chart: the earlier trend does not extrapolate credibly",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8.5, color="#B27A00", style="italic")

    # the estimated effect at the latest reported horizon, as a labelled arrow
    eff = result.effects()
    eff = eff[eff["interruption"] == intr.name]
    if len(eff):
        e = eff.iloc[-1]
        i = result.rows.index_of(e["period"])
        xe = x[i]
        if np.isfinite(e["fitted"]) and np.isfinite(e["counterfactual"]) and \
                ylo <= e["counterfactual"] <= yhi and ylo <= e["fitted"] <= yhi:
            ax.annotate("", xy=(xe, e["fitted"]), xytext=(xe, e["counterfactual"]),
                        arrowprops=dict(arrowstyle="->", color=palette.NHS_BLACK, lw=1.4), zorder=5)
            if info.unit == "%" or not np.isfinite(e["relative"]):
                txt = f"{e['absolute']:+.1f}{' pts' if info.unit == '%' else ''}"
            else:
                txt = f"{100 * e['relative']:+.0f}%"
            h = int(e["horizon"])
            when = f"after {h} {unit_word(result.freq)}{'s' if h != 1 else ''}"
            ax.annotate(f"effect {txt}\n{when}", xy=(xe, (e["fitted"] + e["counterfactual"]) / 2), xytext=(6, 0),
                        textcoords="offset points", va="center", fontsize=9, fontweight="bold",
                        color=palette.NHS_BLACK, zorder=6,
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8))

    x0, x1 = mdates.date2num(x[0]), mdates.date2num(x[-1])
    last_x = None
    row = 0
    for i in result.interruptions:
        xi = parse_period(format_period(i.period)).to_timestamp(how="start")
        main = i.name == intr.name
        ax.axvline(xi, color=palette.NHS_BLACK if main else palette.NHS_MID_GREY, lw=1.2 if main else 1,
                   ls="-" if main else ":", zorder=2)
        xn = mdates.date2num(xi)
        row = row + 1 if last_x is not None and (xn - last_x) < 0.12 * (x1 - x0) else 0
        last_x = xn
        ax.annotate(f"{i.name.replace('_', ' ')} {format_period(i.period)}", xy=(xi, 1.0 - 0.065 * row),
                    xycoords=("data", "axes fraction"), xytext=(3, -2), textcoords="offset points",
                    ha="left", va="top", fontsize=9, color=palette.NHS_BLACK if main else palette.NHS_DARK_GREY,
                    fontweight="bold" if main else "normal",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))

    unit = info.unit
    ax.set_ylabel(f"{info.label} ({unit})" if unit else info.label)
    ax.set_title(title or (info.label if result.title == result.metric else result.title), loc="left")
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    if unit == "%":
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:g}%")
    elif unit in ("patients", "attendances") or (np.nanmax(np.abs(obs)) if np.isfinite(obs).any() else 0) >= 1000:
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    if show_legend:
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.08), ncol=2, fontsize=9)
    fig.tight_layout()
    if result.synthetic_data:
        palette.stamp_synthetic(fig)
    return fig, ax
