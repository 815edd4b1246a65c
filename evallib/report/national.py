"""The national pages: the event-time notebook's sections and the national index.

**The event-time page** (``notebooks/national_event_time.ipynb``): one call per section, as
:mod:`evallib.report.notebook` does for ``its_outcome``::

    a = nat.start(params_path, overrides, namespace=globals())   # params, data, membership table
    nat.show_model(a)                  # what is estimated, cohorts, comparators, method (CS 2021)
    res = nat.fit(a)                   # evallib.its.national.analyse_event_time
    nat.show_cohorts(a, res)
    nat.show_event_time(a, res)        # headline, event-time chart and table
    nat.show_pre_trends(a, res)
    nat.show_twfe_contrast(a, res)     # the biased TWFE static coefficient beside CS
    nat.show_washout(a, res)
    nat.show_findings(a, res)
    nat.show_provenance(a, res)
    nat.write_outputs(a, res, results_path)   # results.json and summary.json, atomically

``summary.json`` has the fields ``its_outcome`` writes where they apply (schema
``evallib.board-summary/1``: title, metric, label, unit, improvement, design, headline, verdict,
sentence, alpha, failed_checks, synthetic, warnings), with ``kind: event_time``; its
``headline`` is the average effect over months ``0..H`` after joining, and ``at_horizons`` the
effects at the params' horizons (absolute and relative), which the national index draws as the
national reference line.

**The national index** (:func:`write_national_index`): for a pack whose manifest entries carry
``kind`` (``collaborative`` or ``event_time``), ``collaborative``, ``collaborative_name`` and
``formation``, one section per measure with a caterpillar chart of every collaborative's effect
at the headline horizon (from each analysis' ``summary.json``; percentage points for
percentages, % of expected for counts and money, so collaboratives of different sizes compare),
the national average at that horizon as a reference line and a link to the measure's event-time
page; then ONE table of every collaborative x measure analysis, sortable by clicking a header
(a few lines of inline JavaScript, no network), in collaborative order by default. Inline CSS
with the A4 print stylesheet; the page is self-contained.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import evallib
from evallib.fsutil import atomic_write_text, source_date_epoch, utc_now

logger = logging.getLogger(__name__)

NOTEBOOK = "national_event_time"


# ------------------------------------------------------------------ the event-time page
@dataclass
class NationalAnalysis:
    """What the event-time notebook carries between sections."""

    params: Any                         # evallib.its.national.EventTimeParams
    table: Any                          # TidyTable
    memberships: Any                    # Memberships
    info: Any                           # MetricInfo
    params_path: Path | None
    started: float = field(default_factory=time.time)
    notes: list[str] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        return bool(getattr(self.table, "synthetic", False))

    @property
    def improvement(self) -> str:
        return self.params.improvement or self.info.improvement


def _merge(raw: dict, overrides: dict | None, given: dict, source: str) -> tuple[dict, list[str]]:
    """The params after ``overrides`` and the notebook parameters; a changed metric drops the
    file's metric-bound keys (title, labels), as :func:`evallib.report.params_cell.merge` does."""
    from evallib.config import deep_merge
    from evallib.report.params_cell import METRIC_BOUND, coerce

    keys = {k: coerce(k, v) for k, v in given.items() if v is not None}
    out = deep_merge(raw, dict(overrides or {})) if overrides else dict(raw)
    out = deep_merge(out, keys) if keys else out
    if "horizons" in keys:
        out["horizons"] = keys["horizons"]
    notes = []
    gave = set(overrides or {}) | set(keys)
    if "metric" in gave and out.get("metric") != raw.get("metric"):
        dropped = [k for k in METRIC_BOUND if k in raw and k not in gave]
        for k in dropped:
            out.pop(k, None)
        if dropped:
            notes.append(f"The metric is {out.get('metric')} instead of the params file's {raw.get('metric')}, so "
                         f"the file's {', '.join(dropped)} (which describe {raw.get('metric')}) are not used.")
    return out, notes


