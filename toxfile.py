"""tox's inline plugin: the ``examples`` and ``tests`` environments share one virtual environment.

tox 4 records in an environment directory the name of the environment that built it and rebuilds
the directory when an environment of another name uses it ("recreate env because env type
changed"), even when both ask for exactly the same Python, package, extras and deps: so
``tox -e examples`` then ``tox -e tests`` installed PyTorch twice. Environments that use this
runner leave their name out of that record; everything else tox records (interpreter, deps, the
package's dependencies) is still compared, so a real change still recreates the directory.
This is tox-ignore-env-name-mismatch (MIT) in twenty lines, vendored as its author recommends
so that no provisioning step is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tox.plugin import impl
from tox.tox_env.api import ToxEnv
from tox.tox_env.info import Info
from tox.tox_env.python.virtual_env.runner import VirtualEnvRunner
from tox.tox_env.register import ToxEnvRegister


class _InfoWithoutEnvName(Info):
    @contextmanager
    def compare(
        self, value: Any, section: str, sub_section: str | None = None
    ) -> Iterator[tuple[bool, Any | None]]:
        if section == ToxEnv.__name__ and isinstance(value, dict):
            value = {key: item for key, item in value.items() if key != "name"}
        with super().compare(value, section, sub_section) as result:
            yield result


class SharedVirtualEnvRunner(VirtualEnvRunner):
    """A virtualenv runner whose directory any environment with the same settings may reuse."""

    @staticmethod
    def id() -> str:
        return "shared-virtualenv"

    @property
    def cache(self) -> Info:
        return _InfoWithoutEnvName(self.env_dir)


@impl
def tox_register_tox_env(register: ToxEnvRegister) -> None:
    register.add_run_env(SharedVirtualEnvRunner)
