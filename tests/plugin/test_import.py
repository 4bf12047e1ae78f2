"""Loading the plugin costs nothing: no torch (nor bitsandbytes, transformers) on import."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_plugin_does_not_import_torch() -> None:
    code = (
        "import sys, pytest_fairquant.plugin, pytest_fairquant.gate, pytest_fairquant.snapshot; "
        "heavy = [m for m in ('torch', 'bitsandbytes', 'transformers', 'torchao') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
