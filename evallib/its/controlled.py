"""Controlled designs: comparative ITS (Linden 2015) and the difference series (Bottomley 2019).

``analyse_controlled(params, table)`` (called by ``evallib.analyse`` for ``design:
controlled``) fits the design chosen by ``controlled_method`` and returns a
:class:`ControlledResult` (an :class:`~evallib.its.results.ITSResult`).

**stacked** (default): the multiple-group model of Stata ``itsa`` with ``treatid``
(Linden 2015, Stata Journal 15(2):480). The treated series (``params.units`` combined
by ``params.aggregate``) is stacked with *each* comparator unit's own series, and

    y = intercept + pre_trend*t + sum_k (level_k*X_k + slope_k*XT_k)        (control terms)
        + z*(intercept + pre_trend*t + sum_k' (level_k'*X_k' + slope_k'*XT_k'))  (difference terms)
        + seasonal terms (shared by every unit) + error

where z = 1 on the treated rows and k' runs over the interruptions that are not
*shared* (below). Column names: the control terms keep the names of docs/contracts.md §3
(``intercept``, ``pre_trend``, ``level_change[NAME]``, ``slope_change[NAME]``); the
interactions are ``z:intercept``, ``z:pre_trend``, ``z:level_change[NAME]``, ...
(Stata: ``_cons, _t, _x1989, _x_t1989`` and ``_z, _z_t, _z_x1989, _z_x_t1989``).

- ``groups.control`` = the base coefficients; ``groups.difference`` = the z-interactions;
  ``groups.treated`` = control + difference, with standard errors from the covariance
  (linear combinations, as Stata ``lincom`` after ``itsa ..., posttrend``).
- **The effect is the difference-in-differences**: the treated counterfactual for
  interruption NAME is the treated fit with the ``z:`` level and slope columns of NAME
  *and every later interruption* set to zero, i.e. the treated series follows its own
  pre-period trend plus the changes the comparators show at NAME.
- **Shared interruptions** (``shared_interruptions``, default ``auto`` = every
  interruption except the last): a co-interruption such as COVID-19 gets control terms
  but no ``z:`` terms, i.e. the treated series is assumed to respond to it as the
  comparators do. That is what the comparators are for: with ``z:`` terms for COVID-19
  (2020-03) the treated-specific COVID slope would be estimated from the six months
  before the collaborative (2020-09) and extrapolated into its counterfactual, which on
  the demo turns a planted +3.6 point cancer effect into +23.6 (CI 5 to 42). A shared
  interruption has ``difference`` terms fixed at 0 (se 0, p null), no rows in
  ``effects()``, and does not start a segment for the segment-length guard rails.
  ``none`` (or ``[]``) interacts every interruption: the full Linden model, as the
  Stata reference test uses (one interruption, so ``auto`` is the same).
- Seasonality (``month`` or ``fourierK``) is one set of terms shared by all units, not
  interacted with z. Comparators have no unit intercepts (as in ``itsa``): the control
  terms describe the average comparator.

**Estimation and inference (stacked).**

- ``ols-hac``: OLS with a *panel* Newey–West covariance: Bartlett weights
  ``1 - l/(L+1)``, autocovariances only between rows of the same unit (never across the
  boundary between two units' series), the small-sample factor ``n/(n-k)`` with n the
  number of stacked rows, and t intervals with ``n - k`` degrees of freedom. This is
  Stata ``newey, lag(L) force`` on data ``tsset panel time`` (itsa's estimator), whose
  lag operator stays within a panel. Lags are counted over a unit's *fitted rows* in
  time order (the engine's single-series convention, as R ``sandwich``); on a panel
  without excluded periods this is identical to Stata. ``hac_lags: auto`` applies the
  engine's rule to the length of one unit's series (not to the stacked n). The meat is
  statsmodels' own (``S_nw_panel``, what ``cov_type="hac-panel"`` uses; ``S_hac_groupsum`` for
  Driscoll–Kraay), see :func:`panel_newey_west` for the comparison that retired the
  hand-written kernels.
- ``poisson``/``quasipoisson``/``negbin``/``binomial``/``quasibinomial``: the stacked GLM
  (log link with offset log(denominator), or logit on numerator/denominator), with a
  panel Newey–West *sandwich* on the score contributions (bread = inverse Fisher
  information, same kernel, same n/(n-k); statsmodels ``cov_type='hac-panel'``, and the
  GLM analogue of itsa 3's ``glm, vce(hac nwest L) vfactor(n/df)``), normal intervals.
  The sandwich does not depend on the quasi dispersion, which is still reported.
- ``prais-winsten``: one AR(1) rho estimated from within-unit residual pairs, each
  unit's rows transformed separately (its first row scaled by sqrt(1 - rho^2)); iterated
  (:func:`evallib.stats.prais.prais_winsten` with ``groups``).
- ``arima`` is not available stacked (a ParameterError says to use the difference method).
- ``controlled_cov: driscoll-kraay`` (keyword ``cov=``) replaces the within-unit meat by
  Driscoll–Kraay (scores summed over units per period, then Bartlett over periods):
  robust to a common shock the model does not fit exactly. Not the default: on the demo
  it undercovers (10/16 planted effects), because it ignores the treated units' own
  random response to COVID-19, while the panel estimator covers 15/16 (conservative
  for counts, whose common-shock misfit it counts twice).

**difference** (Bottomley et al. 2019): the comparator mean is subtracted from the
treated series period by period, and the difference series gets a single-series ITS
with the engine's estimator (shared interruptions get no terms in it).
``groups.difference`` comes from that fit and ``groups.control`` from the same
specification fitted to the comparator mean; ``groups.treated`` = control + difference,
with the joint Newey–West covariance of the two fits for ``ols-hac`` (block-diagonal,
with a note, for prais-winsten and arima). Only identity-link models (ols-hac,
prais-winsten, arima) are allowed: a difference of counts is not a count.

**Comparators** (``params.comparators``): ``all_other`` is every other unit in the table
with rows for the metric; a list names them. A comparator is kept only if its series is
*complete* over the fitted periods of the window (no missing value, exposure or
numerator/denominator where the model needs them, a positive denominator for log and
logit models). Incomplete comparators are dropped and listed in a warning (and in
``diagnostics.comparators_dropped``); a named comparator with no rows at all is a
DataError. No usable comparator is a ModelError.

**Scale** (``comparator_scale``): ``none`` stacks the comparators as they are (Linden);
``pre_mean`` multiplies each comparator by (treated pre-period mean / its own pre-period
mean), so that absolute changes are comparable when the treated series is a *sum* of
several units (comparators whose pre-period mean is 0 or less are dropped with a
warning). ``auto`` (default) is ``pre_mean`` for identity-link models with
``aggregate: sum`` over more than one unit, and ``none`` otherwise (log- and logit-link
models compare proportional changes already). The pre-period is the fitted periods
before the first interruption.

**Near-zero pre-period** (log-link models: poisson, quasipoisson, negbin): when the
treated series' mean before the first interruption is under 5% of its mean from the
first interruption whose effect is reported (as 52-week waits were before 2020-04), a
warning says the log-scale comparison rests on almost nothing and to read the absolute
effects (the check is :func:`evallib.its.series.near_zero_pre_period`, shared with the
synthetic control).

**Options beyond docs/contracts.md §2** are params keys and can be overridden by keyword:
``controlled_method`` ('stacked' | 'difference'), ``shared_interruptions`` ('auto' |
'none' | [names]), ``comparator_scale`` ('auto' | 'none' | 'pre_mean'),
``controlled_cov`` ('panel' | 'driscoll-kraay').
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from evallib.exceptions import DataError, ModelError, ParameterError
from evallib import text as W
from evallib.its import estimators as est
from evallib.its.design import Design, InterruptionSpec, build_design, column_weights, segments
from evallib.its.results import ITSResult, PredictionRows
from evallib.data.checks import check_informative
from evallib.its.single import choose_model, interruption_specs, outcome_arrays
from evallib.periods import format_period
from evallib.stats import ols as O
from evallib.stats.prais import prais_winsten, prais_winsten_designs

logger = logging.getLogger(__name__)

Z_PREFIX = "z:"
METHODS = ("stacked", "difference")  # "aligned" is evallib.its.aligned
SCALES = ("auto", "none", "pre_mean")
STACKED_MODELS = ("ols-hac", "prais-winsten") + est.COUNT_MODELS + est.BINOMIAL_MODELS
DIFFERENCE_MODELS = est.LINEAR_MODELS


def z_name(column: str) -> str:
    """Name of the treated-group interaction of a base column: ``z:<column>``."""
    return f"{Z_PREFIX}{column}"


# =========================================================================== data
@dataclass
class ControlledData:
    """The treated series and the comparator panel on one window of periods.

    ``values``/``numerators``/``denominators``: (n_periods, 1 + n_comparators) arrays,
    column 0 the treated series, then one column per kept comparator (``codes``).
    ``scale``: the factor applied to each column's value (1 for the treated; see
    ``comparator_scale``).
    """

    periods: list[pd.Period]
    codes: list[str]
    values: np.ndarray
    numerators: np.ndarray
    denominators: np.ndarray
    scale: np.ndarray
    dropped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: ``comparators: not_yet_treated``: (n_periods, 1 + n_comparators) rows each unit is used in (a
    #: comparator up to the period before it joined any collaborative, every unit up to
    #: ``last_clean``); None when every row of the window is used
    clean: np.ndarray | None = None
    #: with a membership table: comparator code -> last clean period (None: never joined)
    clean_until: dict[str, str | None] | None = None
    #: under not_yet_treated: index of the last period with enough clean comparators
    last_clean: int | None = None

    @property
    def labels(self) -> list[str]:
        return [format_period(p) for p in self.periods]

    def used_at(self, label: str) -> list[str]:
        """The comparators whose rows for period ``label`` are in the fit's panel (all of them, unless
        comparators are not_yet_treated)."""
        i = self.labels.index(label)
        if self.clean is None:
            return list(self.codes)
        return [c for j, c in enumerate(self.codes) if self.clean[i, 1 + j]]

    @property
    def n_comparators(self) -> int:
        return len(self.codes)


def _shorten(codes: Sequence[str], n: int = 10) -> str:
    codes = list(codes)
    return ", ".join(codes[:n]) + (f" and {len(codes) - n} more" if len(codes) > n else "")


def comparator_codes(params, table) -> list[str]:
    """The comparator unit codes named by ``params.comparators`` for ``params.metric``."""
    rows = table.for_metric(params.metric)
    have = set(rows["org_code"])
    comps = params.comparators
    if comps == "none" or comps is None:
        raise ParameterError(f"design controlled needs comparators (all_other or a list of codes) for "
                             f"{params.metric}; comparators is none")
    if comps == "matched":
        raise ParameterError(f"comparators matched (the nearest matches on the pre-formation series) is the aligned "
                             f"design's; controlled_method {params.controlled_method} takes all_other, "
                             f"not_yet_treated or a list of codes")
    units = set(params.units)
    if comps in ("all_other", "not_yet_treated"):
        out = sorted(have - units)
        if not out:
            raise DataError(f"{table.source}: comparators {comps}: no unit other than {sorted(units)} has rows "
                            f"for metric {params.metric}")
        return out
    missing = [c for c in comps if c not in have]
    if missing:
        raise DataError(f"{table.source}: comparators {missing} have no rows for metric {params.metric} "
                        f"(units with data: {_shorten(sorted(have))})")
    return list(dict.fromkeys(comps))


def needs(model: str) -> tuple[bool, bool]:
    """(needs numerator and denominator, may use a denominator as exposure) for ``model``."""
    return model in est.BINOMIAL_MODELS, model in est.COUNT_MODELS


# =========================================================================== panel HAC
def panel_newey_west(X: np.ndarray, u: np.ndarray, unit: np.ndarray, lags: int,
                     bread: np.ndarray | None = None, time: np.ndarray | None = None,
                     kind: str = "panel") -> np.ndarray:
    """``n/(n-k) B S B`` with B = (X'X)^-1 (OLS) or the given bread (GLMs), S from statsmodels.

    ``u``: residuals (OLS) or score weights (GLMs), so the scores are ``x_t u_t``.

    - ``kind='panel'``: within-unit Bartlett meat, statsmodels
      ``sandwich_covariance.S_nw_panel`` (the meat of ``cov_type="hac-panel"``, Stata ``newey``
      on a tsset panel). Rows sorted by ``unit`` then time; lags count rows of one unit.
    - ``kind='driscoll-kraay'``: scores summed over units per period (``time``, integer period
      index of each row), then Bartlett over periods: statsmodels ``S_hac_groupsum`` (the meat
      of ``cov_type="hac-groupsum"``). Periods no unit has in the fit count as zero rows, so
      lags are calendar periods.

    The factor is ``use_correction="hac"``'s ``n/(n-k)``. Against statsmodels'
    ``OLS(...).fit(cov_type="hac-panel" | "hac-groupsum", cov_kwds={..., "use_correction":
    "hac"})`` on the Stata itsa Proposition 99 case (39 units x 31 years) the standard errors
    agree to 1.2e-13 (panel) and 5.3e-13 (Driscoll-Kraay) relative at lags 0, 1 and 3; the
    hand-written kernels these replace agreed with them to the same digits, so they are gone.
    """
    import statsmodels.stats.sandwich_covariance as sw

    X = np.asarray(X, dtype=float)
    n, k = X.shape
    B = np.linalg.inv(X.T @ X) if bread is None else bread
    xu = X * np.asarray(u, dtype=float)[:, None]
    if kind == "driscoll-kraay":
        S = sw.S_hac_groupsum(xu, np.asarray(time, dtype=int), nlags=int(lags))
    else:
        unit = np.asarray(unit)
        cut = (np.flatnonzero(unit[1:] != unit[:-1]) + 1).tolist()
        groupidx = list(zip([0] + cut, cut + [n]))
        longest = max(hi - lo for lo, hi in groupidx)
        L = min(int(lags), longest - 1)     # longer lags pair no rows of one unit (statsmodels raises)
        S = sw.S_nw_panel(xu, sw.weights_bartlett(L), groupidx)
    V = (n / (n - k)) * (B @ S @ B)
    return (V + V.T) / 2


# =========================================================================== stacked fit
def stack_design(design: Design, n_units: int,
                 shared: Sequence[str] = ()) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The full stacked design (every period of every unit, fitted or not).

    Columns: the ITS columns (control terms), their z-interactions, then the shared
    seasonal columns. Rows: unit 0 (treated) periods, then unit 1, ...
    ``shared``: names of interruptions whose level/slope columns get *no* z-interaction
    (the treated series is assumed to respond to them as the comparators do).
    """
    shared_cols = {c for i in design.interruptions if i.name in set(shared) for c in i.columns}
    base = design.X[design.its_columns].to_numpy(dtype=float)
    seas = design.X[design.seasonal_columns].to_numpy(dtype=float)
    T = base.shape[0]
    z = np.zeros(T * n_units)
    z[:T] = 1.0
    B = np.tile(base, (n_units, 1))
    S = np.tile(seas, (n_units, 1))
    zi = [j for j, c in enumerate(design.its_columns) if c not in shared_cols]
    z_cols = [z_name(design.its_columns[j]) for j in zi]
    cols = list(design.its_columns) + z_cols + list(design.seasonal_columns)
    parts = [B, B[:, zi] * z[:, None]] + ([S] if S.size else [])
    Xs = pd.DataFrame(np.column_stack(parts), columns=cols)
    return Xs, list(design.its_columns), z_cols


def fit_stacked(model: str, X: np.ndarray, unit: np.ndarray, *, y=None, numerator=None, denominator=None,
                lags: int = 1, columns: Sequence[str] | None = None, time: np.ndarray | None = None,
                cov: str = "panel") -> est.Fit:
    """Fit the stacked model and replace its covariance by the panel Newey–West one.

    Rows must be sorted by unit then time. Returns an engine :class:`~evallib.its.estimators.Fit`
    whose ``cov`` is the panel HAC covariance (OLS) or sandwich (GLMs) and whose
    ``extra['cov_type']`` says so.

    Against statsmodels' own ``fit(cov_type="hac-panel", cov_kwds={"groups": unit, "maxlags": L,
    "use_correction": "hac"})`` (6 units x 40 periods, lag 2, tests/test_controlled.py): OLS, Poisson
    and binomial standard errors agree to 4e-15 relative, so the meat is statsmodels'
    (:func:`panel_newey_west`) and only the bread, the inverse Fisher information of the
    coefficients, is formed here. **negbin differs**: statsmodels' standard errors are up to 0.51%
    wider on that case (largest SE ratio 1.0051): statsmodels' ``NegativeBinomial`` puts the
    dispersion alpha into the sandwich as a fifth parameter (its bread is the inverse Hessian of (beta, alpha) and its factor n/(n-5)), while this
    sandwich treats alpha as fixed at its estimate, as the GLM analogue of itsa's
    ``glm, vce(hac nwest L)`` does: bread ``(X'WX)^-1`` with ``W = mu/(1 + alpha mu)``, scores
    ``x (y - mu)/(1 + alpha mu)``, factor n/(n-4).
    """
    X = np.asarray(X, dtype=float)
    n, k = X.shape
    if model == "ols-hac":
        f = est.fit("ols-hac", X, y, hac_lags=0, columns=columns)
        f.cov = panel_newey_west(X, f.resid, unit, lags, time=time, kind=cov)
        f.hac_lags_used = lags
        f.extra["cov_type"] = "panel Newey-West (within-unit Bartlett, n/(n-k))"
        return f
    if model == "prais-winsten":
        return _panel_prais(X, np.asarray(y, dtype=float), unit, columns)
    if model in est.COUNT_MODELS or model in est.BINOMIAL_MODELS:
        f = est.fit(model, X, y, numerator=numerator, denominator=denominator, columns=columns)
        beta = f.params
        eta = X @ beta
        if model in est.COUNT_MODELS:
            off = np.log(denominator) if denominator is not None else 0.0
            mu = np.exp(eta + off)
            yy = np.asarray(y, dtype=float)
            if model == "negbin":
                alpha = float(f.extra.get("alpha", 0.0))
                score = (yy - mu) / (1.0 + alpha * mu)
                info_w = mu / (1.0 + alpha * mu)
            else:
                score = yy - mu
                info_w = mu
        else:
            p = 1.0 / (1.0 + np.exp(-eta))
            nn = np.asarray(denominator, dtype=float)
            score = np.asarray(numerator, dtype=float) - nn * p
            info_w = nn * p * (1 - p)
        bread = np.linalg.inv(X.T @ (X * info_w[:, None]))
        f.cov = panel_newey_west(X, score, unit, lags, bread=bread, time=time, kind=cov)
        f.hac_lags_used = lags
        f.dist = "normal"
        f.extra["cov_type"] = "panel Newey-West sandwich on GLM scores (within-unit Bartlett, n/(n-k))"
        f.extra["model_dispersion"] = f.dispersion
        return f
    raise ParameterError(f"model {model} is not available for the stacked controlled design "
                         f"(allowed: {', '.join(STACKED_MODELS)}); use controlled_method: difference for arima")


def _panel_prais(X, y, unit, columns) -> est.Fit:
    """Prais–Winsten with one AR(1) rho shared by all units, transformed within each unit:
    :func:`evallib.stats.prais.prais_winsten` with ``groups=unit`` (Stata ``prais`` conventions)."""
    pw = prais_winsten(X, y, groups=unit)
    warns = [] if pw.converged else [f"prais-winsten: rho did not converge in {pw.iterations} iterations "
                                     f"(last rho {pw.rho:.4f})"]
    return est.Fit("prais-winsten", pw.params, pw.cov, pw.df_resid, pw.resid, X @ pw.params, "identity", "t",
                   dispersion=pw.sigma2, converged=pw.converged, warnings=warns,
                   columns=list(columns) if columns is not None else None,
                   extra={"rho": pw.rho, "iterations": pw.iterations, "sigma2": pw.sigma2,
                          "cov_type": "panel Prais-Winsten (common rho, within-unit transform)"})


# =========================================================================== group terms
def group_contrasts(columns: Sequence[str], design: Design) -> dict[str, dict[str, np.ndarray]]:
    """Weights over the stacked ``columns`` for every ITS term of each group.

    Returns ``{"treated": {term: w}, "control": {...}, "difference": {...}}`` with the
    terms of docs/contracts.md §4 (intercept, pre_trend, level_change[N], slope_change[N],
    post_trend[N]); treated = control + difference.
    """
    idx = {c: i for i, c in enumerate(columns)}
    base_cols = list(design.X.columns)
    out: dict[str, dict[str, np.ndarray]] = {"treated": {}, "control": {}, "difference": {}}
    for term, w_base in design.contrasts.items():
        wc = np.zeros(len(columns))
        wd = np.zeros(len(columns))
        for c, w in zip(base_cols, w_base):
            if w == 0:
                continue
            wc[idx[c]] = w
            if z_name(c) in idx:          # a shared interruption has no z column
                wd[idx[z_name(c)]] = w
        out["control"][term] = wc
        out["difference"][term] = wd
        out["treated"][term] = wc + wd
    return out


# =========================================================================== preparation
def _option(params, name: str, override, allowed: Sequence[str], default: str) -> str:
    value = override if override is not None else getattr(params, name)
    if value is None:
        value = default
    if value not in allowed:
        raise ParameterError(f"{name}: value {value!r} is not allowed (expected {' | '.join(allowed)})")
    return value


def comparator_matrices(params, table, labels: Sequence[str]):
    """``(codes, values, numerators, denominators)``: the comparators named by ``params`` and their
    (periods x comparators) arrays over the window ``labels`` (the slow part of :func:`prepare`,
    computed once for specifications that share the window, such as placebo dates)."""
    from evallib.its.series import unit_panel

    codes = comparator_codes(params, table)
    panel = unit_panel(table, params.metric, codes, labels[0], labels[-1])

    def matrix(col: str) -> np.ndarray:
        w = panel.pivot(index="period", columns="org_code", values=col).reindex(index=labels, columns=codes)
        return w.to_numpy(dtype=float)

    return codes, matrix("value"), matrix("numerator"), matrix("denominator")


def prepare(params, table, model: str, *, scale: str = "auto", method: str = "stacked", treated=None,
            matrices=None):
    """Assemble the treated series, the comparator panel and the design.

    Returns ``(data, design, treated_series)``. See the module docstring for how
    incomplete comparators and the comparator scale are handled. ``matrices``: the
    :func:`comparator_matrices` of this window, when already computed.
    """
    from evallib.its.series import combine_units

    if treated is None:
        treated = combine_units(table, params.metric, params.units, params.aggregate, params.start, params.end)
    periods = treated.periods
    labels = [format_period(p) for p in periods]
    specs = [InterruptionSpec.from_params(i, table.freq) for i in params.interruptions]
    design = build_design(periods, specs, seasonality=params.seasonality, exclude=params.exclude)
    warnings = list(treated.warnings) + list(design.warnings)
    codes, val, num, den = comparator_matrices(params, table, labels) if matrices is None else matrices
    binom, counts = needs(model)
    use_exposure = counts and bool(treated.frame["denominator"].iloc[np.flatnonzero(design.in_fit)].notna().any())
    fit_rows = design.in_fit
    clean_until_, use, pre_dropped = _clean_rows(params, table, codes, labels, specs)
    if pre_dropped:
        warnings.append(f"{len(pre_dropped)} comparator(s) dropped because they had joined a collaborative before "
                        f"{specs[-1].name} ({format_period(specs[-1].period)}): {_shorten(pre_dropped)}")
    used = fit_rows[:, None] & use            # the rows of each comparator the fit uses
    ok = np.array([c not in set(pre_dropped) for c in codes], dtype=bool)
    with np.errstate(invalid="ignore"):
        if binom:
            ok &= np.all((np.isfinite(num) & np.isfinite(den) & (den > 0)) | ~used, axis=0)
        else:
            ok &= np.all(np.isfinite(val) | ~used, axis=0)
            if use_exposure:
                ok &= np.all((np.isfinite(den) & (den > 0)) | ~used, axis=0)
    dropped = [c for c, k in zip(codes, ok) if not k and c not in set(pre_dropped)]
    if dropped:
        warnings.append(f"{len(dropped)} comparator(s) dropped because their {params.metric} series is incomplete "
                        f"over the fitted periods {labels[0]} to {labels[-1]}: {_shorten(dropped)}")
    dropped = list(pre_dropped) + dropped
    kept = [c for c, k in zip(codes, ok) if k]
    if not kept:
        raise ModelError(f"no comparator has a complete {params.metric} series over {labels[0]} to {labels[-1]} "
                         f"(of {len(codes)} named); choose comparators with complete data or shorten the window "
                         f"with start/end")
    tf = treated.frame
    values = np.column_stack([tf["value"].to_numpy(dtype=float), val[:, ok]])
    nums = np.column_stack([tf["numerator"].to_numpy(dtype=float), num[:, ok]])
    dens = np.column_stack([tf["denominator"].to_numpy(dtype=float), den[:, ok]])
    if not use_exposure and not binom:
        dens = np.full_like(dens, np.nan)

    link = est.link_of(model)
    if scale == "auto":
        scale = "pre_mean" if (link == "identity" and params.aggregate == "sum" and len(params.units) > 1) else "none"
    factors = np.ones(values.shape[1])
    if scale == "pre_mean":
        if link != "identity":
            raise ParameterError(f"comparator_scale pre_mean is only for identity-link models; model {model} "
                                 f"compares proportional changes already (use none or auto)")
        first = specs[0].period
        pre = fit_rows & np.array([p < first for p in periods]) & np.isfinite(values[:, 0])
        if pre.sum() < 1:
            raise ModelError("comparator_scale pre_mean needs fitted periods before the first interruption")
        m_t = float(np.mean(values[pre, 0]))
        m_c = values[pre, 1:].mean(axis=0)
        zero = m_c <= 0
        if zero.all():
            raise ModelError(f"comparator_scale pre_mean: every comparator of {params.metric} has a pre-period "
                             f"mean of 0 or less, so none can be rescaled; use comparator_scale: none")
        if zero.any():
            gone = [c for c, z in zip(kept, zero) if z]
            warnings.append(f"{len(gone)} comparator(s) dropped because their pre-period mean of {params.metric} is "
                            f"0 or less, so comparator_scale pre_mean cannot rescale them: {_shorten(gone)}")
            dropped = dropped + gone
            kept = [c for c, z in zip(kept, zero) if not z]
            cols_keep = np.r_[True, ~zero]
            values, nums, dens, m_c = values[:, cols_keep], nums[:, cols_keep], dens[:, cols_keep], m_c[~zero]
            factors = np.ones(values.shape[1])
        factors[1:] = m_t / m_c
        values = values * factors[None, :]
    data = ControlledData(periods=periods, codes=kept, values=values, numerators=nums, denominators=dens,
                          scale=factors, dropped=dropped, warnings=warnings,
                          clean_until=({c: clean_until_[c] for c in kept} if clean_until_ is not None else None))
    if params.comparators == "not_yet_treated":
        _restrict_to_clean(params, data, specs)
    elif clean_until_ is not None:
        joined = sorted(v for c, v in data.clean_until.items() if v is not None and v < labels[-1])
        if joined:
            named = params.comparators if isinstance(params.comparators, str) else "a list"
            warnings.append(f"{len(joined)} of the {len(kept)} comparators joined a collaborative after formation "
                            f"(the first is clean through {joined[0]}); comparators: {named} uses them "
                            f"throughout, which pulls the effect towards zero: use comparators: not_yet_treated")
    return data, design, treated


#: the stacked design reports a period only when at least this many comparators are clean through it
#: (the control terms then rest on more than one or two series)
MIN_CLEAN_COMPARATORS = 3


def _clean_rows(params, table, codes, labels, specs):
    """``(clean_until, use, dropped)`` with a membership table (``params.memberships``): each
    comparator's last clean period, the (periods x comparators) mask of rows it may be used in under
    ``not_yet_treated`` (up to its last clean period; every row otherwise) and the comparators that
    had joined before the evaluated interruption (dropped under not_yet_treated). Without a table:
    ``(None, all True, [])``."""
    use = np.ones((len(labels), len(codes)), dtype=bool)
    if params.memberships is None:
        return None, use, []
    from evallib.data.memberships import load_memberships
    from evallib.its.comparators import clean_until

    ms = load_memberships(params.memberships).validate_against(table)
    clean = clean_until(codes, ms, table.freq)
    if params.comparators != "not_yet_treated":
        return clean, use, []
    formation = format_period(specs[-1].period)
    lab = np.array(labels)
    for j, c in enumerate(codes):
        if clean[c] is not None:
            use[:, j] = lab <= clean[c]
    dropped = [c for c in codes if clean[c] is not None and clean[c] < formation]
    return clean, use, dropped


def _restrict_to_clean(params, data: ControlledData, specs) -> None:
    """Under not_yet_treated: the rows each unit is used in (``data.clean``) and the last period with
    at least :data:`MIN_CLEAN_COMPARATORS` clean comparators (``data.last_clean``); the fit stops there."""
    labels = data.labels
    formation = labels.index(format_period(specs[-1].period))
    lab = np.array(labels)
    cu = data.clean_until or {}
    comp = np.column_stack([lab <= cu[c] if cu.get(c) is not None else np.ones(len(lab), dtype=bool)
                            for c in data.codes]) if data.codes else np.zeros((len(lab), 0), dtype=bool)
    n_clean = comp.sum(1)
    if n_clean[formation] < MIN_CLEAN_COMPARATORS:
        raise ModelError(f"comparators not_yet_treated: only {int(n_clean[formation])} comparator(s) of "
                         f"{params.metric} are clean at {specs[-1].name} ({labels[formation]}); the stacked design "
                         f"needs at least {MIN_CLEAN_COMPARATORS}: use comparators: all_other or another design")
    last = formation
    while last + 1 < len(labels) and n_clean[last + 1] >= MIN_CLEAN_COMPARATORS:
        last += 1
    upto = np.arange(len(labels)) <= last
    data.clean = np.column_stack([upto, comp & upto[:, None]])
    data.last_clean = last


# =========================================================================== fitting
@dataclass
class ControlledFit:
    """Everything a results object needs from a controlled fit.

    ``columns``/``params``/``cov``: the coefficients (control terms, ``z:`` terms, shared
    seasonal terms). ``X_treated``: the treated series' rows over the *whole* window
    (fitted and excluded periods), so ``X_treated @ params`` is the treated linear
    predictor; ``offset_treated`` is added on the link scale (log exposure) or NaN.
    ``cf_columns``: per interruption, the ``z:`` columns zeroed for its counterfactual.
    ``groups``: weights over ``columns`` for each group's ITS terms (:func:`group_contrasts`).
    """

    method: str
    model: str
    fit: est.Fit
    columns: list[str]
    X_treated: pd.DataFrame
    in_fit_treated: np.ndarray      # rows of the window used in the fit
    offset_treated: np.ndarray
    observed: np.ndarray            # treated value per period (metric units)
    numerator: np.ndarray
    denominator: np.ndarray
    cf_columns: dict[str, list[str]]
    groups: dict[str, dict[str, np.ndarray]]
    data: ControlledData
    design: Design
    n_obs: int
    hac_lags: int | None
    value_scale: float              # 1 or 100: value = scale * proportion (binomial models)
    warnings: list[str] = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)
    treated_resid: np.ndarray | None = None     # residuals of the treated rows (diagnostics)


