"""The params schema (docs/contracts.md §2): pydantic models plus YAML loading.

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
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)
from pydantic_core import PydanticCustomError

from evallib.exceptions import ParameterError
from evallib.inputs import decode_utf8, limit, read_input
from evallib.periods import FREQ_NAMES, format_period, normalise_label, parse_period, parse_range

Term = Literal["level", "slope"]
Aggregate = Literal["sum", "mean", "ratio"]
Design = Literal["auto", "single", "controlled", "synthetic", "sdid"]
ModelName = Literal["ols-hac", "prais-winsten", "arima", "poisson", "quasipoisson", "negbin",
                    "binomial", "quasibinomial"]
Direction = Literal["increase", "decrease", "neutral"]

MODELS: tuple[str, ...] = ModelName.__args__  # type: ignore[attr-defined]
GLM_MODELS = ("poisson", "quasipoisson", "negbin", "binomial", "quasibinomial")
_SEASONALITY = re.compile(r"^(none|month|fourier([1-6]))$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ID = re.compile(r"^[A-Za-z0-9_-]+$")   # analysis ids name output folders and files: plain names only


def _not_bool(v: Any) -> Any:
    """Refuse YAML booleans where a number is expected (pydantic would read ``true`` as 1)."""
    if isinstance(v, bool):
        raise ValueError(_YES_NO)
    return v


#: whole numbers and numbers that refuse ``true``/``false`` (every int and float key of the schema)
Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool), Field(allow_inf_nan=False)]


def _code(v: Any) -> str:
    """A unit code from YAML: strings and whole numbers; yes/no, empty and other values are refused."""
    if isinstance(v, bool):
        raise ValueError(f"{v} is a yes/no value, not a unit code (YAML reads unquoted ON, OFF, YES, NO, "
                         f"Y and N as yes/no): put the code in quotes")
    if isinstance(v, str):
        if not v.strip():
            raise ValueError("a unit code is blank")
        return v.strip()
    if isinstance(v, int):
        return str(v)
    raise ValueError(f"a unit code must be text, not {type(v).__name__ if v is not None else 'empty'}"
                     + ("" if v is not None else " (a bare - or ~ in the list)"))


def _range_item(v: Any, what: str) -> None:
    """Refuse values YAML gives that cannot be a period or range (yes/no, lists, mappings, empty)."""
    if isinstance(v, bool):
        raise ValueError(f"{what} is {v}, a yes/no value, not a period: write YYYY-MM or a range YYYY-MM/YYYY-MM")
    if v is None or isinstance(v, (list, dict, float)):
        kind = "empty" if v is None else f"a {type(v).__name__}"
        raise ValueError(f"{what} is {kind}, not a period: write YYYY-MM or a range YYYY-MM/YYYY-MM")


def _period_label(v: Any) -> str:
    if isinstance(v, bool):
        raise ValueError(f"{v} is a yes/no value, not a period: write YYYY-MM, YYYY-Qn or YYYY")
    s = normalise_label(v)
    try:
        return format_period(parse_period(s))
    except ValueError as exc:
        raise ValueError(str(exc)) from None


_YES_NO = ("a yes/no value is not a number (YAML reads true, false, yes, no, on and off as yes/no): "
           "write a number")


def _guarded(field) -> bool:
    """True when the field's own type already refuses yes/no (``Int``/``Float``): it names the item."""
    import typing

    todo = list(field.metadata) + [field.annotation]
    while todo:
        a = todo.pop()
        if getattr(a, "func", None) is _not_bool:
            return True
        todo.extend(getattr(a, "__metadata__", ()))
        todo.extend(typing.get_args(a))
    return False


