"""The sensitivity chart: specifications as dots and whiskers over the placebo-date strip.

``res`` is an :class:`evallib.its.sensitivity.SensitivityResult` (duck-typed: ``table``,
``placebo``, ``primary``, ``horizon``, ``target``, ``real_estimate``, ``placebo_p``, ``notes``).
"""
from __future__ import annotations

import numpy as np

from evallib.metrics import metric_info
from evallib.plots import palette as pal


def _axis_limit(res) -> float:
    """Half-width of the effect axis: 3x the largest of the primary's interval and the placebos.

    Specifications far outside it (e.g. a single-group log-scale model extrapolating
    COVID-19) are drawn at the edge with their value written, so one wild estimate
    does not flatten the others.
    """
    prim = res.table[res.table["group"] == "primary"]
    core = list(prim[["absolute", "absolute_lower", "absolute_upper"]].to_numpy(dtype=float).ravel())
    core += list(res.placebo["absolute"].to_numpy(dtype=float)) if len(res.placebo) else []
    core = np.abs(np.array([c for c in core if np.isfinite(c)]))
    if core.size == 0 or core.max() == 0:
        allv = np.abs(res.table[["absolute", "absolute_lower", "absolute_upper"]].to_numpy(dtype=float))
        allv = allv[np.isfinite(allv)]
        return float(allv.max()) if allv.size and allv.max() > 0 else 1.0
    return 3.0 * float(core.max())



def sensitivity_plot(res, title: str | None = None):
    """Dot-and-whisker of the specifications (primary in NHS blue) over the placebo strip."""
    import matplotlib.pyplot as plt

    pal.apply_style()
    t = res.table.copy()
    n = len(t)
    has_plc = res.placebo["absolute"].notna().any() if len(res.placebo) else False
    fig, axes = plt.subplots(2, 1, figsize=(9, 0.42 * n + 3.2), sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": [max(n, 2), 2.2]})
    ax, bx = axes
    y = np.arange(n)[::-1]
    lim = _axis_limit(res)
    for yi, (_, r) in zip(y, t.iterrows()):
        prim = r["group"] == "primary"
        col = pal.NHS_BLUE if prim else pal.NHS_DARK_GREY
        if np.isfinite(r["absolute"]):
            lo, hi, est = r["absolute_lower"], r["absolute_upper"], r["absolute"]
            if np.isfinite(lo) and np.isfinite(hi):
                ax.plot([max(lo, -lim), min(hi, lim)], [yi, yi], color=col, lw=2 if prim else 1.4)
                for edge, beyond in ((-lim, lo < -lim), (lim, hi > lim)):
                    if beyond:
                        ax.plot(edge, yi, "<" if edge < 0 else ">", color=col, ms=7)
            if abs(est) <= lim:
                ax.plot(est, yi, "o", color=col, ms=8 if prim else 6, zorder=3)
            else:
                ax.annotate(f"off scale: {est:.3g}", (np.sign(est) * lim, yi), xytext=(0, 6),
                            textcoords="offset points", ha="right" if est > 0 else "left", fontsize=8,
                            color=pal.NHS_RED)
        else:
            ax.text(0.5, yi, "not estimable", transform=ax.get_yaxis_transform(), color=pal.NHS_RED,
                    fontsize=9, va="center", ha="center")
    ax.axvline(0, color=pal.NHS_BLACK, lw=0.8)
    ax.set_xlim(-lim * 1.05, lim * 1.05)
    ax.set_yticks(y)
    ax.set_yticklabels(t["specification"])
    ax.grid(axis="y", visible=False)
    info = metric_info(getattr(res.primary, "metric", "") or "")
    unit_word = {"M": "month", "Q": "quarter", "Y": "year"}.get(getattr(res.primary, "freq", ""), "period")
    ax.set_title(title or f"Sensitivity of the {res.horizon}-{unit_word} effect of {res.target}", loc="left")
    real = res.real_estimate
    if has_plc:
        est = res.placebo["absolute"].dropna().to_numpy()
        jitter = np.random.default_rng(0).uniform(-0.25, 0.25, est.size)
        bx.plot(est, jitter, "o", color=pal.NHS_PALE_GREY, ms=6, alpha=0.9, label=f"{est.size} placebo dates")
        p = res.placebo_p
        if np.isfinite(real):
            bx.axvline(real, color=pal.NHS_BLUE, lw=2.2,
                       label=f"real estimate (placebo p = {p:.2f})" if p is not None else "real estimate")
        bx.legend(loc="upper left", fontsize=9)
        if res.notes:
            bx.text(0.99, 0.04, "; ".join(res.notes), transform=bx.transAxes, ha="right", va="bottom",
                    fontsize=8, color=pal.NHS_DARK_GREY, wrap=True)
    else:
        bx.text(0.5, 0.5, "; ".join(res.notes) or "no placebo dates", transform=bx.transAxes, ha="center",
                va="center", fontsize=9, color=pal.NHS_DARK_GREY, wrap=True)
        if np.isfinite(real):
            bx.axvline(real, color=pal.NHS_BLUE, lw=2.2)
    bx.axvline(0, color=pal.NHS_BLACK, lw=0.8)
    bx.set_yticks([])
    bx.set_ylim(-1, 1)
    bx.set_title("Placebo interruption dates in the pre-period", loc="left", fontsize=11)
    bx.set_xlabel(f"absolute effect ({info.unit})" if info.unit else "absolute effect")
    if getattr(getattr(res.primary, "panel", None), "synthetic_data", False) or \
            getattr(res.primary, "synthetic_data", False):
        pal.stamp_synthetic(fig)
    return fig, axes
