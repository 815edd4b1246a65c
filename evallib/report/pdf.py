"""The board pack as one A4 PDF, typeset with Typst (the ``typst`` PyPI package).

``build_pdf(pack_dir)`` reads what a built pack contains and writes
``<pack_dir>/board_pack.pdf``:

- ``manifest.json``: the pack title, purpose, build date, synthetic or real data,
  and the analyses in their order;
- each analysis's ``summary.json`` (the index row) and ``results.json`` (period
  covered, alpha, horizon, model detail for the technical appendix);
- each analysis's board page (``manifest["analyses"][i]["page"]``), whose content
  (headings, paragraphs, lists, tables, charts) becomes that measure's section.
  A chart is the page's embedded PNG unless a vector twin exists: the file
  ``<analysis>/figures/<first 16 hex digits of the PNG's sha256>.svg`` written by
  :func:`write_vector_twin` when the notebook displays the chart. ``<details>``
  blocks of a page, and elements with class ``technical`` or ``appendix`` (diagnostics,
  model detail, provenance), go to the technical appendix.

The document: a cover sheet (purpose, period covered, date, SYNTHETIC or real
data), contents and how to read the pack, the index in the order of an NHS
integrated performance report (per measure: latest value, target, Making Data
Count variation and assurance icons, the effect with its interval, the verdict),
the forest plot, one section per measure, supporting pages, and the technical
appendix. Every page has a running header (SYNTHETIC DATA on a synthetic pack)
and "page N of M". Text is real text (selectable, searchable); charts drawn here
(the forest plot) are vector.

Labels come from the data: the confidence level from ``alpha`` (alpha 0.1 gives
"90%"), the horizon from the headline effect shown, months or quarters from the
period labels. The date is ``SOURCE_DATE_EPOCH`` when set (reproducible builds),
else the manifest's ``built_at``. Organisation names written in capitals in the
data ("SANDWELL AND WEST BIRMINGHAM HOSPITALS NHS TRUST") are shown in title case.
Counts that the pack itself writes (latest value and observed value of a count
measure) pass through :mod:`evallib.report.disclosure` (the NHS Digital rule).

Fonts: DejaVu Sans from matplotlib's own font folder (present wherever evallib is
installed), system fonts ignored, so the output does not depend on the machine.

Command line: ``python -m evallib.report.pdf PACK_DIR [--out FILE]``.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import io
import json
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from evallib.exceptions import DataError, PublishError
from evallib.fsutil import atomic_write_bytes

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
PDF_NAME = "board_pack.pdf"
FIGURES_DIR = "figures"
#: environment variable naming the folder where the notebooks write each chart's vector twin
#: (set by the batch worker for the pages the PDF prints; the page itself keeps its PNG)
FIGURE_TWINS_ENV = "EVALLIB_FIGURE_TWINS"

# ------------------------------------------------------------------ text helpers
_TYPST_SPECIAL = re.compile(r"([\\/\[\]{}#*_+=~`$<>@\-])")
_SMALL_WORDS = {"and", "of", "the", "for", "in", "on", "at", "to", "with", "by", "a", "an", "or"}
_ACRONYMS = {"NHS", "FT", "ICB", "ICS", "CSU", "UK", "GP", "A&E", "ENT", "RTT", "CCG", "PCN", "UHB", "UHS",
             "II", "III", "IV", "ODS", "ONS", "MDC", "SPC", "NHSE", "NHSI"}
_CAPS_RUN = re.compile(r"(?<![A-Za-z])[A-Z][A-Z&'.\-]*(?:[ ]+(?:[A-Z][A-Z&'.\-]*|&))+(?![a-z])")
_ORG_WORDS = re.compile(r"\b(NHS|TRUST|FOUNDATION|HOSPITALS?|HEALTHCARE|UNIVERSITY|BOARD|CARE|PARTNERSHIP|"
                        r"SERVICES?|COUNCIL|ICB|INTEGRATED)\b")


def _title_word(w: str, first: bool) -> str:
    if w in _ACRONYMS or w == "&":
        return w
    low = w.lower()
    if not first and low in _SMALL_WORDS:
        return low
    return "-".join(p[:1].upper() + p[1:] for p in low.split("-"))


def org_title(name: str) -> str:
    """An organisation name as a board reads it: upper-case names in title case.

    ``"SANDWELL AND WEST BIRMINGHAM HOSPITALS NHS TRUST"`` ->
    ``"Sandwell and West Birmingham Hospitals NHS Trust"``. Names already in mixed
    case are returned unchanged; acronyms (NHS, FT, ICB, ...) stay in capitals.
    """
    if not name or any(c.islower() for c in name):
        return name
    words = name.split()
    return " ".join(_title_word(w, k == 0) for k, w in enumerate(words))


def tidy_names(text: str) -> str:
    """Title-case every run of three or more capitalised words that names an organisation
    (contains NHS, TRUST, FOUNDATION, HOSPITAL, ...). ODS codes and acronyms are kept."""
    def fix(m: re.Match) -> str:
        s = m.group(0)
        words = s.split()
        if len(words) < 3 or not _ORG_WORDS.search(s):
            return s
        return org_title(s)
    return _CAPS_RUN.sub(fix, text)


def escape(text) -> str:
    """``text`` as literal Typst markup: special characters backslash-escaped, newlines
    and runs of spaces collapsed, upper-case organisation names in title case."""
    if text is None:
        return ""
    s = re.sub(r"\s+", " ", tidy_names(str(text)))
    s = _TYPST_SPECIAL.sub(r"\\\1", s)
    # "12. " at the start of a line would become a numbered list item
    s = re.sub(r"^(\d+)\.", r"\1\\.", s)
    return s


def typst_string(text, keep_lines: bool = False) -> str:
    """``text`` as a Typst string literal (for function arguments such as ``alt:``).

    Whitespace is collapsed to single spaces unless ``keep_lines`` (preformatted text)."""
    s = str(text or "")
    if keep_lines:
        s = s.replace("\r\n", "\n").replace("\t", "    ")
    else:
        s = re.sub(r"\s+", " ", s)
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + s + '"'


def confidence_label(alpha) -> str:
    """``0.05`` -> ``"95%"``, ``0.1`` -> ``"90%"``, ``0.005`` -> ``"99.5%"``."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise DataError(f"results.json: provenance.params.alpha: {alpha!r} is not a number between 0 and 1") from None
    if not 0 < a < 1:
        raise DataError(f"results.json: provenance.params.alpha: {alpha!r} is not between 0 and 1")
    level = round((1 - a) * 100, 6)
    return (f"{level:.0f}" if level == int(level) else f"{level:g}") + "%"


