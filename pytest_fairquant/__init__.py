"""pytest-fairquant: fairness gates for compressed neural networks, inside pytest.

The public names are loaded lazily so that importing the package (which pytest does for the
plugin) never imports torch, bitsandbytes or transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "DemographicSplit": "pytest_fairquant.data.split",
    "FairquantError": "pytest_fairquant.errors",
    "Undefined": "pytest_fairquant.undefined",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_fairquant' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
