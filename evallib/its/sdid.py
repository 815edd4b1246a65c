"""Synthetic difference-in-differences (``design: sdid``) and per-trust synthetic controls.

The numerics (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021, AER 111(12):4088, as the
R package ``synthdid`` implements them) are in :mod:`evallib.stats.sdid`; this module turns a
params file and a tidy table into the panel they need and the result every design returns.

**Panel.** The treated units are the trusts of ``params.units``, one row each (not summed):
SDID handles several treated units natively. The control rows are the comparators kept by
the same eligibility rule as the comparator-aligned design
(:func:`evallib.its.aligned.eligible_comparators`: same ODS unit type unless
``comparator_types: any``, a complete series over the window, a non-trivial volume). The
columns are the window's periods minus those left out by ``exclude`` and by transitions; the
pre-period is every kept period before the evaluated (last) interruption, the post-period
every kept period from it on. Earlier interruptions (COVID-19) need no terms: the time weights
and the unit-weighted comparators absorb them, as the period effects do in the aligned design.

**Not-yet-treated comparators** (``comparators: not_yet_treated``, the default with a membership
table): SDID (and the per-trust synthetic controls) fit one set of unit weights, so every control
row must be clean in every period used. The window ends at the *last clean period*: the data's last
period when enough comparators are clean through it, else the latest of ``horizons`` through which
at least the design's minimum are clean (more than the treated units for the placebo variance and
the per-trust placebos, 2 for the jackknife, 1 for the bootstrap), with eligibility judged on the
window up to it (:func:`evallib.its.comparators.clean_window`). The controls are the eligible
comparators clean through it; no row after it is read. Effects at later horizons are not reported,
with the aligned design's warning; too few clean comparators at formation is a ``ModelError``
naming the counts. results.json ``sdid.comparators`` (``synthetic.comparators`` per trust) gives
``clean_until`` and ``last_clean_period``.
Every treated unit needs a value in every kept period (a ``ModelError`` names the trust and
the first missing period otherwise).

**System level.** SDID estimates the effect on the *average* treated row (the paper's tau).
The effects reported (``effects``, the ``difference`` terms, the charts and the sentences) are
at system level, in the metric's own unit, as ``aggregate`` combines the trusts:

- ``sum``: ``n_treated x tau_t`` (the total over the trusts; counts, money);
- ``mean``: ``tau_t``;
- ``ratio`` (a ratio of sums, e.g. a percentage with numerator and denominator): each
  trust's row is its own rate multiplied by ``n_treated x`` its share of the system's
  denominator in that period, so the average treated row *is* the system's ratio
  ``scale x sum(numerator) / sum(denominator)``; tau is then the denominator-share-weighted
  combination of the trusts' gaps, i.e. the effect on the system's rate. The placebo draws
  pseudo-treated comparators with equal weights (their own rates), and the jackknife leaves
  out one of these share-weighted rows at a time: both are approximations when the trusts'
  shares are far from equal.

The ``sdid`` block of results.json reports tau itself (``estimate``, the paper's average effect
over all post-formation periods, per treated unit for ``sum``; the system effect for
``mean`` and ``ratio``) and, as ``system``, the same at system level.

**Variance** (``sdid: {variance, replications, seed}``): ``placebo`` (Algorithm 4, the
default; needs more comparators than treated units), ``jackknife`` (Algorithm 3; at least 2
treated units and 2 comparators with non-zero weight) or ``bootstrap`` (Algorithm 2; at least
2 treated units, and the paper trusts it only with many: below 10 a warning says so). Every
interval is the normal interval ``estimate -/+ z se`` (paper Section 5), every p-value the
normal two-sided one; per-period and cumulative effects take their SEs from the same
replicates (placebo and bootstrap: SD with ddof 0; jackknife: its own formula). The draws are
seeded (``sdid.seed``), so a result is reproducible. The comparison estimators of the paper's
Table 1 (``did``: uniform weights; ``sc``: no intercept, no time weights) are fitted on the
same panel with the same variance method and seed.

**Per-trust synthetic controls** (``design: synthetic`` with ``synthetic: {per_trust:
true}``, :func:`analyse_per_trust`): one synthetic control per treated trust (the paper's SC
weights, :func:`evallib.stats.sdid.per_unit_sc`), each trust's gap shown, and the system gap
their sum (``sum``), mean (``mean``) or denominator-share-weighted sum (``ratio``, each trust's
share of the system's denominator over the pre-period). Inference is by placebo systems:
``sdid.replications`` draws (seed ``sdid.seed``) of as many comparators as there are trusts,
each fitted from the other comparators and combined the same way; intervals are normal with
the placebo SD, p-values placebo ranks.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from evallib.exceptions import ModelError, ParameterError
from evallib.its import design as D
from evallib import text as W
from evallib.its.base import BaseResult
from evallib.its.comparators import _reasons as comparators_reasons
from evallib.its.comparators import CleanDonors, CleanWindow, Comparators, clean_through, clean_window, eligible_comparators
from evallib.its.series import Series, combine_units, unit_panel
from evallib.its.single import interruption_specs, window  # noqa: F401
from evallib.periods import format_period, parse_period
from evallib.stats import sdid as S
from evallib.text import created_timestamp, interval_label

logger = logging.getLogger(__name__)

SCHEMA = "evallib.results/1"
MIN_PRE = 2                      # pre-periods the numerics need (noise level, weights)
BOOTSTRAP_MANY = 10              # below this many treated units the bootstrap is flagged


# =========================================================================== the panel
@dataclass
class SDIDPanel(CleanDonors):
    """Treated and control rows on the kept periods, and what was decided on the way."""

    labels: list[str]                # every period of the window
    keep: np.ndarray                 # (T_all,) periods used (not excluded, not in a transition)
    formation: int                   # index in ``labels`` of the evaluated interruption
    units: list[str]                 # treated codes (row order of Yt)
    codes: list[str]                 # comparator codes (row order of Yc)
    Yt: np.ndarray                   # (n1, T_all) each trust's own value
    Yc: np.ndarray                   # (N_co, T_all) each comparator's value
    Yt_fit: np.ndarray               # (n1, T_all) the treated rows SDID averages (shares for ratio)
    observed: np.ndarray             # (T_all,) the system series (combine_units)
    factor: float                    # system effect = factor * effect on the average treated row
    combine: str                     # how the trusts make the system (a sentence)
    shares: np.ndarray | None        # (n1,) pre-period denominator shares (ratio), else None
    comparators: object              # evallib.its.aligned.Comparators
    specs: list
    names: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    #: with a membership table: each comparator's last clean period (None: never joined)
    clean_until: dict[str, str | None] | None = None
    #: under ``not_yet_treated``: where the window ends and why (evallib.its.comparators.CleanWindow)
    clean: CleanWindow | None = None

    def clean_donor_codes(self) -> list[str]:
        return list(self.codes)

    def comparators_block(self) -> dict:
        """results.json: the donors, the rule and, with a membership table, ``clean_until`` (each
        eligible comparator's last clean period), ``last_clean_period`` and ``not_yet_treated``."""
        d = {"used": list(self.codes), "dropped": dict(self.comparators.dropped), "rule": self.comparators.rule}
        if self.clean_until is not None:
            d.update({"clean_until": dict(self.clean_until), "last_clean_period": self.last_clean_period,
                      "not_yet_treated": self.not_yet_treated})
        return d

    @property
    def n_treated(self) -> int:
        return len(self.units)

    @property
    def kept_labels(self) -> list[str]:
        return [lab for lab, k in zip(self.labels, self.keep) if k]

    @property
    def T0(self) -> int:
        return int((self.keep & (np.arange(len(self.labels)) < self.formation)).sum())

    def Y(self) -> np.ndarray:
        """(N_co + n1, T_kept): controls first, then the treated rows, as the numerics want."""
        return np.vstack([self.Yc[:, self.keep], self.Yt_fit[:, self.keep]])

    def post_index(self, i: int) -> int | None:
        """Position among the kept post-periods of window index ``i`` (None if not kept / pre)."""
        if i < self.formation or not self.keep[i]:
            return None
        return int(self.keep[self.formation:i + 1].sum()) - 1


def _wide(panel: pd.DataFrame, col: str, labels: Sequence[str], codes: Sequence[str]) -> np.ndarray:
    return panel.pivot(index="period", columns="org_code", values=col).reindex(
        index=list(labels), columns=list(codes)).to_numpy(dtype=float).T


def _reasons(dropped: dict[str, str]) -> str:
    return comparators_reasons(dropped).replace("none", "none dropped") if not dropped else comparators_reasons(dropped)


def min_donors(params, who: str) -> tuple[int, str]:
    """The fewest comparators the design needs, and why (for messages)."""
    n1 = len(params.units)
    if who.startswith("synthetic per_trust"):
        return n1 + 1, f"placebo inference needs more comparators than the {n1} treated unit(s)"
    v = params.sdid.variance
    if v == "placebo":
        return n1 + 1, f"sdid.variance placebo needs more comparators than the {n1} treated unit(s)"
    if v == "jackknife":
        return 2, "sdid.variance jackknife needs 2"
    return 1, "the weights need 1"


def _clean_window(params, table, who: str):
    """``not_yet_treated``: the :class:`CleanWindow` and the params cut at its last clean period
    (module docstring); ModelError naming the counts when too few comparators are clean at formation."""
    src = table.source
    win = window(params, table)
    labels, iP = win.labels, win.formation
    mask = win.pre & win.in_fit
    ratio = params.aggregate == "ratio"
    form = format_period(win.evaluated.period)
    need, why = min_donors(params, who)
    seen: dict[int, Comparators] = {}

    def eligible_at(i: int) -> Comparators:
        if i not in seen:
            tf = win.treated.frame.iloc[:i + 1].reset_index(drop=True)
            tr = Series(frame=tf, freq=win.treated.freq, metric=win.treated.metric, units=list(win.treated.units),
                        scale=win.treated.scale)
            seen[i] = eligible_comparators(params, table, labels[:i + 1], mask[:i + 1], need_ratio=ratio,
                                           need_den=False, treated=tr, formation=form)
        return seen[i]

    def clean_at(i: int) -> list[str]:
        comp = eligible_at(i)
        return clean_through(comp.kept, comp.clean_until, labels[i])

    cw = clean_window(labels, iP, params.horizons, clean_at, need)
    if cw is None:
        comp = eligible_at(iP)
        n = len(clean_at(iP))
        raise ModelError(
            f"{src}: {who} with comparators not_yet_treated: {n} comparator(s) of {params.metric} are eligible and "
            f"clean through {labels[iP]}, the formation period ({len(comp.dropped)} dropped: {_reasons(comp.dropped)}"
            f"); at least {need} are needed ({why}): add comparators, use "
            f"comparator_types: any, or use comparators: all_other (which also compares with trusts that joined "
            f"collaboratives later)")
    comp = eligible_at(cw.end)
    cw.clean_until = {c: comp.clean_until.get(c) for c in comp.kept}
    cut = params if cw.end == len(labels) - 1 else params.model_copy(update={"end": labels[cw.end]})
    return cw, cut


def prepare_panel(params, table, who: str = "design sdid") -> SDIDPanel:
    """The SDID panel for ``params`` on ``table`` (see the module docstring).

    Under ``comparators: not_yet_treated`` (a membership table given) the window ends at the last
    clean period and the donors are the comparators clean through it (module docstring).

    Raises ``ModelError`` for fewer than 2 usable pre-periods, a treated unit with a gap in a
    used period, no eligible comparator, or (``not_yet_treated``) too few clean ones;
    ``ParameterError`` (from the loaders) for unknown units or windows.
    """

    src = table.source
    clean_win = None
    if params.comparators == "not_yet_treated" and getattr(params, "memberships", None) is not None:
        clean_win, params = _clean_window(params, table, who)
    win = window(params, table)
    treated, specs, periods, labels, keep = win.treated, win.specs, win.periods, win.labels, win.in_fit
    T = len(labels)
    intr, iP, pre = win.evaluated, win.formation, win.pre
    T0 = int((keep & pre).sum())
    when = f"before {intr.name} ({format_period(intr.period)})"
    if T0 < MIN_PRE:
        raise ModelError(f"{src}: {who}: {T0} usable pre-period(s) of {params.metric} found {when}; at least "
                         f"{MIN_PRE} are needed (the noise level and the weights come from pre-period changes): "
                         f"start the window earlier or shorten exclude")
    if not (keep & ~pre).any():
        raise ModelError(f"{src}: {who}: no usable period of {params.metric} from {intr.name} "
                         f"({format_period(intr.period)}) on; at least 1 is needed")
    ratio = params.aggregate == "ratio"
    units = list(params.units)
    n1 = len(units)
    tp = unit_panel(table, params.metric, units, labels[0], labels[-1])
    Yt = _wide(tp, "value", labels, units)
    Dt = _wide(tp, "denominator", labels, units) if ratio else None
    for k, u in enumerate(units):
        ok = np.isfinite(Yt[k]) & (np.isfinite(Dt[k]) & (Dt[k] > 0) if ratio else True)
        for part, mask in (("pre-period", keep & pre), ("post-period", keep & ~pre)):
            bad = mask & ~ok
            if bad.any():
                first = labels[int(np.flatnonzero(bad)[0])]
                need = "value and a positive denominator" if ratio else "value"
                raise ModelError(
                    f"{src}: {who}: treated unit {u!r} has {int(bad.sum())} missing {need}(s) of {params.metric} "
                    f"in the {part} (first {first}); found {int((mask & ok).sum())} of the {int(mask.sum())} "
                    f"periods, all {int(mask.sum())} are needed (a balanced panel): fill the gap, exclude the "
                    f"period (exclude:), or drop the unit from units")
    comp = eligible_comparators(params, table, labels, pre & keep, need_ratio=ratio, need_den=False,
                                treated=treated, formation=format_period(intr.period))
    warns = list(win.warnings) + list(comp.warnings)
    if clean_win is not None:
        last = clean_win.last_clean_period
        for c in comp.kept:
            if c not in set(clean_win.codes):
                joined = format_period(parse_period(comp.clean_until[c], table.freq) + 1)
                comp.dropped[c] = (f"joined a collaborative after formation, before the last clean period {last} "
                                   f"(in {joined}): not clean through it")
        comp.kept = [c for c in comp.kept if c in set(clean_win.codes)]
    if comp.dropped:
        warns.append(f"{len(comp.dropped)} comparator(s) dropped by the eligibility rule ({_reasons(comp.dropped)}); "
                     f"{len(comp.kept)} kept")
    codes = list(comp.kept)
    clean = None
    if comp.clean_until is not None:
        clean = clean_win.clean_until if clean_win is not None else {c: comp.clean_until.get(c) for c in codes}
        joined = sorted(v for c, v in clean.items() if c in set(codes) and v is not None and v < labels[-1])
        if clean_win is None and joined and not isinstance(params.comparators, list):
            warns.append(f"{len(joined)} of the {len(codes)} comparators joined a collaborative during the window (the "
                         f"first is clean through {joined[0]}); comparators: {params.comparators} uses them "
                         f"throughout, which pulls the effect towards zero: use comparators: not_yet_treated")
    if not codes:
        raise ModelError(f"{src}: {who}: 0 eligible comparators for {params.metric} ({len(comp.dropped)} dropped: "
                         f"{_reasons(comp.dropped)}); at least 1 is needed (more for the variance): add comparators "
                         f"or use comparator_types: any")
    cp = unit_panel(table, params.metric, codes, labels[0], labels[-1])
    Yc = _wide(cp, "value", labels, codes)
    shares = None
    if ratio:
        with np.errstate(invalid="ignore", divide="ignore"):
            share_t = Dt / Dt.sum(axis=0, keepdims=True)
        Yt_fit = n1 * share_t * Yt
        shares = np.nansum(Dt[:, keep & pre], axis=1) / np.nansum(Dt[:, keep & pre])
        factor, how = 1.0, ("ratio of sums: each trust weighted by its share of the system's denominator in each "
                            "period, so the average treated row is the system's rate")
        observed = np.nanmean(np.where(np.isfinite(Yt_fit), Yt_fit, np.nan), axis=0)
    elif params.aggregate == "mean":
        Yt_fit, factor, how = Yt.copy(), 1.0, "mean of the trusts: the effect on the average trust"
        observed = Yt.mean(axis=0)
    else:
        Yt_fit, factor, how = Yt.copy(), float(n1), f"sum of the trusts: {n1} x the effect on the average trust"
        observed = Yt.sum(axis=0)
    names = table.org_names() if hasattr(table, "org_names") else {}
    return SDIDPanel(labels=labels, keep=keep, formation=iP, units=units, codes=codes, Yt=Yt, Yc=Yc,
                     Yt_fit=Yt_fit, observed=observed, factor=factor, combine=how, shares=shares,
                     comparators=comp, specs=specs, names=dict(names), warnings=warns, clean_until=clean,
                     clean=clean_win)


def _check_variance(method: str, n1: int, n_co: int, comp, src: str, metric: str) -> None:
    """Refuse a variance method the panel cannot support, naming what was found and needed."""
    dropped = f" ({len(comp.dropped)} dropped by the eligibility rule: {_reasons(comp.dropped)})" if comp.dropped else ""
    if method == "placebo" and n_co <= n1:
        raise ModelError(f"{src}: design sdid with sdid.variance placebo: {n_co} eligible comparator(s) of {metric} "
                         f"found{dropped} for {n1} treated unit(s); the placebo needs at least {n1 + 1} (more "
                         f"comparators than treated units): add comparators, use comparator_types: any, or "
                         f"sdid.variance: jackknife")
    if method in ("jackknife", "bootstrap") and n1 < 2:
        raise ModelError(f"{src}: design sdid with sdid.variance {method}: {n1} treated unit found; the {method} "
                         f"needs at least 2 treated units: use sdid.variance: placebo")
    if method == "jackknife" and n_co < 2:
        raise ModelError(f"{src}: design sdid with sdid.variance jackknife: {n_co} eligible comparator(s) of "
                         f"{metric} found{dropped}; the jackknife needs at least 2: add comparators")


# =========================================================================== the result
def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))


