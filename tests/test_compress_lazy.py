"""Variants named before they are built (issue 14): ``plan_variant``'s fingerprint covers every
input of ``compress``, equals the built variant's, and a ``LazyVariant`` becomes the module it
builds on first use (plain modules, fx GraphModules, PT2E static int8, pruned and parametrized
modules, bitsandbytes where it runs, ``torch.compile``)."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import pytest_fairquant
from pytest_fairquant.cache import PredictionCache
from pytest_fairquant.compression import (
    CalibrationData,
    FineTune,
    compress,
    plan_variant,
    registry,
)
from pytest_fairquant.compression import methods as methods_module
from pytest_fairquant.compression.lazy import LazyVariant
from pytest_fairquant.errors import CompressionError
from pytest_fairquant.evaluate import predict
from pytest_fairquant.fingerprint import model_fingerprint
from pytest_fairquant.run import DENSE, FairnessRun
from pytest_fairquant.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from models import random_split, tiny_mlp


def _split(n: int = 120, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    return random_split(torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32)), seed=seed)


def train(model: nn.Module, data: Any, steps: int) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = data.input_batch(np.arange(len(data)))
    for _ in range(steps):
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()


def train_harder(model: nn.Module, data: Any, steps: int) -> None:
    train(model, data, 2 * steps)


@dataclass(frozen=True)
class Centre:
    """A calibrating method: scales the first layer by the calibration inputs' mean size."""

    name: ClassVar[str] = "centre"
    family: ClassVar[str] = "quantization"
    calibrates: ClassVar[bool] = True

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def available(self) -> tuple[bool, str | None]:
        return True, None

    def apply(self, model: nn.Module, calibration: CalibrationData) -> nn.Module:
        size = float(torch.cat(list(calibration.batches)).abs().mean())
        with torch.no_grad():
            model[0].weight.mul_(size)
        return model


@dataclass(frozen=True)
class Halve:
    """A third-party method: halves every Linear weight."""

    name: ClassVar[str] = "halve"
    family: ClassVar[str] = "custom"

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def available(self) -> tuple[bool, str | None]:
        return True, None

    def apply(self, model: nn.Module) -> nn.Module:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Linear):
                    m.weight.mul_(0.5)
        return model


@dataclass(frozen=True)
class EditedHalve(Halve):
    """The same method id after its author edited ``apply``."""

    def apply(self, model: nn.Module) -> nn.Module:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Linear):
                    m.weight.mul_(0.25)
        return model


@pytest.fixture
def methods() -> Iterator[None]:
    registry.register_method("centre", Centre, replace=True)
    registry.register_method("halve", Halve, replace=True)
    yield
    for name in ("centre", "halve"):
        del registry._REGISTRY.entries[name]


def net_class(body: str) -> type[nn.Module]:
    """A class ``Net`` (the same name each time) whose forward returns ``body``."""
    namespace: dict[str, Any] = {"nn": nn, "torch": torch, "__name__": "user_models"}
    source = (
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        torch.manual_seed(0)\n"
        "        self.fc = nn.Linear(4, 3)\n"
        "    def forward(self, x):\n"
        f"        return {body}\n"
    )
    exec(compile(source, "<net>", "exec"), namespace)
    cls: type[nn.Module] = namespace["Net"]
    return cls


MLP = tiny_mlp()
SPLIT = _split()
Side = tuple[nn.Module, str, dict[str, Any]]


def _same(model: nn.Module = MLP, method: str = "uniform-int8", **kwargs: Any) -> Side:
    return model, method, kwargs


def _patched(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, value: Any) -> Side:
    monkeypatch.setattr(target, name, value)
    return _same()


def _edited_method(monkeypatch: pytest.MonkeyPatch) -> Side:
    registry.register_method("halve", EditedHalve, replace=True)
    return _same(method="halve")


