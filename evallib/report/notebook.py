"""The calls the analysis notebooks make: one function per section of a board page.

Notebooks stay thin (a ``parameters`` cell, then one call per cell); everything a
board page shows is built here so that it is tested and reused. Each ``show_*``
function *displays* markdown, tables and charts (IPython ``display``) and returns
what it computed, so the same calls work in JupyterLab, under papermill and in
tests.

Typical use (``notebooks/its_outcome.ipynb``)::

    a = nb.start(params_path, overrides, namespace=globals())   # params + notebook parameters + data
    nb.show_data_quality(a)
    res = nb.fit(a)                          # the design asked for; an error, never a fallback
    nb.show_system(a, res)                   # ITS chart, effects, robustness, diagnostics
    nb.show_specification(a, res)            # analyst view (cells tagged `analyst`, not on the board):
    nb.show_coefficients(a, res)             #   specification and comparators, coefficients,
    nb.show_fit_check(a, res)                #   fitted against observed and residual ACF,
    nb.show_event_study_table(a, res)        #   the event study's numbers
    nb.show_single_contrast(a, res)          # the single-group ITS beside the controlled one
    nb.show_sensitivity(a)
    nb.show_trusts(a)
    nb.show_spc(a)
    nb.show_findings(a, res)                 # plain-English findings and caveats (COVID-19 always)
    nb.show_provenance(a, res)
    nb.write_outputs(a, res)                 # results.json and summary.json, atomically

Board pages carry no row-level data: tables are effects, per-trust coverage
counts and model summaries. Every count taken from the data that a page or
``summary.json`` shows passes through the NHS Digital disclosure rule
(:mod:`evallib.report.disclosure`, docs/disclosure.md): the effects table's
*Observed*, the per-trust panels (months of 1-7 are gaps, others rounded to 5),
the sentences and warnings (:func:`disclose`, which leaves the design's structural
numbers such as "19 comparators" alone) and the headline's observed value in
``summary.json``; modelled values (expected, effects, SPC limits) and percentages
are exempt. Two depths: diagnostics, the credibility scorecard, robustness and
sensitivity tables go into collapsed ``<details class="technical">`` blocks
(:func:`technical`), which the PDF prints in its technical appendix; the main page
keeps plain words (a failed check is named there, a single-group estimate that is
not credible is shown as "not credible").
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import evallib
from evallib.config import Params, deep_merge, params_from_dict, read_yaml
from evallib.exceptions import ModelError
from evallib.fsutil import atomic_write_text, source_date_epoch, utc_now
from evallib.metrics import MetricInfo, metric_info
from evallib.report.pdf import FIGURE_TWINS_ENV, write_vector_twin

logger = logging.getLogger(__name__)

PRIMARY_NAMES = ("collaborative", "formation", "intervention")
_RATIO_MODELS = ("poisson", "quasipoisson", "negbin", "binomial", "quasibinomial")


@dataclass
class Analysis:
    """What a notebook carries between sections."""

    params: Params
    table: Any                      # evallib.data.table.TidyTable
    info: MetricInfo
    params_path: Path | None
    started: float = field(default_factory=time.time)
    notes: list[str] = field(default_factory=list)       # caveats collected on the way
    spc: Any = None                                      # SPCResult once show_spc ran
    single: Any = None                                   # single-group result (contrast)
    quality: Any = None
    _counts: Any = None                                  # raw counts behind the page (disclosure)

    @property
    def improvement(self) -> str:
        return self.params.improvement or self.info.improvement

    @property
    def target(self) -> float | None:
        return self.params.target if self.params.target is not None else self.info.target

    @property
    def synthetic(self) -> bool:
        return bool(getattr(self.table, "synthetic", False))

    @property
    def label(self) -> str:
        return self.info.label

    @property
    def primary(self) -> str:
        """The interruption the board cares about: ``collaborative`` if present, else the last."""
        names = [i.name for i in self.params.interruptions]
        for n in PRIMARY_NAMES:
            if n in names:
                return n
        return names[-1]


# ------------------------------------------------------------------ disclosure control
def raw_counts(a: Analysis) -> set[int]:
    """The raw counts behind a page: the analysed trusts' rows of the metric (values of a
    count metric, numerators and denominators) and the combined series' values of a count
    metric. What :func:`disclose` controls and the publish-time scan checks."""
    if a._counts is None:
        from evallib.report.disclosure import table_counts

        p = a.params
        f = a.table.for_metric(p.metric)
        counts = table_counts(f[f["org_code"].isin(p.units)])
        if a.info.kind == "count":
            try:
                from evallib.its.series import combine_units

                s = combine_units(a.table, p.metric, p.units, p.aggregate, p.start, p.end)
                counts |= {int(v) for v in s.frame["value"].dropna() if v > 0 and float(v).is_integer()}
            except Exception as exc:        # a page without a combined series still gets its rows' counts
                logger.info("combined series counts not added: %s", exc)
        a._counts = counts
    return a._counts


_STRUCTURE = re.compile(r"\b\d+ (?:comparator|trust|placebo|system|month|quarter|period|observation|point|"
                        r"lead|lag|unit|donor|specification)s?(?:\(s\))?|\bvolume [\d.]+: \d+|"
                        r"\branks \d+ of \d+|\bfactor (?:of )?\d+|\b\d+ of \d+ (?:placebo|comparator|trust)")


def disclose(a: Analysis, text: str) -> str:
    """``text`` with every raw count the default policy (NHS Digital: 1-7 as ``*``, other
    counts to the nearest 5) would not show as it is replaced by what it shows. Modelled
    estimates, changes, percentages and periods are left alone (see
    :func:`evallib.report.disclosure.scan_text`)."""
    from evallib.report.disclosure import NHS_DIGITAL, scan_text

    if not text:
        return text
    # numbers that count the design's structure (comparators, trusts, placebo systems, months) are not data
    structure = sorted(set(m.group(0) for m in _STRUCTURE.finditer(text)), key=len, reverse=True)
    for h in sorted(scan_text(text, raw_counts(a), ignore=structure), key=lambda h: -h.offset):
        text = text[:h.offset] + NHS_DIGITAL.show_count(h.value) + text[h.offset + len(h.text):]
    return text


# ------------------------------------------------------------------ display helpers
#: while :func:`technical` is open, what the sections display is collected here as HTML
_COLLECT: list | None = None


def _display(*objs) -> None:
    from IPython.display import display

    if _COLLECT is not None:
        for o in objs:
            html = getattr(o, "_repr_html_", None)
            _COLLECT.append(html() if html else escape(str(o)))
        return
    display(*objs)


@contextlib.contextmanager
def technical(title: str):
    """The page's second depth: what is displayed inside goes into one collapsed
    ``<details class="technical">`` block titled ``title`` (the PDF prints it in its
    technical appendix). Diagnostics and model detail go here; plain words stay on the
    main page."""
    from IPython.display import HTML, display

    global _COLLECT
    outer, _COLLECT = _COLLECT, []
    try:
        yield
    finally:
        parts, _COLLECT = _COLLECT, outer
        if parts:
            block = (f"<details class=\"technical\"><summary>{escape(title)}</summary>"
                     + "".join(parts) + "</details>")
            if outer is not None:
                outer.append(block)
            else:
                display(HTML(block))


#: display metadata marking an output as notebook-only (dropped from board pages, which
#: carry the title and the SYNTHETIC banner in their own header)
NOT_ON_BOARD = {"evallib": {"board": False}}


def md(text: str, board: bool = True) -> None:
    """Display markdown; ``board=False`` keeps it out of the board page (notebook only)."""
    from IPython.display import Markdown, display

    if _COLLECT is not None:
        import mistune

        if board:
            _COLLECT.append(mistune.html(text))
        return
    if board:
        display(Markdown(text))
    else:
        display(Markdown(text), metadata=NOT_ON_BOARD)


def _html_table(frame, num_cols=()) -> None:
    from IPython.display import HTML

    head = "".join(f"<th class='{'num' if c in num_cols else ''}'>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(f"<td class='{'num' if c in num_cols else ''}'>{escape(str(v))}</td>"
                        for c, v in row.items())
        body.append(f"<tr>{cells}</tr>")
    _display(HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"))


def _fig_alt(fig) -> str:
    titles = []
    if getattr(fig, "_suptitle", None) is not None and fig._suptitle.get_text():
        titles.append(fig._suptitle.get_text())
    titles += [ax.get_title(loc="left") or ax.get_title() for ax in fig.axes if ax.get_visible()]
    titles = [t for t in titles if t]
    return "Chart: " + "; ".join(dict.fromkeys(titles)) if titles else "Chart (described in the text)"


def _show_fig(fig, alt: str | None = None) -> None:
    """Display a figure as an embedded PNG with alternative text, then close it."""
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    alt = alt or _fig_alt(fig)
    twins = os.environ.get(FIGURE_TWINS_ENV)
    if twins and _COLLECT is None:
        # the PDF board pack prints this chart from its vector twin (sharp at any size)
        write_vector_twin(fig, buf.getvalue(), twins)
    plt.close(fig)
    if _COLLECT is not None:
        import base64

        _COLLECT.append(f"<p><img src=\"data:image/png;base64,{base64.b64encode(buf.getvalue()).decode('ascii')}\" "
                        f"alt=\"{escape(alt)}\"></p>")
        return
    _display(Image(data=buf.getvalue(), format="png", alt=alt))


def fmt(x, unit: str = "", signed: bool = False) -> str:
    """Board number formatting (see :func:`evallib.report.index.format_value`)."""
    from evallib.report.index import format_value

    return format_value(x, unit, signed)


def _range(lo, hi, unit: str) -> str:
    from evallib.report.index import format_range

    return format_range(lo, hi, unit)


def _pct(x) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "\u2014"
    return "\u2014" if x != x else f"{x * 100:+.1f}%".replace("-", "\u2212")


_TABLES: dict = {}


def cached_table(path):
    """``load_table(path)``, memoised per process on (path, size, mtime).

    A batch worker runs many notebooks on the same table; parsing it once per worker
    instead of once per notebook saves about a second each. The table is shared:
    analyses must not modify ``table.frame`` in place (none does). At most 4 tables
    are kept.
    """
    from evallib.data.table import load_table

    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _TABLES:
        if len(_TABLES) >= 4:
            _TABLES.pop(next(iter(_TABLES)))
        _TABLES[key] = load_table(p)
    return _TABLES[key]


# ------------------------------------------------------------------ sections
def read_analysis_params(params_path, namespace: dict | None, notebook: str, keys: dict):
    """The params file of one analysis and the notebook's parameters over it: ``(path, raw mapping,
    given keys, source label)``. A pack (``analyses:`` or ``national:``) is a ParameterError."""
    from evallib.exceptions import ParameterError
    from evallib.report import params_cell as pc

    given = {}
    if namespace is not None:
        pc.check_injected(namespace, notebook)
        given.update(pc.given_keys(namespace, notebook))
    given.update({k: v for k, v in keys.items() if v is not None})
    p = pc.find_params_file(params_path)
    raw = read_yaml(p)
    if "analyses" in raw or "national" in raw:
        raise ParameterError(f"{p}: this is a pack (it has analyses: or national:); point params_path at one "
                             f"analysis's params file (a built pack has one in each analysis folder), or build "
                             f"the pack with `evallib batch {p}`")
    return p, raw, given, str(p) + (f" with notebook parameters ({pc.describe(given)})" if given else "")


def show_title(title: str, synthetic: bool) -> None:
    """The notebook's title and, on synthetic data, its banner (neither is on the board page)."""
    md(f"# {title}", board=False)
    if synthetic:
        md("> **SYNTHETIC DATA.** These figures come from the simulated demo table, not from real "
           "NHS data. They show how the analysis works; do not use them for decisions.", board=False)


