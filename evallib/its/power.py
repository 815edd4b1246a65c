"""Simulation power and minimum detectable effect for a segmented-regression ITS.

The design: ``n_pre`` periods before the interruption and ``n_post`` from it
(the interruption period is the first post period, docs/contracts.md §3), columns
intercept, pre_trend, level_change, slope_change, plus optional earlier
interruptions (``other_interruptions``: positions, counted from 0 at the first
period, each with level and slope terms, e.g. COVID-19 before the collaborative)
and seasonal terms (``seasonality`` as in params: none, month, fourierK, on a
calendar starting at ``start``).

Errors are AR(1): ``e_t = rho e_{t-1} + u_t`` started from the stationary
distribution, with ``sigma`` the **marginal** standard deviation of ``e`` (what a
residual standard deviation estimates), so the innovations have sd
``sigma * sqrt(1 - rho^2)``.

The tested term is ``level_change`` (``effect_type='level'``: a step of size
``effect`` at the interruption) or ``slope_change`` (``'slope'``: ``effect`` per
period), two-sided at ``alpha``, with the estimator's own t test:

- ``ols``: OLS, classical standard errors (exact t test when rho = 0);
- ``ols-hac``: OLS with Newey–West errors, Bartlett kernel, n/(n-k), exactly as
  :mod:`evallib.its.estimators`: ``hac_lags='auto'`` is its rule-of-thumb lag
  ``floor(4 (n/100)^(2/9))`` without prewhitening, ``'prewhite'`` is R's automatic
  procedure (VAR(1) prewhitening and the Newey–West 1994 bandwidth, per simulated
  series), an integer is a fixed lag;
- ``prais-winsten``: iterated Prais–Winsten keeping the first observation, as
  :func:`evallib.stats.prais.prais_winsten` (the engine's own estimator, batched).

**Why one simulation serves every effect size.** Every estimator here is, given its
residuals, linear in y, and adding ``effect`` times a design column changes no
residual (it lies in the column space; Prais–Winsten's rho is estimated from
residuals, so it does not change either). So the estimate under effect d is the
null estimate plus d, with the same standard error. Power for any d is
``mean(|b0 + d| / se > t_crit)`` over one set of null draws: power curves are exact
functions of d for a given seed (common random numbers), monotone within Monte Carlo
error, and the minimum detectable effect is found by bisection without re-simulating.
The simulation is vectorised: one design, ``n_sim`` outcome vectors at once.
Monte Carlo standard error of a power p is ``sqrt(p (1 - p) / n_sim)``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np
import pandas as pd

from evallib.its.estimators import auto_hac_lags, nw_bandwidth, nw_bandwidth_weights
from evallib.exceptions import DataError, ModelError, ParameterError
from evallib.stats.prais import prais_winsten

logger = logging.getLogger(__name__)

POWER_MODELS = ("ols", "ols-hac", "prais-winsten")
EFFECT_TYPES = ("level", "slope")


# ============================================================================ design
def power_design(n_pre: int, n_post: int, *, effect_type: str = "level", seasonality: str = "none",
                 other_interruptions: Sequence[int] = (), start: str = "2000-01") -> tuple[np.ndarray, int]:
    """The design matrix (n_pre + n_post, k) and the index of the tested column."""
    from evallib.its.design import seasonal_terms

    _check_lengths(n_pre, n_post)
    if effect_type not in EFFECT_TYPES:
        raise ParameterError(f"effect_type {effect_type!r} is not allowed (expected level or slope)")
    n = n_pre + n_post
    t = np.arange(n, dtype=float)
    cols = [np.ones(n), t]
    for k in sorted(other_interruptions):
        if not 0 < k < n_pre:
            raise ParameterError(f"other_interruptions position {k} must lie inside the pre-period (1..{n_pre - 1})")
        cols += [(t >= k).astype(float), np.where(t >= k, t - k, 0.0)]
    post = t >= n_pre
    level = post.astype(float)
    slope = np.where(post, t - n_pre, 0.0)
    cols += [level, slope]
    j = len(cols) - (2 if effect_type == "level" else 1)
    if seasonality not in (None, "none"):
        from evallib.periods import parse_period

        p0 = parse_period(start)
        seas, _ = seasonal_terms([p0 + i for i in range(n)], seasonality)
        cols += [seas[c].to_numpy(dtype=float) for c in seas.columns]
    X = np.column_stack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ModelError(f"the power design with n_pre {n_pre}, n_post {n_post}, other_interruptions "
                         f"{list(other_interruptions)} and seasonality {seasonality} is collinear; lengthen "
                         f"the segments or drop terms")
    return X, j


def _check_lengths(n_pre: int, n_post: int) -> None:
    for name, v in (("n_pre", n_pre), ("n_post", n_post)):
        if not isinstance(v, (int, np.integer)) or v < 2:
            raise ParameterError(f"{name} {v!r} must be an integer of at least 2 (a segment needs two points "
                                 f"for its trend)")


def ar1_noise(n: int, n_sim: int, rho: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """(n, n_sim) stationary AR(1) draws with marginal sd ``sigma``."""
    u = rng.standard_normal((n, n_sim))
    e = np.empty_like(u)
    e[0] = sigma * u[0]
    s = sigma * math.sqrt(1.0 - rho * rho)
    for t in range(1, n):
        e[t] = rho * e[t - 1] + s * u[t]
    return e


# ============================================================================ estimators (batched)
def _ols_stats(X: np.ndarray, E: np.ndarray, j: int, model: str, hac_lags) -> tuple[np.ndarray, np.ndarray, float]:
    n, k = X.shape
    XtX_inv = np.linalg.inv(X.T @ X)
    a = X @ XtX_inv[:, j]                # c'b = a'y
    B = XtX_inv @ (X.T @ E)
    U = E - X @ B
    b = B[j]
    if model == "ols":
        s2 = np.sum(U * U, axis=0) / (n - k)
        return b, np.sqrt(s2 * XtX_inv[j, j]), float(n - k)
    if hac_lags == "prewhite":
        return b, _nw_auto_se(X, U, XtX_inv[:, j]), float(n - k)
    L = auto_hac_lags(n) if hac_lags == "auto" else int(hac_lags)
    if L >= n - 1:
        raise ParameterError(f"hac_lags {L} is not below the number of observations {n}")
    Z = a[:, None] * U
    V = np.sum(Z * Z, axis=0)
    for lag in range(1, L + 1):
        V += 2.0 * (1.0 - lag / (L + 1.0)) * np.sum(Z[lag:] * Z[:-lag], axis=0)
    V *= n / (n - k)
    return b, np.sqrt(np.clip(V, 0.0, None)), float(n - k)


def _nw_auto_se(X: np.ndarray, U: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Standard error of c'(X'X)^-1 X'y under ``newey_west_auto`` for every column of U.

    The engine's 'prewhite' rule (R ``NeweyWest(fit, adjust=TRUE)``: VAR(1) prewhitening
    of the scores, Newey–West 1994 bandwidth, Bartlett kernel, n/(n-k)), batched:
    each series gets its own VAR matrix and lag; only the scalar score series
    z_t = e_t'q with q = (I - A')^-1 c is needed for one coefficient.
    """
    n, k = X.shape
    S = U.shape[1]
    V = X[:, :, None] * U[:, None, :]                       # (n, k, S)
    V0, V1 = V[:-1], V[1:]
    M = np.einsum("tis,tjs->sij", V0, V0)
    N = np.einsum("tis,tjs->sij", V0, V1)
    try:
        At = np.linalg.solve(M, N)                          # A' per series: V1 ~ V0 @ A'
    except np.linalg.LinAlgError:
        At = np.linalg.pinv(M) @ N
    Ev = V1 - np.einsum("tis,sij->tjs", V0, At)             # (n-1, k, S)
    m = n - 1
    w, ml = nw_bandwidth_weights(X)
    h = np.einsum("tjs,j->ts", Ev, w)
    sig = np.stack([np.sum(h[: m - jj] * h[jj:], axis=0) / m for jj in range(ml + 1)])
    _, L = nw_bandwidth(sig, n)
    q = np.linalg.solve(np.eye(k)[None] - At, np.broadcast_to(c, (S, k))[..., None])[..., 0]   # (S, k)
    z = np.einsum("tjs,sj->ts", Ev, q)
    var = np.sum(z * z, axis=0)
    for lag in range(1, int(L.max(initial=0)) + 1):
        wl = np.clip(1.0 - lag / (L + 1.0), 0.0, None) * (lag <= L)
        var += 2.0 * wl * np.sum(z[lag:] * z[:-lag], axis=0)
    var *= n / (n - k)
    return np.sqrt(np.clip(var, 0.0, None))


