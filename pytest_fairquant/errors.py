"""The error tree of pytest-fairquant.

Every error the library raises on purpose derives from :class:`FairquantError`, so a caller can
catch them all at once. Messages say what was wrong, with which value, and what to do; the
message templates live as module constants next to the code that raises them, so tests import
them instead of copying text.
"""

from __future__ import annotations


class FairquantError(Exception):
    """Base class of every error pytest-fairquant raises on purpose."""


class InputError(FairquantError, ValueError):
    """An argument passed to a metric, statistic or evaluation is unusable."""


class ConfigError(FairquantError):
    """A setting (CLI flag, ini key, marker keyword) is invalid; the message names its source."""


class DataError(FairquantError):
    """A data set on disk is missing, malformed or does not match what was asked for."""


class CompressionError(FairquantError):
    """A compression method could not be applied to a model."""


class MethodUnavailable(CompressionError):
    """A compression method cannot run here (missing package, needs CUDA); ``reason`` says why."""

    def __init__(self, method_id: str, reason: str) -> None:
        super().__init__(f"compression method {method_id!r} is unavailable: {reason}")
        self.method_id = method_id
        self.reason = reason


class EvaluationError(FairquantError):
    """Inference failed (device mismatch, inputs the model cannot take, out of memory)."""


class SnapshotError(FairquantError):
    """A fairquant snapshot file is corrupt or of an unknown schema."""


class UnchangedVariant(CompressionError):
    """``compress`` made a variant equal to the dense model (every layer skipped, a method that
    did nothing): its gates would compare the model with itself and pass."""
