"""The base result that every design's result subclasses.

A design supplies the fit and its *effect records* (one dict per interruption and horizon,
with the point estimate and interval of the absolute, relative and cumulative effect); the
base turns them, once for every design, into:

- ``effects(horizons=None, alpha=None)``: the tidy effects frame (columns below);
- ``sentence(rec)`` / ``sentences()``: plain-English sentences built on **one verdict rule**
  (:func:`verdict`);
- ``effect_summary()``: ``(table, sentences)``;
- ``summary_frame(alpha=None)``: tidy term table (term, estimate, se, ci_lower, ci_upper, p);
- ``to_json()``, provenance, ``interval_label(alpha)`` ("95% CI" from alpha).

Subclasses implement ``_effect_records(horizons, alpha) -> list[dict]`` where each dict has
``interruption, horizon, period, observed, fitted, counterfactual, credible`` and, for each
of ``absolute``, ``relative``, ``cumulative``, a tuple ``(estimate, se, lower, upper, p)``;
``summary_frame`` (or ``conf_int``), ``counterfactual``, ``diagnostics``, ``to_dict``,
``summary`` and ``plot``. Every ``alpha`` argument is honoured.

**The verdict rule** (:func:`verdict`): the *absolute* interval of the effect (in the
metric's own unit) decides, whatever scale a sentence shows. An interval that excludes zero
gives "improvement" or "deterioration" from the metric's direction of improvement ("no
direction" for a neutral metric); an interval that includes zero, or an effect flagged as not
credible, gives "unclear". A design with a credibility scorecard turns a verdict into
"unclear" when a check that guards it failed (see ``evallib.its.aligned``).
"""
from __future__ import annotations

import json
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from evallib.exceptions import ParameterError
from evallib import text as W
from evallib.text import created_timestamp, interval_label, verdict  # noqa: F401  (the text layer)
from evallib.metrics import metric_info
from evallib.periods import format_period

VERDICTS = ("improvement", "deterioration", "unclear", "no direction")
EFFECT_KINDS = ("absolute", "relative", "cumulative")
EFFECT_COLUMNS = ["interruption", "horizon", "period", "observed", "fitted", "counterfactual", "credible",
                  "observed_minus_cf"] + [c for k in EFFECT_KINDS
                                          for c in (k, f"{k}_se", f"{k}_lower", f"{k}_upper", f"{k}_p")]


