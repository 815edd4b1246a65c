"""Notebook parameters: what an evaluator sets in a notebook's ``parameters`` cell.

The analysis notebooks carry, beside ``params_path``, typed parameters for the
params keys an evaluator changes most (:data:`ANALYSIS_KEYS`). Each defaults to
``None``, meaning "as in the params file"; a value overrides the file::

    papermill notebooks/its_outcome.ipynb out.ipynb -p metric cancer_62d_pct
    papermill notebooks/its_outcome.ipynb out.ipynb -p units RNA,RL4 -p start 2018-04 -p alpha 0.1
    papermill notebooks/its_outcome.ipynb out.ipynb \
        -y '{"interruptions": {"covid": "2020-03", "collaborative": "2021-04"}}'

Order of precedence: the params file, then ``overrides`` (any params key, nested
keys merge), then the typed parameters. Values given on the command line as text
are read as the key expects: ``units``/``comparators`` as comma-separated codes
(``comparators`` also ``none``, ``all_other``, ``matched`` or ``not_yet_treated``), ``horizons`` as
comma-separated whole numbers, ``interruptions`` as ``name=date,name=date`` or a
mapping ``{name: date}`` (level and slope terms) or the params file's list form.

When the metric is changed, what in the params file belonged to the old metric
follows it: the file's ``title``, ``metric_label``, ``metric_unit``,
``improvement`` and ``target`` are dropped (unless given again), so the title and
labels are the new metric's; and a percentage combined by ``aggregate: sum``
(adding percentages across trusts is meaningless) becomes ``ratio`` when the table
has numerators and denominators for it, else ``mean``. Each such change is stated.

**Unknown parameters.** papermill passes ``-p name value`` for any name, and puts
them in a cell tagged ``injected-parameters`` after the ``parameters`` cell, with a
warning in its log only. :func:`check_injected` reads that cell's source from the
kernel's input history and raises a :class:`~evallib.exceptions.ParameterError`
naming each unknown name (a one-line reason, in the notebook's first cell after the
parameters).

**Paths.** ``params_path`` may be absolute, relative to the working directory, or
relative to the notebook's folder (``notebooks/`` of the repository): it is tried
in that order (:func:`find_params_file`), so a notebook runs from any working
directory, e.g. ``papermill notebooks/its_outcome.ipynb out.ipynb`` from the
repository root, ``--cwd notebooks``, JupyterLab, or a batch job folder. Paths
*inside* the params file (``data``) resolve against the params file's folder.
Output paths (``results_path``, ``summary_path``) are relative to the working
directory.
"""
from __future__ import annotations

import ast
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from evallib.exceptions import ParameterError

logger = logging.getLogger(__name__)

#: params keys the analysis notebooks take as typed parameters (None: as in the params file)
ANALYSIS_KEYS: tuple[str, ...] = ("metric", "units", "aggregate", "comparators", "design", "model", "start",
                                  "end", "interruptions", "seasonality", "alpha", "horizons", "title")

#: the parameters of each notebook (names in its ``parameters`` cell); tests check they agree
NOTEBOOK_PARAMETERS: dict[str, tuple[str, ...]] = {
    "its_outcome": ("params_path", "overrides", "results_path") + ANALYSIS_KEYS,
    "power_planning": ("params_path", "overrides", "relative_change", "power", "alpha", "model", "max_extra",
                       "n_sim", "seed", "metric", "units", "aggregate", "comparators", "start", "end",
                       "interruptions", "seasonality"),
    "data_quality": ("params_path", "metrics", "units", "summary_path"),
    "national_event_time": ("params_path", "overrides", "results_path", "metric", "start", "end", "alpha", "horizons",
                            "title"),
}

#: which of a notebook's parameters override params keys (power_planning's alpha and model
#: are those of the simulation, not of the params)
PARAMS_FROM: dict[str, tuple[str, ...]] = {
    "its_outcome": ANALYSIS_KEYS,
    "power_planning": ("metric", "units", "aggregate", "comparators", "start", "end", "interruptions",
                       "seasonality"),
    "data_quality": (),
    "national_event_time": ("metric", "start", "end", "alpha", "horizons", "title"),
}

#: params keys that describe the metric: they follow it when the metric is changed
METRIC_BOUND = ("title", "metric_label", "metric_unit", "improvement", "target")

_PAPERMILL_MARK = "# Parameters"


