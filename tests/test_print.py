"""The A4 print stylesheet (templates/print.css) of the HTML board pages.

Headless Chromium prints the index and an analysis page to PDF (as a board member
pressing Print would); pypdf reads the result back: every page is A4, the index
fits on few pages, its sentence column is a readable width, links are printed as
their text (never as URLs), and the navigation-only parts are gone. The PDFs are
copied to ``screenshots/`` (git-ignored) for a person to look at.
"""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pypdf = pytest.importorskip("pypdf", reason="pypdf is a test dependency: pip install -e '.[test]'")

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
                 if p and os.path.exists(p)), None)
REPO = Path(__file__).resolve().parents[1]
needs_chromium = [pytest.mark.browser, pytest.mark.slow,
                  pytest.mark.skipif(CHROMIUM is None,
                                     reason="headless Chromium is not installed (apt-get install chromium)")]


def _browser(f):
    for m in needs_chromium:
        f = m(f)
    return f

SENTENCE = ("Twelve months after the collaborative formed (September 2020), the measure was 4.2% lower than "
            "the pre-formation trend plus the comparators' change predicts (95% CI 9.1% lower to 0.7% higher; "
            "the interval includes no change).")
# the index shows one short sentence per row (evallib.report.index.short_sentence); the full one is on the page
SHORT = "No clear change: 1,078 patients lower than expected (CI 2,525 patients lower to 369 patients higher)."


def _print(html: Path, pdf: Path, profile: Path) -> None:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--no-pdf-header-footer",
           f"--print-to-pdf={pdf}", html.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert pdf.is_file(), r.stderr[-2000:]
    shots = REPO / "screenshots"
    shots.mkdir(exist_ok=True)
    shutil.copy2(pdf, shots / pdf.name)


def _index(build: Path) -> Path:
    from evallib.report.index import write_index

    analyses = []
    for k in range(8):
        aid = f"m{k}"
        d = build / aid
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({
            "label": f"Measure number {k} with a long name", "unit": "patients", "improvement": "decrease",
            "aim": "elective backlog", "design": "controlled", "sentence": SENTENCE,
            "headline": {"absolute": -1077.9, "absolute_lower": -2524.6, "absolute_upper": 368.7,
                         "relative": -0.042, "relative_lower": -0.091, "relative_upper": 0.007},
            "spc": {"variation": "common_cause", "assurance": None}}))
        analyses.append({"id": aid, "title": f"M{k}", "status": "ok", "error": None})
    manifest = {"pack": {"title": "Print test pack", "description": "About the pack."}, "synthetic": True,
                "summary": {"total": 8, "ok": 8, "failed": 0, "cached": 0}, "built_at": "2026-01-01T00:00:00Z",
                "executor": "process pool (2 workers)", "analyses": analyses}
    return write_index(build, manifest)


def _page(build: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import nbformat

    from evallib.report.render import render_page

    fig, ax = plt.subplots(figsize=(14, 5))           # 1400 px wide at 100 dpi: wider than A4
    ax.plot(range(10), range(10))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    rows = "".join(f"<tr><td>Row {i}</td><td class='num'>{i * 10:,}</td><td>note {i}</td></tr>" for i in range(60))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Findings\n\nSee [the published source](https://example.org/rtt) "
                                              "for the definitions."),
                nbformat.v4.new_code_cell("x", outputs=[
                    nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(buf.getvalue()).decode()}),
                    nbformat.v4.new_output("display_data", data={"text/html": f"<table><thead><tr><th>Item</th>"
                                                                             f"<th class='num'>Count</th><th>Note</th>"
                                                                             f"</tr></thead><tbody>{rows}</tbody></table>"})])]
    page = build / "m0" / "m0.html"
    page.write_text(render_page(nb, title="Print test page", synthetic=True, back_href="../index.html"))
    return page


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    d = tmp_path_factory.mktemp("print")
    build = d / "build"
    index, page = _index(build), None
    page = _page(build)
    out = {}
    for name, html in (("index", index), ("page", page)):
        pdf = d / f"print_{name}.pdf"
        _print(html, pdf, d / "profile")
        out[name] = pypdf.PdfReader(str(pdf))
    return out


@_browser
def test_every_printed_page_is_a4(printed):
    for r in printed.values():
        for p in r.pages:
            assert (round(float(p.mediabox.width)), round(float(p.mediabox.height))) == (595, 842)


@_browser
def test_index_prints_on_few_pages_without_navigation_or_urls(printed):
    r = printed["index"]
    assert len(r.pages) <= 3                        # eight measures (the unstyled page took 7 US-Letter pages)
    text = " ".join(" ".join(p.extract_text() for p in r.pages).split())
    assert "Print test pack" in text and "Measure number 7 with a long name" in text
    assert "full analysis" not in text              # the link-only "Page" column is not printed
    assert "http" not in text and ".html" not in text


@_browser
def test_index_sentence_column_is_readable(printed):
    """Each line of a sentence in the summary table holds at least 35 characters
    (the unstyled print gave a column about 10 characters wide)."""
    r = printed["index"]
    runs = []

    def visit(text, cm, tm, font, size):
        t = text.strip()
        if len(t) > 3 and (t in SENTENCE or t in SHORT):
            runs.append(t)

    r.pages[0].extract_text(visitor_text=visit)
    assert runs, "no line of the sentences was found on the first printed page"
    # a full line of the (short) sentence holds at least 35 characters; its last line may be short
    lengths = sorted(len(t) for t in runs if " " in t)
    assert lengths[-1] >= 35, (lengths, runs)


@_browser
def test_page_prints_links_as_text_and_drops_the_back_link(printed):
    r = printed["page"]
    text = "\n".join(p.extract_text() for p in r.pages)
    assert "See the published source for the definitions." in " ".join(text.split())
    assert "example.org" not in text
    assert "Board pack summary" not in text          # the crumb back to the index is navigation
    assert "SYNTHETIC DATA" in text


@_browser
def test_page_table_header_repeats_and_rows_are_whole(printed):
    r = printed["page"]
    assert len(r.pages) >= 2                         # sixty rows do not fit on the first page
    for p in r.pages[1:]:
        t = p.extract_text()
        if "Row " in t:
            assert "Item" in t and "Count" in t       # the header row is repeated on the next page
    text = "\n".join(p.extract_text() for p in r.pages)
    for i in range(60):
        assert f"Row {i} {i * 10:,} note {i}" in " ".join(text.split())


def test_both_templates_carry_the_print_stylesheet(tmp_path):
    """Without a browser: the index and an analysis page include print.css (A4, print-only rules)."""
    import nbformat

    from evallib.report.render import render_page

    index = _index(tmp_path / "build").read_text()
    page = render_page(nbformat.v4.new_notebook(), title="Empty page")
    for html in (index, page):
        assert "@page { size: A4 portrait;" in html
        assert "a[href]::after { content: none !important; }" in html
        assert html.index("@media print") > html.index("header.bar {")       # after base.css, so it wins
