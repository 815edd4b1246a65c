"""Numerics of the comparator-aligned comparative ITS, batched over many "systems".

A *system* is a set of units combined into one series (the treated collaborative, or a
placebo system of comparator trusts combined exactly as the treated are). For each system
``k`` the counterfactual in period ``t`` is what the *other* comparators did in that period
(the period effect), put on the system's own footing by persistent differences estimated
before formation:

=========  ======================================================================
scale      counterfactual of system k in period t
=========  ======================================================================
identity   ``B_kt + X_t' g_k`` with ``B_kt`` the mean of the other comparators (each
           rescaled to the system's pre-formation mean when ``rescale``); ``g_k``
           the OLS fit of ``y_kt - B_kt`` on ``X`` over the pre-formation rows
log        ``B_kt * exp(X_t' g_k)`` with ``B_kt`` the *total* of the other comparators;
           ``g_k`` the Poisson pseudo-likelihood fit of ``y_kt`` with offset
           ``log B_kt`` (intercept only: the system's pre-formation share of the
           comparators' total). Unit and period effects of a two-way Poisson model on a
           balanced panel are exactly these totals.
logit      ``expit(logit(p_kt) + X_t' g_k)`` with ``p_kt`` the pooled proportion of
           the other comparators (sum of numerators / sum of denominators); ``g_k`` the
           binomial pseudo-likelihood fit of the system's numerator/denominator.
rate       as identity, on ``y / denominator`` (e.g. 52-week waiters per 1,000 on the
           waiting list); used for counts that were near zero before formation.
=========  ======================================================================

``X`` is the design of the system's own persistent differences: an intercept (its level),
optionally its own linear trend and Fourier seasonality.

Every function here works on arrays of shape ``(T, K)`` (periods x systems) so that the
treated system and hundreds of placebo systems are one batched computation: one design
matrix, many outcome columns.

The *gap* ``d_kt`` is put on a scale that is comparable across systems of different size
("comparison scale"): identity -> gap / pre-formation mean of the system (when rescaled),
log -> log((observed + 0.5) / (counterfactual + 0.5)) (so intervals respect a count's floor of zero), logit -> difference in the proportion, rate ->
difference in the rate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALES = ("identity", "log", "logit", "rate")


def expit(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def logit(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p) - np.log1p(-p)


def own_design(t: np.ndarray, month: np.ndarray | None, *, trend: bool, harmonics: int,
               period_len: int = 12) -> tuple[np.ndarray, list[str]]:
    """Design of a system's persistent differences: intercept, optional trend, Fourier terms.

    ``t`` counts periods (0 at the first); ``month`` is the position in the year (1..period_len)
    or None (no seasonality possible). Returns ``(X, names)``.
    """
    cols, names = [np.ones_like(t, dtype=float)], ["level"]
    if trend:
        cols.append((t - t.mean()) / max(1.0, float(t.std())))
        names.append("trend")
    if harmonics and month is not None:
        for k in range(1, harmonics + 1):
            ang = 2 * np.pi * k * (np.asarray(month, dtype=float) - 1) / period_len
            cols += [np.sin(ang), np.cos(ang)]
            names += [f"sin{k}", f"cos{k}"]
    return np.column_stack(cols), names


def _batched_glm(X: np.ndarray, fit: np.ndarray, y: np.ndarray, n: np.ndarray | None, offset: np.ndarray,
                 family: str, max_iter: int = 50, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Newton–Raphson for K GLMs sharing the design ``X`` (T x p), each with its own outcome.

    ``fit`` (T,) marks the rows used; ``y`` (T, K) counts or numerators; ``n`` (T, K)
    binomial denominators (logit) or None (Poisson); ``offset`` (T, K). Returns
    ``(coef (p, K), converged (K,))``. Poisson with an intercept only has the closed form
    ``log(sum y / sum exp(offset))``, used as the starting value.
    """
    Xf = X[fit]
    yf, of = y[fit], offset[fit]
    nf = None if n is None else n[fit]
    p, K = X.shape[1], y.shape[1]
    beta = np.zeros((p, K))
    if family == "poisson":
        beta[0] = np.log(np.maximum(yf.sum(0), 1e-12) / np.exp(of).sum(0))
    else:
        tot = np.clip(yf.sum(0) / nf.sum(0), 1e-9, 1 - 1e-9)
        beta[0] = logit(tot) - np.average(of, axis=0, weights=nf)
    conv = np.zeros(K, dtype=bool)
    for _ in range(max_iter):
        eta = Xf @ beta + of
        if family == "poisson":
            mu = np.exp(eta)
            w, r = mu, yf - mu
        else:
            pr = expit(eta)
            w, r = nf * pr * (1 - pr), yf - nf * pr
        g = Xf.T @ r                                              # (p, K)
        H = np.einsum("tp,tk,tq->kpq", Xf, w, Xf)                 # (K, p, p)
        H += 1e-12 * np.eye(p)[None]
        step = np.linalg.solve(H, g.T[:, :, None])[:, :, 0].T     # (p, K)
        beta = beta + step
        conv = np.max(np.abs(step), axis=0) < tol
        if conv.all():
            break
    return beta, conv


