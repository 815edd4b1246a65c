"""Board-pack charts: the forest plot of all effects and the trusts as small multiples.

Both return ``(fig, ax)`` / ``(fig, axes)``, use the NHS palette and stamp
SYNTHETIC DATA on figures drawn from the demo table.
"""
from __future__ import annotations

import math

from evallib.text import verdict as _verdict
from evallib.plots import palette

#: colours of a forest-plot row by what its interval says
VERDICT_COLOURS = {"improvement": palette.NHS_GREEN, "deterioration": palette.NHS_RED,
                   "unclear": palette.NHS_MID_GREY, "no direction": palette.NHS_BLUE}


def verdict(lower: float, upper: float, improvement: str) -> str:
    """The one verdict rule of the suite (:func:`evallib.its.base.verdict`) on an absolute interval;
    missing bounds give ``unclear``."""
    if lower is None or upper is None:
        return "unclear"
    return _verdict(float(lower), float(upper), improvement)


def forest_plot(rows, *, xlabel: str = "Change against expected without the collaborative (%)",
                title: str | None = None, synthetic: bool = False, ax=None):
    """Forest plot: one row per analysis, point estimate and interval.

    ``rows``: DataFrame (or list of dicts) with ``label``, ``estimate``, ``lower``,
    ``upper`` and ``improvement`` (increase/decrease/neutral). Rows with a missing
    estimate are drawn as a "no estimate" label. Order is kept, top to bottom.
    """
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.lines import Line2D

    palette.apply_style()
    df = pd.DataFrame(rows).reset_index(drop=True)
    n = len(df)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 1.0 + 0.48 * max(n, 1)))
    else:
        fig = ax.figure
    ys = list(range(n))[::-1]
    for y, (_, r) in zip(ys, df.iterrows()):
        est, lo, hi = r.get("estimate"), r.get("lower"), r.get("upper")
        if est is None or (isinstance(est, float) and math.isnan(est)):
            ax.text(0, y, "no estimate", va="center", ha="center", color=palette.NHS_MID_GREY, fontsize=10)
            continue
        v = r.get("verdict")
        if not isinstance(v, str) or v not in VERDICT_COLOURS:
            v = verdict(lo, hi, r.get("improvement", "neutral"))
        colour = VERDICT_COLOURS[v]
        ax.plot([lo, hi], [y, y], color=colour, linewidth=2.6, solid_capstyle="butt")
        ax.plot([est], [y], marker="o", markersize=8, color=colour)
    ax.axvline(0, color=palette.NHS_BLACK, linewidth=1)
    ax.set_yticks(ys)
    ax.set_yticklabels(list(df["label"]) if n else [])
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    if title:
        ax.set_title(title, loc="left")
    handles = [Line2D([0], [0], color=c, marker="o", linewidth=2.6, label=k)
               for k, c in VERDICT_COLOURS.items() if k != "no direction" or (df.get("improvement") == "neutral").any()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 1.2 / max(n, 3) / 3),
              ncol=len(handles), fontsize=10)
    fig.tight_layout()
    if synthetic:
        palette.stamp_synthetic(fig)
    return fig, ax


def small_multiples(frame, *, unit_col: str = "org_code", name_col: str | None = "org_name",
                    period_col: str = "period", value_col: str = "value", interruptions=(),
                    unit_label: str = "", title: str | None = None, synthetic: bool = False, ncols: int = 2):
    """One small panel per unit (e.g. the four trusts), same x axis, own y scale.

    ``frame``: long table with a unit, a period label and a value column.
    ``interruptions``: ``[(name, period_label), ...]`` drawn as dashed vertical lines.
    Units with no data get an empty panel saying so.
    """
    import matplotlib.pyplot as plt

    from evallib.periods import parse_period

    palette.apply_style()
    units = list(dict.fromkeys(frame[unit_col]))
    n = max(len(units), 1)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 3.0 * nrows), sharex=True, squeeze=False)
    flat = axes.ravel()
    for ax, unit in zip(flat, units):
        sub = frame[frame[unit_col] == unit].copy()
        sub["_t"] = [parse_period(p).to_timestamp() for p in sub[period_col]]
        sub = sub.sort_values("_t")
        name = unit
        if name_col and name_col in sub and sub[name_col].notna().any():
            name = f"{sub[name_col].dropna().iloc[0]} ({unit})"
        ax.plot(sub["_t"], sub[value_col], color=palette.NHS_BLUE, linewidth=1.6)
        for iname, date in interruptions:
            ax.axvline(parse_period(date).to_timestamp(), color=palette.NHS_DARK_GREY,
                       linestyle="--", linewidth=1)
        ax.set_title(name, fontsize=11, loc="left")
        if unit_label:
            ax.set_ylabel(unit_label)
        if sub[value_col].notna().sum() == 0:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color=palette.NHS_MID_GREY)
    for ax in flat[len(units):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    fig.tight_layout()
    if interruptions:
        names = ", ".join(f"{n} {d}" for n, d in interruptions)
        fig.text(0.01, 0.0, f"Dashed lines: {names}", fontsize=9, color=palette.NHS_DARK_GREY)
    if synthetic:
        palette.stamp_synthetic(fig)
    return fig, axes


__all__ = ["forest_plot", "small_multiples", "verdict", "VERDICT_COLOURS"]
