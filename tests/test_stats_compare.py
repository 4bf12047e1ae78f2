"""compare / assess_gap / compare_units: gap values, verdicts, reasons, determinism, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytest_fairquant
from pytest_fairquant import metrics
from pytest_fairquant._arrays import MSG_LENGTH, MSG_NOT_LABELS
from pytest_fairquant.errors import InputError
from pytest_fairquant.metrics import MSG_SINGLE_GROUP, MSG_UNKNOWN_GAP
from pytest_fairquant.stats import (
    MSG_ALPHA,
    MSG_ASSESS_GAP,
    MSG_BA_TRAIN,
    MSG_DROP_METRIC,
    MSG_N_BOOT,
    MSG_NOISE_FLOOR,
    MSG_TOLERANCE,
    MSG_UNIT_GAP,
    Comparison,
    assess_gap,
    compare,
    compare_units,
)

FAST = {"n_boot": 200, "n_permutations": 499}


def make(
    sizes: tuple[int, ...] = (1500, 1500, 600),
    accuracy: tuple[float, ...] = (0.9, 0.88, 0.85),
    drop: dict[int, float] | None = None,
    flip: float = 0.04,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Binary labels, dense/compressed predictions and string groups; ``drop`` adds harm."""
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    acc = np.asarray(accuracy)[codes]
    extra = np.array([(drop or {}).get(g, 0.0) for g in range(len(sizes))])[codes]
    y = rng.integers(0, 2, len(codes))
    ok = rng.random(len(codes)) < acc
    u = rng.random(len(codes))
    comp_ok = np.where(ok & (u < (flip / 2 + extra) / acc), False, ok)
    comp_ok = np.where(~ok & (u < (flip / 2) / (1 - acc)), True, comp_ok)
    groups = np.array(["a", "b", "c", "d", "e"])[codes]
    return y, np.where(ok, y, 1 - y), np.where(comp_ok, y, 1 - y), groups


# --------------------------------------------------------------------------- gap values


@pytest.mark.parametrize(
    ("gap", "reference"),
    [
        ("fvo", metrics.fvo),
        ("tpr", metrics.true_positive_rate_difference),
        ("fpr", metrics.false_positive_rate_difference),
        ("equalized_odds", metrics.equalized_odds_difference),
        ("demographic_parity", metrics.demographic_parity_difference),
    ],
)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_gaps_equal_the_metrics_functions(gap: str, reference, n_classes: int) -> None:
    rng = np.random.default_rng(1)
    n = 1200
    y = rng.integers(0, n_classes, n)
    base = np.where(rng.random(n) < 0.8, y, rng.integers(0, n_classes, n))
    comp = np.where(rng.random(n) < 0.1, rng.integers(0, n_classes, n), base)
    groups = rng.integers(0, 3, n)
    if gap == "demographic_parity" and n_classes > 2:
        # Macro-averaged selection rates are 1/C in every group: such a gate could only pass.
        with pytest.raises(InputError, match="always 0"):
            compare(y, base, comp, sensitive_features=groups, gap=gap)
        return
    c = compare(y, base, comp, sensitive_features=groups, gap=gap, n_boot=20, n_permutations=29)
    ref_base = reference(y, base, sensitive_features=groups)
    ref_comp = reference(y, comp, sensitive_features=groups)
    assert c.base_gap == pytest.approx(ref_base, abs=1e-12)
    assert c.compressed_gap == pytest.approx(ref_comp, abs=1e-12)
    assert c.delta == pytest.approx(ref_comp - ref_base, abs=1e-12)


def test_bias_amplification_gap_equals_the_metric() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    identity = rng.integers(0, 2, n)
    y = (rng.random(n) < np.where(identity == 1, 0.4, 0.2)).astype(int)
    base = np.where(rng.random(n) < 0.85, y, 1 - y)
    comp = np.where((identity == 1) & (rng.random(n) < 0.1), 1, base)
    train_y = (rng.random(n) < np.where(identity == 1, 0.4, 0.2)).astype(int)
    c = compare(
        y,
        base,
        comp,
        sensitive_features=identity,
        gap="bias_amplification",
        train_y_true=train_y,
        train_sensitive_features=identity,
        **FAST,
    )
    kwargs = {
        "sensitive_features": identity,
        "train_y_true": train_y,
        "train_sensitive_features": identity,
    }
    assert c.base_gap == pytest.approx(metrics.bias_amplification(y, base, **kwargs), abs=1e-12)
    assert c.compressed_gap == pytest.approx(
        metrics.bias_amplification(y, comp, **kwargs), abs=1e-12
    )
    assert c.verdict == "fail"


