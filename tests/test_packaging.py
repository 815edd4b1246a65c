"""Set-up promises: pins agree between pyproject.toml and environment.yml; the CLI is wired."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name where they differ
CONDA_NAMES = {"pyyaml": "pyyaml", "jinja2": "jinja2", "typst": "typst-py"}


def _pins_pyproject() -> dict[str, str]:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + [r for extra in meta["optional-dependencies"].values() for r in extra]
    pins = {}
    for r in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([0-9][^;\s]*)", r.strip())
        assert m, f"pyproject.toml: dependency {r!r} is not pinned with =="
        pins[re.sub(r"\[.*\]", "", m.group(1)).lower()] = m.group(2)
    return pins


def _pins_conda() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    pins = {}
    for d in env["dependencies"]:
        if isinstance(d, str) and not d.startswith(("python", "pip")):
            name, _, ver = d.partition("=")
            pins[name.lower()] = ver
    return pins


def test_environment_yml_mirrors_pyproject_pins():
    py = _pins_pyproject()
    conda = _pins_conda()
    assert {CONDA_NAMES.get(k, k): v for k, v in py.items()} == conda


def test_required_libraries_are_pinned():
    py = _pins_pyproject()
    for lib in ("jupyterlab", "pandas", "statsmodels", "seaborn", "papermill", "pydantic", "nbconvert", "jinja2"):
        assert lib in py, lib


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name, pinned in _pins_pyproject().items():
        assert version(name) == pinned, f"{name}: installed {version(name)}, pinned {pinned}; run make venv"


def test_cli_bad_params_prints_one_line_and_exits_2(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("data: x.csv\nmetric: m\nunits: [RNA]\ninterruptions: [{name: c, date: 2020-09}]\nalpah: 1\n")
    r = subprocess.run([sys.executable, "-m", "evallib.cli", "fit", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr == (f"evallib fit: error: {bad}: alpah: unknown key (check the spelling; see the params "
                        f"reference in README.md)\n")
    assert r.stdout == ""


def test_import_evallib_is_cheap():
    code = "import sys, evallib, evallib.config, evallib.cli; print(sorted(m for m in ('statsmodels','matplotlib','papermill') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
