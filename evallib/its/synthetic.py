"""Synthetic control (``design: synthetic``): Abadie, Diamond & Hainmueller (2010).

The treated series (``params.units`` combined by ``params.aggregate``) is compared with
a *synthetic* series: a convex combination of donor units (non-negative weights that sum
to 1) chosen to reproduce the treated series in the pre-period.

Choices made here, once (each is an argument of :func:`analyse_synthetic`):

- **Donors** are the comparators: ``all_other`` means every other unit of the metric
  with a complete series (no missing value) in the window, excluding the periods in
  ``params.exclude``; a listed code that is absent from the table is a ``DataError``;
  units with gaps are dropped and reported (``SyntheticResult.dropped``, a warning).
  The treated units are never donors. At least 2 donors are needed.
- **Not-yet-treated donors** (``comparators: not_yet_treated``, the default with a
  membership table ``memberships:``): one set of weights must hold in every period it is
  used, so the donors are the units clean through the *last clean period* (they had not
  joined any collaborative by then), with a complete series up to it, and the window ends
  there: at the data's last period when at least 2 units are clean through it, else at the
  latest of ``horizons`` with at least 2 clean (:func:`evallib.its.comparators.clean_window`).
  Units that joined before the fitting date are never donors. No donor row after its last
  clean period is read; later horizons are not reported (a warning names the period, as in
  the aligned design); fewer than 2 clean donors even at the fitting date is a
  ``ModelError``. results.json ``synthetic.comparators`` has ``clean_until`` and
  ``last_clean_period``.
- **The fitting (pre) period** is every period before ``fit_before``. By default that
  is the date of the interruption named ``collaborative`` when there is one, else the
  date of the last interruption. So, by default, COVID-19 months *before* the
  collaborative (2020-03 to 2020-08) are matched too: every donor lived through
  COVID-19, so the synthetic control carries the common COVID-19 shock, and the gap
  after the collaborative's date is what is specific to the treated units. Pass
  ``fit_before=<first interruption's date>`` to match on the pre-COVID period only.
  Excluded periods (``params.exclude``) and periods where the treated series is
  missing are left out of the fit.
- **Scale.** A sum of four trusts is about four times the size of any single donor,
  so no convex combination of single trusts can match it. ``scale='auto'`` (default)
  matches the *per-unit average* (the sum divided by the number of treated units)
  when ``aggregate`` is ``sum`` and there are several treated units, and reports the
  synthetic series multiplied back (``'per_unit'``); otherwise the raw levels
  (``'none'``). ``scale='index'`` divides every series by its own pre-period mean
  (units of different size, e.g. a system against single trusts), and is refused
  when a pre-period mean is not positive.
- **Extra predictors** (optional ``predictors=[metric ids]``): the pre-period mean of
  each metric, one row per predictor, standardised across donors to the spread of
  the outcome rows and weighted by ``predictor_weight`` (1 = as much as one
  pre-period point of the outcome). There is no nested optimisation of predictor
  weights (the "V matrix").

The solver (:func:`solve_simplex_ls`) is well-conditioned on badly scaled data: it
centres every row on the donors' mean (allowed because the weights sum to 1), scales
to unit root-mean-square, solves an active-set NNLS (Lawson–Hanson) on the system
augmented with a heavily weighted sum-to-one row, then solves the equality-constrained
least squares exactly on the support it found and checks the KKT conditions, refining
by accelerated projected gradient if they fail. Naive SLSQP on raw levels of ~1e6
tends to stop at its uniform starting point; this does not.

Inference:

- **Placebo-in-space** (:func:`placebo_in_space`): every donor in turn is the
  "treated" unit, with the other donors as its pool (the treated units are never in a
  placebo's pool). The centring, scaling, augmented matrix and the gaps of all
  placebos (one matrix product) are shared; each placebo costs one compiled NNLS
  call of size (pre-periods + 1) x (donors - 1), so 300 donors take well under a
  second. The statistic is the post/pre RMSPE ratio; the treated unit's
  ``placebo_rank`` is 1 + the number of placebos with a ratio at least as large, and
  ``placebo_p = rank / (J + 1)`` (J donors), so the smallest attainable p is
  1/(J+1).
- **Intervals** (effects and counterfactual bands) come from the placebo gaps at the
  same period, in the treated series' units (times the scale factor), of the placebos
  whose pre-period RMSPE is at most 5 times the treated unit's (Abadie et al. 2010
  leave poorly fitting placebos out the same way; all placebos are used when fewer
  than 2 pass): the band is ``[gap - q(1 - alpha/2), gap - q(alpha/2)]`` of those
  placebo gaps. This inverts the placebo test under a constant effect and
  exchangeable units (Firpo & Possebom 2018 give the general version). With few
  donors the quantiles are coarse: below 2/alpha - 1 placebos the band is close to
  the range of the placebo gaps. With ``per_unit`` scale a placebo is one unit's gap
  times the number of treated units, which overstates the spread of an average of
  several units' gaps (a conservative band).
  The "se" in ``results.json`` is the standard deviation of those placebo gaps and
  "p" the share of them at least as large in absolute value (counting the treated
  unit itself): both are permutation quantities, not model-based ones.
- **Placebo-in-time** (:func:`placebo_in_time`): the fitting date is moved back into
  the pre-period; with no effect, the gap between the fake date and the real one
  should stay small (its post/pre RMSPE ratio near 1).
- Placebo tests over-reject with short pre-periods (Illenberger, Small & Shaw 2020):
  fewer than 12 fitting periods gives a warning.
"""
from __future__ import annotations

import datetime as _dt
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from evallib.data.checks import check_informative
from evallib.exceptions import DataError, ModelError, ParameterError
from evallib.its.base import BaseResult
from evallib.its.comparators import _reasons as comparators_reasons
from evallib.its.comparators import CleanDonors, CleanWindow, clean_through, clean_until, clean_window
from evallib.its.sdid import MEMO_SIZE, analyse_per_trust, params_key
from evallib.periods import format_period, parse_period

logger = logging.getLogger(__name__)

SCALES = ("auto", "none", "per_unit", "index")
MIN_DONORS = 2
from evallib.stats import PLACEBO_FIT_CUTOFF  # noqa: E402  (placebos fitting worse than 5x are left out)
MIN_PRE = 3
SHORT_PRE = 12
_PENALTY = 1e4           # weight of the sum-to-one row in the augmented NNLS (data scaled to RMS 1)
_KKT_TOL = 1e-7


