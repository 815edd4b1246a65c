"""Board-pack charts: the forest plot of all effects and the trusts as small multiples.

Both return ``(fig, ax)`` / ``(fig, axes)``, use the NHS palette and stamp
SYNTHETIC DATA on figures drawn from the demo table.
"""
from __future__ import annotations

import math

import numpy as np

from evallib.text import verdict as _verdict
from evallib.plots import palette

#: colours of a forest-plot row (and the index badges) by verdict. "No direction" is the
#: MDC purple of "neither" (not blue, which in the MDC icons means improvement).
VERDICT_COLOURS = {"improvement": palette.NHS_GREEN, "deterioration": palette.NHS_RED,
                   "unclear": palette.NHS_MID_GREY, "no direction": palette.MDC_NEUTRAL}
#: how the forest plot's legend names each verdict
VERDICT_LEGEND = {"improvement": "better than expected", "deterioration": "worse than expected",
                  "unclear": "unclear", "no direction": "changed (no preferred direction)"}


def verdict(lower: float, upper: float, improvement: str) -> str:
    """The one verdict rule of the suite (:func:`evallib.its.base.verdict`) on an absolute interval;
    missing bounds give ``unclear``."""
    if lower is None or upper is None:
        return "unclear"
    return _verdict(float(lower), float(upper), improvement)


def _isnan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def forest_plot(rows, *, xlabel: str = "Change against expected without the collaborative (%)",
                title: str | None = None, synthetic: bool = False, ax=None, clip: float | None = None,
                better_right: bool = False):
    """Forest plot: one row per analysis, point estimate and interval; with
    ``better_right=True`` (the pack index) on a "worse ←→ better" axis.

    ``rows``: DataFrame (or list of dicts) with ``label``, ``estimate``, ``lower``,
    ``upper``, ``improvement`` (increase/decrease/neutral) and optionally ``verdict`` and
    ``failed_checks``. With ``better_right``, for a lower-is-better measure the signs are
    flipped (and the row says so), so that right is always better; a neutral measure keeps
    its sign (right is higher); "← worse" and "better →" are written under the axis. A
    row with failed checks is drawn hollow and marked "checks failed". With
    ``better_right`` the axis is cut at ``clip`` (default: 1.5 × the largest |estimate|,
    at least 25 and at most 150 percentage points; without it, only when ``clip`` is
    given) and an interval running beyond it ends in an arrow with
    its bound written beside it, so a clipped band says so; an estimate beyond it is a
    triangle at the edge with its value written beside it. Rows with a missing estimate
    are drawn as a "no estimate" label. Order is kept, top to bottom. The legend sits
    above the axes, so it never meets the x-axis label.
    """
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.lines import Line2D

    palette.apply_style()
    df = pd.DataFrame(rows).reset_index(drop=True)
    n = len(df)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 1.7 + 0.5 * max(n, 1)))
    else:
        fig = ax.figure
    ests = [abs(float(e)) for e in df.get("estimate", []) if not _isnan(e)]
    if clip is None:
        clip = min(150.0, max(25.0, 1.5 * max(ests, default=0.0))) if better_right else math.inf
    ys = list(range(n))[::-1]
    labels, notes, present = [], [], []
    for y, (_, r) in zip(ys, df.iterrows()):
        imp = r.get("improvement", "neutral")
        flip = -1.0 if (better_right and imp == "decrease") else 1.0
        failed = [c for c in (r.get("failed_checks") or []) if c] if isinstance(r.get("failed_checks"), list) else []
        labels.append(wrap_label(str(r["label"]), 34))
        notes.append("; ".join(x for x in ("lower is better: sign flipped" if flip < 0 else "",
                                            "\u26a0 checks failed" if failed else "") if x))
        est, lo, hi = r.get("estimate"), r.get("lower"), r.get("upper")
        if _isnan(est):
            ax.text(0, y, "no estimate", va="center", ha="center", color=palette.NHS_MID_GREY, fontsize=10)
            continue
        v = r.get("verdict")
        if not isinstance(v, str) or v not in VERDICT_COLOURS:
            v = verdict(lo, hi, imp)
        present.append(v)
        colour = VERDICT_COLOURS[v]
        e = flip * float(est)
        a_, b_ = sorted((flip * float(lo), flip * float(hi))) if not (_isnan(lo) or _isnan(hi)) else (e, e)
        ca, cb = max(a_, -clip), min(b_, clip)
        ax.plot([ca, cb], [y, y], color=colour, linewidth=2.6, solid_capstyle="butt")
        for bound, cut, side in ((a_, ca, -1), (b_, cb, 1)):
            if bound != cut:        # clipped: an arrow and the bound, so the band says so
                ax.annotate("", xy=(side * clip * 1.04, y), xytext=(cut - side * 0.01, y),
                            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 2.0})
                ax.text(side * clip * 1.06, y + 0.18, f"{bound:+.0f}%".replace("-", "\u2212"),
                        ha="left" if side > 0 else "right", va="bottom", fontsize=8.5, color=colour)
        ec = max(-clip, min(clip, e))
        off = ec != e           # the estimate itself is beyond the axis: a triangle at the edge, and its value
        ax.plot([ec], [y], marker=(">" if e > 0 else "<") if off else "o", markersize=9 if off else 8,
                color=colour, markerfacecolor="white" if failed else colour, markeredgewidth=2)
        if off:
            ax.text(ec - np.sign(e) * clip * 0.03, y - 0.22,
                    f"estimate {e:+.0f}% (off the chart)".replace("-", "\u2212"),
                    ha="right" if e > 0 else "left", va="top", fontsize=8.5, color=colour)
    ax.axvline(0, color=palette.NHS_BLACK, linewidth=1)
    if math.isfinite(clip):
        ax.set_xlim(-clip * 1.25, clip * 1.25)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels if n else [], fontsize=9.5)
    for y, note, lab in zip(ys, notes, labels):
        if note:    # under the row's label, in the left margin
            ax.annotate(note, xy=(0, y), xycoords=("axes fraction", "data"), xytext=(-8, -7 - 5.5 * lab.count("\n")),
                        textcoords="offset points", ha="right", va="top", fontsize=8, style="italic",
                        color=palette.NHS_DARK_GREY, annotation_clip=False)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(xlabel)
    # the "better" side: on its own line under the x-axis label, at each end of the axis
    from matplotlib.transforms import offset_copy

    below = offset_copy(ax.transAxes, fig=fig, y=-44, units="points")
    if better_right:
        ax.text(1.0, 0.0, "better \u2192", transform=below, ha="right", va="top", fontsize=10,
                fontweight="bold", color=palette.NHS_GREEN)
        ax.text(0.0, 0.0, "\u2190 worse", transform=below, ha="left", va="top", fontsize=10,
                fontweight="bold", color=palette.NHS_RED)
    ax.grid(axis="y", visible=False)
    if title:
        ax.set_title(title, loc="left", pad=34)
    kinds = [k for k in VERDICT_COLOURS if k in present or k in ("improvement", "deterioration", "unclear")]
    handles = [Line2D([0], [0], color=VERDICT_COLOURS[k], marker="o", linewidth=2.6, label=VERDICT_LEGEND[k])
               for k in kinds]
    if any("checks failed" in note for note in notes):
        handles.append(Line2D([0], [0], color=palette.NHS_MID_GREY, marker="o", markerfacecolor="white",
                              markeredgewidth=2, linewidth=0, label="checks failed"))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(handles), fontsize=9.5,
              frameon=False, borderaxespad=0.3)
    fig.tight_layout()
    if synthetic:
        # top right: the bottom right carries "better ->" under the axis
        fig.text(0.99, 0.995, palette.SYNTHETIC_LABEL, ha="right", va="top", fontsize=9, fontweight="bold",
                 color=palette.NHS_RED, alpha=0.9)
    return fig, ax


