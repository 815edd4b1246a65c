"""Making Data Count charts and icons, drawn with matplotlib in the MDC colours.

- :func:`spc_chart` draws an :class:`evallib.spc.SPCResult`: the points coloured by
  type (improvement, concern, neither, common cause), the mean and process limits
  of each rebase group (trial limits dotted), rebase lines, the target, labels at
  the right-hand end of each line, a legend, and the variation and assurance
  icons in the top-right corner.
- :func:`icon_png` and :func:`icon_data_uri` draw the variation icons
  (:data:`evallib.spc.VARIATIONS`) and assurance icons (:data:`evallib.spc.ASSURANCES`)
  in the style of the MDC icons. They are drawn here from circles, dots and letters;
  no image is copied from any package.
"""
from __future__ import annotations

import base64
import functools
import io
import logging

import numpy as np

from evallib.periods import format_period, parse_period
from evallib.plots.palette import (
    MDC_COMMON_CAUSE, MDC_CONCERN, MDC_IMPROVEMENT, MDC_NEUTRAL, MDC_TARGET, NHS_BLACK,
    NHS_DARK_GREY, NHS_MID_GREY, apply_style, stamp_synthetic,
)
from evallib.spc import ASSURANCES, VARIATIONS, SPCResult

logger = logging.getLogger(__name__)

__all__ = ["spc_chart", "icon_png", "icon_data_uri", "ICON_KINDS", "POINT_COLOURS"]

#: Every kind :func:`icon_png` can draw: the variation values, then the assurance values.
ICON_KINDS = tuple(VARIATIONS) + tuple(ASSURANCES)

#: Marker colour for each ``point_type``.
POINT_COLOURS = {
    "common_cause": MDC_COMMON_CAUSE,
    "improvement": MDC_IMPROVEMENT,
    "concern": MDC_CONCERN,
    "neither": MDC_NEUTRAL,
}
_POINT_LABELS = {
    "common_cause": "Common cause",
    "improvement": "Improvement",
    "concern": "Concern",
    "neither": "Special cause (neutral)",
}
_ICON_CAPTIONS = {
    "common_cause": "Common cause",
    "improvement_high": "Improvement (high)",
    "improvement_low": "Improvement (low)",
    "concern_high": "Concern (high)",
    "concern_low": "Concern (low)",
    "neither_high": "Special cause (high)",
    "neither_low": "Special cause (low)",
    "pass": "Meets target",
    "fail": "Misses target",
    "hit_and_miss": "Hit and miss",
}
_X_LABEL = {"M": "Month", "Q": "Quarter", "Y": "Year"}
_LIMIT_COLOUR = NHS_DARK_GREY


# ---------------------------------------------------------------------------
# Icons
# ---------------------------------------------------------------------------

def _check_kind(kind) -> str:
    if kind not in ICON_KINDS:
        raise ValueError(f"unknown SPC icon kind {kind!r}; allowed: {', '.join(ICON_KINDS)}")
    return kind


def _icon_colour(kind: str) -> str:
    if kind in ("pass",) or kind.startswith("improvement"):
        return MDC_IMPROVEMENT
    if kind in ("fail",) or kind.startswith("concern"):
        return MDC_CONCERN
    if kind.startswith("neither"):
        return MDC_NEUTRAL
    return MDC_COMMON_CAUSE