def start(params_path: str | os.PathLike, overrides: dict | None = None, namespace: dict | None = None,
          **keys) -> NationalAnalysis:
    """Load the params (``overrides`` and the notebook parameters on top), the table and the
    membership table (checked against the table); show the title and banners. ParameterError /
    DataError name the file and key at fault."""
    from evallib.data.memberships import load_memberships
    from evallib.its.national import event_time_params
    from evallib.metrics import use_params
    from evallib.plots import palette
    from evallib.report.notebook import cached_table, md, read_analysis_params, show_title

    p, raw, given, source = read_analysis_params(params_path, namespace, NOTEBOOK, keys)
    merged, notes = _merge(raw, overrides, given, source)
    params = event_time_params(merged, p.resolve().parent, source)
    table = cached_table(params.data)
    members = load_memberships(params.memberships).validate_against(table)
    info = use_params(params)
    a = NationalAnalysis(params=params, table=table, memberships=members, info=info, params_path=p, notes=notes)
    palette.apply_style()
    show_title(params.display_title, a.synthetic)
    for n in notes:
        md(f"> **Note.** {n}", board=False)
    better = {"increase": "higher", "decrease": "lower"}.get(a.improvement, "neither: no preferred direction")
    md(f"**Measure:** {info.label} ({info.unit or 'value'}; better when {better}). **Trusts:** every trust in "
       f"the table with a complete series; **joining dates:** the membership table "
       f"`{Path(params.memberships).name}` ({len(members.collaboratives())} collaboratives, "
       f"{len(members.org_codes())} member trusts).")
    return a


def fit(a: NationalAnalysis):
    """The event-time analysis (:func:`evallib.its.national.analyse_event_time`)."""
    from evallib.its.national import analyse_event_time

    return analyse_event_time(a.params, a.table, a.memberships)


def show_model(a: NationalAnalysis) -> str:
    """What is estimated, the cohorts and comparators, and the method with its citation."""
    from evallib.its.national import CITATION
    from evallib.report.notebook import md
    from evallib.text import subject

    p = a.params
    text = (f"The average change in {subject(a.info.label)} "
            f"in each month after a trust joined a provider collaborative, against what the trusts that had "
            f"not yet joined did over the same months, month 0 being the month of joining. "
            f"**Cohorts:** trusts that joined in the same month form a cohort; each cohort's change is measured "
            f"from its last month before joining. **Comparators:** for each cohort and month, the trusts not "
            f"yet in a collaborative (those joining later, or never), so a trust stops being a comparator "
            f"when it joins. **Method:** group-time average effects aggregated by months since joining "
            f"(Callaway & Sant'Anna 2021), which stay valid when trusts join at different times and the effect "
            f"differs between cohorts or grows with time; the usual two-way fixed-effects regression does "
            f"not, and is shown beside it only as a contrast. Intervals: {100 * (1 - p.alpha):g}%, from "
            f"{p.n_boot} bootstrap draws of trusts within cohorts (seed {p.seed}).\n\n"
            f"*Reference:* {CITATION}.")
    md(text)
    return text


def show_cohorts(a: NationalAnalysis, res):
    """The cohorts (joining month, trusts, collaboratives, base month) and the trusts left out."""
    import pandas as pd

    from evallib.report.notebook import _html_table, md, technical

    cf = res.panel.cohort_frame()
    names = {c: a.memberships.name(c) for c in a.memberships.collaboratives()}
    nb = lambda label: str(label).replace("-", "\u2011")  # noqa: E731  (a month never breaks across lines)
    t = pd.DataFrame({"Joined": [nb(x) for x in cf["cohort"]], "Trusts": cf["n_trusts"],
                      "Measured from": [nb(x) for x in cf["base"]],
                      "Collaboratives": [", ".join(names.get(c, c) for c in cs) for cs in cf["collaboratives"]]})
    md(f"**{len(res.panel.codes)} trusts** over {res.panel.labels[0]} to {res.panel.labels[-1]}: "
       f"{len(cf)} joining cohorts and {res.panel.n_never} trust(s) that never joined. The outcome is "
       f"{res.panel.outcome}.")
    _html_table(t, num_cols=("Trusts",))
    if res.panel.dropped:
        with technical(f"Trusts left out ({len(res.panel.dropped)})"):
            _html_table(pd.DataFrame({"Trust": list(res.panel.dropped), "Why": list(res.panel.dropped.values())}))
    return t