def _numeric_only(annotation: Any) -> bool:
    """True when a field's type takes numbers (int or float) but not yes/no values."""
    import types
    import typing

    leaves, todo = set(), [annotation]
    while todo:
        a = todo.pop()
        origin = typing.get_origin(a)
        if origin is Annotated:
            todo.append(typing.get_args(a)[0])
        elif origin is Literal:
            leaves.update(type(x) for x in typing.get_args(a))
        elif origin in (Union, types.UnionType):
            todo.extend(typing.get_args(a))
        elif origin is None:
            leaves.add(a)
    return bool(leaves & {int, float}) and bool not in leaves


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)

    @model_validator(mode="before")
    @classmethod
    def _no_yes_no_numbers(cls, data: Any) -> Any:
        """Every number key refuses ``true``/``false`` (pydantic reads them as 1/0), including keys
        declared with a plain ``int`` or ``float``; :data:`Int`/:data:`Float` say so per item."""
        if isinstance(data, dict):
            for name, f in cls.model_fields.items():
                v = data.get(name)
                if isinstance(v, bool) and _numeric_only(f.annotation) and not _guarded(f):
                    raise PydanticCustomError("yes_no_number", _YES_NO, {"key": name})
        return data


class Interruption(_Strict):
    """One interruption: a named date with level and/or slope terms (docs/contracts.md §3)."""

    name: str = Field(description="identifier used in term names, e.g. collaborative")
    date: str = Field(description="first post-interruption period (it belongs to the post segment)")
    terms: list[Term] = Field(default_factory=lambda: ["level", "slope"])
    transition: Int = Field(default=0, ge=0, description="periods P..P+k-1 left out of the fit")

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
    predictor_weight: Float = Field(default=1.0, gt=0)
    per_trust: bool = False                # one synthetic control per treated unit (evallib/its/sdid.py)

    @field_validator("fit_before", mode="before")
    @classmethod
    def _fit_before_ok(cls, v: Any) -> str | None:
        return None if v is None else _period_label(v)


class SDIDOptions(_Strict):
    """Options of synthetic difference-in-differences (``design: sdid``); see evallib/its/sdid.py."""

    variance: Literal["placebo", "jackknife", "bootstrap"] = "placebo"
    replications: Int = Field(default=200, ge=20, le=20000)   # placebo / bootstrap draws
    seed: Int = Field(default=0, ge=0)


class AlignedOptions(_Strict):
    """Options of the comparator-aligned design (``controlled_method: aligned``); see evallib/its/aligned.py."""

    trend: bool = False                    # the system's own linear trend relative to the comparators
    seasonality: bool = False              # its own seasonality (harmonics from `seasonality`)
    absorbed_levels: bool = True           # its own level change at each earlier interruption (COVID-19)
    scale: Literal["auto", "identity", "log", "logit", "rate"] = "auto"
    placebos: Int = Field(default=500, ge=20, le=20000)   # placebo systems for inference
    seed: Int = Field(default=20200901, ge=0)             # draws of the placebo systems
    studentize: bool = True                # scale placebo gaps by their pre-formation fit
    size_band: float = Field(default=3.0, ge=0)          # placebo systems within this factor of the treated size (0: off)
    leads: Int = Field(default=12, ge=2)   # pre-formation periods in the joint pre-trend test
    min_volume: Float = Field(default=0.1, ge=0)         # comparator volume vs the treated units' average
    matched: Int | None = Field(default=None, ge=3)      # comparators kept by comparators: matched


