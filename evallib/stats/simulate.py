"""Data-generating processes for checking the controlled designs in simulation.

Each DGP makes a monthly panel of ``n_treated`` treated units and ``n_comparators``
comparators, 2016-04 to 2025-03 (108 months) by default, in which *every unit has its own
nonlinear response to COVID-19* (a scaled common shape plus its own level and slope
changes), AR(1) noise, and optionally a planted collaborative effect on the treated units
from the formation month. Used by ``simulations/aligned.py`` (size, coverage, power) and by
the tests (short runs).

``kind``:

- ``continuous``: ``y = size * (100 + trend*t + season + shape*(1+k_i) + a_i*post + b_i*(t-c)+) + noise``,
  noise AR(1) with sd ``sigma * sqrt(size)``; the effect adds ``effect * 100 * size`` (a
  level change of ``effect`` times the pre-COVID mean).
- ``count``: Poisson counts with log mean ``log(size) + base + shape*(1+k_i) + ...``; with
  ``near_zero`` the base is tiny before COVID-19 (as 52-week waits); the effect multiplies
  the mean by ``exp(effect)``.
- ``proportion``: binomial numerators of ``denominator * size`` trials with a logit-scale
  mean; the effect adds ``effect`` on the logit scale.

``truth`` is the planted effect on the treated *system* (sum over treated units; for
proportions the ratio of sums) at each month, as the difference of the latent means with
and without the effect (so noise is shared).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COVID_SHAPES = {
    "continuous": {0: 0.0, 1: -25.0, 3: -15.0, 6: -5.0, 9: -12.0, 12: -4.0, 24: 6.0, 36: 10.0, 60: 8.0},
    "count": {0: 0.0, 2: 2.0, 5: 3.5, 9: 4.0, 14: 4.3, 24: 4.8, 36: 4.9, 48: 4.6, 60: 4.4},
    "proportion": {0: 0.0, 1: -0.6, 4: -0.3, 8: -0.5, 12: -0.4, 24: -0.55, 36: -0.5, 60: -0.35},
}


@dataclass
class Panel:
    periods: list[str]
    values: np.ndarray          # (T, N) value (continuous, count) or numerator (proportion)
    denominators: np.ndarray | None
    treated: np.ndarray         # (N,) bool
    truth: np.ndarray           # (T,) planted system effect (0 before formation)
    truth_cf: np.ndarray        # (T,) system mean without the effect
    covid: int                  # index of 2020-03
    formation: int              # index of 2020-09


def _shape(knots: dict, since: np.ndarray) -> np.ndarray:
    xs = np.array(sorted(knots), dtype=float)
    ys = np.array([knots[k] for k in sorted(knots)], dtype=float)
    return np.where(since < 0, 0.0, np.interp(since, xs, ys))


def make_panel(kind: str, rng: np.random.Generator, *, n_treated: int = 4, n_comparators: int = 36,
               rho: float = 0.5, effect: float = 0.0, effect_slope: float = 0.0, near_zero: bool = False,
               shock_sd: float = 1.0, n_months: int = 108) -> Panel:
    """One panel (see the module docstring). ``shock_sd`` scales the unit-specific COVID
    responses (0 = every unit responds identically)."""
    N = n_treated + n_comparators
    T = n_months
    t = np.arange(T, dtype=float)
    covid, formation = 47, 53                     # 2016-04 + 47 = 2020-03; + 53 = 2020-09
    since_c, since_f = t - covid, t - formation
    post_c = (since_c >= 0).astype(float)
    month = (3 + t) % 12                           # 0 = January
    size = np.clip(rng.lognormal(0.0, 0.4, size=N), 0.3, 3.0)
    treated = np.zeros(N, dtype=bool)
    treated[:n_treated] = True
    shape = _shape(COVID_SHAPES[kind], since_c)[:, None]
    k_i = rng.normal(0, 0.25 * shock_sd, size=N)[None, :]
    e = rng.normal(size=(T, N))
    ar = np.empty_like(e)
    ar[0] = e[0] / np.sqrt(1 - rho ** 2)
    for i in range(1, T):
        ar[i] = rho * ar[i - 1] + e[i]
    eff = (effect + effect_slope * np.maximum(since_f, 0))[:, None] * (since_f >= 0)[:, None] * treated[None, :]
    periods = [f"{2016 + (3 + i) // 12:04d}-{(3 + i) % 12 + 1:02d}" for i in range(T)]
    if kind == "continuous":
        a_i = rng.normal(0, 4.0 * shock_sd, size=N)[None, :]
        b_i = rng.normal(0, 0.15 * shock_sd, size=N)[None, :]
        season = 3.0 * np.cos(2 * np.pi * (month - 1) / 12)[:, None]
        lat = 100 + 0.05 * t[:, None] + season + shape * (1 + k_i) + a_i * post_c[:, None] \
            + b_i * np.maximum(since_c, 0)[:, None]
        mean0 = size[None, :] * lat + 2.0 * np.sqrt(size)[None, :] * ar
        mean1 = mean0 + eff * 100 * size[None, :]
        y = mean1
        truth = (mean1 - mean0)[:, treated].sum(1)
        return Panel(periods, y, None, treated, truth, mean0[:, treated].sum(1), covid, formation)
    if kind == "count":
        a_i = rng.normal(0, 0.15 * shock_sd, size=N)[None, :]
        b_i = rng.normal(0, 0.004 * shock_sd, size=N)[None, :]
        base = np.log(3.0) if near_zero else np.log(300.0)
        sc = 1.0 if near_zero else 0.15
        lat = np.log(size)[None, :] + base + 0.002 * t[:, None] + sc * shape * (1 + k_i) \
            + a_i * post_c[:, None] + b_i * np.maximum(since_c, 0)[:, None] + 0.05 * ar
        mu0, mu1 = np.exp(lat), np.exp(lat + eff)
        y = rng.poisson(mu1).astype(float)
        truth = (mu1 - mu0)[:, treated].sum(1)
        return Panel(periods, y, None, treated, truth, mu0[:, treated].sum(1), covid, formation)
    if kind == "proportion":
        a_i = rng.normal(0, 0.08 * shock_sd, size=N)[None, :]
        b_i = rng.normal(0, 0.002 * shock_sd, size=N)[None, :]
        unit = rng.normal(0, 0.2, size=N)[None, :]
        lat = 1.4 + unit - 0.002 * t[:, None] + shape * (1 + k_i) + a_i * post_c[:, None] \
            + b_i * np.maximum(since_c, 0)[:, None] + 0.04 * ar
        den = np.round(200 * size)[None, :] * np.ones((T, 1))
        p0, p1 = 1 / (1 + np.exp(-lat)), 1 / (1 + np.exp(-(lat + eff)))
        num = rng.binomial(den.astype(int), p1).astype(float)
        D = den[:, treated].sum(1)
        truth = 100 * ((p1 - p0) * den)[:, treated].sum(1) / D
        return Panel(periods, num, den, treated, truth, 100 * (p0 * den)[:, treated].sum(1) / D, covid,
                     formation)
    raise ValueError(kind)


def aligned_replicate(kind: str, n_comparators: int, effect: float, seed: int, *, placebos: int = 500,
                      horizon: int = 12, alpha: float = 0.05, near_zero: bool = False) -> tuple[bool, bool, float]:
    """One simulated panel through the aligned design's estimator with its defaults (the system's
    level and its own COVID-19 level shift, studentized placebo systems, the small-cross-section
    factor): ``(rejects at alpha, interval covers the truth, interval width)`` for the effect at
    ``horizon`` periods after formation, in the system's own unit."""
    from evallib.stats import aligned as A

    p = make_panel(kind, np.random.default_rng(seed), n_comparators=n_comparators, effect=effect,
                   near_zero=near_zero)
    tr, T = p.treated, len(p.periods)
    fit = np.arange(T) < p.formation
    X = np.column_stack([np.ones(T), (np.arange(T) >= p.covid).astype(float)])
    scale = {"continuous": "identity", "count": "log", "proportion": "logit"}[kind]
    Nc = None if p.denominators is None else p.denominators[:, ~tr]
    n0 = None if p.denominators is None else p.denominators[:, tr].sum(1)
    S = A.build_systems(scale, "ratio" if kind == "proportion" else "sum", y0=p.values[:, tr].sum(1), n0=n0,
                        Yc=p.values[:, ~tr], Nc=Nc, members=A.placebo_members(n_comparators, int(tr.sum()),
                                                                            placebos, seed),
                        pre=fit, rescale=True)
    inf = A.infer(scale, S, X, fit, studentize=True)
    i = p.formation + horizon
    c = A.cross_section_factor(n_comparators, alpha, int(tr.sum()))
    b = inf.batch
    if scale == "log":
        d_lo, d_hi = A.placebo_interval(inf.gap0[i], inf.null[i], alpha, c)
        cf = b.cf[i, 0] + 0.5
        lo, hi = cf * np.expm1(d_lo), cf * np.expm1(d_hi)
    else:
        conv = b.norm[0] if scale == "identity" else 100.0
        lo, hi = A.placebo_interval(conv * inf.gap0[i], conv * inf.null[i], alpha, c)
    return bool(lo > 0 or hi < 0), bool(lo <= p.truth[i] <= hi), float(hi - lo)