def _ci(a: NationalAnalysis) -> str:
    from evallib.text import interval_label

    return interval_label(a.params.alpha)


def show_event_time(a: NationalAnalysis, res):
    """The headline sentence, the event-time chart and the table of estimates by event time."""
    import pandas as pd

    from evallib.report.notebook import _html_table, _range, _show_fig, fmt, md, technical

    md(f"**{res.overall_sentence()}**")
    fig, _ = res.plot()
    _show_fig(fig, alt=f"Chart: average effect on {a.info.label} by months since joining a provider collaborative, "
                       f"with {_ci(a)} intervals; months before joining should be near zero")
    unit = a.info.unit
    et = res.event_table()
    post = et[et["e"] >= 0]
    thinning = (f" Later months rest on fewer, earlier cohorts ({int(post['n_trusts'].iloc[0])} trusts in month 0, "
                f"{int(post['n_trusts'].iloc[-1])} in month {int(post['e'].iloc[-1])}), so their intervals widen."
                if len(post) and post["n_trusts"].iloc[-1] < post["n_trusts"].iloc[0] else "")
    md(f"Each dot is the average effect that many months after joining, across the cohorts observed then; "
       f"bars are {_ci(a)} intervals, the shaded band holds for all months at once. Month −1 is the base "
       f"(zero by construction).{thinning}")
    def table(rows):
        return pd.DataFrame({"Months since joining": rows["e"],
                             "Effect": [fmt(x, unit, True) for x in rows["estimate"]],
                             _ci(a): [_range(lo, hi, unit) for lo, hi in zip(rows["ci_lower"], rows["ci_upper"])],
                             "Cohorts": rows["n_cohorts"], "Trusts": rows["n_trusts"]})

    num = ("Months since joining", "Effect", "Cohorts", "Trusts")
    key = sorted({0, 3, 6, *a.params.horizons, int(et["e"].max())} & set(et["e"]))
    md("Key months after joining (every month is in the table below):")
    _html_table(table(et[et["e"].isin(key)]), num_cols=num)
    with technical("Every month: the event-time table"):
        _html_table(table(et), num_cols=num)
    return et


def show_pre_trends(a: NationalAnalysis, res) -> dict | None:
    """The pre-period test over the leads, in words."""
    from evallib.report.notebook import md

    pt = res.pre_trend
    if pt is None:
        md("**Before joining.** No month before joining could be compared (too short a window), so the "
           "pre-period test is not available.")
        return None
    verdict = ("passed: before joining, the joining trusts moved like those not yet joined"
               if pt["passed"] else "failed: before joining, the joining trusts already moved differently "
               "from those not yet joined, so the effects after joining are not stated as findings")
    md(f"**Before joining (pre-period test).** Months {pt['from']} to {pt['to']}: the largest |estimate / "
       f"standard error| is {pt['statistic']:.2f} against a bootstrap critical value of {pt['critical']:.2f} "
       f"at {100 * (1 - pt['alpha']):g}% for all {pt['leads']} months together; the test {verdict}. "
       f"({pt['n_pointwise_outside']} of {pt['leads']} months have a pointwise interval excluding zero.)")
    return pt


def show_twfe_contrast(a: NationalAnalysis, res):
    """The TWFE static coefficient beside the Callaway-Sant'Anna averages."""
    import pandas as pd

    from evallib.report.notebook import _html_table, _range, fmt, md

    unit = a.info.unit
    o, s, tw = res.overall(), res.simple(), res.twfe()
    rows = [(f"Callaway & Sant'Anna: average of months {o['events'][0]}\u2013{o['events'][1]} (the headline)", o),
            ("Callaway & Sant'Anna: average over every joined trust-month", s),
            ("Two-way fixed effects, one joined dummy (biased contrast)", tw)]
    t = pd.DataFrame({"Estimate": [r[0] for r in rows], "Effect": [fmt(r[1]["estimate"], unit, True) for r in rows],
                      _ci(a): [_range(r[1]["ci_lower"], r[1]["ci_upper"], unit) for r in rows]})
    md("### The two-way fixed-effects contrast\n\nA regression with trust and month effects and one "
       "'joined' dummy is what is often run. When trusts join at different times and effects differ by "
       "cohort or grow with time, it compares later joiners with trusts that joined earlier, whose own "
       "changes then enter with negative weights (Goodman-Bacon 2021), so it can be far from any average "
       "effect, even of the wrong sign. It is shown here only as a contrast; the second row is the "
       "average it is usually read as.")
    _html_table(t, num_cols=("Effect",))
    return t


