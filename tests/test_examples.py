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
from typing import Any

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


def _comparisons(report: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    return {r["nodeid"].split("::", 1)[1]: r["comparison"] for r in data["comparisons"]}


def _verdicts(report: Path) -> dict[str, str]:
    return {test: comparison["verdict"] for test, comparison in _comparisons(report).items()}


def _collapsed(comparison: dict[str, Any]) -> bool:
    """The utility guard decided it: the first reason says the model collapsed."""
    return comparison["reasons"][0].startswith("compression collapsed the model")


def _not_passed(verdicts: dict[str, str]) -> dict[str, str]:
    return {test: verdict for test, verdict in verdicts.items() if verdict != "pass"}


def test_vision_digits_fails_where_compression_hurts_the_planted_group(tmp_path: Path) -> None:
    report = tmp_path / "vision.html"
    done = _pytest_in("vision_digits", report)
    assert done.returncode == 0, done.stdout[-4000:]
    verdicts = _verdicts(report)
    # Every other gate passes on its upper bound (the dense FVO, int8, NF4, int4, 50% sparsity);
    # a strict xfail would also take an inconclusive, so each expected failure is pinned here.
    assert _not_passed(verdicts) == {
        # The planted minority: 2:4 sparsity widens its gap significantly.
        "test_pruning_keeps_fvo[nm-2:4]": "fail",
        # 2-bit weights and 90% sparsity narrow or barely move the FVO by breaking every
        # group: the utility guard fails them (uniform-int2 used to pass the FVO gate).
        "test_quantization_keeps_fvo[uniform-int2]": "fail",
        "test_pruning_keeps_fvo[global-magnitude-0.9]": "fail",
        "test_quantization_costs_no_group_accuracy[uniform-int2]": "fail",
        "test_pruning_costs_no_group_accuracy[global-magnitude-0.9]": "fail",
        "test_pruning_costs_no_group_accuracy[nm-2:4]": "fail",
        # 355 inverted digits cannot decide a 5-point tolerance for 50% sparsity.
        "test_half_sparsity_keeps_fvo_within_five_points[global-magnitude-0.5]": "inconclusive",
    }
    assert verdicts["test_quantization_keeps_fvo[bnb-int8]"] == "pass"
    assert verdicts["test_dense_model_is_fair_enough"] == "pass"
    assert _collapsed(_comparisons(report)["test_quantization_keeps_fvo[uniform-int2]"])
    assert "INCONCLUSIVE: fvo gap on 'marker'" in done.stdout
    assert "samples would decide it" in done.stdout
    assert "12 passed, 7 xfailed" in done.stdout
    assert "<svg" in report.read_text(encoding="utf-8")


def test_tabular_credit(tmp_path: Path) -> None:
    report = tmp_path / "tabular.html"
    done = _pytest_in("tabular_credit", report)
    assert done.returncode == 0, done.stdout[-4000:]
    verdicts = _verdicts(report)
    gaps = ("fvo", "equalized_odds", "demographic_parity")
    # 50% sparsity collapses the MLP: every gate of theirs fails, though every gap narrows
    # (demographic parity by 0.14 at -0.36 accuracy used to pass). NF4 costs White arrestees
    # 0.027: undecided at a 3-point tolerance, except demographic parity (bound 0.025). 153 women
    # cannot decide a 3-point tolerance under any method.
    nf4_fvo = "test_quantization_keeps_gaps[bnb-nf4-fvo]"
    # Its upper bound is 0.0302 against 0.03: a last-bit difference of float32 may pass it.
    assert verdicts[nf4_fvo] in ("pass", "inconclusive")
    assert {k: v for k, v in _not_passed(verdicts).items() if k != nf4_fvo} == {
        **{f"test_pruning_keeps_gaps[global-magnitude-0.5-{gap}]": "fail" for gap in gaps},
        "test_pruning_costs_no_group_accuracy[global-magnitude-0.5]": "fail",
        "test_quantization_keeps_gaps[bnb-nf4-equalized_odds]": "inconclusive",
        "test_quantization_costs_no_group_accuracy[bnb-nf4]": "inconclusive",
        **{
            f"test_sex_gap_where_the_data_can_tell[{method}]": "inconclusive"
            for method in ("torch-dynamic-int8", "uniform-int8", "bnb-int8", "bnb-nf4")
        },
    }
    assert verdicts["test_quantization_keeps_gaps[bnb-nf4-demographic_parity]"] == "pass"
    assert verdicts["test_quantization_keeps_gaps[uniform-int8-equalized_odds]"] == "pass"
    assert verdicts["test_dense_model_fvo_by_colour"] == "pass"
    dp = _comparisons(report)["test_pruning_keeps_gaps[global-magnitude-0.5-demographic_parity]"]
    assert _collapsed(dp) and dp["delta"] < -0.1
    assert "14 passed, 11 xfailed" in done.stdout


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


@pytest.mark.slow  # the default suite's 10-minute budget on 2 cores (README: how to run it)
def test_run_all_prints_the_summary_and_report_paths() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_all.py"), "tabular_credit"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    # The strict xfails (fails and the explicit inconclusive) count as success.
    assert "tabular_credit  ok      14 passed, 11 xfailed" in done.stdout
    assert done.stdout.rstrip().endswith("reports/tabular_credit.html")
    # What the gates found, from the example's JSON report, under its pytest counts.
    found = [line.strip() for line in done.stdout.splitlines() if line.startswith("    ")]
    assert any(line.startswith("comparisons: ") and " fail" in line for line in found)
    assert any("expected fail (documented)" in line for line in found)
    assert any(line.startswith("worst failure: ") for line in found)


def _run_all() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_all", EXAMPLES / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_all_findings_count_verdicts_and_name_the_worst_failure() -> None:
    from pytest_fairquant.report import build_report
    from pytest_fairquant.report.model import TestRecord

    def record(method: str, verdict: str, change: float) -> dict[str, Any]:
        groups = [{"group": "a", "delta": 0.0}, {"group": "minority", "delta": change}]
        comparison = {"attribute": "race", "gap": "fvo", "verdict": verdict,
                      "worst_group": "minority", "groups": groups}  # fmt: skip
        return {"nodeid": f"t.py::test_q[{method}]", "gate": "g", "method": method,
                "comparison": comparison}  # fmt: skip

    report = build_report(
        [
            record("uniform-int2", "fail", -0.4),
            record("nm-2:4", "fail", -0.1),
            record("uniform-int8", "pass", 0.0),
        ],
        settings={},
        methods={},
        splits={},
        command=[],
        tests=[
            TestRecord("t.py::test_q[uniform-int2]", "xfailed"),
            TestRecord("t.py::test_q[nm-2:4]", "xfailed"),
            TestRecord("t.py::test_q[uniform-int8]", "passed"),
        ],
    )
    assert _run_all().findings(report) == [
        "comparisons: 2 fail, 1 pass",
        "tests: 1 passed, 2 expected fail (documented)",
        "worst failure: uniform-int2 race fvo: worst group minority -0.4000 (test_q[uniform-int2])",
    ]


def test_run_all_rejects_unknown_examples() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_all.py"), "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown example(s) ['nope']" in done.stdout
