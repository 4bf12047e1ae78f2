"""A failing gate's diagnosis and attribution in its record, its message and the report (issue 12):
``fairquant_diagnose`` (failing, all, off), ``fairquant_diagnose_hessian`` and
``fairquant_attribution`` as flags, ini keys and marker keywords, computed once per comparison,
through xdist, and the attribution's progress lines.

The inner runs gate the attribution tests' two-branch model (``test_attribution._setup``):
uniform-int2 harms group b through ``branch_b`` only, so the gate fails and skipping
``branch_b`` makes it pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_fairquant.diagnostics import FIELDS, FLIP_KEYS
from pytest_fairquant.gate import NOTE_NO_MODELS, NOTE_NOT_COMPRESSED
from pytest_fairquant.report.html import MSG_DIAGNOSE_OFF
from pytest_fairquant.settings import MSG_INVALID

TESTS = Path(__file__).resolve().parents[1]

BRANCHES = """
from test_attribution import _setup

def load_model():
    return _setup()[0]

def load_split():
    return _setup()[1]
"""

INI = f"""
[pytest]
addopts = -p no:hypothesispytest -p no:cacheprovider -p no:randomly
pythonpath = . {TESTS}
fairquant_model = branches:load_model
fairquant_data = branches:load_split
fairquant_quantization = uniform-int2
fairquant_pruning =
fairquant_attribute = g
fairquant_device = cpu
fairquant_cache_dir =
fairquant_n_boot = 200
"""

#: The gate, counting the diagnose() calls it makes.
GATE = """
import json
import pytest
import pytest_fairquant.diagnostics as diagnostics
from pytest_fairquant import assert_no_bias_amplification

{marker}
def test_gate(model, quantized_model, demographic_split, monkeypatch):
    calls = []
    real = diagnostics.diagnose
    monkeypatch.setattr(diagnostics, "diagnose", lambda *a, **k: calls.append(1) or real(*a, **k))
    try:
        assert_no_bias_amplification(model, quantized_model, demographic_split, {options})
    finally:
        print("CALLS=" + json.dumps(len(calls)))
"""

#: Passes: the harm is within this tolerance and utility guard.
LENIENT = "tolerance=0.9, max_utility_drop=0.5"

#: The failure message's attribution hint on the two-branch model.
HINT = (
    "attribution: most of the harm is in branch_b (100%); skip=['branch_b'] makes the gate "
    "pass, keeping 40% of the weights compressed (1.00x smaller)"
)

#: What a terminal would say of itself: the inner run's output is a pipe, so tell its reporter.
AS_IF_A_TERMINAL = """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.pluginmanager.get_plugin("terminalreporter").isatty = lambda: True
"""


@pytest.fixture
def branches(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(branches=BRANCHES)
    pytester.makeini(INI)
    return pytester


def _gate(pytester: pytest.Pytester, marker: str = "", options: str = "") -> None:
    pytester.makepyfile(test_gate=GATE.format(marker=marker, options=options))


def _record(pytester: pytest.Pytester, name: str = "out.json") -> dict[str, Any]:
    report = json.loads((pytester.path / name).read_text(encoding="utf-8"))
    (record,) = report["comparisons"]
    return dict(record)


def _message(result: pytest.RunResult) -> list[str]:
    """The failure message's lines (pytest prefixes them with ``E``)."""
    return [line[1:].strip() for line in result.outlines if line.startswith("E ")]


def test_a_failing_gate_records_the_diagnosis_its_message_shows(
    branches: pytest.Pytester, printed: Any
) -> None:
    _gate(branches)
    result = branches.runpytest("-s", "--fairquant-report=out.html")
    result.assert_outcomes(failed=1)
    assert printed(result, "CALLS") == 1  # the message and the record share one diagnosis
    record = _record(branches)
    diagnosis = record["diagnosis"]
    assert "attribution" not in record and "notes" not in record
    assert (diagnosis["attribute"], diagnosis["method"], diagnosis["n"]) == (
        "g",
        "uniform-int2",
        256,
    )
    assert diagnosis["groups"] == ["a", "b"]
    for table in ("by_group", "dense_by_group"):
        b = diagnosis[table]["b"]
        assert set(FIELDS) <= set(b) and set(b["flips"]) == set(FLIP_KEYS)
        # λmax is not computed by default (fairquant_diagnose_hessian), and the JSON says so.
        assert b["hessian_lambda_max"] is None
        assert b["undefined"]["hessian_lambda_max"]["reason"] == "not_applicable"
    dense, comp = diagnosis["dense_by_group"]["b"], diagnosis["by_group"]["b"]
    line = _message(result)[-1]
    assert line == (
        f"diagnosis (g): group 'b': loss {dense['loss']:.3g}→{comp['loss']:.3g}, "
        f"‖G‖ {dense['grad_norm']:.3g}→{comp['grad_norm']:.3g}, "
        f"uncertain {dense['uncertainty']:.0%}→{comp['uncertainty']:.0%}, "
        f"{comp['flips']['dense_right_compressed_wrong']} harmed / 0 helped of 128"
    )
    page = branches.path / "out.html"
    if page.exists():  # the HTML renderer (matplotlib) is installed
        text = page.read_text(encoding="utf-8")
        assert '<h2 id="diagnostics">Diagnostics</h2>' in text
        assert "<b>Diagnosis — uniform-int2, g</b>" in text


