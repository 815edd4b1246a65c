"""Headless Chromium opens the built board pack: index.html and one analysis page.

Asserts, from the DOM Chromium builds (``--dump-dom``), that the title, the summary
table and the images are there, and, from the screenshot, that the page was drawn
(NHS-blue header, charts in colour). Screenshots are saved in ``screenshots/`` at
the repository root (git-ignored) for a person to look at.

Chromium is installed by ``.ci/run`` (Debian package ``chromium``); the test skips,
saying so, only when the binary is absent.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from evallib import batch

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
                 if p and os.path.exists(p)), None)
REPO = Path(batch.__file__).resolve().parents[2]   # evallib/batch/__init__.py -> repository
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")]


def _chromium(args: list[str], profile: Path, timeout: int = 90) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    from evallib.data.demo import generate

    d = tmp_path_factory.mktemp("browser")
    data = generate(d / "data")["metrics"]
    (d / "pack.yaml").write_text(f"""title: Browser test pack
description: Two measures and the data-quality page, on the synthetic demo table.
defaults:
  data: {data}
  units: [RNA, RL4, RXK, RBK]
  comparators: [ZZ001, ZZ002, ZZ003, ZZ004, ZZ005, ZZ006, ZZ007, ZZ008]
  start: 2017-04
  end: 2024-03
  interruptions:
    - {{name: covid, date: 2020-03}}
    - {{name: collaborative, date: 2020-09}}
  seasonality: none
  horizons: [12]
analyses:
  - {{metric: rtt_waiting_list, title: RTT waiting list}}
  - {{metric: cancer_62d_pct, title: Cancer 62-day standard, aggregate: ratio}}
  - {{id: data_quality, notebook: data_quality, metric: rtt_waiting_list, title: Data quality}}
""")
    res = batch.build_pack(d / "pack.yaml", d / "out", workers=2)
    assert res.exit_code == 0, [a["error"] for a in res.manifest["analyses"]]
    return d / "out"


def _shoot(url: str, png: Path, profile: Path, height: int) -> None:
    r = _chromium([f"--screenshot={png}", f"--window-size=1280,{height}", "--hide-scrollbars", url], profile)
    assert png.is_file(), r.stderr[-2000:]
    shots = REPO / "screenshots"
    shots.mkdir(exist_ok=True)
    shutil.copy2(png, shots / png.name)


def _drawn(png: Path) -> tuple[int, int]:
    """(pixels of NHS blue, distinct colours) of a screenshot."""
    from PIL import Image

    im = Image.open(png).convert("RGB")
    small = im.resize((im.width // 2, im.height // 2))
    colours = small.getcolors(maxcolors=1 << 20) or []
    blue = sum(n for n, (r, g, b) in colours if abs(r - 0x00) < 12 and abs(g - 0x5E) < 12 and abs(b - 0xB8) < 12)
    return blue, len(colours)


def test_index_shows_title_summary_table_and_images(pack, tmp_path):
    url = (pack / "index.html").as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path / "profile").stdout
    assert "<title>Browser test pack</title>" in dom
    assert "SYNTHETIC DATA" in dom
    table = re.search(r'<table class="summary">(.*?)</table>', dom, re.S)
    assert table, "summary table missing"
    assert len(re.findall(r"<tr", table.group(1))) == 3          # header + two measures
    assert "RTT waiting list" in table.group(1) and "Cancer 62-day" in table.group(1)
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom)) >= 3   # forest + SPC icons
    assert 'href="rtt_waiting_list/rtt_waiting_list.html"' in dom
    png = tmp_path / "board_pack_index.png"
    _shoot(url, png, tmp_path / "profile", 2200)
    blue, ncol = _drawn(png)
    assert blue > 5000 and ncol > 200, (blue, ncol)


def test_analysis_page_shows_title_charts_and_no_code(pack, tmp_path):
    page = pack / "rtt_waiting_list" / "rtt_waiting_list.html"
    url = page.as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path / "profile").stdout
    assert "<title>RTT waiting list</title>" in dom
    assert ">Findings and caveats<" in dom and "COVID-19" in dom
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom)) >= 4
    for marker in ("jp-InputArea", "input_area", "nb.show_", "params_path"):
        assert marker not in dom
    png = tmp_path / "board_pack_page.png"
    _shoot(url, png, tmp_path / "profile", 6000)
    blue, ncol = _drawn(png)
    assert blue > 5000 and ncol > 200, (blue, ncol)
