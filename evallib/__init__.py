"""evallib: evaluation of NHS provider collaboratives with interrupted time series.

The public entry point is :func:`analyse`, which takes params (a path, a dict or a
:class:`evallib.config.Params`) and returns a results object with ``summary()``,
``plot()``, ``effects()`` and ``to_dict()``.
"""
from __future__ import annotations

__version__ = "0.1.0"

from evallib.exceptions import DataError, EvalError, ModelError, ParameterError  # noqa: E402

__all__ = ["__version__", "analyse", "EvalError", "DataError", "ParameterError", "ModelError"]


def analyse(params, data=None):
    """Fit the analysis described by ``params`` and return its results object.

    Imported lazily so that ``import evallib`` stays cheap (statsmodels is slow to import).
    """
    from evallib.its.analysis import analyse as _analyse

    return _analyse(params, data=data)
