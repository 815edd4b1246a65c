"""The A4 PDF board pack (evallib.report.pdf), typeset with Typst.

Most tests build a PDF from a small pack folder written here (manifest.json, each
analysis's summary.json, results.json and board page), so that every label and
number is known; one builds a real pack with `evallib batch` first. Text is read
back with pypdf (a test dependency), which also proves it is selectable.
"""
from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pypdf = pytest.importorskip("pypdf", reason="pypdf is a test dependency: pip install -e '.[test]'")

from evallib.report import pdf  # noqa: E402
from evallib.report.disclosure import scan_text  # noqa: E402

A4 = (595.2756, 841.8898)          # points
LONG_TRUST = "SANDWELL AND WEST BIRMINGHAM HOSPITALS NHS TRUST"
NASTY = "Waits # $ * _ < > @ [x] {y} // `z` \\ = 1. - + ~"


def _png(colour: str = "#005EB8", vector_into: Path | None = None) -> str:
    """A small chart as a data URI; with ``vector_into``, also its SVG twin there."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([0, 1, 2, 3], [3, 1, 2, 5], color=colour)
    ax.set_title("Chart title")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    png = buf.getvalue()
    if vector_into is not None:
        pdf.write_vector_twin(fig, png, vector_into / pdf.FIGURES_DIR)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _page_html(title: str, body: str) -> str:
    return f"""<!DOCTYPE html><html><head><style>p {{ margin: 0 }}</style></head><body>
<header class="bar"><h1>{title}</h1></header><main>
<div class="banner synthetic" role="alert">SYNTHETIC DATA banner text</div>
{body}
<footer>Produced by evallib</footer></main></body></html>"""


def _write_pack(root: Path, *, alpha: float = 0.1, freq: str = "M", synthetic: bool = True,
                title: str = "Test pack " + NASTY) -> Path:
    """Two measures (a count with small values and a percentage), a failed one and a
    data-quality page. Counts 1 to 7 appear in the data: observed 3, latest 5."""
    pack = root / "pack"
    pack.mkdir(parents=True)
    first, last, period = ("2018-01", "2023-12", "2021-09") if freq == "M" else ("2016-Q1", "2023-Q4", "2021-Q3")
    horizon = 12 if freq == "M" else 4
    measures = [
        {"id": "waits", "title": f"Small waits at {LONG_TRUST}", "metric": "rtt_52w_waiters",
         "label": "52-week waiters", "unit": "patients", "improvement": "decrease",
         "headline": {"horizon": horizon, "observed": 3.0, "counterfactual": 9.2, "absolute": -4.4,
                      "absolute_lower": -8.9, "absolute_upper": -0.6, "relative": -0.48,
                      "relative_lower": -0.81, "relative_upper": -0.05, "interruption": "collaborative",
                      "period": period},
         "latest": {"period": last, "value": 5.0}, "spc": {"variation": "improvement_low", "assurance": None,
                                                           "target": None},
         "sentence": f"Waits at {LONG_TRUST} were lower than expected.",
         "warnings": ["the treated series is near zero in the pre-period"]},
        {"id": "cancer", "title": "Cancer 62-day standard", "metric": "cancer_62d_pct",
         "label": "Cancer 62-day treatment standard", "unit": "%", "improvement": "increase",
         "headline": {"horizon": horizon, "observed": 71.0, "counterfactual": 70.0, "absolute": 1.0,
                      "absolute_lower": -1.5, "absolute_upper": 3.5, "relative": 0.014,
                      "relative_lower": -0.02, "relative_upper": 0.05, "interruption": "collaborative",
                      "period": period},
         "latest": {"period": last, "value": 72.4}, "spc": {"variation": "common_cause", "assurance": "fail",
                                                            "target": 85.0},
         "sentence": "The 62-day standard showed no clear change.", "warnings": [],
         "failed_checks": ["pre_trend"]},
    ]
    analyses = []
    for k, m in enumerate(measures):
        d = pack / m["id"]
        d.mkdir()
        summary = {"schema": "evallib.board-summary/1", "aim": "elective backlog", "design": "controlled",
                   "model": "quasipoisson", "synthetic": synthetic, **m}
        (d / "summary.json").write_text(json.dumps(summary))
        results = {"schema": "evallib.results/1", "title": m["title"], "metric": m["metric"], "model": "quasipoisson",
                   "design": "controlled", "n_obs": 1440, "periods": {"first": first, "last": last},
                   "groups": {"treated": {"intercept": {"estimate": 2.4, "se": 0.06, "ci": [2.3, 2.5], "p": 0.0,
                                                        "ratio": 11.4, "ratio_ci": [10.1, 12.9]},
                                          "level_change[collaborative]": {"estimate": -0.11, "se": 0.1,
                                                                          "ci": [-0.31, 0.09], "p": 0.29}}},
                   "effects": [], "diagnostics": {"durbin_watson": 1.21, "ljung_box": [{"lag": 12, "q": 30.0,
                                                                                        "p": 0.0021}],
                                                  "dispersion": 2.31},
                   "warnings": m["warnings"],
                   "scorecard": {"checks": [{"name": "pre_trend", "passed": False,
                                             "says": "before formation the system ran apart from its comparators"}],
                                 "failed": m.get("failed_checks", []),
                                 "verdict": "improvement" if k == 0 else "unclear"},
                   "provenance": {"evallib_version": "0.1.0", "data_file": "/data/metrics.csv",
                                  "data_sha256": "ab" * 32,
                                  "params": {"metric": m["metric"], "units": ["RNA", "RXK"], "alpha": alpha,
                                             "horizons": [horizon], "model": None,
                                             "interruptions": [{"name": "collaborative", "date": period,
                                                                "terms": ["level", "slope"]}]}}}
        (d / "results.json").write_text(json.dumps(results))
        chart = _png(vector_into=d if k == 0 else None)
        body = f"""<h2 id="a">The system<a class="anchor-link" href="#a">¶</a></h2>
