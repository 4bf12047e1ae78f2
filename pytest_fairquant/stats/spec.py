"""The gate specification: every decision setting of a comparison, validated once.

A :class:`GateSpec` holds what decides a verdict (gap, metric, tolerance, alpha, minimum sizes,
resample counts, seed, correction, interval, power, utility guard, noise floor). It is built by
:meth:`GateSpec.build`, which runs exactly one check per setting from :data:`CHECKS` plus the
checks that involve two settings. :func:`~pytest_fairquant.stats.compare` builds one from its
keywords, and the plugin's option table (:mod:`pytest_fairquant.settings`) parses the same
settings with the same functions, so ``--fairquant-alpha=1.5``, ``fairquant_alpha = 1.5`` and
``compare(..., alpha=1.5)`` are refused by one rule with one sentence.

Each check takes a Python value (numpy and torch scalars are unwrapped; booleans are refused
where a number is expected) and returns the typed value or raises
:class:`~pytest_fairquant.errors.InputError` with a message that ends ``; got <value>``.
:func:`problem_of` strips that suffix for callers that name the value themselves.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..metrics.registry import check_gap, check_metric
from ._decisions import check_correction
from ._resample import check_interval, check_n_boot

MSG_ALPHA = "alpha must be a number strictly between 0 and 1 (e.g. 0.05); got {got!r}"
MSG_TOLERANCE = (
    "tolerance must be a finite number >= 0, in the gap's units (e.g. 0.02 for two accuracy "
    "points); got {got!r}"
)
MSG_MIN_SUPPORT = "{name} must be an int >= 1; got {got!r}"
MSG_NOISE_FLOOR = "noise_floor must be a flip rate in [0, 1] (or None); got {got!r}"
MSG_SEED = "seed must be an integer >= 0 (it seeds every resampling); got {got!r}"
MSG_UTILITY_DROP = (
    "max_utility_drop must be a number in [0, 1] (the largest acceptable drop of accuracy, or "
    "of the gate's metric, in any group), or 'off' (None) to turn the utility guard off; "
    "got {got!r}"
)
MSG_POWER = "power must be a number strictly between 0 and 1 (e.g. 0.8); got {got!r}"
#: Raised by ``compare`` (not by the spec, which the per-query gates share).
MSG_UNIT_GAP = (
    "gap {gap!r} is measured per query, not per sample: compute it per query for both models "
    "and call compare_units(base_values, compressed_values, ...)"
)
MSG_DROP_METRIC = "gap='accuracy_drop' compares metric in {known}; got metric={got!r}"
MSG_PERMUTATIONS_ALPHA = (
    "with n_permutations={n} the smallest permutation p-value is 1/{m} = {p:.3g}, not below "
    "alpha={alpha:g}: no gate could ever fail; use n_permutations >= {need}"
)
MSG_UNKNOWN_SETTING = "unknown gate setting {name!r}; known: {known}"

#: Metrics that ``gap='accuracy_drop'`` compares per group.
DROP_METRICS = ("accuracy", "tpr", "fpr", "fnr")
#: Gaps measured per query (compare_units), not per sample.
UNIT_GAPS = ("max_skew", "min_skew")


def plain_scalar(value: Any) -> Any:
    """A numpy or torch scalar (0-d array, 0-d tensor) as the Python number it holds; anything
    else unchanged. Booleans stay booleans, so the checks below can reject them."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.generic) or (
        getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None))
    ):
        return value.item()
    return value