def test_bias_amplification_with_a_small_train_gap_is_an_error_verdict() -> None:
    rng = np.random.default_rng(3)
    identity = rng.integers(0, 2, 1000)
    y = rng.integers(0, 2, 1000)
    train_y = np.tile([0, 1], 500)
    train_identity = np.tile([0, 0, 1, 1], 250)  # P(A=1 | I) = 0.5 for both identities
    c = compare(
        y,
        y,
        y,
        sensitive_features=identity,
        gap="bias_amplification",
        train_y_true=train_y,
        train_sensitive_features=train_identity,
        **FAST,
    )
    assert c.verdict == "error"
    assert "relative train gap" in c.reasons[0]
    assert c.to_dict()["undefined"]["base_gap"]["reason"] == "ba_small_train_gap"


# --------------------------------------------------------------------------- verdicts


def test_a_harmed_minority_fails_fvo_and_is_the_worst_group() -> None:
    y, base, comp, groups = make(drop={2: 0.1})
    c = compare(y, base, comp, sensitive_features=groups, gap="fvo", tolerance=0.02, **FAST)
    assert c.verdict == "fail" and not c.passed
    assert c.p_value is not None and c.p_value < 0.05
    assert c.delta > 0.02
    assert c.worst_group is not None and c.worst_group.group == "c"
    assert any(r.startswith("group c: accuracy") for r in c.reasons)
    lo, hi = c.interval
    assert lo <= c.delta <= hi


