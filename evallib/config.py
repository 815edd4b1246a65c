"""The params schema (DESIGN.md §2): pydantic models plus YAML loading.

One schema serves the notebooks, ``evallib fit`` and ``evallib batch``.

- Unknown keys and wrong types are errors, never warnings.
- Every error is a :class:`~evallib.exceptions.ParameterError` whose message names
  the file, the key path (``interruptions[1].date``), the value and what is allowed.
- **Paths are resolved relative to the params file** that names them (``data:
  ../data/demo/metrics.csv`` in ``params/x.yaml`` means ``data/demo/metrics.csv``).
  Params built in code (a dict) resolve paths against the current directory, or
  against ``base_dir`` when given.

A *pack* (``load_pack``) is a YAML file with ``title``, ``defaults`` and a list of
``analyses``; each analysis is ``defaults`` overlaid with its own keys and must be a
valid params document on its own.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from evallib.exceptions import ParameterError
from evallib.periods import format_period, normalise_label, parse_period, parse_range

Term = Literal["level", "slope"]
Aggregate = Literal["sum", "mean", "ratio"]
Design = Literal["auto", "single", "controlled", "synthetic"]
ModelName = Literal["ols-hac", "prais-winsten", "arima", "poisson", "quasipoisson", "negbin",
                    "binomial", "quasibinomial"]
Direction = Literal["increase", "decrease", "neutral"]

MODELS: tuple[str, ...] = ModelName.__args__  # type: ignore[attr-defined]
GLM_MODELS = ("poisson", "quasipoisson", "negbin", "binomial", "quasibinomial")
_SEASONALITY = re.compile(r"^(none|month|fourier([1-6]))$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _period_label(v: Any) -> str:
    s = normalise_label(v)
    try:
        return format_period(parse_period(s))
    except ValueError as exc:
        raise ValueError(str(exc)) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)


class Interruption(_Strict):
    """One interruption: a named date with level and/or slope terms (DESIGN.md §3)."""

    name: str = Field(description="identifier used in term names, e.g. collaborative")
    date: str = Field(description="first post-interruption period (it belongs to the post segment)")
    terms: list[Term] = Field(default_factory=lambda: ["level", "slope"])
    transition: int = Field(default=0, ge=0, description="periods P..P+k-1 left out of the fit")

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} is not a valid name (letters, digits and _; starting with a letter)")
        return v

    @field_validator("date", mode="before")
    @classmethod
    def _date_ok(cls, v: Any) -> str:
        return _period_label(v)

    @field_validator("terms")
    @classmethod
    def _terms_ok(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("terms must list at least one of level, slope")
        if len(set(v)) != len(v):
            raise ValueError(f"terms {v} repeat a term")
        return v


class SyntheticOptions(_Strict):
    """Options of the synthetic control (``design: synthetic``); see evallib/its/synthetic.py."""

    scale: Literal["auto", "none", "per_unit", "index"] = "auto"
    fit_before: str | None = None          # default: the collaborative's (last interruption's) date
    predictors: list[str] = Field(default_factory=list)   # extra metrics matched on their pre-period mean
    predictor_weight: float = Field(default=1.0, gt=0)

    @field_validator("fit_before", mode="before")
    @classmethod
    def _fit_before_ok(cls, v: Any) -> str | None:
        return None if v is None else _period_label(v)


class Params(_Strict):
    """One analysis. Only ``data``, ``metric``, ``units`` and ``interruptions`` are required."""

    title: str | None = None
    data: Path
    metric: str
    units: list[str] = Field(min_length=1)
    aggregate: Aggregate = "sum"
    comparators: Union[Literal["none", "all_other"], list[str]] = "none"
    design: Design = "auto"
    start: str | None = None
    end: str | None = None
    interruptions: list[Interruption] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    seasonality: str = "fourier2"
    model: ModelName | None = None  # None: chosen from the data (see evallib.its.analysis)
    hac_lags: Union[Literal["auto", "prewhite"], Annotated[int, Field(ge=0)]] = "auto"
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    horizons: list[Annotated[int, Field(ge=0)]] = Field(default_factory=lambda: [12, 24])
    # --- extensions to DESIGN.md §2 (documented in the README params reference) ---
    arima_order: tuple[Annotated[int, Field(ge=0, le=3)], Literal[0], Annotated[int, Field(ge=0, le=3)]] = (1, 0, 0)
    improvement: Direction | None = None  # default: from the metric catalogue
    target: float | None = None           # SPC target in the metric's unit; default: national standard
    washout: str = "2020-03/2021-03"       # sensitivity analysis: periods left out
    suppress_below: int = Field(default=5, ge=0)  # board pages suppress counts below this
    # controlled designs (evallib/its/controlled.py)
    controlled_method: Literal["stacked", "difference"] = "stacked"
    shared_interruptions: Union[Literal["auto", "none"], list[str]] = "auto"
    comparator_scale: Literal["auto", "none", "pre_mean"] = "auto"
    controlled_cov: Literal["panel", "driscoll-kraay"] = "panel"
    synthetic: SyntheticOptions = Field(default_factory=SyntheticOptions)
    id: str | None = None                  # analysis id inside a pack (default: metric)
    notebook: str | None = None            # notebook for `evallib run`/`batch` (default its_outcome)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _periods_ok(cls, v: Any) -> str | None:
        return None if v is None else _period_label(v)

    @field_validator("seasonality")
    @classmethod
    def _seasonality_ok(cls, v: str) -> str:
        if not _SEASONALITY.match(v):
            raise ValueError(f"{v!r} is not allowed (expected none, month or fourierK with K 1-6)")
        return v

    @field_validator("exclude", mode="before")
    @classmethod
    def _exclude_ok(cls, v: Any) -> list[str]:
        if v is None:
            return []
        if not isinstance(v, list):
            raise ValueError("must be a list of periods or ranges A/B")
        out = []
        for item in v:
            s = normalise_label(item)
            try:
                parse_range(s)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
            out.append(s)
        return out

    @field_validator("washout", mode="before")
    @classmethod
    def _washout_ok(cls, v: Any) -> str:
        s = normalise_label(v)
        try:
            parse_range(s)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return s

    @field_validator("units", "comparators", mode="before")
    @classmethod
    def _codes_are_strings(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [str(x) for x in v]
        return v

    @field_validator("horizons")
    @classmethod
    def _horizons_ok(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("horizons must list at least one horizon")
        return sorted(set(v))

    @model_validator(mode="after")
    def _order_ok(self) -> "Params":
        freqs = {parse_period(i.date).freqstr[0] for i in self.interruptions}
        if len(freqs) > 1:
            raise ValueError("interruption dates mix frequencies")
        dates = [parse_period(i.date) for i in self.interruptions]
        for k in range(1, len(dates)):
            if dates[k] < dates[k - 1]:
                raise ValueError(
                    f"interruptions[{k}].date {self.interruptions[k].date} is before "
                    f"interruptions[{k-1}].date {self.interruptions[k-1].date}: list them in time order")
        names = [i.name for i in self.interruptions]
        if len(set(names)) != len(names):
            raise ValueError(f"interruption names {names} repeat a name")
        if self.start and self.end and parse_period(self.end) < parse_period(self.start):
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.start and dates[0] <= parse_period(self.start):
            raise ValueError(f"interruptions[0].date {self.interruptions[0].date} is not after start "
                             f"{self.start}: there must be a pre-interruption segment")
        if self.end and dates[-1] > parse_period(self.end):
            raise ValueError(f"interruptions[{len(dates)-1}].date {self.interruptions[-1].date} is "
                             f"after end {self.end}")
        if isinstance(self.comparators, list):
            overlap = sorted(set(self.comparators) & set(self.units))
            if overlap:
                raise ValueError(f"comparators {overlap} are also treated units")
            if not self.comparators:
                raise ValueError("comparators is an empty list: use none")
        if isinstance(self.shared_interruptions, list):
            names_set = set(names)
            unknown = [n for n in self.shared_interruptions if n not in names_set]
            if unknown:
                raise ValueError(f"shared_interruptions names {unknown}, which are not interruptions "
                                 f"(have {names})")
        if self.design in ("controlled", "synthetic") and self.comparators == "none":
            raise ValueError(f"design {self.design} needs comparators (all_other or a list of codes)")
        return self

    # ---------------------------------------------------------------- helpers
    @property
    def resolved_design(self) -> str:
        """``auto`` becomes ``controlled`` when comparators are given, else ``single``."""
        if self.design != "auto":
            return self.design
        return "single" if self.comparators == "none" else "controlled"

    @property
    def display_title(self) -> str:
        return self.title or self.metric

    @property
    def analysis_id(self) -> str:
        return self.id or self.metric

    def interruption(self, name: str) -> Interruption:
        for i in self.interruptions:
            if i.name == name:
                return i
        raise ParameterError(f"no interruption named {name!r}; have {[i.name for i in self.interruptions]}")

    def to_yaml_dict(self) -> dict:
        """Plain dict (JSON/YAML-safe) of the resolved params."""
        d = self.model_dump(mode="json")
        d["data"] = str(self.data)
        d["arima_order"] = list(self.arima_order)
        return d


class Pack(_Strict):
    """A board pack: shared defaults and a list of analyses."""

    title: str
    description: str = ""
    notebook: str = "its_outcome"
    defaults: dict[str, Any] = Field(default_factory=dict)
    analyses: list[dict[str, Any]] = Field(min_length=1)


def _loc_to_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "literal[", "lax-or-strict", "json-or-python")) or \
                part in ("list[str]", "str", "int", "tuple", "function-after"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _format_error(err: dict, source: str, prefix: str = "") -> str:
    path = _loc_to_path(tuple(err.get("loc", ())))
    if prefix:
        path = prefix + ("" if path == "(top level)" else ("." + path if not path.startswith("[") else path))
    kind = err.get("type", "")
    value = err.get("input")
    if kind == "extra_forbidden":
        return f"{source}: {path}: unknown key (check the spelling; see the params reference in README.md)"
    if kind == "missing":
        return f"{source}: {path}: required key is missing"
    msg = err.get("msg", "").removeprefix("Value error, ")
    shown = repr(value) if not isinstance(value, (dict, list)) or len(repr(value)) < 80 else type(value).__name__
    if kind == "literal_error":
        return f"{source}: {path}: value {shown} is not allowed ({msg.lower()})"
    if kind == "value_error" and path == "(top level)":
        return f"{source}: {msg}"
    return f"{source}: {path}: value {shown}: {msg}"


def _validate(model, raw: dict, source: str, prefix: str = ""):
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errs = exc.errors(include_url=False)
        raise ParameterError(_format_error(errs[0], source, prefix)
                             + (f" (and {len(errs) - 1} more problem(s))" if len(errs) > 1 else "")) from None


def _resolve_paths(raw: dict, base: Path) -> dict:
    raw = dict(raw)
    if "data" in raw and raw["data"] is not None:
        p = Path(str(raw["data"])).expanduser()
        raw["data"] = p if p.is_absolute() else (base / p).resolve()
    return raw


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, turning every failure into a ParameterError naming the file."""
    p = Path(path)
    if not p.exists():
        raise ParameterError(f"{p}: params file not found")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParameterError(f"{p}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict):
        raise ParameterError(f"{p}: expected a mapping of keys (title, data, metric, ...), found {type(doc).__name__}")
    return doc


def params_from_dict(raw: dict, base_dir: str | Path | None = None, source: str = "params") -> Params:
    """Validate a params mapping (relative ``data`` paths resolve against ``base_dir``)."""
    if not isinstance(raw, dict):
        raise ParameterError(f"{source}: expected a mapping, found {type(raw).__name__}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    return _validate(Params, _resolve_paths(raw, base), source)


def load_params(path: str | Path) -> Params:
    """Load and validate one analysis's params YAML; ``data`` resolves against its folder."""
    p = Path(path)
    raw = read_yaml(p)
    if "analyses" in raw:
        raise ParameterError(f"{p}: this is a pack (it has analyses:); use `evallib batch {p}`")
    return params_from_dict(raw, p.resolve().parent, str(p))


def as_params(obj: Any) -> Params:
    """Accept a Params, a mapping or a path to a params YAML."""
    if isinstance(obj, Params):
        return obj
    if isinstance(obj, dict):
        return params_from_dict(obj)
    if isinstance(obj, (str, Path)):
        return load_params(obj)
    raise ParameterError(f"params must be a Params, a dict or a YAML path, not {type(obj).__name__}")


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``; nested mappings merge, lists and scalars replace."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_pack(path: str | Path) -> tuple[Pack, list[Params]]:
    """Load a pack YAML: returns the pack header and one validated Params per analysis."""
    p = Path(path)
    raw = read_yaml(p)
    pack = _validate(Pack, raw, str(p))
    base = p.resolve().parent
    out: list[Params] = []
    seen: set[str] = set()
    for k, entry in enumerate(pack.analyses):
        if not isinstance(entry, dict):
            raise ParameterError(f"{p}: analyses[{k}]: expected a mapping, found {type(entry).__name__}")
        merged = deep_merge(pack.defaults, entry)
        merged.setdefault("notebook", pack.notebook)
        params = _validate(Params, _resolve_paths(merged, base), str(p), prefix=f"analyses[{k}]")
        aid = params.analysis_id
        if not re.match(r"^[A-Za-z0-9_.-]+$", aid):
            raise ParameterError(f"{p}: analyses[{k}].id: value {aid!r}: use letters, digits, _ . - only")
        if aid in seen:
            raise ParameterError(f"{p}: analyses[{k}].id: value {aid!r} is used twice: give each analysis a unique id")
        seen.add(aid)
        out.append(params)
    return pack, out
