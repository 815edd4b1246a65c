"""The single-group ITS (:func:`analyse_single`) and the data preparation every design shares:
the model choice (:func:`choose_model`), the interruptions checked against the window
(:func:`interruption_specs`) and the outcome arrays for a model (:func:`outcome_arrays`).
``evallib.its.analysis.analyse`` dispatches to the designs.

Model choice when ``model`` is not given (docs/contracts.md §2), always reported (a log
line, ``diagnostics.model_choice`` and the summary):

1. ``quasibinomial`` when the treated series has numerator and denominator values;
2. ``quasipoisson`` when every value is a non-negative integer (a count);
3. ``ols-hac`` otherwise.

Guard rails (each a ParameterError, or a warning in ``result.warnings``):

- an interruption outside the data window (before/at the first period, or after the last);
- two interruptions at the same period (their terms would be collinear);
- a segment (between consecutive interruptions) with no usable values, or fewer
  than 3 (error); fewer than 8 is a warning;
- a model that needs a denominator (binomial families) when the data have none;
- any other perfect collinearity, naming the columns.

Binomial models always use the summed numerators and denominators of the units
(whatever ``aggregate`` says), and report the observed value on the metric's own
scale (percent when the values are 100 * numerator / denominator).

"Usable" rows are in the window, not excluded, not in a transition, and have a
finite outcome (and numerator/denominator where the model needs them). ``t = 0`` is
the first usable period.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from evallib.config import Params, as_params
from evallib.exceptions import EvalError, ParameterError
from evallib.its import design as D
from evallib.its import estimators as E
from evallib.its.results import ITSResult, PredictionRows
from evallib.data.checks import check_informative
from evallib.its.series import Series, combine_units
from evallib.metrics import metric_info
from evallib.periods import format_period, parse_period

logger = logging.getLogger(__name__)

MIN_SEGMENT = 3
WARN_SEGMENT = 8


def choose_model(params: Params, series: Series) -> tuple[str, str]:
    """``(model, reason)``: ``params.model`` when given, else the docs/contracts.md §2 default.

    The default is chosen from ``series`` (the treated units combined): quasibinomial
    when it has numerator and denominator values, quasipoisson when every non-missing
    value is a non-negative whole number, ols-hac otherwise (also when every value is
    missing). ``reason`` is the sentence reported in ``diagnostics.model_choice``.
    """
    if params.model is not None:
        return params.model, f"{params.model} as given in the params"
    f = series.frame
    if series.has_ratio:
        return "quasibinomial", (f"model not given: quasibinomial because {params.metric} has numerator and "
                                 f"denominator columns")
    v = f["value"].dropna().to_numpy()
    if len(v) and np.all(v >= 0) and np.all(np.equal(np.round(v), v)):
        return "quasipoisson", (f"model not given: quasipoisson because every value of {params.metric} is a "
                                f"non-negative integer (a count)")
    return "ols-hac", f"model not given: ols-hac because {params.metric} is continuous"


def interruption_specs(params: Params, series: Series) -> list[D.InterruptionSpec]:
    """``params.interruptions`` as InterruptionSpecs, checked against the series' window.

    ParameterError (naming ``interruptions[k]`` and the fix) for a date that cannot be
    parsed, is after the last period, is at or before the first period (there must be a
    pre-interruption segment), or repeats an earlier interruption's date.
    """
    labels = list(series.frame["period"])
    first, last = parse_period(labels[0], series.freq), parse_period(labels[-1], series.freq)
    specs = []
    for k, intr in enumerate(params.interruptions):
        try:
            p = parse_period(intr.date, series.freq)
        except ValueError as exc:
            raise ParameterError(f"interruptions[{k}].date: {exc}") from None
        if p > last:
            raise ParameterError(f"interruptions[{k}].date {intr.date} is after the last period "
                                 f"{format_period(last)} of {params.metric}")
        if p <= first:
            raise ParameterError(f"interruptions[{k}].date {intr.date} is not after the first period "
                                 f"{format_period(first)} of {params.metric}: there must be a pre-interruption "
                                 f"segment")
        for j, prev in enumerate(specs):
            if prev.period == p:
                raise ParameterError(
                    f"interruptions[{j}] ({prev.name}) and interruptions[{k}] ({intr.name}) are both at "
                    f"{intr.date}: their terms would be perfectly collinear; merge them or move one")
        specs.append(D.InterruptionSpec(intr.name, p, tuple(intr.terms), int(intr.transition)))
    return specs


def outcome_arrays(model: str, series: Series, metric: str, source: str):
    """``(y, numerator, denominator, observed, scale, offset)`` over the series' window, for ``model``.

    - binomial models: ``y`` None, numerator and denominator, ``observed`` =
      scale * numerator / denominator with ``scale`` the series' (100 for a percentage
      metric), ``offset`` None. ParameterError (naming ``metric`` and ``source``) when
      the series has no numerator/denominator;
    - count models: ``y`` = value, the denominator and ``offset`` = log(denominator)
      when any denominator exists (exposure), else both None;
    - linear models: ``y`` = ``observed`` = value, no numerator, denominator or offset.

    Missing values stay NaN (the caller decides which rows are usable); scale is 1
    except for binomial models.
    """
    f = series.frame
    value = f["value"].to_numpy(dtype=float)
    num = f["numerator"].to_numpy(dtype=float)
    den = f["denominator"].to_numpy(dtype=float)
    if model in E.BINOMIAL_MODELS:
        if not series.has_ratio:
            raise ParameterError(f"model {model} needs numerator and denominator columns, but {metric} has none "
                                 f"for units {series.units} in {source}; use quasipoisson for counts or ols-hac")
        scale = series.scale or (100.0 if metric_info(metric).unit == "%" else 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            observed = scale * num / den
        return None, num, den, observed, scale, None
    if model in E.COUNT_MODELS:
        offset = None
        use_den = None
        if np.isfinite(den).any():
            use_den = den
            with np.errstate(divide="ignore", invalid="ignore"):
                offset = np.log(den)
        return value, None, use_den, value, 1.0, offset
    return value, None, None, value, 1.0, None


@dataclass
class SeriesInputs:
    """What every fit of one treated series shares: the series, the model and its outcome arrays."""

    series: Series
    warnings: list[str]
    model: str
    reason: str
    y: np.ndarray | None
    numerator: np.ndarray | None
    denominator: np.ndarray | None
    observed: np.ndarray
    scale: float
    offset: np.ndarray | None
    periods: list = None       # the series' periods, parsed once

    def __post_init__(self):
        if self.periods is None:
            self.periods = self.series.periods


@dataclass
class DesignInputs:
    """One specification's design on that series: the rows in the fit and the fit's data."""

    specs: list
    design: D.Design
    usable: np.ndarray
    columns: list[str]
    X: np.ndarray          # every row of the window
    Xf: np.ndarray         # the fitted rows
    warnings: list[str]
    fit_data: dict


def series_inputs(params: Params, table) -> SeriesInputs:
    """The treated units combined, the model chosen (and logged) and the outcome arrays checked."""
    series = combine_units(table, params.metric, params.units, params.aggregate, params.start, params.end)
    model, reason = choose_model(params, series)
    if params.model is None:
        logger.warning("%s: %s", params.analysis_id, reason)
    else:
        logger.info("%s: %s", params.analysis_id, reason)
    interruption_specs(params, series)   # its guard rails come before the outcome checks
    y, num, den, observed, scale, offset = outcome_arrays(model, series, params.metric, table.source)
    check_informative(observed, params.metric, table.source)   # a constant series cannot inform a change
    return SeriesInputs(series=series, warnings=list(series.warnings), model=model, reason=reason, y=y,
                        numerator=num, denominator=den, observed=observed, scale=scale, offset=offset)


def design_inputs(params: Params, si: SeriesInputs) -> DesignInputs:
    """The design of ``params`` on the series of ``si``, with the segment and collinearity guard rails."""
    series, model, y, num, den = si.series, si.model, si.y, si.numerator, si.denominator
    specs = interruption_specs(params, series)
    periods = si.periods
    des = D.build_design(periods, specs, seasonality=params.seasonality, exclude=params.exclude)
    warns = list(si.warnings) + list(des.warnings)
    finite = np.isfinite(y) if y is not None else (np.isfinite(num) & np.isfinite(den) & (den > 0))
    if den is not None and model in E.COUNT_MODELS:
        finite &= np.isfinite(den) & (den > 0)
    usable = des.in_fit & finite

    # segment guard rails
    for name, lo, hi in D.segments(periods, specs):
        inseg = np.array([lo <= p <= hi for p in periods])
        k = int((usable & inseg).sum())
        where = f"segment {name} ({format_period(lo)} to {format_period(hi)})"
        if k == 0:
            raise ParameterError(f"{where} of {params.metric} has no usable values (all missing, excluded or in a "
                                 f"transition); move the interruption or shorten exclude")
        if k < MIN_SEGMENT:
            raise ParameterError(f"{where} of {params.metric} has {k} usable point(s); at least {MIN_SEGMENT} are "
                                 f"needed to estimate a level and trend")
        if k < WARN_SEGMENT:
            warns.append(f"{where} has only {k} usable points (fewer than {WARN_SEGMENT}): its estimates are fragile")

    first_usable = periods[int(np.argmax(usable))]
    if first_usable != des.origin:
        des = D.build_design(periods, specs, seasonality=params.seasonality, exclude=params.exclude,
                             origin=first_usable)
    X_all = des.X
    cols = list(X_all.columns)
    X = X_all.to_numpy(dtype=float)
    Xf = X[usable]
    bad = E.collinear_columns(Xf, cols)
    if bad:
        raise ParameterError(f"the design for {params.metric} is perfectly collinear: {', '.join(bad)} cannot be "
                             f"separated from the other terms in the fitted periods; check interruptions, "
                             f"transitions, exclude and seasonality")
    if model in ("poisson", "quasipoisson", "negbin"):
        yv = y[usable]
        if np.any(yv < 0):
            raise ParameterError(f"model {model} needs non-negative counts, but {params.metric} has negative "
                                 f"values; use ols-hac")
        if not np.all(np.equal(np.round(yv), yv)):
            warns.append(f"{model} is fitted to values of {params.metric} that are not whole numbers")
    n_missing = int((des.in_fit & ~finite).sum())
    if n_missing:
        warns.append(f"{n_missing} period(s) with a missing value of {params.metric} are left out of the fit")
    fd = {"X": Xf, "y": None if y is None else y[usable],
          "numerator": None if num is None else num[usable],
          "denominator": None if den is None else den[usable],
          "hac_lags": params.hac_lags, "arima_order": tuple(params.arima_order)}
    return DesignInputs(specs=specs, design=des, usable=usable, columns=cols, X=X, Xf=Xf, warnings=warns,
                        fit_data=fd)


def single_result(params: Params, table, si: SeriesInputs, di: DesignInputs, fit: E.Fit, *,
                  slope_test: bool = True) -> ITSResult:
    """The :class:`ITSResult` of a fit of ``di`` (``slope_test``: the joint slope-change test in
    the diagnostics; for GLMs it refits the reduced model)."""
    model, fd, cols, des, usable = si.model, di.fit_data, di.columns, di.design, di.usable

    def refit(m: str, X=None) -> E.Fit:
        return E.fit(m, fd["X"] if X is None else X, fd["y"], numerator=fd["numerator"],
                     denominator=fd["denominator"], hac_lags=fd["hac_lags"], arima_order=fd["arima_order"],
                     columns=cols if X is None else None, check=X is not None)

    labels = des.labels
    diag = {"model_choice": si.reason, "aggregate": params.aggregate, "units": list(params.units),
            "seasonality": params.seasonality, "time_origin": format_period(des.origin),
            "left_out": [lab for lab, u in zip(labels, usable) if not u],
            "n_periods_window": len(si.periods)}
    if model in E.BINOMIAL_MODELS:
        diag["observed_scale"] = si.scale
    slope_cols = [c for c in cols if c.startswith("slope_change[")]
    if slope_cols and slope_test:
        diag["slope_change_test"] = slope_change_test(fit, di.Xf, cols, slope_cols, lambda X: refit(model, X))
    other = {"seasonal": {c: D.column_weights(cols, c) for c in des.seasonal_columns}} if des.seasonal_columns else {}
    rows = PredictionRows(periods=labels, X=di.X, observed=si.observed, in_fit=usable, offset=si.offset,
                          scale=si.scale)
    return ITSResult(fit=fit, columns=cols, rows=rows, terms={"treated": des.contrasts}, cf_columns=des.cf_columns,
                     interruptions=di.specs, title=params.display_title, metric=params.metric, design="single",
                     freq=si.series.freq, alpha=params.alpha, horizons=params.horizons, warnings=di.warnings,
                     other_terms=other, diagnostics_extra=diag, fit_data=fd, params=params,
                     data_file=str(table.path) if table.path else None, data_sha256=table.sha256,
                     synthetic_data=table.synthetic, refit=refit)


def analyse_single(params: Params, table) -> ITSResult:
    """Single-group ITS of the treated units combined into one series."""
    si = series_inputs(params, table)
    di = design_inputs(params, si)
    fd = di.fit_data
    fit = E.fit(si.model, di.Xf, fd["y"], numerator=fd["numerator"], denominator=fd["denominator"],
                hac_lags=params.hac_lags, arima_order=tuple(params.arima_order), columns=di.columns)
    return single_result(params, table, si, di, fit)


def analyse_single_batch(params_list, table) -> list:
    """:func:`analyse_single` for specifications that differ only in their interruptions (placebo
    dates): the series is combined and the model chosen once (from the first), each
    specification's design is built and checked, and all are fitted in one batched computation
    (:func:`evallib.its.estimators.fit_designs`; arima, negbin and ``hac_lags: prewhite`` fall
    back to one fit per design, see there). Returns, per specification, its :class:`ITSResult` or
    the :class:`~evallib.exceptions.EvalError` :func:`analyse_single` would have raised. The
    results carry no joint slope-change test for GLMs (that would be a refit per date)."""
    params_list = [as_params(p) for p in params_list]
    try:
        si = series_inputs(params_list[0], table)
    except EvalError as exc:            # the series or the model fails: every specification fails alike
        return [exc] * len(params_list)
    out: list = [None] * len(params_list)
    dis: dict[int, DesignInputs] = {}
    for j, p in enumerate(params_list):
        try:
            dis[j] = design_inputs(p, si)
        except EvalError as exc:
            out[j] = exc
    idx = list(dis)
    p0 = params_list[0]
    fits = E.fit_designs(si.model, [dis[j].Xf for j in idx], [dis[j].fit_data["y"] for j in idx]
                         if si.y is not None else None,
                         numerators=[dis[j].fit_data["numerator"] for j in idx] if si.numerator is not None else None,
                         denominators=[dis[j].fit_data["denominator"] for j in idx]
                         if si.denominator is not None else None,
                         hac_lags=p0.hac_lags, arima_order=tuple(p0.arima_order),
                         columns=dis[idx[0]].columns if len({tuple(dis[j].columns) for j in idx}) == 1 else None
                         ) if idx else []
    for j, f in zip(idx, fits):
        if isinstance(f, EvalError):
            out[j] = f
            continue
        f.columns = dis[j].columns
        out[j] = single_result(params_list[j], table, si, dis[j], f, slope_test=f.link == "identity")
    return out


def slope_change_test(fit: E.Fit, X: np.ndarray, cols: list[str], test_cols: list[str], refit) -> dict:
    """Joint test that every slope change is zero.

    - quasi-families: analysis-of-deviance F test, (D_reduced - D_full)/q over the full
      model's Pearson dispersion, on (q, n - k) df (R ``anova(reduced, full, test="F")``);
    - poisson and binomial: likelihood-ratio chi-squared on the deviance difference;
    - negbin: likelihood-ratio chi-squared 2 (llf_full - llf_reduced);
    - linear models: Wald F test with the model covariance (HAC for ols-hac).
    """
    from scipy import stats

    q = len(test_cols)
    keep = [i for i, c in enumerate(cols) if c not in test_cols]
    out = {"terms": list(test_cols)}
    if fit.link == "identity":
        R = np.zeros((q, len(cols)))
        for r, c in enumerate(test_cols):
            R[r, cols.index(c)] = 1.0
        out.update(E.wald_test(fit, R))
        return out
    red = refit(X[:, keep])
    if fit.model == "negbin":
        lr = 2.0 * (fit.extra["llf"] - red.extra["llf"])
        out.update({"chi2": lr, "df": [q, None], "p": float(stats.chi2.sf(lr, q)),
                    "method": "likelihood-ratio test", "F": lr / q})
        return out
    dd = red.extra["deviance"] - fit.extra["deviance"]
    if fit.model.startswith("quasi"):
        F = dd / q / fit.dispersion
        out.update({"F": F, "df": [q, fit.df_resid], "p": float(stats.f.sf(F, q, fit.df_resid)),
                    "method": "analysis-of-deviance F test (Pearson dispersion of the full model)"})
    else:
        out.update({"chi2": dd, "F": dd / q, "df": [q, None], "p": float(stats.chi2.sf(dd, q)),
                    "method": "likelihood-ratio (deviance) chi-squared test"})
    return out


@dataclass
class Window:
    """The analysis window every comparator design starts from: the treated series combined,
    its interruptions checked, the rows in the fit (not excluded, not in a transition), and the
    evaluated interruption (the last) with its index ``formation`` and the ``pre`` mask."""

    treated: Series
    specs: list
    periods: list
    labels: list[str]
    in_fit: np.ndarray
    formation: int
    pre: np.ndarray
    warnings: list[str]

    @property
    def evaluated(self) -> D.InterruptionSpec:
        return self.specs[-1]


def window(params: Params, table, treated: Series | None = None) -> Window:
    """The :class:`Window` of ``params`` on ``table`` (``treated``: an already combined series)."""
    if treated is None:
        treated = combine_units(table, params.metric, params.units, params.aggregate, params.start, params.end)
    check_informative(treated.frame["value"].to_numpy(dtype=float), params.metric, table.source)
    specs = interruption_specs(params, treated)
    periods = treated.periods
    labels = [format_period(p) for p in periods]
    des = D.build_design(periods, specs, seasonality="none", exclude=params.exclude)
    iP = labels.index(format_period(specs[-1].period))
    return Window(treated=treated, specs=specs, periods=periods, labels=labels,
                  in_fit=np.asarray(des.in_fit, dtype=bool), formation=iP, pre=np.arange(len(labels)) < iP,
                  warnings=list(treated.warnings) + list(des.warnings))
