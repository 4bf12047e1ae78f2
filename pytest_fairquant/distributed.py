"""Sharded evaluation under torch.distributed: this process's rank, its rows, and the gather.

Under ``torchrun`` (or SLURM's launcher, or code that initialised a process group itself) every
rank runs the same session: the same tests, or the same sweep, in the same order.
:func:`~pytest_fairquant.evaluate.predict` then evaluates only this rank's contiguous shard of
the split (:func:`shard_bounds`), the ranks exchange their outputs (:func:`evaluate_shards`) so
that every rank holds every score in sample order, and the gates, single-process statistics on
identical inputs, decide identical verdicts on every rank. Only rank 0 (:func:`is_writer`)
writes: reports, snapshots and the prediction cache. Rank 0 alone reads the cache as well and
tells the others whether it found the entry (:func:`get_or_compute`), so that every rank enters
the same collectives (a rank that skipped one would leave the others waiting forever).

Shards are whole batches: the split's batches, cut as one process cuts them, are dealt out
contiguously, so each sample is evaluated in the same batch as in a single process and the
scores are bitwise those of a single-process run where the kernels are deterministic (CPU
float models; on CUDA, as deterministic as the kernels are).

When the torchrun environment (``RANK``, ``WORLD_SIZE`` > 1, ``LOCAL_RANK``) is present and no
process group exists, :func:`setup` initialises one: NCCL with one GPU per rank
(``torch.cuda.set_device(LOCAL_RANK)``) when CUDA is available and the device is not ``cpu``,
gloo otherwise. Without that environment, and before anything imported torch, every function
here answers "one process" without importing torch.
"""

from __future__ import annotations

import atexit
import os
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from .errors import EvaluationError, InputError

if TYPE_CHECKING:
    from .cache import CacheKey, PredictionCache

__all__ = [
    "MSG_SHARD",
    "evaluate_shards",
    "get_or_compute",
    "is_writer",
    "launched",
    "local_rank",
    "rank",
    "setup",
    "shard_bounds",
    "world_size",
]

MSG_SHARD = (
    "shard_bounds needs n >= 0, batch_size >= 1 and 0 <= rank < world; "
    "got n={n}, batch_size={batch_size}, rank={rank}, world={world}"
)
MSG_UNPICKLABLE = "rank {rank} failed: {error}"

T = TypeVar("T")


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def launched() -> bool:
    """Whether this process was started as one of several ranks (the torchrun environment)."""
    return _env_int("WORLD_SIZE", 1) > 1 and "RANK" in os.environ


def _group() -> Any:
    """``torch.distributed`` when a process group is initialised, else None (torch not imported
    means no group can exist, so it is not imported to find out)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = torch.distributed
    if not dist.is_available() or not dist.is_initialized():
        return None
    return dist


def world_size() -> int:
    """How many ranks evaluate together (1 outside torch.distributed)."""
    dist = _group()
    if dist is not None:
        return int(dist.get_world_size())
    return _env_int("WORLD_SIZE", 1) if launched() else 1


def rank() -> int:
    """This process's rank (0 outside torch.distributed)."""
    dist = _group()
    if dist is not None:
        return int(dist.get_rank())
    return _env_int("RANK", 0) if launched() else 0


def local_rank() -> int:
    """This process's rank on its host: the GPU it evaluates on (``LOCAL_RANK``, else 0)."""
    return _env_int("LOCAL_RANK", 0)


def is_writer() -> bool:
    """Whether this process writes reports, snapshots and the cache: rank 0 (or the only one)."""
    return rank() == 0


def setup(device: Any = "auto") -> bool:
    """Join the torchrun launch this process belongs to; True when it is one of several ranks.

    Initialises the process group from the environment when nobody has: NCCL, with this rank's
    GPU (``LOCAL_RANK``) made the current device, when CUDA is available and ``device`` is not
    ``cpu``; gloo otherwise. A group initialised elsewhere is used as it is. Idempotent.
    """
    if _group() is None:
        if not launched():
            return False
        import torch
        import torch.distributed as dist

        cuda = str(device) != "cpu" and torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        atexit.register(_leave)
    return world_size() > 1


def _leave() -> None:
    dist = _group()
    if dist is not None:
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- shards


