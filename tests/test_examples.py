"""The bundled examples run as tests: each one's own suite, in its own directory, must pass.

The examples hold strict expected failures (the gates that genuinely fail on their models), so
"passes" includes "the failing gates still fail". The fast examples run here; the MiniLM one
(a real pretrained model under six quantization methods, about 1.5 minutes on 2 CPU cores) is
``slow``. ``examples/run_all.py`` is exercised on one fast example.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _pytest_in(example: str, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rxX",
            f"--fairquant-report={report}",
        ],
        cwd=EXAMPLES / example,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def _verdicts(report: Path) -> dict[str, str]:
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    return {r["nodeid"].split("::", 1)[1]: r["comparison"]["verdict"] for r in data["comparisons"]}


def test_vision_digits_fails_where_compression_hurts_the_planted_group(tmp_path: Path) -> None:
    report = tmp_path / "vision.html"
    done = _pytest_in("vision_digits", report)
    assert done.returncode == 0, done.stdout[-4000:]
    verdicts = _verdicts(report)
    # The planted minority: 2:4 sparsity widens its gap significantly, int8 does not.
    assert verdicts["test_pruning_keeps_fvo[nm-2:4]"] == "fail"
    assert verdicts["test_quantization_keeps_fvo[bnb-int8]"] == "pass"
    assert verdicts["test_quantization_costs_no_group_accuracy[uniform-int2]"] == "fail"
    # 2-bit weights narrow the FVO by breaking every group: the utility guard fails it.
    assert verdicts["test_quantization_keeps_fvo[uniform-int2]"] == "fail"
    assert verdicts["test_dense_model_is_fair_enough"] == "pass"
    assert "xfailed" in done.stdout
    assert "<svg" in report.read_text(encoding="utf-8")


def test_tabular_credit(tmp_path: Path) -> None:
    report = tmp_path / "tabular.html"
    done = _pytest_in("tabular_credit", report)
    assert done.returncode == 0, done.stdout[-4000:]
    verdicts = _verdicts(report)
    assert verdicts["test_quantization_keeps_gaps[uniform-int8-equalized_odds]"] == "pass"
    assert verdicts["test_pruning_costs_no_group_accuracy[global-magnitude-0.5]"] == "fail"
    # Demographic parity narrows while accuracy falls by 0.36: a collapse, never a pass.
    assert verdicts["test_pruning_keeps_gaps[global-magnitude-0.5-demographic_parity]"] == "fail"
    assert verdicts["test_sex_gap_where_the_data_can_tell[uniform-int8]"] == "inconclusive"


def test_clip_fairface_on_the_generated_fixture(tmp_path: Path) -> None:
    report = tmp_path / "clip.html"
    done = _pytest_in("clip_fairface", report)
    assert done.returncode == 0, done.stdout[-4000:]
    gaps = {v for v in _verdicts(report).values()}
    assert gaps <= {"pass", "inconclusive"}


@pytest.mark.slow
def test_text_minilm(tmp_path: Path) -> None:
    report = tmp_path / "text.html"
    done = _pytest_in("text_minilm", report)
    assert done.returncode == 0, done.stdout[-4000:]
    assert any(k.endswith("max_skew]") for k in _verdicts(report))


def test_run_all_prints_the_summary_and_report_paths() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_all.py"), "tabular_credit"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert "tabular_credit  ok" in done.stdout
    assert done.stdout.rstrip().endswith("reports/tabular_credit.html")


def test_run_all_rejects_unknown_examples() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_all.py"), "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown example(s) ['nope']" in done.stdout
