"""Bad inputs to DemographicSplit are clear errors naming the argument (issue 11 #12).

Before: an exception in the transform or the dataset reached the caller bare (KeyError: 'boom'
from deep inside predict), a meta-device tensor failed with torch's "Cannot copy out of meta
tensor; no data!", and ``subset([1000])`` was numpy's IndexError while ``subset([-1])`` silently
took the last sample and ``subset([0.5])`` the first.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pytest_fairquant import DemographicSplit
from pytest_fairquant.data.split import (
    MSG_ITEM_FAILED,
    MSG_META_TENSOR,
    MSG_READ_FAILED,
    MSG_ROWS,
    MSG_TRANSFORM_FAILED,
)
from pytest_fairquant.errors import InputError
from pytest_fairquant.evaluate import predict

sys.path.insert(0, str(Path(__file__).parent))
from models import tiny_mlp

N = 40


def _split(**kwargs: Any) -> DemographicSplit:
    rng = np.random.default_rng(0)
    kwargs.setdefault("inputs", torch.from_numpy(rng.normal(size=(N, 4)).astype(np.float32)))
    return DemographicSplit(
        rng.integers(0, 3, N), {"g": rng.choice(["a", "b"], N)}, name="toy", **kwargs
    )


def _boom(item: Any) -> Any:
    raise KeyError("boom")


class Broken(torch.utils.data.Dataset[torch.Tensor]):
    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> torch.Tensor:
        if i == 3:
            raise OSError("disk gone")
        return torch.zeros(4)


def test_an_exception_in_the_transform_names_the_transform_and_the_sample() -> None:
    split = _split(transform=_boom).subset([5, 6])
    with pytest.raises(InputError) as err:
        predict(tiny_mlp(), split, noise_check=0)
    assert str(err.value) == MSG_TRANSFORM_FAILED.format(
        transform="_boom", error="KeyError: 'boom'", i=0, position=5
    )
    assert isinstance(err.value.__cause__, KeyError)


def test_an_exception_in_the_dataset_names_the_inputs_and_the_position() -> None:
    split = _split(inputs=Broken(), input_id="broken")  # not read to fingerprint it
    with pytest.raises(InputError) as err:
        split.get_input(3)
    assert str(err.value) == MSG_READ_FAILED.format(
        position=3, kind="Broken", error="OSError: disk gone"
    )
    with pytest.raises(InputError) as err:  # read to fingerprint it: the same first words
        predict(tiny_mlp(), _split(inputs=Broken()), noise_check=0)
    assert str(err.value) == MSG_ITEM_FAILED.format(
        position=3, kind="Broken", error="OSError: disk gone"
    )


@pytest.mark.parametrize("argument", ["labels", "attributes['g']", "inputs", "weights"])
def test_a_meta_device_tensor_is_named(argument: str) -> None:
    meta = torch.empty(N, device="meta")
    rng = np.random.default_rng(0)
    kwargs: dict[str, Any] = {
        "labels": rng.integers(0, 2, N),
        "attributes": {"g": rng.choice(["a", "b"], N)},
    }
    if argument == "labels":
        kwargs["labels"] = meta
    elif argument == "attributes['g']":
        kwargs["attributes"] = {"g": meta}
    else:
        kwargs[argument] = torch.empty(N, 4, device="meta") if argument == "inputs" else meta
    with pytest.raises(InputError) as err:
        DemographicSplit(**kwargs)
    assert str(err.value) == MSG_META_TENSOR.format(name=argument)


@pytest.mark.parametrize(
    ("rows", "bad"),
    [
        ([0, 1000], "1000"),
        ([-1], "-1"),
        ([0.5], "0.5"),
        (np.array([3, 40, 41]), "40, 41"),
        (np.arange(-10, 0), "-10, -9, -8, -7, -6 and 5 more"),
    ],
)
def test_subset_rows_out_of_range_or_not_positions_are_refused(rows: Any, bad: str) -> None:
    with pytest.raises(InputError) as err:
        _split().subset(rows)
    assert str(err.value) == MSG_ROWS.format(n=N, bad=bad)


def test_subset_still_takes_positions_and_masks() -> None:
    split = _split()
    assert len(split.subset([0, 39])) == 2 and len(split.subset(np.arange(N) < 5)) == 5
    assert len(split.subset(torch.tensor([1, 2]))) == 2 and len(split.subset([])) == 0
    assert split.subset([2.0]).index.tolist() == [2]  # a whole float is a position
