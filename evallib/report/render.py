"""Executed notebook -> one self-contained HTML page for a board.

The page has no input cells and no prompts (nbconvert ``HTMLExporter`` with
``exclude_input``, ``exclude_input_prompt`` and ``exclude_output_prompt``), its
images are embedded as base64 PNG, and its CSS is inline, so it opens offline (for
instance as an email attachment). The nbconvert ``basic`` template gives the body;
our own Jinja2 page template (``templates/page.html.j2``) gives the NHS styling and
banners.

What is dropped before rendering:

- ``stderr`` streams (library warnings are for analysts: they stay in the executed
  notebook);
- cells tagged ``remove-cell``, ``board-hide`` or ``analyst`` (the notebook's analyst view
  of the model), and outputs whose display metadata
  has ``{"evallib": {"board": false}}`` (the notebook's own title and banner: the
  page template has its own);
- code cells left without outputs (e.g. the parameters cells);
- tracebacks (an error output becomes one line naming the error).

Every page passes :func:`evallib.report.checks.check_page` before it is returned;
a page that fails raises :class:`~evallib.exceptions.PublishError`.
"""
from __future__ import annotations

import copy
import time
from functools import lru_cache
from pathlib import Path

import evallib
from evallib.report.checks import check_page

TEMPLATES = Path(__file__).parent / "templates"
HIDE_TAGS = {"remove-cell", "board-hide", "analyst"}   # analyst: the model view of its_outcome


@lru_cache(maxsize=None)
def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=jinja2.select_autoescape(["html", "j2"]))


@lru_cache(maxsize=None)
def base_css() -> str:
    return (TEMPLATES / "base.css").read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                        exclude_output_prompt=True, anchor_link_text="")


def clean_notebook(nb):
    """A copy of ``nb`` without stderr, hidden cells and code cells left with no output.

    Error outputs become one line ("The analysis stopped here: ValueError: ..."); the
    traceback stays in the executed notebook for the analyst.
    """
    import nbformat

    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & HIDE_TAGS:
            continue
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                            and o.get("metadata", {}).get("evallib", {}).get("board", True)]
            for k, o in enumerate(cell.outputs):
                if o.get("output_type") == "error":   # no traceback (code, paths) on a board page
                    cell.outputs[k] = nbformat.v4.new_output(
                        "stream", name="stdout", text=f"The analysis stopped here: {o.get('ename')}: {o.get('evalue')}\n")
                    continue
                if "image/png" in o.get("data", {}):
                    md = o.setdefault("metadata", {}).setdefault("image/png", {})
                    md.setdefault("alt", "Chart (described in the text beside it)")
            if not cell.outputs:
                continue
        if cell.cell_type == "raw":
            continue
        cells.append(cell)
    nb.cells = cells
    return nb


def notebook_body(nb) -> str:
    """The HTML body of ``nb`` (outputs and markdown only)."""
    body, _ = _exporter().from_notebook_node(clean_notebook(nb))
    return body


def render_page(nb, title: str, synthetic: bool = False, error: str | None = None,
                suppress_below: int = 5, back_href: str | None = None,
                built_at: str | None = None) -> str:
    """Render an executed notebook (NotebookNode or path) into a checked, self-contained page.

    ``error`` (a failed run) adds a banner and keeps the error output visible.
    Raises :class:`~evallib.exceptions.PublishError` when the page fails a publish check.
    """
    if isinstance(nb, (str, Path)):
        import nbformat
        nb = nbformat.read(str(nb), as_version=4)
    body = notebook_body(nb)
    html = _env().get_template("page.html.j2").render(
        title=title, css=base_css(), extra_css="", body=body, synthetic=synthetic, error=error,
        back_href=back_href, version=evallib.__version__,
        built_at=built_at or time.strftime("%d %B %Y", time.gmtime()))
    check_page(html, source=title)
    return html


def png_data_uri(fig, dpi: int = 110) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed)."""
    import base64
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def refusal_page(title: str, reason: str, withheld: bool = True) -> str:
    """The page published in place of one that failed a publish check (no content leaks),
    or, with ``withheld=False``, of one that was never produced (the worker stopped)."""
    error = f"this page was withheld by a publish check ({reason})" if withheld else reason
    return _env().get_template("page.html.j2").render(
        title=title, css=base_css(), extra_css="", synthetic=False, back_href="../index.html",
        error=error,
        body="<p>The page is not shown. The analyst must fix the problem and rebuild the pack.</p>",
        version=evallib.__version__, built_at=None)


__all__ = ["png_data_uri", "render_page", "refusal_page", "notebook_body", "clean_notebook", "base_css"]
