"""PredictionCache: once per key in memory and on disk, invalidation, corruption, concurrency."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from pytest_fairquant import DemographicSplit
from pytest_fairquant.cache import MSG_CORRUPT, CacheWarning, PredictionCache
from pytest_fairquant.evaluate import NonFiniteOutputs, evaluate_variants, predict
from pytest_fairquant.fingerprint import model_fingerprint
from pytest_fairquant.tasks.classification import ClassificationTask

sys.path.insert(0, str(Path(__file__).parent))
from models import random_split, tiny_mlp

ROOT = Path(__file__).resolve().parents[1]


class Counting(nn.Module):
    """A model that counts the samples it has seen (forward calls count as work done)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.inner = tiny_mlp(seed=seed)
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += len(x)
        return self.inner(x)


def _split(n: int = 100, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    return random_split(torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32)), seed=seed)


def test_memory_cache_computes_once() -> None:
    model, split, cache = Counting(), _split(), PredictionCache()
    first = predict(model, split, cache=cache, noise_check=0)
    second = predict(model, split, cache=cache, noise_check=0)
    assert model.seen == 100 and second is first
    assert cache.stats == {"computed": 1, "disk_hits": 0, "memory_hits": 1, "corrupt": 0}


def test_disk_cache_is_read_by_a_new_cache_object(tmp_path: Path) -> None:
    model, split = Counting(), _split()
    first = predict(model, split, cache=PredictionCache(tmp_path), noise_check=0)
    again = predict(model, split, cache=PredictionCache(tmp_path), noise_check=0)
    assert model.seen == 100
    np.testing.assert_array_equal(again.scores, first.scores)
    np.testing.assert_array_equal(again.pred, first.pred)
    np.testing.assert_array_equal(again.probs, first.probs)
    assert (again.kind, again.task, again.method) == (first.kind, first.task, first.method)
    assert again.metadata["cached"] is True and again.metadata["n"] == 100
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize(
    "change",
    ["weights", "method", "split", "task", "batch_size"],
)
def test_every_key_part_invalidates(tmp_path: Path, change: str) -> None:
    model, split = Counting(), _split()
    base: dict[str, Any] = {"cache": PredictionCache(tmp_path), "noise_check": 0}
    predict(model, split, **base)
    kwargs = dict(base, cache=PredictionCache(tmp_path))
    if change == "weights":
        with torch.no_grad():
            model.inner[0].weight.add_(1.0)
    elif change == "method":
        kwargs["method"] = "renamed"
    elif change == "split":
        split = _split(seed=1)
    elif change == "task":
        kwargs["task"] = ClassificationTask(output=lambda out: out * 2)
    else:
        kwargs["batch_size"] = 8
    predict(model, split, **kwargs)
    assert model.seen == 200
    predict(model, split, **dict(kwargs, cache=PredictionCache(tmp_path)))
    assert model.seen == 200  # the new entry is cached too


def test_corrupt_entry_is_ignored_with_a_warning_and_rebuilt(tmp_path: Path) -> None:
    model, split = Counting(), _split()
    first = predict(model, split, cache=PredictionCache(tmp_path), noise_check=0)
    (entry,) = tmp_path.glob("fq-*.npz")
    entry.write_bytes(b"not a zip file")
    cache = PredictionCache(tmp_path)
    with pytest.warns(CacheWarning) as record:
        rebuilt = predict(model, split, cache=cache, noise_check=0)
    prefix = MSG_CORRUPT.split("{path}")[0]
    assert str(record[0].message).startswith(prefix) and entry.name in str(record[0].message)
    assert str(record[0].message).endswith("it is rebuilt")
    assert model.seen == 200 and cache.stats["corrupt"] == 1
    np.testing.assert_array_equal(rebuilt.scores, first.scores)
    predict(model, split, cache=PredictionCache(tmp_path), noise_check=0)  # readable again
    assert model.seen == 200


def test_truncated_metadata_is_corrupt_too(tmp_path: Path) -> None:
    model, split = Counting(), _split()
    predict(model, split, cache=PredictionCache(tmp_path), noise_check=0)
    (meta,) = tmp_path.glob("fq-*.json")
    meta.write_text(meta.read_text()[:20])
    with pytest.warns(CacheWarning, match="JSONDecodeError"):
        predict(model, split, cache=PredictionCache(tmp_path), noise_check=0)
    assert model.seen == 200


def test_only_its_own_files_are_touched(tmp_path: Path) -> None:
    other = tmp_path / "notes.npz"
    other.write_bytes(b"user data")
    predict(Counting(), _split(), cache=PredictionCache(tmp_path), noise_check=0)
    assert other.read_bytes() == b"user data"
    assert {p.suffix for p in tmp_path.iterdir() if p.name.startswith("fq-")} == {
        ".npz",
        ".json",
        ".lock",
    }


def test_dense_model_is_evaluated_once_however_many_variants_and_runs() -> None:
    model, split, cache = Counting(), _split(), PredictionCache()
    for methods in (["uniform-int8", "kmeans-16"], ["uniform-int4"], ["uniform-int8"]):
        results = evaluate_variants(model, methods, split, cache=cache, noise_check=0)
        assert list(results) == ["dense", *methods]
    assert model.seen == 100
    assert cache.stats["computed"] == 4  # dense + 3 distinct variants