def test_accuracy_drop_fails_on_a_groups_own_loss_with_holm() -> None:
    y, base, comp, groups = make(drop={0: 0.08})
    c = compare(
        y, base, comp, sensitive_features=groups, gap="accuracy_drop", tolerance=0.02, **FAST
    )
    assert c.verdict == "fail"
    assert c.correction == "holm"
    assert "Tango" in c.test
    worst = c.worst_group
    assert worst is not None and worst.group == "a" and worst.p_adjusted < 0.05
    assert c.delta == pytest.approx(-worst.delta)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_classes=st.integers(2, 4),
    gap=st.sampled_from(
        ["fvo", "accuracy_drop", "tpr", "fpr", "equalized_odds", "demographic_parity"]
    ),
    tolerance=st.sampled_from([0.0, 0.01, 0.1]),
)
def test_a_model_compared_with_itself_never_fails_and_passes_when_groups_are_large_enough(
    seed: int, n_classes: int, gap: str, tolerance: float
) -> None:
    if gap == "demographic_parity" and n_classes > 2:
        gap = "fvo"  # multiclass demographic parity is refused (test_gaps_equal_...)
    rng = np.random.default_rng(seed)
    n = 900
    y = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n - n_classes)])
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, n_classes, n))
    groups = np.repeat([0, 1, 2], n // 3)
    c = compare(
        y,
        pred,
        pred,
        sensitive_features=groups,
        gap=gap,
        tolerance=tolerance,
        n_boot=30,
        n_permutations=29,
        min_positives=1,
    )
    assert c.verdict in ("pass", "inconclusive"), c.reasons
    assert c.delta == 0.0
    assert all(g.delta == 0.0 for g in c.groups)
    assert c.interval == (0.0, 0.0)
    assert c.utility is not None and c.utility.status == "ok"
    if tolerance == 0:
        assert c.verdict == "inconclusive"
        assert any("a pass needs a tolerance above 0" in r for r in c.reasons)
    else:
        # No flip in 300 samples per group still leaves room for harm: the bound says how much.
        assert c.upper_bound is not None and c.upper_bound > 0
        assert (c.verdict == "pass") == (c.upper_bound <= tolerance)
        assert c.verdict == "pass" or c.required_n is not None
    if tolerance == 0.1 and gap in ("fvo", "accuracy_drop", "demographic_parity"):
        # Rates over all 300 samples of a group; tpr/fpr see only a class's share of them.
        assert c.verdict == "pass", c.reasons


@pytest.mark.parametrize("gap", ["fvo", "accuracy_drop", "tpr", "equalized_odds"])
def test_the_sample_size_an_inconclusive_gate_names_makes_it_pass(gap: str) -> None:
    def itself(per_group: int) -> Comparison:
        rng = np.random.default_rng(3)
        y = rng.integers(0, 2, 2 * per_group)
        pred = np.where(rng.random(len(y)) < 0.8, y, 1 - y)
        groups = np.repeat(["a", "b"], per_group)
        return compare(y, pred, pred, sensitive_features=groups, gap=gap, tolerance=0.02, **FAST)

    small = itself(100)
    assert small.verdict == "inconclusive" and small.required_n is not None
    assert small.required_n > 100
    assert itself(small.required_n).verdict == "pass"


def test_zero_flips_in_a_small_group_say_what_is_still_possible() -> None:
    y, base, _, groups = make(sizes=(3000, 30), flip=0.0)
    c = compare(y, base, base.copy(), sensitive_features=groups, gap="fvo", tolerance=0.02, **FAST)
    assert c.verdict == "inconclusive"
    note = next(r for r in c.reasons if r.startswith("group b:"))
    assert note.startswith("group b: 0 of 30 changed; a drop up to 0.1")
    assert note.endswith("is still possible at 95% confidence")


def test_a_small_group_is_insufficient_data_with_its_size() -> None:
    y, base, comp, groups = make(sizes=(500, 500, 12))
    c = compare(y, base, comp, sensitive_features=groups, **FAST)
    assert c.verdict == "insufficient_data"
    assert c.reasons == ("group c: 12 samples, needs 30",)
    assert c.p_value is None and c.interval is None
    json.dumps(c.to_dict(), allow_nan=False)


def test_rate_gaps_need_positives_and_negatives() -> None:
    y, base, comp, groups = make(sizes=(500, 500, 40))
    y[groups == "c"] = 0
    y[np.flatnonzero(groups == "c")[:4]] = 1
    c = compare(y, base, comp, sensitive_features=groups, gap="tpr", **FAST)
    assert c.verdict == "insufficient_data"
    assert "group c: 4 positives, needs 10" in c.reasons
    e = compare(
        y, base, comp, sensitive_features=groups, gap="equalized_odds", min_positives=5, **FAST
    )
    assert e.reasons == ("group c: 4 positives, needs 5",)


def test_too_few_samples_is_inconclusive_with_the_samples_that_would_decide_it() -> None:
    y, base, comp, groups = make(sizes=(200, 200, 60), flip=0.1)
    c = compare(y, base, comp, sensitive_features=groups, gap="fvo", tolerance=0.02, **FAST)
    assert c.verdict == "inconclusive"
    assert c.required_n is not None and c.required_n > 60
    mde_reason = [r for r in c.reasons if r.startswith("minimum detectable effect")]
    assert mde_reason and f"about {c.required_n:,} samples would decide it" in mde_reason[0]
    assert "(group c, n=60): about" in mde_reason[0]


def test_zero_tolerance_explains_why_it_cannot_pass() -> None:
    y, base, comp, groups = make()
    c = compare(y, base, comp, sensitive_features=groups, gap="fvo", tolerance=0.0, **FAST)
    assert c.verdict == "inconclusive"
    assert any("a pass needs a tolerance above 0" in r for r in c.reasons)


def test_noise_floor_is_recorded_and_explained() -> None:
    y, base, comp, groups = make()
    c = compare(y, base, comp, sensitive_features=groups, noise_floor=0.003, tolerance=0.05, **FAST)
    assert c.noise_floor == 0.003
    assert any("0.30% of samples (noise floor)" in r for r in c.reasons)


def test_weights_of_one_give_the_unweighted_point_estimates() -> None:
    y, base, comp, groups = make(drop={2: 0.1})
    plain = compare(y, base, comp, sensitive_features=groups, tolerance=0.02, **FAST)
    weighted = compare(
        y,
        base,
        comp,
        sensitive_features=groups,
        tolerance=0.02,
        sample_weight=np.ones(len(y)),
        **FAST,
    )
    assert weighted.delta == pytest.approx(plain.delta, abs=1e-12)
    assert weighted.verdict == plain.verdict == "fail"


def test_downgraded_keeps_the_numbers_and_adds_the_reason() -> None:
    y, base, comp, groups = make(drop={2: 0.1})
    c = compare(y, base, comp, sensitive_features=groups, tolerance=0.02, **FAST)
    d = c.downgraded("not significant after Holm across 2 attributes")
    assert d.verdict == "inconclusive" and d.delta == c.delta
    assert d.reasons[-1] == "not significant after Holm across 2 attributes"


@pytest.mark.parametrize("interval", ["percentile", "bca"])
def test_same_inputs_and_seed_give_byte_identical_json(interval: str) -> None:
    y, base, comp, groups = make(drop={2: 0.05})
    weights = np.random.default_rng(0).uniform(0.5, 1.5, len(y))

    def run() -> str:
        c = compare(
            y,
            base,
            comp,
            sensitive_features=groups,
            interval=interval,
            sample_weight=weights,
            seed=3,
            **FAST,
        )
        return json.dumps(c.to_dict(), sort_keys=True, allow_nan=False)

    assert run() == run()
    d = json.loads(run())
    assert d["interval_method"] == interval and d["seed"] == 3 and "scipy" in d["versions"]


def test_package_level_import() -> None:
    assert pytest_fairquant.compare is compare
    assert isinstance(
        pytest_fairquant.compare(
            [0, 1] * 40, [0, 1] * 40, [0, 1] * 40, sensitive_features=[0] * 40 + [1] * 40, **FAST
        ),
        Comparison,
    )


# --------------------------------------------------------------------------- one model


def test_assess_gap_pass_fail_inconclusive() -> None:
    y, base, _, groups = make(sizes=(3000, 3000, 3000), accuracy=(0.9, 0.9, 0.75))
    assert (
        assess_gap(y, base, sensitive_features=groups, threshold=0.3, n_boot=300).verdict == "pass"
    )
    failed = assess_gap(y, base, sensitive_features=groups, threshold=0.05, n_boot=300)
    assert failed.verdict == "fail" and failed.base_gap is None and failed.delta is None
    assert failed.worst_group is not None and failed.worst_group.group == "c"
    unclear = assess_gap(
        y, base, sensitive_features=groups, threshold=failed.compressed_gap, n_boot=300
    )
    assert unclear.verdict == "inconclusive"
    assert "is above the threshold" in unclear.reasons[0]
    assert unclear.upper_bound is not None and unclear.upper_bound > unclear.compressed_gap


def test_assess_gap_rejects_gaps_it_cannot_test() -> None:
    y, base, _, groups = make()
    with pytest.raises(ValueError, match="assess_gap supports gap in"):
        assess_gap(y, base, sensitive_features=groups, gap="accuracy_drop", threshold=0.1)
    assert "{known}" in MSG_ASSESS_GAP


# --------------------------------------------------------------------------- matched units


def test_compare_units_verdicts_and_orientation() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(0.3, 0.1, 200)
    worse = compare_units(
        base, base + 0.05 + rng.normal(0, 0.02, 200), gap="max_skew", tolerance=0.01
    )
    assert worse.verdict == "fail" and worse.delta > 0.01
    same = compare_units(base, base + rng.normal(0, 0.001, 200), gap="max_skew", tolerance=0.01)
    assert same.verdict == "pass"
    # min_skew: lower is worse, so a drop is the harm.
    lower = compare_units(
        base, base - 0.05 + rng.normal(0, 0.02, 200), gap="min_skew", tolerance=0.01
    )
    assert lower.verdict == "fail" and lower.delta > 0
    noisy = compare_units(base[:5], base[:5] + rng.normal(0, 0.2, 5), tolerance=0.01)
    assert noisy.verdict == "inconclusive" and noisy.required_n is not None
    assert f"(5 matched units): about {noisy.required_n:,} units would decide it" in " ".join(
        noisy.reasons
    )
    few = compare_units([0.1, float("nan")], [0.2, 0.3])
    assert few.verdict == "insufficient_data"
    assert few.reasons == (
        "1 matched unit(s) with defined values, needs 2",
        "1 unit(s) with an undefined value left out",
    )


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.1 + 1e-17])
def test_compare_units_without_spread_decides_on_the_mean_without_warnings(shift: float) -> None:
    # Every unit moving by the same amount (e.g. a skew that is 1.0 for every query before and
    # after) leaves no t statistic; scipy's "Precision loss" warning must not reach the user.
    base = np.linspace(0.1, 0.9, 30)
    result = compare_units(base, base + shift, gap="max_skew", tolerance=0.01)
    assert result.p_value is None
    assert result.interval == pytest.approx((shift, shift), abs=1e-12)
    assert result.verdict == ("fail" if shift > 0.01 else "pass")


