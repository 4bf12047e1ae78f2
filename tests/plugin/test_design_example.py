"""DESIGN.md's example ("The job"), copied verbatim from the design page, runs as written."""

from __future__ import annotations

from pathlib import Path

import pytest

# Models are evaluated by pytest_fairquant.evaluate (issue 3); these tests run once it exists.
# They run pytest in a subprocess: inference imports torch submodules that cannot be loaded
# twice in one process, which in-process runs (restoring sys.modules) would do.
pytest.importorskip("pytest_fairquant.evaluate")

DESIGN = Path(__file__).parents[2].parent / "shared" / "DESIGN.md"


def _example() -> str:
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} is not in this checkout")
    return DESIGN.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]


def test_design_example_runs_once_per_method(fq: pytest.Pytester) -> None:
    fq.mkdir("tests")
    (fq.path / "tests" / "test_fairness.py").write_text(_example())
    args = ["--fairquant-data=fq_factories:make_big_split", "-p", "no:randomly"]
    first = fq.runpytest_subprocess(*args, "--snapshot-update", "-v")
    first.stdout.fnmatch_lines(
        [
            # Grouped by method: each variant is built once and released after its block.
            "*test_quantization_keeps_fvo[[]torch-dynamic-int8[]] PASSED*",
            "*test_group_metrics_unchanged[[]torch-dynamic-int8[]] PASSED*",
            "*test_pruned_model_is_fair_enough[[]global-magnitude-0.5[]] PASSED*",
        ]
    )
    first.assert_outcomes(passed=3)
    assert len(list(fq.path.rglob("*.fairquant"))) == 1
    fq.runpytest_subprocess(*args).assert_outcomes(passed=3)