def shard_bounds(n: int, batch_size: int, rank: int, world: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``rank``'s shard of ``n`` rows among ``world`` ranks.

    The ``ceil(n / batch_size)`` batches are dealt out contiguously, ranks differing by at most
    one batch (the later ranks get the extra ones); a rank with no batch gets an empty shard.
    """
    if n < 0 or batch_size < 1 or world < 1 or not 0 <= rank < world:
        raise InputError(MSG_SHARD.format(n=n, batch_size=batch_size, rank=rank, world=world))
    batches = -(-n // batch_size)
    first, last = rank * batches // world, (rank + 1) * batches // world
    return min(first * batch_size, n), min(last * batch_size, n)


def evaluate_shards(
    evaluate: Callable[..., Sequence[NDArray[Any]]], totals: Sequence[int], batch_size: int
) -> tuple[list[NDArray[Any]], dict[str, Any] | None]:
    """``evaluate((start, stop), ...)`` on this rank's shard of each of ``totals`` rows, and the
    arrays it returned (one per total, one row per sample) gathered from every rank in sample
    order, with what the sharding did (``None`` in one process, where ``evaluate`` gets every
    row). A rank whose ``evaluate`` raised makes every rank raise the lowest failing rank's
    error, so that none waits in a collective for a rank that gave up."""
    dist = _group()
    if dist is None or dist.get_world_size() == 1:
        return list(evaluate(*((0, total) for total in totals))), None
    me, world = dist.get_rank(), dist.get_world_size()
    bounds = [shard_bounds(total, batch_size, me, world) for total in totals]
    parts: Sequence[NDArray[Any]] = ()
    failure: BaseException | None = None
    try:
        parts = evaluate(*bounds)
    except Exception as err:
        failure = err
    start = time.perf_counter()
    headers: list[Any] = [None] * world
    shapes = None if failure else [(a.shape, a.dtype.str) for a in parts]
    dist.all_gather_object(headers, (shapes, _portable(failure, me)))
    for number, (_, error) in enumerate(headers):
        if error is not None:
            raise failure if number == me and failure is not None else error
    gathered = [_gather_rows(dist, [h[0][i] for h in headers], parts[i]) for i in range(len(parts))]
    info = {
        "world_size": world,
        "rank": me,
        "rows": [list(b) for b in bounds],
        "gather_s": time.perf_counter() - start,
    }
    return gathered, info


def _gather_rows(dist: Any, shapes: Sequence[Any], local: NDArray[Any]) -> NDArray[Any]:
    """Each rank's ``local`` rows concatenated in rank order, through one padded all_gather."""
    import torch

    rows = [shape[0] for shape, _ in shapes]
    tail, dtype = next((shape[1:], kind) for shape, kind in shapes if shape[0] > 0)
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else torch.device("cpu")
    )
    padded = torch.zeros(
        (max(rows), *tail), dtype=torch.from_numpy(np.empty(0, dtype)).dtype, device=device
    )
    if len(local):
        padded[: len(local)] = torch.from_numpy(np.ascontiguousarray(local)).to(device)
    buffers = [torch.empty_like(padded) for _ in rows]
    dist.all_gather(buffers, padded)
    return np.concatenate(
        [b[:count].cpu().numpy() for b, count in zip(buffers, rows, strict=True)], axis=0
    )


def _portable(error: BaseException | None, me: int) -> BaseException | None:
    """``error`` as it can travel to the other ranks (pickled), else its text."""
    if error is None:
        return None
    try:
        copy: BaseException = pickle.loads(pickle.dumps(error))
    except Exception:
        text = f"{type(error).__name__}: {error}"
        return EvaluationError(MSG_UNPICKLABLE.format(rank=me, error=text))
    return copy


# ----------------------------------------------------------------------------- the cache


def get_or_compute(cache: PredictionCache, key: CacheKey, compute: Callable[[], T]) -> T:
    """``cache.get_or_compute(key, compute)`` across ranks: rank 0 alone reads and writes the
    cache and broadcasts what it found, or that every rank computes (collectively) now."""
    dist = _group()
    if dist is None or dist.get_world_size() == 1:
        return cache.get_or_compute(key, compute)  # type: ignore[arg-type, return-value]
    if dist.get_rank() != 0:
        kind, value = _broadcast(dist, None)
        if kind == "error":
            raise value
        return compute() if kind == "compute" else value
    told = False

    def lead() -> T:
        nonlocal told
        told = True
        _broadcast(dist, ("compute", None))
        return compute()

    try:
        value = cache.get_or_compute(key, lead)  # type: ignore[arg-type]
    except Exception as err:
        if not told:  # the others are still waiting for the verdict of the lookup
            _broadcast(dist, ("error", _portable(err, 0)))
        raise
    if not told:
        _broadcast(dist, ("hit", value))
    return value  # type: ignore[return-value]


def _broadcast(dist: Any, message: Any) -> tuple[str, Any]:
    box = [message]
    dist.broadcast_object_list(box, src=0)
    return box[0]  # type: ignore[no-any-return]
