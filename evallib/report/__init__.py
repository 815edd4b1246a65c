"""Board outputs: notebook pages rendered to self-contained HTML, the pack index and publish checks.

- :mod:`evallib.report.render`: executed notebook -> one self-contained page (no code, no prompts).
- :mod:`evallib.report.index`: the pack's ``index.html`` (Jinja2 templates in ``templates/``).
- :mod:`evallib.report.checks`: publish checks (NHS-number-like strings, code cells, small counts).
- :mod:`evallib.report.quality`: the data-quality summary and coverage heat map.
- :mod:`evallib.report.notebook`: the calls the notebooks make, one per section.
"""