#: words kept in capitals when an upper-case organisation name is put in title case
_KEEP_UPPER = {"NHS", "UK", "ENT", "GP", "ICB", "ICS", "CIC", "LLP", "PLC", "LTD", "II", "III"}
_SMALL_WORDS = {"of", "and", "the", "for", "in", "on", "at", "with", "to", "by"}


def org_title(name: str) -> str:
    """An organisation name as a reader writes it: ``THE DUDLEY GROUP NHS FOUNDATION TRUST`` ->
    ``The Dudley Group NHS Foundation Trust``; ``WALSALL HEALTHCARE NHS TRUST`` -> ``Walsall
    Healthcare NHS Trust``. Names already in mixed case are kept as given."""
    name = " ".join(str(name).split())
    if not name or name != name.upper():
        return name
    words = []
    for i, w in enumerate(name.split(" ")):
        bare = w.strip("(),.&'")
        if bare in _KEEP_UPPER:
            words.append(w)
        elif i and w.lower() in _SMALL_WORDS:
            words.append(w.lower())
        else:
            words.append("-".join(p[:1].upper() + p[1:].lower() for p in w.split("-")))
    return " ".join(words)


def wrap_label(text: str, width: int) -> str:
    """``text`` wrapped onto lines of at most ``width`` characters (words are not broken)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False)) or text


def small_multiples(frame, *, unit_col: str = "org_code", name_col: str | None = "org_name",
                    period_col: str = "period", value_col: str = "value", interruptions=(),
                    unit_label: str = "", title: str | None = None, synthetic: bool = False, ncols: int = 2,
                    note: str | None = None):
    """One small panel per unit (e.g. the four trusts), same x axis, own y scale.

    ``frame``: long table with a unit, a period label and a value column.
    ``interruptions``: ``[(name, period_label), ...]`` drawn as dashed vertical lines.
    Units with no data get an empty panel saying so. Panel titles are the organisation
    names in title case (:func:`org_title`) with the code, wrapped to the panel width.
    ``note`` (e.g. the disclosure-control note) is printed under the panels.
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
            name = f"{org_title(sub[name_col].dropna().iloc[0])} ({unit})"
        name = wrap_label(name, width=int(46 * 2 / ncols))
        ax.plot(sub["_t"], sub[value_col], color=palette.NHS_BLUE, linewidth=1.6)
        for iname, date in interruptions:
            ax.axvline(parse_period(date).to_timestamp(), color=palette.NHS_DARK_GREY,
                       linestyle="--", linewidth=1)
        ax.set_title(name, fontsize=11, loc="left")
        if unit_label:
            ax.set_ylabel(unit_label)
        if sub[value_col].notna().sum() == 0:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color=palette.NHS_MID_GREY)
        elif sub[value_col].min() >= 0:
            ax.set_ylim(bottom=0)       # counts and percentages from zero: a flat run is not magnified
    for ax in flat[len(units):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    fig.tight_layout(rect=(0, 0.04 if (interruptions or note) else 0, 1, 1))
    foot = []
    if interruptions:
        foot.append("Dashed lines: " + ", ".join(f"{n.replace('_', ' ')} {d}" for n, d in interruptions) + ".")
    if note:
        foot.append(note)
    if foot:
        fig.text(0.01, 0.005, wrap_label("  ".join(foot), 150), fontsize=9, color=palette.NHS_DARK_GREY,
                 va="bottom")
    if synthetic:
        palette.stamp_synthetic(fig)
    return fig, axes


__all__ = ["forest_plot", "small_multiples", "verdict", "VERDICT_COLOURS", "VERDICT_LEGEND", "org_title", "wrap_label"]
