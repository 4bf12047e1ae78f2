"""The on-disk prediction cache is keyed by what produced the predictions (issue 11 #2).

Each test runs pytest twice on one cache directory, editing one thing in between: the model's
``forward()``, the split's transform, or the data behind a Dataset of the same length. The edit
makes the model output NaN, so a fresh evaluation errors; before the fix the second run read the
first run's predictions from the cache and passed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytest_fairquant.evaluate import MSG_NON_FINITE

NET = """
import torch

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return {body}
"""

TRANSFORM = """
def scale(x):
    return {body}
"""

DATASET = """
import numpy as np
import torch

class Points(torch.utils.data.Dataset):
    def __init__(self, path):
        self.path = path

    def __len__(self):
        return 600

    def __getitem__(self, i):
        return torch.from_numpy(np.load(self.path)[i])
"""

CONFTEST = """
import numpy as np
import pytest
import torch

from pytest_fairquant import DemographicSplit
import fq_net, fq_transform, fq_dataset

@pytest.fixture
def fairquant_model():
    return fq_net.Net().eval()

@pytest.fixture
def fairquant_data():
    rng = np.random.default_rng(0)
    x = np.load("points.npy")
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    gender = np.where(rng.random(600) < 0.5, "f", "m")
    return DemographicSplit(y, {"gender": gender}, inputs=fq_dataset.Points("points.npy"),
                            transform=fq_transform.scale, name="points")
"""

TEST = """
from pytest_fairquant import assert_no_bias_amplification

def test_gate(model, quantized_model, demographic_split):
    assert_no_bias_amplification(model, quantized_model, demographic_split,
                                 attribute="gender", tolerance=0.5)
"""

INI = """
[pytest]
addopts = -p no:hypothesispytest -p no:cacheprovider
fairquant_quantization = uniform-int8
fairquant_pruning =
fairquant_cache_dir = .fq_cache
fairquant_n_boot = 200
"""

FINE = {"forward": "self.fc(x)", "transform": "x"}
# Longer than the originals: Python's bytecode cache checks the source size and whole-second
# mtime, and both runs happen within one second.
BROKEN = {"forward": "self.fc(x) * float('nan')", "transform": "x * float('nan')"}


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        fq_net=NET.format(body=FINE["forward"]),
        fq_transform=TRANSFORM.format(body=FINE["transform"]),
        fq_dataset=DATASET,
        test_gate=TEST,
    )
    points = np.random.default_rng(1).normal(size=(600, 2)).astype(np.float32)
    np.save(pytester.path / "points.npy", points)
    pytester.syspathinsert()
    return pytester


def _first_run(project: pytest.Pytester) -> None:
    project.runpytest().assert_outcomes(passed=1)
    assert list(Path(project.path, ".fq_cache").glob("fq-*.npz"))


def _second_run_sees_the_nan(project: pytest.Pytester) -> None:
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    prefix = MSG_NON_FINITE.split("{count}")[0]
    assert prefix in result.stdout.str()


def test_editing_forward_is_a_new_cache_key(project: pytest.Pytester) -> None:
    _first_run(project)
    Path(project.path, "fq_net.py").write_text(NET.format(body=BROKEN["forward"]))
    _second_run_sees_the_nan(project)


def test_editing_the_transform_is_a_new_cache_key(project: pytest.Pytester) -> None:
    _first_run(project)
    Path(project.path, "fq_transform.py").write_text(TRANSFORM.format(body=BROKEN["transform"]))
    _second_run_sees_the_nan(project)


def test_editing_the_data_behind_a_dataset_is_a_new_cache_key(project: pytest.Pytester) -> None:
    _first_run(project)
    points = np.load(project.path / "points.npy")
    points[7] = np.nan  # same length, same class, same file name: only the contents differ
    np.save(project.path / "points.npy", points)
    _second_run_sees_the_nan(project)


def test_an_unchanged_project_reads_the_cache(project: pytest.Pytester) -> None:
    _first_run(project)
    stamps = {p: p.stat().st_mtime_ns for p in Path(project.path, ".fq_cache").glob("fq-*.npz")}
    project.runpytest().assert_outcomes(passed=1)
    after = {p: p.stat().st_mtime_ns for p in Path(project.path, ".fq_cache").glob("fq-*.npz")}
    assert after == stamps  # nothing recomputed, nothing rewritten


def test_cache_clear_empties_the_cache_dir_but_keeps_other_files(
    project: pytest.Pytester,
) -> None:
    _first_run(project)
    cache = Path(project.path, ".fq_cache")
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.glob("fq-*.npz")}
    # Files the cache did not write, some with names close to its own.
    user_files = {"notes.txt": b"mine", "fq-mine.npz": b"not an entry", "fq-0.json": b"{}"}
    for name, content in user_files.items():
        (cache / name).write_bytes(content)
    project.runpytest("--fairquant-cache-clear").assert_outcomes(passed=1)
    after = {p.name: p.stat().st_mtime_ns for p in cache.glob("fq-*.npz") if p.name in stamps}
    assert after.keys() == stamps.keys()
    assert all(after[name] != stamps[name] for name in stamps)  # deleted, then recomputed
    assert {n: (cache / n).read_bytes() for n in user_files} == user_files
