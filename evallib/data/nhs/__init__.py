"""NHS England statistics -> the tidy table (docs/contracts.md §1), one module per publication.

======== ================================ =====================================================
kind     module / function                metrics
======== ================================ =====================================================
rtt      :func:`rtt.load_rtt`             rtt_waiting_list, rtt_52w_waiters, rtt_18w_pct,
                                          rtt_waiting_list_<specialty>
cancer   :func:`cancer.load_cancer`       cancer_62d_pct, cancer_fds_28d_pct, cancer_31d_pct
ae       :func:`ae.load_ae`               ae_4h_pct, ae_attendances
dm01     :func:`dm01.load_dm01`           diagnostics_6w_pct
beds     :func:`beds.load_beds`           ga_occupancy_pct, critical_care_occupancy_pct
======== ================================ =====================================================

Every loader takes files, zips or folders, spots the layout itself, applies the ODS
successor table (:mod:`evallib.data.nhs.ods`) and returns a
:class:`~evallib.data.nhs.common.LoadResult`: ``frame`` with exactly the tidy columns
(percent metrics carry numerator and denominator, value = 100 * numerator /
denominator) and ``report`` (months, providers, layouts, missing cells, rows dropped,
providers that did not report a metric and why, the ODS codes mapped, and the
comparisons with the totals the file publishes itself; see ``docs/real-data.md``).
``evallib import KIND PATH... --out FILE`` (:mod:`evallib.data.nhs.importer`) writes
or updates a table from them.
"""
from __future__ import annotations

import importlib

from evallib.data.nhs.common import LoadReport, LoadResult
from evallib.exceptions import DataError

LOADERS = {
    "rtt": "evallib.data.nhs.rtt:load_rtt",
    "cancer": "evallib.data.nhs.cancer:load_cancer",
    "ae": "evallib.data.nhs.ae:load_ae",
    "dm01": "evallib.data.nhs.dm01:load_dm01",
    "beds": "evallib.data.nhs.beds:load_beds",
}

__all__ = ["LOADERS", "LoadReport", "LoadResult", "load"]


def load(kind: str, paths, ods_map=None) -> LoadResult:
    """Run the loader for ``kind`` (rtt, cancer, ae, dm01 or beds) on ``paths``."""
    if kind not in LOADERS:
        raise DataError(f"unknown kind {kind!r}: expected one of {', '.join(LOADERS)}")
    module, func = LOADERS[kind].split(":")
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    return getattr(importlib.import_module(module), func)(paths, ods_map=ods_map)