def start(params_path: str | os.PathLike, overrides: dict | None = None,
          namespace: dict | None = None, notebook: str = "its_outcome", **keys) -> Analysis:
    """Load the params (``overrides`` and the notebook parameters on top) and the data; show the
    title and banners.

    - ``namespace`` (the notebook's ``globals()``): its parameters named in
      :data:`evallib.report.params_cell.PARAMS_FROM` override the params file when not None,
      and a parameter papermill injected that ``notebook`` does not know is a ParameterError;
    - ``keys``: the same params keys given directly (``start(path, metric="ae_4h_pct")``);
    - ``params_path`` is absolute, or relative to the working directory or to the notebooks
      folder (tried in that order, :func:`evallib.report.params_cell.find_params_file`);
      ``data`` in it resolves against its folder.

    What changed beyond the keys themselves (the title and metric-bound keys of another
    metric, a percentage's aggregate) is stated on the page. The metric's label and unit
    come from :func:`evallib.metrics.metric_info_for`, registered for the analysis
    (:func:`evallib.metrics.use_params`). Raises ParameterError / DataError with the file
    and key at fault.
    """
    from evallib.metrics import known_metric, use_params
    from evallib.plots import palette
    from evallib.report import params_cell as pc

    p, raw, given, source = read_analysis_params(params_path, namespace, notebook, keys)
    base = p.resolve().parent
    first, _ = pc.merge(raw, overrides, given, source)
    table = cached_table(params_from_dict(first, base, source).data)
    merged, changes = pc.merge(raw, overrides, given, source, pc.table_has_ratio(table))
    params = params_from_dict(merged, base, source)
    info = use_params(params)
    a = Analysis(params=params, table=table, info=info, params_path=p)
    palette.apply_style()
    show_title(params.display_title, a.synthetic)
    if given or overrides:
        md(f"**Notebook parameters** (over `{p.name}`): "
           + "; ".join(x for x in (pc.describe(given), pc.describe(dict(overrides or {}))) if x) + ".", board=False)
    for c in changes:
        md(f"> **Note.** {c}", board=False)
        a.notes.append(c)
    if not known_metric(params.metric):
        own = [k for k in ("metric_label", "metric_unit", "improvement") if getattr(params, k) is not None]
        msg = (f"{params.metric} is not in the evallib metric catalogue: "
               + (f"its {', '.join(own)} come from the params file" if own else
                  "it is labelled by its id, with no unit and no preferred direction; set metric_label, "
                  "metric_unit and improvement in the params file to describe it")
               + ".")
        md(f"> **Note.** {msg}", board=False)
    dates = ", ".join(f"{i.name.replace('_', ' ')} from {i.date}" for i in params.interruptions)
    md(f"**Measure:** {info.label} ({info.unit or 'value'}; better when "
       f"{ {'increase': 'higher', 'decrease': 'lower'}.get(a.improvement, 'neither: no preferred direction') }). "
       f"**Trusts:** {', '.join(params.units)} combined ({params.aggregate}). **Dates:** {dates}."
       + (f" **Aim:** {info.aim}." if info.aim else ""))
    return a


def show_data_quality(a: Analysis):
    """Coverage, missing or suppressed months and unusual values for the analysed trusts."""
    from evallib.report.quality import summarise_metric

    p = a.params
    q = summarise_metric(a.table, p.metric, p.units, p.start, p.end)
    a.quality = q
    md(q.to_markdown())
    t = q.table.rename(columns={"org_code": "Trust", "org_name": "Name", "observed": "Months with data",
                                "missing": "Missing", "suppressed": "Suppressed",
                                "coverage_pct": "Coverage %", "outliers": "Unusual values"})
    from evallib.plots.pack import org_title

    t["Name"] = [org_title(x) if isinstance(x, str) else x for x in t["Name"]]
    _html_table(t[["Trust", "Name", "Months with data", "Missing", "Suppressed", "Coverage %", "Unusual values"]],
                num_cols=("Months with data", "Missing", "Suppressed", "Coverage %", "Unusual values"))
    rep = getattr(a.table, "report", {}) or {}
    if rep.get("suppressed_total"):
        md(f"Across the whole table, {rep['suppressed_total']} cell(s) were suppressed or blank in the "
           f"source; they are treated as missing, never as zero.")
    n_out = int(q.table["outliers"].sum()) if len(q.table) else 0
    n_gap = int((q.table["missing"] + q.table["suppressed"]).sum()) if len(q.table) else 0
    if n_out or n_gap:
        a.notes.append(f"**Data quality.** {n_gap} missing or suppressed month(s) and {n_out} unusual "
                       f"value(s) across the trusts (see Data quality); unusual values are kept in the analysis.")
    return q


