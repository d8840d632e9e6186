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


def test_lotra_pde_families_quick(tmp_path: Path) -> None:
    script = ROOT / "docs" / "lotra" / "pde_families.py"
    command = [sys.executable, str(script), "--quick", "--jobs", "2", "--out", str(tmp_path),
               "--work", str(tmp_path / "work")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    runs = json.loads((tmp_path / "pde_families.json").read_text())["runs"]
    # per family: 2 pretrainings, 2 lambdas x (3 LoTRA ratios, 3 more rate strategies, full,
    # zero from two starts, 2 MLP runs)
    assert len(runs) == 3 * (2 + 2 * 11)
    assert all(run["rel_pct"] > 0 and run["loss"] > 0 for run in runs)
    lotra = [run for run in runs if run["method"] == "lotra"]
    full = next(run for run in runs if run["method"] == "full")
    assert all(run["stored"] < full["stored"] for run in lotra)
    report = (tmp_path / "pde_families.md").read_text()
    assert report.count("| LoTRA cr 1/2 |") == 3 and report.count("| LR-4 |") == 3
    assert (tmp_path / "pde_families.png").stat().st_size > 0
    rerun = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert rerun.returncode == 0 and "rel" not in rerun.stdout  # resumes: nothing repeated


def test_the_mlp_baselines_physics_loss_vanishes_at_the_exact_solution() -> None:
    """The torch loss of the LoTRA reproduction's MLPs, written apart from kancc's, is ~0
    when the "model" is the family's exact solution (sign, forcing and conditions agree)."""
    import torch

    sys.path.insert(0, str(ROOT / "docs" / "lotra"))
    sys.path.insert(0, str(ROOT / "docs" / "multilevel"))
    import pde_families as families

    from kancc.physics.problem import collocation_inputs
    from kancc.spec import load_spec

    lam = 0.7

    def exact(family: str):
        def model(points):
            if family == "elliptic":
                t, x, y = torch.zeros(len(points), dtype=points.dtype), points[:, 0], points[:, 1]
            else:
                t, x, y = points[:, 0], points[:, 1], points[:, 2]
            r = torch.sqrt(x ** 2 + y ** 2)
            shape = torch.sin(torch.pi / 2 * (1 - r) ** 2.5) + \
                lam * torch.sin(torch.pi / 2 * (1 - r))
            time = {"elliptic": 1.0, "allen_cahn": torch.exp(-t),
                    "hyperbolic": torch.exp(t ** 2) - 1}[family]
            return (time * shape)[:, None]
        return model

    for family in families.FAMILIES:
        spec = load_spec(families.kan_spec(family, lam, families.QUICK, 1))
        inputs = {k: torch.tensor(v) for k, v in collocation_inputs(spec, 0).items()}
        loss = families.mlp_loss(exact(family), family, inputs)
        scale = float(torch.mean(inputs["residual.target"] ** 2))
        assert loss.item() < 1e-20 * max(scale, 1.0), (family, loss.item())
