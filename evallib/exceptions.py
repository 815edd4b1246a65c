"""Named exceptions. Everything the suite raises on bad input is an ``EvalError``.

The CLI turns an ``EvalError`` into one line on stderr and exit code 2.
Messages name the file, the key or column, the value found, and the fix.
"""
from __future__ import annotations


class EvalError(Exception):
    """Base class for every error caused by bad data, parameters or models."""


class DataError(EvalError):
    """The data do not meet the tidy-table contract (docs/contracts.md §1)."""


class ParameterError(EvalError):
    """The params YAML (or a parameter passed in code) is invalid (docs/contracts.md §2)."""


class ModelError(EvalError):
    """A model cannot be fitted as specified (collinearity, too few points, ...)."""


class PublishError(EvalError):
    """A page may not be published (e.g. it contains something like an NHS number)."""