def fit(a: Analysis):
    """Fit the design the params ask for (controlled when comparators are given; see docs/contracts.md).

    A design that cannot be fitted is an error with its reason (the ModelError of the
    design, re-raised naming the design and the params keys that choose another); it never
    falls back to another design silently.
    """
    design = a.params.resolved_design
    try:
        res = evallib.analyse(a.params, a.table)
    except ModelError as exc:
        hint = ("" if design == "single" else
                f"; to analyse the treated trusts alone instead, set design: single (a single-group "
                f"analysis cannot separate the collaborative from COVID-19)")
        raise ModelError(f"the {design} design cannot be fitted for {a.params.metric}: {exc}{hint}") from exc
    md(f"Model: **{res.model}**, design: **{res.design}**, {res.n_obs} observations.")
    return res


def _headline(res, name: str, horizon: int = 12) -> dict | None:
    eff = res.effects()
    eff = eff[eff["interruption"] == name]
    if eff.empty:
        return None
    hs = list(eff["horizon"])
    h = horizon if horizon in hs else min(hs, key=lambda x: abs(x - horizon))
    return eff[eff["horizon"] == h].iloc[0].to_dict()


def ci_label(a: Analysis) -> str:
    """"95% CI" from the analysis' alpha ("90% CI" for alpha 0.1)."""
    from evallib.text import interval_label

    return interval_label(a.params.alpha)


def periods_word(a: Analysis) -> str:
    """"Months", "Quarters" or "Years" from the table's frequency."""
    from evallib.text import unit_word

    return unit_word(getattr(a.table, "freq", "M")).capitalize() + "s"


def effects_table(a: Analysis, res):
    """Board table of effects: each interruption and horizon, observed vs expected, change and CI."""
    import pandas as pd

    unit = a.info.unit
    eff = res.effects()
    aligned = hasattr(res, "event_study")       # every post-formation month is fitted exactly: no "Modelled"
    ci, after = ci_label(a), f"{periods_word(a)} after"
    rows = []
    for _, r in eff.iterrows():
        row = {"Interruption": str(r["interruption"]).replace("_", " "),
               after: int(r["horizon"]), "Period": r["period"], "Observed": r["observed"]}
        if not aligned:
            row["Modelled"] = r.get("fitted", r["observed"])
        row.update({"Expected": r["counterfactual"], "Change": fmt(r["absolute"], unit, True),
                    ci: _range(r["absolute_lower"], r["absolute_upper"], unit), "Change %": _pct(r["relative"])})
        rows.append(row)
    t = pd.DataFrame(rows)
    shown = [c for c in ("Observed", "Modelled", "Expected") if c in t.columns]
    if a.info.kind == "count":
        # disclosure control (docs/disclosure.md): the observed count from the data is shown
        # under the NHS Digital rule; modelled values and expected (counterfactual) are exempt
        from evallib.report.disclosure import NHS_DIGITAL

        t["Observed"] = [NHS_DIGITAL.show_count(v) + (f" {unit}" if unit and NHS_DIGITAL.show_count(v)
                                                      not in ("*", "\u2014") else "")
                         for v in t["Observed"]]
    for c in shown:
        t[c] = [v if isinstance(v, str) else fmt(v, unit) for v in t[c]]
    return t


def show_system(a: Analysis, res) -> None:
    """ITS chart, effects table, robustness table and diagnostics of the combined series."""
    fig, _ = res.plot()
    _show_fig(fig)
    ci = ci_label(a)
    if hasattr(res, "event_study"):
        md(f"**Effects.** *Expected* is what the comparators' month-by-month change says the trusts would have "
           f"reached without the collaborative (put on their own level before formation). The change is "
           f"observed minus expected, with its {ci.replace('CI', 'confidence interval')}.")
    else:
        md(f"**Effects.** *Modelled* is the model's estimate for that period (single periods scatter around it: "
           f"see *Observed*); *Expected* is the same model without the interruption. The change is modelled "
           f"minus expected, with its {ci.replace('CI', 'confidence interval')}.")
    t = effects_table(a, res)
    _html_table(t, num_cols=tuple(c for c in t.columns if c not in ("Interruption", "Period")))
    if hasattr(res, "event_study"):
        show_aligned(a, res)
        return
    with technical("Technical appendix: other estimators and model checks"):
        show_robustness(a, res)
        show_diagnostics(a, res)


def show_aligned(a: Analysis, res) -> None:
    """Comparator-aligned design: the event study, the credibility scorecard, the comparators."""
    import pandas as pd

    fig, _ = res.plot(kind="event")
    _show_fig(fig, alt="Event study: the gap between the system and its expected line, month by month")
    pt = res.pre_trend_test
    md(f"**Event study.** Each point is observed minus expected in that month. Before formation the gaps "
       f"should hover around zero inside the grey band (the spread of {res.n_placebos} placebo systems of "
       f"{len(a.params.units)} comparator trusts each, treated as if they had formed a collaborative); "
       f"the joint test of the {pt['leads']} months before formation gives placebo p = {pt['p']:.2f}.")
    sc = res.scorecard()
    rows = [{"Check": c["name"].replace("_", " "), "Result": ("passed" if c["passed"] else "failed")
             if c["passed"] is not None else "reported", "What it says": c["says"]} for c in sc["checks"]]
    says = {c["name"]: c["says"] for c in sc["checks"]}
    if sc["failed"]:
        md("**Can this estimate be trusted?** Not fully: "
           + "; ".join(f"{x.replace('_', ' ')}: {says.get(x) or 'failed'}" for x in sc["failed"])
           + ". So the verdict is *unclear*, whatever the interval says.")
    else:
        md("**Can this estimate be trusted?** Every check of the design passed (see the technical appendix).")
    d = res.diagnostics()
    with technical("Technical appendix: credibility checks and comparators"):
        md("**Credibility scorecard.** A verdict of improvement or deterioration is given only when every "
           "guarding check passes" + (f"; failed here: {', '.join(sc['failed'])}, so the verdict is unclear."
                                      if sc["failed"] else "; all passed here."))
        _html_table(pd.DataFrame(rows))
        md(f"**Comparators.** {d['n_comparators']} used ({d['comparator_rule']}); "
           f"{len(d['comparators_dropped'])} dropped. Scale: {d['scale_reason']}. Inference: "
           f"{d['inference']['method']}.")


def show_robustness(a: Analysis, res) -> None:
    """The primary interruption's level and slope change under other estimators."""
    try:
        rob = res.robustness()
    except (ModelError, NotImplementedError) as exc:
        md(f"Robustness table not available: {exc}.")
        return
    if rob is None or len(rob) == 0:
        md("Robustness: no alternative estimators apply to this model.")
        return
    name = a.primary
    keep = rob[rob["term"].isin([f"level_change[{name}]", f"slope_change[{name}]"])]
    if "group" in keep and (keep["group"] == "difference").any():
        keep = keep[keep["group"] == "difference"]
    elif "group" in keep:
        keep = keep[keep["group"] == "treated"]
    if keep.empty:
        return
    import math

    import pandas as pd

    def shown(model, v):
        # GLM terms are on the link scale: show exp() as a rate or odds ratio
        return f"\u00d7{math.exp(v):.3f}" if model in _RATIO_MODELS else f"{v:.4g}".replace("-", "\u2212")

    rows = [{"Estimator": r["model"], "Term": r["term"].replace("_", " ").replace("[", " (").replace("]", ")"),
             "Estimate": shown(r["model"], r["estimate"]),
             ci_label(a): f"{shown(r['model'], r['ci_lower'])} to {shown(r['model'], r['ci_upper'])}",
             "p": "<0.001" if r["p"] < 0.001 else f"{r['p']:.3f}"} for _, r in keep.iterrows()]
    md(f"**Robustness:** the {name.replace('_', ' ')} terms under other estimators "
       f"(the conclusion is robust when they agree in direction and rough size). Estimates marked "
       f"\u00d7 are ratios (rate ratios for counts, odds ratios for proportions): \u00d71.05 means 5% higher; "
       f"a slope ratio is per month.")
    _html_table(pd.DataFrame(rows), num_cols=("Estimate", ci_label(a), "p"))


