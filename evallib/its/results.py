"""``ITSResult``: one fitted ITS analysis and everything reported from it.

The result is built generically from

- a :class:`~evallib.its.estimators.Fit` (coefficients ``b``, covariance ``V``,
  residual df, link);
- ``rows``: the series whose effects are reported (the treated series), one row per
  period of the analysis window with its design row ``x`` (fitted or not), observed
  value, optional log-offset and reporting ``scale``;
- ``terms``: for each group (``treated``; ``control`` and ``difference`` in controlled
  designs) the named linear combinations of ``b`` that results.json reports;
- ``cf_columns``: for each interruption, the columns set to zero to get its
  counterfactual. The single design zeroes that interruption's columns **and every
  later interruption's** (see :func:`evallib.its.design.counterfactual_columns`);
  a controlled design passes its own treated-by-interruption interaction columns.

So the controlled and synthetic modules reuse everything below by supplying their own
stacked ``X``, ``terms`` and ``cf_columns`` (see :meth:`ITSResult.__init__`).

Predictions and effects (all on the reporting scale: the value's unit, e.g. patients,
percent or £k):

- mean ``m(x) = scale * g^-1(x'b + offset)``; identity, exp or expit;
- ``fitted`` uses the full ``x``; ``counterfactual`` the same ``x`` with the
  interruption's ``cf_columns`` set to zero. Before the interruption they coincide;
- the effect at horizon h of an interruption at P is at period P+h: ``absolute`` =
  fitted - counterfactual, ``relative`` = fitted / counterfactual - 1, and
  ``cumulative`` = the sum of absolute effects over P..P+h (every period of the window,
  including excluded and transition periods). ``observed`` is reported beside them,
  and the effects table also gives ``observed - counterfactual``;
- **intervals are delta-method** with the model covariance (deterministic, no
  simulation): absolute and cumulative effects are symmetric on the reporting scale;
  the counterfactual band is computed on the link scale and transformed (so it stays
  positive for counts and inside 0-100% for proportions); relative effects of log and
  logit models are computed on the log-ratio scale and exponentiated (for log-link
  models this is exactly ``exp(level + h*slope) - 1`` with the coefficient CI).
  Identity-link relative effects use the delta method on the ratio and are missing when
  the counterfactual is not positive;
- critical values are t with residual df for OLS-based fits (ols-hac, prais-winsten),
  normal otherwise (arima, GLMs).

``to_dict()`` is results.json (docs/contracts.md §4). Floats are rounded to 10 significant
digits and NaN/inf become null, so the same inputs give byte-identical JSON except
``provenance.created``.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from evallib.exceptions import EvalError, ModelError, ParameterError
from evallib import text as W
from evallib.its.base import BaseResult
from evallib.stats.diagnostics import acf, breusch_godfrey, durbin_watson, ljung_box  # noqa: F401  (statsmodels; acf re-used by the pages)
from evallib.its.design import InterruptionSpec
from evallib.its.estimators import Fit
from evallib.metrics import metric_info
from evallib.periods import FREQ_NAMES, format_period

logger = logging.getLogger(__name__)

SCHEMA = "evallib.results/1"


@dataclass
class PredictionRows:
    """The series whose fitted values, counterfactuals and effects are reported.

    One row per period of the analysis window, in time order, contiguous.
    ``X`` uses the fit's column order; ``observed`` is on the reporting scale (NaN when
    missing); ``in_fit`` marks rows used in estimation; ``offset`` is the log exposure
    of count models (None otherwise); ``scale`` multiplies the mean (100 when a
    binomial model reports a percentage).
    """

    periods: list[str]
    X: np.ndarray
    observed: np.ndarray
    in_fit: np.ndarray
    offset: np.ndarray | None = None
    scale: float = 1.0

    def index_of(self, label: str) -> int | None:
        try:
            return self.periods.index(label)
        except ValueError:
            return None


def _ginv(link: str, eta: np.ndarray) -> np.ndarray:
    if link == "log":
        return np.exp(eta)
    if link == "logit":
        return 1.0 / (1.0 + np.exp(-eta))
    return eta


def _dginv(link: str, eta: np.ndarray) -> np.ndarray:
    if link == "log":
        return np.exp(eta)
    if link == "logit":
        p = 1.0 / (1.0 + np.exp(-eta))
        return p * (1.0 - p)
    return np.ones_like(eta)


def _num(x: Any) -> float | None:
    """JSON-safe float: None for NaN/inf, rounded to 10 significant digits."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.10g}")