# --------------------------------------------------------------------------- bad inputs


def _args():
    y, base, comp, groups = make(sizes=(100, 100))
    return y, base, comp, groups


def test_mismatched_lengths_name_the_argument() -> None:
    y, base, comp, groups = _args()
    expected = MSG_LENGTH.format(name="compressed_pred", got=199, ref_name="y_true", want=200)
    with pytest.raises(ValueError, match=expected.split(":")[0]):
        compare(y, base, comp[:-1], sensitive_features=groups)


def test_a_single_group_cannot_be_compared() -> None:
    y, base, comp, _ = _args()
    with pytest.raises(ValueError, match="has a single group"):
        compare(y, base, comp, sensitive_features=np.zeros(len(y)))
    assert "at least two values" in MSG_SINGLE_GROUP


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"gap": "fvo2"}, MSG_UNKNOWN_GAP.split("{")[0]),
        ({"gap": "max_skew"}, "measured per query"),
        ({"alpha": 1.0}, "alpha must be a number strictly between 0 and 1"),
        ({"alpha": 0}, "alpha must be a number strictly between 0 and 1"),
        ({"tolerance": -0.01}, "tolerance must be a finite number >= 0"),
        ({"n_boot": 0}, "n_boot must be an int >= 1"),
        ({"gap": "bias_amplification"}, "needs train_y_true= and train_sensitive_features="),
        ({"gap": "accuracy_drop", "metric": "ppv"}, "gap='accuracy_drop' compares metric in"),
        ({"noise_floor": 1.5}, "noise_floor must be a flip rate in"),
        ({"correction": "sidak"}, "correction must be one of"),
    ],
)
def test_bad_arguments_say_what_to_pass(kwargs: dict, fragment: str) -> None:
    y, base, comp, groups = _args()
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        compare(y, base, comp, sensitive_features=groups, **kwargs)