@dataclass
class Batch:
    """Counterfactuals and gaps of K systems over T periods (see the module docstring).

    ``cf``: counterfactual on the outcome's own scale (T, K) (a proportion for logit);
    ``obs``: observed on that scale; ``gap``: the comparison-scale gap (T, K);
    ``norm``: (K,) divisor that turned absolute gaps into ``gap`` (identity) or 1;
    ``coef``: (p, K) persistent differences; ``converged``: (K,).
    """

    cf: np.ndarray
    obs: np.ndarray
    gap: np.ndarray
    norm: np.ndarray
    coef: np.ndarray
    converged: np.ndarray


def align(scale: str, X: np.ndarray, fit: np.ndarray, *, y: np.ndarray, base: np.ndarray,
          n: np.ndarray | None = None, rescale_norm: np.ndarray | None = None) -> Batch:
    """Counterfactual and gaps for K systems at once.

    - ``identity``/``rate``: ``y`` the system outcome (for rate: y / denominator) and ``base``
      the comparators' mean on the same footing; ``rescale_norm`` (K,) the divisor of the
      gaps (the system's pre-formation mean when comparators were rescaled), else 1.
    - ``log``: ``y`` counts, ``base`` the comparators' total (> 0).
    - ``logit``: ``y`` numerators, ``n`` denominators, ``base`` the comparators' pooled
      proportion (0 < p < 1).
    ``fit`` (T,) are the pre-formation rows used to estimate the persistent differences.
    """
    T, K = y.shape
    if scale in ("identity", "rate"):
        r = y - base
        Xf = X[fit]
        coef, *_ = np.linalg.lstsq(Xf, r[fit], rcond=None)
        cf = base + X @ coef
        norm = np.ones(K) if rescale_norm is None else np.asarray(rescale_norm, dtype=float)
        gap = (y - cf) / norm[None, :]
        return Batch(cf=cf, obs=y, gap=gap, norm=norm, coef=coef, converged=np.ones(K, dtype=bool))
    if scale == "log":
        with np.errstate(divide="ignore"):
            off = np.log(base)
        coef, conv = _batched_glm(X, fit, y, None, off, "poisson")
        cf = base * np.exp(X @ coef)
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.log((y + 0.5) / (cf + 0.5))       # log ratio (0.5 keeps a zero count finite)
        return Batch(cf=cf, obs=y, gap=gap, norm=np.ones(K), coef=coef, converged=conv)
    if scale == "logit":
        off = logit(base)
        coef, conv = _batched_glm(X, fit, y, n, off, "binomial")
        cf = expit(off + X @ coef)
        with np.errstate(divide="ignore", invalid="ignore"):
            obs = y / n
        return Batch(cf=cf, obs=obs, gap=obs - cf, norm=np.ones(K), coef=coef, converged=conv)
    raise ValueError(f"scale {scale!r} is not one of {SCALES}")


