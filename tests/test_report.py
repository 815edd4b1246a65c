"""Board outputs: publish checks, page rendering (no code), index, quality summary, pack plots."""
from __future__ import annotations

import json
import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from evallib.exceptions import PublishError
from evallib.report import checks
from evallib.report.index import format_value, index_rows, write_index
from evallib.report.quality import coverage_matrix, find_outliers, summarise_metric
from evallib.report.render import render_page


# ------------------------------------------------------------------ NHS numbers
@pytest.mark.parametrize("digits, ok", [
    # 9434765919: weights 10..2 on 9,4,3,4,7,6,5,9,1 -> 90+36+24+28+42+30+20+27+2 = 299;
    # 299 mod 11 = 2; 11-2 = 9 = the last digit -> valid (the NHS Data Dictionary example).
    ("9434765919", True),
    ("9434765918", False),          # same, wrong check digit
    # 400000000: 4*10 = 40; 40 mod 11 = 7; 11-7 = 4 -> 4000000004 valid
    ("4000000004", True),
    # 123456789: sum 210; 210 mod 11 = 1; 11-1 = 10 -> never valid, whatever the last digit
    ("1234567890", False), ("1234567899", False),
    # 000000000: sum 0 -> 11-0 = 11 -> check 0 -> 0000000000 valid by the rule
    ("0000000000", True),
    ("943476591", False),           # 9 digits
])
def test_nhs_check_digit_reference_values(digits, ok):
    assert checks.nhs_check_digit_ok(digits) is ok


def test_find_nhs_numbers_spaced_hyphenated_and_plain_are_found():
    text = "a 943 476 5919 b 943-476-5919 c 9434765919."
    assert [d for _, d in checks.find_nhs_numbers(text)] == ["9434765919"] * 3


@pytest.mark.parametrize("text", [
    "value 0.9434765919 here",            # a decimal fraction
    "hash a9434765919f",                  # part of a longer token
    "big 19434765919 number",             # 11 digits
    "9434765918",                         # invalid check digit
    '<img src="data:image/png;base64,AAAA9434765919AAAA">',  # inside an embedded image
])
def test_find_nhs_numbers_ignores_non_identifiers(text):
    assert checks.find_nhs_numbers(text) == []


def test_check_page_refuses_nhs_number_without_repeating_it():
    with pytest.raises(PublishError) as exc:
        checks.check_page("<p>Patient 943 476 5919 waited</p>", source="page.html")
    msg = str(exc.value)
    assert msg.startswith("page.html: 1 string(s) that look like an NHS number")
    assert "5919" not in msg


def test_check_page_refuses_code_input():
    with pytest.raises(PublishError, match="contains code input"):
        checks.check_page('<div class="jp-InputArea">x = 1</div>')


def test_suppress_small_counts_replaces_one_to_threshold_minus_one():
    f = pd.DataFrame({"n": [0.0, 1.0, 4.0, 5.0, 12.0, np.nan], "x": [1, 2, 3, 4, 5, 6]})
    out = checks.suppress_small_counts(f, ["n"], 5)
    assert out["n"].tolist()[:5] == [0.0, "<5", "<5", 5.0, 12.0]
    assert np.isnan(out["n"].iloc[5])
    assert out["x"].tolist() == [1, 2, 3, 4, 5, 6]


def test_suppress_small_counts_zero_threshold_changes_nothing():
    f = pd.DataFrame({"n": [1.0, 2.0]})
    assert checks.suppress_small_counts(f, ["n"], 0)["n"].tolist() == [1.0, 2.0]


# ------------------------------------------------------------------ rendering
def _executed_nb(extra_text: str = "ok"):
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    c1 = nbformat.v4.new_code_cell("secret_variable = 42\nprint(secret_variable)", execution_count=1)
    c1.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{extra_text}\n"),
                  nbformat.v4.new_output("stream", name="stderr", text="WARNING noisy library\n")]
    c2 = nbformat.v4.new_code_cell("show_chart()", execution_count=2)
    c2.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png}),
                  nbformat.v4.new_output("display_data", data={"text/markdown": "# Notebook-only title"},
                                         metadata={"evallib": {"board": False}}),
                  nbformat.v4.new_output("execute_result", data={"text/plain": "Out value"}, execution_count=2)]
    c3 = nbformat.v4.new_code_cell("params_path = 'x'")     # no output: dropped
    c3.metadata["tags"] = ["parameters"]
    md = nbformat.v4.new_markdown_cell("## Findings\n\nPlain text for the board.")
    hidden = nbformat.v4.new_markdown_cell("Analyst-only note")
    hidden.metadata["tags"] = ["board-hide"]
    return nbformat.v4.new_notebook(cells=[hidden, c3, c1, c2, md])


