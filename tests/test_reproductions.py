"""The reproduction scripts under docs/ run end to end in their --quick modes (the full runs,
which produce the committed results, take tens of minutes and are not part of the suite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_burgers_table3_quick(tmp_path: Path) -> None:
    script = ROOT / "docs" / "multilevel" / "burgers_table3.py"
    command = [sys.executable, str(script), "--quick", "--jobs", "1", "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "burgers_table3.json").read_text())
    assert len(saved["runs"]) == 18  # 3 KAN fidelities, 2 MLPs, 4 ablations; 2 seeds each
    assert [row["runs"] for row in saved["table"]] == [2] * 9
    assert all(run["rel_l2"] > 0 and run["loss"] > 0 for run in saved["runs"])
    multilevel = next(run for run in saved["runs"] if run["key"] == "multilevel")
    assert len(multilevel["level_ends"]) == 3
    assert (tmp_path / "burgers_table3.md").read_text().count("| KAN ") == 7
    assert (tmp_path / "burgers_table3.png").stat().st_size > 0
    rerun = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert "0 runs to do (18 already in" in rerun.stdout  # resumes: nothing repeated


def test_poisson_figure6_quick(tmp_path: Path) -> None:
    script = ROOT / "docs" / "multilevel" / "poisson_figure6.py"
    command = [sys.executable, str(script), "--quick", "--jobs", "1", "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    runs = json.loads((tmp_path / "poisson_figure6.json").read_text())["runs"]
    assert sorted(run["model"] for run in runs) == ["KAN relu"] * 3 + \
        ["KAN relu, rate 0.001"] + ["KAN spline"] * 3 + ["MLP relu", "MLP tanh"]
    spline = next(run for run in runs if run["model"] == "KAN spline")
    assert spline["params"] == [140, 220] and len(spline["level_ends"]) == 2
    assert all(0 < run["rel_l2"] < 10 and run["abs_linf"] > 0 for run in runs)
    assert "Hidden domain chosen by the spline KAN's final loss" in \
        (tmp_path / "poisson_figure6.md").read_text()
    assert (tmp_path / "poisson_figure6.png").stat().st_size > 0
