"""Estimators for segmented regression: one entry point, :func:`fit`.

Every estimator returns a :class:`Fit` with the same fields, so results, controlled
designs, robustness tables and power simulations never care which model ran.

Conventions (docs/contracts.md §4), chosen to match the reference software:

- **ols-hac**: OLS coefficients; Newey–West covariance with the Bartlett kernel,
  weights ``1 - l/(L+1)`` for l = 1..L, and the small-sample factor ``n/(n-k)``.
  This is R ``sandwich::NeweyWest(fit, lag=L, adjust=TRUE, prewhite=FALSE)`` and
  Stata ``newey, lag(L)`` for an integer ``hac_lags`` L. Lags run over *rows* in the
  order given (as in R), so a gap left by an excluded period is treated as adjacent
  rows. Intervals and p-values use the t distribution with ``n - k`` residual
  degrees of freedom. L = 0 gives the HC0 sandwich times n/(n-k).
  One series is fitted with statsmodels ``OLS(y, X).fit(cov_type="HAC", cov_kwds=
  {"maxlags": L, "use_correction": True})`` (:func:`newey_west_cov`):
  ``use_correction=True`` *is* the n/(n-k) factor, so nothing is multiplied on top
  (doing so would inflate the SEs by sqrt(n/(n-k)), 3.5% at n = 60, k = 4). Checked
  at L = 0, 1, 3, 7 on a 60-point series and on the 31-year California cigarette
  series, statsmodels and :func:`ols_hac_batch` agree to 1e-13 relative and both equal
  R sandwich 3.0-2 ``NeweyWest(..., adjust=TRUE, prewhite=FALSE)`` to the 6 decimals
  R printed.
  :func:`ols_hac_batch` (one design, many outcome columns, one matrix product per lag)
  serves the simulations and benchmarks/engine.py; placebo dates (many designs, one outcome)
  use :func:`fit_designs`.
  ``hac_lags='auto'`` keeps that convention exactly (no prewhitening) and picks the
  lag by the Newey–West rule of thumb ``floor(4 (n/100)^(2/9))``; the lag used is
  reported in ``Fit.hac_lags_used``, so any result can be re-checked in R with
  ``NeweyWest(fit, lag=L, adjust=TRUE, prewhite=FALSE)``.
  ``hac_lags='prewhite'`` (opt-in) is R's own automatic procedure,
  ``NeweyWest(fit, adjust=TRUE)`` with its defaults: VAR(1) prewhitening of the scores
  (Andrews & Monahan 1992) and the Newey–West (1994) automatic lag (see
  :func:`newey_west_auto`). In the engine's simulation (AR(1) errors, rho = 0.4,
  48 + 36 months) the plain rule's 95% intervals for the level change covered the
  truth in about 86% of replications (no fixed lag reaches 87%), against about 89%
  with prewhitening (tests/test_its_simulation.py): Newey–West intervals are too
  narrow in short series (Turner et al. 2021), which is why Prais–Winsten and ARIMA
  are always reported beside it in the robustness table.
- **prais-winsten**: feasible GLS for AR(1) errors, iterated to convergence
  (|change in rho| < 1e-8, at most 100 iterations) with the **first observation kept**
  and scaled by sqrt(1 - rho^2) (not Cochrane–Orcutt, which drops it). rho is the
  regression of e_t on e_{t-1} without a constant (Stata ``prais``' default).
  Covariance: ``s^2 (X*'X*)^-1`` from the transformed regression, t with n - k df.
  ``resid`` are the transformed (whitened) residuals. The numerics are
  :func:`evallib.stats.prais.prais_winsten`, shared with the power simulation and the
  stacked controlled design (its ``groups`` argument).
- **arima**: regression with ARIMA(p,0,q) errors by exact maximum likelihood
  (statsmodels SARIMAX), covariance the **inverse numerical Hessian** of the
  log-likelihood (``cov_type="approx"``), which is what R ``arima(..., method="ML")``
  reports; normal intervals. statsmodels' default, the outer product of gradients,
  gave level-change standard errors 40-60% wider than R's on a 96-month series and
  anything from 0.9 to 54 times R's on the demo series. The estimates are those of
  statsmodels' default optimiser (unchanged by the covariance choice).
  tests/test_arima_reference.py checks estimates and standard errors against stored R
  4.2 output (tests/reference/arima_r.R) to 1e-3 relative. Failure to converge is a
  warning in ``Fit.warnings``, not an exception. ``fitted`` is the regression mean
  ``X b`` (without the error process); ``resid`` are the one-step innovations;
  ``extra`` has the ARMA coefficients, sigma2, their standard errors (``se_ar.L1``..),
  the log-likelihood and AIC.
- **poisson / quasipoisson / negbin**: log link, offset ``log(denominator)`` when a
  denominator is given. quasipoisson uses the Pearson chi2/(n-k) dispersion (R
  ``quasipoisson``). negbin is NB2 by maximum likelihood (dispersion alpha in
  ``extra``). Normal intervals.
- **binomial / quasibinomial**: logit link on numerator successes out of
  denominator trials; quasibinomial uses the Pearson dispersion. Normal intervals.

``fitted`` is always on the response scale: the mean count (including the offset)
for count models and the proportion (0-1) for binomial models. Inputs must be
finite; drop missing rows before calling.
"""
from __future__ import annotations