def _pw_stats(X: np.ndarray, E: np.ndarray, j: int, tol: float = 1e-8,
              max_iter: int = 100) -> tuple[np.ndarray, np.ndarray, float]:
    """Iterated Prais–Winsten for every column of E at once (first observation kept):
    estimates and standard errors of term ``j``, and the residual df. The numerics are
    :func:`evallib.stats.prais.prais_winsten` (batched over columns, each with its own rho)."""
    pw = prais_winsten(X, E, tol=tol, max_iter=max_iter)
    return pw.params[:, j], np.sqrt(np.clip(pw.cov[:, j, j], 0.0, None)), pw.df_resid


@lru_cache(maxsize=64)
def _null_draws(n_pre: int, n_post: int, rho: float, n_sim: int, seed: int, model: str, effect_type: str,
                hac_lags, seasonality: str, other: tuple[int, ...],
                start: str = "2000-01") -> tuple[np.ndarray, np.ndarray, float]:
    """Estimates and standard errors of the tested term under no effect, with sigma = 1."""
    X, j = power_design(n_pre, n_post, effect_type=effect_type, seasonality=seasonality,
                        other_interruptions=other, start=start)
    rng = np.random.default_rng(seed)
    E = ar1_noise(X.shape[0], n_sim, rho, 1.0, rng)
    if model == "prais-winsten":
        b, se, df = _pw_stats(X, E, j)
    else:
        b, se, df = _ols_stats(X, E, j, model, hac_lags)
    b.setflags(write=False)
    se.setflags(write=False)
    return b, se, df


