"""DemographicSplit: validation, groups and intersections, filtering, subsampling, fingerprints."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pytest_fairquant.data.split import (
    MSG_AMBIGUOUS_GROUP,
    MSG_ATTRIBUTE_SHAPE,
    MSG_INPUTS_LENGTH,
    MSG_NO_ATTRIBUTES,
    MSG_NO_INPUTS,
    MSG_UNKNOWN_ATTRIBUTE,
    SHOWN_GROUPS,
    DemographicSplit,
)
from pytest_fairquant.errors import InputError


def make_split(n: int = 600, seed: int = 0, **kwargs: object) -> DemographicSplit:
    rng = np.random.default_rng(seed)
    return DemographicSplit(
        rng.integers(0, 2, n),
        {
            "gender": rng.choice(["female", "male"], n),
            "race": rng.choice(["a", "b", "c"], n, p=[0.8, 0.17, 0.03]),
        },
        inputs=rng.normal(size=(n, 4)).astype(np.float32),
        **kwargs,  # type: ignore[arg-type]
    )


def test_groups_are_sorted_and_counted() -> None:
    split = DemographicSplit([0, 1, 1, 0], {"g": ["b", "a", "b", "b"]})
    groups = split.groups("g")
    assert groups.names == ("a", "b")
    assert groups.codes.tolist() == [1, 0, 1, 1]
    assert groups.counts().tolist() == [1, 3]


def test_integer_attributes_keep_numeric_order() -> None:
    split = DemographicSplit([0, 1, 1], {"age": [10, 2, 10]})
    assert split.groups("age").names == ("2", "10")


def test_intersections_by_name_and_tuple() -> None:
    split = DemographicSplit([0, 1, 1, 0], {"g": ["f", "m", "f", "m"], "r": ["x", "x", "y", "y"]})
    by_name = split.groups("g×r")
    by_tuple = split.groups(("g", "r"))
    assert by_name.names == by_tuple.names == ("f×x", "f×y", "m×x", "m×y")
    assert by_name.attribute == "g×r"
    added = split.with_intersection("g", "r")
    assert added.attribute_names == ("g", "r", "g×r")
    assert added.sensitive_features("g×r").tolist() == ["f×x", "m×x", "f×y", "m×y"]


def test_filter_groups_drops_small_groups_and_says_why() -> None:
    split = make_split()
    kept = split.filter_groups("race", min_size=30, min_positives=5)
    (dropped,) = kept.dropped
    assert dropped.group == "c"
    assert dropped.n < 30
    assert "needs 30" in dropped.reason
    assert set(kept.groups("race").names) == {"a", "b"}
    assert len(kept) == len(split) - dropped.n


def test_filter_groups_counts_positives_and_negatives() -> None:
    split = DemographicSplit([1] * 40 + [0] * 40, {"g": ["a"] * 40 + ["b"] * 40})
    kept = split.filter_groups("g", min_size=10, min_positives=10)
    assert [d.group for d in kept.dropped] == ["b"]
    assert "0 positives, needs 10" in kept.dropped[0].reason


def test_filter_groups_refuses_to_drop_everything() -> None:
    split = DemographicSplit([0, 1], {"g": ["a", "b"]})
    with pytest.raises(InputError, match="no group of 'g' meets the minimum support"):
        split.filter_groups("g", min_size=30)


def test_subsample_is_deterministic_stratified_and_ordered() -> None:
    split = make_split()
    a = split.subsample(120, seed=3)
    b = split.subsample(120, seed=3)
    c = split.subsample(120, seed=4)
    assert len(a) == 120
    assert a.index.tolist() == b.index.tolist()
    assert a.index.tolist() != c.index.tolist()
    assert np.all(np.diff(a.index) > 0)
    # every (label × group) stratum keeps its share within one sample
    full = split.groups("gender").counts() / len(split)
    part = a.groups("gender").counts() / len(a)
    assert np.allclose(full, part, atol=2 / len(a))
    assert split.subsample(1.0) is split


@pytest.mark.parametrize("size", [0, -3, 1.5, 0.0, "10", True])
def test_subsample_rejects_bad_sizes(size: object) -> None:
    with pytest.raises(InputError, match="subsample size must be"):
        make_split().subsample(size)  # type: ignore[arg-type]


def test_subsets_share_inputs_and_batches_follow_the_index() -> None:
    split = make_split()
    sub = split.subset(np.array([5, 2, 9]))
    assert sub.inputs is split.inputs
    rows, batch = next(sub.iter_batches(2))
    assert rows.tolist() == [0, 1]
    assert np.array_equal(batch, split.inputs[[5, 2]])
    assert sub.labels.tolist() == split.labels[[5, 2, 9]].tolist()


def test_transform_is_applied_lazily() -> None:
    calls: list[str] = []

    def load(path: str) -> str:
        calls.append(path)
        return path.upper()

    split = DemographicSplit(
        [0, 1, 0], {"g": ["a", "b", "a"]}, inputs=["x.jpg", "y.jpg", "z.jpg"], transform=load
    )
    assert calls == []
    assert split.input_batch(np.array([2, 0])) == ["Z.JPG", "X.JPG"]
    assert calls == ["z.jpg", "x.jpg"]


def test_torch_inputs_are_sliced_without_copying_the_dataset() -> None:
    torch = pytest.importorskip("torch")
    x = torch.arange(12.0).reshape(6, 2)
    split = DemographicSplit([0, 1, 0, 1, 0, 1], {"g": list("aabbab")}, inputs=x).subset([4, 1])
    assert torch.equal(split.input_batch(np.array([0, 1])), x[[4, 1]])


def test_fingerprint_changes_with_labels_groups_inputs_and_rows() -> None:
    base = make_split()
    assert base.fingerprint == make_split().fingerprint
    assert base.fingerprint != make_split(seed=1).fingerprint
    assert base.fingerprint != base.subset(np.arange(10)).fingerprint
    other_inputs = DemographicSplit(
        base.labels, base.attributes, inputs=np.zeros((len(base), 4), np.float32)
    )
    assert base.fingerprint != other_inputs.fingerprint
    named = DemographicSplit(base.labels, base.attributes, inputs=object(), input_id="dataset-v2")
    assert (
        named.fingerprint
        == DemographicSplit(
            base.labels, base.attributes, inputs=object(), input_id="dataset-v2"
        ).fingerprint
    )


def test_task_kind_and_classes() -> None:
    assert DemographicSplit([0, 1], {"g": ["a", "b"]}).task_kind == "binary"
    assert DemographicSplit([0, 2, 1], {"g": ["a", "b", "a"]}).n_classes == 3
    multi = DemographicSplit(np.array([[0, 1, 1], [1, 0, 0]]), {"g": ["a", "b"]})
    assert multi.task_kind == "multilabel"
    assert multi.n_classes == 3


def test_summary_is_json_ready() -> None:
    import json

    split = make_split().filter_groups("race", min_size=30)
    summary = split.summary()
    assert json.loads(json.dumps(summary))["dropped"][0]["group"] == "c"
    assert summary["groups"]["gender"]["female"] + summary["groups"]["gender"]["male"] == len(split)


def test_bad_inputs_say_what_to_do() -> None:
    with pytest.raises(InputError, match="at least one sensitive attribute"):
        DemographicSplit([0, 1], {})
    assert "at least one sensitive attribute" in MSG_NO_ATTRIBUTES
    with pytest.raises(
        InputError, match=r"attribute 'g' must be one value per sample \(shape \(2,\)\)"
    ):
        DemographicSplit([0, 1], {"g": ["a"]})
    assert "one value per sample" in MSG_ATTRIBUTE_SHAPE
    with pytest.raises(InputError, match="attribute 'g' has 1 missing values"):
        DemographicSplit([0, 1], {"g": ["a", None]})
    with pytest.raises(InputError, match=MSG_INPUTS_LENGTH.format(got=3, want=2)):
        DemographicSplit([0, 1], {"g": ["a", "b"]}, inputs=[1, 2, 3])
    with pytest.raises(InputError, match=r"attribute 'race' is not in this split; it has \['g'\]"):
        DemographicSplit([0, 1], {"g": ["a", "b"]}).groups("race")
    assert "is not in this split" in MSG_UNKNOWN_ATTRIBUTE
    with pytest.raises(InputError, match="this split has no inputs"):
        DemographicSplit([0, 1], {"g": ["a", "b"]}).get_input(0)
    assert "no inputs" in MSG_NO_INPUTS
    with pytest.raises(InputError, match=r"non-integer values such as 0\.5"):
        DemographicSplit([0, 0.5], {"g": ["a", "b"]})
    with pytest.raises(InputError, match="weights must be finite and non-negative"):
        DemographicSplit([0, 1], {"g": ["a", "b"]}, weights=[1.0, -1.0])
    with pytest.raises(InputError, match="may not contain '×'"):
        DemographicSplit([0, 1], {"g×h": ["a", "b"]})


# ----------------------------------------------------------------------------- group ids
# One rule (issue 11 #12): equal numbers are one group, strings are their own text, and a string
# and a number that would share a name are an error. Before, [1, "1"] merged silently while
# [1, 1.0] (as objects) split into groups "1" and "1.0".


@pytest.mark.parametrize(
    "values",
    [
        np.array([1, 1.0, 2, 2.0], dtype=object),
        [1, 1.0, 2, 2.0],
        np.array([1.0, 1.0, 2.0, 2.0]),
        np.array([np.int64(1), 1.0, np.float32(2), 2], dtype=object),
    ],
    ids=["objects", "list", "floats", "numpy-scalars"],
)
def test_equal_numbers_are_one_group(values: Any) -> None:
    split = DemographicSplit([0, 1, 0, 1], {"g": values})
    assert split.groups("g").names == ("1", "2")
    assert split.groups("g").counts().tolist() == [2, 2]


def test_a_fractional_float_keeps_numeric_order_and_whole_ones_read_as_integers() -> None:
    split = DemographicSplit([0, 1, 0, 1], {"g": [1.0, 2.5, 10.0, 1]})
    assert split.groups("g").names == ("1", "2.5", "10")


@pytest.mark.parametrize(
    "values",
    [np.array([1, "1", 2, "b"], dtype=object), [1, "1", 2, "b"], ["1", 1.0, "b", "b"]],
    ids=["objects", "list", "float"],
)
def test_a_string_and_a_number_with_one_name_are_an_error(values: Any) -> None:
    with pytest.raises(InputError) as err:
        DemographicSplit([0, 1, 0, 1], {"g": values})
    assert str(err.value) == MSG_AMBIGUOUS_GROUP.format(name="g", text="1", number=1)


def test_strings_mixed_with_numbers_of_other_names_are_groups_by_their_text() -> None:
    split = DemographicSplit([0, 1, 0, 1], {"age": [25, "unknown", 30, 25.0]})
    assert split.groups("age").names == ("25", "30", "unknown")
    assert split.groups("age").counts().tolist() == [2, 1, 1]


def test_an_id_like_attribute_names_the_count_and_the_first_few_groups() -> None:
    n = 5000
    split = DemographicSplit(np.arange(n) % 2, {"id": np.arange(n)})
    with pytest.raises(InputError) as err:
        split.filter_groups("id", min_size=30)
    message = str(err.value)
    assert len(message) < 400  # it was 134 KB: one entry per group
    shown = "; ".join(f"{i}: 1 samples, needs 30" for i in range(SHOWN_GROUPS))
    assert message.endswith(f"every sample was dropped: 5000 groups: {shown}; and 4995 more")


def test_the_repr_of_an_id_like_attribute_stays_short() -> None:
    split = DemographicSplit(np.arange(5000) % 2, {"id": np.arange(5000), "g": ["a", "b"] * 2500})
    assert repr(split) == (
        "DemographicSplit('split', n=5000, binary; "
        "id: 5000 groups: 0=1, 1=1, 2=1, 3=1, 4=1, ...; g: a=2500, b=2500)"
    )


def test_every_gate_uses_the_group_codes_encoded_once_per_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 14: at 1M samples ``compare`` spent most of its time encoding group-name strings,
    once per gate. The split encodes each attribute once; the gates take its codes."""
    import torch
    from models import tiny_mlp

    import pytest_fairquant.data.split as split_module
    import pytest_fairquant.metrics._inputs as inputs_module
    from pytest_fairquant import assert_no_bias_amplification, group_report

    calls: list[int] = []

    def counting(values: Any) -> Any:
        calls.append(len(values))
        return real(values)

    real = split_module.group_codes
    monkeypatch.setattr(split_module, "group_codes", counting)
    monkeypatch.setattr(inputs_module, "group_codes", counting)
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.9, y, 1 - y)
    inputs = torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32))
    split = DemographicSplit(y, {"g": rng.choice(["a", "b"], n)}, inputs=inputs, name="codes")
    for tolerance in (0.5, 0.4):
        assert_no_bias_amplification(
            y_true=y,
            base_pred=base,
            compressed_pred=base,
            split=split,
            attribute="g",
            tolerance=tolerance,
            n_boot=50,
        )
    group_report(tiny_mlp(n_out=2), split, attribute="g")
    assert calls == [n]  # once, by the split
    assert split.groups("g") is split.groups("g") and not split.groups("g").codes.flags.writeable
