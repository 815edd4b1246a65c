"""Checks that a series can inform an estimate at all, before any model is fitted.

A constant series (every value the same, including an all-zero count series) has
no variation for a level or slope change to explain. Fitted anyway, least squares
returns rounding noise with a tiny standard error (an "effect" of -9.96e-11 with
an interval excluding zero) and the GLM families fail inside the solver. Both are
refused here with a :class:`~evallib.exceptions.ModelError` that says why.
"""
from __future__ import annotations

import numpy as np

from evallib.exceptions import ModelError

#: values whose spread is at most this fraction of their largest magnitude count as constant
#: (sums of identical values can differ in the last bits)
RELATIVE_TOLERANCE = 1e-12


def check_informative(values, metric: str, source: str) -> None:
    """ModelError when the finite ``values`` of ``metric`` are all the same number.

    ``values`` is the outcome over the analysis window (missing values as NaN are
    ignored); ``source`` names the data (the file) in the message. Fewer than two
    finite values are left to the segment checks, which say what is missing.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return
    lo, hi = float(v.min()), float(v.max())
    top = max(abs(lo), abs(hi))
    if hi - lo <= RELATIVE_TOLERANCE * top:
        shown = f"{lo:,.10g}" if top else "0"
        raise ModelError(f"{source}: {metric}: every value in the window is {shown} ({v.size} periods), so the "
                         f"series carries no information to estimate a change; check the metric, the units "
                         f"and start/end, or leave this measure out")