import logging
import math
import warnings as _warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats

from evallib.exceptions import ModelError
from evallib.stats import ols as O
from evallib.stats.prais import prais_winsten, prais_winsten_designs

logger = logging.getLogger(__name__)

LINEAR_MODELS = ("ols-hac", "prais-winsten", "arima")
COUNT_MODELS = ("poisson", "quasipoisson", "negbin")
BINOMIAL_MODELS = ("binomial", "quasibinomial")
ALL_MODELS = LINEAR_MODELS + COUNT_MODELS + BINOMIAL_MODELS


# hac_lags='auto' is the docs/contracts.md convention (no prewhitening, lag floor(4 (n/100)^(2/9)));
# hac_lags='prewhite' is R NeweyWest(fit, adjust=TRUE) with its defaults. See the module docstring.
AUTO_PREWHITEN = False


def link_of(model: str) -> str:
    """'identity', 'log' or 'logit'."""
    if model in COUNT_MODELS:
        return "log"
    if model in BINOMIAL_MODELS:
        return "logit"
    return "identity"


def auto_hac_lags(n: int) -> int:
    """Newey–West (1994) rule of thumb floor(4 * (n/100)^(2/9)): 2 for n = 5..27,
    3 for 28..99, 4 for 100..272. Used as the batch default (benchmarks, placebo
    grids), where the per-series automatic bandwidth of ``hac_lags='auto'`` is not."""
    return max(0, int(math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0))))


@dataclass
class Fit:
    """One fitted model. Arrays are numpy; ``columns`` names the coefficients."""

    model: str
    params: np.ndarray
    cov: np.ndarray
    df_resid: float
    resid: np.ndarray
    fitted: np.ndarray
    link: str
    dist: str                      # 't' (OLS-based) or 'normal'
    dispersion: float = 1.0
    hac_lags_used: int | None = None
    converged: bool = True
    warnings: list[str] = field(default_factory=list)
    columns: list[str] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def n_obs(self) -> int:
        return int(len(self.resid))

    def crit(self, alpha: float = 0.05) -> float:
        """Two-sided critical value: t(df_resid) or normal."""
        if self.dist == "t":
            return float(stats.t.ppf(1 - alpha / 2, self.df_resid))
        return float(stats.norm.ppf(1 - alpha / 2))

    def pvalue(self, z) -> np.ndarray:
        """Two-sided p-value of a statistic estimate/se."""
        z = np.abs(np.asarray(z, dtype=float))
        if self.dist == "t":
            return 2 * stats.t.sf(z, self.df_resid)
        return 2 * stats.norm.sf(z)

    def contrast(self, weights: np.ndarray) -> tuple[float, float]:
        """Estimate and standard error of ``weights @ params``."""
        w = np.asarray(weights, dtype=float)
        return float(w @ self.params), float(np.sqrt(max(w @ self.cov @ w, 0.0)))


# --------------------------------------------------------------------------- checks
def collinear_columns(X: np.ndarray, names: Sequence[str] | None = None, tol: float = 1e-9) -> list[str]:
    """Columns that are (numerically) linear combinations of the columns before them."""
    X = np.asarray(X, dtype=float)
    names = list(names) if names is not None else [f"x{i}" for i in range(X.shape[1])]
    scale = np.linalg.norm(X, axis=0)
    scale[scale == 0] = 1.0
    Z = X / scale
    out = []
    keep: list[int] = []
    for j in range(Z.shape[1]):
        if keep:
            Q, _ = np.linalg.qr(Z[:, keep])
            r = Z[:, j] - Q @ (Q.T @ Z[:, j])
        else:
            r = Z[:, j]
        if np.linalg.norm(r) < 1e-7 or not np.any(X[:, j]):
            out.append(names[j])
        else:
            keep.append(j)
    return out


