"""``analyse(params, data=None)``: load the data and dispatch to the design.

``params.resolved_design``:

- ``single``: :func:`evallib.its.single.analyse_single`;
- ``controlled``: ``controlled_method`` ``aligned`` (default) is
  :func:`evallib.its.aligned.analyse_aligned`; ``stacked`` and ``difference`` are
  :func:`evallib.its.controlled.analyse_controlled`;
- ``synthetic``: :func:`evallib.its.synthetic.analyse_synthetic`;
- ``sdid``: :func:`evallib.its.sdid.analyse_sdid`.

The model choice, the interruption checks and the segment guard rails are in
:mod:`evallib.its.single` (shared by every design).
"""
from __future__ import annotations

from evallib.config import Params, as_params
from evallib.data.table import as_table, load_table
from evallib.its.aligned import analyse_aligned
from evallib.its.controlled import analyse_controlled
from evallib.its.sdid import analyse_sdid
from evallib.its.single import analyse_single, choose_model, interruption_specs, outcome_arrays  # noqa: F401
from evallib.its.synthetic import analyse_synthetic


def load_data(params: Params, data=None):
    """The TidyTable for ``params``: ``data`` (TidyTable, DataFrame or path) or ``params.data``."""
    if data is None:
        return load_table(params.data)
    return as_table(data)


def analyse(params, data=None):
    """Fit the analysis described by ``params`` (Params, dict or YAML path); see the module docstring."""
    params = as_params(params)
    table = load_data(params, data)
    design = params.resolved_design
    if design == "single":
        return analyse_single(params, table)
    if design == "controlled":
        if params.controlled_method == "aligned":
            return analyse_aligned(params, table)
        return analyse_controlled(params, table)
    if design == "synthetic":
        return analyse_synthetic(params, table)
    return analyse_sdid(params, table)