def show_diagnostics(a: Analysis, res) -> dict:
    """Plain-English model checks: residual autocorrelation, dispersion, HAC lags."""
    d = res.diagnostics() or {}
    bits = []
    dw = d.get("durbin_watson")
    if dw is not None:
        level = "little" if 1.5 <= dw <= 2.5 else ("some" if 1.0 <= dw <= 3.0 else "strong")
        bits.append(f"Durbin-Watson {dw:.2f} ({level} first-order autocorrelation left)")
    lb = d.get("ljung_box") or []
    if lb:
        last = lb[-1]
        bits.append(f"Ljung-Box p = {last['p']:.3f} at lag {last['lag']}"
                    + (" (residuals still correlated: the standard errors allow for it)" if last["p"] < 0.05 else ""))
    for key, label in (("hac_lags", "Newey-West lags"), ("dispersion", "dispersion"), ("rho", "AR(1) rho")):
        v = d.get(key)
        if isinstance(v, (int, float)):
            bits.append(f"{label} {v:.3g}")
    md("**Model checks:** " + ("; ".join(bits) + "." if bits else "none reported."))
    return d


def show_single_contrast(a: Analysis, res):
    """For a controlled/synthetic primary design, the single-group ITS beside it.

    A single-group ITS attributes everything after the interruption to it, including
    the COVID-19 recovery; showing both makes the value of the comparators visible.
    """
    if res.design == "single":
        md("This is a single-group analysis: there are no comparator trusts to separate the "
           "collaborative from COVID-19 and other changes that hit every trust at the same time.")
        return None
    import pandas as pd

    single = evallib.analyse(a.params.model_copy(update={"design": "single"}), a.table)
    a.single = single
    doubts = [w for w in getattr(single, "warnings", []) if "credib" in w or "extrapolat" in w]
    rows = []
    for label, r in ((f"{res.design.capitalize()} (against comparator trusts)", res),
                     ("Single group (against the trusts' own trend only)", single)):
        h = _headline(r, a.primary)
        if h is None:
            continue
        col = f"Change at {int(h['horizon'])} {periods_word(a).lower()}"
        if r is single and doubts:
            # an extrapolated single-group number (millions of patients) is not shown as if it meant something
            rows.append({"Design": label, col: "not credible", ci_label(a): "not credible", "Change %": "\u2014"})
            continue
        rows.append({"Design": label, col: fmt(h["absolute"], a.info.unit, True),
                     ci_label(a): _range(h["absolute_lower"], h["absolute_upper"], a.info.unit),
                     "Change %": _pct(h["relative"])})
    md("**Primary against single-group design.** The controlled estimate uses other trusts to stand in "
       "for what would have happened; the single-group estimate does not, so it also absorbs the "
       "COVID-19 shock and recovery.")
    tab = pd.DataFrame(rows)
    _html_table(tab, num_cols=tuple(c for c in tab.columns if c != "Design"))
    if doubts:
        md("_The single-group estimate is not credible here: it carries the trend before the collaborative "
           "far beyond the data, so its numbers are not shown._")
        with technical("Technical appendix: why the single-group estimate is not credible"):
            md(f"_{doubts[0]}_")
    return single


#: placebo dates in the sensitivity set (each is a refit; the board needs a handful, not dozens)
MAX_PLACEBOS = 8


def show_sensitivity(a: Analysis, res=None):
    """The pre-specified sensitivity set: wash-out, date shifts, estimators, designs, placebo dates.

    Uses :func:`evallib.its.sensitivity.sensitivity` (a dot-and-whisker chart and a table of
    the target's effect at the headline horizon under each specification). ``res`` (the
    primary result) avoids a refit.
    """
    from evallib.its.sensitivity import sensitivity

    if a.params.depth != "full":
        md("The sensitivity set (wash-out, date shifts, other estimators and designs, placebo dates) is not "
           "run on this page (depth brief, as in a national pack): build this collaborative's own pack "
           "(`evallib new-pack`) for it.")
        return None
    sens = sensitivity(a.params, a.table, primary=res, max_placebos=MAX_PLACEBOS)
    with technical("Technical appendix: sensitivity analyses"):
        _show_sensitivity(a, sens)
    return sens


def _show_sensitivity(a: Analysis, sens) -> None:
    import pandas as pd

    try:
        fig, _ = sens.plot(title=f"{a.label}: effect at {sens.horizon} {periods_word(a).lower()} under each "
                                 f"specification")
        _show_fig(fig)
    except (ImportError, ValueError) as exc:
        logger.warning("sensitivity chart not drawn: %s", exc)
    unit = a.info.unit
    rows = []
    for _, r in sens.table.iterrows():
        err = r.get("error") or ""
        rows.append({"Specification": r["specification"],
                     "Change": "not estimable" if err else fmt(r["absolute"], unit, True),
                     ci_label(a): "" if err else _range(r["absolute_lower"], r["absolute_upper"], unit),
                     "Note": (err or r.get("note") or "")[:160]})
    _html_table(pd.DataFrame(rows), num_cols=("Change", ci_label(a)))
    pp = sens.placebo_p
    if pp is not None:
        n = int(sens.placebo["absolute"].notna().sum())
        md(f"**Placebo dates.** At {n} made-up start dates before COVID-19, when nothing happened, the "
           f"method finds effects at least as large as the real one in {pp:.0%} of cases (placebo p = {pp:.2f}), "
           f"{'so the real effect stands out from chance' if pp <= 0.1 else 'so the real effect does not stand out from chance'}.")
    for note in sens.notes[:3]:
        md(f"_{note}_")


def show_trusts(a: Analysis):
    """The treated trusts as small multiples, with the interruption dates."""
    from evallib.plots.pack import small_multiples

    p = a.params
    f = a.table.for_metric(p.metric)
    f = f[f["org_code"].isin(p.units)]
    if p.start:
        from evallib.periods import parse_period
        s = parse_period(p.start)
        f = f[[parse_period(x) >= s for x in f["period"]]]
    if p.end:
        from evallib.periods import parse_period
        e = parse_period(p.end)
        f = f[[parse_period(x) <= e for x in f["period"]]]
    f = f.set_index("org_code").loc[[u for u in p.units if u in set(f["org_code"])]].reset_index()
    note = None
    if a.info.kind == "count":
        # disclosure control: a trust's monthly count is drawn as the policy shows it (1-7 left out
        # as a gap, others to the nearest 5); the analysis itself used the raw values
        from evallib.report.disclosure import NHS_DIGITAL

        f = f.copy()
        shown = [NHS_DIGITAL.apply_count(v) if v == v and v >= 0 else v for v in f["value"]]
        n_hidden = sum(v == NHS_DIGITAL.symbol for v in shown)
        f["value"] = [float("nan") if v == NHS_DIGITAL.symbol else v for v in shown]
        note = ("Counts rounded to the nearest 5"
                + (f"; months with 1 to {NHS_DIGITAL.suppress_max} are left out (gaps)" if n_hidden else "")
                + " (disclosure control).")
    fig, _ = small_multiples(f, interruptions=[(i.name, i.date) for i in p.interruptions],
                             unit_label=a.info.unit, title=f"{a.label}: each trust",
                             synthetic=a.synthetic, note=note)
    _show_fig(fig)
    return f


