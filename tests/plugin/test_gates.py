"""The gates in array form (exact control of the data): verdicts, outcomes, failure text, JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from pytest_fairquant.gate import MSG_UNKNOWN_ATTRIBUTE

# Three groups; FLIPS correct base predictions of group "b" turn wrong in the compressed model.
GATES = """
import numpy as np
import pytest
from pytest_fairquant import DemographicSplit, assert_fvo_below, assert_no_bias_amplification


def data(sizes, flips):
    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b", "c"], sizes)
    y = rng.integers(0, 2, size=len(groups))
    base = np.where(rng.random(len(y)) < 0.9, y, 1 - y)
    compressed = base.copy()
    hit = np.flatnonzero((groups == "b") & (base == y))[:flips]
    compressed[hit] = 1 - compressed[hit]
    return dict(y_true=y, base_pred=base, compressed_pred=compressed, sensitive_features=groups)


def test_pass():
    # 3,000 unchanged samples per group rule out a change of 0.02; 300 would not.
    comparison = assert_no_bias_amplification(**data([3000, 3000, 3000], 0), tolerance=0.02)
    assert comparison.verdict == "pass"


def test_fail():
    assert_no_bias_amplification(**data([1500, 1500, 1500], 60), tolerance=0.02)


def test_inconclusive():
    assert_no_bias_amplification(**data([40, 40, 40], 2), tolerance=0.02)


def test_insufficient():
    assert_no_bias_amplification(**data([300, 300, 10], 0), tolerance=0.02)


def test_fvo_below_pass():
    d = data([300, 300, 300], 0)
    assert_fvo_below(y_true=d["y_true"], y_pred=d["base_pred"],
                     sensitive_features=d["sensitive_features"], threshold=0.15)


def test_fvo_below_fail():
    d = data([300, 300, 300], 120)
    assert_fvo_below(y_true=d["y_true"], y_pred=d["compressed_pred"],
                     sensitive_features=d["sensitive_features"], threshold=0.05)


def test_fvo_below_inconclusive():
    d = data([40, 40, 40], 0)
    assert_fvo_below(y_true=d["y_true"], y_pred=d["base_pred"],
                     sensitive_features=d["sensitive_features"], threshold=0.1)


def test_fvo_below_insufficient():
    d = data([300, 300, 10], 0)
    assert_fvo_below(y_true=d["y_true"], y_pred=d["base_pred"],
                     sensitive_features=d["sensitive_features"], threshold=0.1)
"""


@pytest.fixture
def gates(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_g=GATES)
    pytester.makeini("[pytest]\naddopts = -p no:hypothesispytest -p no:cacheprovider")
    return pytester


def test_verdicts_map_to_outcomes_by_default(gates: pytest.Pytester) -> None:
    result = gates.runpytest("-rA")
    outcomes = {
        line.split("::")[-1].split(" ")[0]: line.split(" ")[0]
        for line in result.outlines
        if line.startswith(("PASSED", "FAILED"))
    }
    assert outcomes == {
        "test_pass": "PASSED",
        "test_fail": "FAILED",
        "test_inconclusive": "FAILED",
        "test_insufficient": "FAILED",
        "test_fvo_below_pass": "PASSED",
        "test_fvo_below_fail": "FAILED",
        "test_fvo_below_inconclusive": "FAILED",
        "test_fvo_below_insufficient": "FAILED",
    }
    text = result.stdout.str()
    assert "FairnessAssertionError: FAIL: fvo gap on 'group' grew by" in text
    assert "INCONCLUSIVE: fvo gap on 'group'" in text
    assert "INSUFFICIENT_DATA: fvo gap on 'group'" in text


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [("xfail", {"xfailed": 4}), ("skip", {"skipped": 4}), ("pass-with-warning", {"passed": 4})],
)
def test_inconclusive_setting_maps_undecided_verdicts(
    gates: pytest.Pytester, mode: str, outcome: dict[str, int]
) -> None:
    # -W: the outer suite turns warnings into errors; the inner run shows them as warnings.
    result = gates.runpytest(
        f"--fairquant-inconclusive={mode}",
        "-k",
        "inconclusive or insufficient",
        "-W",
        "default::pytest_fairquant.gate.InconclusiveWarning",
    )
    result.assert_outcomes(
        **outcome, deselected=4, warnings=4 if mode == "pass-with-warning" else 0
    )


def test_marker_sets_the_inconclusive_outcome_for_one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked=GATES.replace(
            "def test_inconclusive",
            '@pytest.mark.fairquant(inconclusive="xfail")\ndef test_inconclusive',
        )
    )
    result = pytester.runpytest("-k", "inconclusive or insufficient", "-p", "no:hypothesispytest")
    result.assert_outcomes(xfailed=1, failed=3, deselected=4)


def test_a_marker_a_conftest_adds_at_collection_is_honoured(pytester: pytest.Pytester) -> None:
    """Teams mark tests from a conftest's ``pytest_collection_modifyitems``; the plugin's own
    hook runs first (xdist needs its groups early), so it used to read the settings before the
    conftest's marker existed and silently gated with the session settings."""
    pytester.makepyfile(test_marked=GATES)
    pytester.makeconftest(
        """
import pytest

def pytest_collection_modifyitems(items):
    for item in items:
        if item.name == "test_inconclusive":
            item.add_marker(pytest.mark.fairquant(inconclusive="xfail"))
"""
    )
    result = pytester.runpytest("-k", "inconclusive or insufficient", "-p", "no:hypothesispytest")
    result.assert_outcomes(xfailed=1, failed=3, deselected=4)