_FREQ_WORDS = {"M": ("month", "months"), "Q": ("quarter", "quarters"), "Y": ("year", "years")}


def period_words(freq: str | None) -> tuple[str, str]:
    return _FREQ_WORDS.get(freq or "M", ("period", "periods"))


def _num(x) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def _month_name(label: str | None) -> str:
    """``2021-09`` -> ``September 2021``; ``2021-Q3`` -> ``2021 Q3``; other labels as given."""
    if not label:
        return "\u2014"
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-\d{2})?", str(label))
    if m:
        return f"{_dt.date(int(m.group(1)), int(m.group(2)), 1):%B %Y}"
    m = re.fullmatch(r"(\d{4})-Q([1-4])", str(label))
    if m:
        return f"{m.group(1)} Q{m.group(2)}"
    return str(label)


def build_date(manifest: dict) -> _dt.datetime:
    """``SOURCE_DATE_EPOCH`` when set (UTC), else the manifest's ``built_at``, else now."""
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde:
        try:
            return _dt.datetime.fromtimestamp(int(sde), tz=_dt.timezone.utc)
        except ValueError:
            raise DataError(f"SOURCE_DATE_EPOCH: {sde!r} is not a whole number of seconds since 1970; "
                            f"unset it or give e.g. $(git log -1 --format=%ct)") from None
    stamp = manifest.get("built_at")
    if stamp:
        try:
            return _dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            logger.warning("manifest.json: built_at %r is not YYYY-MM-DDTHH:MM:SSZ; using the current time", stamp)
    return _dt.datetime.now(tz=_dt.timezone.utc).replace(microsecond=0)


# ------------------------------------------------------------------ vector twins of page charts
def png_key(png: bytes) -> str:
    """The name stem of a chart's vector twin: the first 16 hex digits of the PNG's sha256."""
    return hashlib.sha256(png).hexdigest()[:16]