def show_spc(a: Analysis, rebase="evidenced"):
    """Making Data Count XmR chart of the combined series.

    ``rebase="evidenced"`` (the board default): the interruption dates are candidates,
    and the limits are recalculated only at those where the chart evidences a sustained,
    settled change (:func:`evallib.spc.evidenced_rebase`); a change that is still a trend
    is shown against the limits before it. A list of periods rebases there as given.
    """
    from evallib.plots.spc import spc_chart
    from evallib.spc import xmr
    from evallib.its.series import combine_units
    from evallib.text import long_period

    p = a.params
    s = combine_units(a.table, p.metric, p.units, p.aggregate, p.start, p.end)
    dates = [i.date for i in p.interruptions]
    if isinstance(rebase, str) and rebase == "evidenced":
        r = xmr(s.frame[["period", "value"]], improvement=a.improvement, target=a.target,
                rebase="evidenced", candidates=dates)
    else:
        r = xmr(s.frame[["period", "value"]], improvement=a.improvement, target=a.target, rebase=rebase)
    a.spc = r
    fig, _ = spc_chart(r, title=f"{a.label}: statistical process control", unit=a.info.unit,
                       synthetic=a.synthetic)
    _show_fig(fig)
    g = r.groups.iloc[-1] if getattr(r, "groups", None) is not None and len(r.groups) else None
    unit = a.info.unit
    text = f"**{r.variation_label}.**"
    if g is not None:
        since = (f" Limits from {long_period(g['start'])} to {long_period(g['baseline_end'])}, held since then"
                 if g.get("baseline_end") else f" Since {long_period(g['start'])}")
        text += (f"{since}: mean {fmt(g['mean'], unit)}, process limits {fmt(g['lpl'], unit)} "
                 f"to {fmt(g['upl'], unit)}" + (" (trial limits: fewer than 12 points)" if g.get("trial") else "") + ".")
    if r.assurance is not None and r.target is not None:
        src = "from the params file" if p.target is not None else "the national standard"
        text += f" Target {fmt(r.target, unit)} ({src}): {str(r.assurance_label).removeprefix('Assurance: ')}."
    words = {"rebased": "the limits were recalculated there after a sustained, settled change",
             "held": "the change from then on is still a trend, so the limits before it are kept and the "
                     "change is shown against them",
             "none": "no sustained change starts there, so the limits carry on"}
    if r.decisions:
        from evallib.periods import format_period, parse_period

        names = {format_period(parse_period(i.date)): i.name.replace("_", " ") for i in p.interruptions}
        means = {row["start"]: (k, row["mean"]) for k, row in enumerate(r.groups.to_dict("records"))}

        def moved(d):
            k = means.get(d["date"], (None,))[0]
            if d["decision"] != "rebased" or not k:
                return ""
            return (f"; the mean moved from {fmt(r.groups.iloc[k - 1]['mean'], unit)} to "
                    f"{fmt(r.groups.iloc[k]['mean'], unit)}")

        text += " " + " ".join(f"At {long_period(d['date'])} ({names.get(d['date'], 'a known date')}): "
                               f"{words[d['decision']]}"
                               + (f" ({d['point_type']})" if d["decision"] != "none" and d.get("point_type")
                                  and d["point_type"] != "neither" else "") + moved(d) + "."
                               for d in r.decisions)
    md(text)
    return r


def covid_caveat(a: Analysis, res) -> str:
    """The COVID-19 paragraph every page carries, worded for the design used."""
    names = {i.name: i.date for i in a.params.interruptions}
    covid = next((d for n, d in names.items() if "covid" in n.lower()), None)
    prim = names.get(a.primary)
    when = f" (from {covid})" if covid else ""
    gap = ""
    if covid and prim:
        from evallib.periods import parse_period
        from evallib.text import number_word, unit_word

        n = (parse_period(prim) - parse_period(covid)).n
        if n > 0:
            gap = f"{number_word(n)} {unit_word(getattr(a.table, 'freq', 'M'))}{'s' if n != 1 else ''} "
    units = ", ".join(a.params.units)
    if res.design == "single":
        return (f"**COVID-19.** The pandemic{when} struck {gap}"
                f"before the collaborative formed ({prim}). A single-group analysis cannot separate the "
                f"collaborative from the pandemic and the recovery that followed, so the change after "
                f"{prim} may be partly or wholly COVID-19. "
                + ("COVID-19 is modelled as its own interruption, which helps but does not solve this. "
                   if covid else "COVID-19 is not modelled as an interruption here, so its effect is mixed into the estimate. ")
                + "Read these results as descriptive.")
    return (f"**COVID-19.** The pandemic{when} hit every trust, just before the collaborative formed "
            f"({prim}). The comparator trusts share that shock, so the {res.design} design removes "
            f"the part of COVID-19 that was common to all trusts"
            + (", month by month, and the trusts' own lasting level change at COVID-19 is estimated "
               "before formation" if hasattr(res, "event_study") else "")
            + f". If COVID-19 hit {units} harder or recovered differently in a way that was still changing "
            f"after formation, that difference would still be in the estimate; the event study, the "
            f"wash-out sensitivity analysis ({a.params.washout} left out) and the placebo systems check this.")


def show_findings(a: Analysis, res) -> list[str]:
    """Plain-English findings (one sentence per effect) and the caveats, COVID-19 first."""
    sentences = [disclose(a, x) for x in res.sentences()]
    prim = [s for s in sentences if a.primary in s] or sentences
    md("\n".join(f"- {s}" for s in prim))
    other = [s for s in sentences if s not in prim]
    if other:
        md("Other interruptions:\n\n" + "\n".join(f"- {s}" for s in other))
    caveats = [covid_caveat(a, res)]
    if a.synthetic:
        caveats.append("**Synthetic data.** The demo table is simulated with planted effects; the "
                       "numbers only show how the analysis behaves.")
    caveats.append("**Attribution.** An interrupted time series shows whether the trend changed when "
                   "the collaborative formed, not why; other changes at the same time could explain it.")
    for w in list(getattr(res, "warnings", []))[:5]:
        caveats.append(f"**Model warning.** {disclose(a, w)}")
    for n in a.notes:
        caveats.append(n if n.startswith("**") else f"**Note.** {n}")
    md("### Caveats\n\n" + "\n".join(f"- {c}" for c in caveats))
    return prim


def show_provenance(a: Analysis, res) -> dict:
    """Data file and hash, params, evallib version and run time (no row-level data)."""
    import pandas as pd

    p = a.params
    prov = {"Data file": Path(p.data).name,
            "Data sha256": getattr(a.table, "sha256", None) or "\u2014",
            "Synthetic data": "yes" if a.synthetic else "no",
            "evallib version": evallib.__version__,
            "Run at (UTC)": utc_now().strftime("%Y-%m-%d %H:%M"),   # SOURCE_DATE_EPOCH when set
            "Run time": "not recorded (SOURCE_DATE_EPOCH is set)" if source_date_epoch() is not None
                        else f"{time.time() - a.started:.1f} s",
            "Model / design": f"{res.model} / {res.design}",
            "Params file": a.params_path.name if a.params_path else "\u2014"}
    keys = ["metric", "units", "aggregate", "comparators", "design", "start", "end", "seasonality",
            "model", "alpha", "horizons", "washout", "suppress_below"]
    d = p.to_yaml_dict()
    for k in keys:
        v = d.get(k)
        if k == "model" and v is None:
            v = f"chosen from the data ({res.model})"
        prov[f"param {k}"] = ", ".join(map(str, v)) if isinstance(v, list) else str(v)
    prov["param interruptions"] = "; ".join(f"{i.name} {i.date} ({'+'.join(i.terms)}"
                                            f"{', transition ' + str(i.transition) if i.transition else ''})"
                                            for i in p.interruptions)
    _html_table(pd.DataFrame({"Item": list(prov), "Value": list(prov.values())}))
    return prov


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_text(path, text)   # the project's one atomic writer (evallib.fsutil)


