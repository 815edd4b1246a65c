"""Charts of synthetic difference-in-differences (``design: sdid``) and per-trust synthetic controls.

- :func:`sdid_chart`: the treated system against the weighted comparators, without and with the
  SDID intercept (the counterfactual), the time weights shaded under the pre-period, and the
  interval band after formation;
- :func:`gap_chart`: observed minus counterfactual in every used period, with the interval after
  formation;
- :func:`placebo_chart`: the distribution of the variance replicates (placebo, jackknife or
  bootstrap estimates at system level) against the estimate;
- :func:`weights_chart`: the unit weights (largest first) and the time weights;
- :func:`per_trust_chart`: one small panel per trust with its own gap (long trust names
  wrapped, in title case), and the combined system effect.

Each takes an :class:`evallib.its.sdid.SDIDResult` (``per_trust_chart`` and ``sdid_chart`` also
a :class:`~evallib.its.sdid.PerTrustResult`) and returns ``(fig, ax)`` or ``(fig, axes)``.
"""
from __future__ import annotations

import math
import re
import textwrap

import numpy as np
import pandas as pd

from evallib.plots import palette as pal
from evallib.plots.palette import figure_axes as _axes

#: words kept in capitals and small words kept in lower case by :func:`trust_title`
_UPPER = {"NHS", "FT", "UK", "ICB", "ICS", "CCG", "GP", "PCT"}
_SMALL = {"and", "of", "the", "for", "in", "on", "at", "to", "a", "an", "&"}


def trust_title(name: str, width: int = 30) -> str:
    """A trust name in title case, wrapped on word boundaries at ``width`` characters.

    ``"THE DUDLEY GROUP NHS FOUNDATION TRUST"`` becomes ``"The Dudley Group NHS\\nFoundation
    Trust"``: NHS and similar acronyms stay in capitals, small words (and, of, the, ...) are in
    lower case except at the start, hyphenated parts are capitalised each.
    """
    words = re.split(r"\s+", str(name).strip())
    out = []
    for k, w in enumerate(words):
        if w.upper() in _UPPER:
            out.append(w.upper())
        elif k > 0 and w.lower() in _SMALL:
            out.append(w.lower())
        else:
            out.append("-".join(p[:1].upper() + p[1:].lower() for p in w.split("-")))
    return "\n".join(textwrap.wrap(" ".join(out), width=width, break_long_words=False)) or str(name)




def _dates(res, labels=None) -> pd.DatetimeIndex:
    from evallib.periods import parse_period

    labs = res.panel.labels if labels is None else labels
    return pd.PeriodIndex([parse_period(x, res.freq) for x in labs]).to_timestamp()


def _mark(ax, res) -> None:
    for k, intr in enumerate(res.interruptions):
        d = intr.period.to_timestamp()
        main = intr is res.interruptions[-1]
        ax.axvline(d, color=pal.NHS_DARK_GREY if main else pal.NHS_PALE_GREY, ls="--" if main else ":",
                   lw=1.3 if main else 1.0, zorder=1)
        ax.annotate(intr.name.replace("_", " "), (d, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -12 - 12 * (k % 2)), textcoords="offset points", fontsize=9, color=pal.NHS_DARK_GREY)


def _info(res):
    from evallib.metrics import metric_info

    return metric_info(res.metric)


def _stamp(fig, res) -> None:
    if getattr(res, "synthetic_data", False):
        pal.stamp_synthetic(fig)