def test_failure_text_is_pinned(gates: pytest.Pytester) -> None:
    result = gates.runpytest("-k", "test_fail and not fvo")
    result.assert_outcomes(failed=1, deselected=7)
    message = _failure_message(result)
    assert message == PINNED_FAIL


def test_one_model_failure_text_is_pinned(gates: pytest.Pytester) -> None:
    result = gates.runpytest("-k", "test_fvo_below_fail")
    result.assert_outcomes(failed=1, deselected=7)
    assert _failure_message(result) == PINNED_FVO_BELOW


def _failure_message(result: pytest.RunResult) -> str:
    """The FairnessAssertionError text as pytest prints it (the E lines), without the prefix."""
    lines = [line[8:] for line in result.outlines if line.startswith("E   ")]
    first = lines[0].split("FairnessAssertionError: ", 1)[1]
    return "\n".join([first, *lines[1:]])


PINNED_FAIL = """\
FAIL: fvo gap on 'group' grew by +0.0400 (dense 0.0113 -> compressed 0.0513), beyond the tolerance 0.0200
  group         n   dense  compressed    delta        95% interval       limit
  [fvo gap]  4500  0.0113      0.0513  +0.0400  [+0.0246, +0.0507]  <= +0.0200
  b          1500  0.8993      0.8593  -0.0400  [-0.0513, -0.0307]  >= -0.0200
  a          1500  0.9107      0.9107  +0.0000  [+0.0000, +0.0000]  >= -0.0200
  c          1500  0.9100      0.9100  +0.0000  [+0.0000, +0.0000]  >= -0.0200
accuracy per group; p = 0.0005 (paired swap permutation test of the fvo change (1999 permutations); correction: none (one test of the gap)), alpha 0.05, 1000 bootstrap resamples, seed 0
utility ok: largest accuracy drop +0.0400 (b), limit 0.05
hint: the compressed model is measurably less fair; try a gentler method, calibrate or fine-tune after compression, or raise tolerance= if this change is acceptable."""


PINNED_FVO_BELOW = """\
FAIL: fvo gap on 'group' of the model is 0.3933, above the threshold 0.0500
  group        n  accuracy  to best      95% interval      limit
  [fvo gap]  900    0.3933           [0.3399, 0.4600]  <= 0.0500
  b          300    0.5333  -0.3933  [0.4767, 0.5900]
  c          300    0.9200  -0.0067  [0.8900, 0.9500]
  a          300    0.9267  +0.0000  [0.8933, 0.9533]
accuracy per group; p = 4.4e-25 (one-sided z test per ordered group pair (bootstrap standard errors); correction: bonferroni over group pairs), alpha 0.05, 1000 bootstrap resamples, seed 0
hint: this model's groups differ by more than the threshold; look at the worst groups above (data, thresholds per group), or raise threshold= if the gap is acceptable."""


def test_headline_numbers_reach_junit_xml(gates: pytest.Pytester) -> None:
    gates.runpytest("--junitxml=out.xml", "-k", "test_pass or test_fail and not fvo")
    root = ET.parse(gates.path / "out.xml").getroot()
    props: dict[str, dict[str, Any]] = {}
    for case in root.iter("testcase"):
        props[case.get("name", "")] = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["test_pass"]["fairquant.group.fvo.verdict"] == "pass"
    assert props["test_fail"]["fairquant.group.fvo.verdict"] == "fail"
    assert float(props["test_fail"]["fairquant.group.fvo.delta"]) > 0.02
    assert props["test_fail"]["fairquant.group.fvo.worst_group"] == "b"


def test_attribute_the_split_does_not_have(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import numpy as np
        from pytest_fairquant import DemographicSplit, assert_no_bias_amplification

        def test_attr():
            y = np.array([0, 1] * 50)
            split = DemographicSplit(y, {"gender": np.array(["f", "m"] * 50)})
            assert_no_bias_amplification(split=split, base_pred=y, compressed_pred=y, attribute="race")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert MSG_UNKNOWN_ATTRIBUTE.format(name="race", known=["gender"]) in result.stdout.str()


def test_failure_table_shows_the_worst_groups_first_and_caps_the_rows() -> None:
    import numpy as np

    from pytest_fairquant.gate import MAX_ROWS, FairnessAssertionError, assert_no_bias_amplification

    rng = np.random.default_rng(0)
    names = [f"g{i:02d}" for i in range(MAX_ROWS + 4)]
    groups = np.repeat(names, 200)
    y = rng.integers(0, 2, size=len(groups))
    base = np.where(rng.random(len(y)) < 0.9, y, 1 - y)
    compressed = base.copy()
    # Group g03 loses the most, g07 a little less.
    for name, flips in (("g03", 80), ("g07", 40)):
        hit = np.flatnonzero((groups == name) & (base == y))[:flips]
        compressed[hit] = 1 - compressed[hit]
    with pytest.raises(FairnessAssertionError) as info:
        assert_no_bias_amplification(
            y_true=y,
            base_pred=base,
            compressed_pred=compressed,
            sensitive_features=groups,
            tolerance=0.02,
            n_boot=200,
        )
    lines = str(info.value).splitlines()
    rows = [line.split()[0] for line in lines[3 : 3 + MAX_ROWS]]
    assert rows[:2] == ["g03", "g07"]
    assert len(set(rows)) == MAX_ROWS
    assert lines[3 + MAX_ROWS] == "  ... 4 more groups (see the session report)"