class BaseResult:
    """Shared behaviour of every design's result (see the module docstring).

    Subclasses set, before using the base methods: ``metric``, ``title``, ``design``,
    ``freq``, ``alpha``, ``horizons``, ``interruptions`` (InterruptionSpec list, time
    order), ``warnings`` (list), ``params`` (or None).
    """

    metric: str
    title: str
    design: str
    freq: str
    alpha: float
    horizons: list[int]
    interruptions: list
    warnings: list[str]
    params: Any

    # ------------------------------------------------------------------ basics
    def _set_basics(self, params, table, specs, warnings, *, design: str, method: str, model: str) -> None:
        """The attributes every design built from params and a tidy table sets the same way."""
        self.params = params
        self.table = table
        self.interruptions = list(specs)
        self.metric = params.metric
        self.title = params.display_title
        self.design, self.method, self.model = design, method, model
        self.freq = table.freq
        self.alpha = float(params.alpha)
        self.horizons = list(params.horizons)
        self.warnings = list(dict.fromkeys(list(warnings)))
        self.synthetic_data = bool(table.synthetic)
        self.data_file = str(table.path) if table.path else None
        self.data_sha256 = table.sha256

    def _interruption(self, name: str | None):
        if name is None:
            return self.interruptions[-1]
        for i in self.interruptions:
            if i.name == name:
                return i
        raise ParameterError(f"no interruption named {name!r}; have {[i.name for i in self.interruptions]}")

    def _alpha(self, alpha: float | None) -> float:
        a = self.alpha if alpha is None else float(alpha)
        if not 0 < a < 1:
            raise ParameterError(f"alpha: value {a!r} must be between 0 and 1 (e.g. 0.05 for 95% intervals)")
        return a

    def _effect_records(self, horizons: Sequence[int], alpha: float) -> list[dict]:  # pragma: no cover
        raise NotImplementedError

    def _warn(self, msg: str) -> None:
        """Add a warning once (effect records are rebuilt for every alpha and horizon set)."""
        if msg not in self.warnings:
            self.warnings.append(msg)

    def _horizon_index(self, h: int, formation: int, labels: Sequence[str]) -> int | None:
        """Window index of horizon ``h`` of the evaluated interruption, or None (with a warning)
        when it lies after the last period."""
        i = formation + int(h)
        if i >= len(labels):
            intr = self.interruptions[-1]
            self._warn(f"horizon {h} of {intr.name} ({format_period(intr.period + int(h))}) is after the last "
                       f"period {labels[-1]}: no effect reported")
            return None
        return i

    # ------------------------------------------------------------------ effects
    def effects(self, horizons: Sequence[int] | None = None, alpha: float | None = None) -> pd.DataFrame:
        """Effects of each reported interruption at each horizon.

        Columns: interruption, horizon, period, observed, fitted, counterfactual, credible
        (False when the counterfactual cannot be trusted), observed_minus_cf, and for each of
        absolute, relative, cumulative: the estimate, ``_se``, ``_lower``, ``_upper``, ``_p``.
        Horizons past the end of the data are skipped with a warning.
        """
        hs = self.horizons if horizons is None else sorted(set(int(h) for h in horizons))
        a = self._alpha(alpha)
        out = []
        for r in self._effect_records(hs, a):
            row = {k: r[k] for k in ("interruption", "horizon", "period", "observed", "fitted", "counterfactual",
                                     "credible")}
            row["observed_minus_cf"] = r["observed"] - r["counterfactual"]
            for kind in EFFECT_KINDS:
                est, se, lo, hi, p = r[kind]
                row.update({kind: est, f"{kind}_se": se, f"{kind}_lower": lo, f"{kind}_upper": hi,
                            f"{kind}_p": p})
            out.append(row)
        return pd.DataFrame(out, columns=EFFECT_COLUMNS)

    def verdict_of(self, rec: dict) -> str:
        """The verdict of one effect record (a row of ``effects()``): :func:`verdict`."""
        improvement = (getattr(self.params, "improvement", None) if self.params is not None else None) \
            or metric_info(self.metric).improvement
        return verdict(rec["absolute_lower"], rec["absolute_upper"], improvement, bool(rec.get("credible", True)))

    # ------------------------------------------------------------------ sentences
    def counterfactual_phrase(self, name: str) -> str:
        """What the counterfactual of interruption ``name`` is, as the sentences name it."""
        return W.pre_trend_phrase(name)

    def not_credible_phrase(self, name: str, rec: dict) -> str:
        """Why an effect whose counterfactual is not credible is not stated (the sentence's tail)."""
        return (f"the trend before {name} would predict {W.big_number(rec['counterfactual'])}, more than 10 times "
                f"anything observed, so it cannot be extrapolated credibly (a controlled design is needed)")

    def sentence(self, rec: dict, alpha: float | None = None) -> str:
        """One plain-English sentence for an effect record (a row of ``effects()``).

        "Twelve months after NAME (DATE), SUBJECT were X higher than
        :meth:`counterfactual_phrase` predicts (95% CI ...), an improvement." The verdict is
        :meth:`verdict_of` (the absolute interval). The numbers are relative for counts and
        money when the relative interval agrees with the absolute one about whether the
        change excludes zero (and is under 1000%); otherwise absolute. A counterfactual that
        is not credible gives a sentence that states no effect.
        """
        info = metric_info(self.metric)
        a = self.alpha if alpha is None else alpha
        level = interval_label(a)
        h = int(rec["horizon"])
        intr = self._interruption(rec["interruption"])
        name = intr.name.replace("_", " ")
        when = W.when(h, name, self.freq, rec["period"], format_period(intr.period))
        subject = W.subject(info.label)
        the_verdict = self.verdict_of(rec)
        rel, rlo, rhi = (rec.get("relative", float("nan")), rec.get("relative_lower", float("nan")),
                         rec.get("relative_upper", float("nan")))
        abs_excl = rec["absolute_lower"] > 0 or rec["absolute_upper"] < 0
        rel_excl = (rlo > 0 or rhi < 0) if np.isfinite(rlo) and np.isfinite(rhi) else None
        use_points = (info.unit == "%" or not np.isfinite(rel) or abs(rel) > 10 or rel_excl is None
                      or rel_excl != abs_excl)
        if use_points:
            est, lo, hi = rec["absolute"], rec["absolute_lower"], rec["absolute_upper"]
            fmt = lambda v: W.amount(v, info.unit)  # noqa: E731
            bare = fmt if info.unit.startswith("£") else W.bare_number
        else:
            est, lo, hi = rel, rlo, rhi
            digits = 0 if np.isfinite(est) and abs(est) * 100 >= 9.5 else 1
            fmt = bare = lambda v: W.percent(v, digits)  # noqa: E731
        if not np.isfinite(est):
            return f"{when}, the effect on {subject} could not be estimated."
        if not rec.get("credible", True):
            return f"{when}, no effect on {subject} is stated: {self.not_credible_phrase(name, rec)}."
        direction = "higher" if est > 0 else "lower"
        tail = ""
        if abs_excl and (lo > 0 or hi < 0):
            d = "higher" if lo > 0 else "lower"
            near, far = (lo, hi) if lo > 0 else (hi, lo)
            ci = f"({level} {bare(near)} to {fmt(far)} {d})"
            if the_verdict in ("improvement", "deterioration"):
                tail = f", {'an' if the_verdict == 'improvement' else 'a'} {the_verdict}"
        elif np.isfinite(lo) and np.isfinite(hi):
            ci = f"({level} {fmt(lo)} lower to {fmt(hi)} higher; the interval includes no change)"
        else:
            ci = "(no interval could be computed)"
        verb = "were" if W.is_plural(info.label) else "was"
        return (f"{when}, {subject} {verb} {fmt(est)} {direction} than {self.counterfactual_phrase(name)} "
                f"predicts {ci}{tail}.")

    def sentences(self, horizons: Sequence[int] | None = None, alpha: float | None = None) -> list[str]:
        """One plain-English sentence per effect."""
        return [self.sentence(r, alpha) for r in self.effects(horizons, alpha).to_dict("records")]

    def effect_summary(self, horizons: Sequence[int] | None = None, alpha: float | None = None
                       ) -> tuple[pd.DataFrame, list[str]]:
        """``(effects table with a verdict column, one sentence per effect)``."""
        t = self.effects(horizons, alpha)
        t["verdict"] = [self.verdict_of(r) for r in t.to_dict("records")]
        return t, [self.sentence(r, alpha) for r in t.to_dict("records")]

    # ------------------------------------------------------------------ terms
    def summary_frame(self, alpha: float | None = None) -> pd.DataFrame:
        """Tidy term table: group, term, estimate, se, ci_lower, ci_upper, p (at level 1 - alpha)."""
        raise NotImplementedError

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Intervals of the reported terms at level 1 - alpha (default the analysis alpha)."""
        df = self.summary_frame(alpha)
        cols = [c for c in ("group", "term", "ci_lower", "ci_upper", "ratio_ci_lower", "ratio_ci_upper")
                if c in df.columns]
        return df[cols]

    # ------------------------------------------------------------------ outputs
    def effect_dicts(self) -> list[dict]:
        """The ``effects`` list of results.json (terms ``{estimate, se, ci, p}``) with sentences."""
        out = []
        for r in self.effects().to_dict("records"):
            e = {"interruption": r["interruption"], "horizon": int(r["horizon"]), "period": r["period"],
                 "observed": r["observed"], "counterfactual": r["counterfactual"], "credible": bool(r["credible"])}
            for kind in EFFECT_KINDS:
                e[kind] = {"estimate": r[kind], "se": r[f"{kind}_se"],
                           "ci": [r[f"{kind}_lower"], r[f"{kind}_upper"]], "p": r[f"{kind}_p"]}
            e["verdict"] = self.verdict_of(r)
            e["sentence"] = self.sentence(r)
            out.append(e)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def to_dict(self) -> dict:  # pragma: no cover - every design implements it
        raise NotImplementedError


def finite_or_nan(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v if math.isfinite(v) else float("nan")
