"""The sensitivity set for one analysis: one table and one chart.

``sensitivity(params, table=None)`` refits the analysis under each specification
below with :func:`evallib.analyse` (``params.model_copy(update=...)``) and reports the
effect of the *target* interruption (``collaborative`` when present, else the last
one) at ``horizon`` periods (default 12) with its interval:

=================  ==========================================================
group              specification
=================  ==========================================================
primary            the params as given
washout            ``params.washout`` (default 2020-03/2021-03) added to
                   ``exclude``; other interruptions dated inside the wash-out
                   are dropped (their segment has no data left), the target is
                   kept and measured from the end of the wash-out
date               the target's date moved by -3 and +3 periods (``shifts``);
                   the effect is at ``horizon`` after the *moved* date
estimator          continuous outcomes: the other two of ols-hac,
                   prais-winsten, arima; counts and proportions (GLMs): ols-hac
design             controlled or synthetic primary: the single-group ITS (and
                   the other comparator design); single primary with
                   comparators given: the controlled design
=================  ==========================================================

A specification that cannot be fitted is kept as a row with its ``error`` (the
``EvalError`` message) and missing estimates: the set never stops at one failure.

``.placebo``: placebo interruption dates across the clean pre-period (before the
first real interruption). The window ends just before the first interruption, a
single interruption named ``placebo`` (the target's terms) is placed at each date D
that leaves ``min_pre`` periods before it and ``horizon`` periods after it, and its
effect at ``horizon`` is estimated with the primary design and model (the data prepared once
and the dates fitted together, see :func:`placebo_dates`). With no
intervention these estimates show how large an "effect" the method finds by
chance; the real estimate is marked beside them. At most ``max_placebos`` dates,
evenly spread. Empty (with a note) when the pre-period is too short, e.g. on
series starting 14 months before COVID-19.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evallib.exceptions import EvalError, ParameterError
from evallib.its.aligned import AlignedResult
from evallib.periods import format_period, parse_period, parse_range

logger = logging.getLogger(__name__)

CONTINUOUS = ("ols-hac", "prais-winsten", "arima")
TABLE_COLUMNS = ["group", "specification", "design", "model", "date", "horizon", "period", "absolute",
                 "absolute_lower", "absolute_upper", "absolute_p", "relative", "relative_lower",
                 "relative_upper", "note", "error"]
PLACEBO_COLUMNS = ["date", "period", "absolute", "absolute_lower", "absolute_upper", "absolute_p", "relative",
                   "relative_lower", "relative_upper", "error"]


@dataclass
class SensitivityResult:
    """``table`` (one row per specification), ``placebo`` (placebo dates), the primary result."""

    table: pd.DataFrame
    placebo: pd.DataFrame
    primary: object
    target: str
    horizon: int
    notes: list[str] = field(default_factory=list)

    @property
    def real_estimate(self) -> float:
        r = self.table[self.table["group"] == "primary"]
        return float(r["absolute"].iloc[0]) if len(r) else float("nan")

    @property
    def placebo_p(self) -> float | None:
        """Share of placebo estimates at least as large in absolute value as the real one (+1/+1)."""
        est = self.placebo["absolute"].dropna().to_numpy()
        if est.size == 0 or not np.isfinite(self.real_estimate):
            return None
        return float((1 + np.sum(np.abs(est) >= abs(self.real_estimate))) / (est.size + 1))

    def plot(self, ax=None, title: str | None = None):
        """One chart: specifications as dots and whiskers, and the placebo distribution below.

        Returns ``(fig, axes)``; both panels share the effect axis.
        """
        from evallib.plots.sensitivity import sensitivity_plot

        return sensitivity_plot(self, title=title)

    def get_plot_data(self) -> pd.DataFrame:
        return self.table.copy()


# ============================================================================ specs
def _target(params, target: str | None):
    names = [i.name for i in params.interruptions]
    name = target or ("collaborative" if "collaborative" in names else names[-1])
    if name not in names:
        raise ParameterError(f"sensitivity target {name!r} is not in params.interruptions {names}")
    return name


def _with_date(params, name: str, shift: int):
    from evallib.config import Interruption

    ints = []
    for i in params.interruptions:
        if i.name == name:
            d = parse_period(i.date) + shift
            ints.append(Interruption(name=i.name, date=format_period(d), terms=list(i.terms),
                                     transition=i.transition))
        else:
            ints.append(i)
    dates = [parse_period(i.date) for i in ints]
    if any(dates[k] <= dates[k - 1] for k in range(1, len(dates))):
        raise ParameterError(f"moving {name} by {shift:+d} periods to {format_period(dates[_names_index(ints, name)])} "
                             f"puts it at or before another interruption")
    return params.model_copy(update={"interruptions": ints})


def _names_index(ints, name):
    return [i.name for i in ints].index(name)


def _washout(params, name: str):
    lo, hi = parse_range(params.washout)
    ints = [i for i in params.interruptions
            if i.name == name or not (lo <= parse_period(i.date) <= hi)]
    dropped = [i.name for i in params.interruptions if i not in ints]
    upd = {"exclude": list(params.exclude) + [params.washout], "interruptions": ints}
    note = f"excludes {params.washout}" + (f"; drops {', '.join(dropped)} (dated inside it)" if dropped else "")
    return params.model_copy(update=upd), note


def specifications(params, primary, target: str) -> list[tuple[str, str, object, str]]:
    """(group, label, params, note) for every non-primary specification."""
    out = []
    p, note = _washout(params, target)
    out.append(("washout", f"wash-out {params.washout}", p, note))
    for s in (-3, 3):
        try:
            p = _with_date(params, target, s)
            d = p.interruption(target).date
            out.append(("date", f"{target} date {s:+d} ({d})", p, ""))
        except ParameterError as exc:
            out.append(("date", f"{target} date {s:+d}", None, str(exc)))
    model = primary.model
    design = primary.design
    if design != "synthetic":
        alts = [m for m in CONTINUOUS if m != model] if model in CONTINUOUS else ["ols-hac"]
        for m in alts:
            out.append(("estimator", f"estimator {m}", params.model_copy(update={"model": m}), ""))
    # with not_yet_treated every design keeps it: each uses a comparator only up to the period before it
    # joins a collaborative (aligned, stacked, synthetic and sdid alike), so none reads a later row
    designs = []
    if design in ("controlled", "synthetic"):
        designs = ["single", "synthetic" if design == "controlled" else "controlled"]
    elif params.comparators != "none":
        designs = ["controlled", "synthetic"]
    for d in designs:
        upd = {"design": d}
        if d == "single":
            upd["comparators"] = "none"
        if d == "synthetic":
            upd["model"] = None
        out.append(("design", f"design {d}", params.model_copy(update=upd), ""))
    if isinstance(primary, AlignedResult):
        # the straight-segment comparative ITS (Linden 2015) beside the comparator-aligned default
        out.append(("design", "design controlled (stacked segments)",
                    params.model_copy(update={"controlled_method": "stacked"}), ""))
        out.append(("design", "design sdid (synthetic difference-in-differences)",
                    params.model_copy(update={"design": "sdid"}), ""))
    return out


def _effect_row(res, target: str, horizon: int) -> dict:
    eff = res.effects([horizon])
    eff = eff[eff["interruption"] == target]
    if eff.empty:
        raise EvalError(f"no {horizon}-period effect for {target} (past the end of the data)")
    r = eff.iloc[0]
    return {"period": r["period"], "absolute": r["absolute"], "absolute_lower": r["absolute_lower"],
            "absolute_upper": r["absolute_upper"], "absolute_p": r.get("absolute_p", np.nan),
            "relative": r["relative"], "relative_lower": r["relative_lower"],
            "relative_upper": r["relative_upper"]}


def _row(group, label, params, res, target, horizon, note="", error=""):
    row = {"group": group, "specification": label,
           "design": res.design if res is not None else (params.resolved_design if params is not None else None),
           "model": res.model if res is not None else (params.model if params is not None else None),
           "date": params.interruption(target).date if params is not None else None,
           "horizon": horizon, "note": note, "error": error}
    if res is not None and not error:
        try:
            row.update(_effect_row(res, target, horizon))
        except EvalError as exc:
            row["error"] = str(exc)
    return row


# ============================================================================ placebo dates
PLACEBO_MODELS = ("ols-hac", "prais-winsten", "arima", "poisson", "quasipoisson", "negbin", "binomial",
                  "quasibinomial")


def _placebo_setup(params, table, primary, target: str, horizon: int, min_pre: int, max_placebos: int):
    """``(dates, specifications, notes)``: the placebo dates and one params per date (module docstring)."""
    from evallib.config import Interruption

    notes: list[str] = []
    first_int = parse_period(params.interruptions[0].date)
    f = table.for_metric(params.metric)
    have = sorted({parse_period(p) for p in f[f["org_code"].isin(params.units)]["period"]})
    start = parse_period(params.start) if params.start else have[0]
    end = first_int - 1
    tgt = params.interruption(target)
    lo = start + min_pre
    hi = end - horizon
    if hi < lo:
        notes.append(f"no placebo dates: the pre-period {format_period(start)}..{format_period(end)} is shorter "
                     f"than {min_pre} + {horizon} periods")
        return [], [], notes
    cands = list(pd.period_range(lo, hi, freq=lo.freq))
    if len(cands) > max_placebos:
        idx = np.unique(np.round(np.linspace(0, len(cands) - 1, max_placebos)).astype(int))
        cands = [cands[i] for i in idx]
    upd_model = primary.model if primary.model in PLACEBO_MODELS else params.model
    specs = [params.model_copy(update={
        "start": format_period(start), "end": format_period(end),
        "interruptions": [Interruption(name="placebo", date=format_period(d), terms=list(tgt.terms))],
        "model": upd_model, "horizons": [horizon]}) for d in cands]
    obs = f[f["org_code"].isin(params.units)].groupby("period")["value"].sum()
    pre_level = obs[(obs.index >= format_period(start)) & (obs.index <= format_period(end))].abs().mean()
    post_level = obs[obs.index >= tgt.date].abs().mean()
    if np.isfinite(pre_level) and np.isfinite(post_level) and post_level > 0 and pre_level < 0.2 * post_level:
        notes.append(f"the series was {post_level / max(pre_level, 1e-300):,.0f} times smaller in the placebo window "
                     f"than after {target}: compare relative, not absolute, placebo effects")
    return [format_period(d) for d in cands], specs, notes


def _placebo_frame(dates, results, horizon: int) -> pd.DataFrame:
    rows = []
    for d, res in zip(dates, results):
        try:
            if isinstance(res, EvalError):
                raise res
            r = _effect_row(res, "placebo", horizon)
            rows.append({"date": d, **{k: r[k] for k in PLACEBO_COLUMNS[1:-1]}, "error": ""})
        except EvalError as exc:
            rows.append({"date": d, "period": None, **{k: np.nan for k in PLACEBO_COLUMNS[2:-1]},
                         "error": str(exc)})
    return pd.DataFrame(rows, columns=PLACEBO_COLUMNS)


def _aligned_batch(specs, table) -> list:
    """The aligned design at every placebo date: the treated series combined and the model chosen
    once; each date's fit runs its placebo systems in one batched computation
    (:func:`evallib.its.aligned.fit_aligned`). The dates are fitted one after another: each has
    its own pre-formation rows, hence its own comparator eligibility (complete series, volume),
    size-matched placebo draw and rescaling, and the batched numerics
    (:func:`evallib.stats.aligned.infer`) take one set of pre-formation rows per call."""
    from evallib.its.aligned import AlignedResult, fit_aligned
    from evallib.its.series import combine_units
    from evallib.its.single import choose_model, interruption_specs

    p0 = specs[0]
    try:
        treated = combine_units(table, p0.metric, p0.units, p0.aggregate, p0.start, p0.end)
        interruption_specs(p0, treated)
        if p0.hac_lags not in ("auto",):
            raise ParameterError(f"hac_lags {p0.hac_lags!r}: the aligned design has no Newey-West covariance "
                                 f"(inference is by placebo systems); remove hac_lags or use controlled_method: "
                                 f"stacked")
        model, reason = choose_model(p0, treated)
    except EvalError as exc:
        return [exc] * len(specs)
    out = []
    for p in specs:
        try:
            ints = interruption_specs(p, treated)
            af = fit_aligned(p, table, model=model, treated=treated)
            out.append(AlignedResult(params=p, table=table, af=af, specs=ints, model=model, model_reason=reason,
                                     warnings=af.warnings))
        except EvalError as exc:
            out.append(exc)
    return out


def _fit_specs(specs, table) -> list:
    """One result (or the EvalError) per placebo specification, batched by design family."""
    from evallib import analyse
    from evallib.its.controlled import analyse_controlled_batch
    from evallib.its.single import analyse_single_batch

    design = specs[0].resolved_design
    if design == "single":
        return analyse_single_batch(specs, table)
    if design == "controlled" and specs[0].controlled_method == "aligned":
        return _aligned_batch(specs, table)
    if design == "controlled":
        return analyse_controlled_batch(specs, table)
    out = []      # synthetic control and sdid: one analysis per date
    for p in specs:
        try:
            out.append(analyse(p, data=table))
        except EvalError as exc:
            out.append(exc)
    return out


def placebo_dates(params, table, primary, target: str, horizon: int, *, min_pre: int = 12,
                  max_placebos: int = 12) -> tuple[pd.DataFrame, list[str]]:
    """Placebo interruptions across the clean pre-period (see the module docstring).

    The data are prepared once and the dates estimated together, by design family:

    - single-group ITS (:func:`evallib.its.single.analyse_single_batch`): the series combined
      and the model chosen once, one design per date, all fitted in one batched computation
      for ols-hac, prais-winsten and the Poisson and binomial GLMs (quasi or not); arima,
      negbin and ``hac_lags: prewhite`` are fitted date by date, because each is a numerical
      optimisation (or a data-driven bandwidth) per series that has no honest batched form
      (:func:`evallib.its.estimators.fit_designs`);
    - stacked and difference controlled designs (:func:`evallib.its.controlled.analyse_controlled_batch`):
      the treated series and the comparator panel prepared once; stacked fits batched (panel
      Newey–West / panel GLM sandwich / panel Prais–Winsten; negbin and Driscoll–Kraay date by
      date), the difference method date by date on the prepared data;
    - the comparator-aligned design (:func:`_aligned_batch`): the treated series once, each
      date's placebo systems in one batched computation;
    - synthetic control and sdid: one :func:`evallib.analyse` per date.

    The numbers are those of :func:`_placebo_dates_per_analysis` (one ``analyse()`` per date)
    to 1e-8 relative (tests/test_placebo_batch.py).
    """
    dates, specs, notes = _placebo_setup(params, table, primary, target, horizon, min_pre, max_placebos)
    if not specs:
        return pd.DataFrame(columns=PLACEBO_COLUMNS), notes
    return _placebo_frame(dates, _fit_specs(specs, table), horizon), notes


def _placebo_dates_per_analysis(params, table, primary, target: str, horizon: int, *, min_pre: int = 12,
                                max_placebos: int = 12) -> tuple[pd.DataFrame, list[str]]:
    """The reference path: each placebo date refitted through :func:`evallib.analyse` (data
    preparation, eligibility and inference per date). Kept to check :func:`placebo_dates`
    (tests/test_placebo_batch.py) and to time it (benchmarks/placebo_dates.py)."""
    from evallib import analyse

    dates, specs, notes = _placebo_setup(params, table, primary, target, horizon, min_pre, max_placebos)
    if not specs:
        return pd.DataFrame(columns=PLACEBO_COLUMNS), notes
    results = []
    for p in specs:
        try:
            results.append(analyse(p, data=table))
        except EvalError as exc:
            results.append(exc)
    return _placebo_frame(dates, results, horizon), notes


# ============================================================================ entry point
def sensitivity(params, table=None, *, target: str | None = None, horizon: int = 12,
                placebo: bool = True, min_pre: int = 12, max_placebos: int = 12,
                primary=None) -> SensitivityResult:
    """The sensitivity set (module docstring). ``primary``: an already fitted primary result."""
    from evallib import analyse
    from evallib.config import as_params
    from evallib.data.table import as_table, load_table

    params = as_params(params)
    tt = load_table(params.data) if table is None else as_table(table)
    name = _target(params, target)
    if horizon < 0:
        raise ParameterError(f"horizon {horizon} must be 0 or more")
    if primary is None:
        primary = analyse(params, data=tt)
    pd_, pm_ = primary.design, primary.model
    label = "primary (synthetic control)" if pd_ == "synthetic" else f"primary ({pd_}, {pm_})"
    rows = [_row("primary", label, params, primary, name, horizon)]
    for group, label, p, note in specifications(params, primary, name):
        if p is None:
            rows.append(_row(group, label, None, None, name, horizon, error=note))
            continue
        try:
            res = analyse(p, data=tt)
            rows.append(_row(group, label, p, res, name, horizon, note=note))
        except EvalError as exc:
            logger.info("sensitivity %s failed: %s", label, exc)
            rows.append(_row(group, label, p, None, name, horizon, note=note, error=str(exc)))
    table_df = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    notes: list[str] = []
    if placebo:
        plc, notes = placebo_dates(params, tt, primary, name, horizon, min_pre=min_pre,
                                   max_placebos=max_placebos)
    else:
        plc = pd.DataFrame(columns=PLACEBO_COLUMNS)
    return SensitivityResult(table=table_df, placebo=plc, primary=primary, target=name, horizon=horizon,
                             notes=notes)


# ============================================================================ chart