# ============================================================================ solver
def project_simplex(V: np.ndarray) -> np.ndarray:
    """Euclidean projection of each column of ``V`` onto the probability simplex.

    Entries equal to ``-inf`` are forced to 0 (used to exclude a unit from its own
    pool). Vectorised over columns (sort-based algorithm of Duchi et al. 2008).
    """
    V = np.asarray(V, dtype=float)
    one_d = V.ndim == 1
    if one_d:
        V = V[:, None]
    Vf = np.where(np.isneginf(V), -1e300, V)
    U = -np.sort(-Vf, axis=0)
    css = np.cumsum(np.where(U < -1e299, 0.0, U), axis=0) - 1.0
    ind = np.arange(1, V.shape[0] + 1)[:, None]
    cond = (U - css / ind > 0) & (U > -1e299)
    r = V.shape[0] - 1 - np.argmax(cond[::-1], axis=0)
    theta = css[r, np.arange(V.shape[1])] / (r + 1.0)
    W = np.maximum(Vf - theta[None, :], 0.0)
    return W[:, 0] if one_d else W


def _centre_scale(A: np.ndarray, b: np.ndarray | None = None):
    """Subtract each row's donor mean and divide by the overall RMS (0 -> 1)."""
    c = A.mean(axis=1)
    Ac = A - c[:, None]
    s = float(np.sqrt(np.mean(Ac * Ac))) if Ac.size else 0.0
    if not np.isfinite(s) or s <= 0:
        s = 1.0
    Ac = Ac / s
    bc = None if b is None else (b - c) / s
    return Ac, bc, c, s


