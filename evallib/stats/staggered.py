"""Staggered adoption: the average effect by time since joining (Callaway & Sant'Anna 2021).

Trusts join provider collaboratives at different dates (cohorts), and the effect of joining may
differ between cohorts and grow or fade with time since joining. A two-way fixed-effects (TWFE)
regression of the outcome on a treated-after-joining dummy with unit and period effects is then
biased: it uses already-treated units as comparators for later cohorts, so their effects' changes
enter with negative weights (Goodman-Bacon 2021, J Econometrics 225:254). :func:`twfe_static` is
that regression, kept only to show the bias.

The estimator here (Callaway & Sant'Anna 2021, J Econometrics 225:200; unconditional parallel
trends, no covariates):

- **group-time effects** ``ATT(g, t)``: for the cohort ``g`` (units first treated in period ``g``)
  and period ``t``, the cohort's mean change from its last untreated period ``g - 1`` to ``t``,
  minus the same change among the **not-yet-treated** units (first treated after
  ``max(t, g - 1)``, or never, excluding cohort ``g`` itself). Periods before ``g`` give
  pre-treatment placebo estimates on the same base (``g - 1``, the "universal" base).
- **by event time** ``theta(e) = sum_g w_g ATT(g, g + e)`` with ``w_g`` the cohort's share of
  the units among the cohorts for which ``ATT(g, g + e)`` is estimable (observed within the
  panel, with at least one not-yet-treated comparator).
- **overall**: the mean of ``theta(e)`` over the post-treatment event times reported;
- **simple**: the mean of every post-treatment ``ATT(g, t)`` weighted by cohort size, i.e. the
  average effect over the treated unit-periods (CS 2021's "simple" aggregation), the estimand a
  TWFE dummy regression is usually read as estimating.

Inference: a unit (cluster) bootstrap stratified by cohort (every cohort and the never-treated
keep their size, so the weights are fixed, as the cohort sizes are known), ``n_boot`` draws
seeded with ``numpy.random.default_rng(seed)``; standard errors are the bootstrap SDs, pointwise
intervals ``estimate +/- z * se``, and a simultaneous band over event times from the bootstrap
distribution of the largest studentized deviation (CS 2021, section 4). Resampling units keeps
each unit's serial correlation.

Arrays in, arrays out: ``Y`` is ``(T, N)`` (periods x units), complete; ``cohort`` ``(N,)`` the
0-based index of each unit's first treated period, or -1 (or any value outside ``0..T-1``) for a
unit never treated within the panel. A unit treated in period 0 has no untreated base period and
is left out (and reported).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evallib.exceptions import ModelError

NEVER = -1


@dataclass
class StaggeredResult:
    """Group-time effects and their aggregation by event time (see the module docstring).

    ``group_time``: frame with cohort, period, event_time, att, n_treated, n_comparators.
    ``event_time``: frame with event_time, estimate, se, lower, upper, band_lower, band_upper, p,
    n_cohorts, n_units (pre-treatment event times included, except -1, the base: zero by
    construction). ``overall``: (estimate, se, lower, upper) of the mean post-treatment effect by
    event time; ``simple``: the same for the cohort-size weighted mean of every post-treatment
    ``ATT(g, t)`` (the average over treated unit-periods).
    """

    group_time: pd.DataFrame
    event_time: pd.DataFrame
    overall: tuple[float, float, float, float]
    simple: tuple[float, float, float, float]
    alpha: float
    n_boot: int
    band_critical: float
    left_out: list[int] = field(default_factory=list)


def _cohorts(cohort: np.ndarray, T: int) -> tuple[np.ndarray, list[int]]:
    G = np.asarray(cohort, dtype=float).copy()
    G[(G < 0) | (G >= T)] = np.inf
    left_out = [int(i) for i in np.flatnonzero(G == 0)]
    return G, left_out


def _strata(G: np.ndarray, use: np.ndarray) -> list[np.ndarray]:
    keys = np.unique(G[use])
    return [np.flatnonzero(use & (G == k)) for k in keys]


def _bootstrap_counts(strata: list[np.ndarray], N: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, N) multiplicities of a unit bootstrap stratified by ``strata``."""
    C = np.zeros((n_boot, N))
    rows = np.arange(n_boot)[:, None]
    for s in strata:
        idx = rng.integers(0, s.size, size=(n_boot, s.size))
        np.add.at(C, (rows, s[idx]), 1.0)
    return C