def sdid_chart(res, ax=None, title: str | None = None):
    """The treated system against its synthetic comparison.

    Lines: observed (NHS blue); the weighted comparators at system level (thin grey, dotted);
    the weighted comparators plus the SDID intercept, i.e. the counterfactual (dark grey,
    dashed) with its band after formation. Under the pre-period, bars show the time weights
    (right-hand scale not drawn: their heights are proportional).
    """
    fig, ax = _axes(ax)
    cf = res.counterfactual()
    x = _dates(res)
    ok = cf["in_fit"].to_numpy(dtype=bool)
    lvl = 1 - res.alpha
    ax.fill_between(x[ok], cf["cf_lower"][ok], cf["cf_upper"][ok], color=pal.NHS_PALE_GREY, alpha=0.35, lw=0,
                    label=f"{lvl:.0%} interval", zorder=2)
    if "synthetic" in cf.columns:
        ax.plot(x[ok], cf["synthetic"][ok], color=pal.NHS_MID_GREY, ls=":", lw=1.4,
                label="weighted comparators", zorder=3)
        ax.plot(x[ok], cf["counterfactual"][ok], color=pal.NHS_DARK_GREY, ls="--", lw=2,
                label="weighted comparators + SDID intercept", zorder=3)
    else:
        ax.plot(x[ok], cf["counterfactual"][ok], color=pal.NHS_DARK_GREY, ls="--", lw=2,
                label="synthetic controls combined", zorder=3)
    ax.plot(x[ok], cf["observed"][ok], color=pal.NHS_BLUE, lw=2.2, label=" + ".join(res.panel.units)
            if len(res.panel.units) <= 4 else f"{len(res.panel.units)} treated units", zorder=4)
    if hasattr(res, "time_weights"):
        tw = res.time_weights()
        if len(tw) and tw.max() > 0:
            lo, hi = ax.get_ylim()
            xt = _dates(res, list(tw.index))
            width = (x[1] - x[0]) * 0.8 if len(x) > 1 else pd.Timedelta(days=20)
            ax.bar(xt, (hi - lo) * 0.15 * tw.to_numpy() / tw.max(), bottom=lo, width=width, color=pal.NHS_WARM_YELLOW,
                   alpha=0.6, label="time weights (relative)", zorder=1)
            ax.set_ylim(lo, hi)
    _mark(ax, res)
    info = _info(res)
    ax.set_title(title or f"{info.label}: observed and synthetic comparison", loc="left")
    ax.set_ylabel(info.unit or info.label)
    d = res.diagnostics()
    if res.design == "sdid":
        note = (f"{d['n_comparators']} comparators, {d['variance']} variance ({d['replications']} replications); "
                f"intercept {d['intercept']:,.3g}; pre-period RMSE {d['pre_rmspe']:,.3g}")
    else:
        note = f"{d['n_comparators']} comparators; one synthetic control per trust, {d['replications']} placebo systems"
    ax.set_xlabel(note, fontsize=9, color=pal.NHS_DARK_GREY, loc="left")
    ax.legend(loc="best", fontsize=9)
    _stamp(fig, res)
    return fig, ax


def gap_chart(res, ax=None, title: str | None = None):
    """Observed minus counterfactual in every used period (system level), with the interval after formation."""
    fig, ax = _axes(ax)
    g = res.gaps()
    x = _dates(res, list(g["period"]))
    post = (g["phase"] == "post").to_numpy()
    ax.fill_between(x[post], g["lower"][post], g["upper"][post], color=pal.NHS_BLUE, alpha=0.15, lw=0,
                    label=f"{1 - res.alpha:.0%} interval ({res.var.method})", zorder=2)
    ax.plot(x, g["gap"], color=pal.NHS_BLUE, lw=2, marker="o" if len(x) < 40 else None, ms=3,
            label="observed - counterfactual", zorder=4)
    ax.axhline(0, color=pal.NHS_BLACK, lw=0.8, zorder=3)
    _mark(ax, res)
    info = _info(res)
    ax.set_title(title or f"{info.label}: gap to the synthetic comparison", loc="left")
    ax.set_ylabel(f"effect ({info.unit})" if info.unit else "effect")
    t = res.estimates()["sdid"]
    ax.set_xlabel(f"average effect after formation {res.panel.factor * t['estimate']:,.3g} "
                  f"(system level; {res.var.method} se {res.panel.factor * t['se']:,.3g})", fontsize=9,
                  color=pal.NHS_DARK_GREY, loc="left")
    ax.legend(loc="best", fontsize=9)
    _stamp(fig, res)
    return fig, ax


def placebo_chart(res, ax=None, title: str | None = None):
    """Histogram of the variance replicates (system level) with the estimate marked."""
    fig, ax = _axes(ax, size=(8, 4.4))
    reps = res.panel.factor * np.asarray(res.var.replicates, dtype=float)
    est = res.panel.factor * res.fit.estimate
    what = {"placebo": "placebo estimates (no effect by construction)",
            "jackknife": "leave-one-unit-out estimates", "bootstrap": "bootstrap estimates"}[res.var.method]
    bins = max(10, min(40, int(math.sqrt(max(reps.size, 1))) * 2))
    ax.hist(reps, bins=bins, color=pal.NHS_PALE_GREY, edgecolor="white", label=f"{reps.size} {what}", zorder=2)
    ax.axvline(est, color=pal.NHS_BLUE, lw=2.4, label=f"estimate {est:,.3g}", zorder=3)
    if res.var.method == "placebo":
        ax.axvline(0, color=pal.NHS_BLACK, lw=0.8, zorder=3)
    info = _info(res)
    ax.set_title(title or f"{info.label}: {res.var.method} distribution of the average effect", loc="left")
    ax.set_xlabel(f"average effect after formation ({info.unit or 'metric units'}, system level); "
                  f"se {res.panel.factor * res.var.se:,.3g}", fontsize=10)
    ax.set_ylabel("replications")
    ax.legend(loc="best", fontsize=9)
    _stamp(fig, res)
    return fig, ax


