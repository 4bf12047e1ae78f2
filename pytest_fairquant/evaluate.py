"""Batched inference of any model on a :class:`DemographicSplit`, cached: :func:`predict`.

``predict`` drives a :class:`~pytest_fairquant.tasks.Task`: batches from
``split.iter_batches`` → ``task.collate`` → moved to the device (tensors inside tuples, lists,
dicts and Hugging Face ``BatchEncoding``) → ``task.bind(model, device)`` forward under
``torch.inference_mode()`` → scores concatenated on the CPU as float32 in split order →
``task.finalize``. The model is put in eval mode and its modes, the RNG state and the
deterministic flags are restored afterwards.

Devices: ``device="auto"`` is CUDA when available, else the CPU. A model whose weights are pinned
by their backend (bitsandbytes, torchao, torch.ao quantized modules, Hugging Face ``device_map``)
is evaluated where it is. A plain model on the CPU is moved to the requested accelerator for the
evaluation and moved back afterwards; any other mismatch (a model on ``cuda:1`` asked to run on
``cuda:0``, a pinned model asked to move, a model on ``meta``) is an :class:`EvaluationError`
that says where the model is and what to pass instead.

:func:`evaluate_variants` builds compressed variants one at a time, predicts and releases each,
so memory stays near dense + one variant; unavailable methods and variants with NaN/inf outputs
are recorded as :class:`VariantFailure`, never raised.

Under torch.distributed (``torchrun``) each rank evaluates its shard of the split and the
outputs are gathered to every rank in sample order (:mod:`.distributed`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from . import distributed
from .cache import CacheKey, PredictionCache
from .data.split import DemographicSplit
from .errors import EvaluationError, FairquantError, InputError, MethodUnavailable
from .fingerprint import model_fingerprint
from .predictions import Predictions
from .tasks.base import Task

if TYPE_CHECKING:
    import torch

    from .tasks.classification import ClassificationTask

__all__ = [
    "EvaluationError",
    "NonFiniteOutputs",
    "PredictionCache",
    "VariantFailure",
    "evaluate_variants",
    "model_fingerprint",
    "peak_memory_bytes",
    "placed",
    "predict",
    "reset_peak_memory",
    "resolve_device",
]

MSG_NO_INPUTS = (
    "split {name!r} has no inputs to run the model on; build it with "
    "DemographicSplit(..., inputs=<tensor, array, paths or dataset>) or pass precomputed "
    "Predictions to the gate instead of a model"
)
MSG_EMPTY_SPLIT = "split {name!r} has no samples; there is nothing to evaluate"
MSG_BAD_DEVICE = "device must be 'auto', 'cpu', 'cuda' or 'cuda:N' (a torch device); got {device!r}"
MSG_NO_CUDA = (
    "device {device!r} was requested but CUDA is not available here; use device='auto' or 'cpu'"
)
MSG_DEVICE_MISMATCH = (
    "the model is on {actual} but device={requested!r} was requested{why}; move it first "
    "(model.to({requested!r})) or pass device={suggest!r}"
)
MSG_PINNED = " and its {backend} weights cannot be moved"
MSG_META = (
    "the model's weights are on the 'meta' device (not loaded); load real weights (e.g. "
    "from_pretrained without low_cpu_mem_usage/device_map='meta') before evaluating"
)
MSG_FORWARD = (
    "the model could not run on split {name!r}: batch {batch} (samples {start}-{stop}) has "
    "inputs {shape} and the model raised {error}; check that the split's inputs (and its "
    "transform/task collate) produce what the model expects"
)
MSG_NOT_TENSOR = "the task's forward must return a torch.Tensor of scores; got {kind}"
MSG_SCORE_ROWS = (
    "the model returned scores of shape {shape} for batch {batch} of split {name!r}, which has "
    "{rows} samples: the forward must return one row per sample (shape ({rows}, C)); check the "
    "model's output (a reduction such as .sum() or .mean() over the batch?) or the task's output="
)
MSG_NOT_A_SPLIT = (
    "split must be a DemographicSplit; got a {kind}. Build one with "
    "DemographicSplit(labels, attributes, inputs=...) (the inputs, labels and group attributes "
    "aligned by sample)"
)
MSG_OOM = (
    "out of memory evaluating split {name!r} on {device} with batch sizes {tried}; free memory "
    "(smaller model, device='cpu') or pass a smaller batch_size"
)
MSG_NON_FINITE = (
    "the model produced NaN/inf scores for {count} of {n} samples of split {name!r} (first in "
    "batch {batch}, sample {first})"
)
MSG_TASK = (
    "task must implement the Task protocol (kind, fingerprint, collate, bind, finalize); got {kind}"
)
MSG_BATCH_SIZE = "batch_size must be a positive int; got {value!r}"
MSG_AMP = "amp must be False, True, 'fp16' or 'bf16'; got {value!r}"
MSG_NOISE_CHECK = "noise_check must be None (automatic), 0 (off) or a positive int; got {value!r}"

AmpSetting = bool | Literal["fp16", "bf16"]


class NonFiniteOutputs(EvaluationError):
    """The model's scores contain NaN or inf (a broken variant); ``count`` samples affected."""

    def __init__(self, message: str, *, count: int, batch: int, first: int) -> None:
        super().__init__(message)
        self.count = count
        self.batch = batch
        self.first = first


