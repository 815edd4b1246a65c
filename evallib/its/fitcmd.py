"""``evallib fit PARAMS.yaml [--json]``: one analysis without a notebook.

Prints the readable summary, or results.json (docs/contracts.md §4) with ``--json``. Bad
input raises an ``EvalError``, which ``evallib.cli`` turns into one line on stderr
and exit code 2.
"""
from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)


def fit_command(args) -> int:
    """Run ``evallib fit``: ``args.params`` (path) and ``args.json`` (bool). Returns the exit code."""
    from evallib.config import load_params
    from evallib.its.analysis import analyse

    params = load_params(args.params)
    result = analyse(params)
    text = result.to_json(indent=2) if getattr(args, "json", False) else result.summary()
    sys.stdout.write(text + "\n")
    return 0
