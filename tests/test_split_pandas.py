"""A pandas DataFrame or Series as ``DemographicSplit(inputs=...)`` is a clear error (issue 15).

Before: a DataFrame was accepted, then ``input_batch`` indexed it with ``df[positions]``, which
selects columns, so predict failed with pandas' ``KeyError: "None of [Index([0, 1, ...])] are in
the [columns]"``; a Series with a filtered index read rows by label, not by position.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_fairquant import DemographicSplit
from pytest_fairquant.data.split import MSG_PANDAS_INPUTS
from pytest_fairquant.errors import InputError

pd = pytest.importorskip("pandas")

N = 12


def _labels_and_groups() -> tuple[np.ndarray, dict[str, list[str]]]:
    return np.arange(N) % 2, {"g": ["a", "b"] * (N // 2)}


def test_a_dataframe_is_refused_with_what_to_pass_instead() -> None:
    frame = pd.DataFrame({"x1": np.arange(N) / 4, "x2": np.ones(N)})
    labels, groups = _labels_and_groups()
    with pytest.raises(InputError) as err:
        DemographicSplit(labels, groups, inputs=frame)
    message = str(err.value)
    assert message.startswith(MSG_PANDAS_INPUTS.split("{")[0] + "DataFrame")
    assert "not by position" in message
    assert "to_numpy(dtype='float32')" in message


def test_a_series_is_refused_with_what_to_pass_instead() -> None:
    texts = pd.Series([f"sentence {i}" for i in range(N)], index=range(100, 100 + N))
    labels, groups = _labels_and_groups()
    with pytest.raises(InputError, match=r"inputs is a pandas Series.*series\.tolist\(\)"):
        DemographicSplit(labels, groups, inputs=texts)


def test_the_dataframes_values_are_accepted() -> None:
    frame = pd.DataFrame({"x1": np.arange(N) / 4, "x2": np.ones(N)})
    labels, groups = _labels_and_groups()
    split = DemographicSplit(labels, groups, inputs=frame.to_numpy(dtype="float32"))
    assert split.input_batch(np.array([3, 4])).tolist() == frame.iloc[[3, 4]].to_numpy().tolist()
