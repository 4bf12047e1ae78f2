"""Paired, group-stratified bootstrap on distinct paired outcomes, with percentile and BCa intervals.

Every metric the gates bootstrap is a function of per-group confusion tables. A sample only
enters those tables through its group and its paired outcome cell (true class, dense prediction,
compressed prediction), so resampling ``n_g`` samples with replacement inside group ``g`` is
exactly a multinomial draw of ``n_g`` over that group's occupied cells, with probabilities equal
to the cells' shares. Drawing those counts costs O(R·G·cells) instead of the O(R·n) of an index
matrix, and one draw serves both models (the cell holds both predictions). With sample weights
the samples are no longer interchangeable within a cell, so each sample becomes its own unit and
the counts come from chunked index draws instead; everything after the counts is shared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

from ..errors import InputError

IntervalMethod = Literal["percentile", "bca"]
#: A statistic of the (dense, compressed) tables ``(..., G, C, C)`` with any trailing shape.
TableStatistic = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]

MSG_INTERVAL = "interval must be 'percentile' or 'bca'; got {got!r}"
MSG_N_BOOT = "n_boot must be an int >= 1 (the number of bootstrap resamples); got {got!r}"

#: Entries of a counts or key matrix held at once (about 32 MB of float64).
_CHUNK_ENTRIES = 1 << 22


@dataclass(frozen=True)
class PairedCells:
    """The units a stratified bootstrap draws: distinct paired outcomes, or weighted samples.

    ``base_key``/``compressed_key`` index the flattened ``(G, C, C)`` table of each model
    (group, true class, predicted class). Units are sorted by group; ``count`` is how many
    samples a unit stands for and ``weight`` what each of them adds to a table.
    """

    n_groups: int
    n_classes: int
    group: NDArray[np.int64]
    base_key: NDArray[np.int64]
    compressed_key: NDArray[np.int64]
    count: NDArray[np.int64]
    weight: NDArray[np.float64] | None
    group_size: NDArray[np.int64]

    @classmethod
    def build(
        cls,
        y_true: NDArray[np.int64],
        base_pred: NDArray[np.int64],
        compressed_pred: NDArray[np.int64],
        codes: NDArray[np.int64],
        n_groups: int,
        n_classes: int,
        weights: NDArray[np.float64] | None = None,
    ) -> PairedCells:
        c = n_classes
        row = (codes * c + y_true) * c
        if weights is None:
            joint = (row + base_pred) * c + compressed_pred
            keys, count = np.unique(joint, return_counts=True)
            base_key, compressed_key = keys // c, (keys // (c * c)) * c + keys % c
            group = keys // (c * c * c)
            unit_weight = None
        else:
            order = np.argsort(codes, kind="stable")
            base_key, compressed_key = (row + base_pred)[order], (row + compressed_pred)[order]
            group, count = codes[order], np.ones(len(order), dtype=np.int64)
            unit_weight = np.asarray(weights, dtype=np.float64)[order]
        sizes = np.bincount(group, weights=count, minlength=n_groups).astype(np.int64)
        return cls(n_groups, n_classes, group, base_key, compressed_key, count, unit_weight, sizes)

    @property
    def n_units(self) -> int:
        return len(self.group)

    def tables(self, counts: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Dense and compressed tables ``(..., G, C, C)`` for unit counts ``(..., U)``."""
        lead = counts.shape[:-1]
        flat = counts.reshape(-1, self.n_units).astype(np.float64)
        if self.weight is not None:
            flat = flat * self.weight
        size = self.n_groups * self.n_classes * self.n_classes
        offsets = (np.arange(len(flat)) * size)[:, None]
        out = []
        for key in (self.base_key, self.compressed_key):
            sums = np.bincount(
                (offsets + key).ravel(), weights=flat.ravel(), minlength=len(flat) * size
            )
            out.append(sums.reshape((*lead, self.n_groups, self.n_classes, self.n_classes)))
        return out[0], out[1]

    def point_tables(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return self.tables(self.count)

    def resample_counts(self, rng: np.random.Generator, n_boot: int) -> Iterator[NDArray[np.int64]]:
        """Unit counts of ``n_boot`` group-stratified resamples, in chunks ``(r, U)``."""
        chunk = max(1, _CHUNK_ENTRIES // max(1, self.n_units))
        bounds = np.searchsorted(self.group, np.arange(self.n_groups + 1))
        for start in range(0, n_boot, chunk):
            rows = min(chunk, n_boot - start)
            counts = np.zeros((rows, self.n_units), dtype=np.int64)
            for g in range(self.n_groups):
                lo, hi = int(bounds[g]), int(bounds[g + 1])
                if hi == lo:
                    continue
                n_g = int(self.group_size[g])
                if self.weight is None:
                    counts[:, lo:hi] = rng.multinomial(n_g, self.count[lo:hi] / n_g, size=rows)
                else:
                    picks = rng.integers(0, hi - lo, size=(rows, n_g))
                    flat = (picks + (np.arange(rows) * (hi - lo))[:, None]).ravel()
                    counts[:, lo:hi] = np.bincount(flat, minlength=rows * (hi - lo)).reshape(
                        rows, hi - lo
                    )
            yield counts

    def jackknife(self, statistic: TableStatistic) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Leave-one-sample-out values per unit (one per cell member), with their multiplicity."""
        base, compressed = self.point_tables()
        size = base.size
        weight = np.ones(self.n_units) if self.weight is None else self.weight
        values = []
        chunk = max(1, _CHUNK_ENTRIES // max(1, size))
        for start in range(0, self.n_units, chunk):
            units = np.arange(start, min(start + chunk, self.n_units))
            tables = []
            for table, key in ((base, self.base_key), (compressed, self.compressed_key)):
                loo = np.broadcast_to(table.ravel(), (len(units), size)).copy()
                loo[np.arange(len(units)), key[units]] -= weight[units]
                tables.append(loo.reshape((len(units), *base.shape)))
            values.append(statistic(tables[0], tables[1]))
        return np.concatenate(values), self.count


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimate, interval and the resampled values of a statistic (any trailing shape)."""

    estimate: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    distribution: NDArray[np.float64]
    method: IntervalMethod
    n_boot: int
    seed: int

    @property
    def standard_error(self) -> NDArray[np.float64]:
        return _nan_std(self.distribution)


def check_interval(method: str) -> IntervalMethod:
    if method not in ("percentile", "bca"):
        raise InputError(MSG_INTERVAL.format(got=method))
    return method  # type: ignore[return-value]


def check_n_boot(n_boot: Any) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise InputError(MSG_N_BOOT.format(got=n_boot))
    return int(n_boot)


def bootstrap_cells(
    cells: PairedCells,
    statistic: TableStatistic,
    *,
    n_boot: int,
    seed: int,
    alpha: float,
    method: IntervalMethod = "percentile",
) -> BootstrapResult:
    """Bootstrap ``statistic(dense_tables, compressed_tables)`` over stratified resamples."""
    rng = np.random.default_rng(seed)
    estimate = np.asarray(statistic(*cells.point_tables()), dtype=np.float64)
    parts = [statistic(*cells.tables(counts)) for counts in cells.resample_counts(rng, n_boot)]
    distribution = np.concatenate(parts).astype(np.float64)
    if method == "bca":
        jack, multiplicity = cells.jackknife(statistic)
        low, high = bca_interval(estimate, distribution, jack, multiplicity, alpha)
    else:
        low, high = percentile_interval(distribution, alpha)
    return BootstrapResult(estimate, low, high, distribution, method, n_boot, seed)


def _nan_quantile(
    values: NDArray[np.float64], q: NDArray[np.float64] | float
) -> NDArray[np.float64]:
    """Quantiles along axis 0 over the finite resamples (NaN where none is finite)."""
    q_arr = np.broadcast_to(np.asarray(q, dtype=np.float64), values.shape[1:])
    finite = np.isfinite(values)
    out = np.full(values.shape[1:], np.nan)
    flat_v = values.reshape(len(values), -1)
    flat_f = finite.reshape(len(values), -1)
    flat_q = q_arr.ravel()
    flat_out = out.reshape(-1)
    for j in range(flat_v.shape[1]):  # one column per reported value, not per resample
        column = flat_v[flat_f[:, j], j]
        if len(column) and np.isfinite(flat_q[j]):
            flat_out[j] = np.quantile(column, flat_q[j])
    return flat_out.reshape(values.shape[1:])


def _nan_std(values: NDArray[np.float64]) -> NDArray[np.float64]:
    finite = np.isfinite(values)
    n = finite.sum(axis=0)
    filled = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n
        var = (np.where(finite, values - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
    return np.sqrt(np.where(n > 1, var, np.nan))


def percentile_interval(
    distribution: NDArray[np.float64], alpha: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The two-sided ``1 - alpha`` percentile interval along the resample axis."""
    return _nan_quantile(distribution, alpha / 2), _nan_quantile(distribution, 1 - alpha / 2)


def bca_interval(
    estimate: NDArray[np.float64],
    distribution: NDArray[np.float64],
    jackknife: NDArray[np.float64],
    multiplicity: NDArray[np.int64],
    alpha: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Efron's BCa interval, as ``scipy.stats.bootstrap(method="BCa")`` computes it.

    The jackknife values come one per unit, each standing for ``multiplicity`` identical
    leave-one-out samples, so the acceleration is the per-sample jackknife's exactly.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        # Ties count half, as scipy does: accuracy-like statistics are discrete.
        below = (distribution < estimate).sum(axis=0) + (distribution <= estimate).sum(axis=0)
        z0 = ndtri(below / (2 * len(distribution)))
        m = multiplicity.reshape((-1,) + (1,) * (jackknife.ndim - 1)).astype(np.float64)
        mean = (m * jackknife).sum(axis=0) / m.sum()
        diff = mean - jackknife
        acceleration = (m * diff**3).sum(axis=0) / (6.0 * ((m * diff**2).sum(axis=0)) ** 1.5)
        bounds = []
        for level in (alpha / 2, 1 - alpha / 2):
            z = ndtri(level)
            level_bca = ndtr(z0 + (z0 + z) / (1 - acceleration * (z0 + z)))
            # A resample distribution without spread (no flips) has no bias to correct.
            bounds.append(np.where(np.isfinite(level_bca), level_bca, level))
    return _nan_quantile(distribution, bounds[0]), _nan_quantile(distribution, bounds[1])


def as_interval(low: float, high: float) -> tuple[float, float] | None:
    """An interval of plain floats, or None when the resamples left it undefined."""
    if math.isnan(low) or math.isnan(high):
        return None
    return (float(low), float(high))