# ------------------------------------------------------------------ unknown parameters
def injected_names(namespace: Mapping[str, Any]) -> list[str] | None:
    """Names assigned in papermill's injected-parameters cell, from the input history of
    ``namespace`` (IPython's ``In``/``_ih``); ``None`` when no such cell ran."""
    history = namespace.get("_ih") or namespace.get("In") or []
    sources = [s for s in history if isinstance(s, str) and s.lstrip().startswith(_PAPERMILL_MARK)]
    if not sources:
        return None
    try:
        tree = ast.parse(sources[-1])
    except SyntaxError:
        return None
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        for t in targets:
            if isinstance(t, ast.Name) and t.id not in names:
                names.append(t.id)
    return names


def check_injected(namespace: Mapping[str, Any], notebook: str) -> None:
    """Raise ParameterError when papermill injected a parameter ``notebook`` does not know."""
    known = NOTEBOOK_PARAMETERS[notebook]
    names = injected_names(namespace) or []
    unknown = [n for n in names if n not in known]
    if unknown:
        one = len(unknown) == 1
        raise ParameterError(
            f"{notebook}.ipynb: {'parameter' if one else 'parameters'} {', '.join(unknown)} "
            f"{'is' if one else 'are'} not known to this notebook (it takes {', '.join(known)}); "
            f"check the spelling, or pass any other params key as -y '{{\"overrides\": {{\"{unknown[0]}\": ...}}}}'"
            if "overrides" in known else
            f"{notebook}.ipynb: {'parameter' if one else 'parameters'} {', '.join(unknown)} "
            f"{'is' if one else 'are'} not known to this notebook (it takes {', '.join(known)}); check the spelling")


# ------------------------------------------------------------------ paths
def find_params_file(params_path: str | os.PathLike, what: str = "params file") -> Path:
    """``params_path`` as given if absolute; else against the working directory, then the
    notebooks folder of the repository. Raises ParameterError naming the places tried."""
    p = Path(params_path).expanduser()
    if p.is_absolute():
        if not p.is_file():
            raise ParameterError(f"{p}: {what} not found; give the path of an existing YAML file")
        return p
    tried = [Path.cwd() / p]
    nbdir = _notebooks_dir()
    if nbdir is not None:
        tried.append(nbdir / p)
    for cand in tried:
        if cand.is_file():
            return cand.resolve() if cand != tried[0] else p
    where = " and ".join(str(c.parent.resolve()) for c in tried)
    raise ParameterError(f"{params_path}: {what} not found (looked in {where}); "
                         f"give a path relative to the working directory or to the notebooks folder, or an "
                         f"absolute path")


def _notebooks_dir() -> Path | None:
    import evallib

    d = Path(evallib.__file__).resolve().parents[1] / "notebooks"
    return d if d.is_dir() else None


# ------------------------------------------------------------------ values
def _codes(key: str, v: Any) -> Any:
    if isinstance(v, str):
        if key == "comparators" and v.strip() in ("none", "all_other", "matched", "not_yet_treated"):
            return v.strip()
        return [x.strip() for x in v.split(",") if x.strip()]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return [str(v)]
    return v