def _lags(params, n_per_unit: int) -> int:
    h = params.hac_lags
    if h == "prewhite":
        raise ParameterError("hac_lags prewhite is not available in the stacked controlled design (its panel "
                             "Newey-West has no prewhitened variant); use hac_lags: auto or an integer, or "
                             "controlled_method: difference, whose single-series Newey-West supports prewhite")
    return est.auto_hac_lags(n_per_unit) if h == "auto" else int(h)


def shared_names(params, override=None) -> list[str]:
    """Interruptions without a group interaction (``shared_interruptions``).

    ``auto`` (default): every interruption except the last, i.e. co-interruptions such
    as COVID-19 before the collaborative are assumed to affect the treated series as
    they affect the comparators (that is what the comparators are for); ``none`` or
    ``[]``: every interruption is interacted (the full Linden 2015 model); a list names them.
    """
    names = [i.name for i in params.interruptions]
    v = override if override is not None else params.shared_interruptions
    if v is None or v == "auto":
        return names[:-1]
    if v == "none":
        return []
    if isinstance(v, str):
        v = [v]
    unknown = [x for x in v if x not in names]
    if unknown:
        raise ParameterError(f"shared_interruptions: {unknown} are not interruption names (have {names})")
    if set(v) == set(names):
        raise ParameterError(f"shared_interruptions {list(v)} leaves no interruption whose effect the controlled "
                             f"design can estimate; share at most all but one")
    return list(v)


