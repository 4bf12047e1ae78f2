"""pytest-xdist scheduling by variant: each variant's tests run on one worker, and the workers
evaluate different variants at the same time.

xdist's ``load`` scheduling deals tests out in chunks, so both workers get tests of the same
variant and one waits on the prediction cache's lock while the other compresses and evaluates
it. Its ``loadgroup`` scheduling would keep a group on one worker, but on pytest >= 9.2 it sees
no groups (pytest-xdist#1386: the ``@group`` suffix it appends to node ids no longer changes
them). :class:`VariantScheduling` is xdist's ``loadscope`` scheduling with this plugin's scopes:
a test's ``xdist_group`` where it has one, else its variant, else the test alone; the biggest
scopes go first (``--loadscope-reorder``, xdist's default).

The controller does not collect, so it cannot tell a test's variant from its id. Each worker
writes the scope of every test it collected to a file in a directory the controller names in
``workerinput`` (``plugin.SCOPES_KEY``), before it reports its collection; the scheduler reads the
files when it first schedules. A test the files do not name is a scope of its own.

This module imports xdist; the plugin imports it only from xdist's own hooks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xdist.scheduler import LoadScopeScheduling


def write_scopes(directory: str, worker: str, scopes: Mapping[str, str]) -> None:
    """On a worker: the scope of each collected test (node id -> scope)."""
    (Path(directory) / f"{worker}.json").write_text(json.dumps(dict(scopes)))


class VariantScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped here
    """``loadscope`` with the scopes the workers wrote to ``directory``."""

    def __init__(self, config: Any, log: Any, directory: Path) -> None:
        super().__init__(config, log)
        self._directory = directory
        self._scopes: dict[str, str] = {}

    def schedule(self) -> None:
        if self.collection is None:  # the first call: every worker has written its file
            for path in sorted(self._directory.glob("*.json")):
                self._scopes.update(json.loads(path.read_text()))
        super().schedule()

    def _split_scope(self, nodeid: str) -> str:
        return self._scopes.get(nodeid, nodeid)


__all__ = ["VariantScheduling", "write_scopes"]