def test_render_page_has_no_code_prompts_or_stderr_and_embeds_images():
    html = render_page(_executed_nb(), title="Test page", synthetic=True)
    assert "secret_variable" not in html and "show_chart" not in html
    assert not re.search(r"In(&nbsp;|\s)\[", html) and not re.search(r"Out(&nbsp;|\s)?\[", html)
    assert "noisy library" not in html
    assert "Analyst-only note" not in html and "Notebook-only title" not in html
    assert 'src="data:image/png;base64,iVBOR' in html
    assert "<h2" in html and "Plain text for the board." in html
    assert "SYNTHETIC DATA" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_render_page_refuses_page_with_nhs_number():
    with pytest.raises(PublishError, match="look like an NHS number"):
        render_page(_executed_nb("patient 9434765919"), title="Leaky page")


def test_render_page_error_banner_names_the_error_without_traceback():
    nb = _executed_nb()
    nb.cells[2].outputs.append(nbformat.v4.new_output(
        "error", ename="ValueError", evalue="planted failure",
        traceback=["Traceback (most recent call last):", '  File "/secret/path.py", line 3, in fit_model']))
    html = render_page(nb, title="Broken", error="ValueError: planted failure")
    assert "This analysis did not complete: ValueError: planted failure" in html
    assert "The analysis stopped here: ValueError: planted failure" in html
    assert "/secret/path.py" not in html and "fit_model" not in html


# ------------------------------------------------------------------ index
@pytest.mark.parametrize("x, unit, signed, expected", [
    (-1234.4, "patients", True, "\u22121,234 patients"),
    (3.25, "%", True, "+3.2 pp"),
    (85.0, "%", False, "85.0%"),
    (None, "%", True, "\u2014"),
    (float("nan"), "", False, "\u2014"),
    (0.123, "\u00a3k", True, "+\u00a30.12k"),
])
def test_format_value(x, unit, signed, expected):
    assert format_value(x, unit, signed) == expected


@pytest.mark.parametrize("lo, hi, unit, expected", [
    (-28646.4, 15668.3, "patients", "\u221228,646 to +15,668 patients"),
    (0.81, 4.63, "%", "+0.8 to +4.6 pp"),
    (-120.0, -3.0, "\u00a3k", "\u2212\u00a3120k to \u2212\u00a33.0k"),
    (None, 1.0, "%", ""),
])
def test_format_range(lo, hi, unit, expected):
    from evallib.report.index import format_range

    assert format_range(lo, hi, unit) == expected


def _fake_build(tmp_path, synthetic=True):
    build = tmp_path / "build"
    for aid, rel, lo, hi, imp in (("wl", -0.10, -0.16, -0.03, "decrease"),
                                  ("c62", 0.02, -0.01, 0.05, "increase")):
        d = build / aid
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({
            "label": f"Label {aid}", "unit": "patients" if aid == "wl" else "%", "improvement": imp,
            "aim": "elective backlog", "design": "controlled", "sentence": f"Sentence for {aid}.",
            "headline": {"absolute": -120.0 if aid == "wl" else 1.5,
                         "absolute_lower": -200.0 if aid == "wl" else -0.5,
                         "absolute_upper": -40.0 if aid == "wl" else 3.0,
                         "relative": rel, "relative_lower": lo, "relative_upper": hi},
            "spc": {"variation": "improvement_low", "assurance": None}}))
    (build / "bad").mkdir()
    manifest = {"pack": {"title": "Pack title", "description": "About the pack."}, "synthetic": synthetic,
                "summary": {"total": 3, "ok": 2, "failed": 1, "cached": 0}, "built_at": "2026-01-01T00:00:00Z",
                "executor": "process pool (2 workers)",
                "analyses": [{"id": "wl", "title": "WL", "status": "ok", "error": None},
                             {"id": "c62", "title": "C62", "status": "ok", "error": None},
                             {"id": "bad", "title": "Broken one", "status": "failed",
                              "error": "ValueError: planted failure"}]}
    return build, manifest


