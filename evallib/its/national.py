"""The national average effect by time since joining a provider collaborative (event time).

Every NHS trust joined a provider collaborative at some month between 2020 and 2022 (the
membership table, :mod:`evallib.data.memberships`). The question boards and NHS England ask --
*on average, did outcomes change after trusts joined?* -- is a staggered-adoption question, and
a two-way fixed-effects (TWFE) regression of the outcome on a joined-dummy is biased under
staggered adoption with effects that differ by cohort or grow with time (Goodman-Bacon 2021).
This design estimates it as Callaway & Sant'Anna (2021, J Econometrics 225:200) do, through
:func:`evallib.stats.staggered.callaway_santanna`:

- **units** are the trusts of the table of the members' unit type (``evallib/data/unit_types.csv``;
  ``unit_types: any`` turns the rule off) that have a **complete series** of the measure over the
  window (``start``..``end``); the others are listed with the reason they were left out;
- the **outcome** is each trust's own series: for a percentage, the trust's percentage
  ``numerator / denominator * 100`` (the value where the table has no numerator/denominator);
  for counts and money, the trust's value in the measure's own unit;
- the **cohort** of a trust is the month it first joined any collaborative (joining is treated as
  lasting: ``left`` dates are reported, not modelled); trusts that never joined within the window
  are never treated; a trust that joined in or before the first month has no month before joining
  to compare from and is left out;
- **comparators** are the *not-yet-treated* trusts: for cohort ``g`` at month ``t``, the trusts
  that join after ``max(t, g - 1)`` or never;
- the **base period** of each cohort is its last month before joining (``g - 1``, CS 2021's
  universal base), so every effect is a change from that month;
- **inference**: a cluster (trust) bootstrap stratified by cohort, ``n_boot`` draws seeded with
  ``seed``; pointwise intervals at ``alpha`` and a simultaneous band over the event times.

Reported: the **event-time table** ``theta(e)`` for ``e = -leads..H`` (``H`` the largest of
``horizons``; ``e = -1`` is the base and zero by construction) with its estimate, standard error,
interval, cohorts and trusts; the **overall** average of ``theta(0..H)``; the **pre-period test**
(leads ``-leads..-2``): a sup-t test from a bootstrap of the leads alone -- the largest
``|theta(e) / se(e)|`` against the ``1 - alpha`` quantile of its bootstrap distribution; it
*guards* the verdict (a failed test makes it "unclear", as the aligned design's scorecard does);
and, beside them, the **TWFE static** coefficient, the biased contrast, with CS 2021's "simple"
aggregation (the average over treated trust-months), the estimand a TWFE dummy is read as.

**Washout** (``washout: A/B``, default none): the estimator's base month is fixed at ``g - 1``,
so a washout cannot move it. When a washout is given, the cohorts whose base month lies inside it
(COVID-19: joining from April 2020 to April 2021 for ``2020-03/2021-03``) are measured from a
disturbed month; the estimate is repeated **without those trusts** (neither treated nor
comparators) as a sensitivity result beside the main one, which keeps them. The months of the
washout themselves stay in the panel: they are common to every trust, and the not-yet-treated
comparison differences out what they share.

Params (YAML, paths relative to the file): ``data``, ``memberships``, ``metric``, and optional
``start``, ``end``, ``alpha`` (0.05), ``horizons`` ([12, 24]), ``leads`` (12), ``washout``
(none), ``n_boot`` (999), ``seed`` (0), ``unit_types`` (auto), ``title``, ``id``, ``notebook``,
and the metric keys ``metric_label``, ``metric_unit``, ``improvement``, ``target``. Any other key
of the analysis params schema (:class:`evallib.config.Params`; a pack's defaults may carry them)
is accepted and not used; an unknown key is a ParameterError.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from evallib.exceptions import DataError, ModelError, ParameterError
from evallib.its.base import BaseResult, finite_or_nan
from evallib.metrics import metric_info
from evallib.periods import format_period, parse_period, parse_range
from evallib.text import interval_label, verdict

logger = logging.getLogger(__name__)

DESIGN = "event_time"
METHOD = "callaway_santanna"
MODEL = "Callaway-Sant'Anna group-time effects (not-yet-treated comparators, universal base)"
CITATION = ("Callaway B, Sant'Anna PHC. Difference-in-differences with multiple time periods. "
            "J Econometrics 2021;225:200-30")
INTERRUPTION = "joining"


# ------------------------------------------------------------------ params
class EventTimeParams(BaseModel):
    """The params of one national event-time analysis (module docstring)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    data: Path
    memberships: Path
    metric: str
    start: str | None = None
    end: str | None = None
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    horizons: list[int] = Field(default_factory=lambda: [12, 24])
    leads: int = Field(default=12, ge=2, le=60)
    washout: str | None = None
    n_boot: int = Field(default=999, ge=99, le=20000)
    seed: int = 0
    unit_types: Literal["auto", "any"] = "auto"
    id: str | None = None
    notebook: str | None = None
    improvement: Literal["increase", "decrease", "neutral"] | None = None
    metric_label: str | None = None
    metric_unit: str | None = None
    target: float | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _month(cls, v: Any) -> str | None:
        if v is None:
            return None
        s = str(v).strip()
        try:
            p = parse_period(s)
        except ValueError as exc:
            raise ValueError(f"{s!r} is not a month: write YYYY-MM ({exc})") from None
        if p.freqstr[0] != "M":
            raise ValueError(f"{s!r} is not a month: the membership dates are months, write YYYY-MM")
        return format_period(p)

    @field_validator("washout", mode="before")
    @classmethod
    def _washout(cls, v: Any) -> str | None:
        if v is None or (isinstance(v, str) and v.strip().lower() in ("", "none")):
            return None
        s = str(v).strip()
        try:
            parts = parse_range(s)
        except ValueError as exc:
            raise ValueError(f"{s!r} is not a range of months: write A/B, e.g. 2020-03/2021-03 ({exc})") from None
        if any(p.freqstr[0] != "M" for p in parts):
            raise ValueError(f"{s!r}: write the washout in months, e.g. 2020-03/2021-03")
        return s

    @field_validator("horizons", mode="before")
    @classmethod
    def _horizons(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = [v]
        if isinstance(v, list):
            if not v:
                raise ValueError("list at least one horizon (months after joining), e.g. [12, 24]")
            if any(isinstance(h, bool) or not isinstance(h, int) or h < 0 for h in v):
                raise ValueError(f"{v!r}: horizons are whole numbers of months from 0, e.g. [12, 24]")
            return sorted(set(v))
        return v

    @property
    def display_title(self) -> str:
        return self.title or f"{metric_info(self.metric).label}: national average by months since joining"

    @property
    def analysis_id(self) -> str:
        return self.id or f"national_{self.metric}"

    @property
    def horizon(self) -> int:
        """H: the last event time reported, and the end of the overall average 0..H."""
        return max(self.horizons)

    def to_yaml_dict(self) -> dict:
        d = self.model_dump(mode="json")
        d["data"], d["memberships"] = str(self.data), str(self.memberships)
        return d


def event_time_params(raw: dict | EventTimeParams | str | Path, base_dir: str | Path | None = None,
                      source: str = "params") -> EventTimeParams:
    """Validated :class:`EventTimeParams` from a mapping (paths relative to ``base_dir``) or a YAML
    path. Keys of the analysis params schema that this design does not use are dropped; others are
    a ParameterError naming the file and key."""
    from evallib.config import Params, _resolve_paths, _validate, read_yaml

    if isinstance(raw, EventTimeParams):
        return raw
    if isinstance(raw, (str, Path)):
        path = Path(raw)
        raw, base_dir, source = read_yaml(path), path.resolve().parent, str(path)
    if not isinstance(raw, dict):
        raise ParameterError(f"{source}: expected a mapping of params keys, found {type(raw).__name__}")
    mine = set(EventTimeParams.model_fields)
    unused = sorted(k for k in raw if k not in mine and k in Params.model_fields)
    if unused:
        logger.info("%s: keys not used by the event-time design: %s", source, ", ".join(unused))
    kept = {k: v for k, v in raw.items() if k not in unused}
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    return _validate(EventTimeParams, _resolve_paths(kept, base), source)


# ------------------------------------------------------------------ the panel
@dataclass
class EventTimePanel:
    """The trust-level panel of one measure: ``Y`` (months x trusts), complete."""

    Y: np.ndarray
    labels: list[str]                    # months of the window
    codes: list[str]                     # trusts (columns of Y)
    names: dict[str, str]
    cohort: np.ndarray                   # index of the joining month in labels, or -1 (never within)
    joined: dict[str, str | None]        # code -> joining month label (None: never)
    collaborative: dict[str, str | None]  # code -> id of the collaborative it joined first
    dropped: dict[str, str]              # code -> why it is not in the panel
    outcome: str                         # what Y is, in words
    unit_type: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def n_never(self) -> int:
        return int((self.cohort < 0).sum())

    def cohort_frame(self) -> pd.DataFrame:
        """One row per cohort (joining month): n trusts and the collaboratives they joined."""
        rows = []
        for g in sorted(set(int(x) for x in self.cohort if x >= 0)):
            members = [c for c, k in zip(self.codes, self.cohort) if k == g]
            collabs = sorted({self.collaborative[c] for c in members if self.collaborative.get(c)})
            rows.append({"cohort": self.labels[g], "n_trusts": len(members), "collaboratives": collabs,
                         "base": self.labels[g - 1]})
        return pd.DataFrame(rows, columns=["cohort", "n_trusts", "collaboratives", "base"])


def _outcome(rows: pd.DataFrame, info) -> tuple[pd.Series, str]:
    """Each row's outcome: a percentage from numerator/denominator where present."""
    value = rows["value"].astype(float)
    if info.unit == "%" or info.kind == "proportion":
        num, den = rows["numerator"].astype(float), rows["denominator"].astype(float)
        have = num.notna() & den.notna() & (den > 0)
        if have.any():
            return value.where(~have, 100.0 * num / den.where(den > 0)), \
                "each trust's percentage (numerator / denominator x 100)"
        return value, "each trust's percentage (the table's value; it has no numerators and denominators)"
    unit = info.unit or "value"
    return value, f"each trust's own value ({unit})"


def build_panel(table, memberships, metric: str, start: str | None = None, end: str | None = None,
                unit_types: str = "auto") -> EventTimePanel:
    """The panel of ``metric`` (module docstring): trusts, outcome, cohorts and the trusts left out."""
    from evallib.its.comparators import unit_type, unit_types as type_table

    if table.freq != "M":
        raise ParameterError(f"{table.source}: the table is {table.freq}-periodic, but joining dates are months: "
                             f"the event-time design needs a monthly table")
    info = metric_info(metric)
    rows = table.for_metric(metric)
    y, outcome = _outcome(rows, info)
    wide = pd.DataFrame({"period": rows["period"].to_numpy(), "org_code": rows["org_code"].to_numpy(),
                         "y": y.to_numpy()}).pivot_table(index="period", columns="org_code", values="y",
                                                         aggfunc="first")
    have = sorted(parse_period(p) for p in wide.index)
    first = parse_period(start) if start else have[0]
    last = parse_period(end) if end else have[-1]
    if last <= first:
        raise ParameterError(f"end {format_period(last)} is not after start {format_period(first)}: give a window "
                             f"of several months")
    if first > have[-1] or last < have[0]:
        raise ParameterError(f"start/end {format_period(first)} to {format_period(last)} lie outside the data of "
                             f"{metric} in {table.source} ({format_period(have[0])} to {format_period(have[-1])})")
    labels = [format_period(p) for p in pd.period_range(first, last, freq="M")]
    wide = wide.reindex(labels)
    names = rows.drop_duplicates("org_code").set_index("org_code")["org_name"].to_dict()
    codes = list(wide.columns)
    dropped: dict[str, str] = {}
    notes: list[str] = []
    members = [c for c in memberships.org_codes() if c in set(codes)]
    if not members:
        raise DataError(f"{memberships.source}: no member trust has rows for {metric} in {table.source}: check "
                        f"the ODS codes of the membership table against the data")
    ttable = type_table()
    kind = None
    if unit_types == "auto":
        kind = Counter(unit_type(c, ttable) for c in members).most_common(1)[0][0]
        for c in codes:
            k = unit_type(c, ttable)
            if k != kind:
                dropped[c] = f"unit type {k}, not the members' {kind}"
    keep = []
    T = len(labels)
    for c in codes:
        if c in dropped:
            continue
        col = wide[c].to_numpy(dtype=float)
        n_miss = int((~np.isfinite(col)).sum())
        if n_miss:
            dropped[c] = f"incomplete series: {n_miss} of {T} months missing"
            continue
        keep.append(c)
    cohort, joined, collab = [], {}, {}
    used = []
    for c in keep:
        j = memberships.join_date(c)
        collab[c] = memberships.collaborative_of(c)
        if j is None:
            joined[c] = None
            cohort.append(-1)
            used.append(c)
            continue
        g = (j - first).n
        joined[c] = format_period(j)
        if g <= 0:
            dropped[c] = (f"joined {format_period(j)}, at or before the first month analysed {labels[0]}: no month "
                          f"before joining to measure from")
            continue
        cohort.append(g if g < T else -1)
        if g >= T:
            notes.append(f"{c} joined {format_period(j)}, after the last month analysed {labels[-1]}: a comparator "
                         f"throughout")
        used.append(c)
    left = [r for r in memberships.rows if r.left is not None and r.org_code in set(used)
            and r.left <= last]
    if left:
        notes.append(f"{len(left)} trust(s) left a collaborative within the window (e.g. {left[0].org_code} "
                     f"{format_period(left[0].left)}): joining is treated as lasting, so they count as joined from "
                     f"their first joining month on")
    Y = wide[used].to_numpy(dtype=float) if used else np.zeros((T, 0))
    return EventTimePanel(Y=Y, labels=labels, codes=used, names={c: str(names.get(c, c)) for c in used},
                          cohort=np.array(cohort, dtype=int), joined=joined, collaborative=collab, dropped=dropped,
                          outcome=outcome, unit_type=kind, notes=notes)


# ------------------------------------------------------------------ the result
def _z(alpha: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(1 - alpha / 2))


def _term(est: float, se: float, alpha: float, p: float | None = None) -> dict:
    z = _z(alpha)
    est, se = finite_or_nan(est), finite_or_nan(se)
    if p is None and np.isfinite(se) and se > 0:
        from scipy import stats

        p = float(2 * stats.norm.sf(abs(est / se)))
    return {"estimate": est, "se": se, "ci": [est - z * se, est + z * se], "p": finite_or_nan(p)}


def _clean(v):
    """JSON-safe: NaN and inf as None; numpy scalars as Python numbers."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    return v


class EventTimeResult(BaseResult):
    """The national event-time analysis of one measure (module docstring).

    ``event_table(alpha)``: e, estimate, se, ci_lower, ci_upper, band_lower, band_upper (the
    simultaneous band, at the analysis alpha only), p, n_cohorts, n_trusts, observed,
    counterfactual. ``overall(alpha)``, ``simple(alpha)``, ``twfe(alpha)``: dicts with estimate,
    se, ci_lower, ci_upper. ``pre_trend``: the leads' sup-t test. ``effects(horizons, alpha)``: the
    base result's tidy frame at event times ``horizons`` (default the params' horizons).
    """

    def __init__(self, params: EventTimeParams, panel: EventTimePanel, main, leads_fit, twfe: tuple[float, float],
                 washout_fit=None, washout_cohorts: list[str] | None = None, table=None):
        self.params = params
        self.metric = params.metric
        self.title = params.display_title
        self.design = DESIGN
        self.method = METHOD
        self.model = MODEL
        self.freq = "M"
        self.alpha = float(params.alpha)
        self.horizons = list(params.horizons)
        self.interruptions = []
        self.warnings: list[str] = list(panel.notes)
        self.panel = panel
        self._main = main
        self._leads = leads_fit
        self._twfe = twfe
        self._washout = washout_fit
        self.washout_cohorts = list(washout_cohorts or [])
        self.table = table
        self.n_obs = int(panel.Y.size)
        et = main.event_time
        self._obs = self._observed_by_event(main.group_time)
        self._et = et.assign(observed=[self._obs.get(int(e), float("nan")) for e in et["event_time"]])
        self._et["counterfactual"] = self._et["observed"] - self._et["estimate"]
        if main.left_out:
            self._warn(f"{len(main.left_out)} trust(s) joined in the first month and were left out")
        if panel.n_never == 0:
            last = max(int(g) for g in panel.cohort)
            self._warn(f"every trust joins a collaborative within the window: the last cohort "
                       f"({panel.labels[last]}) is only ever a comparator, and no effect is estimated after it "
                       f"joins (no trust is left not yet treated)")
        pt = self.pre_trend
        if pt is not None and not pt["passed"]:
            self._warn(f"the pre-period test failed: before joining, the joining trusts already moved differently "
                       f"from the not-yet-joined ones (largest |t| {pt['statistic']:.2f} over leads "
                       f"{pt['from']} to {pt['to']}, against {pt['critical']:.2f}); the verdict is unclear")

    # ---------------------------------------------------------------- tables
    def _observed_by_event(self, gt: pd.DataFrame) -> dict[int, float]:
        """The treated cohorts' mean outcome at each event time, weighted as theta(e) is."""
        Y, G = self.panel.Y, self.panel.cohort
        out = {}
        for e, sub in gt.groupby("event_time"):
            vals, w = [], []
            for _, r in sub.iterrows():
                g, t = int(r["cohort"]), int(r["period"])
                vals.append(float(Y[t, G == g].mean()))
                w.append(float(r["n_treated"]))
            out[int(e)] = float(np.average(vals, weights=w))
        return out

    def event_table(self, alpha: float | None = None) -> pd.DataFrame:
        """The event-time table at level ``1 - alpha`` (module docstring)."""
        a = self._alpha(alpha)
        et = self._et
        z = _z(a)
        same = abs(a - self.alpha) < 1e-12
        return pd.DataFrame({
            "e": et["event_time"].astype(int), "estimate": et["estimate"], "se": et["se"],
            "ci_lower": et["estimate"] - z * et["se"], "ci_upper": et["estimate"] + z * et["se"],
            "band_lower": et["band_lower"] if same else np.nan, "band_upper": et["band_upper"] if same else np.nan,
            "p": et["p"], "n_cohorts": et["n_cohorts"].astype(int), "n_trusts": et["n_units"].astype(int),
            "observed": et["observed"], "counterfactual": et["counterfactual"]}).reset_index(drop=True)

    @staticmethod
    def _agg(est_se, alpha: float) -> dict:
        est, se = float(est_se[0]), float(est_se[1])
        z = _z(alpha)
        return {"estimate": est, "se": se, "ci_lower": est - z * se, "ci_upper": est + z * se}

    @property
    def last_event(self) -> int:
        """The last event time estimated (at most H; less when no cohort is observed that long)."""
        post = self._et.loc[self._et["event_time"] >= 0, "event_time"]
        return int(post.max()) if len(post) else -1

    def overall(self, alpha: float | None = None) -> dict:
        """The mean of theta(0..H) with its interval (``events``: the event times averaged)."""
        d = self._agg(self._main.overall, self._alpha(alpha))
        d["events"] = [0, self.last_event]
        return d

    def simple(self, alpha: float | None = None) -> dict:
        """CS 2021's simple aggregation: the mean effect over every treated trust-month."""
        return self._agg(self._main.simple, self._alpha(alpha))

    def twfe(self, alpha: float | None = None) -> dict:
        """The TWFE static coefficient (the biased contrast) with its unit-clustered interval."""
        return self._agg(self._twfe, self._alpha(alpha))

    def washout_overall(self, alpha: float | None = None) -> dict | None:
        """The overall average without the cohorts whose base month lies in the washout, or None."""
        if self._washout is None:
            return None
        d = self._agg(self._washout.overall, self._alpha(alpha))
        post = self._washout.event_time["event_time"]
        d["events"] = [0, int(post[post >= 0].max())] if (post >= 0).any() else [0, -1]
        return d

    @property
    def pre_trend(self) -> dict | None:
        """The leads' sup-t test at the analysis alpha (module docstring), or None (no lead estimable)."""
        if self._leads is None:
            return None
        et = self._leads.event_time
        t = (et["estimate"] / et["se"]).abs()
        stat = float(t.max()) if len(t) else float("nan")
        crit = float(self._leads.band_critical)
        return {"leads": int(len(et)), "from": int(et["event_time"].min()), "to": int(et["event_time"].max()),
                "statistic": stat, "critical": crit, "alpha": self.alpha,
                "passed": bool(not (np.isfinite(stat) and np.isfinite(crit)) or stat <= crit),
                "n_pointwise_outside": int((et["p"] < self.alpha).sum()),
                "method": "sup-t over the leads: the largest |estimate/se| against the 1 - alpha quantile of its "
                          "cohort-stratified bootstrap distribution"}

    def failed_checks(self) -> list[str]:
        pt = self.pre_trend
        return ["pre_trends"] if (pt is not None and not pt["passed"]) else []

    # ---------------------------------------------------------------- base contract
    def _effect_records(self, horizons: Sequence[int], alpha: float) -> list[dict]:
        et = self.event_table(alpha)
        credible = not self.failed_checks()
        nan5 = (float("nan"),) * 5
        out = []
        for h in horizons:
            row = et[et["e"] == int(h)]
            if row.empty:
                self._warn(f"no estimate {h} months after joining: no cohort is observed that long after joining "
                           f"with a not-yet-joined comparator")
                continue
            r = row.iloc[0]
            est, se, lo, hi, p = (float(r[k]) for k in ("estimate", "se", "ci_lower", "ci_upper", "p"))
            obs = float(r["observed"])
            # relative to the counterfactual obs - theta: a monotone map of theta, so the bounds map exactly
            rel = nan5
            if np.isfinite(obs) and obs - min(lo, est) > 0 and obs - hi > 0:
                f = lambda x: x / (obs - x)  # noqa: E731
                rel = (f(est), float("nan"), f(lo), f(hi), p)
            out.append({"interruption": INTERRUPTION, "horizon": int(h), "period": f"{int(h)} months after joining",
                        "observed": obs, "fitted": float("nan"), "counterfactual": obs - est, "credible": credible,
                        "absolute": (est, se, lo, hi, p), "relative": rel, "cumulative": nan5})
        return out

    def sentence(self, rec: dict, alpha: float | None = None) -> str:
        """'Twelve months after joining, across N trusts in K cohorts, LABEL was X higher than in the
        trusts not yet in a collaborative (95% CI ...), an improvement.'"""
        from evallib import text as W

        info = metric_info(self.metric)
        level = interval_label(self._alpha(alpha))
        h = int(rec["horizon"])
        et = self._et[self._et["event_time"] == h]
        n_tr = int(et["n_units"].iloc[0]) if len(et) else 0
        n_co = int(et["n_cohorts"].iloc[0]) if len(et) else 0
        when = "In the month of joining" if h == 0 else \
            f"{W.number_word(h).capitalize()} month{'s' if h != 1 else ''} after joining"
        subject = W.subject(info.label)
        est, lo, hi = rec["absolute"], rec["absolute_lower"], rec["absolute_upper"]
        if not np.isfinite(est):
            return f"{when}, the average effect on {subject} could not be estimated."
        fmt = lambda v: W.amount(v, info.unit)  # noqa: E731
        who = f"on average across {n_tr} trusts in {n_co} joining cohorts"
        if not rec.get("credible", True):
            return (f"{when}, no average effect on {subject} is stated: before joining, the joining trusts already "
                    f"moved differently from those not yet in a collaborative (the pre-period test failed).")
        direction = "higher" if est > 0 else "lower"
        v = self.verdict_of(rec)
        if lo > 0 or hi < 0:
            near, far = (lo, hi) if lo > 0 else (hi, lo)
            ci = f"({level} {fmt(near)} to {fmt(far)} {direction})"
            tail = f", {'an' if v == 'improvement' else 'a'} {v}" if v in ("improvement", "deterioration") else ""
        else:
            ci = f"({level} {fmt(lo)} lower to {fmt(hi)} higher; the interval includes no change)"
            tail = ""
        verb = "were" if W.is_plural(info.label) else "was"
        return (f"{when}, {who}, {subject} {verb} {fmt(est)} {direction} than in the trusts not yet in a "
                f"collaborative {ci}{tail}.")

    def overall_sentence(self, alpha: float | None = None) -> str:
        """The headline: the average of theta(0..H) in words, with the verdict."""
        from evallib import text as W

        a = self._alpha(alpha)
        info = metric_info(self.metric)
        o = self.overall(a)
        H = self.last_event
        subject = W.subject(info.label)
        verb = "were" if W.is_plural(info.label) else "was"
        if not np.isfinite(o["estimate"]):
            return f"The average effect on {subject} over the first {H} months after joining could not be estimated."
        if self.failed_checks():
            return (f"No average effect on {subject} is stated: before joining, the joining trusts already moved "
                    f"differently from those not yet in a collaborative (the pre-period test failed).")
        v = self.headline_verdict(a)
        fmt = lambda x: W.amount(x, info.unit)  # noqa: E731
        d = "higher" if o["estimate"] > 0 else "lower"
        lo, hi = o["ci_lower"], o["ci_upper"]
        if lo > 0 or hi < 0:
            near, far = (lo, hi) if lo > 0 else (hi, lo)
            ci = f"({interval_label(a)} {fmt(near)} to {fmt(far)} {d})"
        else:
            ci = f"({interval_label(a)} {fmt(lo)} lower to {fmt(hi)} higher; the interval includes no change)"
        tail = {"improvement": ", an improvement", "deterioration": ", a deterioration"}.get(v, "")
        return (f"Over months 0 to {H} after joining a provider collaborative, {subject} {verb} on average "
                f"{fmt(o['estimate'])} {d} than in trusts not yet in one {ci}{tail}.")

    def headline_verdict(self, alpha: float | None = None) -> str:
        o = self.overall(alpha)
        imp = self.params.improvement or metric_info(self.metric).improvement
        return verdict(o["ci_lower"], o["ci_upper"], imp, not self.failed_checks())

    def summary_frame(self, alpha: float | None = None) -> pd.DataFrame:
        """Terms: theta(e) per event time, overall, simple, twfe_static (estimate, se, interval, p)."""
        a = self._alpha(alpha)
        et = self.event_table(a)
        rows = [{"group": "event_time", "term": f"theta[{int(r.e)}]", "estimate": r.estimate, "se": r.se,
                 "ci_lower": r.ci_lower, "ci_upper": r.ci_upper, "p": r.p} for r in et.itertuples()]
        for name, d in (("overall", self.overall(a)), ("simple", self.simple(a)), ("twfe_static", self.twfe(a))):
            rows.append({"group": "aggregate", "term": name, "estimate": d["estimate"], "se": d["se"],
                         "ci_lower": d["ci_lower"], "ci_upper": d["ci_upper"],
                         "p": _term(d["estimate"], d["se"], a)["p"]})
        return pd.DataFrame(rows, columns=["group", "term", "estimate", "se", "ci_lower", "ci_upper", "p"])

    def counterfactual(self, interruption=None, alpha: float | None = None) -> pd.DataFrame:
        """By event time: observed mean of the joining trusts, and observed minus the effect."""
        et = self.event_table(alpha)
        return et[["e", "observed", "counterfactual", "estimate", "ci_lower", "ci_upper"]]

    def diagnostics(self) -> dict:
        m = self._main
        return {"method": METHOD, "n_boot": m.n_boot, "seed": self.params.seed, "band_critical": m.band_critical,
                "n_trusts": len(self.panel.codes), "n_never": self.panel.n_never,
                "n_cohorts": int(len(self.panel.cohort_frame())), "pre_trend": self.pre_trend,
                "left_out": [self.panel.codes[i] for i in m.left_out]}

    # ---------------------------------------------------------------- outputs
    def to_dict(self) -> dict:
        """results.json (docs/contracts.md §4, extended: ``kind: event_time``)."""
        a = self.alpha
        p = self.params
        et = self.event_table(a)
        cf = self.panel.cohort_frame()
        prov = {"evallib_version": _version(), "created": _created()}
        if self.table is not None:
            prov.update({"data_file": str(getattr(self.table, "path", "") or ""),
                         "data_sha256": getattr(self.table, "sha256", None)})
        prov["memberships_file"] = str(p.memberships)
        prov["params"] = p.to_yaml_dict()
        pt = self.pre_trend
        wo = None
        if p.washout:
            wo = {"range": p.washout, "cohorts_in_washout": self.washout_cohorts,
                  "rule": "cohorts whose base month (the month before joining) lies inside the washout; the "
                          "sensitivity estimate leaves their trusts out",
                  "overall_without": (_term(self._washout.overall[0], self._washout.overall[1], a)
                                      if self._washout is not None else None)}
        d = {"schema": "evallib.results/1", "kind": "event_time", "title": self.title, "metric": self.metric,
             "design": DESIGN, "method": METHOD, "model": MODEL, "citation": CITATION, "alpha": a,
             "n_obs": self.n_obs, "periods": {"first": self.panel.labels[0], "last": self.panel.labels[-1]},
             "outcome": self.panel.outcome,
             "event_time": [{"e": int(r.e), "estimate": r.estimate, "se": r.se, "ci": [r.ci_lower, r.ci_upper],
                             "band": [r.band_lower, r.band_upper], "p": r.p, "n_cohorts": int(r.n_cohorts),
                             "n_trusts": int(r.n_trusts), "observed": r.observed,
                             "counterfactual": r.counterfactual} for r in et.itertuples()],
             "overall": {**_term(self._main.overall[0], self._main.overall[1], a), "events": [0, self.last_event]},
             "simple": _term(self._main.simple[0], self._main.simple[1], a),
             "twfe_static": _term(self._twfe[0], self._twfe[1], a),
             "pre_trend": pt,
             "cohorts": [{"cohort": r.cohort, "base": r.base, "n_trusts": int(r.n_trusts),
                          "collaboratives": list(r.collaboratives)} for r in cf.itertuples()],
             "trusts": {"used": len(self.panel.codes), "never_joined": self.panel.n_never,
                        "unit_type": self.panel.unit_type, "dropped": dict(self.panel.dropped)},
             "inference": {"method": "cluster (trust) bootstrap stratified by cohort", "n_boot": self._main.n_boot,
                           "seed": p.seed, "band_critical": self._main.band_critical},
             "washout": wo,
             "effects": self.effect_dicts(),
             "headline": {"verdict": self.headline_verdict(a), "sentence": self.overall_sentence(a)},
             "failed_checks": self.failed_checks(),
             "warnings": list(self.warnings), "provenance": prov}
        return _clean(d)

    def summary(self) -> str:
        o, tw = self.overall(), self.twfe()
        lines = [f"{self.title}", f"{MODEL}; {len(self.panel.codes)} trusts, "
                 f"{len(self.panel.cohort_frame())} cohorts, {self.panel.n_never} never joined",
                 f"overall theta(0..{self.last_event}): {o['estimate']:.4g} "
                 f"[{o['ci_lower']:.4g}, {o['ci_upper']:.4g}] ({interval_label(self.alpha)})",
                 f"TWFE static (biased contrast): {tw['estimate']:.4g} [{tw['ci_lower']:.4g}, {tw['ci_upper']:.4g}]"]
        pt = self.pre_trend
        if pt:
            lines.append(f"pre-period test: max |t| {pt['statistic']:.2f} vs {pt['critical']:.2f}: "
                         f"{'passed' if pt['passed'] else 'FAILED'}")
        lines.append(self.overall_sentence())
        return "\n".join(lines)

    def plot(self, ax=None, alpha: float | None = None):
        from evallib.plots.national import event_time_chart

        info = metric_info(self.metric)
        return event_time_chart(self.event_table(alpha), label=info.label, unit=info.unit,
                                improvement=self.params.improvement or info.improvement,
                                alpha=self._alpha(alpha), overall=self.overall(alpha),
                                synthetic=bool(getattr(self.table, "synthetic", False)), ax=ax)