def _draw_icon(ax, kind: str, size_pt: float) -> None:
    """Draw one icon in ``ax`` (unit square, equal aspect). ``size_pt``: icon height in points."""
    from matplotlib.patches import Circle

    kind = _check_kind(kind)
    colour = _icon_colour(kind)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.axis("off")
    ring = 0.075 * size_pt
    ax.add_patch(Circle((0.5, 0.5), 0.5 - 0.075 / 2 - 0.01, facecolor="white", edgecolor=colour,
                        linewidth=ring, zorder=1))
    dot = (0.085 * size_pt) ** 2          # scatter size is in points^2
    line_w = max(0.8, 0.03 * size_pt)
    xs = np.linspace(0.24, 0.76, 7)

    if kind in VARIATIONS:
        if kind == "common_cause":
            ys = 0.5 + np.array([0.0, 0.07, -0.06, 0.05, -0.07, 0.06, 0.0])
            ax.plot(xs, ys, color=MDC_COMMON_CAUSE, lw=line_w, zorder=2)
            ax.scatter(xs, ys, s=dot, color=MDC_COMMON_CAUSE, zorder=3, linewidths=0)
            return
        high = kind.endswith("_high")
        letter = "H" if high else "L"
        # mini run: four ordinary points, then three that step away in the signal direction
        base = np.array([0.0, 0.035, -0.03, 0.02, 0.0, 0.0, 0.0])
        step = np.array([0, 0, 0, 0, 0.08, 0.13, 0.17]) * (1 if high else -1)
        y0 = 0.27 if high else 0.45
        ys = y0 + base + step
        ax.plot(xs, ys, color=MDC_COMMON_CAUSE, lw=line_w, zorder=2)
        ax.scatter(xs[:4], ys[:4], s=dot, color=MDC_COMMON_CAUSE, zorder=3, linewidths=0)
        ax.scatter(xs[4:], ys[4:], s=dot, color=colour, zorder=3, linewidths=0)
        ax.text(0.5, 0.67, letter, ha="center", va="center",
                fontsize=0.36 * size_pt, fontweight="bold", color=colour, zorder=4)
        return

    # assurance: a big letter over a mini chart with the target (dashed red)
    letter = {"pass": "P", "fail": "F", "hit_and_miss": "?"}[kind]
    ax.text(0.5, 0.635, letter, ha="center", va="center", fontsize=0.40 * size_pt,
            fontweight="bold", color=colour if kind != "hit_and_miss" else NHS_DARK_GREY, zorder=4)
    target_y = 0.31
    ax.plot([0.2, 0.8], [target_y, target_y], color=MDC_TARGET, lw=max(0.8, 0.03 * size_pt),
            ls=(0, (2, 1.2)), zorder=2)
    xs5 = np.linspace(0.27, 0.73, 5)
    wiggle = np.array([0.0, 0.03, -0.02, 0.03, 0.0])
    if kind == "pass":
        ys = target_y + 0.07 + wiggle * 0.6
    elif kind == "fail":
        ys = target_y - 0.08 + wiggle * 0.6
    else:
        ys = target_y + np.array([0.07, -0.06, 0.06, -0.07, 0.05])
    ax.scatter(xs5, ys, s=dot * 0.8, color=colour if kind != "hit_and_miss" else NHS_DARK_GREY,
               zorder=3, linewidths=0)


