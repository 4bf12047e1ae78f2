"""One configuration, two front doors: ``pytest`` and ``fairquant sweep`` give the same verdict
table, because both drive one FairnessRun (issue 11: the sweep re-implemented split preparation
and the gates, without min_positives or the correction across attributes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_fairquant import cli

GATE = """
from pytest_fairquant import assert_no_bias_amplification

def test_gate(model, quantized_model, demographic_split):
    assert_no_bias_amplification(model, quantized_model, demographic_split)
"""

#: Every field of a comparison that a verdict table shows.
COLUMNS = (
    "attribute",
    "gap",
    "verdict",
    "base_gap",
    "compressed_gap",
    "delta",
    "upper_bound",
    "p_value",
    "n",
    "reasons",
)


def _table(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = [
        (r["method"], *(json.dumps(r["comparison"][c]) for c in COLUMNS))
        for r in report["comparisons"]
    ]
    return sorted(rows)


def test_pytest_and_sweep_give_identical_verdict_tables(
    fq: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    fq.makepyfile(test_gate=GATE)
    methods = "uniform-int8,uniform-int2"
    # The sweep in its own process: torch cannot load its lazy modules twice in this one, and
    # in-process pytester runs remove what they imported.
    monkeypatch.setenv("PYTHONPATH", str(fq.path))
    swept = fq.run(
        sys.executable,
        "-m",
        "pytest_fairquant",
        "sweep",
        "--model=fq_factories:make_model",
        "--data=fq_factories:make_split",
        f"--methods={methods}",
        "--n-boot=200",
        "--cache-dir=",
        "--report=sweep.json",
    )
    assert swept.ret == cli.EXIT_FAIL, swept.stderr.str()
    result = fq.runpytest(f"--fairquant-quantization={methods}", "--fairquant-report=pytest.json")
    result.assert_outcomes(failed=2)  # int8 undecided on 600 samples, int2 collapses the model
    via_pytest = json.loads(Path(fq.path, "pytest.json").read_text())
    via_sweep = json.loads(Path(fq.path, "sweep.json").read_text())
    # Both attributes (gender, race without its 'tiny' group), both methods, same numbers.
    assert len(_table(via_pytest)) == 4
    assert _table(via_sweep) == _table(via_pytest)
    assert via_sweep["splits"] == via_pytest["splits"]