@dataclass(frozen=True)
class VariantFailure:
    """A method that produced no usable predictions: ``stage`` is where, ``reason`` why."""

    method: str
    stage: Literal["unavailable", "compress", "evaluate", "non_finite"]
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"method": self.method, "stage": self.stage, "reason": self.reason}


# ----------------------------------------------------------------------------- devices


def resolve_device(device: Any = "auto") -> torch.device:
    """``"auto"`` → ``cuda`` when available, else ``cpu``; anything else as a checked torch.device."""
    import torch

    if device == "auto" or device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InputError(MSG_BAD_DEVICE.format(device=device)) from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise EvaluationError(MSG_NO_CUDA.format(device=str(device)))
    return resolved


def _model_device(model: Any) -> torch.device | None:
    """Where the model's first parameter or buffer lives (None for weightless callables)."""
    tensors = getattr(model, "parameters", None)
    if callable(tensors):
        for t in model.parameters():
            return t.device  # type: ignore[no-any-return]
        for t in model.buffers():
            return t.device  # type: ignore[no-any-return]
    return None


def _pinning_backend(model: Any) -> str | None:
    """The backend that owns the model's placement, when the model may not be moved."""
    if getattr(model, "hf_device_map", None) is not None:
        return "Hugging Face device_map"
    modules = model.modules() if hasattr(model, "modules") else ()
    for module in modules:
        name = type(module).__module__
        if name.startswith("bitsandbytes"):
            return "bitsandbytes"
        if name.startswith(("torch.ao.nn.quantized", "torch.nn.quantized")):
            return "torch.ao quantized"
        for p in module.parameters(recurse=False):
            if type(p).__module__.startswith("torchao") or type(
                getattr(p, "data", None)
            ).__module__.startswith("torchao"):
                return "torchao"
    return None


def _float_kernels(model: Any) -> bool:
    """Whether ``model`` runs PyTorch's own floating-point kernels only: a module whose
    parameters and buffers are plain float tensors, with no quantized backend (bitsandbytes,
    torch.ao, torchao) and no exported or ONNX Runtime graph. On the CPU such reruns are
    bitwise identical, which :func:`_predict_now` checks on one batch before skipping the rest
    of the noise check."""
    import torch

    if not isinstance(model, torch.nn.Module) or _pinning_backend(model) is not None:
        return False
    from .compression._host import CpuRuntimeModel

    if any(isinstance(m, CpuRuntimeModel) for m in model.modules()):
        return False
    tensors = [*model.parameters(), *model.buffers()]
    return all(
        type(t) in (torch.Tensor, torch.nn.Parameter) and t.dtype.is_floating_point for t in tensors
    )


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    return a.index is None or b.index is None or a.index == b.index


