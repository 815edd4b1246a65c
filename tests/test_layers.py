"""The layering contract (pyproject.toml [tool.importlinter]) holds: data/config <- stats <- text <- plots
<- designs (its) <- report <- batch/cli, with no module importing a layer above its own (function-level
imports included)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contract_is_kept():
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "evallib layers KEPT" in r.stdout
    assert "Contracts: 1 kept, 0 broken." in r.stdout


def test_the_contract_fails_on_a_violation(tmp_path):
    """A plots module importing a design is reported (so a passing run means something)."""
    cfg = tmp_path / "contract.ini"
    cfg.write_text("[importlinter]\nroot_package = evallib\n\n[importlinter:contract:x]\nname = inverted\n"
                   "type = layers\nlayers =\n    evallib.plots\n    evallib.its\n")
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe), "--config", str(cfg)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "BROKEN" in r.stdout