def _validate(rho, sigma, alpha, n_sim, model, effect_type) -> None:
    if not -1 < rho < 1:
        raise ParameterError(f"rho {rho} must lie strictly between -1 and 1 (a stationary AR(1))")
    if not sigma > 0:
        raise ParameterError(f"sigma {sigma} must be positive (the residual standard deviation)")
    if not 0 < alpha < 0.5:
        raise ParameterError(f"alpha {alpha} must lie in (0, 0.5)")
    if n_sim < 100:
        raise ParameterError(f"n_sim {n_sim} is too small for a power estimate; use at least 100")
    if model not in POWER_MODELS:
        raise ParameterError(f"model {model!r} is not available for power (expected one of "
                             f"{', '.join(POWER_MODELS)})")
    if effect_type not in EFFECT_TYPES:
        raise ParameterError(f"effect_type {effect_type!r} is not allowed (expected level or slope)")


def _power_from_draws(b, se, df, effect_over_sigma: np.ndarray, alpha: float,
                      size_adjusted: bool = False) -> np.ndarray:
    from scipy import stats

    if size_adjusted:
        crit = float(np.quantile(np.abs(b / se), 1 - alpha))
    else:
        crit = stats.t.ppf(1 - alpha / 2, df)
    d = np.atleast_1d(np.asarray(effect_over_sigma, dtype=float))
    return np.mean(np.abs(b[None, :] + d[:, None]) > crit * se[None, :], axis=1)


# ============================================================================ public API
def _draws(n_pre, n_post, rho, n_sim, seed, model, effect_type, kwargs):
    unknown = set(kwargs) - {"hac_lags", "seasonality", "other_interruptions", "start", "size_adjusted"}
    if unknown:
        raise ParameterError(f"unknown power option(s) {sorted(unknown)} (allowed: hac_lags, seasonality, "
                             f"other_interruptions, start, size_adjusted)")
    return _null_draws(int(n_pre), int(n_post), float(rho), int(n_sim), int(seed), model, effect_type,
                       kwargs.get("hac_lags", "auto"), kwargs.get("seasonality", "none"),
                       tuple(sorted(int(k) for k in kwargs.get("other_interruptions", ()))),
                       kwargs.get("start", "2000-01"))


def simulate_power(n_pre: int, n_post: int, rho: float, sigma: float, effect: float, alpha: float = 0.05,
                   n_sim: int = 2000, seed: int = 20200901, model: str = "ols-hac",
                   effect_type: str = "level", **kwargs) -> float:
    """Share of ``n_sim`` simulated series in which the effect is significant at ``alpha``.

    ``effect`` is in the outcome's units (per period for a slope). With ``effect=0``
    this is the test's actual size: ``alpha`` for ``ols`` with rho = 0, close to it
    for ``prais-winsten``, and well above it for ``ols-hac`` with short segments
    (Newey–West standard errors are too small there; Turner et al. 2021).
    Options (keywords): ``hac_lags`` ('auto' or int), ``seasonality`` (params
    syntax), ``other_interruptions`` (positions), ``start`` (calendar of the
    seasonal terms), ``size_adjusted`` (True: the critical value is the simulated
    null (1 - alpha) quantile of |t|, so the size is exactly alpha and power is
    comparable across estimators). See the module docstring.
    """
    _validate(rho, sigma, alpha, n_sim, model, effect_type)
    b, se, df = _draws(n_pre, n_post, rho, n_sim, seed, model, effect_type, kwargs)
    return float(_power_from_draws(b, se, df, np.array([effect / sigma]), alpha,
                                   bool(kwargs.get("size_adjusted", False)))[0])


def power_curve(n_pre: int, n_post: int | Sequence[int], rho: float, sigma: float,
                effects: float | Sequence[float], alpha: float = 0.05, n_sim: int = 2000,
                seed: int = 20200901, model: str = "ols-hac", effect_type: str = "level", **kwargs) -> pd.DataFrame:
    """Power over a grid of post lengths and effect sizes (options as :func:`simulate_power`).

    Columns: n_pre, n_post, effect, power, mc_se (Monte Carlo standard error) and
    size (the rejection rate with no effect, for the same draws).
    """
    _validate(rho, sigma, alpha, n_sim, model, effect_type)
    posts = [int(n_post)] if np.isscalar(n_post) else [int(x) for x in n_post]
    effs = np.atleast_1d(np.asarray(effects, dtype=float))
    adj = bool(kwargs.get("size_adjusted", False))
    rows = []
    for m in posts:
        b, se, df = _draws(n_pre, m, rho, n_sim, seed, model, effect_type, kwargs)
        pw = _power_from_draws(b, se, df, np.concatenate([[0.0], effs / sigma]), alpha, adj)
        for e, p in zip(effs, pw[1:]):
            rows.append({"n_pre": int(n_pre), "n_post": m, "effect": float(e), "power": float(p),
                         "mc_se": math.sqrt(p * (1 - p) / n_sim), "size": float(pw[0])})
    return pd.DataFrame(rows, columns=["n_pre", "n_post", "effect", "power", "mc_se", "size"])