def weights_chart(res, top: int = 15, title: str | None = None):
    """Unit weights (the ``top`` largest, with the rest summed) and time weights: ``(fig, (ax_units, ax_time))``."""
    import matplotlib.pyplot as plt

    pal.apply_style()
    fig, (au, at) = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained", gridspec_kw={"width_ratios": [1, 1.3]})
    uw = res.unit_weights().sort_values(ascending=False)
    shown = uw[uw > 0].head(top)
    rest = float(uw.sum() - shown.sum())
    names = [f"{trust_title(res.panel.names[c], 200)[:38]} ({c})" if res.panel.names.get(c) else c
             for c in shown.index]
    ypos = np.arange(len(shown))[::-1]
    au.barh(ypos, shown.to_numpy(), color=pal.NHS_BLUE)
    au.set_yticks(ypos, names, fontsize=8)
    au.set_xlabel("unit weight" + (f" (the other {int((uw > 0).sum()) - len(shown)} weighted: {rest:.2f} in all)"
                                   if rest > 0.005 else ""), fontsize=9)
    au.set_title(f"Comparators: {int((uw > 0).sum())} of {len(uw)} weighted", loc="left", fontsize=11)
    tw = res.time_weights()
    xt = _dates(res, list(tw.index))
    width = (xt[1] - xt[0]) * 0.8 if len(xt) > 1 else pd.Timedelta(days=20)
    at.bar(xt, tw.to_numpy(), width=width, color=pal.NHS_WARM_YELLOW, edgecolor=pal.NHS_DARK_GREY, lw=0.3)
    import matplotlib.dates as mdates

    loc = mdates.AutoDateLocator(maxticks=8)
    at.xaxis.set_major_locator(loc)
    at.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    at.set_ylabel("time weight")
    at.set_title("Pre-period weights", loc="left", fontsize=11)
    fig.suptitle(title or f"{_info(res).label}: synthetic difference-in-differences weights", x=0.01, ha="left",
                 fontweight="bold")
    _stamp(fig, res)
    return fig, (au, at)


def per_trust_chart(res, ncols: int = 2, title: str | None = None):
    """One panel per trust with its own gap, and a last panel with the combined system effect and interval.

    Trust names come from the table's ``org_name`` (wrapped, title case), else the code.
    Returns ``(fig, axes)`` with ``axes`` a flat array (unused cells hidden).
    """
    import matplotlib.pyplot as plt

    pal.apply_style()
    gaps = res.trust_gaps()
    units = list(gaps.columns)
    n = len(units) + 1
    ncols = max(1, min(ncols, n))
    nrows = int(math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.1 * nrows), layout="constrained", sharex=True,
                             squeeze=False)
    axes = axes.ravel()
    x = _dates(res, list(gaps.index))
    info = _info(res)
    for k, u in enumerate(units):
        ax = axes[k]
        ax.plot(x, gaps[u].to_numpy(), color=pal.NHS_DARK_BLUE, lw=1.6)
        ax.axhline(0, color=pal.NHS_BLACK, lw=0.7)
        ax.axvline(res.evaluated.period.to_timestamp(), color=pal.NHS_DARK_GREY, ls="--", lw=1)
        name = res.panel.names.get(u)
        ax.set_title(trust_title(name) + f" ({u})" if name else u, loc="left", fontsize=10)
    ax = axes[len(units)]
    g = res.gaps() if hasattr(res, "gaps") else None
    if g is not None:
        xs = _dates(res, list(g["period"]))
        post = (g["phase"] == "post").to_numpy()
        ax.fill_between(xs[post], g["lower"][post], g["upper"][post], color=pal.NHS_BLUE, alpha=0.15, lw=0)
        ax.plot(xs, g["gap"], color=pal.NHS_BLUE, lw=2)
    else:
        cf = res.counterfactual()
        ok = cf["in_fit"].to_numpy(dtype=bool)
        xs = _dates(res)[ok]
        gap = (cf["observed"] - cf["counterfactual"]).to_numpy()[ok]
        lo = (cf["observed"] - cf["cf_upper"]).to_numpy()[ok]
        hi = (cf["observed"] - cf["cf_lower"]).to_numpy()[ok]
        ax.fill_between(xs, lo, hi, color=pal.NHS_BLUE, alpha=0.15, lw=0)
        ax.plot(xs, gap, color=pal.NHS_BLUE, lw=2)
    ax.axhline(0, color=pal.NHS_BLACK, lw=0.7)
    ax.axvline(res.evaluated.period.to_timestamp(), color=pal.NHS_DARK_GREY, ls="--", lw=1)
    ax.set_title(f"System effect ({res.panel.combine.split(':')[0]})", loc="left", fontsize=10, color=pal.NHS_BLUE)
    for extra in axes[n:]:
        extra.set_visible(False)
    for k in range(n):
        if k + ncols >= n:          # nothing drawn below: show its dates
            axes[k].xaxis.set_tick_params(labelbottom=True)
    fig.suptitle(title or f"{info.label}: each trust's gap and the system effect ({info.unit or 'metric units'})",
                 x=0.01, ha="left", fontweight="bold")
    _stamp(fig, res)
    return fig, axes
