"""pytest-fairquant: fairness gates for compressed neural networks, inside pytest.

The public names are loaded lazily so that importing the package (which pytest does for the
plugin) never imports torch, bitsandbytes or transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Attribution": "pytest_fairquant.attribution",
    "ClassificationTask": "pytest_fairquant.tasks.classification",
    "Diagnosis": "pytest_fairquant.diagnostics",
    "CompressionInfo": "pytest_fairquant.compression",
    "DataWarning": "pytest_fairquant.data.readers",
    "DemographicSplit": "pytest_fairquant.data.split",
    "EmbeddingTask": "pytest_fairquant.tasks.embedding",
    "FairnessAssertionError": "pytest_fairquant.gate",
    "FairquantError": "pytest_fairquant.errors",
    "GroupReport": "pytest_fairquant.metrics",
    "PredictionCache": "pytest_fairquant.cache",
    "RetrievalTask": "pytest_fairquant.tasks.retrieval",
    "Undefined": "pytest_fairquant.undefined",
    "ZeroShotTask": "pytest_fairquant.tasks.zeroshot",
    "assert_fvo_below": "pytest_fairquant.gate",
    "assert_no_bias_amplification": "pytest_fairquant.gate",
    "assess_gap": "pytest_fairquant.stats",
    "attribute_harm": "pytest_fairquant.attribution",
    "bias_amplification": "pytest_fairquant.metrics",
    "cev": "pytest_fairquant.metrics",
    "compare": "pytest_fairquant.stats",
    "compare_units": "pytest_fairquant.stats",
    "compress": "pytest_fairquant.compression",
    "compression_info": "pytest_fairquant.compression",
    "compression_methods": "pytest_fairquant.compression",
    "demographic_parity_difference": "pytest_fairquant.metrics",
    "diagnose": "pytest_fairquant.diagnostics",
    "disparate_impact": "pytest_fairquant.metrics",
    "equalized_odds_difference": "pytest_fairquant.metrics",
    "evaluate_variants": "pytest_fairquant.evaluate",
    "expected_calibration_error": "pytest_fairquant.metrics",
    "fvo": "pytest_fairquant.metrics",
    "group_metrics": "pytest_fairquant.metrics",
    "group_report": "pytest_fairquant.gate",
    "load_quantized_pretrained": "pytest_fairquant.compression",
    "max_skew": "pytest_fairquant.metrics",
    "min_skew": "pytest_fairquant.metrics",
    "mitigate": "pytest_fairquant.mitigation",
    "population_table": "pytest_fairquant.population",
    "predict": "pytest_fairquant.evaluate",
    "read_celeba": "pytest_fairquant.data.readers",
    "read_facet": "pytest_fairquant.data.readers",
    "read_fairface": "pytest_fairquant.data.readers",
    "read_manifest": "pytest_fairquant.data.readers",
    "read_utkface": "pytest_fairquant.data.readers",
    "recall_disparity": "pytest_fairquant.metrics",
    "risk_forecast": "pytest_fairquant.mitigation",
    "register_method": "pytest_fairquant.compression",
    "sde": "pytest_fairquant.metrics",
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
