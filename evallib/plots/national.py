"""National charts: the average effect by months since joining, and every collaborative's effect.

- :func:`event_time_chart`: the event-time estimates ``theta(e)`` of the national design
  (:mod:`evallib.its.national`) with their pointwise intervals (bars) and simultaneous band
  (shaded), a zero line, the month of joining marked at ``e = 0``, the base month ``e = -1``,
  the average over months ``0..H`` and the number of trusts behind each estimate.
- :func:`caterpillar_chart`: one row per collaborative, its effect at the pack's headline
  horizon with its interval, sorted by the effect with the best at the top, coloured by verdict in the pack's palette
  (:data:`evallib.plots.pack.VERDICT_COLOURS`), hollow where the design's checks failed, with the
  better side written under the axis. Long names are cut to one line, so 44 rows never collide.

Both take plain frames or lists of dicts (this layer is below the designs), return
``(fig, ax)``, call :func:`palette.apply_style` and stamp SYNTHETIC DATA for demo data.
"""
from __future__ import annotations

import math

import numpy as np

from evallib.plots import palette
from evallib.plots.pack import VERDICT_COLOURS, VERDICT_LEGEND, verdict as _verdict

#: what "better" means on a chart, by direction of improvement
BETTER = {"increase": "higher is better", "decrease": "lower is better", "neutral": "no preferred direction"}


def _isnan(x) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def _unit_words(unit: str) -> str:
    return {"%": "percentage points", "\u00a3k": "\u00a3 thousand"}.get(unit, unit or "value")


def _fmt(x: float, unit: str) -> str:
    a = abs(x)
    body = f"{a:,.0f}" if a >= 100 else (f"{a:.1f}" if a >= 1 else f"{a:.2f}")
    sign = "+" if x > 0 else ("\u2212" if x < 0 else "")
    if unit == "%":
        return f"{sign}{body} pp"
    if unit == "\u00a3k":
        return f"{sign}\u00a3{body}k"
    return f"{sign}{body}" + (f" {unit}" if unit else "")


def _better_note(ax, improvement: str, where: str = "y") -> None:
    """Write the better direction at the side of the value axis."""
    if improvement not in ("increase", "decrease"):
        ax.text(1.0, 1.01, "no preferred direction", transform=ax.transAxes, ha="right", va="bottom",
                fontsize=9.5, color=palette.MDC_NEUTRAL, fontweight="bold")
        return
    if where == "y":
        up = improvement == "increase"
        ax.annotate("better \u2191" if up else "better \u2193", xy=(1.005, 0.98 if up else 0.02),
                    xycoords="axes fraction", ha="left", va="top" if up else "bottom", fontsize=10,
                    fontweight="bold", color=palette.NHS_GREEN, annotation_clip=False)


