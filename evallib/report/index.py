"""The board pack's ``index.html``: an integrated-performance-report style summary.

For each analysis it reads ``<id>/summary.json`` (written by the notebook through
:func:`evallib.report.notebook.write_outputs`) and shows the direction of
improvement, the 12-month effect with its CI, a verdict, the plain-English
sentence, SPC variation and assurance icons, and a link to the page. A forest plot
of all relative effects sits at the top; a SYNTHETIC banner shows when the data
are the demo. Failed analyses are listed with their error and a link to their
error page. The page is self-contained (inline CSS, PNGs as base64).
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import evallib
from evallib.fsutil import atomic_write_text
from evallib.report.checks import check_page

logger = logging.getLogger(__name__)

DIRECTION_TEXT = {"increase": "higher \u2191", "decrease": "lower \u2193", "neutral": "no preferred direction"}
VARIATION_TEXT = {
    "common_cause": "common cause: no significant change",
    "improvement_high": "special cause: improvement (higher)",
    "improvement_low": "special cause: improvement (lower)",
    "concern_high": "special cause: concern (higher)",
    "concern_low": "special cause: concern (lower)",
    "neither_high": "special cause: higher (no preferred direction)",
    "neither_low": "special cause: lower (no preferred direction)",
}
ASSURANCE_TEXT = {"pass": "target consistently met", "fail": "target consistently missed",
                  "hit_and_miss": "target hit and miss"}


def _num(x) -> float | None:
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def format_value(x: float | None, unit: str, signed: bool = False) -> str:
    """Board formatting: ``%`` metrics in percentage points, counts with thousands separators.

    Edge cases: ``None``/NaN -> an em dash. ``%`` values always get one decimal;
    other units get none from 10 upwards, one from 1 to 10 and two below 1.
    """
    x = _num(x)
    if x is None:
        return "\u2014"
    sign = "+" if signed and x > 0 else ("\u2212" if x < 0 else "")
    ax = abs(x)
    if unit == "%":
        return f"{sign}{ax:.1f}" + (" pp" if signed else "%")
    body = f"{ax:,.0f}" if ax >= 10 else (f"{ax:,.1f}" if ax >= 1 else f"{ax:.2f}")
    if unit == "\u00a3k":
        return f"{sign}\u00a3{body}k"
    return f"{sign}{body}" + (f" {unit}" if unit else "")


def format_range(lo: float | None, hi: float | None, unit: str) -> str:
    """A confidence interval with the unit once: ``−28,646 to +15,668 patients``, ``+0.8 to +4.6 pp``."""
    if _num(lo) is None or _num(hi) is None:
        return ""
    a, b = format_value(lo, "", True), format_value(hi, "", True)
    if unit == "%":
        a, b = f"{format_value(lo, '%', True)[:-3]}", f"{format_value(hi, '%', True)[:-3]}"
        return f"{a} to {b} pp"
    if unit == "\u00a3k":
        return f"{format_value(lo, unit, True)} to {format_value(hi, unit, True)}"
    return f"{a} to {b}" + (f" {unit}" if unit else "")


#: the verdict in words: the index's short sentence and the badge say the same thing
VERDICT_WORDS = {"improvement": "better than expected", "deterioration": "worse than expected",
                 "unclear": "no clear change", "no direction": "changed, with no preferred direction",
                 "failed": "the analysis failed"}


def _size(x: float | None, unit: str) -> str:
    """``1,078 patients lower``, ``4.3 pp higher``, ``£457k lower``: a change in plain words."""
    x = _num(x)
    if x is None:
        return ""
    body = format_value(abs(x), unit, signed=True).lstrip("+")
    return body if x == 0 else f"{body} {'higher' if x > 0 else 'lower'}"


def short_sentence(verdict: str, absolute, lower, upper, unit: str, ci_level: str, failed_checks: list,
                   variation: str | None = None) -> str:
    """One short sentence for the index row: the verdict in words, the effect and its interval in
    words ("1,078 patients lower than expected (95% CI 2,525 lower to 369 higher)"), the
    failed checks when there are any, and why the MDC icon beside it may disagree (better than
    expected but a concern over time). The full sentence is on the analysis page."""
    text = VERDICT_WORDS.get(verdict, verdict).capitalize()
    if _num(absolute) is not None:
        text += f": {_size(absolute, unit)} than expected"
        if _num(lower) is not None and _num(upper) is not None:
            text += f" ({ci_level + ' ' if ci_level else ''}CI {_size(lower, unit)} to {_size(upper, unit)})"
    if failed_checks:
        text += f"; not fully trusted (failed: {', '.join(c.replace('_', ' ') for c in failed_checks)})"
    if variation and verdict == "improvement" and variation.startswith("concern"):
        text += "; over time it is still getting worse (Making Data Count: concern)"
    elif variation and verdict == "deterioration" and variation.startswith("improvement"):
        text += "; over time it is still getting better (Making Data Count: improvement)"
    return text + "."


def _icon(kind: str | None) -> str | None:
    if not kind:
        return None
    try:
        from evallib.plots.spc import icon_data_uri
    except ImportError:
        return None
    return icon_data_uri(kind, size=64)


def index_rows(build: Path, manifest: dict) -> list[dict]:
    """One display row per analysis (also used by the tests)."""
    from evallib.plots.pack import verdict

    rows = []
    for a in manifest["analyses"]:
        summ_path = build / a["id"] / "summary.json"
        s = None
        if summ_path.is_file():
            s = json.loads(summ_path.read_text(encoding="utf-8"))
        href = f"{a['id']}/{a['id']}.html"
        if a["status"] != "ok" or s is None:
            rows.append({"id": a["id"], "label": a["title"], "aim": "", "direction": "\u2014",
                         "effect": "\u2014", "ci": "", "relative": "", "verdict": "failed",
                         "sentence": f"This analysis failed: {a.get('error') or 'no summary was written'}",
                         "variation_icon": None, "variation_text": "\u2014", "assurance_icon": None,
                         "assurance_text": "\u2014", "href": href, "failed": True, "forest": None})
            continue
        if s.get("kind") == "data_quality":
            rows.append({"id": a["id"], "label": s.get("label") or a["title"], "support": True,
                         "sentence": s.get("sentence", ""), "href": href, "failed": False,
                         "forest": None, "verdict": "support"})
            continue
        h = s.get("headline") or {}
        unit, imp = s.get("unit", ""), s.get("improvement", "neutral")
        lo, hi = _num(h.get("absolute_lower")), _num(h.get("absolute_upper"))
        spc = s.get("spc") or {}
        var, ass = spc.get("variation"), spc.get("assurance")
        rel, rlo, rhi = (_num(h.get(k)) for k in ("relative", "relative_lower", "relative_upper"))
        failed_checks = [str(c) for c in (s.get("failed_checks") or [])]
        v = s.get("verdict") or (verdict(lo, hi, imp) if h else "unclear")
        alpha = _num(s.get("alpha"))
        level = f"{100 * (1 - alpha):g}%" if alpha is not None else ""
        rows.append({
            "id": a["id"], "label": s.get("label") or a["title"], "aim": s.get("aim", ""),
            "direction": DIRECTION_TEXT.get(imp, imp),
            "effect": format_value(h.get("absolute"), unit, signed=True),
            "ci": format_range(lo, hi, unit),
            "relative": (f"{rel * 100:+.1f}% of expected".replace("-", "\u2212") if rel is not None else ""),
            # the analysis' own verdict (one rule, with its scorecard guards) when it wrote one
            "verdict": v, "failed_checks": failed_checks,
            "verdict_words": VERDICT_WORDS.get(v, v),
            "sentence": short_sentence(v, h.get("absolute"), lo, hi, unit, level, failed_checks, var),
            "full_sentence": s.get("sentence", ""),
            "variation_icon": _icon(var), "variation_text": VARIATION_TEXT.get(var, "\u2014"),
            "assurance_icon": _icon(ass) if imp != "neutral" else None,
            "assurance_text": ASSURANCE_TEXT.get(ass, "\u2014 (no target)"),
            "href": href, "failed": False,
            "forest": {"label": s.get("label") or a["title"],
                       "estimate": None if rel is None else rel * 100,
                       "lower": None if rlo is None else rlo * 100,
                       "upper": None if rhi is None else rhi * 100, "improvement": imp,
                       "verdict": v, "failed_checks": failed_checks},
            "design": s.get("design"), "alpha": s.get("alpha"), "horizon": h.get("horizon"),
            "period_word": s.get("period_word"),
            "interruption": h.get("interruption"),
        })
    return rows


def _when(stamp: str) -> str:
    """``2026-11-26T06:33:58Z`` -> ``26 November 2026, 06:33 UTC`` (unparseable: as given)."""
    import datetime as dt

    try:
        t = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return stamp
    return f"{t.day} {t:%B %Y, %H:%M} UTC"


def write_index(build: Path, manifest: dict) -> Path:
    """Render ``build/index.html`` from the manifest and each analysis's summary.json."""
    from evallib.plots.pack import forest_plot
    from evallib.report.render import _env, base_css, png_data_uri

    build = Path(build)
    all_rows = index_rows(build, manifest)
    rows = [r for r in all_rows if not r.get("support")]
    support = [r for r in all_rows if r.get("support")]
    synthetic = bool(manifest.get("synthetic"))
    forest_rows = [r["forest"] for r in rows if r["forest"] is not None]
    forest = None
    primary = next((r["interruption"].replace("_", " ") for r in rows if r.get("interruption")), "intervention")
    # labels from the analyses: the confidence level (alpha) and the horizon actually shown
    alphas = sorted({r["alpha"] for r in rows if r.get("alpha")})
    ci_level = f"{100 * (1 - alphas[0]):g}%" if len(alphas) == 1 else ""
    hzs = sorted({int(r["horizon"]) if float(r["horizon"]).is_integer() else r["horizon"]
                  for r in rows if r.get("horizon") is not None})
    unit_w = next((r["period_word"] for r in rows if r.get("period_word")), "month")
    horizon = f"{hzs[0]} {unit_w}{'s' if hzs[0] != 1 else ''}" if len(hzs) == 1 else ""
    if forest_rows:
        fig, _ = forest_plot(forest_rows, synthetic=synthetic, better_right=True,
                             xlabel=f"Change against expected without the {primary} (%)"
                             + (f", at {horizon}" if horizon else "") + "; right is better")
        forest = png_data_uri(fig)
    counts = {"total": len(rows), "failed": sum(r["failed"] for r in rows),
              "flagged": sum(bool(r.get("failed_checks")) for r in rows)}
    for k in ("improvement", "deterioration", "unclear", "no direction"):
        counts[k.replace(" ", "_")] = sum(r["verdict"] == k for r in rows)
    html = _env().get_template("index.html.j2").render(
        title=manifest["pack"]["title"], description=manifest["pack"].get("description", ""),
        css=base_css(), synthetic=synthetic, forest=forest, rows=rows, counts=counts, support=support,
        any_controlled=any(r.get("design") in ("controlled", "synthetic") for r in rows),
        built_at=_when(manifest.get("built_at", "")), version=evallib.__version__,
        executor=manifest.get("executor", ""), cached=manifest["summary"]["cached"],
        n_total=manifest["summary"]["total"],
        primary=primary, ci_level=ci_level, horizon=horizon)
    check_page(html, source=str(build / "index.html"))
    out = build / "index.html"
    atomic_write_text(out, html)
    return out


__all__ = ["write_index", "index_rows", "short_sentence", "VERDICT_WORDS",
            "format_value", "format_range", "DIRECTION_TEXT", "VARIATION_TEXT", "ASSURANCE_TEXT"]
