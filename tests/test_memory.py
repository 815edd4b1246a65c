"""Memory of the default controlled fit grows linearly with the number of comparators: the issue's
1-million-row panel (8,334 units x 120 months) fits in under 4 GB (the stacked design took 20 GB)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = r'''
import logging, resource, sys
logging.disable(logging.WARNING)
sys.path.insert(0, "benchmarks")
import aligned as B, evallib
tt, codes = B.table(int(sys.argv[1]), 120)
r = evallib.analyse(B.params(codes), tt)
r.effects(); r.event_study()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, r.n_comparators)
'''


@pytest.mark.slow
def test_aligned_fit_of_8334_units_peaks_under_4_gb():
    r = subprocess.run([sys.executable, "-c", SCRIPT, "8334"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, env={"OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    peak_mb, n = map(int, r.stdout.split())
    assert n == 8330
    assert peak_mb < 4096, peak_mb