def _horizons(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return [v]
    if isinstance(v, str):
        out = []
        for x in v.split(","):
            x = x.strip()
            if not x:
                continue
            try:
                out.append(int(x))
            except ValueError:
                raise ParameterError(f"notebook parameter horizons: {x!r} is not a whole number of periods; "
                                     f"write e.g. 12,24") from None
        return out
    return v


def _interruptions(v: Any) -> Any:
    if isinstance(v, str):
        items = []
        for part in v.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise ParameterError(f"notebook parameter interruptions: {part!r} is not name=date; write e.g. "
                                     f"covid=2020-03,collaborative=2020-09")
            name, date = (x.strip() for x in part.split("=", 1))
            items.append({"name": name, "date": date})
        return items
    if isinstance(v, Mapping):
        return [{"name": str(k), "date": d} for k, d in v.items()]
    return v


def coerce(key: str, value: Any) -> Any:
    """A notebook parameter's value in the form the params key expects (see the module docstring)."""
    if key in ("units", "comparators"):
        return _codes(key, value)
    if key == "horizons":
        return _horizons(value)
    if key == "interruptions":
        return _interruptions(value)
    if key in ("start", "end") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def given_keys(namespace: Mapping[str, Any], notebook: str) -> dict[str, Any]:
    """The params keys ``notebook``'s parameters set in ``namespace`` (those not None)."""
    return {k: namespace[k] for k in PARAMS_FROM[notebook] if namespace.get(k) is not None}


# ------------------------------------------------------------------ params
def merge(raw: dict, overrides: Mapping[str, Any] | None, keys: Mapping[str, Any], source: str,
          table_has_ratio=None) -> tuple[dict, list[str]]:
    """The params mapping after ``overrides`` and the notebook parameters ``keys``, and the
    sentences stating what changed beyond the keys themselves.

    ``table_has_ratio(metric, units)`` (optional) says whether the table has numerators
    and denominators for ``metric`` in ``units``; it decides ratio or mean when a
    percentage's ``aggregate: sum`` is replaced.
    """
    from evallib.config import deep_merge
    from evallib.metrics import CATALOGUE

    keys = {k: coerce(k, v) for k, v in keys.items() if v is not None}
    unknown = [k for k in keys if k not in ANALYSIS_KEYS]
    if unknown:
        raise ParameterError(f"{source}: {', '.join(unknown)} cannot be set as notebook parameters "
                             f"(allowed: {', '.join(ANALYSIS_KEYS)}); put other keys in overrides")
    over = dict(overrides or {})
    notes: list[str] = []
    out = deep_merge(raw, over) if over else dict(raw)
    out = deep_merge(out, keys) if keys else out
    for k in ("interruptions", "units", "horizons", "comparators"):   # lists replace, never merge
        if k in keys:
            out[k] = keys[k]
    given = set(over) | set(keys)
    old_metric, new_metric = raw.get("metric"), out.get("metric")
    if "metric" in given and new_metric != old_metric:
        dropped = [k for k in METRIC_BOUND if k in raw and k not in given]
        for k in dropped:
            out.pop(k, None)
        if "title" in dropped or ("title" not in raw and "title" not in given):
            info0 = CATALOGUE.get(str(new_metric))
            out["title"] = out.get("metric_label") or (info0.label if info0 else str(new_metric))
        if dropped:
            one = len(dropped) == 1
            notes.append(f"The metric is {new_metric} instead of the params file's {old_metric}, so the file's "
                         f"{', '.join(dropped)} ({'which describes' if one else 'which describe'} {old_metric}) "
                         f"{'is' if one else 'are'} not used"
                         + (f"; the title is {out['title']!r}." if "title" in dropped else "."))
    info = CATALOGUE.get(str(new_metric))
    is_pct = (out.get("metric_unit") == "%") or (info is not None and (info.unit == "%" or info.kind == "proportion"))
    agg_from_file = "aggregate" not in given
    metric_changed = "metric" in given and new_metric != old_metric
    # only for a metric changed here: a params file's own choice stays as `evallib fit` reads it
    if is_pct and agg_from_file and out.get("aggregate", "sum") == "sum" and metric_changed:
        units = out.get("units") or []
        ratio = table_has_ratio(new_metric, units) if table_has_ratio is not None else True
        out["aggregate"] = "ratio" if ratio else "mean"
        where = "in the params file" if "aggregate" in raw else "by default"
        how = ("summed numerators over summed denominators" if ratio else
               "mean of the percentages; the table has no numerators and denominators for it")
        notes.append(f"{new_metric} is a percentage: the trusts are combined by aggregate "
                     f"{out['aggregate']} ({how}), not by the sum {where}, which would add percentages.")
    return out, notes


def table_has_ratio(table) -> Any:
    """A ``table_has_ratio(metric, units)`` callable for :func:`merge` on a TidyTable."""
    def has(metric: str, units) -> bool:
        try:
            rows = table.for_metric(metric)
        except Exception:   # noqa: BLE001 - an unknown metric is reported by the analysis itself
            return False
        rows = rows[rows["org_code"].isin(list(units))] if len(units) else rows
        return bool(len(rows)) and bool(rows["numerator"].notna().any()) and bool(rows["denominator"].notna().any())
    return has


def describe(keys: Mapping[str, Any]) -> str:
    """``metric cancer_62d_pct, alpha 0.1``: the notebook parameters given, in words."""
    def show(v):
        if isinstance(v, (list, tuple)):
            return ", ".join(show(x) for x in v)
        if isinstance(v, Mapping):
            return ", ".join(f"{k} {x}" for k, x in v.items())
        return str(v)
    return "; ".join(f"{k} {show(coerce(k, v))}" for k, v in keys.items())


__all__ = ["ANALYSIS_KEYS", "NOTEBOOK_PARAMETERS", "PARAMS_FROM", "injected_names", "check_injected",
           "find_params_file", "coerce", "given_keys", "merge", "table_has_ratio", "describe"]
