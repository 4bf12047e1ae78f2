"""The active gate context is a ContextVar: nested blocks restore, other threads don't share it."""

from __future__ import annotations

import threading

from pytest_fairquant.gate import GateContext, active_context, gate_context
from pytest_fairquant.settings import Settings


def test_nested_contexts_restore_the_outer_one() -> None:
    outer, inner = GateContext(Settings(alpha=0.1)), GateContext(Settings(alpha=0.01))
    with gate_context(outer):
        with gate_context(inner):
            assert active_context() is inner
        assert active_context() is outer
    assert active_context().settings == Settings()


def test_another_thread_does_not_see_this_threads_context() -> None:
    seen: list[GateContext] = []
    with gate_context(GateContext(Settings(alpha=0.1))):
        worker = threading.Thread(target=lambda: seen.append(active_context()))
        worker.start()
        worker.join()
    # A module-level stack leaked the main thread's alpha=0.1 into the worker's gates.
    assert seen[0].settings.alpha == Settings().alpha