def event_time_chart(table, *, label: str, unit: str = "", improvement: str = "neutral", alpha: float = 0.05,
                     overall: dict | None = None, title: str | None = None, synthetic: bool = False, ax=None):
    """The event-time chart (module docstring).

    ``table``: frame with ``e``, ``estimate``, ``ci_lower``, ``ci_upper`` and optionally
    ``band_lower``/``band_upper`` (the simultaneous band) and ``n_trusts``. ``overall``: a dict with
    ``estimate``, ``ci_lower``, ``ci_upper``, ``events`` ([0, H]) drawn as a line over 0..H.
    """
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    palette.apply_style()
    t = pd.DataFrame(table).sort_values("e").reset_index(drop=True)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 5.6))
    else:
        fig = ax.figure
    level = f"{100 * (1 - alpha):g}%"
    e = t["e"].to_numpy(dtype=float)
    est = t["estimate"].to_numpy(dtype=float)
    lo, hi = t["ci_lower"].to_numpy(dtype=float), t["ci_upper"].to_numpy(dtype=float)
    pre, post = e < 0, e >= 0
    ax.axvspan(min(e.min(), -1) - 0.6, -0.5, color="#F3F5F6", zorder=0, linewidth=0)
    has_band = "band_lower" in t and t["band_lower"].notna().any()
    if has_band:
        for mask in (pre, post):
            if mask.any():
                ax.fill_between(e[mask], t["band_lower"].to_numpy(dtype=float)[mask],
                                t["band_upper"].to_numpy(dtype=float)[mask], color=palette.NHS_BLUE, alpha=0.12,
                                linewidth=0, zorder=1)
    ax.axhline(0, color=palette.NHS_BLACK, linewidth=1.1, zorder=2)
    ax.axvline(-0.5, color=palette.NHS_DARK_GREY, linestyle="--", linewidth=1.2, zorder=2)
    for mask, colour in ((pre, palette.NHS_MID_GREY), (post, palette.NHS_BLUE)):
        if mask.any():
            ax.errorbar(e[mask], est[mask], yerr=[est[mask] - lo[mask], hi[mask] - est[mask]], fmt="o",
                        color=colour, ecolor=colour, elinewidth=1.4, capsize=0, markersize=5, zorder=3)
    ax.plot([-1], [0], marker="o", markersize=6, markerfacecolor="white", markeredgecolor=palette.NHS_DARK_GREY,
            linestyle="none", zorder=4)
    avg = None
    if overall is not None and not _isnan(overall.get("estimate")):
        a, b = overall.get("events", [0, int(e.max())])
        b = min(b, int(e[post].max())) if post.any() else b
        o = float(overall["estimate"])
        ax.plot([a - 0.4, b + 0.4], [o, o], color=palette.NHS_DARK_BLUE, linewidth=2.2, linestyle=":", zorder=3)
        avg = Line2D([0], [0], color=palette.NHS_DARK_BLUE, linewidth=2.2, linestyle=":",
                     label=f"average, months {a}\u2013{b}: {_fmt(o, unit)}")
    ymin, ymax = np.nanmin(np.r_[lo, 0.0]), np.nanmax(np.r_[hi, 0.0])
    if has_band:
        ymin = min(ymin, np.nanmin(t["band_lower"]))
        ymax = max(ymax, np.nanmax(t["band_upper"]))
    pad = 0.08 * (ymax - ymin if ymax > ymin else 1.0)
    ax.set_ylim(ymin - 2.2 * pad, ymax + 2.2 * pad)
    ax.text(-0.7, ymax + 1.6 * pad, "before joining \u2190", ha="right", va="center", fontsize=9.5,
            color=palette.NHS_DARK_GREY)
    ax.text(-0.3, ymax + 1.6 * pad, "\u2192 after joining (month 0: the month of joining)", ha="left", va="center",
            fontsize=9.5, color=palette.NHS_DARK_GREY)
    ax.set_xlim(min(e.min(), -1) - 0.6, e.max() + 0.8)
    step = 6 if (e.max() - e.min()) > 24 else 3
    ticks = [k for k in range(int(math.floor(e.min() / step) * step), int(e.max()) + 1, step)]
    ax.set_xticks(ticks)
    ax.set_xlabel("Months since joining a provider collaborative (e; e = \u22121 is the base month)")
    ax.set_ylabel(f"Effect ({_unit_words(unit)})")
    if "n_trusts" in t:
        # the number of trusts behind each estimate, under its tick: the panel thins with time
        n = dict(zip(t["e"].astype(int), t["n_trusts"].astype(int)))
        ax.set_xticklabels([f"{k}".replace("-", "\u2212") + (f"\n{n[k]} trusts" if k in n else "\n")
                            for k in ticks])
    _better_note(ax, improvement)
    ax.grid(axis="x", visible=False)
    ax.set_title(title or f"{label}: average effect by months since joining", loc="left", pad=44)
    handles = [Line2D([0], [0], color=palette.NHS_BLUE, marker="o", linewidth=1.4,
                      label=f"after joining, {level} interval"),
               Line2D([0], [0], color=palette.NHS_MID_GREY, marker="o", linewidth=1.4,
                      label="before joining (should be near 0)")]
    if has_band:
        handles.append(Patch(color=palette.NHS_BLUE, alpha=0.12, label=f"{level} simultaneous band"))
    if avg is not None:
        handles.append(avg)
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, fontsize=9,
              frameon=False, borderaxespad=0.2)
    fig.tight_layout()
    if synthetic:
        palette.stamp_synthetic(fig)
    return fig, ax


