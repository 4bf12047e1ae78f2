"""Tensor-level kernels of the built-in methods and the module walks they share.

Imported only when a method is applied (it imports torch at module level).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

_MHA_WEIGHTS = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")


def skipped_by_name(name: str, skip: Sequence[str]) -> bool:
    """``name`` is in ``skip`` or inside a module that is (``"head"`` skips ``"head.fc"``)."""
    return any(name == s or name.startswith(s + ".") for s in skip)


def weight_targets(
    model: nn.Module, kinds: Sequence[str], skip: Sequence[str] = ()
) -> Iterator[tuple[str, nn.Module, str]]:
    """(display name, owning module, attribute) of every weight of the given module kinds.

    Kinds: ``"Linear"``, ``"Conv"`` (their ``weight``), ``"MultiheadAttention"`` (its fused or
    separate input projections, which are plain parameters, not Linear modules; its
    ``out_proj`` is a Linear). Shared (tied) weights are yielded once.
    """
    seen: set[int] = set()
    for name, module in model.named_modules():
        attrs: tuple[str, ...] = ()
        if ("Linear" in kinds and isinstance(module, nn.Linear)) or (
            "Conv" in kinds and isinstance(module, _ConvNd)
        ):
            attrs = ("weight",)
        elif "MultiheadAttention" in kinds and isinstance(module, nn.MultiheadAttention):
            attrs = _MHA_WEIGHTS
        for attr in attrs:
            weight = getattr(module, attr, None)
            if not isinstance(weight, torch.Tensor) or id(weight) in seen:
                continue
            seen.add(id(weight))
            display = name if attr == "weight" else f"{name}.{attr}".lstrip(".")
            if not skipped_by_name(display, skip):
                yield display, module, attr


def float_weights(
    model: nn.Module, kinds: Sequence[str], skip: Sequence[str] = ()
) -> list[tuple[str, nn.Module, str, torch.Tensor]]:
    """The plain floating-point weights among :func:`weight_targets`."""
    out = []
    for name, module, attr in weight_targets(model, kinds, skip):
        w = getattr(module, attr)
        if type(w) in (torch.Tensor, nn.Parameter) and w.is_floating_point():
            out.append((name, module, attr, w))
    return out


def uniform_fake_quant(w: torch.Tensor, bits: int, per_channel: bool) -> torch.Tensor:
    """Asymmetric min-max PTQ, quantize then dequantize (Banner et al., paper 002).

    scale = (max − min) / (2^b − 1), zero point = round(−min / scale), q = clamp(round(w /
    scale) + zero point, 0, 2^b − 1), ŵ = (q − zero point) · scale. Computed in float64 so that
    16-bit grids are not limited by float32 rounding; a constant tensor (or channel) is kept.
    """
    x = w.detach().to(torch.float64)
    flat = x.reshape(x.shape[0], -1) if per_channel and x.dim() > 1 else x.reshape(1, -1)
    lo = flat.amin(dim=1, keepdim=True)
    hi = flat.amax(dim=1, keepdim=True)
    levels = 2**bits - 1
    scale = (hi - lo) / levels
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    zero = torch.round(-lo / safe)
    q = torch.clamp(torch.round(flat / safe) + zero, 0, levels)
    deq = torch.where(scale > 0, (q - zero) * safe, flat)
    return deq.reshape(w.shape).to(w.dtype)


def kmeans_1d(w: torch.Tensor, k: int, max_iter: int) -> torch.Tensor:
    """Lloyd's k-means on the values of ``w``, every value replaced by its centroid.

    Centroids start evenly spaced between min and max (the linear initialisation Han et al.'s
    Deep Compression found best for weight sharing), so the result is deterministic. In 1-D
    each cluster is a contiguous run of the sorted values, split at the midpoints between
    sorted centroids; with the values sorted once and their prefix sums, a Lloyd step costs
    O(K log n) instead of O(n) (ViT-B-32: minutes down to seconds).
    """
    x = w.detach().reshape(-1).to(torch.float64)
    xs = x.sort().values
    lo, hi = xs[0], xs[-1]
    if lo == hi:
        return w.detach().clone()
    prefix = torch.cat([xs.new_zeros(1), xs.cumsum(0)])
    n = torch.tensor([xs.numel()])
    centroids = torch.linspace(float(lo), float(hi), k, dtype=torch.float64)
    for _ in range(max_iter):
        # A value equal to a midpoint goes to the lower cluster, as bucketize does below.
        cuts = torch.searchsorted(xs, (centroids[1:] + centroids[:-1]) / 2, right=True)
        edges = torch.cat([n.new_zeros(1), cuts, n])
        counts = (edges[1:] - edges[:-1]).to(torch.float64)
        sums = prefix[edges[1:]] - prefix[edges[:-1]]
        # Empty clusters keep their centroid; 1-D Lloyd steps keep the centroids sorted.
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        if torch.equal(updated, centroids):
            break
        centroids = updated
    assign = torch.bucketize(x, (centroids[1:] + centroids[:-1]) / 2)
    return centroids[assign].reshape(w.shape).to(w.dtype)


def keep_largest(scores: torch.Tensor, n_drop: int) -> torch.Tensor:
    """Boolean keep-mask of a 1-D ``scores`` that drops exactly the ``n_drop`` smallest.

    One O(n) ``kthvalue`` selection; ties at the threshold are dropped in index order so the
    count is exact (the rounding of S·n is the only slack: at most half a weight).
    """
    scores = scores.float()  # kthvalue has no half-precision CPU kernel
    keep = torch.ones_like(scores, dtype=torch.bool)
    if n_drop <= 0:
        return keep
    threshold = torch.kthvalue(scores, n_drop).values
    below = scores < threshold
    ties = (scores == threshold).nonzero().reshape(-1)
    keep &= ~below
    keep[ties[: n_drop - int(below.sum())]] = False
    return keep


def nm_mask(w: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep the ``n`` largest-magnitude weights in every ``m`` consecutive input channels.

    Linear (out, in): groups run along ``in``. Conv (out, in, *kernel): the kernel is moved in
    front of the input channels, so each group is ``m`` consecutive input channels at one
    kernel position (NVIDIA ASP's layout for sparse tensor cores). When ``in`` is not a
    multiple of ``m`` the last, shorter group keeps at most ``n`` weights.
    """
    x = w.detach().abs()
    moved = x.movedim(1, -1) if x.dim() > 2 else x
    rows = moved.reshape(-1, moved.shape[-1])
    n_in = rows.shape[1]
    pad = (-n_in) % m
    # Padding with −1 ranks below every |w|, so it is never kept in place of a real weight.
    padded = torch.nn.functional.pad(rows, (0, pad), value=-1.0)
    groups = padded.reshape(rows.shape[0], -1, m)
    keep_idx = groups.topk(n, dim=-1).indices
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep_idx, True)
    keep = keep.reshape(rows.shape[0], -1)[:, :n_in].reshape(moved.shape)
    mask = keep.movedim(-1, 1) if x.dim() > 2 else keep
    return mask


def bits_for(k: int) -> float:
    """Bits needed to index ``k`` shared values."""
    return math.log2(k)


def tree_map_tensors(value: Any, fn: Any) -> Any:
    """Apply ``fn`` to every tensor in nested tuples, lists and dicts (model outputs)."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(tree_map_tensors(v, fn) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(tree_map_tensors(v, fn) for v in value)
    if isinstance(value, dict):
        for key in list(value):
            value[key] = tree_map_tensors(value[key], fn)
        return value
    return value