def test_diagnose_all_diagnoses_passing_comparisons_too(branches: pytest.Pytester) -> None:
    _gate(branches, options=LENIENT)
    branches.runpytest("--fairquant-report=out.json").assert_outcomes(passed=1)
    assert "diagnosis" not in _record(branches)  # failing, the default, leaves a pass alone
    branches.runpytest("--fairquant-report=out.json", "--fairquant-diagnose=all").assert_outcomes(
        passed=1
    )
    record = _record(branches)
    assert record["comparison"]["verdict"] == "pass"
    assert record["diagnosis"]["by_group"]["b"]["n"] == 128


def test_diagnose_off_computes_nothing_and_the_panel_says_so(
    branches: pytest.Pytester, printed: Any
) -> None:
    branches.makeini(INI + "fairquant_diagnose = off\n")
    _gate(branches)
    result = branches.runpytest("-s", "--fairquant-report=out.html")
    result.assert_outcomes(failed=1)
    assert printed(result, "CALLS") == 0
    assert not any(line.startswith("diagnosis") for line in _message(result))
    assert "diagnosis" not in _record(branches)
    page = branches.path / "out.html"
    if page.exists():
        assert MSG_DIAGNOSE_OFF in page.read_text(encoding="utf-8")


def test_marker_keywords_set_diagnose_and_attribution_for_one_test(
    branches: pytest.Pytester,
) -> None:
    branches.makepyfile(
        test_marked="""
        import pytest
        from pytest_fairquant import assert_no_bias_amplification

        @pytest.mark.fairquant(diagnose="off", attribution=True)
        def test_attributed(model, quantized_model, demographic_split):
            assert_no_bias_amplification(model, quantized_model, demographic_split)

        @pytest.mark.fairquant(diagnose="all", diagnose_hessian=True)
        def test_lenient(model, quantized_model, demographic_split):
            assert_no_bias_amplification(model, quantized_model, demographic_split,
                                         tolerance=0.9, max_utility_drop=0.5)
        """
    )
    result = branches.runpytest("--fairquant-report=out.json")
    result.assert_outcomes(passed=1, failed=1)
    rows = json.loads((branches.path / "out.json").read_text(encoding="utf-8"))["comparisons"]
    attributed, lenient = sorted(rows, key=lambda r: r["nodeid"])
    assert "diagnosis" not in attributed and attributed["attribution"]["skip"] == ["branch_b"]
    assert _message(result)[-1] == HINT
    # λmax on request: the power iterations ran and converged for each group and model.
    b = lenient["diagnosis"]["by_group"]["b"]
    assert b["hessian_lambda_max"] > 0 and b["hessian_iterations"] > 0 and b["hessian_converged"]
    assert lenient["diagnosis"]["settings"]["hessian"] is True


def test_attribution_names_the_layers_and_the_skip_list_with_the_gates_settings(
    branches: pytest.Pytester,
) -> None:
    _gate(branches)
    flags = ("--fairquant-attribution=true", "--fairquant-tolerance=0.03", "--fairquant-alpha=0.01")
    result = branches.runpytest("--fairquant-report=out.html", *flags)
    result.assert_outcomes(failed=1)
    lines = _message(result)
    assert lines[-2].startswith("diagnosis (g): group 'b'")
    assert lines[-1] == HINT
    attribution = _record(branches)["attribution"]
    assert (attribution["method"], attribution["attribute"], attribution["gap"]) == (
        "uniform-int2",
        "g",
        "fvo",
    )
    assert attribution["tolerance"] == 0.03 and attribution["full"]["alpha"] == 0.01
    assert [layer["layer"] for layer in attribution["layers"]] == ["branch_b", "branch_a"]
    assert attribution["skip"] == ["branch_b"]
    assert attribution["skip_comparison"]["verdict"] == "pass"
    page = branches.path / "out.html"
    if page.exists():
        text = page.read_text(encoding="utf-8")
        assert "Attribution of uniform-int2 (7 evaluations)" in text
        assert "<td><code>branch_b</code></td><td>12</td><td>100.0%</td>" in text


def test_attribution_progress_on_a_terminal_quiet_under_q(branches: pytest.Pytester) -> None:
    branches.makeconftest(AS_IF_A_TERMINAL)
    _gate(branches)
    result = branches.runpytest("--fairquant-attribution=true")
    result.assert_outcomes(failed=1)
    head = "fairquant: attributing uniform-int2 on g:"
    result.stdout.fnmatch_lines(
        [
            f"{head} every layer ... done in *.* s, fvo Δ +0.3788, fail",
            f"{head} branch_a alone (1/2) ... done in *.* s, fvo Δ +0.0000, pass",
            f"{head} all but branch_a (1/2) ... done in *.* s, fvo Δ +0.3788, fail",
            f"{head} branch_b alone (2/2) ... done in *.* s, fvo Δ +0.3788, fail",
            f"{head} all but branch_b (2/2) ... done in *.* s, fvo Δ +0.0000, pass",
            f"{head} skip=?'branch_b'? ... done in *.* s, fvo Δ +0.0000, pass",
        ]
    )
    quiet = branches.runpytest("--fairquant-attribution=true", "-q")
    quiet.assert_outcomes(failed=1)
    assert head not in quiet.stdout.str()