@functools.lru_cache(maxsize=64)
def icon_png(kind: str, size: int = 64) -> bytes:
    """PNG bytes (transparent background) of one MDC-style icon, ``size`` × ``size`` pixels.

    ``kind`` is a variation value (``common_cause``, ``improvement_high``,
    ``improvement_low``, ``concern_high``, ``concern_low``, ``neither_high``,
    ``neither_low``) or an assurance value (``pass``, ``fail``, ``hit_and_miss``).
    A None assurance has no icon: check for it before calling.

    Raises ``ValueError`` naming the allowed kinds for anything else, and for a
    ``size`` below 16 pixels. Results are cached.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _check_kind(kind)
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 16:
        raise ValueError(f"icon size {size!r} must be an integer of at least 16 pixels")
    dpi = 100
    fig = Figure(figsize=(size / dpi, size / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.patch.set_alpha(0)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.patch.set_alpha(0)
    _draw_icon(ax, kind, size_pt=size / dpi * 72)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, transparent=True)
    return buf.getvalue()


def icon_data_uri(kind: str, size: int = 64) -> str:
    """``data:image/png;base64,...`` for :func:`icon_png` (same kinds, same errors)."""
    return "data:image/png;base64," + base64.b64encode(icon_png(kind, size)).decode("ascii")


# ---------------------------------------------------------------------------
# Chart
# ---------------------------------------------------------------------------

def _value_label(result: SPCResult, unit: str) -> str:
    """y-axis label: the value column (unless it is just "value") and the unit.

    ``"%"`` -> "Percentage (%)"; ``"£k"`` -> "£ thousands"; a word such as
    ``"patients"`` -> "Patients".
    """
    name = result.value_name
    name = None if name in ("value", "", None) else str(name).replace("_", " ").capitalize()
    unit_text = {"%": "%", "£k": "£ thousands"}.get(unit, unit)
    if name is None:
        if unit == "%":
            return "Percentage (%)"
        if unit_text:
            return unit_text[0].upper() + unit_text[1:]
        return "Value"
    return f"{name} ({unit_text})" if unit_text else name


def _tick_label(label: str, freq: str) -> str:
    p = parse_period(label)
    if freq == "M":
        return p.strftime("%b %Y")
    if freq == "Q":
        return f"Q{p.quarter} {p.year}"
    return str(p.year)


def _decimals(scale: float) -> int:
    """Decimals for labels on a chart whose values reach ``scale`` (one rule per chart)."""
    if not np.isfinite(scale) or scale >= 100:
        return 0
    if scale >= 10:
        return 1
    return 2


def _fmt(v: float, unit: str, decimals: int = 1) -> str:
    """A number for a label: ``85.0%``, ``£1,234k`` or ``1,234`` (other units are on the axis)."""
    if not np.isfinite(v):
        return "n/a"
    s = f"{v:,.{decimals}f}"
    if unit == "%":
        return s + "%"
    if unit == "£k":
        return ("-" if v < 0 else "") + "£" + s.lstrip("-") + "k"
    return s


def _spread_labels(ys: list[float], min_gap: float) -> list[float]:
    """Move label positions apart (keeping their order) so they are ``min_gap`` apart."""
    order = np.argsort(ys)
    pos = np.array(ys, dtype=float)[order]
    for i in range(1, len(pos)):
        if pos[i] - pos[i - 1] < min_gap:
            pos[i] = pos[i - 1] + min_gap
    # re-centre the block so the labels stay near their lines
    shift = (np.array(ys, dtype=float)[order] - pos).mean()
    pos = pos + shift
    out = np.empty_like(pos)
    out[order] = pos
    return list(out)


def spc_chart(result: SPCResult, *, title: str | None = None, unit: str = "", ax=None,
              synthetic: bool = False):
    """Draw an MDC XmR chart of ``result`` and return ``(fig, ax)``.

    - Points are coloured by ``point_type``: improvement #00B0F0, concern #E46C0A,
      neither #490092, common cause #A6A6A6. Missing values leave a gap.
    - Each rebase group has its own mean (solid) and process limits (dashed; dotted
      and marked "trial" when the group has fewer than 12 points). Rebases are
      vertical dotted lines labelled "Rebased <period>"; a freeze (limits held at
      a baseline because the change is still a trend) is labelled "Limits held
      from <period>" and named in the subtitle.
    - The target, when set, is a dashed #DE1B1B line.
    - The latest mean, limits and target are labelled at the right-hand end.
    - The variation and assurance icons sit above the top-right corner of the axes
      with a short caption.
    - ``unit`` labels the y axis (``"%"`` gives "Percentage (%)" and % in labels).
    - ``synthetic=True`` stamps SYNTHETIC DATA on the figure.

    When ``ax`` is None a new pyplot figure is made (close it when done);
    otherwise the chart is drawn into ``ax`` and the figure layout is left alone.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, MaxNLocator
    from matplotlib.transforms import offset_copy

    apply_style()
    if not isinstance(result, SPCResult):
        raise TypeError(f"spc_chart() needs the SPCResult returned by evallib.spc.xmr(), "
                        f"got {type(result).__name__}")
    pts = result.points
    # x is the number of periods since the first one, so rows absent from the data
    # (not just NaN values) still leave a gap of the right width.
    origin = parse_period(pts["period"].iloc[0])

    def pos(label: str) -> int:
        return (parse_period(label) - origin).n

    x = np.array([pos(label) for label in pts["period"]])
    n = int(x[-1]) + 1
    full_labels = [format_period(origin + k) for k in range(n)]
    own_figure = ax is None
    if own_figure:
        fig, ax = plt.subplots(figsize=(10, 5.4))
        fig.subplots_adjust(left=0.085, right=0.85, top=0.77, bottom=0.18)
    else:
        fig = ax.figure

    values = pts["value"].to_numpy(dtype=float)
    line = np.full(n, np.nan)
    line[x] = values
    ax.plot(np.arange(n), line, color=NHS_MID_GREY, lw=1.3, zorder=2)

    # group lines
    groups = result.groups
    for g in groups.itertuples():
        i0, i1 = pos(g.start), pos(g.end)
        xs = [i0 - 0.4, i1 + 0.4]
        ls_lim = (0, (1.5, 1.8)) if g.trial else (0, (5, 3))
        ax.plot(xs, [g.mean] * 2, color=NHS_BLACK, lw=1.6, zorder=1)
        ax.plot(xs, [g.upl] * 2, color=_LIMIT_COLOUR, lw=1.3, ls=ls_lim, zorder=1)
        ax.plot(xs, [g.lpl] * 2, color=_LIMIT_COLOUR, lw=1.3, ls=ls_lim, zorder=1)
        if g.trial and np.isfinite(g.upl):
            ax.text((i0 + i1) / 2, g.upl, "trial limits", ha="center", va="bottom", fontsize=8,
                    color=_LIMIT_COLOUR, style="italic")
    # Rebase labels: a label closer than ~12% of the axis to the previous one is lifted
    # onto a second line so that labels of nearby dates (COVID-19, formation) never overlap.
    span = max(n, 1)
    last_x, level = None, 0
    marks = sorted([(pos(r), f"Rebased {_tick_label(r, result.freq)}") for r in result.rebase]
                   + [(pos(f), f"Limits held from {_tick_label(f, result.freq)}")
                      for f in getattr(result, "freeze", [])])
    for i, text in marks:
        ax.axvline(i - 0.5, color=NHS_DARK_GREY, lw=1.2, ls=":", zorder=1)
        level = level + 1 if last_x is not None and (i - last_x) < 0.12 * span else 0
        last_x = i
        ax.text(i - 0.5, 1.01 + 0.045 * level, text,
                transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=8.5,
                color=NHS_DARK_GREY)

    if result.target is not None:
        ax.axhline(result.target, color=MDC_TARGET, lw=1.6, ls=(0, (6, 3)), zorder=1)

    # points
    present = []
    for ptype, colour in POINT_COLOURS.items():
        m = (pts["point_type"] == ptype).to_numpy()
        if m.any():
            present.append(ptype)
            size = (36 if ptype == "common_cause" else 52) * (1.0 if n <= 60 else 0.6)
            ax.scatter(x[m], values[m], s=size, color=colour, edgecolors="white", linewidths=0.7,
                       zorder=3)

    # y range: data, limits and target with some headroom
    cand = [values[np.isfinite(values)], groups[["lpl", "upl"]].to_numpy(dtype=float).ravel()]
    if result.target is not None:
        cand.append(np.array([result.target]))
    allv = np.concatenate(cand)
    allv = allv[np.isfinite(allv)]
    lo, hi = float(allv.min()), float(allv.max())
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 1.0)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlim(-0.8, n - 0.2)

    # right-hand labels for the latest group and the target
    dec = _decimals(max(abs(lo), abs(hi)))
    last = groups.iloc[-1]
    labels = [("Upper limit", last["upl"], _LIMIT_COLOUR), ("Mean", last["mean"], NHS_BLACK),
              ("Lower limit", last["lpl"], _LIMIT_COLOUR)]
    if result.target is not None:
        labels.append(("Target", result.target, MDC_TARGET))
    labels = [lab for lab in labels if np.isfinite(lab[1])]
    if labels:
        ys = _spread_labels([lab[1] for lab in labels], min_gap=(hi - lo + 2 * pad) * 0.065)
        for (name, v, colour), y in zip(labels, ys):
            ax.annotate(f"{name} {_fmt(v, unit, dec)}", xy=(n - 0.6, v), xycoords="data",
                        xytext=(n + 0.15, y), textcoords="data", va="center", ha="left",
                        fontsize=9, color=colour, annotation_clip=False,
                        fontweight="bold" if name in ("Mean", "Target") else "normal")

    # axes text
    ax.set_ylabel(_value_label(result, unit))
    ax.set_xlabel(_X_LABEL.get(result.freq, "Period"))
    ax_w_in, ax_h_in = _axes_inches(fig, ax)
    max_ticks = max(3, int(ax_w_in / 0.8))
    step = _tick_step(n, result.freq, max_ticks)
    first = _first_tick(full_labels, result.freq, step)
    ticks = np.arange(n)[first::step]
    ax.set_xticks(ticks)
    ax.set_xticklabels([_tick_label(full_labels[i], result.freq) for i in ticks],
                       rotation=0, fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    if hi >= 1000:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(axis="x", visible=False)

    direction = {"increase": "Higher is better", "decrease": "Lower is better",
                 "neutral": "Neither direction is better"}[result.improvement]
    sub = direction
    if result.target is not None:
        sub += f"  ·  target {_fmt(result.target, unit, dec)}"
    if len(result.rebase):
        sub += f"  ·  limits recalculated at {', '.join(_tick_label(r, result.freq) for r in result.rebase)}"
    held = [g for g in groups.itertuples() if getattr(g, "baseline_end", None)]
    if held:
        sub += "  ·  " + "; ".join(f"limits from {_tick_label(g.start, result.freq)} to "
                                   f"{_tick_label(g.baseline_end, result.freq)}, held (the change is still a trend)"
                                   for g in held)
    ax.text(0.0, 1.0, sub, transform=offset_copy(ax.transAxes, fig=fig, y=20, units="points"),
            ha="left", va="bottom", fontsize=9.5, color=NHS_DARK_GREY)
    if title:
        ax.text(0.0, 1.0, title, transform=offset_copy(ax.transAxes, fig=fig, y=38, units="points"),
                ha="left", va="bottom", fontsize=13, fontweight="bold", color=NHS_BLACK)

    # legend below the tick labels and the x-axis label (about 30 points down)
    handles = [Line2D([], [], ls="", marker="o", ms=7, color=POINT_COLOURS[p], label=_POINT_LABELS[p])
               for p in present]
    handles += [Line2D([], [], color=NHS_BLACK, lw=1.6, label="Mean"),
                Line2D([], [], color=_LIMIT_COLOUR, lw=1.3, ls=(0, (5, 3)), label="Process limits")]
    if result.target is not None:
        handles.append(Line2D([], [], color=MDC_TARGET, lw=1.6, ls=(0, (6, 3)), label="Target"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(-0.01, -30 / 72 / ax_h_in),
              ncol=len(handles), fontsize=9, handlelength=2.0, columnspacing=1.1, handletextpad=0.5)

    # icons above the top-right corner
    kinds = [result.variation] + ([result.assurance] if result.assurance else [])
    _add_icons(fig, ax, kinds)

    if synthetic:
        stamp_synthetic(fig)
    return fig, ax


def _axes_inches(fig, ax) -> tuple[float, float]:
    bbox = ax.get_position()
    fig_w, fig_h = fig.get_size_inches()
    return bbox.width * fig_w, bbox.height * fig_h


def _tick_step(n: int, freq: str, max_ticks: int) -> int:
    """Periods between x ticks: whole years where possible (12 months, 4 quarters)."""
    per_year = {"M": 12, "Q": 4, "Y": 1}.get(freq, 1)
    nice = {"M": [1, 2, 3, 6, 12, 24, 36, 60], "Q": [1, 2, 4, 8, 12, 20], "Y": [1, 2, 5, 10, 20]}
    for step in nice.get(freq, [1, 2, 5, 10]):
        if np.ceil(n / step) <= max_ticks:
            return step
    return per_year * max(1, int(np.ceil(n / max_ticks / per_year)))


def _first_tick(periods: list[str], freq: str, step: int) -> int:
    """Index of the first tick, so that yearly (or coarser) ticks fall on January / Q1."""
    if freq not in ("M", "Q"):
        return 0
    per_year = 12 if freq == "M" else 4
    if step % per_year and per_year % step:
        return 0
    for i, label in enumerate(periods[:step]):
        p = parse_period(label)
        pos = (p.month - 1) if freq == "M" else (p.quarter - 1)
        if pos % min(step, per_year) == 0:
            return i
    return 0


def _add_icons(fig, ax, kinds: list[str]) -> None:
    """Place icons with captions above the top-right corner of ``ax``.

    Sizes and offsets are in inches/points, so they look the same on any axes size.
    """
    ax_w_in, ax_h_in = _axes_inches(fig, ax)
    icon_in = 0.78
    h_ax = icon_in / ax_h_in                       # icon size in axes fraction
    w_ax = icon_in / ax_w_in
    bottom = 1.0 + (20 / 72) / ax_h_in             # 20 points above the axes (room for captions)
    right = 1.0 + 0.95 / ax_w_in                   # the icons overhang into the label margin
    gap = 0.35 / ax_w_in
    for j, kind in enumerate(reversed(kinds)):
        x0 = right - (j + 1) * w_ax - j * gap
        iax = ax.inset_axes((x0, bottom, w_ax, h_ax))
        _draw_icon(iax, kind, size_pt=icon_in * 72)
        iax.text(0.5, -0.06, _ICON_CAPTIONS[kind], transform=iax.transAxes, ha="center", va="top",
                 fontsize=7.5, color=NHS_DARK_GREY)
