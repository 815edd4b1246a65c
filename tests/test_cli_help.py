"""``evallib --help`` and every sub-command's help stand alone: purpose, examples, exit codes, defaults.

Also: usage errors are one line with exit 2, and ``make lab`` adds ``--allow-root``
only for root.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from evallib import cli

REPO = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ["demo-data", "fit", "run", "batch", "import"]


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        cli.main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], *[[c] for c in SUBCOMMANDS]], ids=["evallib", *SUBCOMMANDS])
def test_help_has_purpose_examples_and_exit_codes_without_rst_or_design_md(capsys, argv):
    text = help_text(capsys, *argv)
    assert "examples:\n  evallib " in text
    assert "exit codes:\n  0    success\n  1    at least one analysis failed" in text
    assert "  2    invalid input, parameters or output folder" in text
    assert "``" not in text and "DESIGN.md" not in text and "§" not in text
    purpose = text.split("\n\n")[1]            # the description paragraph under the usage
    assert "\n" not in purpose and purpose.endswith("."), purpose


def test_top_level_help_lists_each_command_with_its_purpose(capsys):
    text = help_text(capsys)
    for c in SUBCOMMANDS:
        assert re.search(rf"^    {re.escape(c)}\s+\S", text, re.M), c
    assert "Evaluate NHS provider collaboratives" in text


def test_import_help_lists_the_kinds_the_importer_knows(capsys):
    from evallib.data.nhs import LOADERS

    assert list(cli.IMPORT_KINDS) == list(LOADERS) == list(cli.IMPORT_KIND_HELP)
    text = help_text(capsys, "import")
    assert "KIND               one of: rtt, cancer, ae, dm01, beds" in text
    for k in LOADERS:
        assert re.search(rf"^  {k}\s+\S", text, re.M), k


def test_demo_data_help_shows_the_seed_default_the_generator_uses(capsys):
    from evallib.data.demo import SEED

    assert cli.DEMO_SEED == SEED
    text = " ".join(help_text(capsys, "demo-data").split())
    assert f"random seed, a whole number from 0 (default: {SEED})" in text
    assert "output folder (default: data/demo)" in text


def test_batch_help_states_defaults_and_the_output_rule(capsys):
    text = " ".join(help_text(capsys, "batch").split())
    assert "board pack folder (default: out/<pack file name>)" in text
    assert "worker processes (default: one per core" in text
    assert "An existing --out is replaced only if evallib built it" in text
    assert "SOURCE_DATE_EPOCH" in text


@pytest.mark.parametrize("argv, words", [
    (["batch"], "evallib batch: error: the following arguments are required: pack (see `evallib batch --help`)"),
    (["batch", "p.yaml", "--workers", "two"],
     "evallib batch: error: argument --workers: invalid int value: 'two' (see `evallib batch --help`)"),
    (["import", "xls", "f.csv", "--out", "o.csv"], "evallib import: error: argument KIND: invalid choice: 'xls'"),
    (["frobnicate"], "evallib: error: argument COMMAND: invalid choice: 'frobnicate'"),
])
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, words):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(words), err


def test_make_lab_adds_allow_root_only_for_root(tmp_path):
    """``make -n lab`` (dry run) with a fake ``id`` on PATH: uid 0 gets --allow-root, others do not."""
    for uid, expect in (("0", True), ("1000", False)):
        fake = tmp_path / uid
        fake.mkdir()
        (fake / "id").write_text(f"#!/bin/sh\necho {uid}\n")
        (fake / "id").chmod(0o755)
        env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
        # the recipe line, with its $(...) evaluated by the shell as make would
        line = subprocess.run(["make", "-s", "-n", "lab"], cwd=REPO, env=env,
                              capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        assert line.startswith(".venv/bin/jupyter lab --notebook-dir=notebooks")
        shown = subprocess.run(["sh", "-c", f"echo {line.split(' ', 1)[1]}"], env=env, capture_output=True,
                               text=True, check=True).stdout.strip()
        assert shown.endswith("--allow-root") is expect, shown