def fit_controlled(params, table, *, method: str | None = None, scale: str | None = None,
                   shared=None, cov: str | None = None, model: str | None = None, treated=None,
                   matrices=None, fit: bool = True):
    """Fit the controlled design of ``params`` on ``table`` (a TidyTable or a tidy DataFrame).

    Keyword overrides (else read from params with getattr, else the defaults):
    ``method`` ('stacked' | 'difference'), ``scale`` ('auto' | 'none' | 'pre_mean'),
    ``shared`` (see :func:`shared_names`), ``cov`` ('panel', Stata's panel Newey–West,
    the default; or 'driscoll-kraay', robust to correlation between units at the same
    period; stacked only), ``model`` (else params.model, else chosen from the data).

    ``matrices``: :func:`comparator_matrices` of the window, when already computed. ``fit=False``
    (stacked only): return the :class:`StackedInputs` unfitted, for :func:`fit_stacked_designs`.
    """
    from evallib.config import as_params
    from evallib.data.table import as_table

    params = as_params(params)
    table = as_table(table)
    if method is None and params.controlled_method == "aligned":
        method = "stacked"   # this fitter is the stacked/difference one; aligned is evallib.its.aligned
    method = _option(params, "controlled_method", method, METHODS, "stacked")
    scale = _option(params, "comparator_scale", scale, SCALES, "auto")
    cov = _option(params, "controlled_cov", cov, ("panel", "driscoll-kraay"), "panel")
    shared = shared_names(params, shared)
    from evallib.its.series import combine_units

    if treated is None:
        treated = combine_units(table, params.metric, params.units, params.aggregate, params.start, params.end)
    if model is None:

        model = choose_model(params, treated)[0]
    allowed = STACKED_MODELS if method == "stacked" else DIFFERENCE_MODELS
    if model not in allowed:
        fix = ("use model ols-hac (or prais-winsten/arima)" if method == "difference"
               else "use controlled_method: difference")
        raise ParameterError(f"model {model} is not available for controlled_method {method} "
                             f"(allowed: {', '.join(allowed)}); {fix}")
    if method == "difference" and params.comparators == "not_yet_treated":
        raise ParameterError("comparators not_yet_treated: the difference method subtracts one comparator mean "
                             "from every period; use controlled_method: stacked (each comparator used up to the "
                             "period before it joined a collaborative) or aligned")
    data, design, treated = prepare(params, table, model, scale=scale, method=method, treated=treated,
                                    matrices=matrices)
    if not fit and method == "stacked":   # the stacked rows, fitted with other specifications (placebo dates)
        return _stacked_inputs(params, model, data, design, treated, shared=shared, cov=cov)
    if method == "stacked":
        out = _fit_stacked_design(params, model, data, design, treated, shared=shared, cov=cov)
    else:
        out = _fit_difference_design(params, model, data, design, treated, shared=shared)
    out.diagnostics["shared_interruptions"] = list(shared)
    return out