<p>Observed <strong>*</strong> patients at {LONG_TRUST} (RXK); see <a href="https://example.org/x">the source</a>.</p>
<img alt="Chart: {m['title']}" src="{chart}">
<table><thead><tr><th>Trust</th><th class="num">Waiters</th></tr></thead>
<tbody><tr><td>{LONG_TRUST}</td><td class="num">*</td></tr><tr><td>Walsall</td><td class="num">10</td></tr></tbody></table>
<ul><li>first point</li><li>second <em>point</em></li></ul>
<details><summary>Model checks for {m['label']}</summary><p>Durbin-Watson 1.21 in detail.</p></details>
<div class="technical"><h3>Provenance</h3><p>Run at 12:30 from params.yaml.</p></div>"""
        (d / f"{m['id']}.html").write_text(_page_html(m["title"], body))
        analyses.append({"id": m["id"], "title": m["title"], "metric": m["metric"], "status": "ok",
                         "page": f"{m['id']}/{m['id']}.html", "error": None})
    analyses.append({"id": "broken", "title": "Broken analysis", "metric": "x", "status": "failed",
                     "page": None, "error": "ModelError: too few points"})
    dq = pack / "data_quality"
    dq.mkdir()
    (dq / "summary.json").write_text(json.dumps({"schema": "evallib.board-summary/1", "kind": "data_quality",
                                                  "label": "Data quality", "sentence": "All months present.",
                                                  "synthetic": synthetic}))
    (dq / "data_quality.html").write_text(_page_html("Data quality", "<p>Coverage table here.</p>"))
    analyses.append({"id": "data_quality", "title": "Data quality", "metric": "rtt_waiting_list", "status": "ok",
                     "page": "data_quality/data_quality.html", "error": None})
    manifest = {"schema": "evallib.manifest/1", "pack": {"title": title, "description": "Purpose of the pack.",
                                                          "sha256": "cd" * 32},
                "evallib_version": "0.1.0", "synthetic": synthetic, "executor": "process pool (2 workers)",
                "built_at": "2026-11-30T10:00:00Z", "summary": {"total": 4, "ok": 3, "failed": 1, "cached": 0},
                "analyses": analyses}
    (pack / "manifest.json").write_text(json.dumps(manifest))
    return pack


def _text(reader) -> list[str]:
    return [p.extract_text() or "" for p in reader.pages]


def _flat(s: str) -> str:
    return re.sub(r"\s+", " ", s)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("pdfpack")
    pack = _write_pack(root)
    mp = pytest.MonkeyPatch()
    mp.setenv("SOURCE_DATE_EPOCH", "1700000000")       # 14 November 2023 22:13:20 UTC
    try:
        out = pdf.build_pdf(pack)
    finally:
        mp.undo()
    return pack, out, pypdf.PdfReader(str(out))


# ------------------------------------------------------------------ the document
def test_pdf_is_a4_with_the_expected_pages_in_order(built):
    pack, out, r = built
    assert out == pack / "board_pack.pdf"
    assert all((round(float(p.mediabox.width), 2), round(float(p.mediabox.height), 2)) == (595.28, 841.89)
               for p in r.pages)
    pages = _text(r)
    # where each part starts (a level-1 heading always opens a page)
    starts = {name: next(i for i, t in enumerate(pages) if t.split("\n")[1].strip().startswith(name))
              for name in ("Summary by measure", "Cancer 62-day standard", "Supporting pages", "Technical appendix")}
    # cover, contents, index with forest plot, two measures, supporting page, appendix (two pages)
    assert len(r.pages) == 8
    assert starts == {"Summary by measure": 2, "Cancer 62-day standard": 4, "Supporting pages": 5,
                      "Technical appendix": 6}
    n = len(r.pages)
    for i, t in enumerate(pages):
        assert f"Page {i + 1} of {n}" in t


def test_cover_sheet_says_purpose_period_date_and_synthetic(built):
    _, _, r = built
    cover = _flat(_text(r)[0])
    assert "Purpose Purpose of the pack." in cover
    assert "Period covered January 2018 to December 2023" in cover
    assert "Date 14 November 2023" in cover                 # SOURCE_DATE_EPOCH, not built_at
    assert "SYNTHETIC DATA" in cover and "Synthetic (simulated demo data)" in cover
    assert "Measures 3 (1 improvement, 0 deterioration, 1 unclear, 1 failed)" in cover
    assert r.metadata["/CreationDate"] == "D:20231114000000Z"
    # the title with every Typst special character comes out literally
    assert _flat(NASTY) in _flat(_text(r)[0]).replace("Test pack ", "", 1)
    assert r.metadata["/Title"] == "Test pack " + NASTY


def test_index_in_ipr_order_with_alpha_labels_and_controlled_counts(built):
    _, _, r = built
    index = _flat(_text(r)[2])
    assert "Measure Latest Target Variation Assurance Effect (90% CI) Verdict" in index
    assert "Effects are at 12 months after the collaborative, with 90% confidence intervals." in index
    # the 52-week row: latest 5 and observed 3 are counts from the data -> '*'; the effect is modelled
    assert "52-week waiters lower is better; elective backlog * patients" not in index
    assert re.search(r"52-week waiters lower is better; elective backlog \* December 2023 \u2014", index)
    assert "\u22124.4 patients \u22128.9 to \u22120.60 patients improvement" in index
    assert "72.4% December 2023 85.0%" in index
    assert "+1.0 pp \u22121.5 to +3.5 pp unclear Check failed: pre trend" in index
    assert "1 caveat: see its section" in index
    assert "Broken analysis failed" in index


def test_alpha_0_1_never_says_95_percent(built):
    _, _, r = built
    text = "\n".join(_text(r))
    assert "95%" not in text
    assert text.count("90%") >= 4


def test_sections_carry_page_content_tables_and_title_case_names(built):
    _, _, r = built
    pages = _text(r)
    sec = _flat(pages[3])
    assert "Small waits at Sandwell and West Birmingham Hospitals NHS Trust" in sec
    assert LONG_TRUST not in "\n".join(pages)
    assert "Effect at 12 months \u22124.4 patients 90% CI \u22128.9 to \u22120.60 patients" in sec
    assert "Observed, September 2021 * expected 9.2 patients" in sec
    assert "Read with care. the treated series is near zero in the pre-period" in sec
    assert "Observed * patients at Sandwell and West Birmingham Hospitals NHS Trust (RXK); see the source." in sec
    assert "Trust Waiters Sandwell and West Birmingham Hospitals NHS Trust * Walsall 10" in sec
    assert "first point" in sec and "second point" in sec
    assert "SYNTHETIC DATA banner text" not in sec            # the page's own banner is replaced by the header
    assert "https://example.org" not in "\n".join(pages)       # no dead links printed as URLs
    # the long heading wraps onto a second line inside the page width
    assert [l.strip() for l in pages[3].split("\n")[1:3]] == ["Small waits at Sandwell and West Birmingham",
                                                             "Hospitals NHS Trust"]


def test_a_failed_check_is_named_in_plain_words_on_the_section(built):
    _, _, r = built
    sec = _flat(_text(r)[4])
    assert ("Read with care. Failed check: pre trend: before formation the system ran apart from its "
            "comparators.") in sec


def test_details_go_to_the_technical_appendix(built):
    _, _, r = built
    pages = _text(r)
    body = _flat("\n".join(pages[3:5]))
    appendix = _flat("\n".join(pages[6:]))
    assert "Durbin-Watson 1.21 in detail" not in body
    assert "Model checks for 52-week waiters Durbin-Watson 1.21 in detail." in appendix
    assert "Run at 12:30" not in body
    assert "Provenance Run at 12:30 from params.yaml." in appendix
    assert "Model quasipoisson, controlled design, 1,440 observations, January 2018 to December 2023." in appendix
    assert "level change (collaborative) \u22120.11 \u22120.31 to 0.09" in appendix
    assert "Ljung\u2013Box test of residual autocorrelation, lag 12 p = 0.002" in appendix
    assert "Small numbers: counts from 1 to 7 are shown as *" in appendix
    assert "metrics.csv (sha256 abababababababab" in appendix


def test_charts_are_images_with_a_vector_twin_printed_as_vectors(built):
    _, _, r = built
    # section 1 ('waits') has a vector twin: no raster chart on its page, only the two MDC icons;
    # section 2 ('cancer') prints the page's PNG
    waits, cancer = r.pages[3], r.pages[4]
    assert len(waits.images) == 1                     # the variation icon (no assurance: no target)
    assert len(cancer.images) == 3                    # two icons + the chart PNG
    assert "2 charts from the pages, 1 printed as vector drawings" in _flat(_text(r)[-1])


def test_no_count_from_1_to_7_of_the_data_is_shown(built):
    _, _, r = built
    text = "\n".join(_text(r))
    n = len(r.pages)
    # numbers that are the document's own structure, not data: page numbers, contents entries,
    # counts of measures and charts, the policy sentence, thresholds in the appendix, the title
    structural = [f"Page {i} of {n}" for i in range(1, n + 1)] + re.findall(r"\.{4,} \d+", text) + [
        "3 (1 improvement, 0 deterioration, 1 unclear, 1 failed)", "1 caveat", "counts from 1 to 7",
        "nearest 5", "(2 = no first-order", "(1 = as the family", "2 charts from the pages, 1 printed",
        "(2 workers)", "= 1. - + ~"]
    assert scan_text(text, counts=[1, 2, 3, 4, 5, 6, 7], ignore=structural) == []
    # the check has teeth: the raw values of this pack (observed 3, latest 5) would be found
    assert [h.value for h in scan_text("latest 5 patients, observed 3", [3, 5], ignore=structural)] == [5, 3]


def test_build_is_reproducible_byte_for_byte(built, tmp_path, monkeypatch):
    pack, out, _ = built
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    again = pdf.build_pdf(pack, tmp_path / "again.pdf")
    assert again.read_bytes() == out.read_bytes()


def test_quarterly_real_data_pack_labels(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    pack = _write_pack(tmp_path, alpha=0.05, freq="Q", synthetic=False, title="Quarterly pack")
    r = pypdf.PdfReader(str(pdf.build_pdf(pack)))
    text = _flat("\n".join(_text(r)))
    assert "Effects are at 4 quarters after the collaborative, with 95% confidence intervals." in text
    assert "Effect at 4 quarters" in text
    assert "12 months" not in text
    assert "Period covered 2016 Q1 to 2023 Q4" in text
    assert "Date 30 November 2026" in text                  # the manifest's built_at
    assert "Real data" in text and "SYNTHETIC" not in text


# ------------------------------------------------------------------ helpers
@pytest.mark.parametrize("alpha, label", [(0.05, "95%"), (0.1, "90%"), (0.01, "99%"), (0.005, "99.5%"),
                                          (0.2, "80%")])
def test_confidence_label_from_alpha(alpha, label):
    assert pdf.confidence_label(alpha) == label


def test_escape_and_names():
    assert pdf.escape("a#b$c*d_e<f>g@h") == r"a\#b\$c\*d\_e\<f\>g\@h"
    assert pdf.escape("12. then") == r"12\. then"
    assert pdf.escape("http://x") == r"http:\/\/x"
    assert pdf.org_title(LONG_TRUST) == "Sandwell and West Birmingham Hospitals NHS Trust"
    assert pdf.org_title("THE ROYAL WOLVERHAMPTON NHS TRUST") == "The Royal Wolverhampton NHS Trust"
    assert pdf.org_title("Walsall Healthcare NHS Trust") == "Walsall Healthcare NHS Trust"
    assert pdf.tidy_names(f"At {LONG_TRUST} (RXK) and RTT 52 WEEK") == \
        "At Sandwell and West Birmingham Hospitals NHS Trust (RXK) and RTT 52 WEEK"
    assert pdf.tidy_names("SYNTHETIC DATA: NOT FOR USE") == "SYNTHETIC DATA: NOT FOR USE"


def test_command_line_and_errors(tmp_path):
    pack = _write_pack(tmp_path, title="CLI pack")
    r = subprocess.run([sys.executable, "-m", "evallib.report.pdf", str(pack), "--out", str(tmp_path / "x.pdf")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "x.pdf")
    assert (tmp_path / "x.pdf").read_bytes()[:5] == b"%PDF-"
    r = subprocess.run([sys.executable, "-m", "evallib.report.pdf", str(tmp_path / "nowhere")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr == (f"evallib pdf: error: {tmp_path / 'nowhere'}: no manifest.json; build the pack first "
                        f"with `evallib batch PACK.yaml --out {tmp_path / 'nowhere'}`\n")


def test_source_date_epoch_must_be_seconds(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(pdf.DataError, match=r"SOURCE_DATE_EPOCH: 'yesterday' is not a whole number of seconds"):
        pdf.build_date({})


# ------------------------------------------------------------------ a real pack from `evallib batch`
@pytest.mark.slow
def test_pdf_of_a_pack_built_by_evallib_batch(tmp_path, demo_csv, monkeypatch, caplog):
    (tmp_path / "pack.yaml").write_text(f"""title: "Batch-built pack: two measures"
