"""``fairquant sweep --ray`` (issue 14): one Ray task per (model, method) on a local two-CPU
cluster gives the serial sweep's report and verdict table; the GPU each task asks for; a missing
Ray names the extra; and a sweep without ``--ray`` never imports Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from toy_factories import write_factories

import pytest_fairquant
from pytest_fairquant import cli

#: Where this copy of pytest_fairquant is imported from (the worktree, or site-packages).
PACKAGE_ROOT = str(Path(pytest_fairquant.__file__).parents[1])

#: Two methods that gate, one that prunes, and one that needs CUDA: skipped on a CPU cluster as
#: in a serial sweep here; an odd split (401 samples) so that the tasks' shares are uneven.
METHODS = "uniform-int8,uniform-int2,global-magnitude-0.5,torchao-int4-weight"


@pytest.fixture
def factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_factories(tmp_path, "ray_factories", monkeypatch)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A local Ray of two CPUs for this module; its workers inherit this process's
    environment, PYTHONPATH included."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install '.[ray]')")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _sweep(out: Path, *extra: str, methods: str = METHODS) -> list[str]:
    return [
        *("sweep", "--no-config", "--model=ray_factories:make_model"),
        *("--data=ray_factories:make_odd_split", f"--methods={methods}", "--n-boot=200"),
        # No disk cache: the Ray sweep must compute its predictions, not read the serial one's.
        *("--device=cpu", "--batch-size=64", "--cache-dir=", f"--report={out}", *extra),
    ]


def test_workers_import_this_copy_of_the_package(ray_cluster: Any) -> None:
    where = ray_cluster.get(
        ray_cluster.remote(lambda: __import__("pytest_fairquant").__file__).remote()
    )
    assert where == pytest_fairquant.__file__


def test_a_ray_sweep_writes_the_serial_sweeps_report(
    ray_cluster: Any, factories: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = {}
    for name, extra in (("serial", ()), ("ray", ("--ray",))):
        code = cli.main(_sweep(factories / f"{name}.json", *extra))
        out, err = capsys.readouterr()
        report = json.loads((factories / f"{name}.json").read_text(encoding="utf-8"))
        runs[name] = (code, out.splitlines()[:-1], report.pop("command"), report, err)
    (code, table, command, report, err), ray = runs["serial"], runs["ray"]
    assert ray[0] == code == cli.EXIT_FAIL  # int2 collapses the model
    assert ray[1] == table  # the verdict table, line for line
    assert ray[3] == report  # every comparison, method, split and setting
    assert ray[2] == [*command[:-1], command[-1].replace("serial", "ray"), "--ray"]
    assert [r["method"] for r in report["comparisons"]] == [
        "global-magnitude-0.5",
        "uniform-int2",
        "uniform-int8",
    ]
    assert "skipped" in report["methods"]["torchao-int4-weight"]
    assert "fairquant: skipped torchao-int4-weight: " in ray[4]


def test_a_task_asks_for_a_gpu_where_its_model_would_use_one() -> None:
    pytest.importorskip("pytest_fairquant.compression")
    from pytest_fairquant.ray_sweep import task_gpus
    from pytest_fairquant.settings import resolve

    cpu, auto = (resolve({"device": device}, {}) for device in ("cpu", "auto"))
    assert task_gpus(auto, "dense", 0) == 0  # no GPU in the cluster: never wait for one
    assert task_gpus(auto, "torchao-int4-weight", 0) == 0
    assert task_gpus(cpu, "dense", 2) == 0
    assert task_gpus(cpu, "uniform-int8", 2) == 0
    assert task_gpus(cpu, "torchao-int4-weight", 2) == 1  # CUDA-only, whatever the device
    assert task_gpus(cpu, "bnb-int8", 2) == 0
    assert task_gpus(auto, "uniform-int8", 2) == 1  # a serial sweep here would use the GPU


def test_without_ray_the_flag_names_the_extra(
    factories: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_fairquant.ray_sweep import MSG_NO_RAY

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code = cli.main(_sweep(factories / "r.json", "--ray"))
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    head, _, tail = MSG_NO_RAY.partition("({error})")
    assert err.startswith(f"fairquant: error: {head}(")
    assert err.rstrip().endswith(tail)
    assert not (factories / "r.json").exists()


def test_a_sweep_without_ray_never_imports_it(factories: Path) -> None:
    pytest.importorskip("pytest_fairquant.compression")
    code = (
        "import sys; from pytest_fairquant import cli; "
        f"code = cli.main({_sweep(factories / 'r.json', methods='uniform-int2')!r}); "
        "print(code, 'ray' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=factories,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(factories), PACKAGE_ROOT])},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.split()[-2:] == [str(cli.EXIT_FAIL), "False"], done.stderr
