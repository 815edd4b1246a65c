"""Comparator-aligned comparative ITS: the default controlled design (``controlled_method: aligned``).

**The counterfactual follows the comparators month by month.** For the treated system (the
``units`` combined by ``aggregate``), the expected value without the collaborative in period t
is what the comparators did *in that period* (period effects: the fall, the recovery, the
2020/21 winter wave, the backlog growth of COVID-19 are all in them), put on the system's
own footing by its persistent differences estimated before formation (its level; optionally
its own trend and seasonality, ``aligned: {trend, seasonality}``). COVID-19 and any other
interruption before the evaluated one (the last) need no terms: the period effects absorb
them, on the assumption that the treated system responds to them as comparator systems do.
The numerics (batched over hundreds of systems) are in :mod:`evallib.stats.aligned`.

**Scale** (``aligned: {scale: auto}``; the page says which and why):

- proportions with numerator and denominator (binomial models): ``logit``: the treated
  system's log-odds against the comparators' pooled proportion;
- counts (Poisson models): ``log``: the system's share of the comparators' total, which is
  what a two-way (unit and period effects) Poisson pseudo-likelihood gives on a complete panel.
  When the system was near zero before formation (as 52-week waits were) and the data carry
  a denominator (e.g. the waiting list), ``rate``: the count per denominator, aligned
  additively, reported back as counts;
- continuous (linear models): ``identity``; when several units are summed, each comparator is
  rescaled to the system's pre-formation mean (``comparator_scale``), so the comparators'
  proportional changes are applied to the system's size.

**Inference: placebo systems** (Conley & Taber 2011; Abadie, Diamond & Hainmueller 2010). A
cluster-robust or Newey–West standard error is not valid with one treated system. Instead
``aligned.placebos`` (default 500) pseudo-systems are drawn, each of as many comparator
trusts as the treated system has units, combined exactly as the treated are (sum, mean or
ratio); each is treated as if it had formed a collaborative, with the other comparators as its
comparators, and the *same* estimator is run on all of them at once. Their gaps are the
distribution of the estimator's error under no effect, with the serial correlation and the
size structure of real systems. With ``studentize`` (default) each placebo's gaps are scaled
by the ratio of the treated system's pre-formation gap RMS to its own, so small and large
placebo systems are comparable (Ferman & Pinto 2019). Intervals invert the placebo test
(``estimate - quantiles``), stretched by the small-cross-section factor
:func:`evallib.stats.aligned.cross_section_factor`; p-values are placebo ranks. Size,
coverage and power in simulation are in ``simulations/aligned.py`` and the README.

**Comparators** (:func:`eligible_comparators`): ``all_other`` takes only comparable units, by
a rule fixed before any model is chosen: the same unit type as the treated units (ODS code
patterns in ``evallib/data/unit_types.csv``, editable; ``comparator_types: any`` turns it
off), a complete series over the analysis window, and non-trivial volume (pre-formation mean
at least ``aligned.min_volume`` of the treated units' average). ``matched`` keeps the
eligible comparators nearest the treated units on pre-formation level, trend and volume.

**Not-yet-treated comparators** (``comparators: not_yet_treated``, the default when the params
name a membership table, ``memberships:``): a comparator counts only up to the period before it
joins any collaborative. The effect in period P + h (and the event study, the expected line and
the cumulative effect up to it) uses only the comparators clean through P + h, refitted with that
set (cached by set); from the first period with too few clean comparators for placebo inference
(:func:`placebo_minimum`) nothing is reported, and a warning says why and from when. results.json
``aligned.comparators`` gives each comparator's ``clean_until`` and the ``last_clean_period``.

**Event study and scorecard**: per-period gaps with placebo intervals before and after
formation, a joint test of the last ``aligned.leads`` pre-formation gaps, and a credibility
scorecard (:meth:`AlignedResult.scorecard`) whose failed checks turn a verdict into "unclear".
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from math import comb
from typing import Sequence

import numpy as np
import pandas as pd

from evallib.exceptions import DataError, EvalError, ModelError, ParameterError
from evallib.its import design as D
from evallib.its import estimators as est
from evallib import text as W
from evallib.its.base import BaseResult, created_timestamp, interval_label
from evallib.its.comparators import (Comparators, _reasons, eligible_comparators, match_comparators,  # noqa: F401
                                     unit_type, unit_types)
from evallib.its.controlled import analyse_controlled
from evallib.its.sdid import analyse_sdid
from evallib.its.series import Series, combine_units, near_zero_pre_period, unit_panel
from evallib.its.single import analyse_single, choose_model, interruption_specs, window
from evallib.its.synthetic import analyse_synthetic
from evallib.metrics import metric_info
from evallib.periods import PERIODS_PER_YEAR, format_period, season_of
from evallib.stats import aligned as A
from evallib.stats.diagnostics import acf

logger = logging.getLogger(__name__)

SCHEMA = "evallib.results/1"
MIN_PRE = 6                # fitted pre-formation periods needed
MIN_SHIFT = 3              # fitted periods after an absorbed interruption to estimate its own level shift
#: thresholds of the scorecard checks (documented in the README)
PRE_FIT_MAX = 1.0          # pre-formation RMSPE / SD of the series: the fit must beat a flat line
FIT_RANK_MIN_P = 0.01      # the treated pre-fit must not be worse than 99% of placebo systems
PRE_TREND_MIN_P = 0.01     # joint pre-formation test: a guard fires on strong evidence only (several
                           # guards run on every analysis; at 0.05 each, a fifth of null analyses lose a verdict)
ACF_MAX = 0.8              # lag-1 autocorrelation of the aligned pre-formation gaps
NEAR_ZERO_MIN_COUNT = 200  # log scale: events before formation needed for a stable share
MAX_ALTERNATIVE_COMPARATORS = 500   # the scorecard's stacked/synthetic/sdid refits cost time with the panel size


# =========================================================================== the fit
@dataclass
class AlignedFit:
    labels: list[str]
    periods: list
    scale: str
    scale_reason: str
    value_scale: float
    observed: np.ndarray            # treated, reporting scale (count, value, percent)
    cf: np.ndarray                  # treated counterfactual, reporting scale
    abs_gap: np.ndarray             # observed - cf (T,)
    abs_null: np.ndarray            # placebo errors in treated units (T, K)
    fit: np.ndarray                 # rows used for the persistent differences
    in_fit: np.ndarray              # rows not excluded / not in a transition
    formation: int                  # index of the evaluated interruption
    inference: A.Inference
    members: np.ndarray
    codes: list[str]
    comparators: Comparators
    own_terms: list[str]
    factor: float
    n_units: int
    warnings: list[str] = field(default_factory=list)
    #: with a membership table: comparator code -> last clean period (None: never joined a collaborative)
    clean_until: dict[str, str | None] | None = None


def placebo_minimum(J: int, n_units: int, alpha: float) -> tuple[bool, int]:
    """Whether ``J`` comparators support placebo inference for ``n_units`` treated units at ``alpha``
    (at least ``ceil(2 / alpha) - 1`` distinct placebo systems and 2 comparators outside each), and
    that minimum number of placebo systems."""
    min_k = int(math.ceil(2 / alpha)) - 1
    return not (J - n_units < 2 or comb(J, n_units) < min_k), min_k


def _choose_scale(params, model: str, treated: Series, pre: np.ndarray, post: np.ndarray) -> tuple[str, str]:
    want = params.aligned.scale
    has_den = treated.has_exposure
    if want != "auto":
        if want in ("logit",) and not treated.has_ratio:
            raise ParameterError(f"aligned.scale logit needs numerator and denominator columns; {params.metric} "
                                 f"has none (use identity or log)")
        if want == "rate" and not has_den:
            raise ParameterError(f"aligned.scale rate needs a denominator column (e.g. the waiting list) for "
                                 f"{params.metric}; it has none (use log or identity)")
        return want, f"{want} as given in the params (aligned.scale)"
    if model in est.BINOMIAL_MODELS:
        return "logit", (f"logit: {params.metric} is a proportion with numerator and denominator, compared with "
                         f"the comparators' pooled proportion on the log-odds scale")
    if model in est.COUNT_MODELS:
        nz = near_zero_pre_period(treated.frame["value"].to_numpy(dtype=float), pre, post)
        if nz and has_den:
            return "rate", (f"rate: {nz}, so a share of the comparators' total would rest on almost nothing; "
                            f"the count per denominator is aligned instead and reported back as counts")
        return "log", (f"log: {params.metric} is a count, compared as a share of the comparators' total "
                       f"(period and unit effects of a Poisson model)")
    if model in est.LINEAR_MODELS:
        return "identity", f"identity: {params.metric} is continuous ({model}); differences in its own unit"
    raise ParameterError(f"model {model} is not available in the aligned design")


def fit_aligned(params, table, *, model: str | None = None, treated: Series | None = None,
                comparators_override: Sequence[str] | None = None) -> AlignedFit:
    """Prepare the data and run the batched estimator for the treated and placebo systems."""
    win = window(params, table, treated)
    treated, specs, periods, labels, in_fit = win.treated, win.specs, win.periods, win.labels, win.in_fit
    if model is None:
        model, _ = choose_model(params, treated)
    T = len(periods)
    intr, iP, pre_all = win.evaluated, win.formation, win.pre
    post = ~pre_all
    warns = list(win.warnings)
    scale, reason = _choose_scale(params, model, treated, pre_all & in_fit, post)

    tf = treated.frame
    value = tf["value"].to_numpy(dtype=float)
    num = tf["numerator"].to_numpy(dtype=float)
    den = tf["denominator"].to_numpy(dtype=float)
    value_scale = float(treated.scale or (100.0 if metric_info(params.metric).unit == "%" else 1.0))
    need_ratio = scale == "logit" or (scale == "identity" and params.aggregate == "ratio")
    need_den = scale == "rate"

    comp = eligible_comparators(params, table, labels, pre_all & in_fit, need_ratio=need_ratio, need_den=need_den,
                                treated=treated, formation=format_period(intr.period))
    codes = list(comparators_override) if comparators_override is not None else list(comp.kept)
    if comparators_override is None:
        warns.extend(comp.warnings)
    if comp.dropped and comparators_override is None:
        warns.append(f"{len(comp.dropped)} comparator(s) dropped by the eligibility rule ({_reasons(comp.dropped)}); "
                     f"{len(comp.kept)} kept")
    nz = near_zero_pre_period(value, pre_all & in_fit, post)
    if nz:
        warns.append(f"{nz}: the aligned design compares it with the comparators on the {scale} scale; "
                     + ("its share of the comparators' total is set mostly by the months just before formation, "
                        "so read the scorecard's pre_volume check" if scale == "log" else
                        "the alignment uses the rate per denominator, which the data support"))
    panel = unit_panel(table, params.metric, codes, labels[0], labels[-1]) if codes else None
    if panel is None:
        raise ModelError(f"no eligible comparator for {params.metric}: {len(comp.dropped)} were dropped "
                         f"({_reasons(comp.dropped)}); the aligned design needs comparators with complete series")

    def mat(col):
        return panel.pivot(index="period", columns="org_code", values=col).reindex(
            index=labels, columns=codes).to_numpy(dtype=float)

    val_c, num_c, den_c = mat("value"), mat("numerator"), mat("denominator")
    if scale == "logit":
        y0, n0, Yc, Nc = num, den, num_c, den_c
        observed = value_scale * num / den
    elif scale == "rate":
        y0, n0, Yc, Nc = value, den, val_c, den_c
        observed = value
    elif scale == "identity" and params.aggregate == "ratio":
        y0, n0, Yc, Nc = value, den, num_c, den_c
        observed = value
    else:
        y0, n0, Yc, Nc = value, None, val_c, None
        observed = value

    finite = np.isfinite(y0) & (np.isfinite(n0) & (n0 > 0) if n0 is not None else True)
    fit = pre_all & in_fit & finite
    if fit.sum() < MIN_PRE:
        raise ModelError(f"the treated {params.metric} has {int(fit.sum())} usable period(s) before "
                         f"{intr.name} ({format_period(intr.period)}); the aligned design needs at least {MIN_PRE} "
                         f"to estimate the system's level (start earlier or shorten exclude)")

    # matched comparators
    comparators = comp
    if params.comparators == "matched" and comparators_override is None:
        k = params.aligned.matched or max(10, len(codes) // 3)
        if k < len(codes):
            idx, bal = match_comparators(comp, y0 if scale != "logit" else observed, Yc if scale != "logit"
                                         else value_scale * Yc / Nc, fit, len(params.units), k, codes)
            gone = [codes[j] for j in range(len(codes)) if j not in set(idx)]
            dropped = dict(comp.dropped)
            dropped.update({c: "not among the nearest matches on pre-formation level, trend and variability"
                            for c in gone})
            codes = [codes[j] for j in idx]
            Yc = Yc[:, idx]
            Nc = Nc[:, idx] if Nc is not None else None
            comparators = Comparators(kept=codes, dropped=dropped,
                                      rule=comp.rule + f"; the {k} nearest matches kept", balance=bal)
    J, n_units = len(codes), len(params.units)
    enough, min_k = placebo_minimum(J, n_units, params.alpha)
    if not enough:
        raise ModelError(f"placebo inference for {n_units} treated unit(s) needs at least {min_k} distinct placebo "
                         f"systems and 2 comparators outside each; found {J} eligible comparator(s) "
                         f"({comb(J, n_units) if J >= n_units else 0} placebo systems); add comparators, use "
                         f"comparators: all_other or comparator_types: any, or raise alpha")

    t = np.arange(T, dtype=float)
    seasons = np.array([season_of(p) for p in periods]) if params.aligned.seasonality else None
    per_year = PERIODS_PER_YEAR.get(table.freq, 12)
    harm = 0
    if params.aligned.seasonality:
        m = re.match(r"fourier(\d)", params.seasonality)
        harm = int(m.group(1)) if m else 2
        if table.freq == "Y":
            harm = 0
    X, own_terms = A.own_design(t, seasons, trend=params.aligned.trend, harmonics=harm, period_len=per_year)
    if params.aligned.absorbed_levels:
        # the system's own persistent level change at each earlier interruption (e.g. its own
        # response to COVID-19), estimated from the periods between it and formation
        for s_ in specs[:-1]:
            j = labels.index(format_period(s_.period)) if format_period(s_.period) in labels else None
            if j is None:
                continue
            col = (np.arange(T) >= j).astype(float)
            n_after = int((fit & (col > 0)).sum())
            if n_after < MIN_SHIFT:
                warns.append(f"only {n_after} usable period(s) between {s_.name} ({format_period(s_.period)}) and "
                             f"{intr.name}: the system is assumed to have responded to {s_.name} as its comparators "
                             f"did (no level change of its own)")
                continue
            X = np.column_stack([X, col])
            own_terms.append(f"level_shift[{s_.name}]")
    if np.linalg.matrix_rank(X[fit]) < X.shape[1]:
        raise ModelError(f"the system's own terms {own_terms} cannot all be estimated from the {int(fit.sum())} "
                         f"pre-formation periods; drop aligned.trend or aligned.seasonality")

    rescale = False
    if scale == "identity":
        cs = params.comparator_scale
        rescale = (cs == "pre_mean") or (cs == "auto" and params.aggregate == "sum" and n_units > 1)
        if rescale:
            m_c = Yc[fit].mean(0)
            bad = m_c <= 0
            if bad.any():
                raise ModelError(f"comparator rescaling needs positive pre-formation means; comparators "
                                 f"{[codes[j] for j in np.flatnonzero(bad)][:5]} have none (use comparator_scale: none)")
    # size-matched placebo systems: volume is the pre-formation mean of the values (counts and
    # continuous sums) or of the denominators (proportions, rates)
    vol_c = (Nc if (Nc is not None and scale in ("logit", "rate")) or params.aggregate == "ratio" else Yc)[fit]
    vol_c = np.nanmean(vol_c, axis=0)
    vol_0 = float(np.nanmean((n0 if (n0 is not None and (scale in ("logit", "rate") or
                                                          params.aggregate == "ratio")) else y0)[fit]))
    if params.aggregate == "mean" and scale not in ("logit", "rate"):
        vol_0 *= n_units
    band = float(params.aligned.size_band or 0.0)
    members = A.placebo_members(J, n_units, params.aligned.placebos, params.aligned.seed, volume=vol_c,
                                target=vol_0, band=band, min_placebos=max(min_k, 100))
    if band > 1 and members.shape[1] and not np.all(
            (vol_c @ members >= vol_0 / band - 1e-9) & (vol_c @ members <= vol_0 * band + 1e-9)):
        warns.append(f"fewer than {max(min_k, 100)} placebo systems of {n_units} comparators are within a factor "
                     f"{band:g} of the treated system's size, so placebo systems of any size are used")
    systems = A.build_systems(scale, params.aggregate, y0=y0, n0=n0, Yc=Yc, Nc=Nc, members=members, pre=fit,
                              rescale=rescale, value_scale=value_scale)
    inf = A.infer(scale, systems, X, fit, studentize=params.aligned.studentize)
    b = inf.batch
    if not b.converged[0]:
        warns.append("the treated system's fit did not converge: treat the estimates with caution")
    if scale == "identity":
        cf = b.cf[:, 0]
        conv = np.full(T, b.norm[0])
    elif scale == "log":
        cf = b.cf[:, 0]
        conv = None
    elif scale == "logit":
        cf = value_scale * b.cf[:, 0]
        conv = np.full(T, value_scale)
    else:  # rate -> counts
        cf = b.cf[:, 0] * n0
        conv = n0
    abs_gap = observed - cf
    if conv is None:   # log ratios: an error d on the log scale is cf * (exp(d) - 1) patients
        abs_null = (cf + 0.5)[:, None] * np.expm1(inf.null)
    else:
        abs_null = conv[:, None] * inf.null
    factor = A.cross_section_factor(J, params.alpha, n_units)
    if scale == "log":
        pre_events = float(np.nansum(y0[fit]))
        if pre_events < NEAR_ZERO_MIN_COUNT:
            warns.append(f"the treated {params.metric} counts only {W.approx(pre_events)} before "
                         f"{intr.name}: its share of the comparators' total rests on few events")
    clean = None
    if comp.clean_until is not None:
        clean = {c: comp.clean_until.get(c) for c in codes}
        joined = sorted(v for v in clean.values() if v is not None and v < labels[-1])
        if params.comparators != "not_yet_treated" and joined and comparators_override is None:
            warns.append(f"{len(joined)} of the {J} comparators joined a collaborative after formation (the first "
                         f"is clean through {joined[0]}); comparators: {params.comparators} uses them throughout, "
                         f"which pulls the effect towards zero: use comparators: not_yet_treated")
    return AlignedFit(labels=labels, periods=periods, scale=scale, scale_reason=reason, value_scale=value_scale,
                      observed=observed, cf=cf, abs_gap=abs_gap, abs_null=abs_null, fit=fit, in_fit=in_fit,
                      formation=iP, inference=inf, members=members, codes=codes, comparators=comparators,
                      own_terms=own_terms, factor=factor, n_units=n_units, warnings=warns, clean_until=clean)


# =========================================================================== the result
class AlignedResult(BaseResult):
    """Result of the comparator-aligned design (see the module docstring)."""

    def __init__(self, *, params, table, af: AlignedFit, specs, model: str, model_reason: str, warnings):
        self._set_basics(params, table, specs, warnings, design="controlled", method="aligned", model=model)
        self.af = af
        self.model_reason = model_reason
        self._alternatives: dict | None = None
        self._loo: dict[int, pd.DataFrame] = {}
        self._clean_fits: dict[tuple, AlignedFit] = {}
        self._effect_records(self.horizons, self.alpha)

    # ------------------------------------------------------------------ basics
    @property
    def evaluated(self):
        return self.interruptions[-1]

    @property
    def n_obs(self) -> int:
        return int(np.isfinite(self.af.observed).sum())

    @property
    def n_comparators(self) -> int:
        return len(self.af.codes)

    @property
    def n_placebos(self) -> int:
        return int(self.af.members.shape[1])

    @property
    def periods_fitted(self) -> tuple[str, str]:
        labs = [p for p, f in zip(self.af.labels, self.af.in_fit) if f]
        return labs[0], labs[-1]

    def index_of(self, label: str) -> int | None:
        try:
            return self.af.labels.index(label)
        except ValueError:
            return None

    # ------------------------------------------------------------------ not-yet-treated comparators
    @property
    def not_yet_treated(self) -> bool:
        return self.params.comparators == "not_yet_treated" and self.af.clean_until is not None

    def clean_codes(self, i: int, *, used: bool = True) -> list[str]:
        """The comparators clean through period ``i`` (never joined a collaborative, or joined after
        it). With ``used`` (default): the comparators *used* for period ``i``, which are all of them
        unless comparators are ``not_yet_treated``. Without a membership table: all of them."""
        if self.af.clean_until is None or (used and not self.not_yet_treated):
            return list(self.af.codes)
        from evallib.its.comparators import clean_through

        return clean_through(self.af.codes, self.af.clean_until, self.af.labels[i])

    @cached_property
    def last_clean_index(self) -> int:
        """The last period with enough clean comparators for placebo inference (with a membership
        table; else the last period). Under ``not_yet_treated`` no effect is reported after it."""
        last = len(self.af.labels) - 1
        if self.af.clean_until is None:
            return last
        for i in range(self.af.formation, last + 1):
            if not placebo_minimum(len(self.clean_codes(i, used=False)), self.af.n_units, self.alpha)[0]:
                return i - 1
        return last

    @property
    def last_clean_period(self) -> str | None:
        i = self.last_clean_index
        return self.af.labels[i] if i >= 0 else None

    def fit_at(self, i: int) -> AlignedFit:
        """The fit whose comparators are clean through period ``i`` (refitted with that comparator set,
        cached by set; the main fit when every comparator is clean). Periods after
        :attr:`last_clean_index` have none: call it only up to there."""
        codes = self.clean_codes(i)
        if codes == list(self.af.codes):
            return self.af
        key = tuple(codes)
        if key not in self._clean_fits:
            self._clean_fits[key] = fit_aligned(self.params, self.table, model=self.model,
                                                comparators_override=codes)
        return self._clean_fits[key]

    def _interval(self, est_: float, null: np.ndarray, alpha: float,
                  af: AlignedFit | None = None) -> tuple[float, float, float, float, float]:
        af = self.af if af is None else af
        c = af.factor if alpha == self.alpha else A.cross_section_factor(len(af.codes), alpha, af.n_units)
        lo, hi = A.placebo_interval(est_, null, alpha, c)
        v = null[np.isfinite(null)]
        se = float(c * v.std(ddof=1)) if v.size > 1 else float("nan")
        return float(est_), se, lo, hi, A.placebo_p(est_, null, c)

    def _period_interval(self, i: int, alpha: float,
                         af: AlignedFit | None = None) -> tuple[float, float, float, float, float]:
        """The effect in period ``i`` (observed minus expected) with its placebo interval. On the
        log scale the interval is found for the log ratio and mapped back, so the expected value
        implied by either bound is never negative."""
        af = self.af if af is None else af
        if af.scale != "log":
            return self._interval(af.abs_gap[i], af.abs_null[i], alpha, af)
        inf = af.inference
        d0 = float(inf.gap0[i])
        _, sd, dlo, dhi, p = self._interval(d0, inf.null[i], alpha, af)
        c = float(af.cf[i]) + 0.5
        est_ = float(af.abs_gap[i])
        return est_, c * sd * math.exp(d0), c * math.expm1(dlo) if np.isfinite(dlo) else dlo, \
            c * math.expm1(dhi) if np.isfinite(dhi) else dhi, p

    # ------------------------------------------------------------------ effects
    def _effect_records(self, horizons: Sequence[int], alpha: float) -> list[dict]:
        af = self.af
        iP = af.formation
        recs = []
        obs_all = af.observed[np.isfinite(af.observed)]
        top = float(np.max(np.abs(obs_all))) if obs_all.size else float("nan")
        for h in horizons:
            i = self._horizon_index(h, iP, af.labels)
            if i is None:
                continue
            if self.not_yet_treated and i > self.last_clean_index:
                j = self.last_clean_index + 1
                n_clean = len(self.clean_codes(j))
                msg = (f"effects from {af.labels[j]} on (horizon {j - iP} and later) are not reported: only {n_clean} "
                       f"comparator(s) are clean through {af.labels[j]} (the others had joined collaboratives), and "
                       f"placebo inference needs at least {placebo_minimum(0, af.n_units, self.alpha)[1]} placebo "
                       f"systems of {af.n_units} units, with 2 comparators outside each; the last period with clean "
                       f"comparators is {self.last_clean_period}")
                self._warn(msg)
                continue
            fh = self.fit_at(i)        # comparators clean through period i
            o, c = float(fh.observed[i]), float(fh.cf[i])
            credible = bool(np.isfinite(c) and (not np.isfinite(top) or abs(c) <= 10 * max(top, 1e-12)))
            absolute = self._period_interval(i, alpha, fh)
            if c > 0 and np.isfinite(o):
                relative = (absolute[0] / c, absolute[1] / c, absolute[2] / c, absolute[3] / c, absolute[4])
            else:
                relative = (float("nan"),) * 5
            cum_est = float(np.nansum(fh.abs_gap[iP:i + 1]))
            cum_null = fh.abs_null[iP:i + 1].sum(0)
            cumulative = self._interval(cum_est, cum_null, alpha, fh)
            recs.append({"interruption": self.evaluated.name, "horizon": int(h), "period": af.labels[i],
                         "observed": o, "fitted": o, "counterfactual": c, "credible": credible,
                         "absolute": absolute, "relative": relative, "cumulative": cumulative})
        return recs

    def counterfactual(self, interruption: str | None = None, alpha: float | None = None) -> pd.DataFrame:
        """Frame: period, observed, fitted, counterfactual, cf_lower, cf_upper, in_fit.

        The counterfactual exists in every period (before formation it is the in-sample
        alignment); its band is observed minus the placebo interval of the effect, from
        formation on. ``fitted`` is the counterfactual before formation and the observed value
        after (the design fits every post-formation period exactly: the gap *is* the effect).
        Under ``not_yet_treated`` each period's counterfactual uses the comparators clean through it,
        and there is none after :attr:`last_clean_period` (NaN).
        """
        self._interruption(interruption)
        a = self._alpha(alpha)
        af = self.af
        lo = np.full(len(af.labels), np.nan)
        hi = np.full(len(af.labels), np.nan)
        cf = np.array(af.cf, dtype=float)
        for i in range(af.formation, len(af.labels)):
            if self.not_yet_treated and i > self.last_clean_index:
                cf[i] = np.nan
                continue
            fh = self.fit_at(i)
            cf[i] = fh.cf[i]
            _, _, elo, ehi, _ = self._period_interval(i, a, fh)
            lo[i], hi[i] = af.observed[i] - ehi, af.observed[i] - elo
        fitted = np.where(np.arange(len(af.labels)) < af.formation, af.cf, af.observed)
        return pd.DataFrame({"period": af.labels, "observed": af.observed, "fitted": fitted,
                             "counterfactual": cf, "cf_lower": lo, "cf_upper": hi,
                             "in_fit": af.in_fit.astype(bool)})

    def event_study(self, alpha: float | None = None) -> pd.DataFrame:
        """Per-period gap (observed minus expected) with its placebo interval, for every period.

        Columns: period, event_time (periods since formation), gap, lower, upper, p, phase
        ('pre' or 'post'), used (pre-formation rows used to fit the system's level). Under
        ``not_yet_treated`` a post-formation gap uses the comparators clean through its period, and
        is NaN after :attr:`last_clean_period`.
        """
        a = self._alpha(alpha)
        af = self.af
        rows = []
        for i, lab in enumerate(af.labels):
            if i >= af.formation and self.not_yet_treated and i > self.last_clean_index:
                e = lo = hi = p = float("nan")
            else:
                e, _, lo, hi, p = self._period_interval(i, a, self.fit_at(i) if i >= af.formation else af)
            rows.append({"period": lab, "event_time": i - af.formation, "gap": e, "lower": lo, "upper": hi,
                         "p": p, "phase": "pre" if i < af.formation else "post", "used": bool(af.fit[i])})
        return pd.DataFrame(rows)

    @cached_property
    def pre_trend_test(self) -> dict:
        """Joint test of the last ``leads`` pre-formation gaps: mean squared studentized gap,
        ranked among the placebo systems (small p: the treated system drifted away from its
        comparators before formation)."""
        inf = self.af.inference
        fit_idx = np.flatnonzero(self.af.fit)
        L = int(min(self.params.aligned.leads, max(2, len(fit_idx) // 3)))
        leads = fit_idx[-L:]
        with np.errstate(divide="ignore", invalid="ignore"):
            q0 = float(np.mean((inf.gap0[leads] / inf.s0) ** 2))
            qk = np.mean((inf.gaps[leads] / inf.s[None, :]) ** 2, axis=0)
        qk = qk[np.isfinite(qk)]
        p = float((1 + np.sum(qk >= q0 - 1e-12)) / (qk.size + 1)) if qk.size and np.isfinite(q0) else float("nan")
        return {"leads": L, "from": self.af.labels[leads[0]], "to": self.af.labels[leads[-1]], "statistic": q0,
                "p": p, "placebos": int(qk.size)}

    # ------------------------------------------------------------------ terms
    def _post_terms(self) -> tuple[list[str], np.ndarray, np.ndarray, AlignedFit]:
        af = self.af
        iP = af.formation
        T = len(af.labels)
        post = (np.arange(T) >= iP) & np.isfinite(af.abs_gap)
        if self.not_yet_treated:
            # one comparator set clean over the whole span: those clean through the last clean period
            af = self.fit_at(self.last_clean_index)
            post = post & (np.arange(T) <= self.last_clean_index) & np.isfinite(af.abs_gap)
        tt = (np.arange(T) - iP).astype(float)
        Xp = np.column_stack([np.ones(post.sum()), tt[post]])
        name = self.evaluated.name
        P = np.linalg.pinv(Xp)
        coef0 = P @ af.abs_gap[post]
        coefk = P @ np.nan_to_num(af.abs_null[post])
        mean0 = float(np.mean(af.abs_gap[post]))
        meank = np.mean(af.abs_null[post], axis=0)
        names = [D.level_name(name), D.slope_name(name), f"mean_effect[{name}]"]
        return names, np.r_[coef0, mean0], np.vstack([coefk, meank[None, :]]), af

    def _segment_terms(self, y: np.ndarray) -> dict[str, float]:
        """ITS terms (docs/contracts.md §3) of a series over the window, by least squares: intercept,
        pre_trend, level and slope change at the evaluated interruption, post_trend."""
        af = self.af
        T = len(af.labels)
        ok = np.isfinite(y)
        t = np.arange(T, dtype=float) - float(np.flatnonzero(ok)[0]) if ok.any() else np.arange(T, dtype=float)
        post = (np.arange(T) >= af.formation).astype(float)
        X = np.column_stack([np.ones(T), t, post, post * (np.arange(T) - af.formation)])
        b = np.linalg.lstsq(X[ok], y[ok], rcond=None)[0]
        name = self.evaluated.name
        return {D.INTERCEPT: b[0], D.PRE_TREND: b[1], D.level_name(name): b[2], D.slope_name(name): b[3],
                D.post_trend_name(name): b[1] + b[3]}

    def summary_frame(self, alpha: float | None = None) -> pd.DataFrame:
        """Tidy term table in the metric's unit.

        - ``difference``: the level and slope change of the gap (observed minus expected) after
          formation and its mean, with placebo intervals and p-values (the effect terms);
        - ``treated`` and ``control``: descriptive ITS lines (intercept, pre_trend, level and slope
          change, post_trend) through the observed series and through the expected line (what the
          comparators imply); no standard errors: inference is on the difference.

        Under ``not_yet_treated`` the difference terms use the comparators clean through
        :attr:`last_clean_period`, over the periods up to it, and the expected line is
        :meth:`counterfactual`'s (each period with the comparators clean through it).
        """
        a = self._alpha(alpha)
        names, e0, ek, paf = self._post_terms()
        rows = []
        cf = self.counterfactual()["counterfactual"].to_numpy(dtype=float) if self.not_yet_treated else self.af.cf
        for grp, y in (("treated", self.af.observed), ("control", cf)):
            for n, v in self._segment_terms(np.asarray(y, dtype=float)).items():
                rows.append({"group": grp, "term": n, "estimate": float(v), "se": float("nan"),
                             "ci_lower": float("nan"), "ci_upper": float("nan"), "p": float("nan")})
        for n, v, null in zip(names, e0, ek):
            est_, se, lo, hi, p = self._interval(float(v), null, a, paf)
            rows.append({"group": "difference", "term": n, "estimate": est_, "se": se, "ci_lower": lo,
                         "ci_upper": hi, "p": p})
        return pd.DataFrame(rows)

    @property
    def coefficients(self) -> pd.DataFrame:
        return self.summary_frame()

    def robustness(self) -> pd.DataFrame:
        """No alternative estimators apply (inference is by placebo systems): an empty frame with
        the usual columns; see :meth:`alternatives` for the other designs."""
        return pd.DataFrame(columns=["model", "group", "term", "estimate", "se", "ci_lower", "ci_upper", "p",
                                     "note"])

    # ------------------------------------------------------------------ checks
    def alternatives(self, horizon: int | None = None) -> pd.DataFrame:
        """The headline effect under the alternative designs: stacked comparative ITS, synthetic
        control, synthetic difference-in-differences and single-group ITS (each refitted; a design that cannot be fitted is listed with
        its reason). Columns: design, horizon, estimate, lower, upper, note."""
        if self._alternatives is None:

            h = horizon if horizon is not None else self.headline_horizon
            out = {}
            # not_yet_treated is honoured by every alternative design (each uses a comparator only up to
            # the period before it joins a collaborative); otherwise the aligned design's comparators
            base = self.params if self.not_yet_treated else \
                self.params.model_copy(update={"comparators": list(self.af.codes)})
            runs = (("stacked", lambda: analyse_controlled(base.model_copy(update={"controlled_method": "stacked"}),
                                                           self.table)),
                    ("synthetic", lambda: analyse_synthetic(base.model_copy(update={"design": "synthetic"}),
                                                            self.table)),
                    ("sdid", lambda: analyse_sdid(base.model_copy(update={"design": "sdid"}), self.table)),
                    ("single", lambda: analyse_single(self.params.model_copy(update={"design": "single"}),
                                                      self.table)))
            for name, run in runs:
                if name != "single" and self.n_comparators > MAX_ALTERNATIVE_COMPARATORS:
                    out[name] = {"note": f"not run: {self.n_comparators} comparators, over the "
                                         f"{MAX_ALTERNATIVE_COMPARATORS} for which the alternatives are refitted"}
                    continue
                try:
                    r = run()
                    e = r.effects(horizons=[h])
                    e = e[e["interruption"] == self.evaluated.name]
                    if e.empty:
                        out[name] = {"note": f"no effect at horizon {h}"}
                        continue
                    row = e.iloc[0]
                    out[name] = {"estimate": float(row["absolute"]), "lower": float(row["absolute_lower"]),
                                 "upper": float(row["absolute_upper"]), "credible": bool(row.get("credible", True)),
                                 "note": ""}
                except (EvalError, np.linalg.LinAlgError, ValueError) as exc:
                    out[name] = {"note": f"{type(exc).__name__}: {exc}"}
            self._alternatives = {"horizon": h, "designs": out}
        rows = [{"design": k, "horizon": self._alternatives["horizon"], **v}
                for k, v in self._alternatives["designs"].items()]
        return pd.DataFrame(rows, columns=["design", "horizon", "estimate", "lower", "upper", "credible", "note"])

    @property
    def headline_horizon(self) -> int:
        hs = [int(h) for h in self.horizons if self.af.formation + int(h) < len(self.af.labels)]
        if not hs:
            return 0
        return 12 if 12 in hs else min(hs, key=lambda x: abs(x - 12))

    @cached_property
    def _scorecard(self) -> dict:
        af = self.af
        inf = af.inference
        checks = []
        # 1. pre-formation fit against the series' own variability
        pre_obs = af.observed[af.fit]
        sd = float(np.nanstd(pre_obs, ddof=1)) if pre_obs.size > 1 else float("nan")
        rmspe = float(np.sqrt(np.nanmean(af.abs_gap[af.fit] ** 2)))
        ratio = rmspe / sd if sd > 0 else float("nan")
        checks.append({"name": "pre_fit", "value": ratio, "threshold": PRE_FIT_MAX,
                       "passed": bool(np.isfinite(ratio) and ratio <= PRE_FIT_MAX), "guards": True,
                       "says": (f"before formation the expected line misses the observed values by "
                                f"{W.approx(rmspe)} on average (root mean square), {ratio:.2f} times the series' own "
                                f"variation" if np.isfinite(ratio) else "the pre-formation fit could not be measured")})
        # 2. joint pre-trend test
        pt = self.pre_trend_test
        checks.append({"name": "pre_trend", "value": pt["p"], "threshold": PRE_TREND_MIN_P,
                       "passed": bool(np.isfinite(pt["p"]) and pt["p"] >= PRE_TREND_MIN_P), "guards": True,
                       "says": (f"in the {pt['leads']} months before formation ({pt['from']} to {pt['to']}) the "
                                f"system ran {'with' if pt['p'] >= PRE_TREND_MIN_P else 'away from'} its comparators "
                                f"(placebo p = {pt['p']:.2f})")})
        # 3. placebo rank of the pre-formation fit
        s = inf.s[np.isfinite(inf.s)]
        p_fit = float((1 + np.sum(s >= inf.s0)) / (s.size + 1)) if s.size else float("nan")
        checks.append({"name": "placebo_fit_rank", "value": p_fit, "threshold": FIT_RANK_MIN_P,
                       "passed": bool(np.isfinite(p_fit) and p_fit >= FIT_RANK_MIN_P), "guards": True,
                       "says": (f"the system's pre-formation fit is worse than {100 * (1 - p_fit):.0f}% of "
                                f"{s.size} placebo systems'")})
        # 4. post/pre RMSPE ratio rank (Abadie et al. 2010): reported, not a guard
        post = (np.arange(len(af.labels)) >= af.formation)
        rinf = inf
        if self.not_yet_treated:   # one comparator set clean over the post-formation periods ranked
            rinf = self.fit_at(self.last_clean_index).inference
            post = post & (np.arange(len(af.labels)) <= self.last_clean_index)
        with np.errstate(divide="ignore", invalid="ignore"):
            r0 = np.sqrt(np.nanmean(rinf.gap0[post] ** 2)) / rinf.s0
            rk = np.sqrt(np.nanmean(rinf.gaps[post] ** 2, axis=0)) / rinf.s
        rk = rk[np.isfinite(rk)]
        rank = int(1 + np.sum(rk > r0)) if rk.size else None
        p_rank = float((1 + np.sum(rk >= r0)) / (rk.size + 1)) if rk.size else float("nan")
        checks.append({"name": "placebo_rank", "value": rank, "threshold": None, "passed": None, "guards": False,
                       "says": (f"the system's post/pre-formation gap ratio ranks {rank} of {rk.size + 1} "
                                f"(placebo p = {p_rank:.2f})")})
        # 5. residual autocorrelation of the aligned pre-formation gaps
        g = inf.gap0[af.fit]
        g = g - g.mean()
        acf1 = float(np.sum(g[1:] * g[:-1]) / np.sum(g * g)) if np.sum(g * g) > 0 else float("nan")
        checks.append({"name": "residual_autocorrelation", "value": acf1, "threshold": ACF_MAX,
                       "passed": bool(np.isfinite(acf1) and acf1 <= ACF_MAX), "guards": True,
                       "says": (f"the aligned gaps before formation have lag-1 autocorrelation {acf1:.2f}"
                                + (" (persistent departures the alignment does not explain)" if acf1 > ACF_MAX
                                   else " (placebo inference allows for it)"))})
        # 6. near-zero pre-period volume (log scale)
        if af.scale == "log":
            tf = af.observed[af.fit]
            ev = float(np.nansum(tf))
            checks.append({"name": "pre_volume", "value": ev, "threshold": NEAR_ZERO_MIN_COUNT,
                           "passed": bool(ev >= NEAR_ZERO_MIN_COUNT), "guards": True,
                           "says": f"{W.approx(ev)} events before formation set the system's share"})
        # 7. achieved minimum detectable effect at the headline horizon
        h = self.headline_horizon
        recs = [r for r in self._effect_records([h], self.alpha)]
        mde = None
        if recs:
            r = recs[0]
            from scipy import stats

            half = (r["absolute"][3] - r["absolute"][2]) / 2
            z = stats.norm.ppf(1 - self.alpha / 2)
            mde = float(half / z * (z + stats.norm.ppf(0.8)))
            rel = mde / r["counterfactual"] if r["counterfactual"] > 0 else float("nan")
            checks.append({"name": "mde", "value": mde, "threshold": None, "passed": None, "guards": False,
                           "says": (f"at {h} months the smallest effect this design detects with 80% power is "
                                    f"{W.approx(mde)}" + (f" ({100 * rel:.0f}% of the expected value)"
                                                          if np.isfinite(rel) else ""))})
        return {"checks": checks}

    def scorecard(self, with_alternatives: bool | None = None) -> dict:
        """The credibility scorecard (results.json ``scorecard``): checks (name, value, threshold,
        passed, guards, says), the names of failed guarding checks, and the headline verdict.

        With ``with_alternatives`` the stacked, synthetic control, synthetic difference-in-differences
        and single-group designs are refitted and their headline effects compared: a controlled
        alternative *agrees* when its estimate lies inside the aligned interval, or the aligned
        estimate inside its interval when that is at most three times as wide; the check fails when
        no controlled alternative agrees.
        """
        checks = [dict(c) for c in self._scorecard["checks"]]
        if with_alternatives is None:
            with_alternatives = self.params.depth == "full"
            if not with_alternatives:
                checks.append({"name": "agreement", "value": None, "threshold": 1, "passed": None,
                               "guards": False,
                               "says": "alternative designs not refitted (depth brief, as in a national pack): "
                                       "build the collaborative's own pack for the comparison"})
        if with_alternatives:
            alt = self.alternatives()
            h = self.headline_horizon
            rec = self._effect_records([h], self.alpha)
            agree, shown = [], []
            if rec:
                e, lo, hi = rec[0]["absolute"][0], rec[0]["absolute"][2], rec[0]["absolute"][3]
                for r in alt.to_dict("records"):
                    if r.get("estimate") is None or not np.isfinite(r.get("estimate", np.nan)):
                        shown.append(f"{r['design']}: not available")
                        continue
                    if not r.get("credible", True):
                        shown.append(f"{r['design']}: not credible here, not compared")
                        continue
                    # agreement: its estimate inside our interval, or ours inside an interval that is
                    # not much wider than ours (a very wide interval agrees with anything)
                    w_alt, w = r["upper"] - r["lower"], hi - lo
                    ok = (lo <= r["estimate"] <= hi) or (r["lower"] <= e <= r["upper"] and w_alt <= 3 * w)
                    shown.append(f"{r['design']} {W.approx(r['estimate'])} ({'agrees' if ok else 'differs'})")
                    if r["design"] in ("stacked", "synthetic", "sdid"):
                        agree.append(ok)
            passed = bool(any(agree)) if agree else None
            checks.append({"name": "agreement", "value": sum(agree) if agree else None,
                           "threshold": 1, "passed": passed, "guards": passed is not None,
                           "says": "alternative designs at the headline horizon: " + "; ".join(shown)})
        failed = [c["name"] for c in checks if c.get("guards") and c.get("passed") is False]
        h = self.headline_horizon
        eff = self.effects(horizons=[h])
        v = self.verdict_of(eff.iloc[0].to_dict()) if len(eff) else "unclear"
        return {"checks": checks, "failed": failed, "verdict": v}

    def verdict_of(self, rec: dict) -> str:
        """:func:`evallib.its.base.verdict`, turned "unclear" when a guarding check failed."""
        v = super().verdict_of(rec)
        if v in ("improvement", "deterioration", "no direction"):
            failed = [c["name"] for c in self._scorecard["checks"] if c.get("guards") and c.get("passed") is False]
            if failed:
                return "unclear"
        return v

    def failed_checks(self) -> list[str]:
        return [c["name"] for c in self._scorecard["checks"] if c.get("guards") and c.get("passed") is False]

    def sentence(self, rec: dict, alpha: float | None = None) -> str:
        s = super().sentence(rec, alpha)
        failed = self.failed_checks()
        if failed and (rec["absolute_lower"] > 0 or rec["absolute_upper"] < 0):
            s = s.rstrip(".") + f"; not stated as a finding because the check(s) {', '.join(failed)} failed."
        return s

    def counterfactual_phrase(self, name: str) -> str:
        return "the comparators' month-by-month change applied to the system's pre-formation level"

    # ------------------------------------------------------------------ outputs
    def leave_one_out(self, horizon: int | None = None) -> pd.DataFrame:
        """The headline effect with each comparator left out in turn (point estimates; the comparator
        set is otherwise unchanged, and each refit uses 20 placebos, which do not affect the estimate)."""
        h = self.headline_horizon if horizon is None else horizon
        if h in self._loo:
            return self._loo[h]
        i = self.af.formation + h
        rows = []
        if self.not_yet_treated and i > self.last_clean_index:
            self._loo[h] = pd.DataFrame(rows, columns=["left_out", "horizon", "estimate"])
            return self._loo[h]
        used = self.clean_codes(i)
        for c in used:
            keep = [x for x in used if x != c]
            try:
                f = fit_aligned(self.params.model_copy(update={"aligned": self.params.aligned.model_copy(
                    update={"placebos": 20})}), self.table, model=self.model, comparators_override=keep)
                rows.append({"left_out": c, "horizon": h, "estimate": float(f.abs_gap[i])})
            except EvalError as exc:
                rows.append({"left_out": c, "horizon": h, "estimate": float("nan"), "note": str(exc)})
        self._loo[h] = pd.DataFrame(rows)
        return self._loo[h]

    def diagnostics(self) -> dict:
        af = self.af
        inf = af.inference
        g = inf.gap0[af.fit]

        return {
            "method": "aligned", "model_choice": self.model_reason, "scale": af.scale, "scale_reason": af.scale_reason,
            "own_terms": af.own_terms, "aggregate": self.params.aggregate, "units": list(self.params.units),
            "n_obs": self.n_obs, "n_fit_pre": int(af.fit.sum()),
            "comparators_used": list(af.codes), "n_comparators": len(af.codes),
            "comparators_dropped": dict(af.comparators.dropped), "comparator_rule": af.comparators.rule,
            "inference": {"method": "placebo systems (Conley-Taber intervals, placebo-rank p-values)",
                          "placebos": self.n_placebos, "studentized": inf.studentized,
                          "cross_section_factor": af.factor, "seed": self.params.aligned.seed},
            "absorbed_interruptions": [i.name for i in self.interruptions[:-1]],
            "pre_rmspe": float(np.sqrt(np.nanmean(af.abs_gap[af.fit] ** 2))),
            "acf": [float(x) for x in acf(g - g.mean(), min(12, max(1, len(g) // 2 - 1)))],
            "pre_trend_test": self.pre_trend_test,
        }

    def to_dict(self) -> dict:
        from evallib.its.results import json_safe

        first, last = self.periods_fitted
        sf = self.summary_frame()
        groups: dict = {}
        for r in sf.to_dict("records"):
            groups.setdefault(r["group"], {})[r["term"]] = {"estimate": r["estimate"], "se": r["se"],
                                                             "ci": [r["ci_lower"], r["ci_upper"]], "p": r["p"]}
        es = self.event_study()
        doc = {
            "schema": SCHEMA, "title": self.title, "metric": self.metric, "model": self.model,
            "design": "controlled", "method": "aligned", "n_obs": self.n_obs,
            "periods": {"first": first, "last": last},
            "groups": groups,
            "aligned": {
                "scale": self.af.scale, "scale_reason": self.af.scale_reason,
                "comparators": {"used": list(self.af.codes), "dropped": dict(self.af.comparators.dropped),
                                "rule": self.af.comparators.rule,
                                **({"clean_until": dict(self.af.clean_until),
                                    "last_clean_period": self.last_clean_period,
                                    "not_yet_treated": self.not_yet_treated}
                                   if self.af.clean_until is not None else {})},
                "inference": {"method": "placebo", "placebos": self.n_placebos,
                              "studentized": self.af.inference.studentized,
                              "cross_section_factor": self.af.factor},
                "pre_trend": self.pre_trend_test,
                "event_study": es.to_dict("records"),
            },
            "effects": self.effect_dicts(),
            "scorecard": self.scorecard(),
            "diagnostics": self.diagnostics(),
            "warnings": list(self.warnings),
            "provenance": self._provenance(),
        }
        if self.af.comparators.balance is not None:
            doc["aligned"]["balance"] = self.af.comparators.balance.to_dict("records")
        loo = self.leave_one_out() if self.params.depth == "full" else pd.DataFrame(columns=["estimate"])
        if self.params.depth != "full":
            doc["aligned"]["leave_one_out"] = {"not_run": "depth brief (a national pack's page): build the "
                                                          "collaborative's own pack for it"}
        elif len(loo) and loo["estimate"].notna().any():
            k = loo["estimate"].sub(self.effects(horizons=[self.headline_horizon])["absolute"].iloc[0]).abs().idxmax()
            doc["aligned"]["leave_one_out"] = {
                "horizon": self.headline_horizon, "min": float(loo["estimate"].min()),
                "max": float(loo["estimate"].max()), "most_influential": str(loo.loc[k, "left_out"]),
                "estimates": {str(r["left_out"]): r["estimate"] for r in loo.to_dict("records")}}
        return json_safe(doc)

    def _provenance(self) -> dict:
        import evallib

        return {"evallib_version": evallib.__version__, "data_file": self.data_file,
                "data_sha256": self.data_sha256, "params": self.params.to_yaml_dict(),
                "created": created_timestamp()}

    def summary(self) -> str:
        af = self.af
        lines = [f"{self.title}: comparator-aligned comparative ITS ({af.scale} scale, {self.model})",
                 f"  {self.n_comparators} comparators ({len(af.comparators.dropped)} dropped), "
                 f"{self.n_placebos} placebo systems, {interval_label(self.alpha)} by placebo inversion",
                 f"  scale: {af.scale_reason}"]
        for r in self.effects().to_dict("records"):
            lines.append(f"  h={r['horizon']:>3} {r['period']}: observed {W.approx(r['observed'])}, expected "
                         f"{W.approx(r['counterfactual'])}, effect {W.approx(r['absolute'])} "
                         f"[{W.approx(r['absolute_lower'])}, {W.approx(r['absolute_upper'])}] p={r['absolute_p']:.3f}")
        sc = self.scorecard(with_alternatives=False)
        lines.append(f"  scorecard: failed {sc['failed'] or 'none'}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def plot(self, ax=None, kind: str = "fit", **kwargs):
        from evallib.plots import aligned as P

        if kind == "event":
            return P.event_study_chart(self, ax=ax, **kwargs)
        return P.aligned_chart(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        return f"<AlignedResult {self.metric} comparators={self.n_comparators} placebos={self.n_placebos}>"


def analyse_aligned(params, table, *, model: str | None = None) -> AlignedResult:
    """The comparator-aligned design (see the module docstring)."""
    treated = combine_units(table, params.metric, params.units, params.aggregate, params.start, params.end)
    specs = interruption_specs(params, treated)
    if params.hac_lags not in ("auto",):
        raise ParameterError(f"hac_lags {params.hac_lags!r}: the aligned design has no Newey-West covariance "
                             f"(inference is by placebo systems); remove hac_lags or use controlled_method: stacked")
    if model is None:
        model, reason = choose_model(params, treated)
    else:
        reason = f"{model} as given"
    (logger.warning if params.model is None else logger.info)("%s: %s", params.analysis_id, reason)
    af = fit_aligned(params, table, model=model, treated=treated)
    return AlignedResult(params=params, table=table, af=af, specs=specs, model=model, model_reason=reason,
                         warnings=af.warnings)