description: Two measures of the synthetic demo, alpha 0.1.
defaults:
  data: {demo_csv}
  units: [RNA, RL4, RXK, RBK]
  comparators: [ZZ001, ZZ002, ZZ003, ZZ004, ZZ005, ZZ006, ZZ007, ZZ008]
  start: 2017-04
  end: 2024-03
  interruptions:
    - {{name: covid, date: 2020-03}}
    - {{name: collaborative, date: 2020-09}}
  seasonality: none
  horizons: [12]
  alpha: 0.1
analyses:
  - {{metric: rtt_52w_waiters, title: RTT 52-week waiters}}
  - {{metric: cancer_62d_pct, title: Cancer 62-day standard, aggregate: ratio}}
""")
    env = {"OPENBLAS_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "evallib.cli", "batch", str(tmp_path / "pack.yaml"), "--out",
                        str(tmp_path / "out"), "--workers", "1"], capture_output=True, text=True,
                       env={**__import__("os").environ, **env}, timeout=500)
    assert r.returncode == 0, r.stderr[-3000:]
    # the worker had the notebooks write every chart's vector twin beside its page, and the PDF prints
    # the charts from them (the board page keeps its PNGs)
    twins = {m: sorted(p.name for p in (tmp_path / "out" / m).glob("*.svg"))
             for m in ("rtt_52w_waiters", "cancer_62d_pct")}
    assert all(len(v) >= 3 for v in twins.values()), twins
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert all(set(v) <= set(a["outputs"]) for a in manifest["analyses"] for v in [twins[a["id"]]])
    with caplog.at_level("INFO", logger="evallib.report.pdf"):
        out = pdf.build_pdf(tmp_path / "out")
    n_charts, n_vector = map(int, re.search(r"(\d+) charts, (\d+) of them vector", caplog.text).groups())
    # (the analyst-view charts have twins too, but are not on the board page the PDF prints)
    assert 6 <= n_vector <= sum(map(len, twins.values())) and n_vector < n_charts
    rd = pypdf.PdfReader(str(out))
    pages = _text(rd)
    assert all((round(float(p.mediabox.width)), round(float(p.mediabox.height))) == (595, 842) for p in rd.pages)
    first_section = next(i for i, t in enumerate(pages) if i > 2 and "RTT 52-week waiters" in t[:400])
    assert first_section == 3                    # cover, contents, index and forest plot on one page
    assert 6 <= len(rd.pages) <= 40
    text = _flat("\n".join(pages))
    for title in ("RTT 52-week waiters", "Cancer 62-day standard", "Technical appendix"):
        assert title in text
    # the latest value is read from the data file the analysis used (same sha256): its last month
    assert _flat(pages[2]).count("March 2024") == 2
    # the parts this module writes label the interval from alpha 0.1
    ours = _flat("\n".join(pages[:first_section]) + pages[-1])
    assert "Effect (90% CI)" in ours and "95%" not in ours


def test_every_ascii_punctuation_character_survives_typesetting(tmp_path):
    import string

    nasty = [string.punctuation, "1. starts like a list", "= starts like a heading", "- starts like a bullet",
             "// looks like a comment", "/* block */", "a <label> and @ref", "$x^2$", "#let x = 1", "\\ backslash"]
    source = "#set page(paper: \"a4\")\n#set text(font: \"DejaVu Sans\")\n" + "\n\n".join(
        pdf.escape(s) for s in nasty)
    out = pdf.compile_typst(source, tmp_path)
    text = pypdf.PdfReader(io.BytesIO(out)).pages[0].extract_text()
    # straight quotes are typeset as typographic quotes, as in the rest of the pack
    got = [_flat(x).strip().translate(str.maketrans("\u201c\u201d\u2018\u2019", "\"\"''")) for x in text.split("\n")]
    assert got == nasty


def test_forest_plot_clips_a_huge_interval_and_says_so():
    """The PDF uses the index's forest plot (better to the right): a +13,706% interval of a
    lower-is-better measure is cut at the axis edge and its bound written beside it."""
    import matplotlib.pyplot as plt

    from evallib.plots.pack import forest_plot

    rows = [{"label": "52-week waiters", "estimate": 269.0, "lower": -51.0, "upper": 13706.0, "improvement": "decrease"},
            {"label": "over 18 weeks", "estimate": 17.0, "lower": -34.0, "upper": 104.0, "improvement": "neutral"}]
    fig, ax = forest_plot(rows, better_right=True)
    lo, hi = ax.get_xlim()
    assert -200 < lo and hi < 200                   # the axis spans the ordinary values, not 13,706%
    texts = [t.get_text() for t in ax.texts if t.get_text()]
    assert any("13706" in t.replace(",", "") for t in texts), texts
    plt.close(fig)


def test_a_pack_with_missing_parts_still_builds(tmp_path):
    """No headline, no SPC, no results.json, a page with preformatted text and a nested list."""
    pack = tmp_path / "pack"
    (pack / "bare").mkdir(parents=True)
    (pack / "bare" / "summary.json").write_text(json.dumps({"label": "Bare measure", "unit": "patients",
                                                            "improvement": "decrease", "headline": None,
                                                            "sentence": "No effect could be estimated."}))
    (pack / "bare" / "bare.html").write_text(_page_html("Bare", "<pre>line one\n  indented \"two\" \\ #x</pre>"
                                                        "<ul><li>outer<ul><li>inner</li></ul></li></ul>"))
    (pack / "manifest.json").write_text(json.dumps({
        "pack": {"title": "Bare pack"}, "synthetic": False, "built_at": "2026-11-30T10:00:00Z",
        "analyses": [{"id": "bare", "title": "Bare", "status": "ok", "page": "bare/bare.html"}]}))
    r = pypdf.PdfReader(str(pdf.build_pdf(pack)))
    text = "\n".join(_text(r))
    assert "Bare measure" in text and "No effect could be estimated." in text
    assert "line one\n  indented \"two\" \\ #x" in text           # preformatted text keeps its lines
    assert "outer" in text and "inner" in text
    assert "Period covered \u2014 to \u2014" in _flat(text)       # no results.json: no period to claim
    assert "95%" not in text                                      # ... and no confidence level either


def test_a_pack_whose_text_holds_an_nhs_number_is_refused(tmp_path):
    pack = _write_pack(tmp_path, title="NHS number pack")
    summ = pack / "cancer" / "summary.json"
    d = json.loads(summ.read_text())
    d["sentence"] = "Patient 943 476 5919 waited."          # a valid modulus-11 NHS number
    summ.write_text(json.dumps(d))
    with pytest.raises(pdf.PublishError) as e:
        pdf.build_pdf(pack)
    assert "2 string(s) that look like an NHS number" in str(e.value)     # the index row and the section
    assert "5919" not in str(e.value)
    assert not (pack / "board_pack.pdf").exists()
