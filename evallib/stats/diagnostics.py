"""Residual diagnostics, computed by statsmodels.

The same numbers as the hand-written versions in ``evallib.its.results`` (and the
same return shapes, so a caller can switch imports), checked in
tests/test_its_estimators.py on several series:

- :func:`durbin_watson`: ``sum(diff(e)^2) / sum(e^2)``,
  ``statsmodels.stats.stattools.durbin_watson``; None when every residual is 0;
- :func:`acf`: sample autocorrelations r_1..r_nlags of the demeaned series with
  denominator n (as R ``acf``), ``statsmodels.tsa.stattools.acf(fft=False,
  adjusted=False)``; zeros for a constant series;
- :func:`ljung_box`: Ljung–Box ``Q = n (n+2) sum_k r_k^2 / (n-k)`` at lags 1..nlags,
  chi-squared with ``lag`` df, ``statsmodels.stats.diagnostic.acorr_ljungbox``;
  ``[{"lag", "q", "p"}]``; Q = 0 and p = 1 for a constant series;
- :func:`breusch_godfrey`: LM = n R^2 of the auxiliary regression of the residuals
  on ``[X, e_{t-1} .. e_{t-p}]`` (lags zero-filled at the start), chi-squared(p),
  ``statsmodels.stats.diagnostic.acorr_breusch_godfrey``; ``{"lags", "lm", "p"}``.
  ``e`` must be the OLS residuals of ``X`` (statsmodels tests the residuals of
  ``OLS(e, X)``, which are ``e`` itself then), and ``X`` should contain an intercept,
  as every ITS design does (statsmodels adds one to the auxiliary regression when it
  has none, the hand-written version did not).

statsmodels is imported inside the functions, so importing this module is cheap.
"""
from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


def _series(e) -> np.ndarray:
    x = np.asarray(e, dtype=float).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError("residuals have missing or infinite values")
    return x


def _constant(x: np.ndarray) -> bool:
    return not np.any(x - x.mean())


def durbin_watson(e) -> float | None:
    """Durbin–Watson statistic of the residuals ``e`` (None when every residual is 0)."""
    from statsmodels.stats.stattools import durbin_watson as sm_dw

    x = _series(e)
    if not np.any(x):
        return None
    return float(sm_dw(x))


def acf(e, nlags: int) -> np.ndarray:
    """Sample autocorrelations r_1..r_nlags (denominator n, as R's acf), shape (nlags,)."""
    from statsmodels.tsa.stattools import acf as sm_acf

    x = _series(e)
    if _constant(x):
        return np.zeros(int(nlags))
    r = sm_acf(x, nlags=int(nlags), fft=False, adjusted=False, missing="none", result_object=False)
    return np.asarray(r, dtype=float)[1:]


def ljung_box(e, nlags: int) -> list[dict]:
    """Ljung–Box Q and p-value at lags 1..nlags: ``[{"lag": k, "q": Q_k, "p": p_k}, ...]``."""
    from statsmodels.stats.diagnostic import acorr_ljungbox

    x = _series(e)
    if _constant(x):
        return [{"lag": k, "q": 0.0, "p": 1.0} for k in range(1, int(nlags) + 1)]
    lb = acorr_ljungbox(x, lags=int(nlags), return_df=True)
    return [{"lag": int(k), "q": float(q), "p": float(p)}
            for k, q, p in zip(lb.index, lb["lb_stat"], lb["lb_pvalue"])]


def breusch_godfrey(X, e, nlags: int) -> dict:
    """Breusch–Godfrey LM test of the OLS residuals ``e`` of ``X``: ``{"lags", "lm", "p"}``."""
    from statsmodels.regression.linear_model import OLS
    from statsmodels.stats.diagnostic import acorr_breusch_godfrey

    x = _series(e)
    X = np.asarray(X, dtype=float)
    res = OLS(x, X).fit()
    lm, p = acorr_breusch_godfrey(res, nlags=int(nlags), result_object=True)[:2]
    return {"lags": int(nlags), "lm": float(lm), "p": float(p)}