def callaway_santanna(Y: np.ndarray, cohort: np.ndarray, *, events: tuple[int, int] | None = None,
                      alpha: float = 0.05, n_boot: int = 999, seed: int = 0) -> StaggeredResult:
    """Group-time effects with not-yet-treated comparators, aggregated by event time.

    ``events``: the (first, last) event times reported (default: every estimable one);
    the overall effect averages the reported event times from 0 on. ModelError for missing
    values, no treated cohort, or no event time with a comparator.
    """
    from scipy import stats

    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2:
        raise ModelError(f"Y must be periods x units (2-D); got shape {Y.shape}")
    T, N = Y.shape
    if len(cohort) != N:
        raise ModelError(f"cohort has {len(cohort)} entries for {N} units: give one first-treated period per unit")
    if not np.all(np.isfinite(Y)):
        bad = np.argwhere(~np.isfinite(Y))[0]
        raise ModelError(f"Y has missing values (first at period {bad[0]}, unit {bad[1]}): the staggered estimator "
                         f"needs a complete panel")
    G, left_out = _cohorts(cohort, T)
    use = G != 0
    cohorts = sorted(int(g) for g in np.unique(G[use & np.isfinite(G)]))
    if not cohorts:
        raise ModelError("no unit is treated within the panel (every cohort is never or period 0)")
    pairs, D, TM, CM = [], [], [], []
    for g in cohorts:
        tm = use & (G == g)
        for t in range(T):
            if t == g - 1:
                continue
            cm = use & (G > max(t, g - 1)) & (G != g)
            if not cm.any():
                continue
            pairs.append((g, t, int(tm.sum()), int(cm.sum())))
            D.append(Y[t] - Y[g - 1])
            TM.append(tm)
            CM.append(cm)
    if not pairs:
        raise ModelError("no cohort has a not-yet-treated comparator in any period")
    D, TM, CM = np.array(D), np.array(TM, dtype=float), np.array(CM, dtype=float)
    nt, nc = TM.sum(1), CM.sum(1)
    att = (TM * D).sum(1) / nt - (CM * D).sum(1) / nc
    gt = pd.DataFrame(pairs, columns=["cohort", "period", "n_treated", "n_comparators"])
    gt.insert(2, "event_time", gt["period"] - gt["cohort"])
    gt.insert(3, "att", att)

    # aggregation weights: cohort size among the cohorts estimable at each event time
    es = sorted(set(gt["event_time"]) - {-1})
    if events is not None:
        es = [e for e in es if events[0] <= e <= events[1]]
    if not es:
        raise ModelError(f"no estimable event time in {events}")
    W = np.zeros((len(pairs), len(es)))
    for k, e in enumerate(es):
        rows = np.flatnonzero(gt["event_time"].to_numpy() == e)
        W[rows, k] = nt[rows] / nt[rows].sum()
    theta = att @ W

    rng = np.random.default_rng(seed)
    C = _bootstrap_counts(_strata(G, use), N, n_boot, rng)
    # stratified draws keep every cohort's (and so every comparator set's) size
    att_b = (C @ (TM * D).T) / nt[None, :] - (C @ (CM * D).T) / nc[None, :]
    theta_b = att_b @ W
    se = theta_b.std(0, ddof=1)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        tmax = np.nanmax(np.abs(theta_b - theta[None, :]) / np.where(se > 0, se, np.nan)[None, :], axis=1)
        p = 2 * stats.norm.sf(np.abs(theta / se))
    crit = float(np.quantile(tmax[np.isfinite(tmax)], 1 - alpha)) if np.isfinite(tmax).any() else float("nan")
    n_coh = (W > 0).sum(0)
    n_units = np.array([nt[W[:, k] > 0].sum() for k in range(len(es))])
    et = pd.DataFrame({"event_time": es, "estimate": theta, "se": se, "lower": theta - z * se,
                       "upper": theta + z * se, "band_lower": theta - crit * se, "band_upper": theta + crit * se,
                       "p": p, "n_cohorts": n_coh, "n_units": n_units.astype(int)})
    post = np.array(es) >= 0
    if post.any():
        o = float(theta[post].mean())
        ob = theta_b[:, post].mean(1)
        ose = float(ob.std(ddof=1))
        overall = (o, ose, o - z * ose, o + z * ose)
    else:
        overall = (float("nan"),) * 4
    pw = np.where(gt["event_time"].to_numpy() >= 0, nt, 0.0)
    if pw.sum() > 0:
        pw = pw / pw.sum()
        sm, smb = float(att @ pw), att_b @ pw
        sse = float(smb.std(ddof=1))
        simple = (sm, sse, sm - z * sse, sm + z * sse)
    else:
        simple = (float("nan"),) * 4
    return StaggeredResult(group_time=gt, event_time=et, overall=overall, simple=simple, alpha=alpha, n_boot=n_boot,
                           band_critical=crit, left_out=left_out)