#: One input of compress per case: the variant before the change, and after it (the second
#: function may patch what the change is about).
CHANGES: dict[str, tuple[Callable[[], Side], Callable[[pytest.MonkeyPatch], Side]]] = {
    "dense-weights": (_same, lambda mp: _same(tiny_mlp(seed=1))),
    "dense-forward-code": (
        lambda: _same(net_class("self.fc(x)")().eval()),
        lambda mp: _same(net_class("self.fc(x).relu()")().eval()),
    ),
    "method-id": (_same, lambda mp: _same(method="uniform-int4")),
    "method-params": (_same, lambda mp: _same(skip=["2"])),
    "backend-versions": (
        _same,
        lambda mp: _patched(mp, methods_module, "_versions", lambda *p: {"torch": "0.0.0"}),
    ),
    "method-code": (lambda: _same(method="halve"), _edited_method),
    "calibration-part": (
        lambda: _same(method="centre", calibration=_split(40, seed=1)),
        lambda mp: _same(method="centre", calibration=_split(40, seed=2)),
    ),
    "finetune-code": (
        lambda: _same(method="global-magnitude-0.5", finetune=FineTune(train, SPLIT, 3)),
        lambda mp: _same(method="global-magnitude-0.5", finetune=FineTune(train_harder, SPLIT, 3)),
    ),
    "finetune-steps": (
        lambda: _same(method="global-magnitude-0.5", finetune=FineTune(train, SPLIT, 3)),
        lambda mp: _same(method="global-magnitude-0.5", finetune=FineTune(train, SPLIT, 4)),
    ),
    "finetune-data": (
        lambda: _same(method="global-magnitude-0.5", finetune=FineTune(train, SPLIT, 3)),
        lambda mp: _same(
            method="global-magnitude-0.5", finetune=FineTune(train, _split(seed=3), 3)
        ),
    ),
    "package-version": (
        _same,
        lambda mp: _patched(mp, pytest_fairquant, "__version__", "999.0"),
    ),
    "quantized-engine": (
        _same,
        lambda mp: _patched(mp, torch.backends.quantized, "engine", "qnnpack"),
    ),
}


def _lazy(side: Side) -> LazyVariant:
    model, method, kwargs = side
    return LazyVariant(
        plan_variant(model, method, **kwargs), lambda: compress(model, method, **kwargs)
    )


@pytest.mark.parametrize("change", list(CHANGES))
def test_each_input_of_compress_changes_the_key_and_a_stale_entry_is_not_served(
    change: str, methods: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if change == "quantized-engine" and "qnnpack" not in torch.backends.quantized.supported_engines:
        pytest.skip("this torch has no qnnpack engine")
    before, after = CHANGES[change]
    old = _lazy(before())
    predict(old, SPLIT, cache=PredictionCache(tmp_path), noise_check=0)
    new = _lazy(after(monkeypatch))
    assert new.fairquant_fingerprint != old.fairquant_fingerprint
    cache = PredictionCache(tmp_path)
    predict(new, SPLIT, cache=cache, noise_check=0)
    # The old variant's entry was not served for the new one: it was built and computed.
    assert not isinstance(new, LazyVariant)
    assert cache.stats["computed"] == 1 and cache.stats["disk_hits"] == 0


def test_the_dense_models_device_is_part_of_the_key() -> None:
    with torch.device("meta"):
        on_meta = tiny_mlp()
    base = model_fingerprint(MLP)
    assert plan_variant(on_meta, "uniform-int8", base_fingerprint=base).device == "meta"
    assert (
        plan_variant(on_meta, "uniform-int8", base_fingerprint=base).fingerprint
        != plan_variant(MLP, "uniform-int8", base_fingerprint=base).fingerprint
    )


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("uniform-int8", {}),
        ("torch-dynamic-int8", {}),
        ("global-magnitude-0.5", {"finetune": FineTune(train, SPLIT, 3)}),
        ("centre", {"calibration": SPLIT}),
    ],
)
def test_the_planned_key_is_the_built_variants_and_holds_across_runs(
    method: str, kwargs: dict[str, Any], methods: None, tmp_path: Path
) -> None:
    built = compress(MLP, method, **kwargs)
    plan = plan_variant(MLP, method, **kwargs)
    assert model_fingerprint(built) == plan.fingerprint == built.fairquant_info.plan.fingerprint
    # One run's built variant writes its predictions; the next run's plan finds them unbuilt.
    first = predict(built, SPLIT, cache=PredictionCache(tmp_path), noise_check=0)
    again = _lazy((MLP, method, kwargs))
    cache = PredictionCache(tmp_path)
    found = predict(again, SPLIT, cache=cache, noise_check=0)
    assert isinstance(again, LazyVariant) and cache.stats["disk_hits"] == 1
    np.testing.assert_array_equal(found.scores, first.scores)
    assert found.metadata["compression"]["method_id"] == method