def test_index_rows_verdicts_follow_the_direction_of_improvement(tmp_path):
    build, manifest = _fake_build(tmp_path)
    rows = {r["id"]: r for r in index_rows(build, manifest)}
    # waiting list: lower is better and the whole CI is below zero -> improvement
    assert rows["wl"]["verdict"] == "improvement"
    assert rows["wl"]["effect"] == "\u2212120 patients"
    assert rows["wl"]["ci"] == "\u2212200 to \u221240 patients"
    # 62-day: CI spans zero -> unclear
    assert rows["c62"]["verdict"] == "unclear"
    assert rows["bad"]["verdict"] == "failed" and rows["bad"]["failed"]
    assert rows["wl"]["forest"]["estimate"] == pytest.approx(-10.0)


def test_write_index_has_banner_forest_table_failure_and_links(tmp_path):
    build, manifest = _fake_build(tmp_path)
    html = write_index(build, manifest).read_text()
    assert "<title>Pack title</title>" in html
    assert "SYNTHETIC DATA" in html
    assert html.count("data:image/png;base64,") >= 2          # forest plot + SPC icons
    assert '<table class="summary">' in html
    assert 'href="wl/wl.html"' in html and 'href="bad/bad.html"' in html
    assert "This analysis failed: ValueError: planted failure" in html
    assert "1 better than expected" in html and "; 1 failed" in html
    assert "lower \u2193" in html


def test_write_index_without_synthetic_data_has_no_banner(tmp_path):
    build, manifest = _fake_build(tmp_path, synthetic=False)
    assert "SYNTHETIC DATA" not in write_index(build, manifest).read_text()


# ------------------------------------------------------------------ quality
def _frame():
    periods = [f"2020-{m:02d}" for m in range(1, 13)]
    rows = []
    for p in periods:
        rows.append({"period": p, "org_code": "A", "org_name": "Trust A", "metric": "m", "value": 100.0})
        if p != "2020-05":                      # B: one month missing ...
            v = np.nan if p == "2020-07" else 50.0 + (60.0 if p == "2020-10" else 0.0)  # ... one suppressed, one spike
            rows.append({"period": p, "org_code": "B", "org_name": "Trust B", "metric": "m", "value": v})
    return pd.DataFrame(rows)


def test_summarise_metric_counts_missing_suppressed_and_outliers():
    q = summarise_metric(_frame(), "m", ["A", "B"])
    t = q.table.set_index("org_code")
    assert q.expected == 12
    assert t.loc["A", ["observed", "missing", "suppressed", "outliers"]].tolist() == [12, 0, 0, 0]
    assert t.loc["B", ["observed", "missing", "suppressed", "outliers"]].tolist() == [10, 1, 1, 1]
    assert t.loc["B", "coverage_pct"] == pytest.approx(83.3)
    assert q.outliers["period"].tolist() == ["2020-10"]
    assert "B: 1 month(s) missing (2020-05)." in q.flags
    assert q.coverage_pct == pytest.approx(100 * 22 / 24)


def test_find_outliers_needs_eight_points():
    assert find_outliers(pd.Series([1.0, 1.0, 1.0, 50.0, 1.0, 1.0, 1.0])).empty


def test_coverage_matrix_percentages():
    m = coverage_matrix(_frame())
    assert m.loc["A", "m"] == 100.0 and m.loc["B", "m"] == pytest.approx(83.3)


# ------------------------------------------------------------------ pack plots
@pytest.mark.parametrize("lo, hi, imp, expected", [
    (-3, -1, "decrease", "improvement"), (-3, -1, "increase", "deterioration"),
    (1, 3, "increase", "improvement"), (-1, 1, "increase", "unclear"),
    (1, 3, "neutral", "no direction"), (None, 1, "increase", "unclear"),
])
def test_verdict(lo, hi, imp, expected):
    from evallib.plots.pack import verdict

    assert verdict(lo, hi, imp) == expected


def test_forest_plot_draws_one_row_per_analysis():
    import matplotlib
    matplotlib.use("Agg")
    from evallib.plots.pack import forest_plot

    fig, ax = forest_plot([{"label": "a", "estimate": -10, "lower": -16, "upper": -3, "improvement": "decrease"},
                           {"label": "b", "estimate": None, "lower": None, "upper": None, "improvement": "increase"}],
                          synthetic=True)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert any(t.get_text() == "SYNTHETIC DATA" for t in fig.texts)