def write_vector_twin(fig, png: bytes, folder: str | os.PathLike = FIGURES_DIR) -> Path:
    """Save ``fig`` as ``<folder>/<png_key(png)>.svg`` so the PDF prints the chart as vectors.

    Call it where the notebook turns a figure into the PNG it displays, before the
    figure is closed, with the folder of the analysis's outputs (the notebook's
    working directory in ``evallib batch``). The board page keeps its PNG; the PDF
    uses the SVG when it finds one whose key matches the page's PNG. Written
    atomically.
    """
    import matplotlib

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{png_key(png)}.svg"
    buf = io.BytesIO()
    # a fixed salt for the SVG's element ids (else random): the same chart, the same bytes
    with matplotlib.rc_context({"svg.hashsalt": png_key(png)}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return atomic_write_bytes(out, buf.getvalue())


# ------------------------------------------------------------------ HTML page -> Typst
_VOID = {"img", "br", "hr", "meta", "link", "input", "source", "wbr", "col"}
_SKIP = {"style", "script", "head", "title", "noscript", "button", "nav", "header", "footer"}
#: page elements with one of these classes (or ``<details>``) print in the technical appendix
APPENDIX_CLASSES = {"technical", "appendix"}


@dataclass
class _Node:
    tag: str
    attrs: dict
    children: list = field(default_factory=list)

    def cls(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        out = []
        for c in self.children:
            out.append(c if isinstance(c, str) else c.text())
        return "".join(out)


class _Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = _Node("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = _Node(tag, {k: (v if v is not None else "") for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(_Node(tag, {k: (v if v is not None else "") for k, v in attrs}))

    def handle_endtag(self, tag):
        for k in range(len(self.stack) - 1, 0, -1):
            if self.stack[k].tag == tag:
                del self.stack[k:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse_html(text: str) -> _Node:
    t = _Tree()
    t.feed(text)
    t.close()
    return t.root


def _find(node: _Node, tag: str) -> _Node | None:
    for c in node.children:
        if isinstance(c, _Node):
            if c.tag == tag:
                return c
            hit = _find(c, tag)
            if hit is not None:
                return hit
    return None


class _Converter:
    """Board-page HTML -> Typst markup. Images are written into ``workdir``."""

    def __init__(self, workdir: Path, analysis_dir: Path | None, prefix: str, heading_offset: int = 0):
        self.workdir = workdir
        self.analysis_dir = analysis_dir
        self.prefix = prefix
        self.offset = heading_offset
        self.n_images = 0
        self.vector_images = 0
        self.appendix: list[str] = []

    # images -------------------------------------------------------------
    def image(self, node: _Node) -> str:
        src = node.attrs.get("src", "")
        alt = node.attrs.get("alt", "") or "Chart"
        m = re.match(r"data:image/(png|jpeg|svg\+xml);base64,(.*)", src, re.S)
        if not m:
            return ""     # external images are never fetched
        data = base64.b64decode(re.sub(r"\s+", "", m.group(2)))
        ext = {"png": "png", "jpeg": "jpg", "svg+xml": "svg"}[m.group(1)]
        self.n_images += 1
        name = f"{self.prefix}-{self.n_images:02d}"
        width = "100%"
        if ext == "png" and len(data) > 24 and data[:8] == b"\x89PNG\r\n\x1a\n":
            w_px = int.from_bytes(data[16:20], "big")
            twin = None
            if self.analysis_dir is not None:
                # beside the page (evallib batch writes them there: FIGURE_TWINS_ENV) or in figures/
                twin = next((t for t in (self.analysis_dir / f"{png_key(data)}.svg",
                                         self.analysis_dir / FIGURES_DIR / f"{png_key(data)}.svg") if t.is_file()),
                            None)
            if twin is not None:
                data, ext = twin.read_bytes(), "svg"
                self.vector_images += 1
            # a small PNG (an icon) keeps its size at 150 px per inch; charts fill the column
            if w_px < 400:
                width = f"{w_px / 150 * 25.4:.1f}mm"
        (self.workdir / f"{name}.{ext}").write_bytes(data)
        return (f"\n#figure(image({typst_string(name + '.' + ext)}, width: {width}, "
                f"alt: {typst_string(alt)}))\n")

    # tables -------------------------------------------------------------
    def table(self, node: _Node) -> str:
        rows: list[tuple[bool, list[_Node]]] = []

        def walk(n: _Node, in_head: bool):
            for c in n.children:
                if not isinstance(c, _Node):
                    continue
                if c.tag == "thead":
                    walk(c, True)
                elif c.tag in ("tbody", "tfoot"):
                    walk(c, False)
                elif c.tag == "tr":
                    cells = [x for x in c.children if isinstance(x, _Node) and x.tag in ("td", "th")]
                    head = in_head or (bool(cells) and all(x.tag == "th" for x in cells) and not rows)
                    rows.append((head, cells))
        walk(node, False)
        if not rows:
            return ""
        ncol = max(sum(int(c.attrs.get("colspan") or 1) for c in cells) for _, cells in rows)
        numeric = [False] * ncol
        for _, cells in rows:
            k = 0
            for c in cells:
                if "num" in c.cls() and k < ncol:
                    numeric[k] = True
                k += int(c.attrs.get("colspan") or 1)
        align = ", ".join("right" if x else "left" for x in numeric)

        def cell(c: _Node, head: bool) -> str:
            body = self.inline(c).strip()
            span = int(c.attrs.get("colspan") or 1)
            content = f"[#strong[{body}]]" if head and body else f"[{body}]"
            return f"table.cell(colspan: {span})" + content if span > 1 else content

        head_rows = [cells for h, cells in rows if h]
        body_rows = [cells for h, cells in rows if not h]
        parts = []
        if head_rows:
            parts.append("table.header(" + ", ".join(cell(c, True) for cells in head_rows for c in cells) + ")")
        for cells in body_rows:
            parts.extend(cell(c, False) for c in cells)
        return (f"\n#block(width: 100%, breakable: true)[#set text(size: 8pt)\n#table(columns: {ncol}, "
                f"align: ({align},), " + ", ".join(parts) + ")]\n")

    # inline and block ---------------------------------------------------
    def inline(self, node: _Node) -> str:
        out = []
        for c in node.children:
            if isinstance(c, str):
                out.append(escape(c) if c.strip() else (" " if c else ""))
                continue
            out.append(self.element(c, inline=True))
        return re.sub(r" {2,}", " ", "".join(out))

    def blocks(self, node: _Node) -> str:
        out = []
        for c in node.children:
            if isinstance(c, str):
                if c.strip():
                    out.append(escape(c))
                continue
            out.append(self.element(c, inline=False))
        return "".join(out)

    def element(self, n: _Node, inline: bool) -> str:
        tag, cls = n.tag, n.cls()
        if tag in _SKIP or "anchor-link" in cls or "banner" in cls or n.attrs.get("hidden") is not None:
            return ""
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            level = min(6, int(tag[1]) + self.offset)
            return "\n\n" + "=" * level + " " + self.inline(n).strip() + "\n\n"
        if tag == "p":
            body = self.inline(n).strip()
            return f"\n\n{body}\n\n" if body else ""
        if tag in ("strong", "b"):
            body = self.inline(n).strip()
            return f"#strong[{body}]" if body else ""
        if tag in ("em", "i"):
            body = self.inline(n).strip()
            return f"#emph[{body}]" if body else ""
        if tag == "small":
            return f"#text(size: 0.85em)[{self.inline(n)}]"
        if tag == "code":
            return f"#raw({typst_string(n.text())})"
        if tag == "pre":
            return (f"\n#block(fill: luma(245), inset: 6pt, width: 100%)[#set text(size: 8pt)\n"
                    f"#raw(block: true, {typst_string(n.text().strip(chr(10)), keep_lines=True)})]\n")
        if tag == "br":
            return " \\\n"
        if tag == "img":
            return self.image(n)
        if tag == "table":
            return self.table(n)
        if tag in ("ul", "ol"):
            items = [c for c in n.children if isinstance(c, _Node) and c.tag == "li"]
            fn = "enum" if tag == "ol" else "list"
            return f"\n#{fn}(" + ", ".join(f"[{self.inline(li).strip()}]" for li in items) + ")\n"
        if tag == "details" or cls & APPENDIX_CLASSES:
            # the page's second depth (diagnostics, model detail) goes to the technical appendix
            summ = next((c for c in n.children if isinstance(c, _Node) and c.tag == "summary"), None)
            title = self.inline(summ).strip() if summ else (n.attrs.get("data-title") or "")
            rest = _Node("div", {}, [c for c in n.children if c is not summ])
            self.appendix.append((f"\n\n=== {escape(title) if not summ else title}\n\n" if title else "\n\n")
                                 + self.blocks(rest))
            return ""
        if tag == "summary":
            return ""
        if tag == "svg":
            return ""     # inline SVG (none on current pages) is not carried over
        if tag == "a":
            return self.inline(n)
        if tag in ("span", "abbr", "sup", "sub", "label", "time", "mark"):
            return self.inline(n)
        # div, section, article, main, figure, blockquote, ... : containers
        return self.inline(n) if inline else self.blocks(n)

    def convert(self, html_text: str) -> str:
        root = parse_html(html_text)
        main = _find(root, "main") or _find(root, "body") or root
        out = self.blocks(main)
        return re.sub(r"\n{3,}", "\n\n", out).strip() + "\n"


def page_to_typst(html_text: str, workdir: Path, analysis_dir: Path | None = None, prefix: str = "fig",
                  heading_offset: int = 0) -> tuple[str, list[str], int, int]:
    """Convert a board page's ``<main>`` to Typst. Returns (markup, appendix parts,
    number of images, number of them printed from a vector twin)."""
    c = _Converter(Path(workdir), analysis_dir, prefix, heading_offset)
    body = c.convert(html_text)
    return body, c.appendix, c.n_images, c.vector_images


# ------------------------------------------------------------------ reading the pack
VERDICT_COLOURS = {"improvement": "nhs-green", "deterioration": "nhs-red", "unclear": "nhs-mid-grey",
                   "no direction": "mdc-neutral", "failed": "nhs-warm-yellow"}
VARIATION_TEXT = {
    "common_cause": "Common cause: no significant change",
    "improvement_high": "Special cause: improvement (higher)",
    "improvement_low": "Special cause: improvement (lower)",
    "concern_high": "Special cause: concern (higher)",
    "concern_low": "Special cause: concern (lower)",
    "neither_high": "Special cause: higher (no preferred direction)",
    "neither_low": "Special cause: lower (no preferred direction)",
}
ASSURANCE_TEXT = {"pass": "Target consistently met", "fail": "Target consistently missed",
                  "hit_and_miss": "Target hit and miss"}
DIRECTION_TEXT = {"increase": "higher is better", "decrease": "lower is better",
                  "neutral": "no preferred direction"}


def _read_json(path: Path, what: str) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: {what} is not valid JSON (line {e.lineno}: {e.msg}); rebuild the pack") from None


def _fmt(x, unit: str, signed: bool = False) -> str:
    from evallib.report.index import format_value
    return format_value(x, unit, signed=signed)


def _fmt_range(lo, hi, unit: str) -> str:
    from evallib.report.index import format_range
    return format_range(lo, hi, unit)


def _shown_value(x, unit: str, kind: str) -> str:
    """An observed value from the data: counts under the disclosure policy, others as formatted."""
    if kind == "count" and _num(x) is not None and _num(x) >= 0:
        from evallib.report.disclosure import NHS_DIGITAL
        shown = NHS_DIGITAL.show_count(x)
        return shown + (f" {unit}" if unit and shown not in ("*", "\u2014") else "")
    return _fmt(x, unit)


def _verdict(summary: dict, results: dict | None) -> str:
    v = summary.get("verdict")
    if isinstance(v, dict):
        v = v.get("verdict") or v.get("label")
    if not v and results:
        v = (results.get("scorecard") or {}).get("verdict")
    if v:
        return str(v)
    h = summary.get("headline") or {}
    if not h:
        return "unclear"
    from evallib.plots.pack import verdict
    return verdict(_num(h.get("absolute_lower")), _num(h.get("absolute_upper")), summary.get("improvement", "neutral"))


def _latest(summary: dict) -> tuple[float | None, str | None]:
    """The latest value and its period: ``summary["latest"]`` ({value, period}) or
    ``summary["spc"]["latest"]`` when the notebook writes them."""
    for src in (summary.get("latest"), (summary.get("spc") or {}).get("latest")):
        if isinstance(src, dict):
            return _num(src.get("value")), src.get("period")
        if _num(src) is not None:
            return _num(src), None
    return None, None


_TABLES: dict = {}


def _latest_from_data(results: dict) -> tuple[float | None, str | None]:
    """The latest value of the combined series, from the data file the analysis read.

    Used only when summary.json does not carry ``latest``; only when the file's
    sha256 still matches the one in ``results.json`` provenance (so the value is
    from the data that was analysed). Anything unreadable gives (None, None).
    """
    prov = results.get("provenance") or {}
    params = prov.get("params") or {}
    path, sha = prov.get("data_file"), prov.get("data_sha256")
    if not path or not params.get("metric") or not params.get("units"):
        return None, None
    try:
        from evallib.data.table import load_table
        from evallib.its.series import combine_units

        st = os.stat(path)
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in _TABLES:
            while len(_TABLES) >= 4:            # a few data files per pack at most
                _TABLES.pop(next(iter(_TABLES)))
            _TABLES[key] = load_table(path)
        table = _TABLES[key]
        if sha and table.sha256 != sha:
            logger.info("%s changed since the analysis (sha256 differs): no latest value shown", path)
            return None, None
        ser = combine_units(table, params["metric"], params["units"], params.get("aggregate") or "sum",
                            params.get("start"), params.get("end"))
        f = ser.frame.dropna(subset=["value"])
        if f.empty:
            return None, None
        last = f.iloc[-1]
        return _num(last["value"]), str(last["period"])
    except Exception as e:          # the PDF is still built, with a dash
        logger.warning("latest value of %s not available: %s", params.get("metric"), e)
        return None, None


def _icon_file(kind: str | None, workdir: Path) -> str | None:
    if not kind:
        return None
    from evallib.plots.spc import icon_png

    name = f"icon-{kind}.png"
    path = workdir / name
    if not path.exists():
        path.write_bytes(icon_png(kind, size=192))
    return name


def _appendix_rows(results: dict) -> dict:
    """Model detail for the technical appendix, from results.json."""
    def term_rows(group: dict) -> list[dict]:
        rows = []
        for term, t in group.items():
            if not isinstance(t, dict):
                continue
            est, ci = _num(t.get("estimate")), t.get("ci") or [None, None]
            ratio = _num(t.get("ratio"))
            lo, hi = (_num(ci[0]), _num(ci[1])) if len(ci) == 2 else (None, None)
            fixed = est == 0 and lo == 0 and hi == 0
            rows.append({"term": re.sub(r"\[(.*)\]", r" (\1)", term).replace("_", " "),
                         "estimate": _g(est),
                         "ci": "shared with the comparators (fixed at 0)" if fixed
                         else (f"{_g(lo)} to {_g(hi)}" if lo is not None and hi is not None else ""),
                         "ratio": "" if ratio is None else f"\u00d7{ratio:.3f}",
                         "p": _p(_num(t.get("p")))})
        return rows

    groups = [{"name": name, "terms": term_rows(g)} for name, g in (results.get("groups") or {}).items()
              if isinstance(g, dict)]
    d = results.get("diagnostics") or {}
    diag = []
    if _num(d.get("durbin_watson")) is not None:
        diag.append(("Durbin\u2013Watson statistic (2 = no first-order autocorrelation)", f"{d['durbin_watson']:.2f}"))
    lb = [x for x in d.get("ljung_box") or [] if isinstance(x, dict)]
    if lb:
        last = max(lb, key=lambda x: x.get("lag", 0))
        diag.append((f"Ljung\u2013Box test of residual autocorrelation, lag {last.get('lag')}", "p " + ("" if _p(_num(last.get("p"))).startswith("<") else "= ") + _p(_num(last.get("p")))))
    for key, label in (("dispersion", "Dispersion (1 = as the family assumes)"), ("hac_lags", "Newey\u2013West lags"),
                       ("n_obs", "Observations in the fit"), ("df_resid", "Residual degrees of freedom")):
        if _num(d.get(key)) is not None:
            diag.append((label, _g(_num(d.get(key)))))
    prov = results.get("provenance") or {}
    params = prov.get("params") or {}
    shown_params = []
    for k in ("metric", "units", "aggregate", "comparators", "design", "start", "end", "interruptions",
              "seasonality", "model", "alpha", "horizons", "washout"):
        if k in params and params[k] not in (None, [], ""):
            v = params[k]
            if k == "interruptions" and isinstance(v, list):
                v = "; ".join(f"{i.get('name')} {i.get('date')} ({', '.join(i.get('terms') or [])})" for i in v)
            elif isinstance(v, list):
                v = ", ".join(map(str, v))
            shown_params.append((k, str(v)))
    return {"groups": groups, "diagnostics": diag, "params": shown_params,
            "data_file": Path(str(prov.get("data_file") or "")).name,
            "data_sha": str(prov.get("data_sha256") or "")[:16],
            "version": prov.get("evallib_version", "")}


def _g(x: float | None) -> str:
    """Model numbers: 4 significant figures, never a bare integer-looking decimal like ``3.0``."""
    if x is None:
        return "\u2014"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 1e5 or ax < 1e-3:
        s = f"{x:.3e}".replace("e+0", "e+").replace("e-0", "e\u2212")
    elif ax >= 1000:
        s = f"{x:,.0f}"
    else:
        s = f"{x:.4g}"
    return s.replace("-", "\u2212")


def _p(p: float | None) -> str:
    if p is None:
        return "\u2014"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


@dataclass
class _Measure:
    id: str
    title: str
    status: str
    summary: dict | None
    results: dict | None
    page: Path | None
    error: str | None


def read_pack(pack_dir: Path) -> tuple[dict, list[_Measure]]:
    """The manifest and one record per analysis, in the manifest's order."""
    pack_dir = Path(pack_dir)
    manifest = _read_json(pack_dir / "manifest.json", "the build manifest")
    if manifest is None:
        raise DataError(f"{pack_dir}: no manifest.json; build the pack first with "
                        f"`evallib batch PACK.yaml --out {pack_dir}`")
    for key in ("pack", "analyses"):
        if key not in manifest:
            raise DataError(f"{pack_dir / 'manifest.json'}: key {key!r} is missing; rebuild the pack with this "
                            f"version of evallib")
    out = []
    analyses = manifest["analyses"]
    if manifest.get("national"):
        # a national pack's PDF is its national summary: the event-time page of each measure (the
        # collaboratives' own pages, hundreds of them, stay in the HTML pack and its sortable index)
        analyses = [a for a in analyses if a.get("kind") == "event_time"] or analyses
    for a in analyses:
        aid = a["id"]
        folder = pack_dir / aid
        page = pack_dir / a["page"] if a.get("page") else folder / f"{aid}.html"
        out.append(_Measure(id=aid, title=a.get("title") or aid, status=a.get("status", "ok"),
                            summary=_read_json(folder / "summary.json", "summary.json"),
                            results=_read_json(folder / "results.json", "results.json"),
                            page=page if page.is_file() else None, error=a.get("error")))
    return manifest, out


def _national_measure_html(index_html: str, metric: str) -> str | None:
    """The national index's section of one measure (its caterpillar chart), without its heading,
    sentence and links, as a small page for :func:`page_to_typst`; None when absent."""
    m = re.search(r'<section class="measure" id="m-' + re.escape(metric) + r'">(.*?)</section>', index_html, re.S)
    if not m:
        return None
    part = re.sub(r"<h2>.*?</h2>", "", m.group(1), flags=re.S)
    part = re.sub(r'<div class="national">.*?</div>', "", part, flags=re.S)   # the section's own sentence says it
    part = re.sub(r"<a [^>]*>(.*?)</a>", "", part, flags=re.S)      # links to HTML pages do not print
    return (f"<main><p><strong>Each collaborative</strong>: its own estimate at the headline horizon, "
            f"beside the national average (dashed).</p>{part}</main>")


def _context(pack_dir: Path, manifest: dict, measures: list[_Measure], workdir: Path) -> dict:
    from evallib.metrics import metric_info
    from evallib.periods import period_freq

    synthetic = bool(manifest.get("synthetic"))
    when = build_date(manifest)
    index_page = pack_dir / "index.html"
    national_index = (index_page.read_text(encoding="utf-8")
                      if manifest.get("national") and index_page.is_file() else None)
    firsts, lasts, alphas, freqs = [], [], set(), set()
    rows, sections, support, appendix, failed = [], [], [], [], []
    n_images = n_vector = 0
    for k, m in enumerate(measures):
        s, r = m.summary or {}, m.results or {}
        periods = r.get("periods") or {}
        if periods.get("first"):
            firsts.append(periods["first"])
            freqs.add(period_freq(periods["first"]))
        if periods.get("last"):
            lasts.append(periods["last"])
        params = (r.get("provenance") or {}).get("params") or {}
        if params.get("alpha", s.get("alpha")) is not None:
            alphas.add(float(params.get("alpha", s.get("alpha"))))
        body, extra, app_parts = "", [], []
        if m.page is not None:
            body, app_parts, ni, nv = page_to_typst(m.page.read_text(encoding="utf-8"), workdir,
                                                    pack_dir / m.id, prefix=f"m{k:02d}", heading_offset=0)
            n_images += ni
            n_vector += nv
        if national_index and s.get("kind") == "event_time":
            # a national pack: the measure's collaboratives (the index's caterpillar chart) lead its section
            part = _national_measure_html(national_index, s.get("metric") or "")
            if part:
                cat, _, ni, _ = page_to_typst(part, workdir, None, prefix=f"c{k:02d}")
                body = cat + "\n" + body
                n_images += ni
        if s.get("kind") == "data_quality":
            support.append({"id": m.id, "title": s.get("label") or m.title, "sentence": s.get("sentence", ""),
                            "body": body})
            continue
        if m.status != "ok" or not s:
            failed.append({"id": m.id, "title": m.title, "error": m.error or "no summary was written"})
            rows.append({"id": m.id, "label": m.title, "failed": True, "verdict": "failed",
                         "verdict_colour": VERDICT_COLOURS["failed"]})
            continue
        unit = s.get("unit", "")
        info = metric_info(s.get("metric") or m.id)
        kind = info.kind
        h = s.get("headline") or {}
        alpha = params.get("alpha", s.get("alpha"))
        conf = confidence_label(alpha) if alpha is not None else ""       # unknown: no level is claimed
        freq = period_freq(h.get("period") or periods.get("first") or "") or "M"
        one, many = period_words(freq)
        horizon = _num(h.get("horizon"))
        horizon_txt = (f"{horizon:.0f} {one if horizon == 1 else many}" if horizon is not None else "")
        spc = s.get("spc") or {}
        var, ass = spc.get("variation"), spc.get("assurance")
        target = _num(spc.get("target"))
        if target is None and s.get("improvement") != "neutral":
            target = info.target if info.id == s.get("metric") else None
        latest, latest_period = _latest(s)
        if latest is None and r:
            latest, latest_period = _latest_from_data(r)
        rel, rlo, rhi = (_num(h.get(x)) for x in ("relative", "relative_lower", "relative_upper"))
        verdict = _verdict(s, r)
        scorecard = r.get("scorecard") or {}
        failed_names = [str(x) for x in (s.get("failed_checks") or scorecard.get("failed") or [])]
        says = {c.get("name"): c.get("says") for c in scorecard.get("checks") or [] if isinstance(c, dict)}
        flags = [x.replace("_", " ") for x in failed_names]
        flag_details = [f"{x.replace('_', ' ')}: {says[x]}" if says.get(x) else x.replace("_", " ")
                        for x in failed_names]
        row = {
            "id": m.id, "label": s.get("label") or m.title, "title": s.get("title") or m.title,
            "aim": s.get("aim", ""), "direction": DIRECTION_TEXT.get(s.get("improvement"), ""),
            "latest": _shown_value(latest, unit, kind) if latest is not None else "\u2014",
            "latest_period": _month_name(latest_period) if latest_period else "",
            "target": _fmt(target, unit) if target is not None else "\u2014",
            "variation_icon": _icon_file(var, workdir), "variation_text": VARIATION_TEXT.get(var, "no chart"),
            "assurance_icon": _icon_file(ass, workdir) if ass else None,
            "assurance_text": ASSURANCE_TEXT.get(ass, "no target"),
            "effect": _fmt(h.get("absolute"), unit, signed=True) if h else "\u2014",
            "ci": _fmt_range(h.get("absolute_lower"), h.get("absolute_upper"), unit) if h else "",
            "relative": (f"{rel * 100:+.1f}% of expected".replace("-", "\u2212") if rel is not None else ""),
            "conf": conf, "horizon": horizon_txt,
            "when": _month_name(h.get("period")) if h.get("period") else "",
            "observed": _shown_value(h.get("observed"), unit, kind) if h else "\u2014",
            "expected": _fmt(h.get("counterfactual"), unit) if h else "\u2014",
            "verdict": verdict, "verdict_colour": VERDICT_COLOURS.get(verdict, "nhs-mid-grey"),
            "flags": flags, "flag_details": flag_details,
            "sentence": s.get("sentence", ""), "warnings": [str(w) for w in s.get("warnings") or []],
            "design": s.get("design") or r.get("design", ""), "model": s.get("model") or r.get("model", ""),
            "interruption": h.get("interruption") or "",
            "forest": None if rel is None else {"label": s.get("label") or m.title, "estimate": rel * 100,
                                                "lower": None if rlo is None else rlo * 100,
                                                "upper": None if rhi is None else rhi * 100,
                                                "improvement": s.get("improvement", "neutral"),
                                                "verdict": s.get("verdict"),
                                                "failed_checks": list(failed_names)},
            "failed": False,
        }
        rows.append(row)
        sections.append({**row, "body": body})
        app = _appendix_rows(r) if r else None
        if app is not None or app_parts:
            appendix.append({"id": m.id, "title": row["title"], "model": row["model"], "design": row["design"],
                             "n_obs": r.get("n_obs"), "first": _month_name(periods.get("first")),
                             "last": _month_name(periods.get("last")), "detail": app, "extra": app_parts,
                             "warnings": [str(w) for w in r.get("warnings") or []]})
    if len(alphas) > 1:
        logger.warning("the analyses of this pack use different alphas (%s); each row names its own level",
                       ", ".join(map(str, sorted(alphas))))
    conf_all = confidence_label(next(iter(alphas))) if len(alphas) == 1 else None
    primary = next((r["interruption"].replace("_", " ") for r in rows if r.get("interruption")), "intervention")
    horizons = sorted({r["horizon"] for r in rows if r.get("horizon")})
    forest = _forest_svg([r["forest"] for r in rows if r.get("forest")], workdir, synthetic, primary,
                         horizons[0] if len(horizons) == 1 else None)
    from evallib.report.disclosure import NHS_DIGITAL
    first, last = (min(firsts) if firsts else None), (max(lasts) if lasts else None)
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("improvement", "deterioration", "unclear",
                                                                 "no direction", "failed")}
    return {
        "title": manifest["pack"].get("title") or "Board pack",
        "description": manifest["pack"].get("description", ""),
        "synthetic": synthetic, "date": f"{when.day} {when:%B %Y}", "date_iso": when.strftime("%Y-%m-%d"),
        "year": when.year, "month": when.month, "day": when.day,
        "period_first": _month_name(first), "period_last": _month_name(last),
        "freq_words": period_words(next(iter(freqs)) if len(freqs) == 1 else "M"),
        "conf": conf_all, "primary": primary, "horizons": horizons,
        "rows": rows, "sections": sections, "support": support, "failed": failed, "appendix": appendix,
        "forest": forest, "counts": counts, "n_measures": len(rows),
        "version": manifest.get("evallib_version", ""), "executor": manifest.get("executor", ""),
        "pack_sha": str((manifest.get("pack") or {}).get("sha256", ""))[:16],
        "disclosure": NHS_DIGITAL.describe(),
        "n_images": n_images, "n_vector": n_vector,
    }


def _forest_svg(rows: list[dict], workdir: Path, synthetic: bool, primary: str, horizon: str | None) -> str | None:
    if not rows:
        return None
    import matplotlib
    import matplotlib.pyplot as plt

    from evallib.plots.pack import forest_plot

    with matplotlib.rc_context({"svg.hashsalt": "evallib", "svg.fonttype": "path"}):
        when = f", {horizon} after the {primary}" if horizon else ""
        # the index's "worse <-> better" axis (lower-is-better measures flipped), clipped bands labelled
        fig, _ = forest_plot(rows, synthetic=False, better_right=True,
                             xlabel=f"Change against expected (% of expected){when}")
        if synthetic:       # top right, clear of the axis label (the default stamp sits on it)
            from evallib.plots import palette
            fig.text(0.99, 0.995, palette.SYNTHETIC_LABEL, ha="right", va="top", fontsize=9,
                     fontweight="bold", color=palette.NHS_RED)
        # the caption under the chart explains the colours; the legend would sit on the axis label
        for ax in fig.axes:
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        # drawn at print size (the column is 174 mm), so its text is the size it says
        fig.set_size_inches(6.85, 1.0 + 0.46 * max(len(rows), 2))   # two-line labels (sign flipped) need the room
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(fig)
    (workdir / "forest.svg").write_bytes(buf.getvalue())
    return "forest.svg"


# ------------------------------------------------------------------ rendering
def _jinja_env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=False,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             finalize=lambda v: "" if v is None else v)
    env.filters["t"] = escape
    env.filters["s"] = typst_string
    return env


def render_typst(context: dict) -> str:
    """The Typst source of the pack (the template ``templates/pack.typ.j2``)."""
    return _jinja_env().get_template("pack.typ.j2").render(**context)


def _font_paths() -> list[str]:
    import matplotlib

    return [str(Path(matplotlib.get_data_path()) / "fonts" / "ttf")]


def compile_typst(source: str, workdir: Path) -> bytes:
    """Compile Typst ``source`` (images resolved in ``workdir``) to PDF bytes.

    Raises :class:`PublishError` with Typst's message and location if it fails."""
    try:
        import typst
    except ImportError:
        raise PublishError("the PDF board pack needs the typst package (pinned in pyproject.toml); "
                           "install it with `make venv` or `pip install -e .`") from None

    main = Path(workdir) / "pack.typ"
    main.write_text(source, encoding="utf-8")
    try:
        compiler = typst.Compiler(str(main), root=str(workdir), font_paths=_font_paths(), ignore_system_fonts=True)
        pdf, warnings = compiler.compile_with_warnings(format="pdf")
    except typst.TypstError as e:
        raise PublishError(f"{main.name}: the PDF could not be typeset: {getattr(e, 'message', e)} "
                           f"({'; '.join(getattr(e, 'trace', []) or [])}); this is a bug in evallib's PDF "
                           f"template or escaping, please report it with the pack") from None
    for w in warnings:
        logger.info("typst: %s", getattr(w, "message", w))
    return pdf


def build_pdf(pack_dir: Path, out: Path | None = None) -> Path:
    """Typeset the built pack in ``pack_dir`` as an A4 PDF; returns its path.

    ``out`` defaults to ``<pack_dir>/board_pack.pdf``. The file is written
    atomically (a failed build leaves the last good PDF). Raises
    :class:`~evallib.exceptions.DataError` when the pack is missing or unreadable and
    :class:`~evallib.exceptions.PublishError` when typesetting fails.
    """
    pack_dir = Path(pack_dir)
    out = Path(out) if out is not None else pack_dir / PDF_NAME
    manifest, measures = read_pack(pack_dir)
    with tempfile.TemporaryDirectory(prefix="evallib-pdf-") as tmp:
        work = Path(tmp)
        ctx = _context(pack_dir, manifest, measures, work)
        source = render_typst(ctx)
        from evallib.report.checks import find_nhs_numbers

        hits = find_nhs_numbers(source.replace("\\", ""))
        if hits:
            raise PublishError(f"{pack_dir}: the PDF would contain {len(hits)} string(s) that look like an NHS "
                               f"number (10 digits with a valid modulus-11 check digit); remove patient "
                               f"identifiers from the pages and summaries, then rebuild")
        pdf = compile_typst(source, work)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, pdf)
    logger.info("wrote %s (%d bytes; %d charts, %d of them vector)", out, len(pdf), ctx["n_images"], ctx["n_vector"])
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from evallib.exceptions import EvalError

    ap = argparse.ArgumentParser(prog="python -m evallib.report.pdf",
                                 description="Typeset a built board pack as an A4 PDF.")
    ap.add_argument("pack_dir", type=Path, help="the folder written by `evallib batch` (has manifest.json)")
    ap.add_argument("--out", type=Path, default=None, help=f"the PDF to write (default PACK_DIR/{PDF_NAME})")
    args = ap.parse_args(argv)
    try:
        path = build_pdf(args.pack_dir, args.out)
    except EvalError as e:
        print(f"evallib pdf: error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


__all__ = ["build_pdf", "write_vector_twin", "FIGURE_TWINS_ENV", "png_key", "page_to_typst", "render_typst", "compile_typst",
           "read_pack", "escape", "typst_string", "org_title", "tidy_names", "confidence_label", "build_date",
           "PDF_NAME"]

if __name__ == "__main__":
    raise SystemExit(main())