def minimum_detectable_effect(n_pre: int, n_post: int, rho: float, sigma: float, power: float = 0.8,
                              alpha: float = 0.05, n_sim: int = 2000, seed: int = 20200901,
                              model: str = "ols-hac", effect_type: str = "level", **kwargs) -> float:
    """Smallest positive effect (outcome units) detected with at least ``power``.

    Bisection on the exact power function of one null simulation (module docstring),
    to a relative tolerance of 1e-6. Raises ParameterError when ``power`` is not in
    (alpha, 1). When the test's size already exceeds ``power`` (a badly oversized
    test), returns 0.0: use ``size_adjusted=True``.
    """
    _validate(rho, sigma, alpha, n_sim, model, effect_type)
    if not alpha < power < 1:
        raise ParameterError(f"power {power} must lie between alpha {alpha} and 1")
    b, se, df = _draws(n_pre, n_post, rho, n_sim, seed, model, effect_type, kwargs)
    adj = bool(kwargs.get("size_adjusted", False))

    def pw(d):
        return float(_power_from_draws(b, se, df, np.array([d]), alpha, adj)[0])

    if pw(0.0) >= power:
        return 0.0
    hi = float(np.median(se)) * 4.0 or 1.0
    while pw(hi) < power:
        hi *= 2.0
    lo = 0.0
    while hi - lo > 1e-6 * hi:
        mid = 0.5 * (lo + hi)
        if pw(mid) >= power:
            hi = mid
        else:
            lo = mid
    return hi * sigma


def periods_until_detectable(n_pre: int, n_post_now: int, rho: float, sigma: float, effect: float,
                             power: float = 0.8, max_extra: int = 120, **kwargs) -> int | None:
    """Fewest extra post periods after which ``|effect|`` is detectable with ``power``.

    0 means detectable now; None means not within ``max_extra`` periods. Assumes the
    minimum detectable effect falls as the post-period grows (it does for ``ols`` and
    ``prais-winsten``; check ``ols-hac`` with ``size_adjusted=True``) and bisects on
    the number of extra periods. Other keywords go to
    :func:`minimum_detectable_effect`.
    """
    target = abs(effect)

    def ok(extra):
        return minimum_detectable_effect(n_pre, n_post_now + extra, rho, sigma, power=power, **kwargs) <= target

    if ok(0):
        return 0
    if not ok(max_extra):
        return None
    return _first_true(ok, 0, max_extra)


def _first_true(ok, lo: int, hi: int) -> int:
    """The smallest m in (lo, hi] with ``ok(m)``, by bisection.

    Needs ``ok(lo)`` False, ``ok(hi)`` True and ``ok`` monotone (False then True).
    """
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def post_periods_needed(n_pre: int, rho: float, sigma: float, effect: float, power: float = 0.8,
                        min_post: int = 3, max_post: int = 240, **kwargs) -> int | None:
    """Fewest post periods (counting the interruption period) for ``|effect|`` to be detectable.

    None when not reached by ``max_post``. Bisection, assuming the minimum detectable
    effect falls as the post-period grows (see :func:`periods_until_detectable`).
    """
    target = abs(effect)

    def ok(m):
        return minimum_detectable_effect(n_pre, m, rho, sigma, power=power, **kwargs) <= target

    if not ok(max_post):
        return None
    if ok(min_post):
        return min_post
    return _first_true(ok, min_post, max_post)


# ============================================================================ from data
@dataclass
class PowerInputs:
    """Design lengths and noise estimated from a series (see :func:`from_data`)."""

    n_pre: int
    n_post: int
    rho: float
    sigma: float
    baseline: float
    interruption: str
    other_interruptions: list[int]
    seasonality: str
    start: str
    n_resid: int
    notes: list[str] = field(default_factory=list)

    def as_frame(self) -> pd.DataFrame:
        """One row for display: lengths, noise, baseline and notes."""
        return pd.DataFrame([{"interruption": self.interruption, "n_pre": self.n_pre, "n_post": self.n_post,
                              "sigma": self.sigma, "rho": self.rho, "baseline": self.baseline,
                              "residual_points": self.n_resid, "seasonality": self.seasonality,
                              "notes": "; ".join(self.notes)}])

    def kwargs(self) -> dict:
        """Keyword arguments for simulate_power / power_curve / minimum_detectable_effect."""
        return {"n_pre": self.n_pre, "n_post": self.n_post, "rho": self.rho, "sigma": self.sigma,
                "seasonality": self.seasonality, "other_interruptions": tuple(self.other_interruptions),
                "start": self.start}