# --------------------------------------------------------------------------- becoming the module


def _becomes(build: Callable[[], nn.Module], use: Callable[[Any], Any]) -> tuple[Any, nn.Module]:
    """A LazyVariant of ``build``, used once by ``use``; and the module built eagerly."""
    calls: list[nn.Module] = []

    def counted() -> nn.Module:
        calls.append(build())
        return calls[-1]

    lazy = LazyVariant(plan_variant(MLP, "uniform-int8"), counted)
    assert isinstance(lazy, nn.Module) and "not built yet" in repr(lazy)
    assert calls == [] and lazy.fairquant_fingerprint == lazy.fairquant_plan.fingerprint
    identity = id(lazy)
    use(lazy)
    assert len(calls) == 1 and id(lazy) == identity
    assert type(lazy) is type(calls[0]) and not isinstance(lazy, LazyVariant)
    use(lazy)
    assert len(calls) == 1  # built once
    return lazy, build()


def test_a_plain_module_becomes_itself_with_no_indirection_left() -> None:
    x = torch.randn(5, 4)
    lazy, eager = _becomes(lambda: compress(MLP, "uniform-int8"), lambda m: m(x))
    assert isinstance(lazy, nn.Sequential) and len(lazy) == 3 and isinstance(lazy[0], nn.Linear)
    assert "__getattribute__" not in type(lazy).__dict__
    torch.testing.assert_close(lazy(x), eager(x))
    assert lazy.fairquant_info.method_id == "uniform-int8"
    assert model_fingerprint(lazy) == lazy.fairquant_plan.fingerprint
    torch.testing.assert_close(copy.deepcopy(lazy)(x), eager(x))


def test_len_iteration_and_indexing_build_it_too() -> None:
    lazy, _ = _becomes(lambda: compress(MLP, "uniform-int8"), len)
    assert [type(m).__name__ for m in lazy] == ["Linear", "ReLU", "Linear"]


def test_an_fx_graph_module_and_a_pt2e_static_int8_variant() -> None:
    x = torch.randn(5, 4)
    lazy, _ = _becomes(lambda: torch.fx.symbolic_trace(MLP), lambda m: m(x))
    assert isinstance(lazy, torch.fx.GraphModule) and "def forward" in lazy.code
    torch.testing.assert_close(lazy(x), MLP(x))
    calibration = torch.randn(64, 4)
    static, eager = _becomes(
        lambda: compress(MLP, "static-int8", calibration=calibration), lambda m: m(x)
    )
    assert isinstance(static.graph_module, torch.fx.GraphModule)
    torch.testing.assert_close(static(x), eager(x))


def test_pruned_modules_keep_their_masks_and_parametrizations() -> None:
    def parametrized() -> nn.Module:
        torch.manual_seed(0)
        model = nn.Linear(4, 2)
        parametrize.register_parametrization(model, "weight", _Halved())
        return model

    x = torch.randn(5, 4)
    lazy, eager = _becomes(parametrized, lambda m: m(x))
    assert parametrize.is_parametrized(lazy, "weight") and isinstance(lazy, nn.Linear)
    torch.testing.assert_close(lazy(x), eager(x))
    pruned, eager = _becomes(lambda: compress(MLP, "l1-unstructured-0.5"), lambda m: m(x))
    assert float((pruned[0].weight == 0).float().mean()) == pytest.approx(0.5, abs=0.05)
    torch.testing.assert_close(pruned(x), eager(x))


