"""The metric catalogue: labels, units, direction of improvement and NHS standards.

Loaders (demo and NHS England) produce these metric ids, so every notebook and
params file works unchanged on demo or real data. A metric not listed here still
works: it gets a neutral direction, its id as label, no unit and no target, and
:func:`metric_info_for` logs a warning naming it.

Your own measure: the params keys ``metric_label``, ``metric_unit``,
``improvement`` and ``target`` describe a measure outside the catalogue (or
relabel one inside it). :func:`metric_info_for` merges them into the catalogue
entry. The analysis notebooks call :func:`use_params` at their start, which makes
:func:`metric_info` return the merged entry for that metric id until the next
analysis starts, so every chart, sentence and page of the analysis (they all ask
``metric_info(metric)``) carries the evaluator's label and unit.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Literal

logger = logging.getLogger(__name__)

Kind = Literal["count", "proportion", "continuous"]
Direction = Literal["increase", "decrease", "neutral"]


@dataclass(frozen=True)
class MetricInfo:
    id: str
    label: str              # plain-English name for board pages ("52-week waiters")
    unit: str               # "patients", "%", "£k", ...
    kind: Kind              # count -> Poisson family, proportion -> binomial family
    improvement: Direction  # which way is better
    target: float | None = None  # national standard, in the metric's unit (percent for %)
    aim: str = ""           # which of the collaborative's aims it measures


CATALOGUE: dict[str, MetricInfo] = {m.id: m for m in [
    MetricInfo("cancer_62d_pct", "Cancer 62-day treatment standard", "%", "proportion",
               "increase", 85.0, "cancer outcomes"),
    MetricInfo("cancer_fds_28d_pct", "Cancer 28-day Faster Diagnosis Standard", "%",
               "proportion", "increase", 75.0, "cancer outcomes"),
    MetricInfo("cancer_31d_pct", "Cancer 31-day treatment standard", "%", "proportion",
               "increase", 96.0, "cancer outcomes"),
    MetricInfo("rtt_waiting_list", "RTT waiting list (incomplete pathways)", "patients",
               "count", "decrease", None, "elective backlog"),
    MetricInfo("rtt_52w_waiters", "52-week waiters", "patients", "count", "decrease", None,
               "elective backlog"),
    MetricInfo("rtt_over18w_waiters", "Patients waiting over 18 weeks", "patients", "count", "decrease",
               None, "elective backlog"),
    MetricInfo("rtt_18w_pct", "Patients waiting under 18 weeks", "%", "proportion",
               "increase", 92.0, "elective backlog"),
    MetricInfo("rtt_waiting_list_dermatology", "Dermatology waiting list", "patients",
               "count", "decrease", None, "fragile services"),
    MetricInfo("rtt_waiting_list_ent", "ENT waiting list", "patients", "count", "decrease",
               None, "fragile services"),
    MetricInfo("rtt_waiting_list_ophthalmology", "Ophthalmology waiting list", "patients",
               "count", "decrease", None, "fragile services"),
    MetricInfo("critical_care_occupancy_pct", "Adult critical care occupancy", "%",
               "proportion", "neutral", None, "critical-care capacity"),
    MetricInfo("ga_occupancy_pct", "General and acute bed occupancy", "%", "proportion",
               "neutral", None, "critical-care capacity"),
    MetricInfo("agency_spend_gbp_k", "Agency staff spend", "£k", "continuous", "decrease",
               None, "finance"),
    MetricInfo("ae_4h_pct", "A&E seen within 4 hours", "%", "proportion", "increase", 95.0,
               "control outcome (not targeted)"),
    MetricInfo("ae_attendances", "A&E attendances", "attendances", "count", "neutral", None,
               "activity"),
    MetricInfo("diagnostics_6w_pct", "Diagnostic waits of 6 weeks or more", "%", "proportion",
               "decrease", 1.0, "elective backlog"),
]}


#: entries of the running analysis (set by :func:`use_params`), consulted before the catalogue
_ACTIVE: dict[str, MetricInfo] = {}


def _catalogue_info(metric: str) -> MetricInfo:
    if metric in CATALOGUE:
        return CATALOGUE[metric]
    return MetricInfo(metric, metric.replace("_", " "), "", "continuous", "neutral")


def metric_info(metric: str) -> MetricInfo:
    """Entry for ``metric``: the running analysis's (see :func:`use_params`), else the
    catalogue's; an unknown id gets a neutral, unit-less entry labelled by its id."""
    if metric in _ACTIVE:
        return _ACTIVE[metric]
    return _catalogue_info(metric)


def known_metric(metric: str) -> bool:
    """Whether ``metric`` is in the catalogue."""
    return metric in CATALOGUE


def metric_info_for(params: Any) -> MetricInfo:
    """The entry of ``params.metric`` with the params' own ``metric_label``, ``metric_unit``,
    ``improvement`` and ``target`` on top of the catalogue's.

    Logs a warning naming the metric id when it is not in the catalogue.
    """
    metric = params.metric
    base = _catalogue_info(metric)
    label = getattr(params, "metric_label", None)
    unit = getattr(params, "metric_unit", None)
    improvement = getattr(params, "improvement", None)
    target = getattr(params, "target", None)
    if metric not in CATALOGUE:
        given = [k for k, v in (("metric_label", label), ("metric_unit", unit), ("improvement", improvement))
                 if v is not None]
        missing = [k for k in ("metric_label", "metric_unit", "improvement") if k not in given]
        logger.warning("metric %r is not in the evallib catalogue (evallib/metrics.py)%s", metric,
                       f": set {', '.join(missing)} in the params to describe it" if missing else
                       f"; described by the params keys {', '.join(given)}")
    changes: dict[str, Any] = {}
    if label is not None:
        changes["label"] = label
    if unit is not None:
        changes["unit"] = unit
    if improvement is not None:
        changes["improvement"] = improvement
    if target is not None:
        changes["target"] = float(target)
    return dataclasses.replace(base, **changes) if changes else base


def use_params(params: Any) -> MetricInfo:
    """Make :func:`metric_info` answer with ``metric_info_for(params)`` for ``params.metric``.

    Replaces whatever an earlier analysis in this process registered (a batch worker runs
    many notebooks in one process), so the entry is that of the analysis now running.
    Returns the entry.
    """
    info = metric_info_for(params)
    _ACTIVE.clear()
    if info != _catalogue_info(params.metric):
        _ACTIVE[params.metric] = info
    return info


def use_pack(params_list: Any) -> None:
    """Like :func:`use_params` for every analysis of a pack (the first analysis of a metric
    decides its entry); pages that show several metrics (data quality) then label them as
    the pack does."""
    _ACTIVE.clear()
    for params in params_list:
        if params.metric in _ACTIVE:
            continue
        info = metric_info_for(params)
        if info != _catalogue_info(params.metric):
            _ACTIVE[params.metric] = info


def clear_params() -> None:
    """Forget the entries registered by :func:`use_params`."""
    _ACTIVE.clear()