def board_summary(a: Analysis, res) -> dict:
    """The ``summary.json`` document the pack index reads (see evallib.report.index)."""
    h = _headline(res, a.primary)
    sent = ""
    if h is not None:
        try:
            sent = res.sentence(h)
        except (AttributeError, TypeError, KeyError):
            sents = [s for s in res.sentences() if a.primary in s]
            sent = sents[0] if sents else ""

    def clean(v):
        try:
            v = float(v)
        except (TypeError, ValueError):
            return v
        return None if v != v else v

    headline = None
    if h is not None:
        headline = {k: clean(h.get(k)) for k in ("horizon", "observed", "counterfactual", "absolute",
                                                 "absolute_lower", "absolute_upper", "relative",
                                                 "relative_lower", "relative_upper")}
        headline.update({"interruption": a.primary, "period": h.get("period")})
        if a.info.kind == "count" and headline.get("observed") is not None and headline["observed"] >= 0:
            # disclosure control: the observed count is published as the policy shows it
            from evallib.report.disclosure import NHS_DIGITAL

            headline["observed"] = NHS_DIGITAL.apply_count(headline["observed"])
    spc = None
    if a.spc is not None:
        spc = {"variation": a.spc.variation, "assurance": a.spc.assurance, "target": a.spc.target,
               "rebase": list(a.spc.rebase), "freeze": list(getattr(a.spc, "freeze", [])),
               "decisions": [{"date": d["date"], "decision": d["decision"]}
                             for d in getattr(a.spc, "decisions", [])]}
    return {"schema": "evallib.board-summary/1", "id": a.params.analysis_id, "title": a.params.display_title,
            "metric": a.params.metric, "label": a.info.label, "unit": a.info.unit, "aim": a.info.aim,
            "improvement": a.improvement, "design": res.design, "model": res.model,
            "headline": headline, "sentence": disclose(a, sent), "spc": spc, "synthetic": a.synthetic,
            "verdict": res.verdict_of(h) if (h is not None and hasattr(res, "verdict_of")) else None,
            "failed_checks": res.failed_checks() if hasattr(res, "failed_checks") else [],
            "alpha": float(a.params.alpha), "period_word": periods_word(a).lower().rstrip("s"),
            "warnings": [disclose(a, w) for w in getattr(res, "warnings", [])]}


def write_outputs(a: Analysis, res, results_path: str = "results.json",
                  summary_path: str | None = None) -> tuple[Path, Path]:
    """Write ``results.json`` (docs/contracts.md §4) and ``summary.json`` (for the pack index), atomically.

    Paths are relative to the working directory (the notebook's folder);
    ``summary.json`` goes beside ``results.json`` unless ``summary_path`` is given.
    """
    rp = Path(results_path)
    sp = Path(summary_path) if summary_path else rp.with_name("summary.json")
    text = res.to_json() if hasattr(res, "to_json") else json.dumps(res.to_dict(), indent=2, allow_nan=False)
    _atomic_write(rp, text + "\n")
    _atomic_write(sp, json.dumps(board_summary(a, res), indent=2, allow_nan=False) + "\n")
    return rp, sp


# ------------------------------------------------------------------ analyst view (not on board pages)
#: the notebook cell tag that keeps a cell out of board pages (see evallib.report.render)
ANALYST_TAG = "analyst"


def _short(v, width: int = 160) -> str:
    if isinstance(v, float):
        return "\u2014" if v != v else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        text = ", ".join(map(str, v))
    elif isinstance(v, dict):
        text = "; ".join(f"{k} {_short(x, 40)}" for k, x in v.items())
    else:
        text = str(v)
    return text if len(text) <= width else text[:width - 1] + "\u2026"


def specification(a: Analysis, res) -> list[tuple[str, str]]:
    """What was fitted, as (item, value) rows: design, method, model and why, scale,
    covariance or inference, residual lag, seasonality, interruptions, periods, comparators."""
    p = a.params
    d = res.diagnostics() or {}
    method = getattr(res, "method", None) or d.get("controlled_method") or d.get("method")
    rows: list[tuple[str, str]] = [("Design", res.design + (f" ({method})" if method else ""))]
    why = getattr(res, "model_reason", None) or d.get("model_choice")
    rows.append(("Model", (why if str(why).startswith(res.model) else f"{res.model}: {why}") if why else
                 res.model + (" (given in the params)" if p.model else "")))
    if d.get("scale") is not None or d.get("scale_reason"):
        rows.append(("Scale", f"{d.get('scale')}" + (f": {d['scale_reason']}" if d.get("scale_reason") else "")))
    if isinstance(d.get("inference"), dict):
        inf = d["inference"]
        stud = "studentized" if inf.get("studentized") else "not studentized"
        rows.append(("Inference", f"{inf.get('method')}; {inf.get('placebos')} placebo systems, "
                                  f"{stud}, seed {inf.get('seed')}"))
    else:
        if d.get("cov_type"):
            rows.append(("Covariance", str(d["cov_type"])))
        if d.get("interval_method"):
            rows.append(("Intervals", str(d["interval_method"])))
        if d.get("distribution"):
            rows.append(("Reference distribution", str(d["distribution"])))
    if d.get("hac_lags") is not None:
        rule = f" ({d['hac_lag_rule']})" if d.get("hac_lag_rule") else ""
        rows.append(("Newey-West lag", f"{d['hac_lags']}{rule}"))
    if d.get("rho") is not None:
        rows.append(("AR(1) rho (Prais-Winsten)", f"{float(d['rho']):.3f}"))
    if d.get("dispersion") is not None:
        rows.append(("Dispersion", f"{float(d['dispersion']):.3g}"))
    if d.get("own_terms") is not None:
        rows.append(("System's own terms", _short(d["own_terms"]) or "none"))
    rows.append(("Seasonality", p.seasonality))
    rows.append(("Interruptions", "; ".join(f"{i.name} {i.date} ({'+'.join(i.terms)}"
                                            f"{', transition ' + str(i.transition) if i.transition else ''})"
                                            for i in p.interruptions)))
    pf = getattr(res, "periods_fitted", None)
    if pf:
        rows.append(("Periods", f"{pf[0]} to {pf[1]}, {res.n_obs} observations"))
    rows.append(("Treated trusts", f"{', '.join(p.units)} combined by {p.aggregate}"))
    if res.design != "single":
        kept, dropped = comparators(res)
        rule = d.get("comparator_rule") or d.get("fit_rule")
        rows.append(("Comparators", f"{len(kept)} kept, {len(dropped)} dropped"
                                    + (f" ({rule})" if d.get("comparator_rule") else "")))
    return rows


def comparators(res) -> tuple[list[str], dict[str, str]]:
    """(codes kept, {code: reason dropped}) of a controlled or synthetic result."""
    d = res.diagnostics() or {}
    kept = d.get("comparators_used") or d.get("comparators")
    if kept is None and hasattr(res, "weights"):
        kept = list(res.weights["org_code"])
    dropped = d.get("comparators_dropped")
    if dropped is None and hasattr(res, "dropped"):
        dropped = res.dropped
    return list(kept or []), dict(dropped or {})


def show_specification(a: Analysis, res) -> list[tuple[str, str]]:
    """Analyst view: the specification table, and the comparators kept and dropped with reasons."""
    import pandas as pd

    rows = specification(a, res)
    _html_table(pd.DataFrame(rows, columns=["Item", "Value"]))
    if res.design == "single":
        md("No comparators: a single-group design (the treated trusts' own trend is the counterfactual).")
        return rows
    kept, dropped = comparators(res)
    names = {}
    try:
        f = a.table.frame
        names = dict(zip(f["org_code"], f["org_name"]))
    except (AttributeError, KeyError):
        pass
    weights = {}
    if hasattr(res, "weights"):
        w = res.weights
        weights = dict(zip(w["org_code"], w["weight"]))
    t = pd.DataFrame([{"Trust": c, "Name": names.get(c, "") or "", "Status": "kept",
                       "Reason": f"weight {weights[c]:.3f}" if c in weights else ""} for c in kept]
                     + [{"Trust": c, "Name": names.get(c, "") or "", "Status": "dropped", "Reason": r}
                        for c, r in dropped.items()])
    md(f"**Comparators:** {len(kept)} kept, {len(dropped)} dropped.")
    if len(t):
        _display(t)
    return rows


def coefficient_table(res):
    """The model's terms: ``summary_frame()`` where the result has one, else ``coefficients``."""
    if hasattr(res, "summary_frame"):
        try:
            return res.summary_frame()
        except NotImplementedError:
            pass
    return res.coefficients


