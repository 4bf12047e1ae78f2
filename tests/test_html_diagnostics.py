"""The HTML report's diagnostics panel (issue 12): per failing comparison, per-group bars dense vs
compressed (loss, gradient norm, λmax when computed, uncertainty), every value and the flip
counts, the attribution; a failing comparison without a diagnosis says why; in a real browser.

The diagnosis and the attribution are the real :func:`diagnose` and :func:`attribute_harm` on
the attribution tests' two-branch model, where uniform-int2 harms group b through ``branch_b``.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_attribution import _setup
from test_html_report import CHROMIUM, LAYOUT_PROBE, _chromium

from pytest_fairquant import attribute_harm, compress, diagnose
from pytest_fairquant.evaluate import predict
from pytest_fairquant.gate import NOTE_NO_MODELS
from pytest_fairquant.report import build_report
from pytest_fairquant.report.html import (
    MSG_NO_DIAGNOSIS,
    _diagnosis_plot,
    render,
)
from pytest_fairquant.report.model import ComparisonRow, ReportFormatError, SessionReport
from pytest_fairquant.stats import compare

NODE = "tests/test_fairness.py::test_keeps_fvo[uniform-int2]"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    model, split = _setup()
    variant = compress(model, "uniform-int2")
    dense, comp = (predict(m, split, device="cpu", progress=False) for m in (model, variant))
    comparison = compare(
        split.labels,
        dense.pred,
        comp.pred,
        sensitive_features=split.sensitive_features("g"),
        attribute="g",
        tolerance=0.02,
        n_boot=100,
    )
    assert comparison.verdict == "fail"
    diagnosis = diagnose(model, variant, split, attribute="g", device="cpu", hessian_samples=16)
    attribution = attribute_harm(
        model, "uniform-int2", split, attribute="g", tolerance=0.02, n_boot=100, device="cpu"
    )
    base = {"gate": "assert_no_bias_amplification", "method": "uniform-int2"}
    records = [
        {
            **base,
            "nodeid": NODE,
            "comparison": comparison.to_dict(),
            "diagnosis": diagnosis.to_dict(),
            "attribution": attribution.to_dict(),
        },
        {
            **base,
            "nodeid": "tests/test_fairness.py::test_on_predictions[uniform-int2]",
            "comparison": comparison.to_dict(),
            "notes": [NOTE_NO_MODELS.format(what="diagnosis", call="diagnose()")],
        },
        {
            **base,
            "nodeid": "tests/test_fairness.py::test_old[uniform-int2]",
            "comparison": comparison.to_dict(),
        },
    ]
    built = build_report(
        records, settings={"seed": 0, "diagnose": "failing"}, methods={}, splits={}, command=[]
    )
    return dict(json.loads(json.dumps(built, allow_nan=False)))


@pytest.fixture(scope="module")
def page(report: dict[str, Any]) -> str:
    return render(report)


def _panels(page: str) -> list[str]:
    section = page.split('<h2 id="diagnostics">Diagnostics</h2>', 1)[1]
    return re.findall(r'<details class="diagnostics" open>.*?</details>', section, re.S)


def test_one_panel_per_failing_comparison_with_bars_values_and_flips(
    page: str, report: dict[str, Any]
) -> None:
    diagnosed, old, on_predictions = _panels(page)  # in test order
    assert "<b>Diagnosis — uniform-int2, g</b>" in diagnosed and "<svg" in diagnosed
    b = report["comparisons"][0]["diagnosis"]["by_group"]["b"]
    flips = b["flips"]
    row = (
        f"<tr><td>b</td><td>{b['n']}</td><td>{flips['dense_right_compressed_wrong']}</td>"
        f"<td>{flips['dense_wrong_compressed_right']}</td><td>{flips['both_right']}</td>"
        f"<td>{flips['both_wrong']}</td></tr>"
    )
    assert row in diagnosed
    dense_loss = report["comparisons"][0]["diagnosis"]["dense_by_group"]["b"]["loss"]
    assert f"<td>{dense_loss:.4f} → {b['loss']:.4f}</td>" in diagnosed
    assert "Hessian computed" in diagnosed
    assert NOTE_NO_MODELS.format(what="diagnosis", call="diagnose()") in on_predictions
    assert "<svg" not in on_predictions
    assert html.escape(MSG_NO_DIAGNOSIS, quote=True) in old


def test_the_attribution_shows_layers_shares_and_the_skip_list(page: str) -> None:
    diagnosed = _panels(page)[0]
    assert "<h4>Attribution of uniform-int2 (" in diagnosed
    assert "<td><code>branch_b</code></td><td>12</td><td>100.0%</td>" in diagnosed
    assert "skip=[&#x27;branch_b&#x27;] makes the gate pass" in diagnosed


def test_lambda_max_is_drawn_only_when_computed(report: dict[str, Any]) -> None:
    row = ComparisonRow.from_dict(report["comparisons"][0])
    colours = {"dense": "#555555", "uniform-int2": "#1f77b4"}
    plot = _diagnosis_plot(row, colours)
    assert plot is not None
    titles = [ax.get_title() for ax in plot.figure.axes]
    assert titles == ["mean loss", "gradient norm ‖G‖", "Hessian λmax", "uncertain share"]
    without = json.loads(json.dumps(report["comparisons"][0]))
    for table in ("by_group", "dense_by_group"):
        for entry in without["diagnosis"][table].values():
            entry["hessian_lambda_max"] = None
    plot = _diagnosis_plot(ComparisonRow.from_dict(without), colours)
    assert plot is not None
    assert [ax.get_title() for ax in plot.figure.axes] == [
        "mean loss",
        "gradient norm ‖G‖",
        "uncertain share",
    ]


def test_the_report_model_keeps_the_diagnosis_and_names_a_malformed_one(
    report: dict[str, Any],
) -> None:
    again = SessionReport.from_dict(report).to_dict()
    assert again["comparisons"] == report["comparisons"]
    bad = json.loads(json.dumps(report))
    bad["comparisons"][0]["diagnosis"] = "loss went up"
    with pytest.raises(ReportFormatError, match=r"comparisons\[0\]: 'diagnosis' must be a dict"):
        SessionReport.from_dict(bad)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium)")
def test_chromium_renders_the_panel_at_1280px_without_overlaps(page: str, tmp_path: Path) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", LAYOUT_PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path / "profile", "--dump-dom", probed.as_uri()).stdout
    assert '<h2 id="diagnostics">Diagnostics</h2>' in dom
    assert '<figure class="wide">' in dom and '<table class="flips">' in dom
    layout = json.loads(html.unescape(dom.split('<pre id="layout">', 1)[1].split("</pre>", 1)[0]))
    assert layout["page"] <= layout["viewport"] == 1280
    assert layout["overlaps"] == []
    logged = _chromium(
        tmp_path / "profile",
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={tmp_path / 'shot.png'}",
        probed.as_uri(),
    ).stderr
    assert [line for line in logged.splitlines() if ":CONSOLE" in line] == []