class _Halved(nn.Module):
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * 0.5


def test_a_bitsandbytes_variant() -> None:
    if not torch.cuda.is_available():
        pytest.skip("bitsandbytes' int8 kernels need CUDA")
    pytest.importorskip("bitsandbytes")
    x = torch.randn(5, 4, device="cuda")
    dense = tiny_mlp(hidden=64).cuda()
    lazy, eager = _becomes(lambda: compress(dense, "bnb-int8"), lambda m: m(x))
    assert any(type(m).__module__.startswith("bitsandbytes") for m in lazy.modules())
    torch.testing.assert_close(lazy(x), eager(x))


def test_torch_compile_takes_a_lazy_variant() -> None:
    x = torch.randn(5, 4)
    lazy = _lazy((MLP, "uniform-int8", {}))
    compiled = torch.compile(lazy, backend="eager")
    torch.testing.assert_close(compiled(x), compress(MLP, "uniform-int8")(x))
    assert isinstance(lazy, nn.Sequential)


def test_a_build_that_raises_leaves_it_unbuilt_and_raises_again() -> None:
    def broken() -> nn.Module:
        raise CompressionError("no kernel for that")

    lazy = LazyVariant(plan_variant(MLP, "uniform-int8"), broken)
    for _ in range(2):
        with pytest.raises(CompressionError, match="no kernel for that"):
            lazy(torch.randn(2, 4))
        assert isinstance(lazy, LazyVariant)


class _Slotted(nn.Module):
    """A module class whose layout a LazyVariant cannot take (``__slots__``)."""

    __slots__ = ("extra",)


def test_a_variant_of_a_class_it_cannot_become_is_a_clear_error() -> None:
    lazy = LazyVariant(plan_variant(MLP, "uniform-int8"), _Slotted)
    with pytest.raises(CompressionError) as err:
        lazy(torch.randn(2, 4))
    assert str(err.value).startswith(
        "uniform-int8: the variant is a _Slotted, which a lazily built variant cannot turn into ("
    )
    assert str(err.value).endswith(
        "its method must return a torch.nn.Module subclass without __slots__"
    )


# --------------------------------------------------------------------------- fairquant sweep


def test_a_warm_sweep_compresses_nothing_and_reports_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytest_fairquant.compression as compression

    built: list[str] = []
    real = compression.compress

    def counting(model: nn.Module, method: str, **params: Any) -> nn.Module:
        built.append(method)
        return real(model, method, **params)

    monkeypatch.setattr(compression, "compress", counting)
    methods = ["uniform-int8", "global-magnitude-0.5", "torch-dynamic-int8"]
    runs = []
    for _ in range(2):  # two runs (two processes' worth of state) on one cache directory
        run = FairnessRun(Settings(cache_dir=str(tmp_path), n_boot=100, min_group_size=5))
        split = run.prepare(_split(300))
        base = run.evaluate(MLP, split, DENSE)
        checks = [
            run.judge(MLP, split, base, run.evaluate(MLP, split, m), nodeid=m) for m in methods
        ]
        runs.append(([c.outcome for c in checks], run.report(["sweep"])))
    assert built == methods  # the first run built each variant once, the second none
    (cold_outcomes, cold), (warm_outcomes, warm) = runs
    assert warm_outcomes == cold_outcomes
    assert warm["methods"] == cold["methods"] and set(warm["methods"]) == set(methods)
    assert warm["comparisons"] == cold["comparisons"]


def test_a_sweep_row_names_a_build_that_fails_as_compression(methods: None) -> None:
    run = FairnessRun(Settings(cache_dir=None, n_boot=100))
    registry.register_method("halve", _Unchanged, replace=True)
    found = run.evaluate(MLP, run.prepare(_split()), "halve")
    assert found.failure is not None and found.failure[0] == "compression"
    assert "compression changed nothing" in found.failure[1]


class _Unchanged(Halve):
    def apply(self, model: nn.Module) -> nn.Module:
        return model