WORKER = textwrap.dedent(
    """
    import sys, time
    import numpy as np, torch
    from torch import nn
    sys.path.insert(0, {tests!r})
    from models import random_split, tiny_mlp
    from pytest_fairquant.cache import PredictionCache
    from pytest_fairquant.evaluate import predict

    class Slow(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = tiny_mlp()
        def forward(self, x):
            with open({log!r}, "a") as f:
                f.write("forward\\n")
            time.sleep(0.5)
            return self.inner(x)

    rng = np.random.default_rng(0)
    split = random_split(torch.from_numpy(rng.normal(size=(20, 4)).astype(np.float32)))
    p = predict(Slow(), split, cache=PredictionCache({cache!r}), batch_size=20, noise_check=0)
    print("cached" if p.metadata.get("cached") else "computed", p.pred.tolist())
    """
)


def test_two_processes_compute_once_and_share_the_result(tmp_path: Path) -> None:
    log = tmp_path / "forwards.log"
    script = tmp_path / "worker.py"
    script.write_text(
        WORKER.format(tests=str(ROOT / "tests"), log=str(log), cache=str(tmp_path / "cache"))
    )
    env = {"OMP_NUM_THREADS": "1", "PATH": "", "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    kinds = sorted(out.split()[0] for out, _ in outs)
    assert kinds == ["cached", "computed"]
    assert outs[0][0].split(" ", 1)[1] == outs[1][0].split(" ", 1)[1]
    assert log.read_text().count("forward") == 1


# ----------------------------------------------------------------------------- what the key hashes
# Each test edits something between two "runs" (two PredictionCache objects on one directory, the
# edited module imported afresh under the same name) and checks that the old predictions are not
# served. Before the key hashed code and dataset contents, every one of them got a disk hit.

MODEL_SOURCE = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return {body}


def transform(x):
    return {transform}
'''


def _module(tmp_path: Path, *, body: str = "self.fc(x)", transform: str = "x") -> Any:
    """``fq_edited`` written with these bodies and imported afresh (same module and class names)."""
    import importlib.util

    path = tmp_path / "fq_edited.py"
    path.write_text(MODEL_SOURCE.format(body=body, transform=transform))
    spec = importlib.util.spec_from_file_location("fq_edited", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fq_edited"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["fq_edited"]
    return module


def test_editing_forward_between_runs_is_not_served_from_the_cache(tmp_path: Path) -> None:
    split = _split()
    before = _module(tmp_path)
    predict(before.Net(), split, cache=PredictionCache(tmp_path / "cache"), noise_check=0)
    after = _module(tmp_path, body="self.fc(x) * float('nan')")
    with pytest.raises(NonFiniteOutputs, match="NaN/inf scores for 100 of 100 samples"):
        predict(after.Net(), split, cache=PredictionCache(tmp_path / "cache"), noise_check=0)


def test_editing_a_transform_between_runs_is_not_served_from_the_cache(tmp_path: Path) -> None:
    def run(module: Any) -> Any:
        split = _split()
        split.transform = module.transform
        cache = PredictionCache(tmp_path / "cache")
        return predict(module.Net(), split, cache=cache, noise_check=0), cache

    _, first = run(_module(tmp_path))
    assert first.stats["computed"] == 1
    edited, second = run(_module(tmp_path, transform="x * 0"))
    assert second.stats == {"computed": 1, "disk_hits": 0, "memory_hits": 0, "corrupt": 0}
    assert len(np.unique(edited.pred)) == 1  # every input is zero now: one answer for all


class Rows(torch.utils.data.Dataset[torch.Tensor]):
    """A map-style dataset: what a user's own data pipeline looks like."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.data[i]


def test_other_data_behind_a_dataset_of_the_same_length_is_not_served(tmp_path: Path) -> None:
    labels = _split()
    model = Counting()
    rng = np.random.default_rng(0)
    for _ in range(2):
        data = torch.from_numpy(rng.normal(size=(100, 4)).astype(np.float32))
        split = DemographicSplit(labels.labels, labels.attributes, inputs=Rows(data))
        predict(model, split, cache=PredictionCache(tmp_path), noise_check=0)
    assert model.seen == 200


def test_a_non_persistent_buffer_is_part_of_the_model(tmp_path: Path) -> None:
    class Shifted(nn.Module):
        def __init__(self, shift: float) -> None:
            super().__init__()
            self.inner = tiny_mlp()
            self.register_buffer("shift", torch.tensor(shift), persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x + self.shift)

    assert model_fingerprint(Shifted(0.0)) != model_fingerprint(Shifted(5.0))
    assert model_fingerprint(Shifted(0.0)) == model_fingerprint(Shifted(0.0))


def test_a_class_without_source_is_known_by_its_bytecode() -> None:
    def make(body: str) -> type[nn.Module]:
        namespace: dict[str, Any] = {"__name__": "fq_unsaved", "nn": nn, "tiny_mlp": tiny_mlp}
        exec(  # no file behind it: inspect.getsource cannot find the class
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.inner = tiny_mlp()\n"
            f"    def forward(self, x):\n        return {body}\n",
            namespace,
        )
        cls: type[nn.Module] = namespace["Net"]
        return cls

    same, also_same, other = make("self.inner(x)"), make("self.inner(x)"), make("-self.inner(x)")
    assert model_fingerprint(same()) == model_fingerprint(also_same())
    assert model_fingerprint(same()) != model_fingerprint(other())


def test_editing_a_file_the_inputs_name_is_not_served(tmp_path: Path) -> None:
    files = [tmp_path / f"x{i}.npy" for i in range(100)]
    rng = np.random.default_rng(0)
    labels = _split()
    model = Counting()
    for round_ in range(2):
        for f in files[:1] if round_ else files:
            np.save(f, rng.normal(size=4).astype(np.float32))
        split = DemographicSplit(
            labels.labels,
            labels.attributes,
            inputs=[str(f) for f in files],
            transform=np.load,
        )
        predict(model, split, cache=PredictionCache(tmp_path / "cache"), noise_check=0)
    assert model.seen == 200
