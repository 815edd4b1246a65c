"""Labels come from the analysis: the confidence level from alpha, the horizon shown, the period word,
and the verdict from the analysis' own rule (issue: hard-coded "95% CI" and "12 months")."""
from __future__ import annotations

import json
from pathlib import Path

from evallib.report.index import index_rows, write_index


def _pack(build: Path, alpha: float, horizon: int, verdict: str, period_word: str = "month") -> dict:
    analyses = []
    for k in range(2):
        aid = f"m{k}"
        d = build / aid
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({
            "label": f"Measure {k}", "unit": "patients", "improvement": "decrease", "aim": "elective backlog",
            "design": "controlled", "sentence": "A sentence.", "alpha": alpha, "period_word": period_word,
            "verdict": verdict, "failed_checks": ["pre_trend"] if verdict == "unclear" else [],
            "headline": {"horizon": horizon, "absolute": -500.0, "absolute_lower": -900.0, "absolute_upper": -100.0,
                         "relative": -0.05, "relative_lower": -0.09, "relative_upper": -0.01,
                         "interruption": "collaborative"},
            "spc": {"variation": "common_cause", "assurance": None}}))
        analyses.append({"id": aid, "title": f"M{k}", "status": "ok", "error": None})
    return {"pack": {"title": "Label pack", "description": ""}, "synthetic": True,
            "summary": {"total": 2, "ok": 2, "failed": 0, "cached": 0}, "built_at": "2026-01-01T00:00:00Z",
            "executor": "process pool", "analyses": analyses}


def test_alpha_0_1_says_90_percent_and_never_95(tmp_path):
    b = tmp_path / "b"
    html = write_index(b, _pack(b, 0.1, 12, "improvement")).read_text()
    assert "90% CI" in html and "90% confidence intervals" in html
    assert "95%" not in html
    assert "12 months" in html


def test_the_horizon_and_period_word_shown_are_the_analyses(tmp_path):
    b = tmp_path / "b"
    html = write_index(b, _pack(b, 0.05, 8, "improvement", period_word="quarter")).read_text()
    assert "Effect at 8 quarters" in html and "12 months" not in html


def test_index_verdict_is_the_analysis_verdict_with_its_guards(tmp_path):
    """An interval that excludes zero but whose scorecard failed shows "unclear", as its page does."""
    b = tmp_path / "b"
    m = _pack(b, 0.05, 12, "unclear")
    rows = index_rows(b, m)
    assert [r["verdict"] for r in rows] == ["unclear", "unclear"]
    assert [r["forest"]["verdict"] for r in rows] == ["unclear", "unclear"]