def _p_normal(est: float, se: float) -> float:
    from scipy.stats import norm

    if not (np.isfinite(se) and se > 0 and np.isfinite(est)):
        return float("nan")
    return float(2 * norm.sf(abs(est) / se))


def _term(est: float, se: float, alpha: float) -> dict:
    z = _z(alpha)
    return {"estimate": float(est), "se": float(se), "ci": [float(est - z * se), float(est + z * se)],
            "p": _p_normal(est, se)}


class _PanelResult(BaseResult):
    """What the SDID and per-trust results share: the kept post-period index of a window row."""

    _who = "design sdid"

    def _kept_index(self, h: int) -> int | None:
        """Window index of horizon ``h``, or None with a warning: after the last period of the data, after
        the last clean period (``not_yet_treated``), or excluded / in a transition."""
        p = self.panel
        labels = p.clean.labels if p.clean is not None else p.labels
        i = self._horizon_index(h, p.formation, labels)
        if i is None:
            return None
        if i >= len(p.labels):
            self._warn(p.clean.message(h, p.formation, self._who))
            return None
        return i

    def _post_index(self, i: int) -> int | None:
        j = self.panel.post_index(i)
        if j is None:
            self._warn(f"horizon {i - self.panel.formation} of {self.evaluated.name} ({self.panel.labels[i]}) is "
                       f"excluded or in a transition: no effect reported")
        return j