def show_coefficients(a: Analysis, res):
    """Analyst view: the coefficient table (estimates, standard errors, intervals, p-values)."""
    t = coefficient_table(res)
    if len(t) == 0:
        md(f"**Coefficients.** The {res.design} design ({res.model}) has no regression coefficients"
           + ("; its donor weights are in the comparators table above." if hasattr(res, "weights") else "."))
        return t
    md(f"**Coefficients** ({res.design}, {res.model}; intervals at {1 - a.params.alpha:.0%}"
       + ("; GLM terms on the link scale, `ratio` is exp(estimate)" if res.model in _RATIO_MODELS else "") + ").")
    _display(t.round(6) if hasattr(t, "round") else t)
    return t


def residual_acf(res) -> tuple[list[float], int, str]:
    """(ACF at lags 1.., n residuals, what the residuals are) from ``diagnostics()['acf']``,
    else from observed minus fitted in the fitted periods (a synthetic control)."""
    import numpy as np

    d = res.diagnostics() or {}
    if d.get("acf"):
        what = d.get("residuals") or ("pre-formation gaps of the system" if d.get("method") == "aligned"
                                      else "residuals")
        if d.get("residual_tests_on"):
            what = f"{what} residuals, {d['residual_tests_on']}"
        n = int(d.get("n_fit_pre") or d.get("n_obs_treated") or d.get("n_obs") or res.n_obs)
        return [float(x) for x in d["acf"]], n, str(what)
    from evallib.its.results import acf

    cf = res.counterfactual()
    fit = cf[cf["in_fit"]] if "in_fit" in cf else cf
    e = (fit["observed"] - fit["fitted"]).to_numpy(dtype=float)
    e = e[np.isfinite(e)]
    nl = max(1, min(12, len(e) // 2 - 1))
    return [float(x) for x in acf(e - e.mean(), nl)], len(e), "observed minus fitted in the fitted periods"


def show_fit_check(a: Analysis, res):
    """Analyst view: fitted against observed (with residuals) and the residual ACF."""
    from evallib.plots.diagnostics import acf_band, acf_chart, fit_check_chart

    r, n, what = residual_acf(res)
    if a.params.depth == "full":
        cf = res.counterfactual()
        dates = [i.date for i in a.params.interruptions]
        _show_fig(fit_check_chart(cf, f"{a.label}: fitted against observed", dates, a.synthetic)[0])
        fig, _, band = acf_chart(r, n, f"Residual autocorrelation ({what}, n = {n})", a.synthetic)
        _show_fig(fig)
    else:   # a national pack's page: the numbers without the two charts (the event study shows the fit)
        band = acf_band(n)
        md(f"Fitted-against-observed and residual autocorrelation charts: not drawn at depth brief (the event "
           f"study shows the pre-formation fit month by month). Residuals: {what}, n = {n}.")
    outside = [k + 1 for k, v in enumerate(r) if abs(v) > band]
    md(f"Residual ACF: lags outside \u00b11.96/\u221an = \u00b1{band:.2f}: "
       + (", ".join(map(str, outside)) if outside else "none") + ".")
    return {"acf": r, "n": n, "band": band, "outside": outside}


def show_event_study_table(a: Analysis, res):
    """Analyst view: the event study numbers (aligned design), or a sentence saying the design has none."""
    if not hasattr(res, "event_study"):
        md(f"The {res.design} design has no event study (it is a feature of the comparator-aligned design).")
        return None
    es = res.event_study()
    pt = res.pre_trend_test
    md(f"**Event study** (gap = observed minus expected, placebo interval at {1 - a.params.alpha:.0%}). "
       f"Joint pre-trend test of the {pt['leads']} months {pt['from']} to {pt['to']}: statistic "
       f"{pt['statistic']:.3g}, placebo p = {pt['p']:.3f} ({pt['placebos']} placebos).")
    _display(es.round(4))
    return es


# ------------------------------------------------------------------ power_planning notebook
def _crossing(g, target: float):
    """First n_post at which the curve ``g`` (n_post, mde_relative) is at or below ``target``,
    and the curve's fall per step there (None when it never crosses)."""
    g = g.dropna(subset=["mde_relative"]).sort_values("n_post")
    below = g[g["mde_relative"] <= target]
    if below.empty:
        return None, None
    k = g.index.get_loc(below.index[0])
    if k == 0:
        return int(below["n_post"].iloc[0]), None
    prev, cur = g.iloc[k - 1], g.iloc[k]
    per = (prev["mde_relative"] - cur["mde_relative"]) / max(1, cur["n_post"] - prev["n_post"])
    return int(cur["n_post"]), float(per)


def power_conclusions(plan, n_sim: int | None = None, flat: float = 0.001) -> list[str]:
    """Sentences reading a :class:`evallib.its.power.PowerPlan`, built from its curves and table.

    - how fast the primary scenario's minimum detectable change (MDE) falls: from the
      shortest post-period to two years (24 months, 8 quarters or 2 years) and from there
      to the longest considered;
    - for each scenario, whether and when its curve reaches the target change, and the
      lowest MDE when it does not; whether the single-group and controlled scenarios differ;
    - whether the primary curve is nearly flat where it crosses the target (falling by
      less than ``flat``, 0.1 percentage point of relative change, per period): the
      crossing month is then uncertain;
    - scenarios whose simulated size differs from alpha by more than two Monte-Carlo
      standard errors (with ``n_sim``).
    """
    import math

    import numpy as np

    unit = plan.unit_word
    target = plan.relative_change
    out: list[str] = []
    tab = plan.table
    prim_rows = tab[tab["primary"]]
    if prim_rows.empty or plan.curve.empty:
        return ["No scenario could be computed: " + "; ".join(str(e) for e in tab["error"] if e)] if len(tab) else []
    prim = prim_rows.iloc[0]
    g = plan.curve[plan.curve["scenario"] == prim["scenario"]].dropna(subset=["mde_relative"]).sort_values("n_post")
    if len(g) >= 2:
        two = {"month": 24, "quarter": 8, "year": 2}.get(unit, 24)
        first, last = g.iloc[0], g.iloc[-1]
        mid = g.iloc[int(np.argmin(np.abs(g["n_post"].to_numpy() - two)))]
        fall1 = first["mde_relative"] - mid["mde_relative"]
        fall2 = mid["mde_relative"] - last["mde_relative"]
        shape = ("most of the fall comes early and the curve then flattens: with a long post-period the "
                 "uncertainty left is in the pre-period trend and the earlier segments, which more data after "
                 "the interruption cannot reduce" if fall1 > 2 * fall2 else
                 "it keeps falling steadily: more data after the interruption still help")
        out.append(f"Under the primary scenario ({prim['scenario']}), the minimum detectable change falls from "
                   f"{first['mde_relative']:.1%} with {int(first['n_post'])} {unit}s of data after the interruption "
                   f"to {mid['mde_relative']:.1%} with {int(mid['n_post'])} and {last['mde_relative']:.1%} with "
                   f"{int(last['n_post'])}; {shape}.")
    reach = {}
    for name, gs in plan.curve.groupby("scenario", sort=False):
        gs = gs.dropna(subset=["mde_relative"])
        if gs.empty:
            continue
        n_cross, _ = _crossing(gs, target)
        lowest = gs.loc[gs["mde_relative"].idxmin()]
        reach[name] = n_cross
        now = plan.n_post_now
        if n_cross is None:
            out.append(f"{name}: stays above the {target:.0%} target within {int(gs['n_post'].max())} {unit}s "
                       f"(lowest {lowest['mde_relative']:.1%} at {int(lowest['n_post'])} {unit}s).")
        else:
            when = ("already reached with the data now" if now is not None and n_cross <= now else
                    f"{n_cross - now} more than now" if now is not None else "")
            out.append(f"{name}: reaches the {target:.0%} target at about {n_cross} {unit}s after the "
                       f"interruption ({when}) on the curve's {int(gs['n_post'].diff().median() or 1)}-{unit} grid.")
    single = [n for n in reach if str(n).startswith("single")]
    controlled = [n for n in reach if not str(n).startswith("single")]
    if single and controlled:
        s_none = all(reach[n] is None for n in single)
        c_any = any(reach[n] is not None for n in controlled)
        if s_none and c_any:
            out.append("No single-group scenario reaches the target while a controlled one does: with the earlier "
                       "interruption (COVID-19) modelled beside the collaborative, later data do not separate the "
                       "two in a single series. This is why the controlled design is primary.")
        elif s_none and not c_any:
            out.append("No scenario, single-group or controlled, reaches the target within the months considered: "
                       f"a {target:.0%} change is too small for these data; read the lowest detectable change instead.")
        elif not s_none:
            s_first = min(reach[n] for n in single if reach[n] is not None)
            c_vals = [reach[n] for n in controlled if reach[n] is not None]
            out.append(f"A single-group scenario reaches the target (at {s_first} {unit}s)"
                       + (f", as do the controlled ones (from {min(c_vals)} {unit}s)" if c_vals else
                          ", the controlled ones do not")
                       + ": the single-group answer still cannot separate the collaborative from COVID-19.")
    n_cross, per = _crossing(g, target) if len(g) else (None, None)
    if n_cross is not None and per is not None:
        if per < flat:
            out.append(f"The primary curve is nearly flat where it crosses the target (it falls by "
                       f"{100 * per:.2f} percentage points per {unit} there), so the crossing {unit} is uncertain: "
                       f"a few more simulated series or a slightly different noise estimate could move it by "
                       f"several {unit}s. Read the minimum detectable change, not just the crossing {unit}.")
        else:
            out.append(f"Where the primary curve crosses the target it still falls by {100 * per:.2f} percentage "
                       f"points per {unit}, so the crossing {unit} is well determined.")
    if n_sim:
        se = math.sqrt(plan.alpha * (1 - plan.alpha) / n_sim)
        off = [(r["scenario"], float(r["size"])) for _, r in tab.iterrows()
               if np.isfinite(r["size"]) and abs(r["size"] - plan.alpha) > 2 * se]
        if off:
            text = "; ".join(f"{n} ({v:.3f}, {'over' if v > plan.alpha else 'under'}-rejecting: its power is "
                             f"{'overstated' if v > plan.alpha else 'understated'})" for n, v in off)
            out.append(f"The test's size (false-positive rate) differs from alpha = {plan.alpha:g} by more than two "
                       f"simulation standard errors ({2 * se:.3f}) in: {text}.")
        else:
            out.append(f"The test's size (false-positive rate) is within two simulation standard errors "
                       f"({2 * se:.3f}) of alpha = {plan.alpha:g} in every scenario.")
    return out


def show_power_conclusions(plan, n_sim: int | None = None) -> list[str]:
    """Display :func:`power_conclusions` as a list."""
    lines = power_conclusions(plan, n_sim)
    md("\n".join(f"- {x}" for x in lines))
    return lines


def data_quality_page(params_path: str | os.PathLike, metrics: list[str] | None = None,
                      units: list[str] | str | None = None, summary_path: str | None = "summary.json",
                      namespace: dict | None = None) -> dict:
    """The ``data_quality`` notebook: checks its parameters (``namespace``), finds the params
    file as :func:`start` does, then :func:`show_coverage`."""
    from evallib.report import params_cell as pc

    if namespace is not None:
        pc.check_injected(namespace, "data_quality")
    p = pc.find_params_file(params_path, what="params or pack file")
    from evallib import metrics as _metrics
    from evallib.config import load_pack

    raw = read_yaml(p)
    if "analyses" in raw:            # label own measures as the pack's analyses do
        _metrics.use_pack(load_pack(p)[1])
    else:
        _metrics.use_params(params_from_dict(raw, p.resolve().parent, str(p)))
    units = pc.coerce("units", units) if units else None
    metrics = pc.coerce("units", metrics) if isinstance(metrics, str) else metrics
    return show_coverage(p, metrics or None, units or None, summary_path=summary_path)


# ------------------------------------------------------------------ data_quality notebook
def show_coverage(params_path: str | os.PathLike, metrics: list[str] | None = None,
                  units: list[str] | None = None, summary_path: str | None = "summary.json") -> dict:
    """The ``data_quality`` notebook: coverage heat map by unit and metric, and the flags raised.

    ``params_path`` may be a params file or a pack (its defaults give the data and units).
    With ``summary_path``, a ``summary.json`` of kind ``data_quality`` is written for
    the pack index (it lists the page under "Supporting pages").
    """
    import pandas as pd

    from evallib.plots.quality import coverage_heatmap
    from evallib.report.quality import coverage_matrix, summarise_metric

    p = Path(params_path)
    raw = read_yaml(p)
    base = raw.get("defaults", raw) if "analyses" in raw else raw
    data = Path(str(base["data"]))
    data = data if data.is_absolute() else (p.resolve().parent / data).resolve()
    table = cached_table(data)
    units = units or list(base.get("units", [])) or table.units()
    metrics = metrics or table.metrics()
    md(f"# Data quality: {data.name}", board=False)
    if table.synthetic:
        md("> **SYNTHETIC DATA.** The demo table is simulated; it is not real NHS data.", board=False)
    rep = table.report or {}
    md(f"{rep.get('n_rows', len(table.frame)):,} rows, {len(table.units())} organisations, "
       f"{len(table.metrics())} measures. {rep.get('suppressed_total', 0)} cell(s) were suppressed or blank "
       f"in the source and are treated as missing; {len(rep.get('gaps', []))} series have gaps.")
    labels = {m: metric_info(m).label for m in metrics}
    mat = coverage_matrix(table, metrics, units)
    others = [u for u in table.units() if u not in set(units)]
    shown = mat.copy()
    if others:
        shown.loc[f"Other trusts\n({len(others)}, average)"] = coverage_matrix(table, metrics, others).mean()
    fig, _ = coverage_heatmap(shown, synthetic=table.synthetic, labels=labels,
                              title="Share of months with a value, by trust and measure")
    _show_fig(fig)
    flags, gaps, unusual = {}, {}, {}
    for m in metrics:
        q = summarise_metric(table, m, units)
        flags[m] = q.flags
        gaps[m] = int((q.table["missing"] + q.table["suppressed"]).sum()) if len(q.table) else 0
        unusual[m] = int(q.table["outliers"].sum()) if len(q.table) else 0
    # the counts are those the details list (every flag is shown, each names all it counts)
    rows = [{"Measure": labels[m], "Missing or suppressed months": gaps[m], "Unusual values": unusual[m],
             "Details": " ".join(f) or "none"} for m, f in flags.items()]
    md("**Flags raised** (missing or suppressed months, unusual values) for the analysed trusts:")
    _html_table(pd.DataFrame(rows), num_cols=("Missing or suppressed months", "Unusual values"))
    if summary_path:
        total = float(mat.to_numpy().mean()) if mat.size else float("nan")
        _atomic_write(Path(summary_path), json.dumps({
            "schema": "evallib.board-summary/1", "kind": "data_quality", "label": "Data quality",
            "sentence": f"{total:.1f}% of expected months have a value across {len(units)} trusts and "
                        f"{len(metrics)} measures; {sum(gaps.values())} missing or suppressed month(s) and "
                        f"{sum(unusual.values())} unusual value(s) flagged.",
            "synthetic": bool(table.synthetic)}, indent=2, allow_nan=False) + "\n")
    return {"coverage": mat, "flags": flags}


__all__ = ["Analysis", "start", "show_data_quality", "fit", "show_system", "show_robustness",
           "show_diagnostics", "show_single_contrast", "show_sensitivity", "show_trusts", "show_spc",
           "show_findings", "show_provenance", "write_outputs", "board_summary", "effects_table",
           "covid_caveat", "show_coverage", "md", "specification", "comparators", "show_specification",
           "coefficient_table", "show_coefficients", "residual_acf", "show_fit_check", "show_event_study_table",
           "power_conclusions", "show_power_conclusions", "data_quality_page", "ANALYST_TAG"]
