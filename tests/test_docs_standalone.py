"""The repository stands alone: no file refers to a DESIGN.md outside it (the contracts live in
docs/contracts.md), and the README and docs link only to files that exist."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"tests/test_cli_help.py", "tests/test_newpack.py", "tests/test_docs_standalone.py"}  # assert absence


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if f.endswith((".py", ".md", ".ipynb", ".yaml", ".j2", ".toml", ".typ"))]


def test_no_file_refers_to_design_md():
    bad = [f for f in tracked() if f not in ALLOWED and (ROOT / f).is_file()
           and "DESIGN.md" in (ROOT / f).read_text(encoding="utf-8", errors="replace")]
    assert bad == []


def test_readme_and_docs_links_point_to_files_that_exist():
    missing = []
    for f in ["README.md", "ARCHITECTURE.md"] + [str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")]:
        text = (ROOT / f).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not ((ROOT / f).parent / target).exists():
                missing.append(f"{f} -> {target}")
    assert missing == []
