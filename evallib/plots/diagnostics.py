"""The analyst view's model-check charts: fitted against observed with residuals, residual ACF."""
from __future__ import annotations

import numpy as np

from evallib.plots import palette


def fit_check_chart(cf, title: str, dates, synthetic: bool = False):
    """Observed and fitted (``cf``: a counterfactual frame with period, observed, fitted) over the
    residual bars, with the interruption ``dates`` marked. Returns ``(fig, (ax1, ax2))``."""
    import matplotlib.pyplot as plt

    x = np.arange(len(cf))
    obs = cf["observed"].to_numpy(dtype=float)
    fitted = cf["fitted"].to_numpy(dtype=float)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax1.plot(x, obs, "o", ms=3, color=palette.NHS_BLUE, label="observed")
    ax1.plot(x, fitted, "-", lw=1.5, color=palette.NHS_BLACK, label="fitted")
    ax1.set_title(title, loc="left")
    ax1.legend(frameon=False, loc="best")
    ax2.axhline(0, color="grey", lw=0.8)
    ax2.bar(x, obs - fitted, color=palette.NHS_MID_GREY)
    ax2.set_ylabel("observed \u2212 fitted")
    step = max(1, len(x) // 8)
    ax2.set_xticks(x[::step])
    ax2.set_xticklabels(list(cf["period"])[::step], rotation=0)
    periods = list(cf["period"])
    for d in dates:
        if d in periods:
            k = periods.index(d)
            for ax in (ax1, ax2):
                ax.axvline(k - 0.5, color="grey", ls="--", lw=0.8)
    if synthetic:
        palette.stamp_synthetic(fig)
    return fig, (ax1, ax2)


def acf_chart(r, n: int, title: str, synthetic: bool = False):
    """Bars of the autocorrelations ``r`` (lags 1..) with the +-1.96/sqrt(n) band.
    Returns ``(fig, ax, band)``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    lags = np.arange(1, len(r) + 1)
    ax.bar(lags, r, color=palette.NHS_MID_GREY, width=0.6)
    band = acf_band(n)
    ax.axhline(band, color="black", ls=":", lw=0.8)
    ax.axhline(-band, color="black", ls=":", lw=0.8)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("lag")
    ax.set_title(title, loc="left")
    if synthetic:
        palette.stamp_synthetic(fig)
    return fig, ax, float(band)


def acf_band(n: int) -> float:
    """The +-1.96/sqrt(n) band of a residual autocorrelation of ``n`` residuals."""
    return float(1.96 / np.sqrt(max(n, 1)))