def _check_inputs(X: np.ndarray, arrays: dict, names) -> None:
    if X.ndim != 2:
        raise ModelError(f"design matrix must be 2-D, got shape {X.shape}")
    n, k = X.shape
    if not np.all(np.isfinite(X)):
        raise ModelError("design matrix has missing or infinite values")
    for label, a in arrays.items():
        if a is None:
            continue
        if a.shape[0] != n:
            raise ModelError(f"{label} has {a.shape[0]} rows but the design has {n}")
        if not np.all(np.isfinite(a)):
            raise ModelError(f"{label} has missing or infinite values: drop those rows before fitting")
    if n <= k:
        raise ModelError(f"{n} observations for {k} coefficients: the model cannot be estimated")
    bad = collinear_columns(X, names)
    if bad:
        raise ModelError(f"the design is perfectly collinear: {', '.join(bad)} "
                         f"{'is a linear combination' if len(bad) == 1 else 'are linear combinations'} of "
                         f"the other terms; remove {'it' if len(bad) == 1 else 'them'} or change the "
                         f"interruptions/seasonality")


# --------------------------------------------------------------------------- OLS + HAC
def hac_meat(X: np.ndarray, U: np.ndarray, lags: int) -> np.ndarray:
    """Bartlett-kernel meat for each column of U: sum_l w_l (G_l + G_l'), shape (m, k, k).

    ``U`` is (n, m) residuals of m series sharing X; ``G_l = sum_t u_t u_{t-l} x_t x_{t-l}'``.
    """
    U = U.reshape(U.shape[0], -1)
    n, k = X.shape
    m = U.shape[1]
    # one matrix product per lag: (k*k, n-l) outer products of the design rows @ (n-l, m)
    acc = (X[:, :, None] * X[:, None, :]).reshape(n, k * k).T @ (U * U)
    for lag in range(1, lags + 1):
        w = 1.0 - lag / (lags + 1.0)
        XX = (X[lag:, :, None] * X[:-lag, None, :]).reshape(n - lag, k * k)
        G = XX.T @ (U[lag:] * U[:-lag])                      # (k*k, m): G_l for every series
        acc += w * (G + G.reshape(k, k, m).transpose(1, 0, 2).reshape(k * k, m))
    return np.ascontiguousarray(acc.T).reshape(m, k, k)


def ols_hac_batch(X: np.ndarray, Y: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS + Newey–West for many outcomes sharing one design.

    ``X`` (n, k), ``Y`` (n, m). Returns ``B`` (k, m), ``cov`` (m, k, k) and
    residuals (n, m). The covariance is ``n/(n-k) (X'X)^-1 S (X'X)^-1`` (see the module
    docstring). No missing values allowed; no rank check (call :func:`fit` for that).
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float).reshape(X.shape[0], -1)
    n, k = X.shape
    XtX_inv = np.linalg.inv(X.T @ X)
    B = XtX_inv @ (X.T @ Y)
    U = Y - X @ B
    S = hac_meat(X, U, lags)
    cov = (n / (n - k)) * (XtX_inv @ S @ XtX_inv)
    return B, cov, U


def bartlett_meat(V: np.ndarray, lags: int) -> np.ndarray:
    """``sum_l w_l (G_l + G_l')`` for the time-ordered rows of V (n, k), ``G_l = sum_t v_t v_{t-l}'``.

    Bartlett weights ``w_l = 1 - l/(lags + 1)``; ``G_0`` is counted once (``V'V``). Rows
    are scores (x_t u_t), or per-period sums of scores (Driscoll–Kraay). ``lags = 0``
    gives ``V'V``; lags of n or more add nothing beyond the data.
    """
    S = V.T @ V
    for lag in range(1, lags + 1):
        G = V[lag:].T @ V[:-lag]
        S += (1.0 - lag / (lags + 1.0)) * (G + G.T)
    return S


def nw_bandwidth_weights(X: np.ndarray) -> tuple[np.ndarray, int]:
    """``(w, ml)`` for the Newey–West (1994) bandwidth of scores of the design ``X`` (n, k).

    ``w``: weights of the score columns in ``h_t = e_t' w``, 1 except 0 for an intercept
    column (constant 1), all 1 when every column is an intercept; ``ml = floor(3
    (n/100)^(2/9))`` autocovariances of h enter the bandwidth (R ``bwNeweyWest``).
    """
    n, k = X.shape
    w = np.ones(k)
    w[np.all(X == 1.0, axis=0)] = 0.0
    if not np.any(w):
        w[:] = 1.0
    return w, int(math.floor(3.0 * (n / 100.0) ** (2.0 / 9.0)))