def short_label(text: str, width: int = 40) -> str:
    """``text`` on one line of at most ``width`` characters (cut with an ellipsis)."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1].rstrip() + "\u2026"


def caterpillar_chart(rows, *, label: str, unit: str = "", improvement: str = "neutral", xlabel: str | None = None,
                      title: str | None = None, reference: tuple[float, str] | None = None, synthetic: bool = False,
                      clip: float | None = None, ax=None):
    """Each collaborative's effect with its interval, sorted best at the top (module docstring).

    ``rows``: list of dicts (or a frame) with ``label``, ``estimate``, ``lower``, ``upper`` and
    optionally ``verdict`` and ``failed_checks``; ``unit`` is the unit of the estimates (``%`` for
    percentage points, ``rel`` for a percentage of the expected value, else the measure's unit).
    ``reference``: ``(value, text)`` drawn as a dashed vertical line (e.g. the national average).
    ``clip`` (default: wide enough for every estimate and for nine intervals in ten): intervals
    beyond it end in an arrow. Rows with no estimate are listed at the
    bottom as "no estimate".
    """
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.lines import Line2D

    palette.apply_style()
    df = pd.DataFrame(rows).reset_index(drop=True)
    if df.empty:
        df = pd.DataFrame(columns=["label", "estimate", "lower", "upper"])
    df["_est"] = pd.to_numeric(df.get("estimate"), errors="coerce")
    # best at the top: rows are drawn bottom to top, so ascending "betterness"
    ok = df[df["_est"].notna()].sort_values("_est", kind="mergesort", ascending=improvement != "decrease")
    missing = df[df["_est"].isna()]
    order = pd.concat([missing, ok])          # bottom to top: missing first, then the worst to the best
    n = len(order)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8.6, 1.9 + 0.27 * max(n, 1)))
    else:
        fig = ax.figure
    ests = ok["_est"].abs().tolist()
    bounds = [max(abs(float(r["upper"])), abs(float(r["lower"]))) for _, r in ok.iterrows()
              if not (_isnan(r.get("upper")) or _isnan(r.get("lower")))]
    if clip is None:
        # every estimate, and the intervals of nine rows in ten, fit; the widest end in an arrow
        clip = max(1.15 * max(ests, default=1.0), 1.05 * float(np.quantile(bounds, 0.9)) if bounds else 0.0) or 1.0
    fmt_v = (lambda v: f"{v:+.0f}%".replace("-", "\u2212")) if unit == "rel" else (lambda v: _fmt(v, unit))
    present = []
    for y, (_, r) in enumerate(order.iterrows()):
        est = r["_est"]
        if _isnan(est):
            ax.text(0, y, "no estimate", va="center", ha="center", fontsize=8.5, color=palette.NHS_MID_GREY)
            continue
        lo, hi = r.get("lower"), r.get("upper")
        lo, hi = (float(lo), float(hi)) if not (_isnan(lo) or _isnan(hi)) else (est, est)
        v = r.get("verdict")
        if not isinstance(v, str) or v not in VERDICT_COLOURS:
            v = _verdict(lo, hi, improvement)
        present.append(v)
        colour = VERDICT_COLOURS[v]
        failed = r.get("failed_checks")
        failed = bool(failed) if isinstance(failed, (list, tuple)) else False
        a, b = max(lo, -clip), min(hi, clip)
        ax.plot([a, b], [y, y], color=colour, linewidth=2.2, solid_capstyle="butt", zorder=2)
        for bound, cut, side in ((lo, a, -1), (hi, b, 1)):
            if bound != cut:
                ax.plot([side * clip * 1.02], [y], marker=">" if side > 0 else "<", color=colour, markersize=5,
                        zorder=2)
        ec = max(-clip, min(clip, est))
        ax.plot([ec], [y], marker="o", markersize=6, color=colour, markerfacecolor="white" if failed else colour,
                markeredgewidth=1.6, zorder=3)
    ax.axvline(0, color=palette.NHS_BLACK, linewidth=1, zorder=1)
    if reference is not None and not _isnan(reference[0]):
        ax.axvline(reference[0], color=palette.NHS_DARK_BLUE, linestyle="--", linewidth=1.2, zorder=1)
    ax.set_xlim(-clip * 1.12, clip * 1.12)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_yticks(range(n))
    ax.set_yticklabels([short_label(x, 38) for x in order["label"]] if n else [], fontsize=9.5)
    ax.tick_params(axis="y", length=0, pad=4)
    ax.grid(axis="y", visible=False)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: fmt_v(v) if v else "0"))
    ax.set_xlabel(xlabel or f"Effect ({'% of expected' if unit == 'rel' else _unit_words(unit)})")
    from matplotlib.transforms import offset_copy

    below = offset_copy(ax.transAxes, fig=fig, y=-40, units="points")
    if improvement in ("increase", "decrease"):
        right = improvement == "increase"
        ax.text(1.0 if right else 0.0, 0.0, "better \u2192" if right else "\u2190 better", transform=below,
                ha="right" if right else "left", va="top", fontsize=10, fontweight="bold", color=palette.NHS_GREEN)
        ax.text(0.0 if right else 1.0, 0.0, "\u2190 worse" if right else "worse \u2192", transform=below,
                ha="left" if right else "right", va="top", fontsize=10, fontweight="bold", color=palette.NHS_RED)
    else:
        ax.text(0.5, 0.0, "no preferred direction", transform=below, ha="center", va="top", fontsize=10,
                fontweight="bold", color=palette.MDC_NEUTRAL)
    kinds = [k for k in VERDICT_COLOURS if k in present or k in ("improvement", "deterioration", "unclear")]
    handles = [Line2D([0], [0], color=VERDICT_COLOURS[k], marker="o", linewidth=2.2, label=VERDICT_LEGEND[k])
               for k in kinds]
    if any(isinstance(f, (list, tuple)) and f for f in df.get("failed_checks", [])):
        handles.append(Line2D([0], [0], color=palette.NHS_MID_GREY, marker="o", markerfacecolor="white",
                              markeredgewidth=1.6, linewidth=0, label="checks failed"))
    if reference is not None and not _isnan(reference[0]):
        handles.append(Line2D([0], [0], color=palette.NHS_DARK_BLUE, linestyle="--", linewidth=1.2,
                              label=reference[1]))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=min(len(handles), 3), fontsize=8.5,
              frameon=False, borderaxespad=0.2, handlelength=1.6, columnspacing=1.0)
    if title is not None or label:
        ax.set_title(title or label, loc="left", pad=8 + 15 * math.ceil(len(handles) / 3))
    fig.tight_layout()
    if synthetic:
        # bottom centre, between "worse" and "better" (the title runs across the top)
        below2 = offset_copy(ax.transAxes, fig=fig, y=-42, units="points")
        ax.text(0.5, 0.0, palette.SYNTHETIC_LABEL, transform=below2, ha="center", va="top", fontsize=9,
                fontweight="bold", color=palette.NHS_RED, alpha=0.9)
    return fig, ax


__all__ = ["event_time_chart", "caterpillar_chart", "short_label", "BETTER"]