def from_data(params, table=None, *, interruption: str | None = None, residuals: str = "pre",
              log: bool = False, series: str = "treated", baseline_periods: int = 3,
              include_seasonality: bool = True) -> PowerInputs:
    """Estimate sigma and rho from residuals of the treated series.

    - The series is ``params.units`` combined by ``params.aggregate`` in the
      ``start``/``end`` window (natural log of it when ``log=True``: sigma is then
      on the log scale and a 10% change is an effect of log(1.1)). The tested
      interruption is ``interruption`` (default ``collaborative`` when present, else
      the last one).
    - ``residuals='pre'`` (default): the periods before the tested interruption,
      fitted by OLS with a linear trend, ``params.seasonality`` and the level and
      slope terms of every **earlier** interruption (so COVID-19 months before the
      collaborative are modelled, not treated as noise).
      ``residuals='post'``: the periods from the tested interruption on, with a linear
      trend, seasonality and the terms of every later interruption: the noise at
      today's level, for series (like 52-week waits) whose pre-period was near zero.
      Excluded periods, transitions and missing values are left out.
    - ``sigma`` is the residual standard deviation (sqrt(RSS / (n - k))) and ``rho``
      the lag-1 autocorrelation of the residuals (regression of e_t on e_{t-1}
      without constant, as Prais–Winsten), clipped to [-0.95, 0.95] with a note.
    - ``baseline`` is the mean of the last ``baseline_periods`` observed values before
      the interruption, on the original scale: a "10% change" is ``0.1 * baseline``
      (or ``log(1.1)`` with ``log=True``).
    - ``series='difference'`` uses the treated series minus the comparators' mean
      (times the number of treated units when ``aggregate`` is sum), the
      difference series of a controlled design (Bottomley et al. 2019): shocks
      common to every unit, such as COVID-19, cancel, so its residual noise is what a
      controlled design has to beat. Comparators are those with a complete series
      (as the synthetic control's donors). With ``log`` the difference is
      log(treated) - log(comparator mean x units): a log ratio. The baseline stays the treated level.

    Raises ModelError when fewer than k + 3 points remain, DataError for ``log=True``
    with values <= 0, ParameterError for an unknown ``residuals``.
    """
    from evallib.config import as_params
    from evallib.data.table import as_table, load_table
    from evallib.its.design import InterruptionSpec, build_design
    from evallib.its.series import combine_units
    from evallib.periods import format_period, parse_period

    if residuals not in ("pre", "post"):
        raise ParameterError(f"residuals {residuals!r} is not allowed (expected pre or post)")
    if series not in ("treated", "difference"):
        raise ParameterError(f"series {series!r} is not allowed (expected treated or difference)")
    params = as_params(params)
    tt = load_table(params.data) if table is None else as_table(table)
    s = combine_units(tt, params.metric, params.units, params.aggregate, params.start, params.end)
    labels = list(s.frame["period"])
    periods = [parse_period(x) for x in labels]
    y_raw = s.frame["value"].to_numpy(dtype=float)
    diff = None
    if series == "difference":
        from evallib.its.synthetic import build_panel

        if params.comparators == "none":
            raise ParameterError("series difference needs comparators (all_other or a list of codes); "
                                 "comparators is none")
        panel = build_panel(params, tt)
        if not panel.donor_codes:
            raise DataError(f"{tt.source}: no comparator of {params.metric} has a complete series")
        mult = len(params.units) if params.aggregate == "sum" else 1.0
        ref = mult * panel.donors.mean(axis=1)
        if log:
            if np.any(ref <= 0):
                raise DataError(f"{tt.source}: log=True needs a positive comparator mean, but the mean of "
                                f"{params.metric} over comparators is <= 0 in some period; use log=False")
            ref = np.log(ref)
        diff = pd.Series(ref, index=panel.labels).reindex(labels).to_numpy(dtype=float)
    names = [i.name for i in params.interruptions]
    name = interruption or ("collaborative" if "collaborative" in names else names[-1])
    if name not in names:
        raise ParameterError(f"interruption {name!r} is not in params.interruptions {names}")
    k_int = names.index(name)
    intr_p = parse_period(params.interruptions[k_int].date)
    if intr_p not in periods:
        raise DataError(f"{tt.source}: the {name} date {format_period(intr_p)} is outside the series "
                        f"{labels[0]}..{labels[-1]} of {params.metric}")
    n_pre = periods.index(intr_p)
    n_post = len(periods) - n_pre
    specs = [InterruptionSpec.from_params(i, tt.freq) for i in params.interruptions]
    seas = params.seasonality if include_seasonality else "none"
    if residuals == "pre":
        seg = slice(0, n_pre)
        others = [e for e in specs[:k_int] if periods[0] < e.period < intr_p]
    else:
        seg = slice(n_pre, len(periods))
        others = [e for e in specs[k_int + 1:] if intr_p < e.period <= periods[-1]]
    seg_periods = periods[seg]
    y = y_raw[seg]
    if log:
        bad = np.isfinite(y) & (y <= 0)
        if bad.any():
            raise DataError(f"{tt.source}: log=True needs positive values, but {params.metric} has "
                            f"{int(bad.sum())} value(s) <= 0 in the {residuals}-period; use log=False")
        y = np.log(y)
    if diff is not None:
        y = y - diff[seg]
    if len(seg_periods) == 0:
        raise ModelError(f"{tt.source}: no {residuals}-period of {params.metric} around {name} "
                         f"({format_period(intr_p)})")
    d = build_design(seg_periods, others, seasonality=seas, exclude=params.exclude, origin=seg_periods[0])
    X = d.X.to_numpy(dtype=float)
    ok = d.in_fit & np.isfinite(y)
    X, yy = X[ok], y[ok]
    X = X[:, np.any(X != 0, axis=0)]
    n, k = X.shape
    if n < k + 3:
        raise ModelError(f"{tt.source}: only {n} usable {residuals}-period points of {params.metric} for {k} "
                         f"terms; power needs at least {k + 3} (shorten seasonality or use more periods)")
    beta = np.linalg.lstsq(X, yy, rcond=None)[0]
    e = yy - X @ beta
    sigma = float(math.sqrt(e @ e / (n - k)))
    if sigma == 0:
        raise ModelError(f"{tt.source}: the {residuals}-period of {params.metric} is fitted exactly (sigma 0); "
                         f"power cannot be simulated")
    rho = float(e[1:] @ e[:-1] / (e[:-1] @ e[:-1])) if np.any(e[:-1]) else 0.0
    notes = []
    if abs(rho) > 0.95:
        notes.append(f"residual autocorrelation {rho:.3f} clipped to +-0.95")
        rho = float(np.clip(rho, -0.95, 0.95))
    pre_obs = y_raw[:n_pre][np.isfinite(y_raw[:n_pre])]
    baseline = float(np.mean(pre_obs[-baseline_periods:])) if pre_obs.size else float("nan")
    half = pre_obs[: max(1, len(pre_obs) // 2)]
    if residuals == "pre" and not log and pre_obs.size and \
            np.mean(np.abs(half)) < 0.05 * max(abs(baseline), 1e-300):
        notes.append("the early pre-period is near zero compared with the level at the interruption: sigma "
                     "estimated on it understates the noise at today's level (try residuals='post' or log=True)")
    other = [(e.period - periods[0]).n for e in specs[:k_int] if periods[0] < e.period < intr_p]
    return PowerInputs(n_pre=n_pre, n_post=n_post, rho=rho, sigma=sigma, baseline=baseline,
                       interruption=name, other_interruptions=other, seasonality=seas,
                       start=labels[0], n_resid=n, notes=notes)


# ============================================================================ planning
DEFAULT_SCENARIOS: tuple[dict, ...] = (
    {"scenario": "controlled: comparator-aligned, placebo systems (the primary design)",
     "series": "aligned", "log": False, "residuals": "post", "covid_terms": False, "primary": True},
    {"scenario": "controlled: difference series, log scale, today's noise, COVID-19 terms",
     "series": "difference", "log": True, "residuals": "post", "covid_terms": True},
    {"scenario": "controlled: difference series, log scale, today's noise, COVID-19 differenced out",
     "series": "difference", "log": True, "residuals": "post", "covid_terms": False},
    {"scenario": "single group: log scale, pre-period noise, COVID-19 terms",
     "series": "treated", "log": True, "residuals": "pre", "covid_terms": True},
    {"scenario": "single group: patients, pre-period noise, COVID-19 terms",
     "series": "treated", "log": False, "residuals": "pre", "covid_terms": True},
)


@dataclass
class PowerPlan:
    """Answer to "how many more periods until a change of this size is detectable?".

    ``table``: one row per scenario (sigma, rho, effect, MDE now, power now, the
    test's size, extra periods needed; None = not within ``max_extra``).
    ``curve``: MDE (as a relative change) against extra periods for every scenario.
    """

    table: pd.DataFrame
    curve: pd.DataFrame
    relative_change: float
    power: float
    alpha: float
    model: str
    metric: str
    last_period: str
    notes: list[str] = field(default_factory=list)
    n_post_now: int | None = None
    label: str = ""
    synthetic_data: bool = False
    unit_word: str = "period"

    @property
    def answer(self) -> str:
        """One sentence for the primary scenario."""
        r = self.table[self.table["primary"]].iloc[0]
        what = f"a {self.relative_change:.0%} change in {self.label or self.metric}"
        if r["error"] and not np.isfinite(r["mde_now"]):
            return f"The primary scenario could not be computed: {r['error']}"
        needed = r["post_periods_needed"]
        if (needed is None or (isinstance(needed, float) and np.isnan(needed))) and r["series"] == "aligned":
            return (f"Under the primary scenario ({r['scenario']}), {what} would not be detectable with "
                    f"{self.power:.0%} power within the data to {self.last_period}: the smallest detectable change "
                    f"there is {r['mde_relative_now']:.1%} (the placebo systems cannot be projected beyond the data).")
        if needed is None or (isinstance(needed, float) and np.isnan(needed)):
            return (f"Under the primary scenario ({r['scenario']}), {what} would not be detectable with "
                    f"{self.power:.0%} power even with {int(r['max_extra'])} more {self.unit_word}s of data: the smallest "
                    f"detectable change with the data to {self.last_period} is {r['mde_relative_now']:.1%}.")
        needed = int(needed)
        extra = int(r["extra_periods"])
        if extra == 0:
            return (f"Under the primary scenario ({r['scenario']}), {what} became detectable with "
                    f"{self.power:.0%} power after {needed} {self.unit_word}s from the interruption; the data to "
                    f"{self.last_period} already have {int(r['n_post_now'])}, so no more are needed "
                    f"(smallest detectable change now {r['mde_relative_now']:.1%}).")
        return (f"Under the primary scenario ({r['scenario']}), {what} needs {needed} {self.unit_word}s from the "
                f"interruption to be detectable with {self.power:.0%} power: {extra} more beyond "
                f"{self.last_period} (smallest detectable change now {r['mde_relative_now']:.1%}).")

    def plot(self, ax=None):
        """MDE (relative) against extra periods, one line per scenario, target marked."""
        from evallib.plots.power import power_chart

        return power_chart(self, ax=ax)


def plan(params, table=None, *, relative_change: float = 0.10, power: float = 0.8, alpha: float = 0.05,
         model: str = "prais-winsten", max_extra: int = 60, curve_step: int = 6, min_post: int = 3,
         n_sim: int = 1000,
         seed: int = 20200901, scenarios: Sequence[dict] = DEFAULT_SCENARIOS,
         interruption: str | None = None) -> PowerPlan:
    """Power planning for a relative change of the target interruption's level.

    Each scenario is a dict with ``scenario`` (label), ``series`` (treated |
    difference), ``log`` (bool), ``residuals`` (pre | post), ``covid_terms`` (keep the
    earlier interruptions' level and slope terms in the simulated design) and
    optionally ``primary``. On the log scale a change r is an effect of
    |log(1 - r)| for a metric whose improvement is a decrease (else log(1 + r)); on
    the original scale it is r times the baseline (see :func:`from_data`).
    ``mde_relative`` is 1 - exp(-mde) or exp(mde) - 1 on the log scale and
    mde / baseline otherwise. A scenario that cannot be computed (e.g. log of zeros)
    is a row with its ``error``.
    """
    from evallib.config import as_params
    from evallib.data.table import as_table, load_table
    from evallib.exceptions import EvalError
    from evallib.metrics import metric_info

    params = as_params(params)
    tt = load_table(params.data) if table is None else as_table(table)
    if not 0 < relative_change < 1:
        raise ParameterError(f"relative_change {relative_change} must lie in (0, 1), e.g. 0.10 for 10%")
    decrease = metric_info(params.metric).improvement == "decrease"
    rows, curves, notes = [], [], []
    last = None
    for sc in scenarios:
        row = {"scenario": sc["scenario"], "primary": bool(sc.get("primary", False)), "series": sc["series"],
               "log": bool(sc["log"]), "residuals": sc["residuals"], "covid_terms": bool(sc["covid_terms"]),
               "sigma": np.nan, "rho": np.nan, "effect": np.nan, "mde_now": np.nan, "mde_relative_now": np.nan,
               "power_now": np.nan, "size": np.nan, "n_post_now": np.nan, "post_periods_needed": None,
               "extra_periods": None, "max_extra": max_extra, "error": ""}
        if sc["series"] == "aligned":
            try:
                row.update(_aligned_scenario(params, tt, relative_change, power, alpha, min_post, curve_step,
                                             curves, sc["scenario"]))
            except EvalError as exc:
                row["error"] = str(exc)
            rows.append(row)
            continue
        try:
            if sc["series"] == "difference" and params.comparators == "none":
                raise ParameterError("no comparators in params: the difference series needs comparators")
            pi = from_data(params, tt, interruption=interruption, residuals=sc["residuals"], log=sc["log"],
                           series=sc["series"])
        except EvalError as exc:
            row["error"] = str(exc)
            rows.append(row)
            continue
        last = pi
        kw = pi.kwargs()
        if not sc["covid_terms"]:
            kw["other_interruptions"] = ()
        if sc["log"]:
            effect = abs(math.log(1 - relative_change)) if decrease else math.log(1 + relative_change)

            def rel(m):
                return (1 - math.exp(-m)) if decrease else (math.exp(m) - 1)
        else:
            effect = relative_change * abs(pi.baseline)

            def rel(m, b=abs(pi.baseline)):
                return m / b if b > 0 else float("nan")
        common = {"alpha": alpha, "n_sim": n_sim, "seed": seed, "model": model}
        n_pre, n_post = kw.pop("n_pre"), kw.pop("n_post")
        rho_, sig = kw.pop("rho"), kw.pop("sigma")
        mde = minimum_detectable_effect(n_pre, n_post, rho_, sig, power=power, **common, **kw)
        needed = post_periods_needed(n_pre, rho_, sig, effect, power=power, min_post=min_post,
                                     max_post=n_post + max_extra, **common, **kw)
        row.update({"sigma": sig, "rho": rho_, "effect": effect, "mde_now": mde, "mde_relative_now": rel(mde),
                    "power_now": simulate_power(n_pre, n_post, rho_, sig, effect, **common, **kw),
                    "size": simulate_power(n_pre, n_post, rho_, sig, 0.0, **common, **kw),
                    "n_post_now": n_post, "post_periods_needed": needed,
                    "extra_periods": None if needed is None else max(0, needed - n_post),
                    "error": "; ".join(pi.notes)})
        grid = sorted(set(range(min_post, n_post + max_extra + 1, curve_step)) | {n_post})
        for m_post in grid:
            m = minimum_detectable_effect(n_pre, m_post, rho_, sig, power=power, **common, **kw)
            curves.append({"scenario": sc["scenario"], "n_post": m_post, "extra_periods": m_post - n_post,
                           "mde": m, "mde_relative": rel(m)})
        rows.append(row)
    table_df = pd.DataFrame(rows)
    if not table_df["primary"].any() and len(table_df):
        table_df.loc[0, "primary"] = True
    curve = pd.DataFrame(curves, columns=["scenario", "n_post", "extra_periods", "mde", "mde_relative"])
    s = combine_units_last(tt, params)
    n_now = int(table_df["n_post_now"].dropna().iloc[0]) if table_df["n_post_now"].notna().any() else None
    return PowerPlan(table=table_df, curve=curve, relative_change=relative_change, power=power, alpha=alpha,
                     model=model, metric=params.metric, last_period=s, notes=notes, n_post_now=n_now,
                     label=metric_info(params.metric).label, synthetic_data=bool(getattr(tt, "synthetic", False)),
                     unit_word={"M": "month", "Q": "quarter", "Y": "year"}.get(tt.freq, "period"))


def _aligned_scenario(params, tt, relative_change: float, power: float, alpha: float, min_post: int,
                      curve_step: int, curves: list, label: str) -> dict:
    """The primary design's power, read from its own placebo systems (no parametric model).

    For a sustained change of the level from formation, the estimate after m post-formation
    periods is the mean gap over them; its null distribution is the placebo systems' mean gap
    (the same systems the analysis uses, so COVID-19 heterogeneity and autocorrelation are in
    it). With se = (placebo interval half-width) / z(1 - alpha/2), the minimum detectable change
    is se (z(1 - alpha/2) + z(power)), relative to the mean expected value over the window. It
    is known only within the data: the placebo systems cannot be projected beyond the last period.
    """
    from scipy import stats

    from evallib.its.aligned import analyse_aligned
    from evallib.stats.aligned import placebo_interval

    if params.comparators == "none":
        raise ParameterError("no comparators in params: the comparator-aligned design needs comparators")
    res = analyse_aligned(params.model_copy(update={"design": "controlled", "controlled_method": "aligned"}), tt)
    af = res.af
    P0, T = af.formation, len(af.labels)
    z, zp = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    n_post = T - P0
    out = {}
    needed = None
    for m in sorted(set(range(min_post, n_post + 1, curve_step)) | {n_post} | set(range(min_post, n_post + 1))):
        null = af.abs_null[P0:P0 + m].mean(axis=0)
        lo, hi = placebo_interval(0.0, null, alpha, af.factor)
        se = (hi - lo) / 2 / z
        cf = float(np.nanmean(af.cf[P0:P0 + m]))
        mde_rel = se * (z + zp) / abs(cf) if cf else float("nan")
        if needed is None and np.isfinite(mde_rel) and mde_rel <= relative_change:
            needed = m
        if m == n_post or (m - min_post) % curve_step == 0:
            curves.append({"scenario": label, "n_post": m, "extra_periods": m - n_post, "mde": se * (z + zp),
                           "mde_relative": mde_rel})
        if m == n_post:
            eff = relative_change * abs(cf)
            out = {"sigma": float(np.nanstd(af.abs_gap[af.fit])), "rho": float("nan"), "effect": eff,
                   "mde_now": se * (z + zp), "mde_relative_now": mde_rel,
                   "power_now": float(stats.norm.cdf(eff / se - z) + stats.norm.cdf(-eff / se - z)),
                   "size": float(alpha), "n_post_now": n_post}
    out.update({"post_periods_needed": needed, "extra_periods": None if needed is None else 0, "max_extra": 0,
                "error": ("" if needed is not None else
                          "within the data only: placebo systems cannot be projected beyond the last period")})
    return out


def combine_units_last(tt, params) -> str:
    """The last period with a treated value (the 'now' of the plan)."""
    from evallib.its.series import combine_units

    s = combine_units(tt, params.metric, params.units, params.aggregate, params.start, params.end)
    f = s.frame.dropna(subset=["value"])
    return str(f["period"].iloc[-1])
