"""Sharded evaluation under torch.distributed (issue 14): shard bounds, the writer rank, and
two gloo ranks launched by torchrun whose predictions, verdicts and JSON reports are
byte-identical to one process on the same split (301 samples: uneven shards)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pytest_fairquant import distributed
from pytest_fairquant.errors import InputError

# ----------------------------------------------------------------------------- shard bounds


@pytest.mark.parametrize(
    ("n", "batch_size", "world"),
    [(301, 16, 2), (301, 16, 3), (300, 100, 2), (5, 64, 2), (7, 1, 4), (0, 8, 2), (64, 64, 1)],
)
def test_shards_cover_the_rows_in_order_in_whole_batches(
    n: int, batch_size: int, world: int
) -> None:
    bounds = [distributed.shard_bounds(n, batch_size, r, world) for r in range(world)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    for (_, stop), (start, _) in itertools.pairwise(bounds):
        assert stop == start  # contiguous, in rank order
    for start, stop in bounds:
        assert start % batch_size == 0 or start == n  # a shard starts where a batch starts
        assert start <= stop
    batches = [-(-(stop - start) // batch_size) for start, stop in bounds]
    assert max(batches) - min(batches) <= 1  # balanced to one batch


def test_a_rank_without_a_batch_gets_an_empty_shard() -> None:
    assert [distributed.shard_bounds(5, 64, r, 2) for r in range(2)] == [(0, 0), (0, 5)]


def test_uneven_shards_of_an_odd_split() -> None:
    # 301 rows in batches of 16: 19 batches, 9 for rank 0 and 10 for rank 1.
    assert distributed.shard_bounds(301, 16, 0, 2) == (0, 144)
    assert distributed.shard_bounds(301, 16, 1, 2) == (144, 301)


@pytest.mark.parametrize(
    ("n", "batch_size", "rank", "world"), [(-1, 8, 0, 1), (8, 0, 0, 1), (8, 8, 2, 2), (8, 8, 0, 0)]
)
def test_bad_shard_arguments_are_an_input_error(
    n: int, batch_size: int, rank: int, world: int
) -> None:
    with pytest.raises(InputError) as info:
        distributed.shard_bounds(n, batch_size, rank, world)
    assert str(info.value) == distributed.MSG_SHARD.format(
        n=n, batch_size=batch_size, rank=rank, world=world
    )


# ----------------------------------------------------------------------------- the writer


def test_one_process_is_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert (distributed.rank(), distributed.world_size(), distributed.is_writer()) == (0, 1, True)
    assert not distributed.launched()
    assert distributed.setup("cpu") is False  # nothing to join


def test_the_torchrun_environment_names_the_rank_before_any_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.launched()
    assert (distributed.rank(), distributed.world_size(), distributed.local_rank()) == (1, 2, 1)
    assert not distributed.is_writer()


def test_a_non_writer_rank_writes_no_cache_entry_and_clears_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_fairquant.cache import CacheKey, PredictionCache, clear_directory
    from pytest_fairquant.predictions import Predictions

    key = CacheKey("m", "dense", "s", "t", 8, "off", "cpu")
    value = Predictions(
        np.zeros((2, 2), np.float32), None, None, "multiclass", "t", "dense", "m", "s"
    )
    (tmp_path / f"fq-{'0' * 40}.npz").write_bytes(b"")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    PredictionCache(tmp_path).get_or_compute(key, lambda: value)
    assert clear_directory(tmp_path) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"fq-{'0' * 40}.npz",
        f"fq-{key.digest}.lock",
    ]


def test_a_non_writer_rank_writes_no_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_fairquant.report import build_report, write_reports

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    report = build_report([], settings={}, methods={}, splits={}, command=[], sections={})
    assert write_reports([str(tmp_path / "r.json")], report) == []
    assert not (tmp_path / "r.json").exists()


# ----------------------------------------------------------------------------- two gloo ranks

FACTORIES = """
import itertools
import json
import os
import sys

import numpy as np
import torch

from pytest_fairquant import DemographicSplit


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3)
    ).eval()


