"""The power-planning chart: minimum detectable change against periods of data, per scenario."""
from __future__ import annotations

import numpy as np

from evallib.plots import palette as pal


def power_chart(plan, ax=None):
    """MDE (relative) against extra periods, one line per scenario, target marked. ``plan`` is an
    :class:`evallib.its.power.PowerPlan`. Returns ``(fig, ax)``."""
    import matplotlib.pyplot as plt

    pal.apply_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    else:
        fig = ax.figure
    colours = [pal.NHS_BLUE, pal.NHS_GREEN, pal.NHS_WARM_YELLOW, pal.NHS_DARK_GREY, pal.NHS_RED]
    for k, (name, g) in enumerate(plan.curve.groupby("scenario", sort=False)):
        prim = bool(plan.table.loc[plan.table["scenario"] == name, "primary"].iloc[0])
        ax.plot(g["n_post"], 100 * g["mde_relative"], color=colours[k % len(colours)],
                lw=2.6 if prim else 1.5, marker="o", ms=3, label=name + (" (primary)" if prim else ""))
    ax.axhline(100 * plan.relative_change, color=pal.NHS_RED, ls="--", lw=1.2,
               label=f"target: {plan.relative_change:.0%} change")
    if plan.n_post_now is not None:
        ax.axvline(plan.n_post_now, color=pal.NHS_BLACK, lw=1, ls=":")
        ax.annotate(f"now ({plan.last_period})", (plan.n_post_now, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=9, color=pal.NHS_DARK_GREY)
    ax.set_xlabel(f"{plan.unit_word}s of data from the interruption on")
    ax.set_ylabel(f"minimum detectable change (%), {plan.power:.0%} power")
    ax.set_title(f"When is a {plan.relative_change:.0%} change in {plan.label or plan.metric} detectable?",
                 loc="left")
    top = float(np.nanmax(100 * plan.curve["mde_relative"])) if len(plan.curve) else 100
    ax.set_ylim(0, min(top * 1.05, 100))
    ax.legend(loc="center right", fontsize=8)
    if plan.synthetic_data:
        pal.stamp_synthetic(fig)
    return fig, ax