def show_washout(a: NationalAnalysis, res) -> dict | None:
    """The washout sensitivity: without the cohorts whose base month lies in the washout."""
    from evallib.report.notebook import _range, fmt, md

    p = a.params
    if not p.washout:
        md("**Washout.** None given: every cohort is measured from its last month before joining.")
        return None
    w = res.washout_overall()
    cohorts = ", ".join(res.washout_cohorts) or "none"
    if w is None:
        md(f"**Washout {p.washout}.** Cohorts measured from a month inside it: {cohorts}. "
           + ("Without them no cohort is left to estimate, so there is no sensitivity estimate."
              if res.washout_cohorts else "No cohort's base month is inside it, so nothing changes."))
        return None
    o = res.overall()
    md(f"**Washout {p.washout} (sensitivity).** The cohorts joining {cohorts} are measured from a month inside "
       f"the washout. Without their trusts, the average over months {w['events'][0]}\u2013{w['events'][1]} is "
       f"{fmt(w['estimate'], a.info.unit, True)} ({_ci(a)} {_range(w['ci_lower'], w['ci_upper'], a.info.unit)}), "
       f"against {fmt(o['estimate'], a.info.unit, True)} with them. The washout months themselves stay in: "
       f"they are common to every trust, and the comparison with trusts not yet joined removes what they share.")
    return w


def show_findings(a: NationalAnalysis, res) -> list[str]:
    """The findings at the params' horizons and the caveats."""
    from evallib.report.notebook import md

    sents = res.sentences()
    md("\n".join(f"- {s}" for s in [res.overall_sentence()] + sents))
    caveats = [
        "**Parallel trends.** The estimate assumes that, without joining, the joining trusts would have "
        "moved like those not yet joined; the months before joining test this (see above).",
        "**COVID-19.** The pandemic hit every trust in the same months; the comparison with trusts not yet "
        "joined in those same months removes what was common to all trusts, not a trust's own recovery.",
        "**Joining is one event.** A trust counts as joined from its first joining month on; the effect "
        "is that of joining any collaborative, averaged over collaboratives that differ in what they do.",
        "**Fewer trusts later.** Only early cohorts are observed long after joining, and once nearly every "
        "trust has joined no comparator is left: the latest months rest on few trusts."]
    if a.synthetic:
        caveats.append("**Synthetic data.** The demo table is simulated with planted effects; the numbers only "
                       "show how the analysis behaves.")
    caveats += [f"**Model warning.** {w}" for w in res.warnings[:5]]
    caveats += [f"**Note.** {n}" for n in a.notes]
    md("### Caveats\n\n" + "\n".join(f"- {c}" for c in caveats))
    return sents


def show_provenance(a: NationalAnalysis, res) -> dict:
    """Data and membership files with hashes, the method settings, evallib version and run time."""
    import pandas as pd

    from evallib.report.notebook import _html_table

    p = a.params
    prov = {"Data file": Path(p.data).name, "Data sha256": getattr(a.table, "sha256", None) or "\u2014",
            "Membership table": Path(p.memberships).name, "Synthetic data": "yes" if a.synthetic else "no",
            "Method": f"{res.method} (bootstrap {p.n_boot} draws, seed {p.seed})",
            "Window": f"{res.panel.labels[0]} to {res.panel.labels[-1]}", "Alpha": f"{p.alpha:g}",
            "Leads tested": str(p.leads), "Horizons": ", ".join(map(str, p.horizons)),
            "Washout": p.washout or "none", "evallib version": evallib.__version__,
            "Run at (UTC)": utc_now().strftime("%Y-%m-%d %H:%M"),
            "Run time": "not recorded (SOURCE_DATE_EPOCH is set)" if source_date_epoch() is not None
                        else f"{time.time() - a.started:.1f} s",
            "Params file": a.params_path.name if a.params_path else "\u2014"}
    _html_table(pd.DataFrame({"Item": list(prov), "Value": list(prov.values())}))
    return prov