def make_split(n=301, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    gender = np.where(rng.random(n) < 0.5, "f", "m")
    race = rng.choice(["a", "b", "c"], size=n)
    return DemographicSplit(
        y, {"gender": gender, "race": race}, inputs=torch.from_numpy(x), name="odd"
    )


def predict_and_save(out):
    from pytest_fairquant import distributed
    from pytest_fairquant.compression import compress
    from pytest_fairquant.evaluate import predict

    split = make_split()
    dense = make_model()
    arrays = {}
    for name, model in (("dense", dense), ("int4", compress(dense, "uniform-int4"))):
        result = predict(model, split, device="cpu", batch_size=16, progress=False)
        arrays[name + "_scores"] = result.scores
        arrays[name + "_pred"] = result.pred
        arrays[name + "_probs"] = result.probs
        shards = result.metadata.get("shards")
    rank = distributed.rank()
    np.savez(os.path.join(out, f"pred-{rank}.npz"), **arrays)
    with open(os.path.join(out, f"shards-{rank}.json"), "w") as f:
        json.dump(shards, f)


if __name__ == "__main__":
    predict_and_save(sys.argv[1])
"""

GATE = """
from pytest_fairquant import assert_no_bias_amplification


def test_gate(model, quantized_model, demographic_split):
    assert_no_bias_amplification(model, quantized_model, demographic_split)
"""

SETTINGS = (
    "--n-boot=200",
    "--device=cpu",
    "--batch-size=16",
    "--methods=uniform-int4,uniform-int2",
)


def _torchrun() -> list[str]:
    found = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.skip("torchrun is not installed beside this Python")
    with socket.socket() as free:  # torchrun's static rendezvous needs a real port
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    return [found, "--nproc_per_node=2", f"--master_port={port}", "--no-python"]


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd), "OMP_NUM_THREADS": "1", "CI": "true"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "fq_dist.py").write_text(textwrap.dedent(FACTORIES))
    (tmp_path / "test_gate.py").write_text(GATE)
    for name in ("single", "sharded"):
        (tmp_path / name).mkdir()
    return tmp_path


def test_two_gloo_ranks_predict_exactly_what_one_process_does(project: Path) -> None:
    python = sys.executable
    single = _run([python, "fq_dist.py", "single"], project)
    assert single.returncode == 0, single.stderr
    sharded = _run([*_torchrun(), python, "fq_dist.py", "sharded"], project)
    assert sharded.returncode == 0, sharded.stderr
    with np.load(project / "single" / "pred-0.npz") as one:
        expected = {k: one[k] for k in one.files}
    for rank in (0, 1):
        with np.load(project / "sharded" / f"pred-{rank}.npz") as got:
            assert sorted(got.files) == sorted(expected)
            for name, value in expected.items():  # every rank holds every row, bitwise
                assert got[name].dtype == value.dtype
                assert got[name].tobytes() == value.tobytes(), (rank, name)
        shards = json.loads((project / "sharded" / f"shards-{rank}.json").read_text())
        assert shards["world_size"] == 2
        assert shards["rows"][0] == [[0, 144], [144, 301]][rank]  # uneven shards
    assert json.loads((project / "single" / "shards-0.json").read_text()) is None


def _twice(argv: list[str], project: Path, outputs: tuple[str, ...]) -> list[Path]:
    """``argv`` in one process, then under torchrun with two ranks, in the same directory with
    the same command line (the report records it); each run's ``outputs`` are moved to
    ``single/`` and ``sharded/`` after it, so the second run starts without the first's cache."""
    for launcher, where in (([], "single"), (_torchrun(), "sharded")):
        done = _run([*launcher, *argv], project)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        (project / where / "stdout").write_text(done.stdout)
        (project / where / "rc").write_text(str(done.returncode))
        for name in outputs:
            shutil.move(project / name, project / where / name)
    return [project / "single", project / "sharded"]


@pytest.mark.slow  # the default suite's 10-minute budget on 2 cores (README: how to run it)
def test_a_sweep_under_torchrun_writes_the_single_process_report(project: Path) -> None:
    argv = [
        *(sys.executable, "-m", "pytest_fairquant", "sweep", "--no-config"),
        *("--model=fq_dist:make_model", "--data=fq_dist:make_split"),
        *("--cache-dir=cache", "--report=sweep.json", *SETTINGS),
    ]
    single, sharded = _twice(argv, project, ("sweep.json", "cache"))
    assert (sharded / "rc").read_text() == (single / "rc").read_text()
    assert (sharded / "sweep.json").read_bytes() == (single / "sweep.json").read_bytes()
    assert json.loads((single / "sweep.json").read_text())["comparisons"], "the gates ran"
    # Both ranks printed the same verdict table; rank 0 alone wrote the cache: one entry per
    # model (the dense model and two variants).
    table = (single / "stdout").read_text().splitlines()
    assert sorted((sharded / "stdout").read_text().splitlines()) == sorted(table * 2)
    assert len(list((sharded / "cache").glob("fq-*.npz"))) == 3


@pytest.mark.slow  # the default suite's 10-minute budget on 2 cores (README: how to run it)
def test_pytest_under_torchrun_writes_the_single_process_report(project: Path) -> None:
    argv = [
        *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_gate.py"),
        *("--fairquant-n-boot=200", "--fairquant-device=cpu", "--fairquant-batch-size=16"),
        "--fairquant-quantization=uniform-int4,uniform-int2",
        *("--fairquant-model=fq_dist:make_model", "--fairquant-data=fq_dist:make_split"),
        *("--fairquant-cache-dir=", "--fairquant-report=report.json"),
    ]
    single, sharded = _twice(argv, project, ("report.json",))
    assert (sharded / "rc").read_text() == (single / "rc").read_text()
    assert (sharded / "report.json").read_bytes() == (single / "report.json").read_bytes()
    assert json.loads((single / "report.json").read_text())["comparisons"], "the gates ran"