class SDIDResult(_PanelResult):
    """Result of ``design: sdid`` (see the module docstring)."""

    def __init__(self, *, params, table, panel: SDIDPanel, fit: S.SDIDFit, var: S.SDIDVariance,
                 comparison: dict, warnings: Sequence[str]):
        self._set_basics(params, table, panel.specs, warnings, design="sdid", method="sdid", model="sdid")
        self.panel = panel
        self.fit = fit
        self.var = var
        self.comparison = comparison          # {"did": (fit, var | None), "sc": (fit, var | None)}
        self._effect_records(self.horizons, self.alpha)   # horizon warnings now

    # ------------------------------------------------------------------ basics
    @property
    def evaluated(self):
        return self.interruptions[-1]

    @property
    def n_obs(self) -> int:
        return int(self.panel.keep.sum())

    @property
    def n_comparators(self) -> int:
        return len(self.panel.codes)

    @property
    def variance_method(self) -> str:
        return self.var.method

    @property
    def periods_fitted(self) -> tuple[str, str]:
        k = self.panel.kept_labels
        return k[0], k[-1]

    def _se(self, reps: np.ndarray, method: str | None = None) -> np.ndarray | float:
        """SE from replicates along axis 0: the jackknife's formula, else SD with ddof 0."""
        method = method or self.var.method
        reps = np.asarray(reps, dtype=float)
        if method == "jackknife":
            n = reps.shape[0]
            return np.sqrt((n - 1) / n * ((reps - reps.mean(axis=0)) ** 2).sum(axis=0))
        return np.std(reps, axis=0, ddof=0)

    def _interval(self, est: float, se: float, alpha: float) -> tuple[float, float, float, float, float]:
        z = _z(alpha)
        return float(est), float(se), float(est - z * se), float(est + z * se), _p_normal(est, se)

    # ------------------------------------------------------------------ series
    @property
    def system_effects(self) -> np.ndarray:
        """(T_post,) system-level effect of each kept post-period."""
        return self.panel.factor * self.fit.effects

    @property
    def system_replicates(self) -> np.ndarray:
        """(R, T_post) replicate per-period effects at system level."""
        return self.panel.factor * self.var.effects_replicates

    def _full(self, kept_values: np.ndarray) -> np.ndarray:
        out = np.full(len(self.panel.labels), np.nan)
        out[self.panel.keep] = kept_values
        return out

    @property
    def synthetic_series(self) -> np.ndarray:
        """(T_all,) the unit-weighted comparators at system level (``factor x omega'Y_co``), NaN off the kept periods."""
        return self._full(self.panel.factor * self.fit.synthetic)

    @property
    def counterfactual_series(self) -> np.ndarray:
        """(T_all,) the synthetic series plus the SDID intercept (the time-weighted pre-period level difference)."""
        return self._full(self.panel.factor * self.fit.counterfactual)

    def trust_gaps(self) -> pd.DataFrame:
        """Each trust's own gap under the SDID weights (its value minus the weighted comparators, minus its own
        time-weighted pre-period difference); rows are the kept periods, columns the trust codes."""
        p, f = self.panel, self.fit
        Yt = p.Yt[:, p.keep]
        d = Yt - f.synthetic[None, :]
        g = d - (d[:, :f.T0] @ f.lambda_)[:, None]
        return pd.DataFrame(g.T, index=pd.Index(p.kept_labels, name="period"), columns=p.units)

    # ------------------------------------------------------------------ effects
    def _effect_records(self, horizons: Sequence[int], alpha: float) -> list[dict]:
        p = self.panel
        iP = p.formation
        eff = self.system_effects
        reps = self.system_replicates
        se_t = self._se(reps)
        cum_all = np.cumsum(eff)
        cum_reps = np.cumsum(reps, axis=1)
        cum_se = self._se(cum_reps)
        cf_all = self.counterfactual_series
        recs = []
        for h in horizons:
            i = self._kept_index(h)
            j = None if i is None else self._post_index(i)
            if j is None:
                continue
            o = float(p.observed[i])
            c = float(cf_all[i])
            absolute = self._interval(float(eff[j]), float(se_t[j]), alpha)
            if c > 0:
                relative = (absolute[0] / c, absolute[1] / c, absolute[2] / c, absolute[3] / c, absolute[4])
            else:
                relative = (float("nan"),) * 5
            cumulative = self._interval(float(cum_all[j]), float(cum_se[j]), alpha)
            recs.append({"interruption": self.evaluated.name, "horizon": int(h), "period": p.labels[i],
                         "observed": o, "fitted": o, "counterfactual": c, "credible": bool(np.isfinite(c)),
                         "absolute": absolute, "relative": relative, "cumulative": cumulative})
        return recs

    def counterfactual(self, interruption: str | None = None, alpha: float | None = None) -> pd.DataFrame:
        """Frame: period, observed, fitted, counterfactual, cf_lower, cf_upper, in_fit, synthetic.

        ``counterfactual`` is the weighted comparators plus the SDID intercept at system level;
        its band (post-period) is observed minus the interval of the effect. ``synthetic`` is the
        weighted comparators without the intercept. Periods left out are NaN (in_fit False).
        """
        self._interruption(interruption)
        a = self._alpha(alpha)
        p = self.panel
        cf = self.counterfactual_series
        lo = np.full(len(p.labels), np.nan)
        hi = np.full(len(p.labels), np.nan)
        z = _z(a)
        se_t = self._se(self.system_replicates)
        post = np.flatnonzero(p.keep & (np.arange(len(p.labels)) >= p.formation))
        eff = self.system_effects
        lo[post] = p.observed[post] - (eff + z * se_t)
        hi[post] = p.observed[post] - (eff - z * se_t)
        fitted = np.where(np.arange(len(p.labels)) < p.formation, cf, p.observed)
        return pd.DataFrame({"period": p.labels, "observed": p.observed, "fitted": fitted, "counterfactual": cf,
                             "cf_lower": lo, "cf_upper": hi, "in_fit": p.keep.astype(bool),
                             "synthetic": self.synthetic_series})

    def gaps(self, alpha: float | None = None) -> pd.DataFrame:
        """Per kept period: gap (observed minus counterfactual, system level), lower, upper (post only), phase."""
        a = self._alpha(alpha)
        cf = self.counterfactual(alpha=a)
        cf = cf[cf["in_fit"]]
        g = (cf["observed"] - cf["counterfactual"]).to_numpy()
        return pd.DataFrame({"period": cf["period"].to_numpy(), "gap": g,
                             "lower": (cf["observed"] - cf["cf_upper"]).to_numpy(),
                             "upper": (cf["observed"] - cf["cf_lower"]).to_numpy(),
                             "phase": np.where(np.arange(len(g)) < self.fit.T0, "pre", "post")})

    # ------------------------------------------------------------------ terms
    def _difference_terms(self) -> list[tuple[str, float, np.ndarray]]:
        """(name, estimate, replicates) of the level and slope change of the post-period effects and their mean."""
        name = self.evaluated.name
        p = self.panel
        post_idx = np.flatnonzero(p.keep & (np.arange(len(p.labels)) >= p.formation))
        tt = (post_idx - p.formation).astype(float)
        X = np.column_stack([np.ones(tt.size), tt])
        P = np.linalg.pinv(X)
        eff, reps = self.system_effects, self.system_replicates
        out = []
        if tt.size >= 2:
            c0, ck = P @ eff, P @ reps.T
            out += [(D.level_name(name), float(c0[0]), ck[0]), (D.slope_name(name), float(c0[1]), ck[1])]
        out.append((f"mean_effect[{name}]", float(eff.mean()), reps.mean(axis=1)))
        return out

    def summary_frame(self, alpha: float | None = None) -> pd.DataFrame:
        """Tidy term table (system level, the metric's unit), group ``difference``: the level and slope change
        of the post-period effects (least squares through them) and their mean (``mean_effect``), with SEs from
        the variance replicates, normal intervals and p-values."""
        a = self._alpha(alpha)
        rows = []
        for n, v, reps in self._difference_terms():
            est, se, lo, hi, p = self._interval(v, float(self._se(reps)), a)
            rows.append({"group": "difference", "term": n, "estimate": est, "se": se, "ci_lower": lo, "ci_upper": hi,
                         "p": p})
        return pd.DataFrame(rows, columns=["group", "term", "estimate", "se", "ci_lower", "ci_upper", "p"])

    @property
    def coefficients(self) -> pd.DataFrame:
        return self.summary_frame()

    def robustness(self) -> pd.DataFrame:
        """The paper's comparison estimators on the same panel (average effect tau, per treated unit)."""
        rows = []
        for k, t in self.estimates().items():
            rows.append({"model": k, "group": "average", "term": f"tau[{self.evaluated.name}]",
                         "estimate": t["estimate"], "se": t["se"], "ci_lower": t["ci"][0], "ci_upper": t["ci"][1],
                         "p": t["p"], "note": ""})
        return pd.DataFrame(rows, columns=["model", "group", "term", "estimate", "se", "ci_lower", "ci_upper", "p",
                                           "note"])

    def estimates(self, alpha: float | None = None) -> dict[str, dict]:
        """``{"sdid": T, "did": T, "sc": T}``: tau of each estimator with its SE from the same variance method."""
        a = self._alpha(alpha)
        out = {"sdid": _term(self.fit.estimate, self.var.se, a)}
        for k, (f, v) in self.comparison.items():
            out[k] = _term(f.estimate, v.se if v is not None else float("nan"), a)
        return out

    # ------------------------------------------------------------------ text
    def counterfactual_phrase(self, name: str) -> str:
        return ("the synthetic comparison (comparators weighted to move with the trusts before formation, "
                "plus the trusts' usual difference from them)")

    def unit_weights(self) -> pd.Series:
        return pd.Series(self.fit.omega, index=pd.Index(self.panel.codes, name="org_code"), name="weight")

    def time_weights(self) -> pd.Series:
        pre = self.panel.kept_labels[:self.fit.T0]
        return pd.Series(self.fit.lambda_, index=pd.Index(pre, name="period"), name="weight")

    def diagnostics(self) -> dict:
        p, f = self.panel, self.fit
        gap_pre = (p.factor * (f.treated - f.counterfactual))[:f.T0]
        om = f.omega[f.omega > 0]
        lam = f.lambda_[f.lambda_ > 0]
        d = {
            "method": "sdid", "variance": self.var.method, "replications": int(self.var.replications),
            "seed": self.var.seed, "aggregate": self.params.aggregate, "system": p.combine,
            "system_factor": p.factor, "units": list(p.units), "n_treated": p.n_treated,
            "n_comparators": self.n_comparators, "comparators_used": list(p.codes),
            "comparators_dropped": dict(p.comparators.dropped), "comparator_rule": p.comparators.rule,
            "n_pre": int(f.T0), "n_post": int(f.T_post), "left_out": [lab for lab, k in zip(p.labels, p.keep) if not k],
            "noise_level": f.noise_level, "zeta_omega": f.zeta_omega, "zeta_lambda": f.zeta_lambda,
            "iterations": {k: list(v) for k, v in f.iterations.items()},
            "intercept": p.factor * f.offset,
            "pre_rmspe": float(np.sqrt(np.mean(gap_pre ** 2))),
            "effective_comparators": float(1.0 / np.sum(om ** 2)) if om.size else float("nan"),
            "effective_pre_periods": float(1.0 / np.sum(lam ** 2)) if lam.size else float("nan"),
            "absorbed_interruptions": [i.name for i in self.interruptions[:-1]],
        }
        if p.shares is not None:
            d["denominator_shares_pre"] = dict(zip(p.units, [float(s) for s in p.shares]))
        return d

    # ------------------------------------------------------------------ outputs
    def sdid_block(self) -> dict:
        """The ``sdid`` block of results.json (docs: the module docstring)."""
        a = self.alpha
        est = self.estimates(a)
        sys_se = float(self.panel.factor * self.var.se)
        return {
            "estimate": est["sdid"],
            "variance": self.var.method,
            "replications": int(self.var.replications),
            "unit_weights": {c: float(w) for c, w in zip(self.panel.codes, self.fit.omega)},
            "time_weights": {lab: float(w) for lab, w in zip(self.panel.kept_labels[:self.fit.T0], self.fit.lambda_)},
            "comparison": {"did": est["did"], "sc": est["sc"]},
            # additive: the estimate at system level, and how it is made
            "system": {**_term(self.panel.factor * self.fit.estimate, sys_se, a), "factor": self.panel.factor,
                       "combine": self.panel.combine},
            "seed": self.var.seed,
            "intercept": float(self.panel.factor * self.fit.offset),
            # additive: the donors, and with a membership table their clean periods
            "comparators": self.panel.comparators_block(),
        }

    def to_dict(self) -> dict:
        from evallib.its.results import json_safe

        first, last = self.periods_fitted
        groups: dict = {}
        for r in self.summary_frame().to_dict("records"):
            groups.setdefault(r["group"], {})[r["term"]] = {"estimate": r["estimate"], "se": r["se"],
                                                             "ci": [r["ci_lower"], r["ci_upper"]], "p": r["p"]}
        doc = {
            "schema": SCHEMA, "title": self.title, "metric": self.metric, "model": self.model, "design": "sdid",
            "n_obs": self.n_obs, "periods": {"first": first, "last": last}, "groups": groups,
            "sdid": self.sdid_block(),
            "effects": self.effect_dicts(),
            "diagnostics": self.diagnostics(),
            "warnings": list(self.warnings),
            "provenance": _provenance(self),
        }
        return json_safe(doc)

    def summary(self) -> str:
        p = self.panel
        est = self.estimates()
        lvl = interval_label(self.alpha)
        lines = [f"{self.title}: synthetic difference-in-differences ({p.n_treated} treated, {self.n_comparators} "
                 f"comparators, {self.fit.T0} pre- and {self.fit.T_post} post-periods)",
                 f"  variance: {self.var.method} ({self.var.replications} replications, seed {self.var.seed}); "
                 f"system: {p.combine}"]
        for k in ("sdid", "did", "sc"):
            t = est[k]
            lines.append(f"  {k:>4} tau {W.approx(t['estimate'])} (se {W.approx(t['se'])}, {lvl} "
                         f"{W.approx(t['ci'][0])} to {W.approx(t['ci'][1])})")
        for r in self.effects().to_dict("records"):
            lines.append(f"  h={r['horizon']:>3} {r['period']}: observed {W.approx(r['observed'])}, expected "
                         f"{W.approx(r['counterfactual'])}, effect {W.approx(r['absolute'])} "
                         f"[{W.approx(r['absolute_lower'])}, {W.approx(r['absolute_upper'])}] p={r['absolute_p']:.3f}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def plot(self, ax=None, kind: str = "fit", **kwargs):
        """``kind``: fit (treated against synthetic), gap, placebo, weights, per_trust."""
        from evallib.plots import sdid as P

        charts = {"fit": P.sdid_chart, "gap": P.gap_chart, "placebo": P.placebo_chart,
                  "weights": P.weights_chart, "per_trust": P.per_trust_chart}
        if kind not in charts:
            raise ParameterError(f"plot kind {kind!r} is not allowed (expected {', '.join(charts)})")
        if kind in ("weights", "per_trust"):
            return charts[kind](self, **kwargs)
        return charts[kind](self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        return (f"<SDIDResult {self.metric} tau={self.fit.estimate:.4g} se={self.var.se:.4g} "
                f"({self.var.method}) comparators={self.n_comparators}>")


def _provenance(res) -> dict:
    import evallib

    return {"evallib_version": evallib.__version__, "data_file": res.data_file, "data_sha256": res.data_sha256,
            "params": res.params.to_yaml_dict(), "created": created_timestamp()}


def _table(params, table):
    from evallib.data.table import as_table, load_table

    return load_table(params.data) if table is None else as_table(table)


def params_key(params, drop: Sequence[str] = ()) -> str:
    """The canonical JSON of ``params`` (sorted keys), without the keys ``drop``, and the membership table's
    size and time: the memo key of a fit."""
    import json

    import os

    d = params.to_yaml_dict()
    for k in drop:
        d.pop(k, None)
    if getattr(params, "memberships", None) is not None:     # an edited membership table is a new fit
        try:
            st = os.stat(params.memberships)
            d["memberships_stat"] = [st.st_size, st.st_mtime_ns]
        except OSError:
            pass
    return json.dumps(d, sort_keys=True, default=str)


#: fits kept per table (``TidyTable.memo``): the aligned design's scorecard and the sensitivity set
#: ask for the same SDID fit, and a batch worker's table lives for one analysis
MEMO_SIZE = 8


def analyse_sdid(params, table=None) -> SDIDResult:
    """``design: sdid`` for ``params`` on ``table`` (TidyTable, DataFrame, or None for ``params.data``).

    The fit (panel, weights, variance, comparison estimators) is computed once per table object and
    canonical params JSON (``TidyTable.memo``); every call gets its own result object."""
    from evallib.config import as_params

    params = as_params(params)
    table = _table(params, table)
    if hasattr(table, "memo"):
        panel, fit, var, comparison, warns = table.memo("sdid", params_key(params), lambda: _fit_sdid(params, table),
                                                        maxsize=MEMO_SIZE)
    else:
        panel, fit, var, comparison, warns = _fit_sdid(params, table)
    res = SDIDResult(params=params, table=table, panel=_copy_panel(panel), fit=fit, var=var,
                     comparison=dict(comparison), warnings=list(warns))
    for m in res.warnings:
        logger.warning("%s: %s", params.analysis_id, m)
    return res


def _copy_panel(panel: SDIDPanel) -> SDIDPanel:
    import dataclasses

    return dataclasses.replace(panel, warnings=list(panel.warnings))


def _fit_sdid(params, table):
    """The SDID panel, fit, variance and comparison estimators, and the warnings so far."""
    opts = params.sdid
    panel = prepare_panel(params, table)
    n1, n_co = panel.n_treated, len(panel.codes)
    _check_variance(opts.variance, n1, n_co, panel.comparators, table.source, params.metric)
    warns = list(panel.warnings)
    Y = panel.Y()
    row_labels = panel.codes + panel.units
    fit = S.sdid(Y, n1, panel.T0, units=row_labels, periods=panel.kept_labels)
    fits = {k: S.sdid(Y, n1, panel.T0, estimator=k, units=row_labels, periods=panel.kept_labels) for k in ("did", "sc")}
    # one batch for the replications of all three estimators (the numbers of each alone)
    var, *others = S.sdid_variances([fit, fits["did"], fits["sc"]], opts.variance, replications=opts.replications,
                                    seed=opts.seed)
    if isinstance(var, ModelError):
        raise var
    if opts.variance == "placebo" and math.comb(n_co, n1) < opts.replications:
        warns.append(f"only {math.comb(n_co, n1)} distinct placebo assignments of {n1} of the {n_co} comparators: "
                     f"the {opts.replications} placebo replications repeat them")
    if opts.variance == "bootstrap" and n1 < BOOTSTRAP_MANY:
        warns.append(f"the bootstrap variance is reliable only with many treated units (the paper); with {n1} "
                     f"prefer sdid.variance: placebo")
    comparison = {}
    for k, v in zip(("did", "sc"), others):
        if isinstance(v, ModelError):
            warns.append(f"comparison estimator {k}: no {opts.variance} standard error ({v})")
            v = None
        comparison[k] = (fits[k], v)
    return panel, fit, var, comparison, warns


# =========================================================================== per-trust synthetic controls
class PerTrustResult(_PanelResult):
    """Result of ``design: synthetic`` with ``synthetic: {per_trust: true}`` (see the module docstring)."""

    def __init__(self, *, params, table, panel: SDIDPanel, pu: S.PerUnitSC, warnings: Sequence[str]):
        self._set_basics(params, table, panel.specs, warnings, design="synthetic", method="per_trust",
                         model="synthetic control per trust")
        self.panel = panel
        self.pu = pu
        self._effect_records(self.horizons, self.alpha)

    _who = "synthetic per_trust"
    evaluated = SDIDResult.evaluated
    n_obs = SDIDResult.n_obs
    n_comparators = SDIDResult.n_comparators
    periods_fitted = SDIDResult.periods_fitted
    _full = SDIDResult._full
    _interval = SDIDResult._interval

    @property
    def T0(self) -> int:
        return self.panel.T0

    def trust_gaps(self) -> pd.DataFrame:
        """Each trust's gap to its own synthetic control; rows the kept periods, columns the trust codes."""
        return pd.DataFrame(self.pu.gaps.T, index=pd.Index(self.panel.kept_labels, name="period"),
                            columns=self.panel.units)

    @property
    def system_effects(self) -> np.ndarray:
        return self.pu.effects

    @property
    def counterfactual_series(self) -> np.ndarray:
        """System observed minus the combined gap (all kept periods)."""
        return self._full(self.panel.observed[self.panel.keep] - self.pu.system_gap)

    def _rank_p(self, est: float, reps: np.ndarray) -> float:
        reps = np.asarray(reps, dtype=float)
        return float((1 + np.sum(np.abs(reps) >= abs(est))) / (reps.size + 1)) if reps.size else float("nan")

    def _effect_records(self, horizons: Sequence[int], alpha: float) -> list[dict]:
        p, pu = self.panel, self.pu
        iP = p.formation
        z = _z(alpha)
        cf_all = self.counterfactual_series
        cum_reps = np.cumsum(pu.effects_replicates, axis=1)
        cum = np.cumsum(pu.effects)
        recs = []
        for h in horizons:
            i = self._kept_index(h)
            j = None if i is None else self._post_index(i)
            if j is None:
                continue
            e, se = float(pu.effects[j]), float(pu.effects_se[j])
            absolute = (e, se, e - z * se, e + z * se, float(pu.effects_p[j]))
            c = float(cf_all[i])
            relative = ((absolute[0] / c, absolute[1] / c, absolute[2] / c, absolute[3] / c, absolute[4])
                        if c > 0 else (float("nan"),) * 5)
            cse = float(np.std(cum_reps[:, j], ddof=0))
            cumulative = (float(cum[j]), cse, float(cum[j] - z * cse), float(cum[j] + z * cse),
                          self._rank_p(cum[j], cum_reps[:, j]))
            recs.append({"interruption": self.evaluated.name, "horizon": int(h), "period": p.labels[i],
                         "observed": float(p.observed[i]), "fitted": float(p.observed[i]), "counterfactual": c,
                         "credible": bool(np.isfinite(c)), "absolute": absolute, "relative": relative,
                         "cumulative": cumulative})
        return recs

    def counterfactual(self, interruption: str | None = None, alpha: float | None = None) -> pd.DataFrame:
        """Frame: period, observed, fitted, counterfactual, cf_lower, cf_upper, in_fit (system level)."""
        self._interruption(interruption)
        a = self._alpha(alpha)
        p, pu = self.panel, self.pu
        cf = self.counterfactual_series
        lo = np.full(len(p.labels), np.nan)
        hi = np.full(len(p.labels), np.nan)
        z = _z(a)
        post = np.flatnonzero(p.keep & (np.arange(len(p.labels)) >= p.formation))
        lo[post] = p.observed[post] - (pu.effects + z * pu.effects_se)
        hi[post] = p.observed[post] - (pu.effects - z * pu.effects_se)
        fitted = np.where(np.arange(len(p.labels)) < p.formation, cf, p.observed)
        return pd.DataFrame({"period": p.labels, "observed": p.observed, "fitted": fitted, "counterfactual": cf,
                             "cf_lower": lo, "cf_upper": hi, "in_fit": p.keep.astype(bool)})

    def summary_frame(self, alpha: float | None = None) -> pd.DataFrame:
        """Group ``difference``: the system gap's mean over the post-period, with the placebo SD as SE, a
        normal interval and the placebo-rank p-value."""
        a = self._alpha(alpha)
        z = _z(a)
        pu = self.pu
        name = self.evaluated.name
        rows = [{"group": "difference", "term": f"mean_effect[{name}]", "estimate": pu.estimate, "se": pu.se,
                 "ci_lower": pu.estimate - z * pu.se, "ci_upper": pu.estimate + z * pu.se, "p": pu.p}]
        return pd.DataFrame(rows, columns=["group", "term", "estimate", "se", "ci_lower", "ci_upper", "p"])

    @property
    def coefficients(self) -> pd.DataFrame:
        return self.summary_frame()

    def robustness(self) -> pd.DataFrame:
        return pd.DataFrame(columns=["model", "group", "term", "estimate", "se", "ci_lower", "ci_upper", "p", "note"])

    def counterfactual_phrase(self, name: str) -> str:
        return "each trust's own synthetic control (comparators weighted to match it before formation), combined"

    def diagnostics(self) -> dict:
        p, pu = self.panel, self.pu
        return {"method": "per_trust", "combine": pu.combine, "system": p.combine,
                "combine_weights": dict(zip(p.units, [float(x) for x in pu.combine_weights])),
                "units": list(p.units), "n_comparators": self.n_comparators, "comparators_used": list(p.codes),
                "comparators_dropped": dict(p.comparators.dropped), "comparator_rule": p.comparators.rule,
                "pre_rmspe": dict(zip(p.units, [float(x) for x in pu.pre_rmspe])),
                "replications": pu.replications, "seed": pu.seed, "zeta": pu.zeta, "noise_level": pu.noise_level,
                "n_pre": self.T0, "n_post": int(pu.effects.size),
                "left_out": [lab for lab, k in zip(p.labels, p.keep) if not k]}

    def to_dict(self) -> dict:
        from evallib.its.results import json_safe

        p, pu = self.panel, self.pu
        first, last = self.periods_fitted
        groups: dict = {}
        for r in self.summary_frame().to_dict("records"):
            groups.setdefault(r["group"], {})[r["term"]] = {"estimate": r["estimate"], "se": r["se"],
                                                             "ci": [r["ci_lower"], r["ci_upper"]], "p": r["p"]}
        z = _z(self.alpha)
        trusts = {}
        for k, u in enumerate(p.units):
            trusts[u] = {"name": p.names.get(u, u),
                         "weights": {c: float(w) for c, w in zip(p.codes, pu.weights[k]) if w > 0},
                         "pre_rmspe": float(pu.pre_rmspe[k]), "combine_weight": float(pu.combine_weights[k]),
                         "gap": {lab: float(g) for lab, g in zip(p.kept_labels, pu.gaps[k])}}
        doc = {
            "schema": SCHEMA, "title": self.title, "metric": self.metric, "model": self.model,
            "design": "synthetic", "method": "per_trust", "n_obs": self.n_obs,
            "periods": {"first": first, "last": last}, "groups": groups,
            "synthetic": {"per_trust": True, "combine": pu.combine, "system": p.combine,
                          "estimate": {"estimate": pu.estimate, "se": pu.se,
                                       "ci": [pu.estimate - z * pu.se, pu.estimate + z * pu.se], "p": pu.p},
                          "inference": "placebo", "replications": pu.replications, "seed": pu.seed,
                          "trusts": trusts, "comparators": p.comparators_block()},
            "effects": self.effect_dicts(),
            "diagnostics": self.diagnostics(),
            "warnings": list(self.warnings),
            "provenance": _provenance(self),
        }
        return json_safe(doc)

    def summary(self) -> str:
        p, pu = self.panel, self.pu
        lines = [f"{self.title}: one synthetic control per trust ({p.n_treated} trusts, {self.n_comparators} "
                 f"comparators), combined by {pu.combine}; placebo inference ({pu.replications} systems, seed {pu.seed})"]
        for k, u in enumerate(p.units):
            top = sorted(zip(pu.weights[k], p.codes), reverse=True)[:3]
            lines.append(f"  {u}: pre-RMSPE {W.approx(pu.pre_rmspe[k])}, mean post gap "
                         f"{W.approx(float(pu.gaps[k, self.T0:].mean()))}; weights "
                         + ", ".join(f"{c} {w:.2f}" for w, c in top if w > 0))
        lines.append(f"  system effect (mean over the post-period) {W.approx(pu.estimate)} (placebo se "
                     f"{W.approx(pu.se)}, p = {pu.p:.3f})")
        for r in self.effects().to_dict("records"):
            lines.append(f"  h={r['horizon']:>3} {r['period']}: observed {W.approx(r['observed'])}, expected "
                         f"{W.approx(r['counterfactual'])}, effect {W.approx(r['absolute'])} "
                         f"[{W.approx(r['absolute_lower'])}, {W.approx(r['absolute_upper'])}] p={r['absolute_p']:.3f}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def plot(self, ax=None, kind: str = "per_trust", **kwargs):
        """``kind``: per_trust (each trust's gap and the system effect) or fit (system observed and expected)."""
        from evallib.plots import sdid as P

        if kind == "per_trust":
            return P.per_trust_chart(self, **kwargs)
        if kind == "fit":
            return P.sdid_chart(self, ax=ax, **kwargs)
        raise ParameterError(f"plot kind {kind!r} is not allowed (expected per_trust or fit)")

    def __repr__(self) -> str:
        return (f"<PerTrustResult {self.metric} trusts={self.panel.n_treated} estimate={self.pu.estimate:.4g} "
                f"p={self.pu.p:.3g}>")


def analyse_per_trust(params, table=None) -> PerTrustResult:
    """One synthetic control per treated trust, combined into the system effect (module docstring)."""
    from evallib.config import as_params

    params = as_params(params)
    table = _table(params, table)
    if params.synthetic.fit_before is not None:
        raise ParameterError(f"synthetic.fit_before {params.synthetic.fit_before}: per_trust fits every trust before "
                             f"the last interruption ({params.interruptions[-1].name}); remove fit_before or "
                             f"per_trust")
    panel = prepare_panel(params, table, who="synthetic per_trust")
    n1, n_co = panel.n_treated, len(panel.codes)
    if n_co <= n1:
        raise ModelError(f"{table.source}: synthetic per_trust: {n_co} eligible comparator(s) of {params.metric} "
                         f"found for {n1} treated unit(s); placebo inference needs at least {n1 + 1}: add comparators "
                         f"or use comparator_types: any")
    if params.aggregate == "ratio":
        combine = panel.shares
        panel.combine = ("ratio of sums: each trust's gap weighted by its share of the system's denominator over the "
                         "pre-period")
    else:
        combine = params.aggregate
        panel.combine = "sum of the trusts' gaps" if combine == "sum" else "mean of the trusts' gaps"
    Yown = np.vstack([panel.Yc[:, panel.keep], panel.Yt[:, panel.keep]])
    pu = S.per_unit_sc(Yown, n1, panel.T0, combine=combine, replications=params.sdid.replications,
                       seed=params.sdid.seed, units=panel.codes + panel.units, periods=panel.kept_labels)
    res = PerTrustResult(params=params, table=table, panel=panel, pu=pu, warnings=panel.warnings)
    for m in res.warnings:
        logger.warning("%s: %s", params.analysis_id, m)
    return res