def twfe_static(Y: np.ndarray, cohort: np.ndarray) -> tuple[float, float]:
    """The two-way fixed-effects regression ``y_it = a_i + b_t + beta * D_it + e`` on a balanced
    panel (``D_it = 1`` from the unit's first treated period on), with a unit-clustered standard
    error: ``(beta, se)``. Biased under staggered adoption with heterogeneous effects (module
    docstring); here to show it, not to be used."""
    Y = np.asarray(Y, dtype=float)
    T, N = Y.shape
    G, _ = _cohorts(cohort, T)
    Dm = (np.arange(T)[:, None] >= G[None, :]).astype(float)

    def within(A):
        return A - A.mean(0, keepdims=True) - A.mean(1, keepdims=True) + A.mean()

    yt, dt = within(Y), within(Dm)
    beta = float((dt * yt).sum() / (dt * dt).sum())
    u = yt - beta * dt
    score = (dt * u).sum(0)                                    # per unit
    dof = N / (N - 1) * (N * T - 1) / (N * T - N - T)          # small-sample factor (as Stata's areg cluster)
    se = float(np.sqrt(dof * (score ** 2).sum()) / (dt * dt).sum())
    return beta, se


def simulate(cohort_sizes: dict[int, int], n_never: int, T: int, effect, *, rho: float = 0.5, sd: float = 1.0,
             unit_sd: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A staggered-adoption panel: unit and period effects, AR(1) noise, and ``effect(g, e)``
    added to cohort ``g``'s units ``e >= 0`` periods after joining. Returns ``(Y (T, N), cohort (N,),
    tau (T, N))``; ``tau`` is the planted effect, so the truth of ``theta(e)`` is the cohort-size
    weighted mean of ``effect(g, e)`` over the cohorts observed at ``e``."""
    rng = np.random.default_rng(seed)
    cohort = np.concatenate([np.full(n, g) for g, n in cohort_sizes.items()] + [np.full(n_never, NEVER)]).astype(int)
    N = cohort.size
    a = rng.normal(0, unit_sd, N)
    b = np.cumsum(rng.normal(0.1, 0.5, T))
    e = rng.normal(0, sd, (T, N))
    u = np.empty_like(e)
    u[0] = e[0] / np.sqrt(1 - rho ** 2)
    for t in range(1, T):
        u[t] = rho * u[t - 1] + e[t]
    tau = np.zeros((T, N))
    for j, g in enumerate(cohort):
        if g >= 0:
            for t in range(g, T):
                tau[t, j] = effect(int(g), t - int(g))
    return b[:, None] + a[None, :] + u + tau, cohort, tau


def true_event_time(cohort_sizes: dict[int, int], T: int, effect, events) -> np.ndarray:
    """The estimand ``theta(e)`` of :func:`callaway_santanna` for a panel from :func:`simulate`
    (cohort-size weights over the cohorts observed at ``e``; assumes each has a comparator)."""
    out = []
    for e in events:
        gs = [(g, n) for g, n in cohort_sizes.items() if 0 <= g + e < T]
        out.append(sum(n * effect(g, e) for g, n in gs) / sum(n for _, n in gs))
    return np.array(out)
