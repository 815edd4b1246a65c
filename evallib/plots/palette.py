"""NHS identity and Making Data Count colours (REFERENCES.md), and a shared chart style."""
from __future__ import annotations

# NHS identity colours
NHS_BLUE = "#005EB8"
NHS_DARK_BLUE = "#003087"
NHS_BLACK = "#212B32"
NHS_GREEN = "#007F3B"
NHS_RED = "#DA291C"
NHS_WARM_YELLOW = "#FFB81C"
NHS_DARK_GREY = "#425563"
NHS_MID_GREY = "#768692"
NHS_PALE_GREY = "#AEB7BD"

# Making Data Count SPC colours
MDC_IMPROVEMENT = "#00B0F0"
MDC_CONCERN = "#E46C0A"
MDC_NEUTRAL = "#490092"
MDC_COMMON_CAUSE = "#A6A6A6"
MDC_TARGET = "#DE1B1B"

SYNTHETIC_LABEL = "SYNTHETIC DATA"


def apply_style() -> None:
    """Set a clean, legible matplotlib style for board charts (idempotent)."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 110,
        "font.size": 11,
        "axes.titlesize": 13,
        "axes.titleweight": "bold",
        "axes.labelsize": 11,
        "axes.edgecolor": NHS_MID_GREY,
        "axes.labelcolor": NHS_BLACK,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#E8EDEE",
        "grid.linewidth": 0.8,
        "xtick.color": NHS_DARK_GREY,
        "ytick.color": NHS_DARK_GREY,
        "legend.frameon": False,
        "font.family": "DejaVu Sans",
    })


def stamp_synthetic(fig) -> None:
    """Write a clear SYNTHETIC DATA label on a figure built from the demo data."""
    fig.text(0.99, 0.01, SYNTHETIC_LABEL, ha="right", va="bottom", fontsize=9,
             fontweight="bold", color=NHS_RED, alpha=0.9)


def figure_axes(ax=None, size=(9, 4.8)):
    """``(fig, ax)``: the given axes and their figure, or a new constrained-layout figure of ``size``
    inches; the NHS style applied either way."""
    import matplotlib.pyplot as plt

    apply_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax
