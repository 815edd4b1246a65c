"""The metric catalogue: labels, units, direction of improvement and NHS standards.

Loaders (demo and NHS England) produce these metric ids, so every notebook and
params file works unchanged on demo or real data. A metric not listed here still
works: it gets a neutral direction, its id as label, and no target.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


def metric_info(metric: str) -> MetricInfo:
    """Catalogue entry for ``metric``; an unknown id gets a neutral, unit-less entry."""
    if metric in CATALOGUE:
        return CATALOGUE[metric]
    return MetricInfo(metric, metric.replace("_", " "), "", "continuous", "neutral")