def placebo_members(n_comparators: int, size: int, max_placebos: int, seed: int, *,
                    volume: np.ndarray | None = None, target: float | None = None, band: float = 0.0,
                    min_placebos: int = 1) -> np.ndarray:
    """Member indicator matrix (J, K) of placebo systems of ``size`` comparators each.

    Every combination when there are at most ``max_placebos`` of them, else
    ``max_placebos`` distinct random combinations drawn with ``numpy.random.default_rng(seed)``
    (sorted, so the draw does not depend on the order they were found in).

    **Size-matched placebos**: with ``volume`` (J,) and ``band`` > 1, only systems whose total
    volume lies within ``[target / band, target * band]`` are kept (the treated system's volume is
    ``target``), so that a system of four large trusts is compared with systems of similar size,
    not with four small ones whose relative changes are far noisier. When fewer than
    ``min_placebos`` such systems exist the band is dropped (all systems are used).
    """
    from math import comb
    from itertools import combinations

    J = n_comparators
    total = comb(J, size)
    use_band = volume is not None and target is not None and band > 1 and np.isfinite(target) and target > 0

    def ok(key) -> bool:
        if not use_band:
            return True
        v = float(np.sum(volume[list(key)]))
        return target / band <= v <= target * band

    if total <= max(max_placebos, 5000) and (total <= max_placebos or use_band):
        combos = [c for c in combinations(range(J), size) if ok(c)]
        if use_band and len(combos) < min_placebos:
            return placebo_members(J, size, max_placebos, seed, min_placebos=min_placebos)
        if len(combos) > max_placebos:
            rng = np.random.default_rng(seed)
            pick = np.sort(rng.choice(len(combos), size=max_placebos, replace=False))
            combos = [combos[i] for i in pick]
    else:
        rng = np.random.default_rng(seed)
        found = np.empty((0, size), dtype=int)
        for _ in range(10):
            draw = np.sort(np.argpartition(rng.random((20 * max_placebos, J)), size, axis=1)[:, :size], axis=1)
            if use_band:
                v = volume[draw].sum(1)
                draw = draw[(v >= target / band) & (v <= target * band)]
            found = np.unique(np.vstack([found, draw]), axis=0)
            if len(found) >= max_placebos:
                break
        if use_band and len(found) < min_placebos:
            return placebo_members(J, size, max_placebos, seed, min_placebos=min_placebos)
        if len(found) > max_placebos:
            found = found[np.sort(rng.choice(len(found), size=max_placebos, replace=False))]
        combos = [tuple(int(x) for x in row) for row in found]
    M = np.zeros((J, len(combos)))
    for k, c in enumerate(combos):
        M[list(c), k] = 1.0
    return M


def cross_section_factor(n_comparators: int, alpha: float, system_size: int = 1) -> float:
    """Small-cross-section correction ``t(1 - alpha/2; J - m - 1) / z(1 - alpha/2)``, J comparators,
    m units in the treated system.

    The placebo distribution is built from the J comparators that happen to be in the data, so
    its spread is *estimated* from them, as a t statistic's variance is: used as if it were known,
    it rejects too often. Each placebo system's error is made of its own m members measured against
    the J - m comparators outside it, so J - m - 1 degrees of freedom remain for the spread (the
    t analogy, not a derivation). Chosen in simulation (simulations/aligned.py, 500 replications
    a cell, 4 treated units): with J - 1 degrees of freedom the size at 12 comparators was 7.2%
    for counts and 8.0% for counts near zero before COVID-19; with J - m - 1 it is 5.6% and
    6.8%. With 36 or 100 comparators the two differ by under 0.5% of the interval (factor 1.04
    and 1.01 at the 5% level).
    """
    from scipy import stats

    df = max(int(n_comparators) - max(int(system_size), 1) - 1, 1)
    return float(stats.t.ppf(1 - alpha / 2, df) / stats.norm.ppf(1 - alpha / 2))


def placebo_p(stat0: float, stats: np.ndarray, factor: float = 1.0) -> float:
    """Two-sided permutation p-value ``(1 + #{factor*|s_k| >= |s_0|}) / (K + 1)`` (NaN-safe)."""
    s = np.asarray(stats, dtype=float)
    s = factor * s[np.isfinite(s)]
    if not np.isfinite(stat0) or not s.size:
        return float("nan")
    return float((1 + np.sum(np.abs(s) >= abs(stat0) - 1e-12)) / (s.size + 1))