def test_message_constants_carry_their_fields() -> None:
    assert "{got!r}" in MSG_ALPHA and "{got!r}" in MSG_TOLERANCE and "{got!r}" in MSG_N_BOOT
    assert "compare_units" in MSG_UNIT_GAP and "train_y_true" in MSG_BA_TRAIN
    assert "{known}" in MSG_DROP_METRIC and "[0, 1]" in MSG_NOISE_FLOOR


def test_non_integer_predictions_are_refused() -> None:
    y, base, comp, groups = _args()
    with pytest.raises(ValueError, match="must hold integer class labels"):
        compare(y, base, comp + 0.5, sensitive_features=groups)
    assert "probs.argmax(1)" in MSG_NOT_LABELS


@settings(max_examples=10, deadline=None)
@given(small=st.integers(1, 29), which=st.integers(0, 2))
def test_any_group_below_the_minimum_is_named_with_its_size(small: int, which: int) -> None:
    sizes = [200, 200, 200]
    sizes[which] = small
    y, base, comp, groups = make(sizes=tuple(sizes))
    c = compare(y, base, comp, sensitive_features=groups, n_boot=10, n_permutations=29)
    assert c.verdict == "insufficient_data" and not c.passed
    assert c.reasons == (f"group {'abc'[which]}: {small} samples, needs 30",)