def _kkt_polish(A: np.ndarray, b: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact equality-constrained LS on the support of ``w``; returns (w, KKT violation).

    The violation is max_j (lambda - g_j)+ over units off the support, where g is the
    gradient A'(Aw - b) and lambda its mean on the support; 0 means optimal.
    """
    J = A.shape[1]
    S = np.flatnonzero(w > 1e-12 * max(1.0, float(w.max(initial=0.0))))
    if S.size == 0:
        S = np.array([int(np.argmin(np.sum((A - b[:, None]) ** 2, axis=0)))])
    AS = A[:, S]
    k = S.size
    K = np.zeros((k + 1, k + 1))
    K[:k, :k] = AS.T @ AS
    K[:k, k] = 1.0
    K[k, :k] = 1.0
    rhs = np.concatenate([AS.T @ b, [1.0]])
    sol = np.linalg.lstsq(K, rhs, rcond=None)[0]
    wS = sol[:k]
    if np.all(wS >= -1e-12) and abs(wS.sum() - 1.0) < 1e-8:
        w_new = np.zeros(J)
        w_new[S] = np.clip(wS, 0.0, None)
        w_new /= w_new.sum()
    else:
        w_new = w / w.sum()
    g = A.T @ (A @ w_new - b)
    on = w_new > 0
    lam = float(g[on].mean()) if on.any() else float(g.min())
    viol = float(np.max(np.clip(lam - g[~on], 0.0, None), initial=0.0)) if (~on).any() else 0.0
    return w_new, viol


def _fista(A: np.ndarray, b: np.ndarray, w0: np.ndarray, max_iter: int = 20000,
           tol: float = 1e-12) -> tuple[np.ndarray, int]:
    """Accelerated projected gradient with adaptive restart, stopped on the Frank–Wolfe gap."""
    L = 2.0 * float(np.linalg.norm(A, 2)) ** 2
    if L <= 0:
        return w0, 0
    G = A.T @ A
    h = A.T @ b
    w = w0.copy()
    y = w.copy()
    t = 1.0
    f_old = np.inf
    it = 0
    for it in range(1, max_iter + 1):
        grad = 2.0 * (G @ y - h)
        w_new = project_simplex(y - grad / L)
        f_new = float(w_new @ G @ w_new - 2 * h @ w_new)
        if f_new > f_old:            # adaptive restart (O'Donoghue & Candès 2015)
            y = w.copy()
            t = 1.0
            continue
        t_new = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
        y = w_new + ((t - 1) / t_new) * (w_new - w)
        w, t, f_old = w_new, t_new, f_new
        g = 2.0 * (G @ w - h)
        if float(g @ w - g.min()) < tol * max(1.0, abs(f_new)):
            break
    return w, it


def solve_simplex_ls(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, dict]:
    """Weights ``w >= 0``, ``sum(w) = 1`` minimising ``||A w - b||^2``.

    ``A`` is (rows, units), ``b`` (rows,). Returns ``(w, info)`` with ``info`` keys
    ``method`` ('nnls+kkt' or 'nnls+fista'), ``kkt_violation`` (0 = optimal) and
    ``iterations``. Edge cases: one unit gives ``[1.0]``; identical units (every row
    constant across units) give uniform weights, since every convex combination fits
    equally well; non-finite input is a ``ModelError``.
    """
    from scipy.optimize import nnls

    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    if A.ndim != 2 or b.shape != (A.shape[0],):
        raise ModelError(f"synthetic control: donor matrix shape {A.shape} does not match "
                         f"the treated series length {b.shape}")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
        raise ModelError("synthetic control: missing or infinite values in the fitting rows; "
                         "drop those periods or donors first")
    J = A.shape[1]
    if J == 1:
        return np.ones(1), {"method": "single", "kkt_violation": 0.0, "iterations": 0}
    Ac, bc, _, _ = _centre_scale(A, b)
    if not np.any(Ac):
        return np.full(J, 1.0 / J), {"method": "identical-donors", "kkt_violation": 0.0, "iterations": 0}
    aug = np.vstack([Ac, np.full((1, J), _PENALTY)])
    w, _ = nnls(aug, np.concatenate([bc, [_PENALTY]]), maxiter=50 * J)
    if w.sum() <= 0:
        w = np.full(J, 1.0 / J)
    w, viol = _kkt_polish(Ac, bc, w)
    info = {"method": "nnls+kkt", "kkt_violation": viol, "iterations": 0}
    if viol > _KKT_TOL:
        w2, it = _fista(Ac, bc, w)
        w2, viol2 = _kkt_polish(Ac, bc, w2)
        if viol2 <= viol:
            w, viol = w2, viol2
        info = {"method": "nnls+fista", "kkt_violation": viol, "iterations": it}
    return w, info


# ============================================================================ panel
@dataclass
class Panel(CleanDonors):
    """The treated series and the donor matrix on one period grid (original units)."""

    periods: list[pd.Period]
    treated: np.ndarray              # (T,) combined treated series, NaN where missing
    donors: np.ndarray               # (T, J) complete over the non-excluded periods
    donor_codes: list[str]
    treated_codes: list[str]
    dropped: dict[str, str]          # code -> reason
    names: dict[str, str]
    excluded: np.ndarray             # (T,) bool, params.exclude
    fit_date: pd.Period
    fit_rule: str
    source: str
    synthetic_data: bool = False
    sha256: str | None = None
    series_warnings: list[str] = field(default_factory=list)
    #: with a membership table: each donor's last clean period (None: never joined a collaborative)
    clean_until: dict[str, str | None] | None = None
    #: under ``not_yet_treated``: where the window ends and why (evallib.its.comparators.CleanWindow)
    clean: CleanWindow | None = None

    def clean_donor_codes(self) -> list[str]:
        return list(self.donor_codes)

    def comparators_block(self) -> dict:
        """results.json: the donors, those dropped and, with a membership table, ``clean_until``,
        ``last_clean_period`` and ``not_yet_treated``."""
        d = {"used": list(self.donor_codes), "dropped": dict(self.dropped)}
        if self.clean_until is not None:
            d.update({"clean_until": dict(self.clean_until), "last_clean_period": self.last_clean_period,
                      "not_yet_treated": self.not_yet_treated})
        return d

    @property
    def labels(self) -> list[str]:
        return [format_period(p) for p in self.periods]

    @property
    def pre(self) -> np.ndarray:
        return np.array([p < self.fit_date for p in self.periods])

    @property
    def fit_mask(self) -> np.ndarray:
        return self.pre & ~self.excluded & np.isfinite(self.treated)

    @property
    def post_mask(self) -> np.ndarray:
        return ~self.pre & ~self.excluded & np.isfinite(self.treated)


def _as_table(table, params):
    """A TidyTable from ``table`` (TidyTable, DataFrame or path), or ``params.data`` when None."""
    from evallib.data.table import as_table, load_table

    return load_table(params.data) if table is None else as_table(table)


def default_fit_date(params) -> tuple[pd.Period, str]:
    """The first post period of the synthetic control and a phrase saying why."""
    names = [i.name for i in params.interruptions]
    if "collaborative" in names:
        d = parse_period(params.interruption("collaborative").date)
        return d, f"before the collaborative's date {format_period(d)}"
    intr = params.interruptions[-1]
    d = parse_period(intr.date)
    return d, f"before the last interruption {intr.name} ({format_period(d)})"


def _unit_values(f: pd.DataFrame) -> pd.DataFrame:
    """Wide (period x org) of each unit's own ``value`` (for a proportion, its own rate)."""
    return f.pivot(index="period", columns="org_code", values="value")


def build_panel(params, table=None, *, units: Sequence[str] | None = None,
                comparators=None, fit_before: str | None = None) -> Panel:
    """Treated series and complete donor matrix for ``params`` (see the module docstring).

    ``units``/``comparators`` override ``params.units``/``params.comparators`` (used by
    the per-trust analysis and the naive placebo benchmark).
    """
    tt = _as_table(table, params)
    source = tt.source
    units = list(params.units if units is None else units)
    comparators = params.comparators if comparators is None else comparators
    if comparators == "none":
        raise ParameterError(f"{source}: design synthetic needs comparators (all_other or a list of "
                             f"codes); comparators is none")
    f = tt.for_metric(params.metric)
    freq = tt.freq
    periods_all = sorted({parse_period(p) for p in f["period"].unique()})
    first = parse_period(params.start) if params.start else periods_all[0]
    last = parse_period(params.end) if params.end else periods_all[-1]
    grid_p = list(pd.period_range(first, last, freq=first.freq))
    grid = [format_period(p) for p in grid_p]
    f = f[f["period"].isin(grid)]
    have = set(f["org_code"].unique())
    missing_t = [u for u in units if u not in have]
    if missing_t:
        raise DataError(f"{source}: treated unit(s) {missing_t} have no rows for metric {params.metric!r} "
                        f"in {grid[0]}..{grid[-1]}; check params.units")
    from evallib.its.series import combine_units

    combined = combine_units(tt, params.metric, units, params.aggregate, start=grid[0], end=grid[-1])
    treated = combined.frame.set_index("period")["value"].reindex(grid).to_numpy(dtype=float)
    check_informative(treated, params.metric, source)
    if fit_before is not None:
        try:
            fit_date = parse_period(fit_before, freq)
        except ValueError as exc:
            raise ParameterError(f"{source}: fit_before: {exc}") from None
        rule = f"before {format_period(fit_date)} (fit_before)"
    else:
        fit_date, rule = default_fit_date(params)
    from evallib.its.design import excluded_mask

    excluded = excluded_mask(grid_p, params.exclude)
    wide = _unit_values(f).reindex(grid)
    if comparators in ("all_other", "not_yet_treated"):
        never = set(units) | set(params.units)
        pool = sorted(c for c in have if c not in never)
    else:
        pool = list(comparators)
        absent = [c for c in pool if c not in have]
        if absent:
            raise DataError(f"{source}: comparator(s) {absent} have no rows for metric {params.metric!r}; "
                            f"remove them from params.comparators or use all_other")
    dropped: dict[str, str] = {}
    clean, cw = None, None
    if getattr(params, "memberships", None) is not None:
        from evallib.data.memberships import load_memberships

        ms = load_memberships(params.memberships).validate_against(tt)
        clean = clean_until(pool, ms, freq)
        if comparators == "not_yet_treated" and format_period(fit_date) in grid:
            cw, pool = _clean_donors(params, source, grid, fit_date, excluded, wide, pool, clean, ms, dropped)
            end = cw.end + 1
            grid_p, grid, excluded, wide = grid_p[:end], grid[:end], excluded[:end], wide.iloc[:end]
            combined = combine_units(tt, params.metric, units, params.aggregate, start=grid[0], end=grid[-1])
            treated = treated[:end]
    keep: list[str] = []
    rows = ~excluded
    for c in pool:
        v = wide[c].to_numpy(dtype=float) if c in wide.columns else np.full(len(grid), np.nan)
        bad = ~np.isfinite(v[rows])
        if bad.any():
            n_bad = int(bad.sum())
            dropped[c] = f"{n_bad} missing period(s) in {grid[0]}..{grid[-1]}"
        else:
            keep.append(c)
    donors = wide[keep].to_numpy(dtype=float) if keep else np.empty((len(grid), 0))
    names = tt.org_names() if hasattr(tt, "org_names") else {}
    return Panel(periods=grid_p, treated=treated, donors=donors, donor_codes=keep,
                 treated_codes=units, dropped=dropped, names=names, excluded=excluded,
                 fit_date=fit_date, fit_rule=rule, source=source,
                 synthetic_data=bool(getattr(tt, "synthetic", False)),
                 sha256=getattr(tt, "sha256", None), series_warnings=list(combined.warnings),
                 clean_until=None if clean is None else (dict(cw.clean_until) if cw is not None else
                                                         {c: clean.get(c) for c in keep}),
                 clean=cw)


def _clean_donors(params, source, grid, fit_date, excluded, wide, pool, clean, ms, dropped):
    """``not_yet_treated`` for the synthetic control: the :class:`CleanWindow` (the donors clean through
    the last clean period, with complete series up to it) and the donors; fills ``dropped``."""
    form = format_period(fit_date)
    for c in pool:
        if clean[c] is not None and clean[c] < form:
            dropped[c] = (f"joined a collaborative before formation ({form}): {ms.collaborative_of(c)}, "
                          f"{format_period(ms.join_date(c))}")
    cand = [c for c in pool if c not in dropped]
    iP = grid.index(form)
    vals = {c: (wide[c].to_numpy(dtype=float) if c in wide.columns else np.full(len(grid), np.nan)) for c in cand}

    def complete(c, i):
        return bool(np.isfinite(vals[c][:i + 1][~excluded[:i + 1]]).all())

    def clean_at(i):
        return [c for c in clean_through(cand, clean, grid[i]) if complete(c, i)]

    need = MIN_DONORS
    cw = clean_window(grid, iP, params.horizons, clean_at, need)
    if cw is None:
        n = len(clean_at(iP))
        raise ModelError(
            f"{source}: design synthetic with comparators not_yet_treated: {n} comparator(s) of {params.metric} have a "
            f"complete series and are clean through {form}, the formation period ({len(dropped)} had joined a "
            f"collaborative before it); at least {need} are needed (the synthetic control needs {need} donors): add "
            f"comparators, or use comparators: all_other (which also compares with trusts that joined collaboratives "
            f"later)")
    last = cw.last_clean_period
    for c in cand:
        if c in set(cw.codes):
            continue
        if clean_through([c], clean, last):
            dropped[c] = f"missing period(s) in {grid[0]}..{last}"
        else:
            joined = format_period(parse_period(clean[c], fit_date.freqstr[0]) + 1)
            dropped[c] = (f"joined a collaborative after formation, before the last clean period {last} (in {joined}): "
                          f"not clean through it")
    cw.clean_until = {c: clean.get(c) for c in cand}
    return cw, list(cw.codes)


def _check_panel(panel: Panel, metric: str) -> None:
    J = len(panel.donor_codes)
    if J < MIN_DONORS:
        extra = f" ({len(panel.dropped)} dropped for missing periods)" if panel.dropped else ""
        raise DataError(f"{panel.source}: synthetic control needs at least {MIN_DONORS} donors with a "
                        f"complete series of {metric!r}; found {J}{extra}. Use comparators: all_other, "
                        f"list more units, or narrow start/end")
    n_pre = int(panel.fit_mask.sum())
    if n_pre == 0:
        raise ModelError(f"{panel.source}: no pre-period for the synthetic control: no period of "
                         f"{metric!r} with a treated value is {panel.fit_rule}; move start earlier or "
                         f"set fit_before later")
    if n_pre < MIN_PRE:
        raise ModelError(f"{panel.source}: only {n_pre} pre-period point(s) {panel.fit_rule} for "
                         f"{metric!r}; the synthetic control needs at least {MIN_PRE}")
    if not panel.post_mask.any():
        raise ModelError(f"{panel.source}: no post-period: no period of {metric!r} with a treated value "
                         f"from {format_period(panel.fit_date)} onwards")


# ============================================================================ scaling
@dataclass
class _Scaled:
    y: np.ndarray        # treated on the fitting scale
    X: np.ndarray        # donors on the fitting scale
    factor: float        # treated units = factor * fitting scale
    scale: str


def _scale(panel: Panel, scale: str, aggregate: str) -> _Scaled:
    if scale not in SCALES:
        raise ParameterError(f"scale {scale!r} is not allowed (expected one of {', '.join(SCALES)})")
    n = len(panel.treated_codes)
    if scale == "auto":
        scale = "per_unit" if (aggregate == "sum" and n > 1) else "none"
    if scale == "none":
        return _Scaled(panel.treated.copy(), panel.donors.copy(), 1.0, scale)
    if scale == "per_unit":
        return _Scaled(panel.treated / n, panel.donors.copy(), float(n), scale)
    m = panel.fit_mask
    ty = float(np.mean(panel.treated[m]))
    dm = panel.donors[m].mean(axis=0)
    bad = [c for c, v in zip(panel.donor_codes, dm) if not v > 0]
    if not ty > 0 or bad:
        who = "the treated series" if not ty > 0 else f"donor(s) {bad[:5]}"
        raise DataError(f"{panel.source}: scale index divides by the pre-period mean, but {who} has a "
                        f"pre-period mean <= 0; use scale per_unit or none")
    return _Scaled(panel.treated / ty, panel.donors / dm[None, :], ty, "index")


def _predictor_rows(params, table, panel: Panel, predictors: Sequence[str], scaled: _Scaled,
                    weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Extra fitting rows (k, 1 + J): column 0 the treated, then the donors."""
    tt = _as_table(table, params)
    fit_labels = [lab for lab, m in zip(panel.labels, panel.fit_mask) if m]
    rows = []
    for metric in predictors:
        f = tt.for_metric(metric)
        f = f[f["period"].isin(fit_labels)]
        means = f.groupby("org_code")["value"].mean()
        tv = f[f["org_code"].isin(panel.treated_codes)].groupby("period")["value"]
        tv = (tv.sum() if params.aggregate == "sum" else tv.mean()).mean()
        if scaled.scale == "per_unit":
            tv = tv / len(panel.treated_codes)
        miss = [c for c in panel.donor_codes if c not in means.index or not np.isfinite(means[c])]
        if miss or not np.isfinite(tv):
            raise DataError(f"{panel.source}: predictor {metric!r} has no pre-period values for "
                            f"{(miss or panel.treated_codes)[:5]}; drop the predictor or those comparators")
        rows.append(np.concatenate([[tv], means[panel.donor_codes].to_numpy(dtype=float)]))
    R = np.array(rows, dtype=float)
    Xo = scaled.X[panel.fit_mask]
    spread = float(np.sqrt(np.mean((Xo - Xo.mean(axis=1, keepdims=True)) ** 2))) or 1.0
    mu = R[:, 1:].mean(axis=1, keepdims=True)
    sd = R[:, 1:].std(axis=1, keepdims=True)
    sd[sd == 0] = 1.0
    R = (R - mu) / sd * spread * math.sqrt(weight)
    return R[:, 0], R[:, 1:]


# ============================================================================ placebos
def _rmspe(G: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.sqrt(np.nanmean(G[mask] ** 2, axis=0))


def fit_weights(y: np.ndarray, X: np.ndarray, mask: np.ndarray | None = None,
                extra: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, dict]:
    """Convex weights of the columns of ``X`` reproducing ``y`` on the rows in ``mask``.

    ``extra`` = (treated row values (k,), donor rows (k, J)) adds predictor rows.
    """
    mask = np.ones(len(y), dtype=bool) if mask is None else mask
    A = X[mask]
    b = y[mask]
    if extra is not None and len(extra[0]):
        A = np.vstack([A, extra[1]])
        b = np.concatenate([b, extra[0]])
    return solve_simplex_ls(A, b)


@dataclass
class PlaceboSpace:
    """Placebo-in-space results on the fitting scale."""

    weights: np.ndarray       # (J, J): column j = weights of placebo j (diagonal 0)
    gaps: np.ndarray          # (T, J)
    pre_rmspe: np.ndarray     # (J,)
    post_rmspe: np.ndarray
    ratio: np.ndarray
    max_kkt_violation: float


def placebo_in_space(X: np.ndarray, fit_mask: np.ndarray, post_mask: np.ndarray,
                     extra: np.ndarray | None = None) -> PlaceboSpace:
    """Every column of ``X`` (T, J) as the treated unit, the other columns as donors.

    Batched: one centring/scaling and one augmented matrix serve every placebo (valid
    because weights sum to 1), each placebo is one compiled NNLS plus an exact KKT
    polish on its support, and all synthetic series come from one matrix product.
    ``extra`` (k, J) are predictor rows, already standardised. Needs J >= 3 (each
    placebo needs 2 donors); returns empty arrays otherwise.
    """
    from scipy.optimize import nnls

    T, J = X.shape
    if J < MIN_DONORS + 1:
        e = np.empty((T, 0))
        return PlaceboSpace(np.empty((J, 0)), e, np.empty(0), np.empty(0), np.empty(0), 0.0)
    A = X[fit_mask]
    if extra is not None and extra.size:
        A = np.vstack([A, extra])
    Ac, _, _, _ = _centre_scale(A)
    aug = np.vstack([Ac, np.full((1, J), _PENALTY)])
    W = np.zeros((J, J))
    worst = 0.0
    idx_all = np.arange(J)
    for j in range(J):
        idx = idx_all[idx_all != j]
        b = Ac[:, j]
        w, _ = nnls(aug[:, idx], np.concatenate([b, [_PENALTY]]), maxiter=50 * J)
        if w.sum() <= 0:
            w = np.full(J - 1, 1.0 / (J - 1))
        w, viol = _kkt_polish(Ac[:, idx], b, w)
        if viol > _KKT_TOL:
            w2, _ = _fista(Ac[:, idx], b, w)
            w, viol = _kkt_polish(Ac[:, idx], b, w2)
        worst = max(worst, viol)
        W[idx, j] = w
    G = X - X @ W
    pre = _rmspe(G, fit_mask)
    post = _rmspe(G, post_mask)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pre > 0, post / pre, np.inf)
    return PlaceboSpace(W, G, pre, post, ratio, worst)


def placebo_rank(treated_ratio: float, placebo_ratios: np.ndarray) -> tuple[int, float]:
    """Rank of the treated RMSPE ratio (1 = largest) and p = rank / (J + 1)."""
    J = len(placebo_ratios)
    rank = 1 + int(np.sum(placebo_ratios >= treated_ratio))
    return rank, rank / (J + 1)


# ============================================================================ result
@dataclass
class SyntheticResult(BaseResult):
    """Synthetic-control results with the ITSResult interface (ARCHITECTURE.md).

    ``coefficients`` is empty (a synthetic control has no regression terms);
    ``effects`` and ``counterfactual`` carry the estimates. Extra attributes:
    ``weights`` (DataFrame org_code, org_name, weight), ``gaps``, ``placebo``
    (one row per donor), ``placebo_gaps`` (wide, in the treated series' units),
    ``placebo_time`` and ``dropped``.
    """

    params: Any
    panel: Panel
    scaled: _Scaled
    w: np.ndarray
    solver: dict
    plc: PlaceboSpace
    placebo_time: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    model: str = "synthetic-control"
    design: str = "synthetic"

    # ------------------------------------------------------------------ basics
    def __post_init__(self) -> None:
        s = self.scaled
        self.synthetic_series = s.factor * (s.X @ self.w)           # treated units
        self.gap = self.panel.treated - self.synthetic_series
        g_fit = s.y - s.X @ self.w
        fm, pm = self.panel.fit_mask, self.panel.post_mask
        self.pre_rmspe_fit = float(np.sqrt(np.mean(g_fit[fm] ** 2)))
        self.pre_rmspe = float(np.sqrt(np.mean(self.gap[fm] ** 2)))
        self.post_rmspe = float(np.sqrt(np.mean(self.gap[pm] ** 2)))
        self.rmspe_ratio = self.post_rmspe / self.pre_rmspe if self.pre_rmspe > 0 else float("inf")
        if self.plc.ratio.size:
            self.placebo_rank, self.placebo_p = placebo_rank(self.rmspe_ratio, self.plc.ratio)
        else:
            self.placebo_rank, self.placebo_p = None, None
        # placebo gaps (in the treated series' units) of placebos that fit about as well as the treated
        pre = self.plc.pre_rmspe
        ok = pre <= PLACEBO_FIT_CUTOFF * self.pre_rmspe_fit
        if ok.sum() < MIN_DONORS:
            ok = np.ones_like(pre, dtype=bool)
        self.placebo_used = ok
        self._plc_scaled = self.plc.gaps[:, ok] * s.factor
        self.n_obs = int((fm | pm).sum())

    @property
    def alpha(self) -> float:
        return float(self.params.alpha)

    @property
    def metric(self) -> str:
        return self.params.metric

    @property
    def title(self) -> str:
        return self.params.display_title

    @property
    def horizons(self) -> list[int]:
        return list(self.params.horizons)

    @property
    def freq(self) -> str:
        return self.panel.fit_date.freqstr[0]

    @property
    def labels(self) -> list[str]:
        return self.panel.labels

    @property
    def weights(self) -> pd.DataFrame:
        codes = self.panel.donor_codes
        df = pd.DataFrame({"org_code": codes, "org_name": [self.panel.names.get(c, "") for c in codes],
                           "weight": self.w})
        return df.sort_values(["weight", "org_code"], ascending=[False, True], kind="mergesort") \
            .reset_index(drop=True)

    @property
    def dropped(self) -> dict[str, str]:
        return dict(self.panel.dropped)

    @property
    def gaps(self) -> pd.DataFrame:
        return pd.DataFrame({"period": self.labels, "observed": self.panel.treated,
                             "synthetic": self.synthetic_series, "gap": self.gap,
                             "in_fit": self.panel.fit_mask, "post": self.panel.post_mask})

    @property
    def placebo(self) -> pd.DataFrame:
        """One row per donor as a placebo: pre/post RMSPE (fitting scale), ratio, rank."""
        codes = self.panel.donor_codes
        if not self.plc.ratio.size:
            return pd.DataFrame(columns=["org_code", "pre_rmspe", "post_rmspe", "rmspe_ratio", "rank"])
        df = pd.DataFrame({"org_code": codes, "pre_rmspe": self.plc.pre_rmspe,
                           "post_rmspe": self.plc.post_rmspe, "rmspe_ratio": self.plc.ratio})
        df["rank"] = df["rmspe_ratio"].rank(ascending=False, method="min").astype(int)
        return df.sort_values(["rank", "org_code"], kind="mergesort").reset_index(drop=True)

    @property
    def placebo_gaps(self) -> pd.DataFrame:
        """Placebo gaps in the treated series' units (factor x fitting-scale gap), wide."""
        return pd.DataFrame(self.plc.gaps * self.scaled.factor, index=self.labels,
                            columns=self.panel.donor_codes)

    @property
    def coefficients(self) -> pd.DataFrame:
        return self.summary_frame()

    # ------------------------------------------------------------------ bands
    def _band(self, alpha: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        a = self.alpha if alpha is None else alpha
        P = self._plc_scaled
        if P.shape[1] == 0:
            n = len(self.labels)
            return np.full(n, np.nan), np.full(n, np.nan)
        return np.quantile(P, a / 2, axis=1), np.quantile(P, 1 - a / 2, axis=1)

    def counterfactual(self, interruption: str | None = None, alpha: float | None = None) -> pd.DataFrame:
        """period, observed, fitted, counterfactual, cf_lower, cf_upper, in_fit.

        ``fitted`` and ``counterfactual`` are both the synthetic series (a synthetic
        control has one counterfactual, for the fitting date; ``interruption`` is
        accepted for interface compatibility and ignored). The band is the synthetic
        series plus the placebo-gap quantiles at each period, at level 1 - ``alpha``.
        """
        lo, hi = self._band(self._alpha(alpha))
        return pd.DataFrame({"period": self.labels, "observed": self.panel.treated,
                             "fitted": self.synthetic_series, "counterfactual": self.synthetic_series,
                             "cf_lower": self.synthetic_series + lo, "cf_upper": self.synthetic_series + hi,
                             "in_fit": self.panel.fit_mask})

    @property
    def interruption_name(self) -> str:
        for i in self.params.interruptions:
            if parse_period(i.date) == self.panel.fit_date:
                return i.name
        return "fit_before"

    @property
    def interruptions(self) -> list:
        """The params' interruptions as InterruptionSpecs (the base result's sentences name them)."""
        from evallib.its.design import InterruptionSpec

        return [InterruptionSpec.from_params(i, self.freq) for i in self.params.interruptions]

    def _effect_records(self, horizons: Sequence[int], alpha: float) -> list[dict]:
        """Gap (observed - synthetic) at P+h and its cumulative sum over P..P+h, with placebo intervals.

        ``fitted`` is the observed value (a synthetic control has no model fit of the treated
        series). ``relative`` is observed / synthetic - 1 (missing when the synthetic is not
        positive), its interval the absolute interval divided by the synthetic. ``_se`` and ``_p``
        are permutation quantities (see the module docstring). Horizons past the end of the data
        are skipped with a warning; periods with a missing treated value count as 0 in the
        cumulative sum. ``credible`` is False when the synthetic series is not finite.
        """
        a = float(alpha)
        P = self._plc_scaled
        J = P.shape[1]
        pos = {p: i for i, p in enumerate(self.panel.periods)}
        i0 = pos.get(self.panel.fit_date)
        recs = []
        nan = float("nan")
        if i0 is not None:
            cum_plc = np.cumsum(np.where(np.isfinite(P[i0:]), P[i0:], 0.0), axis=0)
            g0 = self.gap[i0:]
            cum_gap = np.cumsum(np.where(np.isfinite(g0), g0, 0.0))
        cw = self.panel.clean
        for h in horizons:
            per = self.panel.fit_date + int(h)
            if i0 is not None and per not in pos and cw is not None and format_period(per) in cw.labels:
                self._warn(cw.message(int(h), cw.labels.index(format_period(self.panel.fit_date)), "design synthetic"))
                continue
            if i0 is None or per not in pos:
                msg = f"horizon {h} ({format_period(per)}) is past the end of the data; not reported"
                if msg not in self.warnings:
                    self.warnings.append(msg)
                continue
            i = pos[per]
            obs, cf, g = self.panel.treated[i], self.synthetic_series[i], self.gap[i]
            stats = {}
            for kind, est, dist in (("absolute", g, P[i] if J else None),
                                    ("cumulative", cum_gap[int(h)], cum_plc[int(h)] if J else None)):
                if dist is None or not np.isfinite(est):
                    stats[kind] = (float(est), nan, nan, nan, nan)
                    continue
                q_lo, q_hi = np.quantile(dist, [a / 2, 1 - a / 2])
                se = float(np.std(dist, ddof=1)) if J > 1 else nan
                p = (1 + int(np.sum(np.abs(dist) >= abs(est)))) / (J + 1)
                stats[kind] = (float(est), se, float(est - q_hi), float(est - q_lo), float(p))
            est, se, lo, hi, p = stats["absolute"]
            stats["relative"] = (g / cf, se / cf, lo / cf, hi / cf, p) if cf > 0 else (nan,) * 5
            recs.append({"interruption": self.interruption_name, "horizon": int(h), "period": format_period(per),
                         "observed": float(obs), "fitted": float(obs), "counterfactual": float(cf),
                         "credible": bool(np.isfinite(cf)), **stats})
        return recs

    def summary_frame(self, alpha: float | None = None) -> pd.DataFrame:
        """The mean gap after the fitting date (group ``difference``, term ``mean_effect[NAME]``),
        with its placebo interval at level 1 - alpha; a synthetic control has no regression terms."""
        a = self._alpha(alpha)
        P = self._plc_scaled
        pm = self.panel.post_mask
        est = float(np.nanmean(self.gap[pm])) if pm.any() else float("nan")
        rows = []
        if P.shape[1] and np.isfinite(est):
            dist = np.nanmean(P[pm], axis=0)
            q_lo, q_hi = np.quantile(dist, [a / 2, 1 - a / 2])
            p = (1 + int(np.sum(np.abs(dist) >= abs(est)))) / (dist.size + 1)
            rows.append({"group": "difference", "term": f"mean_effect[{self.interruption_name}]", "estimate": est,
                         "se": float(np.std(dist, ddof=1)) if dist.size > 1 else float("nan"),
                         "ci_lower": est - q_hi, "ci_upper": est - q_lo, "p": float(p)})
        return pd.DataFrame(rows, columns=["group", "term", "estimate", "se", "ci_lower", "ci_upper", "p"])

    # ------------------------------------------------------------------ reports
    def diagnostics(self) -> dict:
        w = self.w
        fm = self.panel.fit_mask
        y = self.panel.treated[fm]
        sst = float(np.sum((y - y.mean()) ** 2))
        sse = float(np.sum(self.gap[fm] ** 2))
        X = self.scaled.X[fm]
        yy = self.scaled.y[fm]
        outside = float(np.mean((yy > X.max(axis=1)) | (yy < X.min(axis=1))))
        pt = self.placebo_time
        return {
            "pre_rmspe": self.pre_rmspe, "post_rmspe": self.post_rmspe, "rmspe_ratio": self.rmspe_ratio,
            "placebo_rank": self.placebo_rank, "placebo_p": self.placebo_p,
            "pre_r2": (1 - sse / sst) if sst > 0 else None,
            "n_donors": len(self.panel.donor_codes), "n_dropped": len(self.panel.dropped),
            "n_pre": int(fm.sum()), "n_post": int(self.panel.post_mask.sum()),
            "fit_before": format_period(self.panel.fit_date), "fit_rule": self.panel.fit_rule,
            "scale": self.scaled.scale, "scale_factor": self.scaled.factor,
            "max_weight": float(w.max()), "n_positive_weights": int(np.sum(w > 1e-6)),
            "effective_donors": float(1.0 / np.sum(w ** 2)),
            "treated_outside_donor_range": outside,
            # booleans, not the ~1e-14 violations themselves, keep results.json byte-stable
            "solver": {"method": self.solver["method"], "optimal": bool(self.solver["kkt_violation"] <= 1e-6)},
            "placebo_solver_optimal": bool(self.plc.max_kkt_violation <= 1e-6),
            "placebo_used_for_intervals": int(self.placebo_used.sum()),
            "placebo_time_n": int(len(pt)),
            "placebo_time_median_ratio": (float(pt["rmspe_ratio"].median()) if len(pt) else None),
        }

    def robustness(self) -> pd.DataFrame:
        """Empty, with ITSResult's columns: a synthetic control has no alternative estimators.

        Its robustness checks are the placebo tests: ``placebo`` (in space) and
        ``placebo_time`` (in time), and the sensitivity set.
        """
        return pd.DataFrame(columns=["model", "group", "term", "estimate", "se", "ci_lower", "ci_upper", "p",
                                     "note"])

    def counterfactual_phrase(self, name: str) -> str:
        return f"the synthetic control built from {len(self.panel.donor_codes)} comparators"

    def sentences(self, horizons: Sequence[int] | None = None, alpha: float | None = None) -> list[str]:
        """One sentence per effect (the base result's rule), then one on the placebo-in-space test."""
        out = super().sentences(horizons, alpha)
        if self.placebo_p is not None:
            out.append(f"For {self.interruption_name.replace('_', ' ')} ({format_period(self.panel.fit_date)}), the "
                       f"post/pre-period RMSPE ratio was {self.rmspe_ratio:.2f}, ranked "
                       f"{self.placebo_rank} of {len(self.panel.donor_codes) + 1} among the treated unit and "
                       f"its placebos (permutation p = {self.placebo_p:.3f}).")
        return out

    def summary(self) -> str:
        d = self.diagnostics()
        lines = [f"Synthetic control: {self.params.display_title}",
                 f"  treated {'+'.join(self.panel.treated_codes)} ({self.params.aggregate}, scale "
                 f"{d['scale']}), {d['n_donors']} donors ({d['n_dropped']} dropped), fit {self.panel.fit_rule}",
                 f"  pre RMSPE {self.pre_rmspe:,.4g}  post RMSPE {self.post_rmspe:,.4g}  ratio "
                 f"{self.rmspe_ratio:.3g}  placebo rank {self.placebo_rank} p {self.placebo_p}",
                 "  weights: " + ", ".join(f"{c} {w:.3f}" for c, w in
                                           zip(self.weights["org_code"], self.weights["weight"]) if w > 1e-3)]
        eff = self.effects()
        if len(eff):
            lines.append(eff[["horizon", "period", "observed", "counterfactual", "absolute", "absolute_lower",
                              "absolute_upper", "relative", "cumulative"]].to_string(index=False))
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def plot(self, ax=None, kind: str = "fit"):
        """``kind='fit'``: treated vs synthetic; ``'placebo'``: placebo gaps. Returns (fig, ax)."""
        from evallib.plots import synthetic as sp

        if kind == "fit":
            return sp.synthetic_plot(self, ax=ax)
        if kind == "placebo":
            return sp.placebo_plot(self, ax=ax)
        raise ParameterError(f"plot kind {kind!r} is not allowed (expected fit or placebo)")

    def get_plot_data(self) -> pd.DataFrame:
        return self.counterfactual()

    @property
    def periods_fitted(self) -> tuple[str, str]:
        used = [lab for lab, m in zip(self.labels, self.panel.fit_mask | self.panel.post_mask) if m]
        return used[0], used[-1]

    def to_dict(self) -> dict:
        """results.json (docs/contracts.md §4): design 'synthetic', empty ``groups``, the ``synthetic`` block."""
        from evallib.its.results import SCHEMA, json_safe

        effects = []
        for r in self.effects().to_dict("records"):
            e = {"interruption": r["interruption"], "horizon": int(r["horizon"]), "period": r["period"],
                 "observed": r["observed"], "counterfactual": r["counterfactual"]}
            for kind in ("absolute", "relative", "cumulative"):
                e[kind] = {"estimate": r[kind], "se": r[f"{kind}_se"],
                           "ci": [r[f"{kind}_lower"], r[f"{kind}_upper"]], "p": r[f"{kind}_p"]}
            e["sentence"] = self.sentence(r)
            effects.append(e)
        first, last = self.periods_fitted
        doc = {
            "schema": SCHEMA, "title": self.params.display_title, "metric": self.params.metric,
            "model": self.model, "design": "synthetic", "n_obs": self.n_obs,
            "periods": {"first": first, "last": last},
            "groups": {},
            "synthetic": {
                "weights": {c: float(w) for c, w in zip(self.panel.donor_codes, self.w)},
                "pre_rmspe": self.pre_rmspe, "post_rmspe": self.post_rmspe,
                "rmspe_ratio": self.rmspe_ratio, "placebo_rank": self.placebo_rank,
                "placebo_p": self.placebo_p,
                # additive: the donors, and with a membership table their clean periods
                "comparators": self.panel.comparators_block()},
            "effects": effects,
            "diagnostics": self.diagnostics(),
            "warnings": list(self.warnings),
            "provenance": self._provenance(),
        }
        return json_safe(doc)

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def _provenance(self) -> dict:
        import evallib

        return {"evallib_version": evallib.__version__,
                "data_file": str(self.panel.source), "data_sha256": self.panel.sha256,
                "params": self.params.to_yaml_dict(),
                "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}

    def __repr__(self) -> str:
        return (f"<SyntheticResult {self.params.metric} donors={len(self.panel.donor_codes)} "
                f"ratio={self.rmspe_ratio:.3g} p={self.placebo_p}>")


# ============================================================================ placebo in time
def placebo_in_time(panel: Panel, scaled: _Scaled, *, min_pre: int = 6, min_gap: int = 3,
                    extra: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Refit with the fitting date moved back to each earlier period D.

    D runs over every period that leaves at least ``min_pre`` fitting points before
    it and at least ``min_gap`` fitting points from D to the real date. Columns:
    ``date, n_pre, pre_rmspe, post_rmspe, rmspe_ratio, mean_gap`` (RMSPE and gap in
    the treated series' units; "post" is D .. real date - 1). Empty when the
    pre-period is too short.
    """
    fm = panel.fit_mask
    idx = np.flatnonzero(fm)
    rows = []
    for k in range(min_pre, len(idx) - min_gap + 1):
        d = panel.periods[idx[k]]
        pre = fm & np.array([p < d for p in panel.periods])
        post = fm & ~pre
        w, _ = fit_weights(scaled.y, scaled.X, pre, extra)
        g = scaled.factor * (scaled.y - scaled.X @ w)
        pr = float(np.sqrt(np.mean(g[pre] ** 2)))
        po = float(np.sqrt(np.mean(g[post] ** 2)))
        rows.append({"date": format_period(d), "n_pre": int(pre.sum()), "pre_rmspe": pr, "post_rmspe": po,
                     "rmspe_ratio": po / pr if pr > 0 else np.inf, "mean_gap": float(np.mean(g[post]))})
    return pd.DataFrame(rows, columns=["date", "n_pre", "pre_rmspe", "post_rmspe", "rmspe_ratio", "mean_gap"])


# ============================================================================ entry points
def analyse_synthetic(params, table=None, *, scale: str | None = None, fit_before: str | None = None,
                      predictors: Sequence[str] | None = None, predictor_weight: float | None = None,
                      placebo_time: bool = True, units: Sequence[str] | None = None) -> SyntheticResult:
    """Synthetic control for ``params`` on ``table`` (TidyTable, DataFrame or None = params.data).

    ``scale``, ``fit_before``, ``predictors`` and ``predictor_weight`` default to the
    params' ``synthetic:`` options (YAML), which default to auto / the collaborative's
    date / none / 1.

    See the module docstring for the donors, the fitting period, the scale and the
    inference. Raises ``DataError`` for fewer than 2 donors with complete series,
    ``ModelError`` when there is no (or too short a) pre-period or no post-period.

    The fit is computed once per table object, canonical params JSON (``model`` aside) and
    arguments (``TidyTable.memo``); each call gets its own result object.
    """
    from evallib.config import as_params

    params = as_params(params)
    if params.synthetic.per_trust and units is None:   # one synthetic control per trust (evallib/its/sdid.py)
        return analyse_per_trust(params, table)
    table = _as_table(table, params)
    args = (scale, fit_before, None if predictors is None else tuple(predictors), predictor_weight, placebo_time,
            None if units is None else tuple(units))
    # computed once per table object, canonical params (``model`` aside: a synthetic control has none)
    # and arguments; each call gets its own result object
    key = (params_key(params, drop=("model",)), args)
    r = table.memo("synthetic", key, lambda: _fit_synthetic(params, table, *args), maxsize=MEMO_SIZE)
    res = SyntheticResult(params=params, panel=r.panel, scaled=r.scaled, w=r.w, solver=dict(r.solver), plc=r.plc,
                          placebo_time=r.placebo_time.copy(), warnings=list(r.warnings))
    for m in res.warnings:
        logger.warning("%s: %s", params.metric, m)
    return res


def _fit_synthetic(params, table, scale, fit_before, predictors, predictor_weight, placebo_time,
                   units) -> SyntheticResult:
    from evallib.its.series import near_zero_pre_period

    opts = params.synthetic
    scale = opts.scale if scale is None else scale
    fit_before = opts.fit_before if fit_before is None else fit_before
    predictors = tuple(opts.predictors) if predictors is None else predictors
    predictor_weight = opts.predictor_weight if predictor_weight is None else predictor_weight
    if predictor_weight <= 0:
        raise ParameterError(f"predictor_weight {predictor_weight} must be positive")
    panel = build_panel(params, table, units=units, fit_before=fit_before)
    _check_panel(panel, params.metric)
    scaled = _scale(panel, scale, params.aggregate)
    warnings: list[str] = list(panel.series_warnings)
    extra = None
    if predictors:
        extra = _predictor_rows(params, table, panel, predictors, scaled, predictor_weight)
    w, info = fit_weights(scaled.y, scaled.X, panel.fit_mask, extra)
    plc = placebo_in_space(scaled.X, panel.fit_mask, panel.post_mask,
                           None if extra is None else extra[1])
    pt = placebo_in_time(panel, scaled, extra=extra) if placebo_time else \
        pd.DataFrame(columns=["date", "n_pre", "pre_rmspe", "post_rmspe", "rmspe_ratio", "mean_gap"])
    if panel.dropped:
        codes = sorted(panel.dropped)
        why = "for missing periods" if panel.clean is None else f"({comparators_reasons(panel.dropped)})"
        warnings.append(f"{len(codes)} comparator(s) dropped from the donor pool {why}: "
                        f"{', '.join(codes[:10])}{' ...' if len(codes) > 10 else ''}")
    n_pre = int(panel.fit_mask.sum())
    if n_pre < SHORT_PRE:
        warnings.append(f"only {n_pre} pre-period points {panel.fit_rule}: placebo tests over-reject with "
                        f"short pre-periods (Illenberger, Small & Shaw 2020)")
    res = SyntheticResult(params=params, panel=panel, scaled=scaled, w=w, solver=info, plc=plc,
                          placebo_time=pt, warnings=warnings)
    d = res.diagnostics()
    if d["treated_outside_donor_range"] > 0.5:
        warnings.append(f"the treated series lies outside the donors' range in "
                        f"{d['treated_outside_donor_range']:.0%} of the pre-period: no convex combination can "
                        f"match it (pre R2 {d['pre_r2'] if d['pre_r2'] is None else round(d['pre_r2'], 3)}); "
                        f"try scale index or different comparators")
    near_zero = near_zero_pre_period(panel.treated, panel.fit_mask, panel.post_mask)
    if near_zero:
        warnings.append(f"{near_zero}: the pre-period fit has almost nothing to match and the RMSPE ratio is "
                        f"inflated; read the gaps, not the ratio")
    if info["kkt_violation"] > 1e-6:
        warnings.append(f"the weight solver stopped with KKT violation {info['kkt_violation']:.2e}")
    if plc.ratio.size == 0:
        warnings.append(f"placebo-in-space needs at least {MIN_DONORS + 1} donors; no permutation p-value")
    return res


def analyse_synthetic_each(params, table=None, **kwargs) -> dict[str, SyntheticResult]:
    """One synthetic control per treated unit; the other treated units are never donors.

    ``aggregate`` is irrelevant for a single unit (its own series), so ``scale='auto'``
    fits raw levels. Returns ``{org_code: SyntheticResult}`` in ``params.units`` order.
    """
    from evallib.config import as_params

    params = as_params(params)
    tt = _as_table(table, params)
    return {u: analyse_synthetic(params, tt, units=[u], **kwargs) for u in params.units}
