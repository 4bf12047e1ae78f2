"""Progress lines of long steps: the protocol every sink follows and the one way to report a step.

A step says what it starts (``evaluating uniform-int4 (Net@1a2b3c4d) on digits, 450 samples``)
and, when it ends, its elapsed time and its own result (``done in 0.8 s, 560 samples/s``), so a
sink can print both on one line. :class:`~.run.FairnessRun` reports compressions and
evaluations, :func:`~.attribution.attribute_harm` each layer trial; the pytest plugin's sink
writes through the terminal reporter, ``fairquant attribute``'s (:class:`StreamProgress`) to
stderr. Imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, TextIO

__all__ = ["Progress", "Step", "StreamProgress", "step"]


class Progress(Protocol):
    """Where a run says what its long steps are doing: ``start`` when one begins, ``done``
    when it ends."""

    def start(self, text: str) -> None: ...

    def done(self, text: str) -> None: ...


@dataclass
class Step:
    """A step in progress: when it began, and what it adds to its line when it ends."""

    started: float = field(default_factory=time.perf_counter)
    result: str = ""
    #: Whether another step began and ended inside this one (its line is then written again
    #: before its end, see :func:`step`).
    interrupted: bool = False

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@contextlib.contextmanager
def step(
    progress: Progress | None, text: str, *, open_steps: list[Step] | None = None
) -> Iterator[Step]:
    """Report ``text`` as started, then its elapsed time and the step's own ``result`` (or that
    it failed) when it ends; silently when ``progress`` is None. ``open_steps`` holds the steps
    under way in the same sink: a step that another began and ended inside (a variant built on
    a cache miss while it is evaluated) writes its line again before its end."""
    current = Step()
    if progress is None:
        yield current
        return
    opened = open_steps if open_steps is not None else []
    if opened:
        opened[-1].interrupted = True
    opened.append(current)
    progress.start(text)
    outcome = "failed"
    try:
        yield current
        outcome = "done"
    finally:
        opened.pop()
        if current.interrupted:
            progress.start(text)
        tail = f", {current.result}" if current.result and outcome == "done" else ""
        progress.done(f"{outcome} in {current.elapsed:.1f} s{tail}")


class StreamProgress:
    """Progress lines on a text stream (stderr by default), ``fairquant: <step> ... done``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def start(self, text: str) -> None:
        out = self.stream or sys.stderr
        out.write(f"fairquant: {text} ...")
        out.flush()

    def done(self, text: str) -> None:
        out = self.stream or sys.stderr
        out.write(f" {text}\n")
        out.flush()