def test_gates_without_two_compressed_models_have_no_diagnosis_or_attribution_and_say_why(
    branches: pytest.Pytester,
) -> None:
    branches.makepyfile(
        test_other="""
        import copy
        import torch
        from pytest_fairquant import assert_no_bias_amplification
        from pytest_fairquant.evaluate import predict

        def test_predictions(model, quantized_model, demographic_split):
            dense = predict(model, demographic_split, method="dense")
            variant = predict(quantized_model, demographic_split, method="uniform-int2")
            assert_no_bias_amplification(dense, variant, demographic_split)

        def test_hand_made(model, demographic_split):
            edited = copy.deepcopy(model)
            with torch.no_grad():
                edited.branch_b.weight.mul_(-1)
            assert_no_bias_amplification(model, edited, demographic_split)
        """
    )
    result = branches.runpytest("--fairquant-report=out.html", "--fairquant-attribution=true")
    result.assert_outcomes(failed=2)
    rows = json.loads((branches.path / "out.json").read_text(encoding="utf-8"))["comparisons"]
    hand_made, predictions = sorted(rows, key=lambda r: r["nodeid"])
    assert "diagnosis" not in predictions and "attribution" not in predictions
    assert predictions["notes"] == [
        NOTE_NO_MODELS.format(what="diagnosis", call="diagnose()"),
        NOTE_NO_MODELS.format(what="attribution", call="attribute_harm()"),
    ]
    # Two models, so a diagnosis; no compression method to replay, so no attribution.
    assert hand_made["diagnosis"]["method"] == "dense"
    why = NOTE_NOT_COMPRESSED.format(why="a TwoBranches without one")
    assert hand_made["notes"] == [why]
    assert why in result.stdout.str()
    page = branches.path / "out.html"
    if page.exists():
        assert NOTE_NO_MODELS.format(what="diagnosis", call="diagnose()") in page.read_text(
            encoding="utf-8"
        )


@pytest.mark.parametrize(
    ("args", "ini", "marker", "message"),
    [
        (
            ["--fairquant-diagnose=sometimes"],
            "",
            "",
            MSG_INVALID.format(
                shown="--fairquant-diagnose=sometimes",
                source="command line",
                problem="diagnose must be one of failing, all, off",
            ),
        ),
        (
            [],
            "fairquant_attribution = maybe\n",
            "",
            MSG_INVALID.format(
                shown="fairquant_attribution = maybe",
                source="tox.ini [pytest]",
                problem="attribution must be true or false",
            ),
        ),
        (
            [],
            "",
            '@pytest.mark.fairquant(diagnose_hessian="x")',
            MSG_INVALID.format(
                shown="diagnose_hessian='x'",
                source="@pytest.mark.fairquant on test_gate.py::test_gate",
                problem="diagnose_hessian must be true or false",
            ),
        ),
    ],
    ids=["flag", "ini", "marker"],
)
def test_bad_values_name_the_setting_and_where_it_came_from(
    branches: pytest.Pytester, args: list[str], ini: str, marker: str, message: str
) -> None:
    branches.makeini(INI + ini)
    _gate(branches, marker=marker)
    result = branches.runpytest(*args)
    # A marker's bad value is the collection error of its module (the variants are
    # parametrized by its settings), a flag's or ini key's a usage error before any test.
    bad = pytest.ExitCode.INTERRUPTED if marker else pytest.ExitCode.USAGE_ERROR
    assert result.ret == bad
    assert f"fairquant: {message}" in (result.stderr.str() + result.stdout.str())


@pytest.mark.slow  # the default suite's 10-minute budget on 2 cores (README: how to run it)
def test_diagnosis_and_attribution_travel_from_xdist_workers(branches: pytest.Pytester) -> None:
    _gate(branches)
    branches.makepyfile(test_again=GATE.format(marker="", options=""))
    flags = ["--fairquant-attribution=true"]
    serial = branches.runpytest_subprocess("--fairquant-report=serial.json", *flags)
    serial.assert_outcomes(failed=2)
    parallel = branches.runpytest_subprocess("-n", "2", "--fairquant-report=parallel.json", *flags)
    parallel.assert_outcomes(failed=2)
    a, b = (
        json.loads((branches.path / name).read_text(encoding="utf-8"))["comparisons"]
        for name in ("serial.json", "parallel.json")
    )
    assert [r["attribution"]["skip"] for r in b] == [["branch_b"], ["branch_b"]]
    assert all(r["diagnosis"]["by_group"]["b"]["n"] == 128 for r in b)
    assert a == b