@contextlib.contextmanager
def placed(model: Any, requested: Any) -> Iterator[torch.device]:
    """The device to run on; a plain CPU model visits an accelerator and comes back."""
    import torch

    actual = _model_device(model)
    target = resolve_device(requested)
    auto = requested in ("auto", None)
    pinned = _pinning_backend(model)
    if actual is None and pinned is not None:
        # Fully converted torch.ao models keep their weights in packed params, on the CPU only.
        actual = torch.device("cpu")
    if actual is None or _same_device(actual, target):
        yield actual if actual is not None and actual.index is not None else target
        return
    if pinned is not None:
        if auto:
            yield actual
            return
        raise EvaluationError(
            MSG_DEVICE_MISMATCH.format(
                actual=actual,
                requested=str(requested),
                why=MSG_PINNED.format(backend=pinned),
                suggest=str(actual),
            )
        )
    if actual.type != "cpu" and not auto:
        raise EvaluationError(
            MSG_DEVICE_MISMATCH.format(
                actual=actual, requested=str(requested), why="", suggest=str(actual)
            )
        )
    if actual.type != "cpu":  # auto: an accelerator model stays where the user put it
        yield actual
        return
    model.to(target)
    try:
        yield target
    finally:
        model.to(torch.device("cpu"))


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor inside (tuples, lists, dicts, BatchEncoding) on ``device``."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping) or hasattr(value, "keys"):
        # Hugging Face BatchEncoding is a UserDict: rebuilt as a plain dict of moved tensors.
        return {k: to_device(value[k], device) for k in value}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(to_device(v, device) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value


# ----------------------------------------------------------------------------- state


@contextlib.contextmanager
def _evaluation_state(model: Any, seed: int) -> Iterator[None]:
    """Eval mode, fixed seeds and deterministic algorithms; all restored afterwards."""
    import torch

    modes = [(m, m.training) for m in model.modules()] if hasattr(model, "modules") else []
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        if hasattr(model, "eval"):
            model.eval()
        try:
            yield
        finally:
            for module, training in modes:
                module.training = training
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def _autocast(device: torch.device, amp: AmpSetting) -> contextlib.AbstractContextManager[Any]:
    import torch

    if not amp or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    return torch.autocast("cuda", dtype=dtype)


def _amp_name(device: torch.device, amp: AmpSetting) -> str:
    if not amp or device.type != "cuda":
        return "off"
    return "fp16" if amp == "fp16" else "bf16"


def _show_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")


# ----------------------------------------------------------------------------- running


def _is_oom(err: BaseException) -> bool:
    import torch

    if isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


def _describe(batch: Any) -> str:
    shape = getattr(batch, "shape", None)
    if shape is not None:
        return f"{tuple(shape)} {getattr(batch, 'dtype', '')}".strip()
    if isinstance(batch, Mapping) or hasattr(batch, "keys"):
        return "{" + ", ".join(f"{k}: {_describe(batch[k])}" for k in batch) + "}"
    if isinstance(batch, (list, tuple)):
        return f"{type(batch).__name__} of {len(batch)}"
    return type(batch).__name__


def _forward_pass(
    forward: Callable[[Any], Any],
    task: Task,
    split: DemographicSplit,
    rows: tuple[int, int],
    batch_size: int,
    device: torch.device,
    amp: AmpSetting,
    bar: Any,
) -> NDArray[np.float32]:
    """Scores of the samples ``rows[0]`` to ``rows[1]`` (excluded), float32 on the CPU, in
    split order; batches start at ``rows[0]``."""
    import torch

    start, stop = rows
    chunks: list[NDArray[np.float32]] = []
    for number, first in enumerate(range(start, stop, batch_size), start=start // batch_size):
        idx = np.arange(first, min(first + batch_size, stop), dtype=np.int64)
        batch = to_device(task.collate(split.input_batch(idx)), device)
        try:
            with _autocast(device, amp):
                out = forward(batch)
        except FairquantError:
            raise
        except Exception as err:
            if _is_oom(err):
                raise
            raise EvaluationError(
                MSG_FORWARD.format(
                    name=split.name,
                    batch=number,
                    start=int(idx[0]),
                    stop=int(idx[-1]),
                    shape=_describe(batch),
                    error=f"{type(err).__name__}: {err}",
                )
            ) from err
        if not isinstance(out, torch.Tensor):
            raise EvaluationError(MSG_NOT_TENSOR.format(kind=type(out).__name__))
        if out.ndim == 0 or out.shape[0] != len(idx):
            raise EvaluationError(
                MSG_SCORE_ROWS.format(
                    shape=tuple(out.shape), batch=number, name=split.name, rows=len(idx)
                )
            )
        chunks.append(out.detach().float().cpu().numpy())
        if bar is not None:
            bar.update(len(idx))
    if not chunks:  # an empty shard of a sharded evaluation
        return np.empty((0,), dtype=np.float32)
    return np.concatenate(chunks, axis=0).astype(np.float32, copy=False)


def _check_finite(scores: NDArray[np.float32], batch_size: int, name: str) -> None:
    bad = ~np.isfinite(scores.reshape(len(scores), -1)).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise NonFiniteOutputs(
            MSG_NON_FINITE.format(
                count=int(bad.sum()),
                n=len(scores),
                name=name,
                batch=first // batch_size,
                first=first,
            ),
            count=int(bad.sum()),
            batch=first // batch_size,
            first=first,
        )


def _noise_floor(
    task: Task, first: NDArray[np.float32], again: NDArray[np.float32]
) -> dict[str, Any]:
    diff = float(np.max(np.abs(first.astype(np.float64) - again))) if len(first) else 0.0
    flip: float | None = None
    if task.kind != "embedding" and task.kind != "retrieval":
        a, _ = task.finalize(first)
        b, _ = task.finalize(again)
        if a is not None and b is not None:
            differs = (a != b).reshape(len(a), -1).any(axis=1)
            flip = float(differs.mean())
    return {"n": len(first), "flip_rate": flip, "max_abs_diff": diff}


def _resolve_task(task: Task | ClassificationTask | None, split: DemographicSplit) -> Task:
    from .tasks.classification import ClassificationTask

    # A ClassificationTask's kind may be "auto" until the split names it.
    chosen: Any = ClassificationTask() if task is None else task
    if isinstance(chosen, ClassificationTask):
        chosen = chosen.resolved(split.task_kind)
    for attr in ("kind", "fingerprint", "collate", "bind", "finalize"):
        if not hasattr(chosen, attr):
            raise InputError(MSG_TASK.format(kind=type(chosen).__name__))
    resolved: Task = chosen
    return resolved


def predict(
    model: Any,
    split: DemographicSplit,
    *,
    task: Task | ClassificationTask | None = None,
    device: Any = "auto",
    batch_size: int = 64,
    amp: AmpSetting = False,
    cache: PredictionCache | None = None,
    method: str | None = None,
    progress: bool | None = None,
    noise_check: int | None = None,
    seed: int = 0,
) -> Predictions:
    """``model``'s outputs on every sample of ``split`` (see the module docstring).

    ``task`` defaults to :class:`~pytest_fairquant.tasks.classification.ClassificationTask` of
    the split's kind. ``method`` names the model in reports (default: the variant's method id,
    else ``"dense"``). With ``cache`` the result is computed once per (model, method, split,
    task, batch size, AMP, device kind). ``noise_check`` re-runs the first N samples (default
    min(256, 5% of the split); 0 turns it off) and records how often the predicted labels flip
    and the largest score difference in ``metadata["noise_floor"]``; by default a model of float
    kernels on the CPU re-runs one batch first, and the rest only when that one differs. ``progress`` shows a tqdm
    bar (default: on a terminal, not under ``CI``). Out of memory halves the batch size down
    to 1 before giving up with an :class:`EvaluationError`.
    """
    if not isinstance(split, DemographicSplit):
        raise InputError(MSG_NOT_A_SPLIT.format(kind=type(split).__name__))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(MSG_BATCH_SIZE.format(value=batch_size))
    if amp not in (False, True, "fp16", "bf16"):
        raise InputError(MSG_AMP.format(value=amp))
    if noise_check is not None and (
        isinstance(noise_check, bool) or not isinstance(noise_check, int) or noise_check < 0
    ):
        raise InputError(MSG_NOISE_CHECK.format(value=noise_check))
    if not split.has_inputs:
        raise EvaluationError(MSG_NO_INPUTS.format(name=split.name))
    if len(split) == 0:
        raise EvaluationError(MSG_EMPTY_SPLIT.format(name=split.name))
    task = _resolve_task(task, split)
    distributed.setup(device)  # before the device resolves: "cuda" is this rank's GPU
    # A variant that is not built yet (compression.lazy) names itself: nothing here asks it for
    # anything else, so a cache hit does not build it; a miss builds it in compute().
    plan = getattr(model, "fairquant_plan", None)
    if plan is None:
        where = _model_device(model)
        if where is not None and where.type == "meta":
            raise EvaluationError(MSG_META)
    known = plan or getattr(model, "fairquant_info", None)
    name = method or getattr(known, "method_id", None) or "dense"
    target = resolve_device(device)
    fingerprint = model_fingerprint(model)
    key = CacheKey(
        model_fingerprint=fingerprint,
        method=name,
        split_fingerprint=split.fingerprint,
        task_fingerprint=task.fingerprint(),
        batch_size=batch_size,
        amp=_amp_name(target, amp),
        device_kind=target.type,
    )

    def compute() -> Predictions:
        return _predict_now(
            model,
            split,
            task,
            device,
            batch_size,
            amp,
            name,
            fingerprint,
            progress,
            noise_check,
            seed,
            getattr(model, "fairquant_info", None),
        )

    if cache is None:
        return compute()
    return distributed.get_or_compute(cache, key, compute)


def _predict_now(
    model: Any,
    split: DemographicSplit,
    task: Task,
    device: Any,
    batch_size: int,
    amp: AmpSetting,
    name: str,
    fingerprint: str,
    progress: bool | None,
    noise_check: int | None,
    seed: int,
    info: Any,
) -> Predictions:
    import torch

    n = len(split)
    check = min(256, max(1, n // 20)) if noise_check is None else min(noise_check, n)
    # The automatic check of a float model on the CPU reruns one batch first: when that is
    # bitwise identical the rest is not run (a deterministic rerun can flip nothing).
    probe = check
    if noise_check is None and resolve_device(device).type == "cpu" and _float_kernels(model):
        where = _model_device(model)
        if where is None or where.type == "cpu":
            probe = min(check, batch_size)
    used: dict[str, Any] = {}

    def evaluate(rows: tuple[int, int], rerun: tuple[int, int]) -> list[NDArray[np.float32]]:
        """Scores of ``rows`` and of the noise check's ``rerun`` (all of them in one process,
        this rank's shard under torch.distributed)."""
        tried: list[int] = []
        size = batch_size
        total = rows[1] - rows[0] + rerun[1] - rerun[0]
        with (
            placed(model, device) as where,
            _evaluation_state(model, seed),
            torch.inference_mode(),
        ):
            used["device"] = where
            forward = task.bind(model, where)
            while True:
                tried.append(size)
                show = _show_progress(progress) and distributed.is_writer()
                bar = _bar(total, f"fairquant {name}") if show else None
                try:
                    scores = _forward_pass(forward, task, split, rows, size, where, amp, bar)
                    again = _forward_pass(forward, task, split, rerun, size, where, amp, bar)
                    break
                except Exception as err:
                    if not _is_oom(err):
                        raise
                    del err
                    gc.collect()
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    if size == 1:
                        raise EvaluationError(
                            MSG_OOM.format(name=split.name, device=where, tried=tried)
                        ) from None
                    size = max(1, size // 2)
                finally:
                    if bar is not None:
                        bar.close()
        used["batch_size"] = size
        return [scores, again]

    start = time.perf_counter()
    (scores, again), shards = distributed.evaluate_shards(evaluate, (n, probe), batch_size)
    rerun = {"rows": probe, "bitwise_identical": bool(np.array_equal(scores[:probe], again))}
    if probe < check and not rerun["bitwise_identical"]:
        # Not deterministic after all (randomness in forward, a nondeterministic reduction):
        # the whole evaluation again with the whole check, as for any other model, so that
        # the rerun follows the pass it is compared with in one seeded state.
        (scores, again), shards = distributed.evaluate_shards(evaluate, (n, check), batch_size)
    else:
        check = probe
    wall = time.perf_counter() - start
    where, size = used["device"], used["batch_size"]
    _check_finite(scores, size, split.name)
    pred, probs = task.finalize(scores)
    metadata: dict[str, Any] = {
        "device": str(where),
        "batch_size": batch_size,
        "batch_size_used": size,
        "amp": _amp_name(where, amp),
        "wall_time_s": wall,
        "n": n,
        "torch": torch.__version__,
        "noise_floor": (
            {**_noise_floor(task, scores[:check], again), "first_rerun": rerun} if check else None
        ),
    }
    if shards is not None:
        metadata["shards"] = shards
    if info is not None and hasattr(info, "to_dict"):
        metadata["compression"] = info.to_dict()
    return Predictions(
        scores=scores,
        pred=pred,
        probs=probs,
        kind=task.kind,
        task=task.fingerprint(),
        method=name,
        model_fingerprint=fingerprint,
        split_fingerprint=split.fingerprint,
        metadata=metadata,
    )


def _bar(total: int, desc: str) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress is a nicety; tqdm is optional
        return None
    return tqdm(total=total, desc=desc, unit="sample", leave=False, delay=1.0)


# ----------------------------------------------------------------------------- variants


def evaluate_variants(
    model: Any,
    methods: Sequence[str],
    split: DemographicSplit,
    *,
    task: Task | ClassificationTask | None = None,
    device: Any = "auto",
    batch_size: int = 64,
    amp: AmpSetting = False,
    cache: PredictionCache | None = None,
    progress: bool | None = None,
    noise_check: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Predictions | VariantFailure]:
    """``{"dense": ..., method: Predictions or VariantFailure}`` for each compression method.

    Variants are built one at a time with :func:`~pytest_fairquant.compression.compress` (with
    ``params[method]``), evaluated with the dense model's settings and released before the next
    one is built. A method that cannot run here, fails to compress, or yields NaN/inf scores
    becomes a :class:`VariantFailure` with the reason.
    """
    import torch

    from .compression import compress

    options: dict[str, Any] = {
        "task": task,
        "device": device,
        "batch_size": batch_size,
        "amp": amp,
        "cache": cache,
        "progress": progress,
        "noise_check": noise_check,
    }
    results: dict[str, Predictions | VariantFailure] = {
        "dense": predict(model, split, method="dense", **options)
    }
    for method in methods:
        try:
            variant = compress(model, method, **dict((params or {}).get(method, {})))
        except MethodUnavailable as err:
            results[method] = VariantFailure(method, "unavailable", err.reason)
            continue
        except FairquantError as err:
            results[method] = VariantFailure(method, "compress", str(err))
            continue
        try:
            results[method] = predict(variant, split, method=method, **options)
        except NonFiniteOutputs as err:
            results[method] = VariantFailure(method, "non_finite", str(err))
        except EvaluationError as err:
            results[method] = VariantFailure(method, "evaluate", str(err))
        finally:
            del variant
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    return results


# ----------------------------------------------------------------------------- memory


def reset_peak_memory() -> None:
    """Start a new peak: CUDA's allocator peak, and the process's peak RSS (Linux)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS


def peak_memory_bytes(device: str = "cpu") -> int:
    """Peak memory since :func:`reset_peak_memory`: CUDA allocated bytes, or the peak RSS."""
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated())
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")
