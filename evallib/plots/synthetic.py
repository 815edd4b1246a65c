"""Synthetic-control charts: treated against synthetic, and placebo gaps.

Both take a :class:`evallib.its.synthetic.SyntheticResult` and return ``(fig, ax)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from evallib.plots import palette as pal
from evallib.plots.palette import figure_axes as _axes

from evallib.stats import PLACEBO_FIT_CUTOFF as PLACEBO_MSPE_CUTOFF  # Abadie et al. 2010




def _dates(res) -> pd.DatetimeIndex:
    return pd.PeriodIndex(res.panel.periods).to_timestamp()


def _mark_interruptions(ax, res) -> None:
    from evallib.periods import parse_period

    for k, intr in enumerate(res.params.interruptions):
        d = parse_period(intr.date).to_timestamp()
        main = parse_period(intr.date) == res.panel.fit_date
        ax.axvline(d, color=pal.NHS_DARK_GREY if main else pal.NHS_PALE_GREY,
                   ls="--" if main else ":", lw=1.3 if main else 1.0, zorder=1)
        ax.annotate(intr.name, (d, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12 - 12 * (k % 2)),
                    textcoords="offset points", fontsize=9, color=pal.NHS_DARK_GREY)


def synthetic_plot(res, ax=None, title: str | None = None):
    """Observed treated series against its synthetic control, with the placebo band."""
    from evallib.metrics import metric_info

    fig, ax = _axes(ax)
    x = _dates(res)
    cf = res.counterfactual()
    info = metric_info(res.params.metric)
    ax.fill_between(x, cf["cf_lower"], cf["cf_upper"], color=pal.NHS_PALE_GREY, alpha=0.35, lw=0,
                    label=f"placebo {1 - res.alpha:.0%} band", zorder=2)
    ax.plot(x, cf["counterfactual"], color=pal.NHS_DARK_GREY, ls="--", lw=2, label="synthetic control",
            zorder=3)
    ax.plot(x, cf["observed"], color=pal.NHS_BLUE, lw=2.2, label="+".join(res.panel.treated_codes),
            zorder=4)
    fit = cf["in_fit"].to_numpy(dtype=bool)
    if fit.any():
        ax.axvspan(x[fit][0], x[fit][-1], color=pal.NHS_BLUE, alpha=0.04, lw=0, zorder=0)
    _mark_interruptions(ax, res)
    ax.set_title(title or f"{info.label}: observed and synthetic control", loc="left")
    ax.set_ylabel(info.unit or info.label)
    d = res.diagnostics()
    p = "n/a" if res.placebo_p is None else f"{res.placebo_p:.3f}"
    ax.set_xlabel(f"{d['n_donors']} donors, weights fitted in the shaded period; pre-RMSPE {res.pre_rmspe:,.3g}, "
                  f"RMSPE ratio {res.rmspe_ratio:,.3g}, placebo p {p}", fontsize=9, color=pal.NHS_DARK_GREY,
                  loc="left")
    ax.legend(loc="best")
    if res.panel.synthetic_data:
        pal.stamp_synthetic(fig)
    return fig, ax


def placebo_plot(res, ax=None, title: str | None = None, cutoff: float = PLACEBO_MSPE_CUTOFF):
    """Gaps of every placebo (grey) with the treated gap highlighted (NHS blue).

    Placebos whose pre-period RMSPE (on the fitting scale) exceeds ``cutoff`` times
    the treated unit's are hidden, as in Abadie et al. (2010); the count is shown.
    Gaps are in the treated series' units.
    """
    fig, ax = _axes(ax)
    x = _dates(res)
    G = res.placebo_gaps.to_numpy()
    pre = res.plc.pre_rmspe
    keep = pre <= cutoff * max(res.pre_rmspe_fit, 1e-300) if pre.size else np.zeros(0, dtype=bool)
    for j in np.flatnonzero(keep):
        ax.plot(x, G[:, j], color=pal.NHS_PALE_GREY, lw=0.8, alpha=0.6, zorder=2)
    if keep.any():
        ax.plot([], [], color=pal.NHS_PALE_GREY, lw=1, label=f"placebos ({int(keep.sum())} shown, "
                f"{int((~keep).sum())} with pre-RMSPE > {cutoff:g}x hidden)")
    ax.plot(x, res.gap, color=pal.NHS_BLUE, lw=2.4, label="treated gap", zorder=4)
    ax.axhline(0, color=pal.NHS_BLACK, lw=0.8, zorder=3)
    _mark_interruptions(ax, res)
    from evallib.metrics import metric_info

    ax.set_title(title or f"{metric_info(res.params.metric).label}: gap to the synthetic control and placebo gaps",
                 loc="left")
    ax.set_ylabel("observed - synthetic")
    if res.placebo_rank is not None:
        ax.set_xlabel(f"the treated post/pre RMSPE ratio ranks {res.placebo_rank} of {len(pre) + 1} "
                      f"(permutation p = {res.placebo_p:.3f})", fontsize=9, color=pal.NHS_DARK_GREY, loc="left")
    ax.legend(loc="lower left", fontsize=9)
    if res.panel.synthetic_data:
        pal.stamp_synthetic(fig)
    return fig, ax