def nw_bandwidth(sig: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(bw, L)``: Newey–West (1994) bandwidth and Bartlett lag from autocovariances of h.

    ``sig`` (ml+1,) or (ml+1, S) for S series: ``sigma_j``, j = 0..ml. ``s0 = sigma_0 + 2
    sum sigma_j``, ``s1 = 2 sum j sigma_j``, ``bw = 1.1447 ((s1/s0)^2)^(1/3) n^(1/3)``
    (0 when s0 <= 0) and ``L = min(floor(bw), n - 2)`` (0 when bw is not finite).
    Arrays of shape () or (S,).
    """
    ml = sig.shape[0] - 1
    j = np.arange(1, ml + 1).reshape((-1,) + (1,) * (sig.ndim - 1))
    s0 = sig[0] + 2.0 * sig[1:].sum(axis=0)
    s1 = 2.0 * (j * sig[1:]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bw = np.where(s0 > 0, 1.1447 * ((s1 / s0) ** 2) ** (1.0 / 3.0) * n ** (1.0 / 3.0), 0.0)
    L = np.where(np.isfinite(bw), np.minimum(np.floor(bw), n - 2), 0).astype(int)
    return bw, L


def newey_west_auto(X: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, int, float]:
    """Newey–West with VAR(1) prewhitening and the Newey–West (1994) automatic lag.

    This is R ``sandwich::NeweyWest(fit, adjust=TRUE)`` with its defaults ``lag=NULL,
    prewhite=TRUE`` (Andrews & Monahan 1992 prewhitening; ``bwNeweyWest`` bandwidth):

    1. scores ``v_t = x_t u_t``; VAR(1) without intercept ``v_t = A v_{t-1} + e_t`` by OLS;
    2. bandwidth from ``h_t = e_t' w`` (w = 1 except 0 for the intercept column):
       ``m = floor(3 (n/100)^(2/9))``, ``sigma_j = sum h_t h_{t-j} / (n-1)``,
       ``s0 = sigma_0 + 2 sum sigma_j``, ``s1 = 2 sum j sigma_j``,
       ``bw = 1.1447 ((s1/s0)^2)^(1/3) n^(1/3)`` and lag ``L = floor(bw)``;
    3. Bartlett meat of ``e_t`` with lag L, times n/(n-k), recoloured by
       ``D = (I - A)^-1``: ``S = D S_e D'``; covariance ``(X'X)^-1 S (X'X)^-1``.

    Returns (covariance, lag, bandwidth). A degenerate bandwidth gives lag 0.
    """
    n, k = X.shape
    V = X * u[:, None]
    A = np.linalg.lstsq(V[:-1], V[1:], rcond=None)[0].T
    Ev = V[1:] - V[:-1] @ A.T
    m = n - 1
    w, ml = nw_bandwidth_weights(X)
    h = Ev @ w
    sig = np.array([h[: m - j] @ h[j:] / m for j in range(ml + 1)])
    bw, L = nw_bandwidth(sig, n)
    bw, L = float(bw), int(L)
    D = np.linalg.inv(np.eye(k) - A)
    S = D @ ((n / (n - k)) * bartlett_meat(Ev, L)) @ D.T
    XtX_inv = np.linalg.inv(X.T @ X)
    return XtX_inv @ S @ XtX_inv, L, float(bw)


def newey_west_cov(X: np.ndarray, y: np.ndarray, lags: int) -> np.ndarray:
    """Newey–West covariance of the OLS fit of one series: statsmodels ``OLS(y, X).fit(
    cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True})``.

    Bartlett weights ``1 - l/(lags+1)``; ``use_correction=True`` is the n/(n-k) factor
    itself (statsmodels ``cov_hac``), so nothing is multiplied on top. Equal to
    :func:`ols_hac_batch` and to R ``sandwich::NeweyWest(fit, lag=lags, adjust=TRUE,
    prewhite=FALSE)`` (see the module docstring).
    """
    from statsmodels.regression.linear_model import OLS

    res = OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": int(lags), "use_correction": True})
    return np.asarray(res.cov_params(), dtype=float)


def _fit_ols_hac(X, y, hac_lags) -> Fit:
    n, k = X.shape
    warns = []
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    resid = y - X @ beta
    rss = float(resid @ resid)
    extra = {"sigma2": rss / (n - k), "rss": rss}
    if hac_lags == "auto" and not AUTO_PREWHITEN:
        L = auto_hac_lags(n)
        cov = newey_west_cov(X, y, L)
        extra["hac_prewhite"] = False
    elif hac_lags in ("auto", "prewhite") and n - 1 < 2 * k:
        L = auto_hac_lags(n)
        warns.append(f"hac_lags {hac_lags}: {n} observations are too few to prewhiten {k} scores (a VAR(1) needs "
                     f"at least {2 * k + 1}); used Newey-West with the rule-of-thumb lag {L} instead")
        cov = newey_west_cov(X, y, L)
        extra["hac_prewhite"] = False
    elif hac_lags in ("auto", "prewhite"):
        cov, L, bw = newey_west_auto(X, resid)
        extra.update({"hac_prewhite": True, "hac_bandwidth": bw})
    else:
        L = int(hac_lags)
        if L >= n - 1:
            raise ModelError(f"hac_lags {L} is not below the number of observations {n}")
        if L > 3 * auto_hac_lags(n) and L > 6:
            warns.append(f"hac_lags {L} is large for {n} observations; Newey–West is unreliable with long lags")
        cov = newey_west_cov(X, y, L)
        extra["hac_prewhite"] = False
    return Fit("ols-hac", beta, cov, float(n - k), resid, X @ beta, "identity", "t",
               dispersion=rss / (n - k), hac_lags_used=L, warnings=warns, extra=extra)


# --------------------------------------------------------------------------- Prais–Winsten
def _fit_prais(X, y) -> Fit:
    pw = prais_winsten(X, y)
    rho, it = pw.rho, pw.iterations
    warns = [] if pw.converged else [f"prais-winsten: rho did not converge in {it} iterations (last rho {rho:.4f})"]
    return Fit("prais-winsten", pw.params, pw.cov, pw.df_resid, pw.resid, X @ pw.params, "identity", "t",
               dispersion=pw.sigma2, converged=pw.converged, warnings=warns,
               extra={"rho": rho, "iterations": it, "sigma2": pw.sigma2})


# --------------------------------------------------------------------------- ARIMA errors
def _fit_arima(X, y, order) -> Fit:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    n, k = X.shape
    p, d, q = (int(v) for v in order)
    if d != 0:
        raise ModelError(f"arima_order {tuple(order)}: only d = 0 is supported (regression with ARMA errors)")
    warns: list[str] = []
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        mod = SARIMAX(y, exog=X, order=(p, 0, q), trend="n")
        res = mod.fit(disp=False, maxiter=500, cov_type="approx")
    converged = bool(res.mle_retvals.get("converged", True)) if res.mle_retvals else True
    for w in caught:
        text = str(w.message).splitlines()[0]
        if text and f"arima: {text}" not in warns:
            warns.append(f"arima: {text}")
    if not converged:
        warns.insert(0, f"arima({p},0,{q}): the likelihood optimiser did not converge; "
                        "treat its estimates with caution")
    params = np.asarray(res.params, dtype=float)
    cov = np.asarray(res.cov_params(), dtype=float)
    beta = params[:k]
    cov_b = cov[:k, :k]
    if not np.all(np.isfinite(cov_b)):
        warns.append("arima: the covariance matrix could not be computed; standard errors are missing")
    names = list(mod.param_names)
    extra = {name: float(v) for name, v in zip(names[k:], params[k:])}
    se_arma = np.sqrt(np.clip(np.diag(cov)[k:], 0.0, None))
    extra.update({f"se_{name}": float(v) for name, v in zip(names[k:], se_arma)})
    extra.update({"llf": float(res.llf), "aic": float(res.aic), "order": [p, 0, q],
                  "cov_type": "inverse numerical Hessian of the exact log-likelihood (as R arima)"})
    return Fit("arima", beta, cov_b, float(n - k), np.asarray(res.resid, dtype=float), X @ beta,
               "identity", "normal", dispersion=float(extra.get("sigma2", np.nan)), converged=converged,
               warnings=warns, extra=extra)


# --------------------------------------------------------------------------- GLMs
def _glm_fit(model, X, y, numerator, denominator) -> Fit:
    import statsmodels.api as sm

    n, k = X.shape
    warns: list[str] = []
    extra: dict = {}
    if model in COUNT_MODELS:
        if np.any(y < 0):
            raise ModelError(f"{model} needs non-negative counts; the series has negative values")
        offset = None
        if denominator is not None:
            if np.any(denominator <= 0):
                raise ModelError(f"{model}: the denominator (exposure) must be positive for log(denominator)")
            offset = np.log(denominator)
        if model == "negbin":
            from statsmodels.discrete.discrete_model import NegativeBinomial

            with _warnings.catch_warnings(record=True) as caught:
                _warnings.simplefilter("always")
                res = NegativeBinomial(y, X, offset=offset, loglike_method="nb2").fit(
                    disp=0, maxiter=500, method="bfgs")
            converged = bool(res.mle_retvals.get("converged", True))
            for w in caught:
                warns.append(f"negbin: {str(w.message).splitlines()[0]}")
            params = np.asarray(res.params, dtype=float)
            beta = params[:k]
            cov = np.asarray(res.cov_params(), dtype=float)[:k, :k]
            eta = X @ beta + (offset if offset is not None else 0.0)
            mu = np.exp(eta)
            alpha = float(params[k])
            pearson = (y - mu) / np.sqrt(mu + alpha * mu * mu)
            extra.update({"alpha": alpha, "llf": float(res.llf)})
            if not converged:
                warns.insert(0, "negbin: the likelihood optimiser did not converge")
            disp = float(pearson @ pearson) / (n - k)
            extra["pearson_dispersion"] = disp
            return Fit(model, beta, cov, float(n - k), pearson, mu, "log", "normal", dispersion=1.0,
                       converged=converged, warnings=warns, extra=extra)
        family = sm.families.Poisson()
        endog = y
        glm = sm.GLM(endog, X, family=family, offset=offset)
    else:
        if numerator is None or denominator is None:
            raise ModelError(f"{model} needs numerator and denominator columns")
        if np.any(denominator <= 0) or np.any(numerator < 0) or np.any(numerator > denominator):
            raise ModelError(f"{model} needs 0 <= numerator <= denominator and denominator > 0")
        # proportions with var_weights = trials: statsmodels' scale="X2" ignores the trials of a
        # two-column (successes, failures) endog, which would understate quasibinomial SEs
        glm = sm.GLM(numerator / denominator, X, family=sm.families.Binomial(), var_weights=denominator)
    quasi = model.startswith("quasi")
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        # a relative tolerance on the deviance: an absolute one grows harder to meet with the number of rows
        # (a 1,000-comparator stacked panel took 15-54 IRLS iterations, each copying the design)
        res = glm.fit(scale="X2" if quasi else None, maxiter=200, atol=0.0, rtol=1e-12)
    for w in caught:
        warns.append(f"{model}: {str(w.message).splitlines()[0]}")
    converged = bool(res.converged)
    if not converged:
        warns.insert(0, f"{model}: IRLS did not converge")
    pearson = np.asarray(res.resid_pearson, dtype=float)
    pdisp = float(res.pearson_chi2) / (n - k)
    extra.update({"pearson_dispersion": pdisp, "deviance": float(res.deviance),
                  "pearson_chi2": float(res.pearson_chi2), "llf": float(res.llf)})
    mu = np.asarray(res.fittedvalues, dtype=float)  # mean count (incl. offset) or proportion
    return Fit(model, np.asarray(res.params, dtype=float), np.asarray(res.cov_params(), dtype=float),
               float(n - k), pearson, mu, link_of(model), "normal",
               dispersion=float(res.scale) if quasi else 1.0, converged=converged, warnings=warns,
               extra=extra)


# --------------------------------------------------------------------------- entry point
def fit(model: str, X, y=None, *, numerator=None, denominator=None, hac_lags="auto",
        arima_order=(1, 0, 0), columns: Sequence[str] | None = None, check: bool = True) -> Fit:
    """Fit ``model`` to outcome ``y`` (or numerator/denominator) on design ``X``.

    - ``X``: (n, k) array or DataFrame (its column names are kept in ``Fit.columns``).
    - ``y``: outcome for linear and count models (counts for poisson/quasipoisson/negbin).
    - ``numerator``/``denominator``: binomial models need both; count models use
      ``denominator`` as exposure (offset log(denominator)).
    - ``hac_lags``: 'auto' or an int (ols-hac only). ``arima_order``: (p, 0, q).
    - ``check``: run the finiteness and collinearity checks (ModelError on failure).
    """
    if model not in ALL_MODELS:
        raise ModelError(f"model {model!r} is not one of {', '.join(ALL_MODELS)}")
    if hasattr(X, "columns"):
        columns = list(X.columns) if columns is None else list(columns)
    Xa = np.asarray(X, dtype=float)
    ya = None if y is None else np.asarray(y, dtype=float).ravel()
    num = None if numerator is None else np.asarray(numerator, dtype=float).ravel()
    den = None if denominator is None else np.asarray(denominator, dtype=float).ravel()
    if model in BINOMIAL_MODELS:
        if num is None or den is None:
            raise ModelError(f"model {model} needs numerator and denominator columns")
    elif ya is None:
        raise ModelError(f"model {model} needs an outcome y")
    if check:
        _check_inputs(Xa, {"y": ya, "numerator": num, "denominator": den}, columns)
    try:
        if model == "ols-hac":
            out = _fit_ols_hac(Xa, ya, hac_lags)
        elif model == "prais-winsten":
            out = _fit_prais(Xa, ya)
        elif model == "arima":
            out = _fit_arima(Xa, ya, arima_order)
        else:
            out = _glm_fit(model, Xa, ya, num, den)
    except np.linalg.LinAlgError as exc:
        raise ModelError(f"{model} could not be fitted: {exc} (the design or the data are degenerate)") from exc
    out.columns = columns
    for w in out.warnings:
        logger.warning(w)
    return out


# --------------------------------------------------------------------------- many designs at once
#: models :func:`fit_designs` fits in one batched computation; the others fall back to :func:`fit`
BATCHED_MODELS = ("ols-hac", "prais-winsten", "poisson", "quasipoisson", "binomial", "quasibinomial")


def _design_error(model, X, y, num, den, columns) -> ModelError | None:
    """The ModelError :func:`fit` would raise for this design before fitting, or None."""
    try:
        _check_inputs(X, {"y": y, "numerator": num, "denominator": den}, columns)
        if model in COUNT_MODELS:
            if np.any(y < 0):
                raise ModelError(f"{model} needs non-negative counts; the series has negative values")
            if den is not None and np.any(den <= 0):
                raise ModelError(f"{model}: the denominator (exposure) must be positive for log(denominator)")
        if model in BINOMIAL_MODELS and (np.any(den <= 0) or np.any(num < 0) or np.any(num > den)):
            raise ModelError(f"{model} needs 0 <= numerator <= denominator and denominator > 0")
    except ModelError as exc:
        return exc
    return None


def fit_designs(model: str, Xs, ys=None, *, numerators=None, denominators=None, hac_lags="auto",
                arima_order=(1, 0, 0), columns: Sequence[str] | None = None) -> list:
    """:func:`fit` for many (design, outcome) pairs at once: ``Xs[d]`` (n_d, k) with ``ys[d]`` (or
    ``numerators[d]``/``denominators[d]``). Returns one :class:`Fit` per design, or the
    :class:`~evallib.exceptions.ModelError` :func:`fit` would have raised for it.

    Placebo dates use it: every date moves the interruption, so each has its own design over
    the same outcome. One batched computation (:mod:`evallib.stats.ols`,
    :func:`evallib.stats.prais.prais_winsten_designs`) serves

    - ``ols-hac`` with ``hac_lags`` ``auto`` or an integer (the same numbers as statsmodels
      HAC with ``use_correction=True``);
    - ``prais-winsten`` (the same iterations as :func:`evallib.stats.prais.prais_winsten`);
    - ``poisson``, ``quasipoisson``, ``binomial``, ``quasibinomial`` (IRLS to convergence:
      the maximum statsmodels' GLM reaches; its warnings, e.g. about perfect separation, are
      not raised, a design that does not converge in 200 iterations gets a warning).

    The others are fitted one by one with :func:`fit`, because a batched form would not be
    honest: ``arima`` (exact Gaussian likelihood through a Kalman filter, maximised by a
    numerical optimiser per series, covariance from a numerical Hessian), ``negbin`` (the NB2
    dispersion by BFGS per series) and ``hac_lags: prewhite`` (a VAR(1) prewhitening and a
    data-driven bandwidth per series, with its own small-sample fallback).

    Equal to :func:`fit` design by design to about 1e-12 relative (tests/test_placebo_batch.py).
    """
    if model not in ALL_MODELS:
        raise ModelError(f"model {model!r} is not one of {', '.join(ALL_MODELS)}")
    m = len(Xs)
    Xs = [np.asarray(X, dtype=float) for X in Xs]

    def col(a, d):
        return None if a is None or a[d] is None else np.asarray(a[d], dtype=float).ravel()

    ys_ = [col(ys, d) for d in range(m)]
    nums = [col(numerators, d) for d in range(m)]
    dens = [col(denominators, d) for d in range(m)]
    out: list = [None] * m
    if model not in BATCHED_MODELS or (model == "ols-hac" and (hac_lags == "prewhite" or
                                                               (hac_lags == "auto" and AUTO_PREWHITEN))):
        for d in range(m):
            try:
                out[d] = fit(model, Xs[d], ys_[d], numerator=nums[d], denominator=dens[d], hac_lags=hac_lags,
                             arima_order=arima_order, columns=columns)
            except ModelError as exc:
                out[d] = exc
        return out
    if model in BINOMIAL_MODELS and any(nums[d] is None or dens[d] is None for d in range(m)):
        raise ModelError(f"model {model} needs numerator and denominator columns")
    if model not in BINOMIAL_MODELS and any(y is None for y in ys_):
        raise ModelError(f"model {model} needs an outcome y")
    ok = []
    for d in range(m):
        err = _design_error(model, Xs[d], ys_[d], nums[d], dens[d], columns)
        if err is None and model == "ols-hac" and hac_lags != "auto" and int(hac_lags) >= Xs[d].shape[0] - 1:
            err = ModelError(f"hac_lags {int(hac_lags)} is not below the number of observations {Xs[d].shape[0]}")
        if err is not None:
            out[d] = err
        else:
            ok.append(d)
    by_k: dict[int, list[int]] = {}
    for d in ok:
        by_k.setdefault(Xs[d].shape[1], []).append(d)
    for group in by_k.values():
        fits = _fit_batch(model, [Xs[d] for d in group], [ys_[d] for d in group], [nums[d] for d in group],
                          [dens[d] for d in group], hac_lags)
        for d, f in zip(group, fits):
            f.columns = list(columns) if columns is not None else None
            for w in f.warnings:
                logger.warning(w)
            out[d] = f
    return out


def _fit_batch(model, Xs, ys, nums, dens, hac_lags) -> list[Fit]:
    import statsmodels.api as sm

    P = O.pad_designs(Xs)
    k = Xs[0].shape[1]
    out = []
    if model == "ols-hac":
        Y = P.pad(ys)
        lags = np.array([auto_hac_lags(int(n)) if hac_lags == "auto" else int(hac_lags) for n in P.n])
        B, cov, U = O.ols_hac_designs(P, Y, lags)
        for d, X in enumerate(Xs):
            n = int(P.n[d])
            resid = U[d, :n].copy()
            rss = float(resid @ resid)
            warns = []
            L = int(lags[d])
            if hac_lags != "auto" and L > 3 * auto_hac_lags(n) and L > 6:
                warns.append(f"hac_lags {L} is large for {n} observations; Newey–West is unreliable with long lags")
            out.append(Fit("ols-hac", B[d], cov[d], float(n - k), resid, X @ B[d], "identity", "t",
                           dispersion=rss / (n - k), hac_lags_used=L, warnings=warns,
                           extra={"sigma2": rss / (n - k), "rss": rss, "hac_prewhite": False}))
        return out
    if model == "prais-winsten":
        pw = prais_winsten_designs(P.X, P.pad(ys), P.valid)
        for d, X in enumerate(Xs):
            n = int(P.n[d])
            rho, conv = float(pw.rho[d]), bool(pw.converged[d])
            warns = [] if conv else [f"prais-winsten: rho did not converge in {pw.iterations} iterations "
                                     f"(last rho {rho:.4f})"]
            s2 = float(pw.sigma2[d])
            out.append(Fit("prais-winsten", pw.params[d], pw.cov[d], float(n - k), pw.resid[d, :n].copy(),
                           X @ pw.params[d], "identity", "t", dispersion=s2, converged=conv, warnings=warns,
                           extra={"rho": rho, "iterations": pw.iterations, "sigma2": s2}))
        return out
    quasi = model.startswith("quasi")
    if model in COUNT_MODELS:
        y = P.pad(ys)
        offset = None if dens[0] is None else P.pad([np.log(den) for den in dens])
        g = O.irls_designs("poisson", P, y, offset=offset)
        family = sm.families.Poisson()
    else:
        y = P.pad([nu / de for nu, de in zip(nums, dens)])
        trials = P.pad(dens)
        g = O.irls_designs("binomial", P, y, trials=trials)
        family = sm.families.Binomial()
    for d, X in enumerate(Xs):
        n = int(P.n[d])
        chi2 = float(g.pearson_chi2[d])
        scale = chi2 / (n - k) if quasi else 1.0
        mu = g.mu[d, :n].copy()
        endog = ys[d] if model in COUNT_MODELS else nums[d] / dens[d]
        vw = None if model in COUNT_MODELS else dens[d]
        llf = float(family.loglike(endog, mu, var_weights=vw if vw is not None else 1.0, scale=scale))
        conv = bool(g.converged[d])
        warns = [] if conv else [f"{model}: IRLS did not converge"]
        out.append(Fit(model, g.params[d], scale * g.bread[d], float(n - k), g.pearson[d, :n].copy(), mu,
                       link_of(model), "normal", dispersion=scale, converged=conv, warnings=warns,
                       extra={"pearson_dispersion": chi2 / (n - k), "deviance": float(g.deviance[d]),
                              "pearson_chi2": chi2, "llf": llf}))
    return out


def wald_test(f: Fit, R: np.ndarray) -> dict:
    """Joint Wald test of ``R @ params = 0``: F = W/q on (q, df_resid) for t-based
    fits, chi2(q) (reported as F = W/q with p from chi2) for normal-based fits."""
    R = np.atleast_2d(np.asarray(R, dtype=float))
    q = R.shape[0]
    r = R @ f.params
    V = R @ f.cov @ R.T
    W = float(r @ np.linalg.solve(V, r))
    if f.dist == "t":
        return {"F": W / q, "df": [q, f.df_resid], "p": float(stats.f.sf(W / q, q, f.df_resid)),
                "method": "Wald F test with the model covariance"}
    return {"F": W / q, "df": [q, None], "p": float(stats.chi2.sf(W, q)),
            "method": "Wald chi-squared test with the model covariance (F = W/q)"}