class Params(_Strict):
    """One analysis. Only ``data``, ``metric``, ``units`` and ``interruptions`` are required."""

    title: str | None = None
    data: Path
    metric: str
    units: list[str] = Field(min_length=1)
    aggregate: Aggregate = "sum"
    comparators: Union[Literal["none", "all_other", "matched", "not_yet_treated"], list[str]] = "none"
    design: Design = "auto"
    start: str | None = None
    end: str | None = None
    interruptions: list[Interruption] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    seasonality: str = "fourier2"
    model: ModelName | None = None  # None: chosen from the data (see evallib.its.single.choose_model)
    hac_lags: Union[Literal["auto", "prewhite"], Annotated[Int, Field(ge=0)]] = "auto"
    alpha: Float = Field(default=0.05, gt=0, lt=0.5)
    horizons: list[Annotated[Int, Field(ge=0)]] = Field(default_factory=lambda: [12, 24])
    # --- extensions to docs/contracts.md §2 (documented in the README params reference) ---
    arima_order: tuple[Annotated[Int, Field(ge=0, le=3)], Literal[0], Annotated[Int, Field(ge=0, le=3)]] = (1, 0, 0)
    improvement: Direction | None = None  # default: from the metric catalogue
    target: Float | None = None           # SPC target in the metric's unit; default: national standard
    # your own measure (evallib.metrics.metric_info_for): its label and unit on pages and charts
    metric_label: str | None = Field(default=None, min_length=1, max_length=120)  # default: catalogue, else the id
    metric_unit: str | None = Field(default=None, max_length=20)  # "patients", "%", "£k"; default: catalogue
    washout: str = "2020-03/2021-03"       # sensitivity analysis: periods left out
    suppress_below: Int = Field(default=5, ge=0)  # board pages suppress counts below this
    # controlled designs (evallib/its/controlled.py)
    controlled_method: Literal["aligned", "stacked", "difference"] = "aligned"
    aligned: AlignedOptions = Field(default_factory=AlignedOptions)
    comparator_types: Literal["auto", "any"] = "auto"   # auto: same ODS unit type as the treated units
    shared_interruptions: Union[Literal["auto", "none"], list[str]] = "auto"
    comparator_scale: Literal["auto", "none", "pre_mean"] = "auto"
    controlled_cov: Literal["panel", "driscoll-kraay"] = "panel"
    synthetic: SyntheticOptions = Field(default_factory=SyntheticOptions)
    sdid: SDIDOptions = Field(default_factory=SDIDOptions)
    id: str | None = None                  # analysis id inside a pack (default: metric); a plain name
    notebook: str | None = None            # notebook for `evallib run`/`batch` (default its_outcome)
    # --- provider collaborative memberships (evallib/data/memberships.py): with a table, the aligned
    # design's comparators default to not_yet_treated (each comparator used up to the period before it
    # joins any collaborative; evallib/its/comparators.py). The path is relative to the params file.
    memberships: Path | None = None
    # how much of the page to compute: full (every section) or brief (the national pack's per-collaborative
    # pages: the primary design, its scorecard without the agreement refits, the event study, per-trust
    # panels and SPC; no sensitivity set, no leave-one-out). The primary estimate is the same in both.
    depth: Literal["full", "brief"] = "full"
    collaborative: str | None = None       # national packs: the collaborative id this analysis evaluates

    @model_validator(mode="before")
    @classmethod
    def _memberships_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("memberships") not in (None, "") and "comparators" not in data:
            data = {**data, "comparators": "not_yet_treated"}
        return data

    @model_validator(mode="after")
    def _not_yet_treated_ok(self) -> "Params":
        if self.comparators == "not_yet_treated":
            if self.memberships is None:
                raise ValueError("comparators not_yet_treated needs memberships: PATH, the membership table "
                                 "(evallib/data/collaboratives.csv shows the format); or use all_other")
            if self.resolved_design not in ("synthetic", "sdid") and (
                    self.resolved_design != "controlled" or self.controlled_method not in ("aligned", "stacked")):
                raise ValueError(f"comparators not_yet_treated is available in the aligned, synthetic and sdid designs "
                                 f"only, and in controlled_method stacked (design {self.design}, controlled_method "
                                 f"{self.controlled_method}): use design controlled with controlled_method aligned or "
                                 f"stacked, synthetic or sdid, or comparators all_other")
        return self

    @field_validator("id")
    @classmethod
    def _id_ok(cls, v: str | None) -> str | None:
        if v is not None and not _ID.match(v):
            raise ValueError("use letters, digits, _ and - only (the id names a folder and files of the pack)")
        return v

    @field_validator("start", "end", mode="before")
    @classmethod
    def _periods_ok(cls, v: Any) -> str | None:
        return None if v is None else _period_label(v)

    @field_validator("data", mode="before")
    @classmethod
    def _data_ok(cls, v: Any) -> Any:
        if isinstance(v, (str, Path)) and "\x00" in str(v):
            raise ValueError("the path contains a NUL character (\\0): write the file name without it")
        if isinstance(v, (str, Path)) and str(v).strip():
            return v
        if isinstance(v, str) or v is None:
            raise ValueError("blank: name the tidy-table file (CSV or Parquet), relative to the params file")
        raise ValueError(f"{yaml_kind(v)} is not a file path: name the tidy-table file (CSV or Parquet)")

    @field_validator("hac_lags", mode="before")
    @classmethod
    def _hac_lags_not_bool(cls, v: Any) -> Any:
        return _not_bool(v)

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
        for k, item in enumerate(v):
            _range_item(item, f"item [{k}]")
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
        _range_item(v, "the value")
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
            out = []
            for k, x in enumerate(v):
                try:
                    out.append(_code(x))
                except ValueError as exc:
                    raise ValueError(f"item [{k}]: {exc}") from None
            return out
        return v

    @field_validator("horizons")
    @classmethod
    def _horizons_ok(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("horizons must list at least one horizon")
        return sorted(set(v))

    @model_validator(mode="after")
    def _order_ok(self) -> "Params":
        dates = [parse_period(i.date) for i in self.interruptions]
        freq = dates[0].freqstr[0]
        for k, d in enumerate(dates):
            if d.freqstr[0] != freq:
                raise ValueError(f"interruption dates mix frequencies: interruptions[0].date "
                                 f"{self.interruptions[0].date} is {FREQ_NAMES[freq]} but interruptions[{k}].date "
                                 f"{self.interruptions[k].date} "
                                 f"is {FREQ_NAMES[d.freqstr[0]]}; use one frequency, that of the data")
        self._check_frequencies(freq)
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
        if self.design in ("controlled", "synthetic", "sdid") and self.comparators == "none":
            raise ValueError(f"design {self.design} needs comparators (all_other or a list of codes)")
        return self

    def _check_frequencies(self, freq: str) -> None:
        """Every period-valued key has the interruptions' frequency (else pandas cannot compare them)."""
        example = {"M": "YYYY-MM", "Q": "YYYY-Qn", "Y": "YYYY"}[freq]
        keys: list[tuple[str, str]] = [("start", self.start), ("end", self.end)]
        keys += [(f"exclude[{k}]", x) for k, x in enumerate(self.exclude)]
        if "washout" in self.model_fields_set:
            keys.append(("washout", self.washout))
        keys.append(("synthetic.fit_before", self.synthetic.fit_before))
        for key, value in keys:
            if value is None:
                continue
            for part in parse_range(value):
                f = part.freqstr[0]
                if f != freq:
                    raise ValueError(f"{key} {value} is {FREQ_NAMES[f]} but the interruption dates are "
                                     f"{FREQ_NAMES[freq]}: write {key} as {example}, like the interruption dates")

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


class NationalOptions(_Strict):
    """A national pack (evallib/batch/national.py): one analysis per collaborative and measure.

    The collaboratives come from the membership table named by ``defaults.memberships``.
    """

    measures: list[str] = Field(min_length=1)
    collaboratives: Union[Literal["all"], list[str]] = "all"
    exclude: list[str] = Field(default_factory=list)   # collaborative ids left out (say why in a comment)
    covid: str | None = "2020-03"        # a COVID-19 interruption, added when it falls before formation
    depth: Literal["full", "brief"] = "brief"
    event_time: bool = True              # one national event-time analysis per measure
    event_time_notebook: str = "national_event_time"
    event_times: tuple[Annotated[Int, Field(ge=-60, le=0)], Annotated[Int, Field(ge=0, le=120)]] = (-12, 24)

    @field_validator("covid", mode="before")
    @classmethod
    def _covid_ok(cls, v: Any) -> str | None:
        return None if v in (None, "", "none") else _period_label(v)

    @field_validator("measures", "exclude")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        dup = sorted({x for x in v if v.count(x) > 1})
        if dup:
            raise ValueError(f"{', '.join(dup)} listed more than once")
        return v


class Pack(_Strict):
    """A board pack: shared defaults and a list of analyses (or a ``national`` section that makes them)."""

    title: str
    description: str = ""
    notebook: str = "its_outcome"
    defaults: dict[str, Any] = Field(default_factory=dict)
    analyses: list[dict[str, Any]] | None = None
    national: NationalOptions | None = None

    @model_validator(mode="after")
    def _something_to_build(self) -> "Pack":
        if self.national is None and self.analyses is None:
            raise ValueError("analyses: required key is missing: list the analyses, or add a national: section "
                             "(measures and the membership table) that makes them")
        if self.national is None and not self.analyses:
            raise ValueError("analyses: the pack lists no analysis (analyses should have at least 1 item): add one, "
                             "or a national: section (measures and the membership table) that makes them")
        if self.analyses is None:
            self.analyses = []
        return self


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


def yaml_kind(v: Any) -> str:
    """What YAML made of a value, in words: ``a number``, ``a yes/no value``, ``a list``, ..."""
    import datetime as _dt

    if isinstance(v, bool):
        return "a yes/no value"
    if isinstance(v, (int, float)):
        return "a number"
    if v is None:
        return "an empty value"
    if isinstance(v, (_dt.date, _dt.datetime)):
        return "a date"
    return {list: "a list", dict: "a mapping", str: "text"}.get(type(v), f"a {type(v).__name__}")


def _shown(value: Any, width: int = 80) -> str:
    """A value for a message: its repr, or its type name (lists, mappings) or a cut repr when long."""
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, (dict, list, tuple)):
        if len(value) > 20:
            return f"a {type(value).__name__} of {len(value):,} items"
        text = repr(value)
        return text if len(text) < width else type(value).__name__
    text = repr(value if not isinstance(value, str) else value[:width])
    return text if not (isinstance(value, str) and len(value) > width) else text[:-1] + "...'"


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
    if kind == "yes_no_number":
        key = err["ctx"]["key"]
        full = key if path in ("(top level)", "") else f"{path}.{key}"
        return f"{source}: {full}: value {err['input'].get(key)!r}: {err['msg']}"
    if kind == "invalid_key":
        where = "" if prefix == "" else f"{prefix}: "
        return (f"{source}: {where}key {value!r} is not a name (YAML read it as {yaml_kind(value)}): "
                f"keys are words such as title, data or metric")
    msg = err.get("msg", "").removeprefix("Value error, ")
    shown = _shown(value)
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
    for key in ("data", "memberships"):
        if key not in raw or not isinstance(raw[key], (str, Path)) or not str(raw[key]).strip():
            continue
        p = Path(str(raw[key])).expanduser()
        if not p.is_absolute():
            try:
                p = (base / p).resolve()
            except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL: the loader/validator names it
                p = Path(os.path.abspath(base / p))
        raw[key] = p
    return raw


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_Loader):  # type: ignore[misc, valid-type]
    """The safe YAML loader, refusing a key that appears twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:  # an unhashable key: PyYAML says so below
                    continue
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key, first: int, line: int):
        super().__init__(key, first, line)
        self.key, self.first, self.line = key, first, line


def _expanded_size(root, bound: int) -> int:
    """Number of YAML nodes once every alias is expanded (stops counting past ``bound``).

    Each distinct node is visited once (sizes are memoised), so a "billion laughs"
    document is measured in time linear in its text. A recursive alias (a node that
    contains itself) has no finite size: the result is -1.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            children = _children(node)
            sizes[nid] = min(bound + 1, 1 + sum(sizes[id(c)] for c in children))
            active.discard(nid)
            continue
        if nid in sizes:
            continue
        if nid in active:
            return -1
        active.add(nid)
        stack.append((node, True))
        for c in _children(node):
            if id(c) in active:
                return -1
            if id(c) not in sizes:
                stack.append((c, False))
    return sizes[id(root)]


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def parse_yaml(text: str, source: str):
    """Parse YAML ``text`` safely; every failure is a ParameterError naming ``source`` and the line.

    Refused: a key repeated in one mapping (YAML would silently keep the last), and a
    document that expands (through aliases) to more than ``EVALLIB_MAX_YAML_NODES``
    nodes (a "billion laughs" alias bomb would otherwise fill the memory).
    """
    bound = limit("EVALLIB_MAX_YAML_NODES")
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        n = _expanded_size(node, bound)
        if n < 0:
            raise ParameterError(f"{source}: the YAML has an alias (*name) inside the value it names, so the "
                                 f"value would be infinite: remove that alias")
        if n > bound:
            raise ParameterError(f"{source}: the YAML holds more than {bound:,} values once its aliases (*name "
                                 f"references) are expanded; a params file needs far fewer: remove the repeated "
                                 f"aliases or values (set EVALLIB_MAX_YAML_NODES to raise the bound)")
        return loader.construct_document(node)
    except _DuplicateKey as dup:
        raise ParameterError(f"{source}: line {dup.line}: key {dup.key!r} appears twice in one mapping (first at line "
                             f"{dup.first}); YAML would keep only the last value: remove one") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(0, exc.position)) + 1
        ch = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise ParameterError(f"{source}: not valid YAML at line {line}: character {ch} is not "
                             f"allowed ({exc.reason}); remove it or save the file again as plain UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ParameterError(f"{source}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise ParameterError(f"{source}: not valid YAML: nested too deeply for a params file") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, turning every failure into a ParameterError naming the file.

    The file must be a regular UTF-8 file of at most ``EVALLIB_MAX_PARAMS_BYTES`` (see
    :mod:`evallib.inputs`); the YAML is parsed by :func:`parse_yaml`.
    """
    p = Path(path)
    raw = read_input(p, what="params file", error=ParameterError, max_bytes=limit("EVALLIB_MAX_PARAMS_BYTES"),
                     limit_name="EVALLIB_MAX_PARAMS_BYTES")
    text = decode_utf8(raw, p, what="params file", error=ParameterError, resave="re-save the file as UTF-8")
    doc = parse_yaml(text, str(p))
    if not isinstance(doc, dict):
        found = "nothing (the file is empty)" if doc is None else type(doc).__name__
        raise ParameterError(f"{p}: expected a mapping of keys (title, data, metric, ...), found {found}")
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


def load_pack(path: str | Path, expand=None) -> tuple[Pack, list[Params]]:
    """Load a pack YAML: returns the pack header and one validated Params per analysis.

    ``expand(pack, base_dir) -> list[dict]`` makes the analyses of a ``national:`` section (the batch
    layer passes :func:`evallib.batch.national.expand`); they follow the listed ones. Without it a
    national section adds nothing (callers that only read the measures).
    """
    p = Path(path)
    raw = read_yaml(p)
    pack = _validate(Pack, raw, str(p))
    base = p.resolve().parent
    out: list[Params] = []
    seen: set[str] = set()
    entries = list(pack.analyses)
    if pack.national is not None and expand is not None:
        entries += expand(pack, base, str(p))
    for k, entry in enumerate(entries):
        where = f"analyses[{k}]" if k < len(pack.analyses) else f"national ({entry.get('id')})"
        if not isinstance(entry, dict):
            raise ParameterError(f"{p}: {where}: expected a mapping, found {type(entry).__name__}")
        merged = deep_merge(pack.defaults, entry)
        merged.setdefault("notebook", pack.notebook)
        params = _validate(Params, _resolve_paths(merged, base), str(p), prefix=where)
        aid = params.analysis_id
        if not _ID.match(aid):
            raise ParameterError(f"{p}: analyses[{k}].id: value {aid!r}: use letters, digits, _ and - only "
                                 f"(the id names a folder of the pack)")
        if aid in seen:
            raise ParameterError(f"{p}: analyses[{k}].id: value {aid!r} is used twice: give each analysis a unique id")
        seen.add(aid)
        out.append(params)
    return pack, out
