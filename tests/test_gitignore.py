"""What tox and the runs leave is ignored, so ``git status`` is clean after both README
commands (issue 15: tox's ``.venv`` redirect is a file, which ``.venv/`` did not match, and it
had been committed).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

#: Paths the two README commands (tox -e examples, tox -e tests) were seen to leave.
LEFT_BY_THE_RUNS = [
    ".venv",
    ".tox/fairquant/bin/python",
    "reports/vision_digits.html",
    "reports/vision_digits.json",
    ".fairquant_cache/predictions/x.npz",
    "examples/vision_digits/.fairquant_cache/x.npz",
    "examples/clip_fairface/.fairquant_cache/fixture-data/facet/annotations/annotations.csv",
    "examples/vision_digits/tests/__pycache__/test_fairness.cpython-311.pyc",
    "pytest_fairquant.egg-info/PKG-INFO",
    ".hypothesis/examples/x",
    ".artifacts/html-report.png",
]


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
    )


@pytest.fixture(scope="module")
def checkout() -> None:
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout")


@pytest.mark.usefixtures("checkout")
@pytest.mark.parametrize("path", LEFT_BY_THE_RUNS)
def test_what_the_runs_leave_is_ignored(path: str) -> None:
    # --no-index: judge the pattern, whether or not the path is tracked or exists.
    assert _git("check-ignore", "--no-index", "-q", path).returncode == 0, f"{path} is not ignored"


@pytest.mark.usefixtures("checkout")
def test_nothing_ignored_is_committed() -> None:
    tracked_but_ignored = _git("ls-files", "--cached", "--ignored", "--exclude-standard").stdout
    assert tracked_but_ignored.split() == []