def _needed_finite(model, v, nu, de):
    binom, counts = needs(model)
    if binom:
        return np.isfinite(nu) & np.isfinite(de) & (de > 0)
    ok = np.isfinite(v)
    if counts and np.isfinite(de).any():
        ok &= np.isfinite(de) & (de > 0)
    return ok


@dataclass
class StackedInputs:
    """The stacked rows of one specification, ready to fit (:func:`fit_controlled` with ``fit=False``)."""

    params: object
    model: str
    data: ControlledData
    design: Design
    treated: object
    shared: list
    cov: str
    cols: list[str]
    Xs: pd.DataFrame
    rows: np.ndarray
    unit: np.ndarray
    time: np.ndarray
    y: np.ndarray | None
    numerator: np.ndarray | None
    denominator: np.ndarray | None
    lags: int
    exposure: bool
    warnings: list[str]
    n_periods: int = 0             # fitted periods of one unit (the auto lag rule's T)

    @property
    def Xf(self) -> np.ndarray:
        return self.Xs.to_numpy()[self.rows]


def _stacked_inputs(params, model, data: ControlledData, design: Design, treated, *,
                    shared: Sequence[str] = (), cov: str = "panel") -> StackedInputs:
    U = 1 + data.n_comparators
    T = len(data.periods)
    Xs, base_cols, z_cols = stack_design(design, U, shared)
    v = data.values.T.reshape(-1)          # unit-major: unit 0 periods, unit 1 periods, ...
    nu = data.numerators.T.reshape(-1)
    de = data.denominators.T.reshape(-1)
    unit = np.repeat(np.arange(U), T)
    rows = np.tile(design.in_fit, U) & _needed_finite(model, v, nu, de)
    if data.clean is not None:
        rows &= data.clean.T.reshape(-1)
    warnings = list(data.warnings)
    in_fit = design.in_fit & (data.clean[:, 0] if data.clean is not None else True)   # periods of one unit
    n_missing_t = int((in_fit & ~rows[:T]).sum())
    if n_missing_t:
        warnings.append(f"{n_missing_t} fitted period(s) of the treated series are missing and left out")
    binom, counts = needs(model)
    lags = _lags(params, int(in_fit.sum()))
    exposure = counts and np.isfinite(de[rows]).all()
    return StackedInputs(params=params, model=model, data=data, design=design, treated=treated, shared=list(shared),
                         cov=cov, cols=list(Xs.columns), Xs=Xs, rows=rows, unit=unit[rows],
                         time=np.tile(np.arange(T), U)[rows], y=None if binom else v[rows],
                         numerator=nu[rows] if binom else None,
                         denominator=de[rows] if (binom or exposure) else None, lags=lags,
                         exposure=bool(exposure), warnings=warnings, n_periods=int(in_fit.sum()))


