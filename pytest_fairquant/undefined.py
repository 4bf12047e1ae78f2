"""NaN that says why.

A metric that cannot be estimated (an empty group, no positives, a zero denominator, Bias
Amplification's filters) returns :class:`Undefined`: a ``float`` that is NaN, so arithmetic and
``math.isnan`` behave as for any NaN, and that carries a machine-readable ``reason`` code plus a
human ``detail`` for reports. It is never 0.
"""

from __future__ import annotations

import math
from typing import Any

#: The reason codes in use. Reports and snapshots store the code; ``detail`` is for people.
REASONS = frozenset(
    {
        "empty_group",
        "no_positives",
        "no_negatives",
        "zero_denominator",
        "single_group",
        "single_class",
        "too_few_samples",
        "ba_too_few_positives",
        "ba_small_train_gap",
        "ba_no_predicted_positives",
        "no_eligible_classes",
        "no_eligible_units",
        "all_classes_excluded",
        "failed_variant",
        "not_applicable",
        "not_differentiable",
    }
)


class Undefined(float):
    """A NaN float with a ``reason`` code (one of :data:`REASONS`) and a ``detail`` sentence."""

    reason: str
    detail: str

    def __new__(cls, reason: str, detail: str = "") -> Undefined:
        if reason not in REASONS:
            raise ValueError(f"unknown Undefined reason {reason!r}; known: {sorted(REASONS)}")
        obj = super().__new__(cls, math.nan)
        obj.reason = reason
        obj.detail = detail or reason.replace("_", " ")
        return obj

    def __repr__(self) -> str:
        return f"Undefined({self.reason!r}, {self.detail!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Undefined, (self.reason, self.detail))

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "detail": self.detail}


def reason_of(value: float) -> str | None:
    """The reason code of an undefined value, ``"nan"`` for a plain NaN, ``None`` when defined."""
    if isinstance(value, Undefined):
        return value.reason
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return None