def _version() -> str:
    import evallib

    return evallib.__version__


def _created() -> str:
    from evallib.text import created_timestamp

    return created_timestamp()


# ------------------------------------------------------------------ the analysis
def analyse_event_time(params, data=None, memberships=None) -> EventTimeResult:
    """The national event-time analysis of one measure.

    ``params``: :class:`EventTimeParams`, a mapping or a YAML path; ``data``: a TidyTable (default:
    ``params.data`` loaded); ``memberships``: a :class:`~evallib.data.memberships.Memberships`
    (default: ``params.memberships`` loaded and checked against the table).
    """
    from evallib.stats.staggered import callaway_santanna, twfe_static

    p = event_time_params(params)
    if data is None:
        from evallib.data.table import load_table

        data = load_table(p.data)
    if memberships is None:
        from evallib.data.memberships import load_memberships

        memberships = load_memberships(p.memberships).validate_against(data)
    panel = build_panel(data, memberships, p.metric, p.start, p.end, p.unit_types)
    G = panel.cohort
    if not (G > 0).any():
        raise ModelError(f"{p.metric}: no trust of the panel joins a collaborative between {panel.labels[1]} and "
                         f"{panel.labels[-1]} ({len(panel.codes)} trusts kept, {len(panel.dropped)} left out): "
                         f"widen start/end or check the membership table {memberships.source}")
    events = (-p.leads, p.horizon)
    try:
        main = callaway_santanna(panel.Y, G, events=events, alpha=p.alpha, n_boot=p.n_boot, seed=p.seed)
    except ModelError as exc:
        raise ModelError(f"{p.metric}: the event-time estimate cannot be computed over {panel.labels[0]} to "
                         f"{panel.labels[-1]} with {len(panel.codes)} trusts: {exc}") from exc
    try:
        leads = callaway_santanna(panel.Y, G, events=(-p.leads, -2), alpha=p.alpha, n_boot=p.n_boot, seed=p.seed)
    except ModelError:
        leads = None
    twfe = twfe_static(panel.Y, G)
    wfit, wcohorts = None, []
    if p.washout:
        lo, hi = parse_range(p.washout)
        lo_l, hi_l = format_period(lo), format_period(hi)
        base_in = np.array([g > 0 and lo_l <= panel.labels[g - 1] <= hi_l for g in G])
        wcohorts = sorted({panel.labels[g] for g, b in zip(G, base_in) if b})
        if base_in.any() and (G[~base_in] > 0).any():
            try:
                wfit = callaway_santanna(panel.Y[:, ~base_in], G[~base_in], events=events, alpha=p.alpha,
                                         n_boot=p.n_boot, seed=p.seed)
            except ModelError as exc:
                logger.info("washout sensitivity not computed: %s", exc)
    res = EventTimeResult(p, panel, main, leads, twfe, wfit, wcohorts, table=data)
    if p.washout and wcohorts and wfit is None:
        res._warn(f"without the cohorts whose base month is in the washout {p.washout} ({', '.join(wcohorts)}), no "
                  f"cohort is left to estimate: the washout sensitivity is not reported")
    return res


__all__ = ["EventTimeParams", "EventTimePanel", "EventTimeResult", "event_time_params", "build_panel",
           "analyse_event_time", "CITATION", "DESIGN", "METHOD"]