def _fit_stacked_design(params, model, data: ControlledData, design: Design, treated, *,
                        shared: Sequence[str] = (), cov: str = "panel") -> ControlledFit:
    si = _stacked_inputs(params, model, data, design, treated, shared=shared, cov=cov)
    f = fit_stacked(model, si.Xf, si.unit, y=si.y, numerator=si.numerator, denominator=si.denominator,
                    lags=si.lags, columns=si.cols, time=si.time, cov=cov)
    return _stacked_fit(si, f)


def _stacked_fit(si: StackedInputs, f: est.Fit) -> ControlledFit:
    """The :class:`ControlledFit` of the stacked rows ``si`` fitted by ``f``."""
    params, model, data, design = si.params, si.model, si.data, si.design
    U = 1 + data.n_comparators
    T = len(data.periods)
    cols, lags = si.cols, si.lags
    rows = si.rows
    warnings = list(si.warnings)
    binom, counts = needs(model)
    warnings.extend(f.warnings)
    X_t = si.Xs.iloc[:T].reset_index(drop=True)
    off = np.log(data.denominators[:, 0]) if (counts and si.exposure) else np.zeros(T)
    cf = {name: [z_name(c) for c in cset if z_name(c) in set(cols)] for name, cset in design.cf_columns.items()}
    n_units_fit = np.bincount(si.unit, minlength=U)
    diag = {"design": "controlled", "controlled_method": "stacked", "comparators": data.codes,
            "n_comparators": data.n_comparators, "comparators_dropped": data.dropped,
            "comparator_scale": {"method": "pre_mean" if np.any(data.scale[1:] != 1) else "none",
                                 "factors": dict(zip(data.codes, map(float, data.scale[1:])))},
            "cov_type": f.extra.get("cov_type"), "hac_lags": lags,
            "hac_lag_rule": (f"auto for panels: floor(4*(T/100)^(2/9)) with T = {si.n_periods} fitted "
                             f"periods of one unit (Newey-West 1994 rule of thumb; Bartlett, no prewhitening)"
                             if params.hac_lags == "auto"
                             else "given in the params (Bartlett kernel, no prewhitening)"),
            "n_rows_stacked": int(rows.sum()),
            "n_obs_treated": int(n_units_fit[0]),
            "seasonality": f"{params.seasonality} (shared by all units)"}
    if data.clean_until is not None:
        diag["clean_until"] = dict(data.clean_until)
        diag["not_yet_treated"] = data.clean is not None
    if data.clean is not None:
        labels = data.labels
        diag["last_clean_period"] = labels[data.last_clean]
        diag["min_clean_comparators"] = MIN_CLEAN_COMPARATORS
        diag["n_comparators_by_period"] = {lab: int(data.clean[i, 1:].sum()) for i, lab in enumerate(labels)
                                           if data.clean[i, 0]}
    if model == "prais-winsten":
        diag.pop("hac_lags")
        diag.pop("hac_lag_rule")
        diag["rho"] = f.extra.get("rho")
    return ControlledFit(method="stacked", model=model, fit=f, columns=cols, X_treated=X_t,
                         in_fit_treated=rows[:T], offset_treated=off, observed=data.values[:, 0],
                         numerator=data.numerators[:, 0], denominator=data.denominators[:, 0],
                         cf_columns=cf, groups=group_contrasts(cols, design), data=data, design=design,
                         n_obs=int(rows.sum()), hac_lags=lags if model != "prais-winsten" else None,
                         value_scale=float(si.treated.scale or 1.0), warnings=warnings, diagnostics=diag,
                         treated_resid=np.asarray(f.resid)[: int(n_units_fit[0])])


