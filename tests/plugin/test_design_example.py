"""The user-facing example runs as written: README.md's test file (always), and DESIGN.md's
("The job", from the design page beside the checkout, when it is there)."""

from __future__ import annotations

from pathlib import Path

import pytest

# Models are evaluated by pytest_fairquant.evaluate (issue 3); these tests run once it exists.
# They run pytest in a subprocess: inference imports torch submodules that cannot be loaded
# twice in one process, which in-process runs (restoring sys.modules) would do.
pytest.importorskip("pytest_fairquant.evaluate")

README = Path(__file__).parents[2] / "README.md"
DESIGN = Path(__file__).parents[2].parent / "shared" / "DESIGN.md"


def _example(page: Path) -> str:
    """The first Python block of the page: the user's tests/test_fairness.py."""
    if not page.exists():
        pytest.skip(f"{page} is not in this checkout")
    return page.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("page", [README, DESIGN], ids=["README", "DESIGN"])
def test_design_example_runs_once_per_method(fq: pytest.Pytester, page: Path) -> None:
    fq.mkdir("tests")
    (fq.path / "tests" / "test_fairness.py").write_text(_example(page))
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