def json_safe(obj: Any) -> Any:
    """``obj`` made ready for strict JSON (results.json of every design).

    Dict keys become strings; tuples, lists and arrays become lists; numpy scalars become
    Python ones; floats are rounded to 10 significant digits, and NaN/inf become None.
    Anything else (str, None, ...) is returned as it is.
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    return obj


def term_dict(est: float, se: float, crit: float, p: float, link: str) -> dict:
    """A results.json term T (+ ratio and ratio_ci for log/logit links)."""
    lo, hi = est - crit * se, est + crit * se
    T = {"estimate": _num(est), "se": _num(se), "ci": [_num(lo), _num(hi)], "p": _num(p)}
    if link in ("log", "logit"):
        T["ratio"] = _num(math.exp(est)) if math.isfinite(est) else None
        T["ratio_ci"] = [_num(math.exp(lo)) if math.isfinite(lo) else None,
                         _num(math.exp(hi)) if math.isfinite(hi) else None]
    return T


class ITSResult(BaseResult):
    """A fitted ITS analysis (see the module docstring for the definitions).

    Constructor arguments (keyword-only), for the engine and for designs built on it:

    - ``fit``: the :class:`Fit`; ``columns``: its coefficient names.
    - ``rows``: :class:`PredictionRows` of the series whose effects are reported.
    - ``terms``: ``{group: {term: weights over columns}}``, reported in results.json
      ``groups`` (e.g. ``{"treated": its_contrasts(...)}``).
    - ``cf_columns``: ``{interruption name: [columns zeroed for its counterfactual]}``.
    - ``interruptions``: the :class:`InterruptionSpec` list, in time order.
    - ``title``, ``metric``, ``design`` ('single' | 'controlled' | 'synthetic'), ``freq``.
    - ``alpha``, ``horizons``; ``warnings`` (list of strings).
    - ``other_terms``: extra ``{group: {term: weights}}`` shown by ``coefficients`` and
      ``summary()`` but not in results.json (e.g. seasonal terms).
    - ``diagnostics_extra``: merged into ``diagnostics()`` (model choice, F tests...).
    - ``fit_data``: dict with X, y, numerator, denominator, hac_lags, arima_order used
      by ``robustness()`` and the residual tests (X for Breusch–Godfrey).
    - ``robustness_models``: models ``robustness()`` fits (default by link).
    - ``params``: the Params (for provenance); ``data_file``, ``data_sha256``,
      ``synthetic_data``: provenance and the SYNTHETIC stamp.
    - ``sections``: extra top-level results.json sections placed after ``groups``
      (e.g. ``{"synthetic": {...}}``).
    """

    def __init__(self, *, fit: Fit, columns: Sequence[str], rows: PredictionRows,
                 terms: dict[str, dict[str, np.ndarray]], cf_columns: dict[str, list[str]],
                 interruptions: Sequence[InterruptionSpec], title: str, metric: str,
                 design: str = "single", freq: str = "M", alpha: float = 0.05,
                 horizons: Sequence[int] = (12, 24), warnings: Sequence[str] = (),
                 other_terms: dict[str, dict[str, np.ndarray]] | None = None,
                 diagnostics_extra: dict | None = None, fit_data: dict | None = None,
                 robustness_models: Sequence[str] | None = None, params=None,
                 data_file: str | None = None, data_sha256: str | None = None,
                 synthetic_data: bool = False, sections: dict | None = None,
                 refit: Callable[[str], Fit] | None = None):
        self.fit = fit
        self.columns = list(columns)
        self.rows = rows
        self.terms = terms
        self.cf_columns = {k: list(v) for k, v in cf_columns.items()}
        self.interruptions = list(interruptions)
        self.title = title
        self.metric = metric
        self.design = design
        self.freq = freq
        self.alpha = float(alpha)
        self.horizons = list(horizons)
        self.warnings = list(dict.fromkeys(list(warnings) + list(fit.warnings)))
        self.other_terms = other_terms or {}
        self._diag_extra = diagnostics_extra or {}
        self.fit_data = fit_data or {}
        self.robustness_models = robustness_models
        self.params = params
        self.data_file = data_file
        self.data_sha256 = data_sha256
        self.synthetic_data = bool(synthetic_data)
        self.sections = sections or {}
        self._refit = refit
        self._col_idx = {c: i for i, c in enumerate(self.columns)}
        for name, cols in self.cf_columns.items():
            unknown = [c for c in cols if c not in self._col_idx]
            if unknown:
                raise ModelError(f"cf_columns[{name}] names columns {unknown} that are not in the fit's columns")
        self._effects_cache: dict = {}
        self._diag_cache: dict | None = None
        self._effect_records(self.horizons, self.alpha)  # so horizon/extrapolation warnings exist up front

    # ------------------------------------------------------------------ basics
    @property
    def model(self) -> str:
        return self.fit.model

    @property
    def n_obs(self) -> int:
        return self.fit.n_obs

    @property
    def link(self) -> str:
        return self.fit.link

    @property
    def periods_fitted(self) -> tuple[str, str]:
        labs = [p for p, f in zip(self.rows.periods, self.rows.in_fit) if f]
        return labs[0], labs[-1]

    # ------------------------------------------------------------------ coefficients
    def _term_rows(self, alpha: float, groups: dict) -> list[dict]:
        crit = self.fit.crit(alpha)
        out = []
        for group, terms in groups.items():
            for term, w in terms.items():
                est, se = self.fit.contrast(w)
                p = float(self.fit.pvalue(est / se)) if se > 0 else float("nan")
                row = {"group": group, "term": term, "estimate": est, "se": se,
                       "ci_lower": est - crit * se, "ci_upper": est + crit * se, "p": p}
                if self.link in ("log", "logit"):
                    row.update({"ratio": math.exp(est), "ratio_ci_lower": math.exp(est - crit * se),
                                "ratio_ci_upper": math.exp(est + crit * se)})
                out.append(row)
        return out

    @property
    def coefficients(self) -> pd.DataFrame:
        """Tidy frame: group, term, estimate, se, ci_lower, ci_upper, p (+ ratio columns for GLMs).

        On the link scale (log rate / log odds for GLMs); ``ratio`` is exp(estimate)."""
        groups = dict(self.terms)
        groups.update(self.other_terms)
        return pd.DataFrame(self._term_rows(self.alpha, groups))

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Intervals of the reported terms at level 1 - alpha (default the analysis alpha)."""
        a = self.alpha if alpha is None else float(alpha)
        df = pd.DataFrame(self._term_rows(a, self.terms))
        cols = ["group", "term", "ci_lower", "ci_upper"] + (
            ["ratio_ci_lower", "ratio_ci_upper"] if "ratio" in df.columns else [])
        return df[cols]

    # ------------------------------------------------------------------ predictions
    def _cf_matrix(self, name: str) -> np.ndarray:
        Xc = self.rows.X.copy()
        for c in self.cf_columns[name]:
            Xc[:, self._col_idx[c]] = 0.0
        return Xc

    def _mean_and_grad(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means on the reporting scale and their gradients in b, for rows aligned with ``self.rows``."""
        off = self.rows.offset if self.rows.offset is not None else 0.0
        eta = X @ self.fit.params + off
        mu = self.rows.scale * _ginv(self.link, eta)
        G = (self.rows.scale * _dginv(self.link, eta))[:, None] * X
        return mu, G

    def fitted_values(self) -> np.ndarray:
        return self._mean_and_grad(self.rows.X)[0]

    def counterfactual(self, interruption: str | None = None, alpha: float | None = None) -> pd.DataFrame:
        """Frame: period, observed, fitted, counterfactual, cf_lower, cf_upper, in_fit.

        ``interruption`` defaults to the last one. Before the interruption the
        counterfactual equals the fit. The band is the delta-method interval of the
        counterfactual mean, computed on the link scale and transformed.
        """
        intr = self._interruption(interruption)
        a = self.alpha if alpha is None else float(alpha)
        crit = self.fit.crit(a)
        Xc = self._cf_matrix(intr.name)
        off = self.rows.offset if self.rows.offset is not None else 0.0
        eta = Xc @ self.fit.params + off
        se_eta = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", Xc, self.fit.cov, Xc), 0, None))
        s = self.rows.scale
        return pd.DataFrame({
            "period": self.rows.periods,
            "observed": self.rows.observed,
            "fitted": self.fitted_values(),
            "counterfactual": s * _ginv(self.link, eta),
            "cf_lower": s * _ginv(self.link, eta - crit * se_eta),
            "cf_upper": s * _ginv(self.link, eta + crit * se_eta),
            "in_fit": self.rows.in_fit.astype(bool),
        })

    # ------------------------------------------------------------------ effects
    def _effect_records(self, horizons: Sequence[int], alpha: float) -> list[dict]:
        key = (tuple(horizons), alpha)
        if key in self._effects_cache:
            return self._effects_cache[key]
        crit = self.fit.crit(alpha)
        V = self.fit.cov
        mu_f, G_f = self._mean_and_grad(self.rows.X)
        recs = []
        for intr in self.interruptions:
            iP = self.rows.index_of(format_period(intr.period))
            if iP is None:
                continue
            mu_c, G_c = self._mean_and_grad(self._cf_matrix(intr.name))
            for h in horizons:
                i = iP + h
                if i >= len(self.rows.periods):
                    msg = (f"horizon {h} of {intr.name} ({format_period(intr.period + h)}) is after the last "
                           f"period {self.rows.periods[-1]}: no effect reported")
                    if msg not in self.warnings:
                        self.warnings.append(msg)
                    continue
                credible = self._check_extrapolation(intr.name, i, mu_c[i])
                rec = {"interruption": intr.name, "horizon": int(h), "period": self.rows.periods[i],
                       "observed": float(self.rows.observed[i]), "fitted": float(mu_f[i]),
                       "counterfactual": float(mu_c[i]), "credible": credible}
                g = G_f[i] - G_c[i]
                est = mu_f[i] - mu_c[i]
                se = math.sqrt(max(g @ V @ g, 0.0))
                rec["absolute"] = (est, se, est - crit * se, est + crit * se,
                                   float(self.fit.pvalue(est / se)) if se > 0 else float("nan"))
                rec["relative"] = self._relative(mu_f[i], mu_c[i], G_f[i], G_c[i], crit)
                gs = (G_f[iP:i + 1] - G_c[iP:i + 1]).sum(axis=0)
                cest = float((mu_f[iP:i + 1] - mu_c[iP:i + 1]).sum())
                cse = math.sqrt(max(gs @ V @ gs, 0.0))
                rec["cumulative"] = (cest, cse, cest - crit * cse, cest + crit * cse,
                                     float(self.fit.pvalue(cest / cse)) if cse > 0 else float("nan"))
                recs.append(rec)
        self._effects_cache[key] = recs
        return recs

    def _check_extrapolation(self, name: str, i: int, cf: float) -> bool:
        """False (and a warning) when a counterfactual is more than 10 times the largest
        observed value: an extrapolation no board should read as an effect."""
        obs = self.rows.observed[np.isfinite(self.rows.observed)]
        if not len(obs) or not np.isfinite(cf):
            return True
        top = float(np.max(np.abs(obs)))
        if top > 0 and abs(cf) > 10 * top:
            msg = (f"the counterfactual of {name} at {self.rows.periods[i]} ({W.approx(cf)}) is more than 10 times "
                   f"the largest observed value ({W.approx(top)}): the trend before {name} does not extrapolate "
                   f"credibly; prefer a controlled design, a longer segment or fewer terms")
            if msg not in self.warnings:
                self.warnings.append(msg)
            return False
        return True

    def _relative(self, f, c, gf, gc, crit):
        V = self.fit.cov
        nan = (float("nan"),) * 5
        if not (np.isfinite(f) and np.isfinite(c)):
            return nan
        if self.link in ("log", "logit"):
            if f <= 0 or c <= 0:
                return nan
            g = gf / f - gc / c
            lr = math.log(f / c)
            se_lr = math.sqrt(max(g @ V @ g, 0.0))
            p = float(self.fit.pvalue(lr / se_lr)) if se_lr > 0 else float("nan")
            return (f / c - 1.0, (f / c) * se_lr, math.exp(lr - crit * se_lr) - 1.0,
                    math.exp(lr + crit * se_lr) - 1.0, p)
        if c <= 0:
            return nan
        g = (gf * c - f * gc) / (c * c)
        r = f / c - 1.0
        se = math.sqrt(max(g @ V @ g, 0.0))
        p = float(self.fit.pvalue(r / se)) if se > 0 else float("nan")
        return (r, se, r - crit * se, r + crit * se, p)

    def effects(self, horizons: Sequence[int] | None = None, alpha: float | None = None) -> pd.DataFrame:
        """Effects of each interruption at each horizon (see the module docstring).

        Columns: interruption, horizon, period, observed, fitted, counterfactual,
        credible (False when the counterfactual is over 10 times anything observed), observed_minus_cf, absolute, absolute_se, absolute_lower, absolute_upper,
        absolute_p, relative, relative_se, relative_lower, relative_upper, relative_p,
        cumulative, cumulative_se, cumulative_lower, cumulative_upper, cumulative_p.
        Horizons past the end of the data are skipped with a warning.
        """
        hs = self.horizons if horizons is None else sorted(set(int(h) for h in horizons))
        a = self.alpha if alpha is None else float(alpha)
        out = []
        for r in self._effect_records(hs, a):
            row = {k: r[k] for k in ("interruption", "horizon", "period", "observed", "fitted", "counterfactual",
                                     "credible")}
            row["observed_minus_cf"] = r["observed"] - r["counterfactual"]
            for kind in ("absolute", "relative", "cumulative"):
                est, se, lo, hi, p = r[kind]
                row.update({kind: est, f"{kind}_se": se, f"{kind}_lower": lo, f"{kind}_upper": hi,
                            f"{kind}_p": p})
            out.append(row)
        cols = ["interruption", "horizon", "period", "observed", "fitted", "counterfactual", "credible",
                "observed_minus_cf"]
        for kind in ("absolute", "relative", "cumulative"):
            cols += [kind, f"{kind}_se", f"{kind}_lower", f"{kind}_upper", f"{kind}_p"]
        return pd.DataFrame(out, columns=cols)

    # ------------------------------------------------------------------ sentences
    def counterfactual_phrase(self, name: str) -> str:
        """What the counterfactual of interruption ``name`` is, as the sentences name it.

        ``"the pre-NAME trend"`` here (the series' own trend before the interruption);
        designs whose counterfactual is built differently override this, e.g. the
        controlled design's ``"the pre-NAME trend plus the comparators' change"``.
        ``name`` is the display name (underscores already replaced by spaces).
        """
        return W.pre_trend_phrase(name)

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> dict:
        """Residual checks and model details (see the keys; values are JSON-safe).

        Residuals are those of ``Fit.resid``: OLS residuals (ols-hac), whitened
        residuals (prais-winsten), innovations (arima), Pearson residuals (GLMs).
        Ljung–Box is reported at lags 1..min(12, n/2 - 1); Breusch–Godfrey at the
        largest of those lags for ols-hac.
        """
        if self._diag_cache is not None:
            return self._diag_cache
        f = self.fit
        e = np.asarray(f.resid, dtype=float)
        n = len(e)
        nl = max(1, min(12, n // 2 - 1))
        d: dict[str, Any] = {
            "n_obs": n, "n_params": len(f.params), "df_resid": f.df_resid,
            "distribution": "t" if f.dist == "t" else "normal", "link": f.link,
            "converged": f.converged,
            "residuals": {"ols-hac": "OLS", "prais-winsten": "Prais-Winsten transformed",
                          "arima": "one-step innovations"}.get(f.model, "Pearson"),
            "durbin_watson": durbin_watson(e),
            "ljung_box": [{"lag": r["lag"], "q": r["q"], "p": r["p"]} for r in ljung_box(e, nl)],
            "acf": [float(v) for v in acf(e, nl)],
            "interval_method": "delta method with the model covariance",
        }
        if f.model == "ols-hac":
            d["hac_lags"] = f.hac_lags_used
            if f.extra.get("hac_prewhite"):
                d["hac_lag_rule"] = ("auto: Newey-West (1994) automatic lag after VAR(1) prewhitening, as R "
                                     "sandwich::NeweyWest(fit, adjust=TRUE)")
                d["hac_bandwidth"] = f.extra.get("hac_bandwidth")
            elif self.fit_data.get("hac_lags", "auto") == "auto":
                d["hac_lag_rule"] = "auto without prewhitening: floor(4*(n/100)^(2/9)) (Newey-West 1994)"
            else:
                d["hac_lag_rule"] = "given in the params (Bartlett kernel, no prewhitening)"
            X = self.fit_data.get("X")
            if X is not None:
                d["breusch_godfrey"] = breusch_godfrey(np.asarray(X, dtype=float), e, nl)
        if f.model == "prais-winsten":
            d["rho"] = f.extra.get("rho")
            d["iterations"] = f.extra.get("iterations")
        if f.model == "arima":
            d["arima"] = {k: v for k, v in f.extra.items()}
        if f.link != "identity":
            d["dispersion"] = f.dispersion
            d["pearson_dispersion"] = f.extra.get("pearson_dispersion")
            if "alpha" in f.extra:
                d["negbin_alpha"] = f.extra["alpha"]
            if "deviance" in f.extra:
                d["deviance"] = f.extra["deviance"]
        d.update(self._diag_extra)
        self._diag_cache = json_safe(d)
        return self._diag_cache

    # ------------------------------------------------------------------ robustness
    def robustness(self) -> pd.DataFrame:
        """The same specification under other estimators, side by side (Turner 2021).

        Identity-link outcomes: ols-hac, prais-winsten, arima. Counts: poisson,
        quasipoisson, negbin. Proportions: binomial, quasibinomial. A model that
        fails is listed with its error message in ``note`` instead of stopping.
        Columns: model, group, term, estimate, se, ci_lower, ci_upper, p, note.
        """
        from evallib.its.estimators import fit as _fit

        failures = (EvalError, np.linalg.LinAlgError, ValueError)

        models = self.robustness_models
        if models is None:
            models = {"identity": ("ols-hac", "prais-winsten", "arima"),
                      "log": ("poisson", "quasipoisson", "negbin"),
                      "logit": ("binomial", "quasibinomial")}[self.link]
        fd = self.fit_data
        rows = []
        for m in models:
            try:
                if m == self.model:
                    f = self.fit
                elif self._refit is not None:
                    f = self._refit(m)
                else:
                    f = _fit(m, fd["X"], fd.get("y"), numerator=fd.get("numerator"),
                             denominator=fd.get("denominator"), hac_lags=fd.get("hac_lags", "auto"),
                             arima_order=fd.get("arima_order", (1, 0, 0)), check=False)
            except failures as exc:  # recorded in the table, not swallowed
                rows.append({"model": m, "group": None, "term": None, "note": f"{type(exc).__name__}: {exc}"})
                continue
            crit = f.crit(self.alpha)
            note = "; ".join(f.warnings)
            for group, terms in self.terms.items():
                for term, w in terms.items():
                    est, se = f.contrast(w)
                    rows.append({"model": m, "group": group, "term": term, "estimate": est, "se": se,
                                 "ci_lower": est - crit * se, "ci_upper": est + crit * se,
                                 "p": float(f.pvalue(est / se)) if se > 0 else float("nan"), "note": note})
        cols = ["model", "group", "term", "estimate", "se", "ci_lower", "ci_upper", "p", "note"]
        return pd.DataFrame(rows, columns=cols)

    # ------------------------------------------------------------------ outputs
    def to_dict(self) -> dict:
        """results.json (docs/contracts.md §4), JSON-safe (NaN -> null).

        Each effect carries ``cumulative`` (a term T: the sum of absolute effects from P
        to P+h) beside ``absolute`` and ``relative``, since docs/contracts.md reports cumulative
        effects and results.json is the machine-readable output. Sentences are not
        stored: call :meth:`sentences`.
        """
        crit = self.fit.crit(self.alpha)
        groups = {}
        for group, terms in self.terms.items():
            g = {}
            for term, w in terms.items():
                est, se = self.fit.contrast(w)
                p = float(self.fit.pvalue(est / se)) if se > 0 else float("nan")
                g[term] = term_dict(est, se, crit, p, self.link)
            groups[group] = g
        effects = []
        for r in self._effect_records(self.horizons, self.alpha):
            e = {"interruption": r["interruption"], "horizon": r["horizon"], "period": r["period"],
                 "observed": _num(r["observed"]), "counterfactual": _num(r["counterfactual"])}
            for kind in ("absolute", "relative", "cumulative"):
                est, se, lo, hi, p = r[kind]
                e[kind] = {"estimate": _num(est), "se": _num(se), "ci": [_num(lo), _num(hi)], "p": _num(p)}
            effects.append(e)
        first, last = self.periods_fitted
        doc = {"schema": SCHEMA, "title": self.title, "metric": self.metric, "model": self.model,
               "design": self.design, "n_obs": self.n_obs, "periods": {"first": first, "last": last},
               "groups": groups}
        doc.update(self.sections)
        diag = self.diagnostics()
        doc.update({"effects": effects, "diagnostics": diag, "warnings": list(self.warnings),
                    "provenance": self._provenance()})
        return json_safe(doc)

    def to_json(self, indent: int | None = 2) -> str:
        """results.json text: strict JSON (allow_nan=False), keys in contract order."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def _provenance(self) -> dict:
        from evallib import __version__

        params = None
        if self.params is not None:
            params = self.params.to_yaml_dict() if hasattr(self.params, "to_yaml_dict") else dict(self.params)
        return {"evallib_version": __version__, "data_file": self.data_file, "data_sha256": self.data_sha256,
                "params": params,
                "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}

    def summary(self) -> str:
        """Readable text: specification, terms, effects with sentences, diagnostics, warnings."""
        first, last = self.periods_fitted
        lines = [self.title, "=" * len(self.title),
                 f"metric {self.metric}; design {self.design}; model {self.model}; "
                 f"{self.n_obs} {FREQ_NAMES.get(self.freq, '')} observations {first} to {last}"]
        d = self.diagnostics()
        if "model_choice" in d:
            lines.append(f"model choice: {d['model_choice']}")
        if self.synthetic_data:
            lines.append("SYNTHETIC DATA: the demo table, not real NHS figures")
        lines.append("")
        coef = self.coefficients
        ci = f"{100 * (1 - self.alpha):g}% CI"
        lines.append(f"{'group':<10} {'term':<34} {'estimate':>11} {'se':>10} {ci:>24} {'p':>7}"
                     + ("  ratio (CI)" if "ratio" in coef.columns else ""))
        for r in coef.to_dict("records"):
            s = (f"{r['group']:<10} {r['term']:<34} {r['estimate']:>11.4g} {r['se']:>10.4g} "
                 f"{'[' + format(r['ci_lower'], '.4g') + ', ' + format(r['ci_upper'], '.4g') + ']':>24} "
                 f"{r['p']:>7.4f}")
            if "ratio" in r:
                s += f"  {r['ratio']:.4f} ({r['ratio_ci_lower']:.4f}-{r['ratio_ci_upper']:.4f})"
            lines.append(s)
        eff = self.effects()
        if len(eff):
            lines += ["", "Effects (fitted minus counterfactual; intervals by the delta method):"]
            for r in eff.to_dict("records"):
                lines.append(f"  {r['interruption']} +{r['horizon']} ({r['period']}): observed {r['observed']:.4g}, "
                             f"counterfactual {r['counterfactual']:.4g}, absolute {r['absolute']:.4g} "
                             f"[{r['absolute_lower']:.4g}, {r['absolute_upper']:.4g}], relative "
                             f"{100 * r['relative']:.1f}% [{100 * r['relative_lower']:.1f}%, "
                             f"{100 * r['relative_upper']:.1f}%], cumulative {r['cumulative']:.4g}")
            lines += ["", *[f"- {s}" for s in self.sentences()]]
        lines += ["", "Diagnostics:"]
        lines.append(f"  Durbin-Watson {d.get('durbin_watson')}" if d.get("durbin_watson") is None else
                     f"  Durbin-Watson {d['durbin_watson']:.3f}")
        lb = d.get("ljung_box") or []
        if lb:
            lines.append("  Ljung-Box p (lags 1-{}): {}".format(
                len(lb), " ".join(f"{x['p']:.3f}" for x in lb)))
        for key in ("hac_lags", "rho", "dispersion", "pearson_dispersion"):
            if d.get(key) is not None:
                lines.append(f"  {key.replace('_', ' ')}: {d[key]:.4g}" if isinstance(d[key], float)
                             else f"  {key.replace('_', ' ')}: {d[key]}")
        t = d.get("slope_change_test")
        if t:
            lines.append(f"  slope change test: F = {t['F']:.4f} on {t['df']}, p = {t['p']:.4f} ({t['method']})")
        if self.warnings:
            lines += ["", "Warnings:", *[f"- {w}" for w in self.warnings]]
        return "\n".join(lines)

    def plot(self, ax=None, interruption: str | None = None, **kwargs):
        """Observed points, fitted line, counterfactual with band, interruption lines. Returns (fig, ax)."""
        from evallib.plots.its import its_chart

        return its_chart(self, ax=ax, interruption=interruption, **kwargs)

    def get_plot_data(self, interruption: str | None = None) -> pd.DataFrame:
        """The numbers behind :meth:`plot` (same as :meth:`counterfactual`)."""
        return self.counterfactual(interruption)

    def __repr__(self) -> str:
        return f"<ITSResult {self.metric} {self.design} {self.model} n={self.n_obs}>"