def _real(value: Any) -> float | None:
    value = plain_scalar(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _integer(value: Any) -> int | None:
    value = plain_scalar(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


# --------------------------------------------------------------------------- one check per setting


def check_alpha(alpha: Any) -> float:
    number = _real(alpha)
    if number is None or not 0 < number < 1:
        raise InputError(MSG_ALPHA.format(got=alpha))
    return number


def check_nonnegative(value: Any, message: str) -> float:
    """A finite number >= 0; ``message`` is the template (with ``{got}``) of the error."""
    number = _real(value)
    if number is None or number < 0:
        raise InputError(message.format(got=value))
    return number


def check_tolerance(value: Any) -> float:
    return check_nonnegative(value, MSG_TOLERANCE)


def check_count(value: Any, name: str) -> int:
    number = _integer(value)
    if number is None or number < 1:
        raise InputError(MSG_MIN_SUPPORT.format(name=name, got=value))
    return number


def check_seed(seed: Any) -> int:
    """A resampling seed: an integer >= 0 (numpy's generators reject negative seeds)."""
    number = _integer(seed)
    if number is None or number < 0:
        raise InputError(MSG_SEED.format(got=seed))
    return number


def check_utility_drop(value: Any) -> float | None:
    """``max_utility_drop``: None (the guard off) or a drop in [0, 1] in the metric's units."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
        return None
    number = _real(value)
    if number is None or not 0 <= number <= 1:
        raise InputError(MSG_UTILITY_DROP.format(got=value))
    return number


def check_noise_floor(value: Any) -> float | None:
    if value is None:
        return None
    number = _real(value)
    if number is None or not 0 <= number <= 1:
        raise InputError(MSG_NOISE_FLOOR.format(got=value))
    return number


def check_power(value: Any) -> float:
    number = _real(value)
    if number is None or not 0 < number < 1:
        raise InputError(MSG_POWER.format(got=value))
    return number


def _choice_text(check: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A check of a name: surrounding blanks do not count, a non-string is refused by ``check``."""

    def run(value: Any) -> Any:
        return check(value.strip() if isinstance(value, str) else value)

    return run


#: The one check of each setting, by name. The option table parses these settings with them.
CHECKS: Mapping[str, Callable[[Any], Any]] = {
    "gap": _choice_text(check_gap),
    "metric": _choice_text(check_metric),
    "tolerance": check_tolerance,
    "alpha": check_alpha,
    "n_boot": check_n_boot,
    "n_permutations": lambda v: check_count(v, "n_permutations"),
    "seed": check_seed,
    "min_group_size": lambda v: check_count(v, "min_group_size"),
    "min_positives": lambda v: check_count(v, "min_positives"),
    "correction": _choice_text(check_correction),
    "interval": _choice_text(check_interval),
    "power": check_power,
    "max_utility_drop": check_utility_drop,
    "noise_floor": check_noise_floor,
}


def problem_of(err: InputError) -> str:
    """The sentence of a check's error without its ``; got <value>`` suffix (for a caller that
    shows the value and where it came from itself)."""
    return str(err).rsplit("; got ", 1)[0]


# --------------------------------------------------------------------------- the specification


@dataclass(frozen=True)
class GateSpec:
    """Every setting that decides a comparison's verdict, validated (build with :meth:`build`)."""

    gap: str = "fvo"
    metric: str = "accuracy"
    tolerance: float = 0.0
    alpha: float = 0.05
    n_boot: int = 1000
    n_permutations: int = 1999
    seed: int = 0
    min_group_size: int = 30
    min_positives: int = 10
    correction: str = "holm"
    interval: str = "percentile"
    power: float = 0.8
    max_utility_drop: float | None = 0.05
    noise_floor: float | None = None

    @classmethod
    def build(cls, **values: Any) -> GateSpec:
        """Validate ``values`` (each by its one check in :data:`CHECKS`; settings not given take
        the defaults) and the rules that tie two settings together."""
        known = [f.name for f in dataclasses.fields(cls)]
        for name in values:
            if name not in CHECKS:
                raise InputError(MSG_UNKNOWN_SETTING.format(name=name, known=", ".join(known)))
        checked = {name: CHECKS[name](value) for name, value in values.items()}
        spec = cls(**checked)
        spec._check_together()
        return spec

    def replace(self, **changes: Any) -> GateSpec:
        """A copy with ``changes`` applied, validated as :meth:`build` does."""
        return GateSpec.build(**{**dataclasses.asdict(self), **changes})

    def _check_together(self) -> None:
        if self.gap == "accuracy_drop" and self.metric not in DROP_METRICS:
            raise InputError(MSG_DROP_METRIC.format(known=", ".join(DROP_METRICS), got=self.metric))
        smallest = 1.0 / (self.n_permutations + 1)
        if smallest >= self.alpha:
            raise InputError(
                MSG_PERMUTATIONS_ALPHA.format(
                    n=self.n_permutations,
                    m=self.n_permutations + 1,
                    p=smallest,
                    alpha=self.alpha,
                    need=math.ceil(1.0 / self.alpha),
                )
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
