"""Shared fixtures: the demo data (generated once per session) and ../shared."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A folder holding the SYNTHETIC demo: metrics.csv, metrics.meta.json, truth.json."""
    from evallib.data.demo import generate

    out = tmp_path_factory.mktemp("demo")
    generate(out)
    return out


@pytest.fixture(scope="session")
def demo_csv(demo_dir) -> Path:
    return demo_dir / "metrics.csv"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared (reference data beside the repository) is absent, so the "
                    "real-data and published-reference checks cannot run")
    return SHARED