def _joint_hac(designs: Sequence[np.ndarray], E: np.ndarray, lags: int) -> np.ndarray:
    """Joint Newey–West covariance of OLS fits of several outcomes (one design each).

    ``designs[j]`` (n, k_j), ``E`` (n, m) residuals, rows in time order. Returns the
    covariance of the concatenated coefficient vectors (row lags, Bartlett); block (i, j)
    carries the factor sqrt(n/(n-k_i) * n/(n-k_j)), so each diagonal block is exactly
    that fit's own Newey–West covariance.
    """
    n = E.shape[0]
    Bs = [np.linalg.inv(X.T @ X) for X in designs]
    Sc = np.concatenate([X * E[:, [j]] for j, X in enumerate(designs)], axis=1)
    S = est.bartlett_meat(Sc, lags)
    sizes = [X.shape[1] for X in designs]
    K = sum(sizes)
    Bb = np.zeros((K, K))
    fac = np.zeros(K)
    o = 0
    for B, k in zip(Bs, sizes):
        Bb[o:o + k, o:o + k] = B
        fac[o:o + k] = np.sqrt(n / (n - k))
        o += k
    V = (Bb @ S @ Bb) * np.outer(fac, fac)
    return (V + V.T) / 2


def _sqrtm_psd(A: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (eigenvalues clipped at 0)."""
    w, Q = np.linalg.eigh((A + A.T) / 2)
    return (Q * np.sqrt(np.clip(w, 0, None))) @ Q.T


def _recolour(joint: np.ndarray, blocks: Sequence[np.ndarray]) -> np.ndarray:
    """Give a joint covariance the given diagonal blocks, keeping its block correlation.

    ``joint`` is whitened block by block with its own diagonal blocks and recoloured with
    ``blocks``: V = R M R with M = P^-1 joint P^-1, P = blockdiag(sqrt(joint_ii)),
    R = blockdiag(sqrt(blocks_i)). V is positive semi-definite and V_ii = blocks_i exactly
    (when joint_ii is non-singular); V = joint when blocks equal joint's diagonal blocks.
    """
    sizes = [b.shape[0] for b in blocks]
    K = sum(sizes)
    P_inv = np.zeros((K, K))
    R = np.zeros((K, K))
    o = 0
    for b, k in zip(blocks, sizes):
        P_inv[o:o + k, o:o + k] = np.linalg.pinv(_sqrtm_psd(joint[o:o + k, o:o + k]))
        R[o:o + k, o:o + k] = _sqrtm_psd(b)
        o += k
    V = R @ (P_inv @ joint @ P_inv) @ R
    return (V + V.T) / 2


def _fit_difference_design(params, model, data: ControlledData, design: Design, treated, *,
                           shared: Sequence[str] = ()) -> ControlledFit:
    T = len(data.periods)
    comp_mean = data.values[:, 1:].mean(axis=1)
    y_t = data.values[:, 0]
    diff = y_t - comp_mean
    rows = design.in_fit & np.isfinite(diff)
    warnings = list(data.warnings)
    n_missing_t = int((design.in_fit & ~rows).sum())
    if n_missing_t:
        warnings.append(f"{n_missing_t} fitted period(s) of the treated series are missing and left out")
    base_all = list(design.X.columns)
    shared_cols = {c for i in design.interruptions if i.name in set(shared) for c in i.columns}
    keep = [j for j, c in enumerate(base_all) if c not in shared_cols]
    Xb = design.X.to_numpy(dtype=float)
    Xf = Xb[rows]
    hac = params.hac_lags
    kw = dict(hac_lags=hac, arima_order=tuple(params.arima_order))
    f_c = est.fit(model, Xf, comp_mean[rows], columns=base_all, **kw)
    f_d = est.fit(model, Xf[:, keep], diff[rows], columns=[base_all[j] for j in keep], **kw)
    k = len(base_all)
    beta = np.concatenate([f_c.params, f_d.params])
    kd = len(keep)
    if model == "ols-hac":
        L = max(f_c.hac_lags_used or 0, f_d.hac_lags_used or 0)
        plain = _joint_hac([Xf, Xf[:, keep]], np.column_stack([f_c.resid, f_d.resid]), L)
        cov = _recolour(plain, [f_c.cov, f_d.cov])
        cov_note = ("each block the engine's Newey-West covariance of its fit (comparator mean, difference); "
                    f"their cross-covariance from the joint Bartlett meat of both fits' scores (lag {L})")
    else:
        cov = np.zeros((k + kd, k + kd))
        cov[:k, :k], cov[k:, k:] = f_c.cov, f_d.cov
        cov_note = (f"{model}: comparator-mean and difference fits' covariances, treated as independent "
                    f"(treated-group standard errors ignore their covariance)")
    cols = base_all + [z_name(base_all[j]) for j in keep]
    f = est.Fit(model, beta, cov, f_d.df_resid, f_d.resid, (Xf @ f_c.params) + f_d.fitted, "identity", f_d.dist,
                dispersion=f_d.dispersion, hac_lags_used=f_d.hac_lags_used,
                converged=f_d.converged and f_c.converged,
                warnings=list(f_d.warnings) + [w for w in f_c.warnings if w not in f_d.warnings], columns=cols,
                extra={**f_d.extra, "cov_type": cov_note})
    warnings.extend(f.warnings)
    X_t = pd.DataFrame(np.column_stack([Xb, Xb[:, keep]]), columns=cols)
    cf = {name: [z_name(c) for c in cset if z_name(c) in set(cols)] for name, cset in design.cf_columns.items()}
    diag = {"design": "controlled", "controlled_method": "difference", "comparators": data.codes,
            "n_comparators": data.n_comparators, "comparators_dropped": data.dropped,
            "comparator_scale": {"method": "pre_mean" if np.any(data.scale[1:] != 1) else "none",
                                 "factors": dict(zip(data.codes, map(float, data.scale[1:])))},
            "cov_type": cov_note, "hac_lags": f_d.hac_lags_used,
            "difference_series": "treated minus the mean of the comparators (Bottomley 2019)"}
    return ControlledFit(method="difference", model=model, fit=f, columns=cols, X_treated=X_t,
                         in_fit_treated=rows, offset_treated=np.zeros(T), observed=y_t,
                         numerator=data.numerators[:, 0], denominator=data.denominators[:, 0],
                         cf_columns=cf, groups=group_contrasts(cols, design), data=data, design=design,
                         n_obs=int(rows.sum()), hac_lags=f_d.hac_lags_used, value_scale=float(treated.scale or 1.0),
                         warnings=warnings, diagnostics=diag, treated_resid=f_d.resid)


# =========================================================================== results
class ControlledResult(ITSResult):
    """An :class:`ITSResult` for controlled designs. The adapter adds two things:

    - interruptions listed in ``no_effect_for`` (shared with the comparators, so the
      design has no treated-specific terms for them) get no rows in ``effects()``;
    - ``diagnostics()`` tests the *treated* series' residuals (Durbin–Watson,
      Ljung–Box, ACF, Breusch–Godfrey on the treated rows), not the stacked residuals,
      whose lags would cross from one unit's series into the next;
    - the sentences name the counterfactual as the pre-NAME trend *plus the
      comparators' change* (:meth:`counterfactual_phrase`).
    """

    def __init__(self, *, no_effect_for: Sequence[str] = (), treated_resid: np.ndarray | None = None,
                 data: ControlledData | None = None, **kw):
        self._no_effect_for = set(no_effect_for)
        self._treated_resid = treated_resid
        self.data = data
        super().__init__(**kw)

    @property
    def not_yet_treated(self) -> bool:
        return self.data is not None and self.data.clean is not None

    @property
    def last_clean_period(self) -> str | None:
        """Under not_yet_treated: the last period with enough clean comparators (no effect after it)."""
        return self.data.labels[self.data.last_clean] if self.not_yet_treated else None

    def comparators_used(self, period: str) -> list[str]:
        """The comparators whose rows for ``period`` are in the stacked panel: every kept comparator,
        or under not_yet_treated those clean through it (none after :attr:`last_clean_period`)."""
        if self.data is None:
            raise ModelError("comparators_used needs the stacked design's panel")
        return self.data.used_at(period)

    def _effect_records(self, horizons, alpha):
        recs = [r for r in super()._effect_records(horizons, alpha) if r["interruption"] not in self._no_effect_for]
        if not self.not_yet_treated:
            return recs
        last = self.last_clean_period
        late = [r for r in recs if r["period"] > last]
        if late:
            labels = self.data.labels
            j = self.data.last_clean + 1
            iP = labels.index(format_period(self.interruptions[-1].period))
            n_clean = int(sum(1 for c in self.data.codes if self.data.clean_until.get(c) is None
                              or self.data.clean_until[c] >= labels[j]))
            self._warn(f"effects from {labels[j]} on (horizon {j - iP} and later) are not reported: only {n_clean} "
                       f"comparator(s) are clean through {labels[j]} (the others had joined collaboratives), and the "
                       f"stacked design needs at least {MIN_CLEAN_COMPARATORS}; the last period with clean "
                       f"comparators is {last}")
        return [r for r in recs if r["period"] <= last]

    def counterfactual(self, interruption: str | None = None, alpha: float | None = None) -> pd.DataFrame:
        """As :meth:`ITSResult.counterfactual`; under not_yet_treated there is none after
        :attr:`last_clean_period` (NaN: no clean comparator shows what would have happened)."""
        cf = super().counterfactual(interruption, alpha)
        if self.not_yet_treated:
            late = cf["period"].to_numpy() > self.last_clean_period
            cf.loc[late, ["counterfactual", "cf_lower", "cf_upper"]] = np.nan
        return cf

    def counterfactual_phrase(self, name: str) -> str:
        """The controlled counterfactual, named in the sentences: the treated series' own
        trend *plus the change the comparators show* at the interruption."""
        return f"{W.pre_trend_phrase(name)} plus the comparators' change"

    def diagnostics(self) -> dict:
        if self._diag_cache is not None or self._treated_resid is None:
            return super().diagnostics()
        import dataclasses

        full = self.fit
        self.fit = dataclasses.replace(full, resid=np.asarray(self._treated_resid, dtype=float))
        try:
            d = super().diagnostics()
        finally:
            self.fit = full
        d["n_obs"] = int(full.n_obs)
        d["residual_tests_on"] = "the treated series' rows of the fit"
        return d


def _segment_checks(params, periods, specs, usable, shared: Sequence[str] = ()) -> list[str]:
    """Segment guard rails on the treated series, as the single design: fewer than 3 usable
    points is a ParameterError, fewer than 8 a warning. Segments are delimited by the
    interruptions that have treated-specific terms; a shared interruption (no z terms)
    does not start a segment of its own."""
    warns = []
    own = [s for s in specs if s.name not in set(shared)]
    for name, lo, hi in segments(periods, own):
        k = int(sum(1 for p, u in zip(periods, usable) if u and lo <= p <= hi))
        where = f"segment {name} ({format_period(lo)} to {format_period(hi)}) of the treated {params.metric}"
        if k < 3:
            raise ParameterError(f"{where} has {k} usable point(s); at least 3 are needed to estimate a level "
                                 f"and trend (move the interruption or shorten exclude)")
        if k < 8:
            warns.append(f"{where} has only {k} usable points (fewer than 8): its estimates are fragile")
    return warns


def _near_zero_warnings(model: str, periods, observed, in_fit, specs, shared: Sequence[str] = ()) -> list[str]:
    """A warning when a log-link model's treated series was near zero before the first
    interruption (see :func:`evallib.its.series.near_zero_pre_period`).

    Pre-period: the fitted periods before the first interruption; post-period: every
    period from the first interruption whose effect is reported (not shared) onwards.
    """
    from evallib.its.series import near_zero_pre_period

    start = next(s.period for s in specs if s.name not in set(shared))
    pre = np.asarray(in_fit, dtype=bool) & np.array([p < specs[0].period for p in periods])
    post = np.array([p >= start for p in periods])
    near_zero = near_zero_pre_period(observed, pre, post)
    if not near_zero:
        return []
    return [f"{near_zero}: model {model} compares the treated series with the comparators on a log (proportional) "
            f"scale, and proportional changes from almost nothing are unstable, so the treated pre-period trend "
            f"and the relative effects are fragile; read the absolute effects and check them with model ols-hac"]


def analyse_controlled(params, table, *, method: str | None = None, scale: str | None = None,
                       shared=None, cov: str | None = None, model: str | None = None) -> ControlledResult:
    """Controlled design (``design: controlled``): see the module docstring.

    ``table``: a TidyTable, or a DataFrame with the tidy columns. Keyword arguments
    override the params options (see :func:`fit_controlled`). Returns a
    :class:`ControlledResult` whose ``groups`` are treated, control and difference and
    whose effects are the difference-in-differences counterfactual contrasts of the
    treated series (no effects for shared interruptions).
    """
    from evallib.config import as_params
    from evallib.data.table import as_table

    params = as_params(params)
    table = as_table(table)
    treated, specs, model, reason = _treated_inputs(params, table, model)
    cf = fit_controlled(params, table, method=method, scale=scale, shared=shared, cov=cov, model=model,
                        treated=treated)
    return _controlled_result(params, table, treated, specs, model, reason, cf, scale=scale, cov=cov)


def _treated_inputs(params, table, model):
    from evallib.its.series import combine_units

    treated = combine_units(table, params.metric, params.units, params.aggregate, params.start, params.end)
    check_informative(treated.frame["value"].to_numpy(dtype=float), params.metric, table.source)
    specs = interruption_specs(params, treated)            # guard rails: outside the window, same date
    if model is None:
        model, reason = choose_model(params, treated)
    else:
        reason = f"{model} as given"
    (logger.warning if params.model is None else logger.info)("%s: %s", params.analysis_id, reason)
    return treated, specs, model, reason


def _controlled_result(params, table, treated, specs, model, reason, cf: ControlledFit, *, scale=None,
                       cov=None) -> ControlledResult:
    _, _, den, observed, vscale, offset = outcome_arrays(model, treated, params.metric, table.source)
    if (cf.method == "difference" or model not in est.COUNT_MODELS
            or not np.isfinite(cf.data.denominators[:, 0]).any()):
        offset = None
    else:
        offset = cf.offset_treated
    shared = cf.diagnostics.get("shared_interruptions", [])
    warns = _segment_checks(params, cf.data.periods, specs, cf.in_fit_treated, shared) + list(cf.warnings)
    if est.link_of(model) == "log":
        warns += _near_zero_warnings(model, cf.data.periods, observed, cf.in_fit_treated, specs, shared)
    cols = cf.columns
    seasonal = list(cf.design.seasonal_columns)
    if cf.method == "stacked":
        other = {"seasonal": {c: column_weights(cols, c) for c in seasonal}} if seasonal else {}
    else:
        other = ({"seasonal": {c: column_weights(cols, c) + column_weights(cols, z_name(c)) for c in seasonal}}
                 if seasonal else {})
    diag = {"model_choice": reason, "aggregate": params.aggregate, "units": list(params.units),
            **cf.diagnostics}
    if model in est.BINOMIAL_MODELS:
        diag["observed_scale"] = vscale
    rows = PredictionRows(periods=cf.data.labels, X=cf.X_treated.to_numpy(dtype=float), observed=observed,
                          in_fit=cf.in_fit_treated, offset=offset,
                          scale=vscale if model in est.BINOMIAL_MODELS else 1.0)
    fit_data = {"X": cf.X_treated.to_numpy(dtype=float)[cf.in_fit_treated], "hac_lags": params.hac_lags}

    def refit(m: str) -> est.Fit:
        return fit_controlled(params, table, method=cf.method, scale=scale, shared=shared, cov=cov, model=m,
                              treated=treated).fit

    terms = {g: cf.groups[g] for g in ("treated", "control", "difference")}
    return ControlledResult(
        fit=cf.fit, columns=cols, rows=rows, terms=terms, cf_columns=cf.cf_columns, interruptions=specs,
        title=params.display_title, metric=params.metric, design="controlled", freq=table.freq,
        alpha=params.alpha, horizons=params.horizons, warnings=warns, other_terms=other,
        diagnostics_extra=diag, fit_data=fit_data, params=params,
        robustness_models=(("ols-hac", "prais-winsten") if cf.method == "stacked" and model in est.LINEAR_MODELS
                           else None),
        data_file=str(table.path) if table.path else None, data_sha256=table.sha256,
        synthetic_data=table.synthetic, refit=refit, no_effect_for=shared, treated_resid=cf.treated_resid,
        data=cf.data if cf.method == "stacked" else None)


# =========================================================================== many specifications
def analyse_controlled_batch(params_list, table) -> list:
    """:func:`analyse_controlled` for specifications that share the window and differ in their
    interruptions (placebo dates). The treated series, the model and the comparator panel are
    prepared once (from the first specification); each specification's stacked rows are built
    and all are fitted in one batched computation (:func:`fit_stacked_designs`). Returns per
    specification its :class:`ControlledResult` or the EvalError :func:`analyse_controlled` would
    have raised. ``controlled_method: difference`` is fitted specification by specification on
    the data prepared once (two single-series fits each, with their joint covariance)."""
    from evallib.config import as_params
    from evallib.data.table import as_table
    from evallib.exceptions import EvalError

    params_list = [as_params(p) for p in params_list]
    table = as_table(table)
    p0 = params_list[0]
    out: list = [None] * len(params_list)
    try:
        treated, _, model, reason = _treated_inputs(p0, table, None)
        matrices = comparator_matrices(p0, table, [format_period(p) for p in treated.periods])
    except EvalError as exc:
        return [exc] * len(params_list)
    inputs: dict[int, tuple] = {}
    for j, p in enumerate(params_list):
        try:
            specs = interruption_specs(p, treated)
            got = fit_controlled(p, table, model=model, treated=treated, matrices=matrices, fit=False)
            if isinstance(got, ControlledFit):
                out[j] = _controlled_result(p, table, treated, specs, model, reason, got)
            else:
                inputs[j] = (specs, got)
        except EvalError as exc:
            out[j] = exc
    idx = list(inputs)
    if idx:
        sis = [inputs[j][1] for j in idx]
        s0 = sis[0]
        fits = fit_stacked_designs(model, [si.Xf for si in sis], [si.unit for si in sis],
                                   ys=[si.y for si in sis] if s0.y is not None else None,
                                   numerators=[si.numerator for si in sis] if s0.numerator is not None else None,
                                   denominators=[si.denominator for si in sis] if s0.denominator is not None
                                   else None, lags=[si.lags for si in sis], columns=s0.cols,
                                   times=[si.time for si in sis], cov=s0.cov)
        for j, si, f in zip(idx, sis, fits):
            if isinstance(f, EvalError):
                out[j] = f
                continue
            cf = _stacked_fit(si, f)
            cf.diagnostics["shared_interruptions"] = list(si.shared)
            out[j] = _controlled_result(params_list[j], table, treated, inputs[j][0], model, reason, cf)
    return out


def fit_stacked_designs(model: str, Xs, units, *, ys=None, numerators=None, denominators=None, lags,
                        columns=None, times=None, cov: str = "panel") -> list:
    """:func:`fit_stacked` for many stacked designs at once (rows sorted by unit, then time).

    Batched (:mod:`evallib.stats.ols`, :func:`evallib.stats.prais.prais_winsten_designs`):
    ``ols-hac`` with the panel Newey–West covariance, the Poisson and binomial GLMs (quasi or
    not) with the panel sandwich, and ``prais-winsten``; the same numbers as :func:`fit_stacked`
    design by design (tests/test_placebo_batch.py). ``negbin`` (dispersion by BFGS per fit)
    and ``controlled_cov: driscoll-kraay`` are fitted one by one with :func:`fit_stacked`.
    Returns a Fit or a ModelError per design.
    """
    import statsmodels.api as sm

    m = len(Xs)

    def get(a, d):
        return None if a is None else a[d]

    out: list = [None] * m
    lags = list(lags)
    if model == "negbin" or cov != "panel" or model not in STACKED_MODELS:
        for d in range(m):
            try:
                out[d] = fit_stacked(model, Xs[d], units[d], y=get(ys, d), numerator=get(numerators, d),
                                     denominator=get(denominators, d), lags=lags[d], columns=columns,
                                     time=get(times, d), cov=cov)
            except (ModelError, ParameterError) as exc:
                out[d] = exc
        return out
    ok = []
    for d in range(m):
        err = est._design_error(model, np.asarray(Xs[d], dtype=float), get(ys, d), get(numerators, d),
                                get(denominators, d), columns)
        if err is None:
            ok.append(d)
        else:
            out[d] = err
    if not ok:
        return out
    if len({Xs[d].shape[1] for d in ok}) > 1:
        raise ModelError("fit_stacked_designs needs designs of one width")
    P = O.pad_designs([np.asarray(Xs[d], dtype=float) for d in ok], groups=[units[d] for d in ok])
    k = P.X.shape[2]
    L = np.array([lags[d] for d in ok])
    if model == "ols-hac":
        B, V, U = O.ols_hac_designs(P, P.pad([ys[d] for d in ok]), L)
        for i, d in enumerate(ok):
            n = int(P.n[i])
            resid = U[i, :n].copy()
            rss = float(resid @ resid)
            out[d] = est.Fit("ols-hac", B[i], V[i], float(n - k), resid, Xs[d] @ B[i], "identity", "t",
                             dispersion=rss / (n - k), hac_lags_used=int(L[i]), columns=columns,
                             extra={"sigma2": rss / (n - k), "rss": rss, "hac_prewhite": False,
                                    "cov_type": "panel Newey-West (within-unit Bartlett, n/(n-k))"})
        return out
    if model == "prais-winsten":
        pw = prais_winsten_designs(P.X, P.pad([ys[d] for d in ok]), P.valid, P.groups)
        for i, d in enumerate(ok):
            n = int(P.n[i])
            rho, conv, s2 = float(pw.rho[i]), bool(pw.converged[i]), float(pw.sigma2[i])
            warns = [] if conv else [f"prais-winsten: rho did not converge in {pw.iterations} iterations "
                                     f"(last rho {rho:.4f})"]
            out[d] = est.Fit("prais-winsten", pw.params[i], pw.cov[i], float(n - k), pw.resid[i, :n].copy(),
                             Xs[d] @ pw.params[i], "identity", "t", dispersion=s2, converged=conv, warnings=warns,
                             columns=columns, extra={"rho": rho, "iterations": pw.iterations, "sigma2": s2,
                                                     "cov_type": "panel Prais-Winsten (common rho, within-unit "
                                                                 "transform)"})
        return out
    quasi = model.startswith("quasi")
    if model in est.COUNT_MODELS:
        y = P.pad([ys[d] for d in ok])
        offset = None if denominators is None else P.pad([np.log(denominators[d]) for d in ok])
        g = O.irls_designs("poisson", P, y, offset=offset)
        family = sm.families.Poisson()
    else:
        y = P.pad([numerators[d] / denominators[d] for d in ok])
        g = O.irls_designs("binomial", P, y, trials=P.pad([denominators[d] for d in ok]))
        family = sm.families.Binomial()
    S = O.panel_meat_designs(P.X * g.score_weight[..., None], P.groups, P.valid, L)
    V = (P.n / (P.n - k))[:, None, None] * (g.bread @ S @ g.bread)
    V = (V + np.swapaxes(V, 1, 2)) / 2
    for i, d in enumerate(ok):
        n = int(P.n[i])
        chi2 = float(g.pearson_chi2[i])
        scale = chi2 / (n - k) if quasi else 1.0
        mu = g.mu[i, :n].copy()
        endog = ys[d] if model in est.COUNT_MODELS else numerators[d] / denominators[d]
        vw = 1.0 if model in est.COUNT_MODELS else denominators[d]
        conv = bool(g.converged[i])
        out[d] = est.Fit(model, g.params[i], V[i], float(n - k), g.pearson[i, :n].copy(), mu, est.link_of(model),
                         "normal", dispersion=scale, hac_lags_used=int(L[i]), converged=conv,
                         warnings=[] if conv else [f"{model}: IRLS did not converge"], columns=columns,
                         extra={"pearson_dispersion": chi2 / (n - k), "deviance": float(g.deviance[i]),
                                "pearson_chi2": chi2,
                                "llf": float(family.loglike(endog, mu, var_weights=vw, scale=scale)),
                                "cov_type": "panel Newey-West sandwich on GLM scores (within-unit Bartlett, "
                                            "n/(n-k))", "model_dispersion": scale})
    return out
