"""The prediction cache: each (model, method, split, task, evaluation settings) is predicted once.

Entries live in memory and, with a directory, on disk as ``<key>.npz`` (scores, pred, probs)
plus ``<key>.json`` (the rest of :class:`~pytest_fairquant.predictions.Predictions`). Writes go
to a temporary file that is renamed into place (``os.replace``), so a reader never sees half a
file. pytest-xdist workers share the directory: a per-key ``filelock.FileLock`` makes the second
worker wait for the first and read its result instead of computing it again. A file that cannot
be read is ignored with a :class:`CacheWarning` and rebuilt. The cache only ever touches files
whose names it made (``fq-<key>.*``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import distributed
from .predictions import Predictions

MSG_CORRUPT = "ignoring the unreadable prediction cache entry {path} ({error}); it is rebuilt"
SCHEMA = 2
_PREFIX = "fq-"
#: The names the cache writes: entries, their locks, and interrupted writes' temporary files.
_OWN_FILE = re.compile(
    r"fq-[0-9a-f]{40}\.(?:npz|json|lock)|\.fq-[0-9a-f]{40}\.(?:npz|json)\.\w+\.tmp"
)


class CacheWarning(UserWarning):
    """A prediction cache entry was unreadable and is being rebuilt."""


@dataclass(frozen=True)
class CacheKey:
    """Everything that changes a model's predictions on a split."""

    model_fingerprint: str
    method: str
    split_fingerprint: str
    task_fingerprint: str
    batch_size: int
    amp: str
    device_kind: str

    @property
    def digest(self) -> str:
        text = json.dumps([SCHEMA, *self.__dict__.values()])
        return hashlib.sha256(text.encode()).hexdigest()[:40]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class PredictionCache:
    """Predictions in memory, and on disk under ``directory`` when one is given."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, Predictions] = {}
        #: How many entries this object computed, read from disk, or found in memory.
        self.stats = {"computed": 0, "disk_hits": 0, "memory_hits": 0, "corrupt": 0}

    def _paths(self, key: CacheKey) -> tuple[Path, Path, Path]:
        assert self.directory is not None
        stem = self.directory / f"{_PREFIX}{key.digest}"
        return stem.with_suffix(".npz"), stem.with_suffix(".json"), stem.with_suffix(".lock")

    def get_or_compute(self, key: CacheKey, compute: Callable[[], Predictions]) -> Predictions:
        """The cached predictions of ``key``, or ``compute()``'s, stored for next time."""
        hit = self._memory.get(key.digest)
        if hit is not None:
            self.stats["memory_hits"] += 1
            return hit
        if self.directory is None:
            value = compute()
            self.stats["computed"] += 1
            self._memory[key.digest] = value
            return value
        from filelock import FileLock

        self.directory.mkdir(parents=True, exist_ok=True)
        npz, meta, lock = self._paths(key)
        with FileLock(str(lock)):
            stored = self._read(key, npz, meta)
            if stored is not None:
                self.stats["disk_hits"] += 1
                value = stored
            else:
                value = compute()
                self.stats["computed"] += 1
                self._write(value, npz, meta)
        self._memory[key.digest] = value
        return value

    def _read(self, key: CacheKey, npz: Path, meta: Path) -> Predictions | None:
        if not npz.exists() or not meta.exists():
            return None
        try:
            info = json.loads(meta.read_text())
            if info.get("schema") != SCHEMA or info.get("key") != key.digest:
                raise ValueError("written for another key or schema")
            with np.load(npz, allow_pickle=False) as arrays:
                scores = arrays["scores"].astype(np.float32)
                pred = arrays["pred"].astype(np.int64) if "pred" in arrays else None
                probs = arrays["probs"].astype(np.float64) if "probs" in arrays else None
            return Predictions(
                scores=scores,
                pred=pred,
                probs=probs,
                kind=info["kind"],
                task=info["task"],
                method=info["method"],
                model_fingerprint=info["model_fingerprint"],
                split_fingerprint=info["split_fingerprint"],
                metadata={**info["metadata"], "cached": True},
            )
        except Exception as err:  # any unreadable entry: warn, then recompute and overwrite
            self.stats["corrupt"] += 1
            warnings.warn(
                MSG_CORRUPT.format(path=npz.name, error=f"{type(err).__name__}: {err}"),
                CacheWarning,
                stacklevel=4,
            )
            return None

    def _write(self, value: Predictions, npz: Path, meta: Path) -> None:
        if not distributed.is_writer():  # under torch.distributed, rank 0 writes the cache
            return
        arrays: dict[str, Any] = {"scores": value.scores}
        if value.pred is not None:
            arrays["pred"] = value.pred
        if value.probs is not None:
            arrays["probs"] = value.probs
        info = {
            "schema": SCHEMA,
            "key": npz.stem[len(_PREFIX) :],
            "kind": value.kind,
            "task": value.task,
            "method": value.method,
            "model_fingerprint": value.model_fingerprint,
            "split_fingerprint": value.split_fingerprint,
            "metadata": _jsonable(dict(value.metadata)),
        }
        _atomic_write(npz, lambda f: np.savez(f, **arrays))
        _atomic_write(meta, lambda f: f.write(json.dumps(info, sort_keys=True).encode()))

    def clear_memory(self) -> None:
        self._memory.clear()

    def entries(self) -> Mapping[str, Predictions]:
        return dict(self._memory)


def clear_directory(directory: str | os.PathLike[str]) -> int:
    """Delete the files the cache wrote in ``directory`` (never any other); how many went.

    ``--fairquant-cache-clear`` calls it before a session. A missing directory has none.
    """
    path = Path(directory)
    if not path.is_dir() or not distributed.is_writer():  # rank 0 owns the directory
        return 0
    removed = 0
    for entry in path.iterdir():
        if _OWN_FILE.fullmatch(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def _atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
