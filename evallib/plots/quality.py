"""The data-coverage heat map of the data-quality page (the matrix is
:func:`evallib.report.quality.coverage_matrix`)."""
from __future__ import annotations

import numpy as np

from evallib.plots import palette


def coverage_heatmap(matrix, *, title: str | None = "Data coverage by trust and measure",
                     synthetic: bool = False, labels: dict | None = None, ax=None):
    """Heat map of :func:`coverage_matrix`: one row per measure, one column per unit.

    White 0% .. warm yellow .. NHS blue 100%, the percentage printed in each cell.
    Measures are rows so that their (long) names read horizontally.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap

    palette.apply_style()
    m = matrix.T                      # rows: measures, columns: units
    n_r, n_c = m.shape
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(16, max(9.0, 5.5 + 1.1 * n_c)), max(2.5, 0.9 + 0.42 * n_r)))
    else:
        fig = ax.figure
    cmap = LinearSegmentedColormap.from_list("nhs", ["#FFFFFF", palette.NHS_WARM_YELLOW, palette.NHS_BLUE])
    vals = m.to_numpy(dtype=float)
    im = ax.imshow(vals, cmap=cmap, vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(n_c))
    ax.set_xticklabels([str(c) for c in m.columns], rotation=0 if n_c <= 8 else 60,
                       ha="center" if n_c <= 8 else "right")
    ax.xaxis.tick_top()
    ax.set_yticks(range(n_r))
    ax.set_yticklabels([(labels or {}).get(r, r) for r in m.index])
    ax.grid(False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    if n_r * n_c <= 600:
        for i in range(n_r):
            for j in range(n_c):
                v = vals[i, j]
                ax.text(j, i, "" if np.isnan(v) else f"{v:.0f}%", ha="center", va="center", fontsize=9,
                        color="white" if v > 70 else palette.NHS_BLACK)
    fig.colorbar(im, ax=ax, label="% of months with a value", fraction=0.04, pad=0.02)
    if title:
        ax.set_title(title, loc="left", pad=28)
    fig.tight_layout()
    if synthetic:
        palette.stamp_synthetic(fig)
    return fig, ax