def _num(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if not math.isfinite(x) else x


def event_time_summary(a: NationalAnalysis, res) -> dict:
    """The ``summary.json`` of an event-time page (module docstring)."""
    o = res.overall()
    at = []
    for r in res.effects().to_dict("records"):
        at.append({"horizon": int(r["horizon"]), "absolute": _num(r["absolute"]),
                   "absolute_lower": _num(r["absolute_lower"]), "absolute_upper": _num(r["absolute_upper"]),
                   "relative": _num(r["relative"]), "relative_lower": _num(r["relative_lower"]),
                   "relative_upper": _num(r["relative_upper"]), "verdict": res.verdict_of(r)})
    return {"schema": "evallib.board-summary/1", "kind": "event_time", "id": a.params.analysis_id,
            "title": a.params.display_title, "metric": a.params.metric, "label": a.info.label, "unit": a.info.unit,
            "aim": a.info.aim, "improvement": a.improvement, "design": res.design, "model": res.model,
            "headline": {"horizon": o["events"][1], "average_over": o["events"], "interruption": "joining",
                         "period": f"months {o['events'][0]} to {o['events'][1]} after joining",
                         "absolute": _num(o["estimate"]), "absolute_lower": _num(o["ci_lower"]),
                         "absolute_upper": _num(o["ci_upper"]), "relative": None, "relative_lower": None,
                         "relative_upper": None, "observed": None, "counterfactual": None},
            "at_horizons": at, "sentence": res.overall_sentence(), "verdict": res.headline_verdict(),
            "failed_checks": res.failed_checks(), "spc": None, "synthetic": a.synthetic,
            "alpha": float(a.params.alpha), "period_word": "month",
            "twfe_static": {k: _num(v) for k, v in res.twfe().items()},
            "warnings": list(res.warnings)}


def write_outputs(a: NationalAnalysis, res, results_path: str = "results.json",
                  summary_path: str | None = None) -> tuple[Path, Path]:
    """Write ``results.json`` and ``summary.json`` (beside it unless ``summary_path``), atomically."""
    rp = Path(results_path)
    sp = Path(summary_path) if summary_path else rp.with_name("summary.json")
    atomic_write_text(rp, res.to_json() + "\n")
    atomic_write_text(sp, json.dumps(event_time_summary(a, res), indent=2, allow_nan=False) + "\n")
    return rp, sp


# ------------------------------------------------------------------ the national index
#: order of the verdicts when the table is sorted by verdict
VERDICT_ORDER = {"improvement": 0, "no direction": 1, "unclear": 2, "deterioration": 3, "failed": 4}


def _read_summary(build: Path, aid: str) -> dict | None:
    f = build / aid / "summary.json"
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        logger.warning("%s: summary.json not read: %s", aid, exc)
        return None


def _chart_value(h: dict, unit: str) -> tuple[float | None, float | None, float | None]:
    """The caterpillar's value of a headline: percentage points for a percentage, else % of expected."""
    if unit == "%":
        return _num(h.get("absolute")), _num(h.get("absolute_lower")), _num(h.get("absolute_upper"))
    rel = [_num(h.get(k)) for k in ("relative", "relative_lower", "relative_upper")]
    return tuple(None if v is None else 100 * v for v in rel)  # type: ignore[return-value]


def national_rows(build: Path, manifest: dict) -> tuple[list[dict], dict[str, dict]]:
    """``(rows, event_time)``: one display row per collaborative analysis (manifest order), and the
    event-time analysis of each metric (its manifest entry with its summary), by metric."""
    from evallib.metrics import metric_info
    from evallib.report.index import DIRECTION_TEXT, VERDICT_WORDS, format_range, format_value

    build = Path(build)
    rows, events = [], {}
    for a in manifest["analyses"]:
        kind = a.get("kind")
        s = _read_summary(build, a["id"]) if a.get("status") == "ok" else None
        href = a.get("page") or f"{a['id']}/{a['id']}.html"
        if kind == "event_time":
            events[a.get("metric")] = {"entry": a, "summary": s, "href": href}
            continue
        if kind != "collaborative":
            continue
        metric = a.get("metric") or (s or {}).get("metric")
        info = metric_info(metric)
        name = a.get("collaborative_name") or a.get("collaborative") or a["id"]
        base = {"id": a["id"], "metric": metric, "collaborative": a.get("collaborative") or "",
                "collaborative_name": name, "formation": a.get("formation") or "",
                "label": (s or {}).get("label") or info.label, "href": href}
        if s is None:
            rows.append({**base, "failed": True, "verdict": "failed", "verdict_words": VERDICT_WORDS["failed"],
                         "effect": "\u2014", "ci": "", "sort_effect": "", "flag": a.get("error") or
                         "no summary was written", "failed_checks": [], "unit": info.unit,
                         "improvement": info.improvement, "direction": DIRECTION_TEXT.get(info.improvement, ""),
                         "chart": None, "horizon": None})
            continue
        h = s.get("headline") or {}
        unit, imp = s.get("unit", info.unit), s.get("improvement", info.improvement)
        v = s.get("verdict") or "unclear"
        fc = [str(c) for c in (s.get("failed_checks") or [])]
        est, lo, hi = _chart_value(h, unit)
        rel = _num(h.get("relative"))
        rows.append({**base, "failed": False, "verdict": v, "verdict_words": VERDICT_WORDS.get(v, v),
                     "effect": format_value(h.get("absolute"), unit, signed=True),
                     "relative": (f"{rel * 100:+.1f}% of expected".replace("-", "\u2212")
                                  if rel is not None and unit != "%" else ""),
                     "ci": format_range(_num(h.get("absolute_lower")), _num(h.get("absolute_upper")), unit),
                     "sort_effect": "" if est is None else f"{est:.6g}",
                     "flag": ("checks failed: " + ", ".join(c.replace("_", " ") for c in fc)) if fc else "",
                     "failed_checks": fc, "unit": unit, "improvement": imp,
                     "direction": DIRECTION_TEXT.get(imp, imp), "horizon": h.get("horizon"),
                     "alpha": _num(s.get("alpha")),
                     "chart": {"label": name, "estimate": est, "lower": lo, "upper": hi, "verdict": v,
                               "failed_checks": fc}})
    # default order: by collaborative, then the measures in the pack's order
    pack_order = {m: k for k, m in enumerate(dict.fromkeys(a.get("metric") for a in manifest["analyses"]))}
    rows.sort(key=lambda r: (r["collaborative_name"].lower(), pack_order.get(r["metric"], 0)))
    return rows, events


def _national_reference(ev: dict | None, horizon, unit: str) -> tuple[float, str] | None:
    """The national average at ``horizon`` (from the event-time summary) on the caterpillar's scale."""
    if not ev or not ev.get("summary") or horizon is None:
        return None
    for h in ev["summary"].get("at_horizons") or []:
        if int(h.get("horizon", -1)) == int(horizon):
            est, _, _ = _chart_value(h, unit)
            if est is None:
                return None
            shown = f"{est:+.1f} pp" if unit == "%" else f"{est:+.1f}%"
            return est, f"national average at {int(horizon)} months: {shown}".replace("-", "\u2212")
    return None


def write_national_index(build: Path, manifest: dict, name: str = "index.html") -> Path:
    """Write the national index page ``build/<name>`` (module docstring) and return its path."""
    from evallib.plots.national import caterpillar_chart
    from evallib.report.checks import check_page
    from evallib.report.index import DIRECTION_TEXT, _when
    from evallib.report.render import _env, base_css, png_data_uri
    from evallib.metrics import metric_info

    build = Path(build)
    rows, events = national_rows(build, manifest)
    synthetic = bool(manifest.get("synthetic"))
    # measures in the pack's order (first appearance in the manifest)
    metrics = list(dict.fromkeys(a.get("metric") for a in manifest["analyses"]
                                 if a.get("kind") in ("collaborative", "event_time") and a.get("metric")))
    sections = []
    for m in metrics:
        mrows = [r for r in rows if r["metric"] == m]
        info = metric_info(m)
        ev = events.get(m)
        unit = next((r["unit"] for r in mrows if not r["failed"]), info.unit)
        imp = next((r["improvement"] for r in mrows if not r["failed"]), info.improvement)
        hzs = sorted({int(r["horizon"]) for r in mrows if r.get("horizon") is not None})
        horizon = hzs[0] if len(hzs) == 1 else None
        label = next((r["label"] for r in mrows), info.label)
        chart = None
        if mrows:
            crow = [r["chart"] or {"label": r["collaborative_name"], "estimate": None} for r in mrows]
            ref = _national_reference(ev, horizon, unit)
            at = f" at {horizon} months" if horizon is not None else ""
            fig, _ = caterpillar_chart(
                crow, label=label, unit="%" if unit == "%" else "rel", improvement=imp, reference=ref,
                synthetic=synthetic, title=f"{label}: each collaborative{at}",
                xlabel=("Change against expected without the collaborative (percentage points)" if unit == "%" else
                        "Change against expected without the collaborative (% of expected)") + at)
            chart = png_data_uri(fig, dpi=100)
        es = (ev or {}).get("summary") or {}
        counts = {k: sum(r["verdict"] == k for r in mrows) for k in VERDICT_ORDER}
        sections.append({"metric": m, "anchor": f"m-{m}", "label": label, "unit": unit,
                         "direction": DIRECTION_TEXT.get(imp, imp), "chart": chart, "n": len(mrows),
                         "counts": counts, "horizon": horizon,
                         "event_href": (ev or {}).get("href"),
                         "event_sentence": es.get("sentence") or ((ev or {}).get("entry") or {}).get("error") or "",
                         "event_failed": bool(ev) and not es,
                         "flagged": sum(bool(r["failed_checks"]) for r in mrows)})
    alphas = sorted({r["alpha"] for r in rows if r.get("alpha")})
    ci_level = f"{100 * (1 - alphas[0]):g}%" if len(alphas) == 1 else ""
    hz = sorted({int(r["horizon"]) for r in rows if r.get("horizon") is not None})
    counts = {"total": len(rows), "failed": sum(r["failed"] for r in rows),
              "flagged": sum(bool(r["failed_checks"]) for r in rows),
              "collaboratives": len({r["collaborative_name"] for r in rows}), "measures": len(metrics)}
    for k in ("improvement", "deterioration", "unclear", "no direction"):
        counts[k.replace(" ", "_")] = sum(r["verdict"] == k for r in rows)
    for k, r in enumerate(rows):
        r["order"] = k
        r["sort_verdict"] = VERDICT_ORDER.get(r["verdict"], 9)
    summary = manifest.get("summary") or {}
    html = _env().get_template("national_index.html.j2").render(
        title=manifest["pack"]["title"], description=manifest["pack"].get("description", ""), css=base_css(),
        synthetic=synthetic, sections=sections, rows=rows, counts=counts, ci_level=ci_level,
        horizon=f"{hz[0]} months" if len(hz) == 1 else "the headline horizon",
        built_at=_when(manifest.get("built_at", "")), version=evallib.__version__,
        executor=manifest.get("executor", ""), cached=summary.get("cached", 0), n_total=summary.get("total", 0))
    out = build / name
    check_page(html, source=str(out))
    atomic_write_text(out, html)
    return out


__all__ = ["NationalAnalysis", "start", "fit", "show_model", "show_cohorts", "show_event_time", "show_pre_trends",
           "show_twfe_contrast", "show_washout", "show_findings", "show_provenance", "event_time_summary",
           "write_outputs", "national_rows", "write_national_index", "NOTEBOOK"]