def placebo_interval(est: float, null: np.ndarray, alpha: float, factor: float = 1.0) -> tuple[float, float]:
    """Conley–Taber interval ``[est - c*q(1 - alpha/2), est - c*q(alpha/2)]`` of the placebo
    (null) distribution ``null`` of the estimator's error, ``c`` = ``factor`` (NaN when empty)."""
    v = np.asarray(null, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size or not np.isfinite(est):
        return float("nan"), float("nan")
    lo_q, hi_q = factor * np.quantile(v, [alpha / 2, 1 - alpha / 2])
    return float(est - hi_q), float(est - lo_q)


@dataclass
class Systems:
    """The treated system (column 0) and the placebo systems (columns 1..K) on one footing.

    ``y``/``n``: outcome and denominator per system (T, 1 + K); ``base``: the comparators'
    period effect for each system, computed from the comparators that are *not* its members;
    ``norm``: gap divisor per system; ``members``: (J, K) placebo membership.
    """

    y: np.ndarray
    n: np.ndarray | None
    base: np.ndarray
    norm: np.ndarray
    members: np.ndarray


def build_systems(scale: str, aggregate: str, *, y0: np.ndarray, n0: np.ndarray | None, Yc: np.ndarray,
                  Nc: np.ndarray | None, members: np.ndarray, pre: np.ndarray, rescale: bool,
                  value_scale: float = 1.0) -> Systems:
    """Treated and placebo systems with their comparator bases (batched).

    ``y0``/``n0``: the treated system's outcome (value; numerator for logit) and denominator.
    ``Yc``/``Nc``: comparator unit values (numerators for logit) and denominators (T, J).
    ``members``: (J, K) placebo membership. ``pre``: rows over which pre-formation means are
    taken (identity rescaling). Placebo systems are combined as ``aggregate`` says
    (sum / mean of values; ratio of summed numerators and denominators, times ``value_scale``).
    The treated base uses every comparator; a placebo's base uses the comparators outside it.
    """
    J, K = members.shape
    size = int(members[:, 0].sum()) if K else 0
    ones = np.ones((J, 1))
    out_members = 1.0 - members                                    # (J, K) comparators outside
    if scale == "log":
        base = np.column_stack([Yc @ ones, Yc @ out_members])
        py = Yc @ members if aggregate != "mean" else (Yc @ members) / max(size, 1)
        y = np.column_stack([y0, py])
        if aggregate == "mean":
            base = base / np.column_stack([np.full((1, 1), J), out_members.sum(0, keepdims=True)])
        return Systems(y=y, n=None, base=base, norm=np.ones(1 + K), members=members)
    if scale == "logit":
        num_all = np.column_stack([Yc @ ones, Yc @ out_members])
        den_all = np.column_stack([Nc @ ones, Nc @ out_members])
        base = num_all / den_all
        y = np.column_stack([y0, Yc @ members])
        n = np.column_stack([n0, Nc @ members])
        return Systems(y=y, n=n, base=base, norm=np.ones(1 + K), members=members)
    if scale == "rate":
        with np.errstate(divide="ignore", invalid="ignore"):
            Rc = Yc / Nc
            r0 = y0 / n0
            pr = (Yc @ members) / (Nc @ members)
        base = np.column_stack([Rc @ ones / J, (Rc @ out_members) / out_members.sum(0)])
        return Systems(y=np.column_stack([r0, pr]), n=np.column_stack([n0, Nc @ members]), base=base,
                       norm=np.ones(1 + K), members=members)
    # identity
    if aggregate == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            py = value_scale * (Yc @ members) / (Nc @ members)
    elif aggregate == "mean":
        py = (Yc @ members) / max(size, 1)
    else:
        py = Yc @ members
    y = np.column_stack([y0, py])
    if rescale:
        m_unit = Yc[pre].mean(0)                                   # (J,) comparator pre means
        Z = Yc / m_unit[None, :]
        m_sys = y[pre].mean(0)                                     # (1 + K,)
        base = np.column_stack([Z @ ones / J, (Z @ out_members) / out_members.sum(0)]) * m_sys[None, :]
        norm = m_sys
    elif aggregate == "ratio":
        # the comparators' pooled proportion, as the treated system's is pooled
        with np.errstate(divide="ignore", invalid="ignore"):
            base = value_scale * np.column_stack([Yc @ ones, Yc @ out_members]) / \
                np.column_stack([Nc @ ones, Nc @ out_members])
        norm = np.ones(1 + K)
    else:
        base = np.column_stack([Yc @ ones / J, (Yc @ out_members) / out_members.sum(0)])
        norm = np.ones(1 + K)
    return Systems(y=y, n=None, base=base, norm=norm, members=members)


@dataclass
class Inference:
    """The treated system's gaps and the placebo distribution, on the comparison scale.

    ``gap0`` (T,): treated gap; ``gaps`` (T, K): placebo gaps; ``s0``/``s`` the pre-formation
    RMS of the gaps (treated, placebos), used to studentize; ``null`` (T, K) the placebo
    errors on the treated system's footing (``gaps * s0 / s`` when studentized, else ``gaps``).
    """

    batch: Batch
    gap0: np.ndarray
    gaps: np.ndarray
    s0: float
    s: np.ndarray
    null: np.ndarray
    studentized: bool


def infer(scale: str, systems: Systems, X: np.ndarray, fit: np.ndarray, *, studentize: bool) -> Inference:
    """Fit every system at once and return the treated gaps and the placebo null distribution."""
    b = align(scale, X, fit, y=systems.y, base=systems.base, n=systems.n, rescale_norm=systems.norm)
    g = b.gap
    with np.errstate(invalid="ignore"):
        s_all = np.sqrt(np.nanmean(g[fit] ** 2, axis=0))
    gap0, gaps = g[:, 0], g[:, 1:]
    s0, s = float(s_all[0]), s_all[1:]
    if studentize:
        ok = np.isfinite(s) & (s > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            null = gaps * (s0 / s)[None, :]
        null[:, ~ok] = np.nan
    else:
        null = gaps
    return Inference(batch=b, gap0=gap0, gaps=gaps, s0=s0, s=s, null=null, studentized=studentize)
