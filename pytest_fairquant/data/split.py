"""The evaluation data with its demographic attributes: :class:`DemographicSplit`.

A split holds the true labels, any number of categorical sensitive attributes (string or integer
valued), optional sample weights, and a way to reach the model inputs (see
:class:`DemographicSplit` for the accepted types), with an optional per-item ``transform``
applied lazily. Subsets never copy the inputs: they keep the positions of their samples in
``index``.

Intersections of attributes are named with ``×`` (``"gender×race"``) or given as a tuple.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._arrays import as_array, as_labels, check_length
from ..errors import FairquantError, InputError
from ..fingerprint import item_bytes, value_identity

INTERSECTION = "×"

MSG_NO_ATTRIBUTES = (
    "a DemographicSplit needs at least one sensitive attribute; pass attributes={'gender': [...]}"
)
MSG_UNKNOWN_ATTRIBUTE = "attribute {name!r} is not in this split; it has {known}"
MSG_ATTRIBUTE_SHAPE = (
    "attribute {name!r} must be one value per sample (shape ({n},)); got shape {shape}"
)
MSG_MISSING_VALUES = "attribute {name!r} has {count} missing values (None/NaN), first at sample {first}; drop those samples or give them a group such as 'unknown'"
MSG_INPUTS_LENGTH = (
    "inputs has {got} items but labels has {want}: inputs must be aligned with labels"
)
MSG_NO_INPUTS = (
    "this split has no inputs; pass inputs= (a tensor, an array, a sequence of paths, or a dataset)"
)
MSG_PANDAS_INPUTS = (
    "inputs is a pandas {kind}, whose [] selects by column name or index label, not by "
    "position; pass {fix} instead (aligned with labels, one row per sample)"
)
#: What to pass instead of a pandas container, by its type name.
_PANDAS_FIXES = {
    "DataFrame": "the feature columns as an array or tensor, e.g. "
    "torch.tensor(df[features].to_numpy(dtype='float32')), or a Dataset that reads rows with .iloc",
    "Series": "its values, e.g. series.tolist() (texts, paths) or series.to_numpy()",
}
MSG_SUBSAMPLE_SIZE = (
    "subsample size must be a positive int (samples) or a float in (0, 1] (fraction); got {size!r}"
)
MSG_EMPTY_AFTER_FILTER = "no group of {attribute!r} meets the minimum support ({rule}); every sample was dropped: {dropped}"
MSG_AMBIGUOUS_GROUP = (
    "attribute {name!r} holds both the string {text!r} and the number {number!r}, which would "
    "name the same group {text!r}; give the attribute one type (e.g. all strings: "
    "values.astype(str)) so that the groups are what you mean"
)
#: ``metadata`` keys that say the numbers describe no real model: ``synthetic`` (the data is
#: generated) and ``random_weights`` (the model evaluated on it is untrained), each True or a
#: sentence saying what. The split's summary carries them, so the report's header warns.
PROVENANCE_KEYS = ("synthetic", "random_weights")
#: How many groups an error lists before it says how many more there are.
SHOWN_GROUPS = 5
MSG_WEIGHTS = "weights must be finite and non-negative, one per sample"
MSG_READ_FAILED = "inputs[{position}] could not be read ({kind} raised {error})"
MSG_ITEM_FAILED = (
    MSG_READ_FAILED + "; every item of the split's inputs is read once to fingerprint them for "
    "the prediction cache"
)
MSG_TRANSFORM_FAILED = (
    "the split's transform {transform} raised {error} on sample {i} (inputs[{position}]); fix "
    "the transform, or the input it cannot take"
)
MSG_META_TENSOR = (
    "{name} is a tensor on the 'meta' device, which has a shape but no data; pass the real "
    "values (load the tensor, or build it on the CPU or GPU)"
)
MSG_ROWS = "rows must be positions in [0, {n}) or a boolean mask of {n} values; got {bad}"


@dataclass(frozen=True)
class GroupIndex:
    """Integer group codes for one attribute (or intersection) of a split."""

    attribute: str
    codes: NDArray[np.int64]
    names: tuple[str, ...]

    @property
    def n_groups(self) -> int:
        return len(self.names)

    def counts(self) -> NDArray[np.int64]:
        return np.bincount(self.codes, minlength=self.n_groups).astype(np.int64)

    def take(self, rows: NDArray[np.int64]) -> GroupIndex:
        """The index of the samples at ``rows``, without the groups none of them is in (codes
        renumbered, names in the same order)."""
        kept, codes = np.unique(self.codes[rows], return_inverse=True)
        names = tuple(self.names[i] for i in kept.tolist())
        return GroupIndex(self.attribute, codes.astype(np.int64), names)


@dataclass(frozen=True)
class DroppedGroup:
    """A group removed by :meth:`DemographicSplit.filter_groups`, with the rule it failed."""

    attribute: str
    group: str
    n: int
    positives: int
    negatives: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "group": self.group,
            "n": self.n,
            "positives": self.positives,
            "negatives": self.negatives,
            "reason": self.reason,
        }


def attribute_values(values: Any, name: str, n: int) -> NDArray[Any]:
    """One sensitive attribute as a read-only 1-D array of ``n`` values, missing ones refused.

    One rule names groups (docs/datasets.md, "Group ids"): values that are equal numbers are one
    group (``1``, ``1.0`` and ``np.int64(1)`` are group ``"1"``; a whole-number float becomes
    its integer), strings are groups of their own text, and an attribute where a string and a
    number would share a name (``1`` and ``"1"``) is an error naming both. Shared by
    :class:`DemographicSplit` and the metrics' ``sensitive_features`` so both read groups alike.
    """
    if isinstance(values, (list, tuple)) and len({type(v) is str for v in values}) > 1:
        # numpy would turn [1, "1"] into the strings ["1", "1"]: keep the values to check them.
        mixed = np.empty(len(values), dtype=object)
        mixed[:] = values
        values = mixed
    refuse_meta(values, f"attributes[{name!r}]")
    arr = as_array(values, name=f"attributes[{name!r}]")
    if arr.ndim != 1 or len(arr) != n:
        raise InputError(MSG_ATTRIBUTE_SHAPE.format(name=name, n=n, shape=arr.shape))
    if arr.dtype.kind == "f":
        missing = np.isnan(arr)
        if missing.any():
            raise InputError(
                MSG_MISSING_VALUES.format(
                    name=name, count=int(missing.sum()), first=int(np.flatnonzero(missing)[0])
                )
            )
        if np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
    if arr.dtype == object:
        missing = np.array([v is None or (isinstance(v, float) and v != v) for v in arr])
        if missing.any():
            raise InputError(
                MSG_MISSING_VALUES.format(
                    name=name, count=int(missing.sum()), first=int(np.flatnonzero(missing)[0])
                )
            )
        arr = _normalise_objects(arr, name)
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def refuse_meta(value: Any, name: str) -> None:
    """A tensor on torch's ``meta`` device has no values to read: say so, naming the argument."""
    if getattr(getattr(value, "device", None), "type", None) == "meta":
        raise InputError(MSG_META_TENSOR.format(name=name))


def refuse_pandas(inputs: Any) -> None:
    """A DataFrame or Series as inputs would be indexed by column name or index label (a KeyError
    deep inside predict, or the wrong rows after filtering): refuse it with what to pass."""
    cls = type(inputs)
    fix = _PANDAS_FIXES.get(cls.__name__)
    if fix is not None and cls.__module__.split(".")[0] == "pandas":
        raise InputError(MSG_PANDAS_INPUTS.format(kind=cls.__name__, fix=fix))


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _first_few(parts: Sequence[str]) -> str:
    """The first :data:`SHOWN_GROUPS` of ``parts`` and how many more (an ID-like attribute has
    thousands of groups: one line each made a message of hundreds of kilobytes)."""
    shown = "; ".join(parts[:SHOWN_GROUPS])
    more = len(parts) - SHOWN_GROUPS
    return f"{len(parts)} groups: {shown}; and {more} more" if more > 0 else shown


def _normalise_objects(arr: NDArray[Any], name: str) -> NDArray[Any]:
    """An object array's values under the group rule of :func:`attribute_values`."""
    values = arr.tolist()
    numeric = [
        isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
        for v in values
    ]
    if all(numeric):  # numbers only: read as the numeric array they are (1 and 1.0 are one group)
        return attribute_values(np.asarray(values, dtype=np.float64), name, len(values))
    out = [_whole(v) if is_number else v for v, is_number in zip(values, numeric, strict=True)]
    named: dict[str, Any] = {}
    for value in out:
        other = named.setdefault(str(value), value)
        if isinstance(other, str) != isinstance(value, str):
            text, number = (other, value) if isinstance(other, str) else (value, other)
            raise InputError(MSG_AMBIGUOUS_GROUP.format(name=name, text=text, number=number))
    result = np.empty(len(out), dtype=object)
    result[:] = out
    return result


def _whole(value: Any) -> Any:
    """A number as the Python value that names its group: 1.0 -> 1, np.int64(2) -> 2."""
    item = value.item() if isinstance(value, np.number) else value
    return int(item) if isinstance(item, float) and item.is_integer() else item


def group_codes(values: NDArray[Any]) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """Codes in sorted order of the distinct values (numeric order for numbers)."""
    if values.dtype.kind in "iubf":
        uniq, codes = np.unique(values, return_inverse=True)
        return codes.astype(np.int64), tuple(str(_whole(v)) for v in uniq.tolist())
    if values.dtype.kind == "U":  # already text: sorted as it is, without a str() per value
        uniq, codes = np.unique(values, return_inverse=True)
        return codes.astype(np.int64), tuple(str(v) for v in uniq.tolist())
    items = values.tolist()
    if not any(isinstance(v, bytes) for v in items):  # numpy's str() of bytes drops the b''
        uniq, codes = np.unique(values.astype(str), return_inverse=True)
        return codes.astype(np.int64), tuple(str(v) for v in uniq.tolist())
    as_text = np.asarray([str(v) for v in items], dtype=object)
    uniq, codes = np.unique(as_text, return_inverse=True)
    return codes.astype(np.int64), tuple(str(v) for v in uniq.tolist())


def _file_digest(path: str) -> bytes | None:
    """sha256 of a file's contents, or None when ``path`` names no regular file.

    Memoised per (path, size, mtime_ns) for the process, so splits sharing files read each once.
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    known = _FILE_DIGESTS.get(key)
    if known is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        known = _FILE_DIGESTS[key] = h.digest()
    return known


_FILE_DIGESTS: dict[tuple[str, int, int], bytes] = {}


def _path_of(item: Any) -> str | None:
    """The file an input item names (a path, or an ImageRef's path), else None."""
    path = getattr(item, "path", item) if isinstance(item, tuple) else item
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, str) and 0 < len(path) < 4096 and "\n" not in path:
        return path
    return None


def _item_digest(item: Any, *, named: bool) -> bytes:
    """One input item's identity: the contents of the file it names, and (unless the split's
    ``input_id`` already names the items) the item itself."""
    path = _path_of(item)
    content = _file_digest(path) if path is not None else None
    if named:
        return content or b""
    return hashlib.sha256(item_bytes(item) + b"\0" + (content or b"")).digest()


def _digest_inputs(
    inputs: Any, index: NDArray[np.int64], memo: dict[int, bytes], *, named: bool
) -> str:
    """Identity of the inputs at ``index`` (see docs/internals.md, "What the cache key hashes").

    Arrays and tensors: their bytes. Sequences and datasets: every item at ``index`` (a
    Dataset's ``__getitem__`` is called for each), plus the contents of each file an item
    names; ``memo`` keeps per-position digests shared by a split and its subsets. A dataset with
    a ``fingerprint`` (a string, or a method returning one) is named by it instead, and so is
    one whose split has an ``input_id`` (then only the files its items name are read).
    """
    h = hashlib.sha256()
    if inputs is None:
        h.update(b"none")
        return h.hexdigest()
    h.update(index.tobytes())
    cls = type(inputs)
    ident = getattr(inputs, "fingerprint", None)
    if ident is not None:
        ident = ident() if callable(ident) else ident
        h.update(f"{cls.__module__}.{cls.__qualname__}:{len(inputs)}:{ident}".encode())
        return h.hexdigest()
    try:
        arr = as_array(inputs, name="inputs") if not isinstance(inputs, (list, tuple)) else None
    except InputError:
        arr = None
    if arr is not None and arr.dtype != object:
        h.update(str((arr.shape, arr.dtype.str)).encode())
        h.update(np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data)
        return h.hexdigest()
    if named and not isinstance(inputs, (list, tuple)):
        return h.hexdigest()  # the caller's input_id vouches for a dataset's items
    for position in index.tolist():
        digest = memo.get(position)
        if digest is None:
            try:
                item = inputs[position]
            except Exception as err:
                raise InputError(
                    MSG_ITEM_FAILED.format(position=position, kind=cls.__name__, error=_error(err))
                ) from err
            digest = memo[position] = _item_digest(item, named=named)
        h.update(digest)
    return h.hexdigest()


class DemographicSplit:
    """Labels, sensitive attributes, optional weights and lazily loaded inputs, aligned by sample.

    ``labels`` are integer class ids of shape ``(n,)`` or 0/1 indicators of shape ``(n, L)`` for
    multi-label tasks. ``attributes`` maps each sensitive attribute to one categorical value per
    sample; equal numbers are one group (``1`` and ``1.0`` are group ``"1"``), strings are
    groups of their own text, and a string and a number sharing a name (``1`` and ``"1"``) are
    an :class:`InputError` (docs/datasets.md, "Group ids").

    ``inputs`` is what the model reads, aligned with ``labels`` (docs/datasets.md, "Inputs"):

    - a ``torch.Tensor`` or ``numpy`` array indexed on its first axis: without a ``transform``
      a batch is a slice of it, given to the model as it is (numpy as a tensor);
    - a sequence (list or tuple) of items, e.g. file paths (``str`` or ``pathlib.Path``, or the
      readers' ``ImageRef``) or sentences: each item goes through ``transform`` (e.g. open an
      image and preprocess it), else a batch is the list of items (a model that tokenizes in
      ``forward``, or a task with a ``tokenizer``); a file an item names is hashed into the
      prediction cache's key;
    - a map-style dataset (``torch.utils.data.Dataset`` or anything with ``__len__`` and
      ``__getitem__(int)``), read item by item; a ``fingerprint`` attribute (a string, or a
      method returning one) names its contents for the cache instead of reading every item;
    - ``None``: labels and attributes only, for array-form gates (``y_true=``, ``base_pred=``).

    A pandas ``DataFrame`` or ``Series`` is refused (``MSG_PANDAS_INPUTS``): its ``[]`` selects
    columns or index labels, not positions; pass ``df[features].to_numpy(dtype="float32")`` (or
    a tensor of it), or ``series.tolist()``. ``transform`` turns one raw item into a model
    input.
    """

    def __init__(
        self,
        labels: Any,
        attributes: Mapping[str, Any],
        *,
        inputs: Any = None,
        transform: Callable[[Any], Any] | None = None,
        weights: Any = None,
        class_names: Sequence[str] | None = None,
        label_names: Sequence[str] | None = None,
        name: str = "split",
        metadata: Mapping[str, Any] | None = None,
        input_id: str | None = None,
        _index: NDArray[np.int64] | None = None,
        _dropped: tuple[DroppedGroup, ...] = (),
    ) -> None:
        for argument, value in (("labels", labels), ("inputs", inputs), ("weights", weights)):
            refuse_meta(value, argument)
        refuse_pandas(inputs)
        y = as_labels(labels, name="labels")
        if y.ndim not in (1, 2):
            raise InputError(f"labels must have shape (n,) or (n, L); got {y.shape}")
        n = len(y)
        if not attributes:
            raise InputError(MSG_NO_ATTRIBUTES)
        attrs = {str(k): attribute_values(v, str(k), n) for k, v in attributes.items()}
        for key in attrs:
            if INTERSECTION in key:
                raise InputError(
                    f"attribute names may not contain {INTERSECTION!r}; rename {key!r}"
                )
        w = None
        if weights is not None:
            w = np.asarray(as_array(weights, name="weights"), dtype=np.float64)
            check_length(w, n, name="weights", ref_name="labels")
            if not np.all(np.isfinite(w)) or (w < 0).any():
                raise InputError(MSG_WEIGHTS)
            w.setflags(write=False)
        index = (
            np.arange(n, dtype=np.int64) if _index is None else np.asarray(_index, dtype=np.int64)
        )
        if (
            inputs is not None
            and _index is None
            and hasattr(inputs, "__len__")
            and len(inputs) != n
        ):
            raise InputError(MSG_INPUTS_LENGTH.format(got=len(inputs), want=n))
        y = y.copy()
        y.setflags(write=False)
        index.setflags(write=False)
        self.labels: NDArray[np.int64] = y
        self.attributes: Mapping[str, NDArray[Any]] = attrs
        self.inputs = inputs
        self.transform = transform
        self.weights: NDArray[np.float64] | None = w
        self.class_names = tuple(class_names) if class_names is not None else None
        self.label_names = tuple(label_names) if label_names is not None else None
        self.name = name
        self.metadata: Mapping[str, Any] = dict(metadata or {})
        self.index = index
        self.dropped = _dropped
        #: Per attribute, the rows its comparisons use (see filter_groups_per_attribute).
        self._attribute_rows: Mapping[str, NDArray[np.int64]] = {}
        self._input_id = input_id
        #: Per input position, its digest; shared with subsets (they share ``inputs``).
        self._input_digests: dict[int, bytes] = {}
        self._fingerprint: str | None = None
        #: Per attribute (or intersection), its GroupIndex: encoded once, used by every gate.
        self._groups: dict[tuple[str, ...], GroupIndex] = {}

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        parts = []
        for key in self.attributes:
            g = self.groups(key)
            pairs = [f"{nm}={c}" for nm, c in zip(g.names, g.counts().tolist(), strict=True)]
            counts = ", ".join(pairs[:SHOWN_GROUPS])
            if len(pairs) > SHOWN_GROUPS:  # pytest prints fixtures' reprs in every failure
                counts = f"{len(pairs)} groups: {counts}, ..."
            parts.append(f"{key}: {counts}")
        return (
            f"DemographicSplit({self.name!r}, n={len(self)}, {self.task_kind}; "
            + "; ".join(parts)
            + ")"
        )

    @property
    def task_kind(self) -> str:
        """``"multilabel"``, ``"binary"`` or ``"multiclass"``, read off the labels."""
        if self.labels.ndim == 2:
            return "multilabel"
        n_classes = self.n_classes
        return "binary" if n_classes <= 2 else "multiclass"

    @property
    def n_classes(self) -> int:
        if self.labels.ndim == 2:
            return int(self.labels.shape[1])
        if self.class_names is not None:
            return len(self.class_names)
        return max(2, int(self.labels.max()) + 1)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(self.attributes)

    def _parse_attribute(self, attribute: str | Sequence[str]) -> tuple[str, ...]:
        parts = (
            tuple(attribute.split(INTERSECTION)) if isinstance(attribute, str) else tuple(attribute)
        )
        for part in parts:
            if part not in self.attributes:
                raise InputError(
                    MSG_UNKNOWN_ATTRIBUTE.format(name=part, known=sorted(self.attributes))
                )
        return parts

    def groups(self, attribute: str | Sequence[str]) -> GroupIndex:
        """Group codes for one attribute, or for the intersection of several (encoded once per
        split: the attributes are read-only)."""
        parts = tuple(self._parse_attribute(attribute))
        known = self._groups.get(parts)
        if known is None:
            known = self._groups[parts] = self._encode(parts)
            known.codes.setflags(write=False)  # shared by every caller
        return known

    def _encode(self, parts: tuple[str, ...]) -> GroupIndex:
        name = INTERSECTION.join(parts)
        if len(parts) == 1:
            codes, names = group_codes(self.attributes[parts[0]])
            return GroupIndex(name, codes, names)
        joined = np.asarray(
            [
                INTERSECTION.join(vals)
                for vals in zip(
                    *(np.asarray(self.attributes[p]).astype(str) for p in parts), strict=True
                )
            ],
            dtype=object,
        )
        codes, names = group_codes(joined)
        return GroupIndex(name, codes, names)

    def sensitive_features(self, attribute: str | Sequence[str]) -> NDArray[Any]:
        """The per-sample group names (strings) of an attribute or intersection."""
        g = self.groups(attribute)
        return np.asarray(g.names, dtype=object)[g.codes]

    def with_intersection(self, *attributes: str) -> DemographicSplit:
        """A split with the intersection of ``attributes`` added as an attribute of its own."""
        g = self.groups(attributes)
        return self._replace(
            extra_attributes={g.attribute: np.asarray(g.names, dtype=object)[g.codes]}
        )

    # ------------------------------------------------------------------ subsets
    def _replace(
        self,
        *,
        rows: NDArray[np.int64] | None = None,
        extra_attributes: Mapping[str, NDArray[Any]] | None = None,
        dropped: tuple[DroppedGroup, ...] | None = None,
    ) -> DemographicSplit:
        sel = slice(None) if rows is None else rows
        attrs: dict[str, NDArray[Any]] = {k: v[sel] for k, v in self.attributes.items()}
        new = DemographicSplit.__new__(DemographicSplit)
        labels = self.labels[sel].copy()
        labels.setflags(write=False)
        for k, v in attrs.items():
            v = v.copy()
            v.setflags(write=False)
            attrs[k] = v
        for k, v in (extra_attributes or {}).items():
            v = np.asarray(v)[sel].copy()
            v.setflags(write=False)
            attrs[k] = v
        new.labels = labels
        new.attributes = attrs
        new.inputs = self.inputs
        new.transform = self.transform
        if self.weights is not None:
            w = self.weights[sel].copy()
            w.setflags(write=False)
            new.weights = w
        else:
            new.weights = None
        new.class_names = self.class_names
        new.label_names = self.label_names
        new.name = self.name
        new.metadata = dict(self.metadata)
        index = self.index[sel].copy()
        index.setflags(write=False)
        new.index = index
        new.dropped = self.dropped if dropped is None else dropped
        new._input_id = self._input_id
        new._input_digests = self._input_digests
        # Row positions survive only where the rows do (an added intersection, not a subset).
        new._attribute_rows = self._attribute_rows if rows is None else {}
        new._fingerprint = None
        new._groups = {}
        return new

    def subset(self, rows: Any) -> DemographicSplit:
        """The samples at ``rows`` (positions or a boolean mask), in that order."""
        arr = as_array(rows, name="rows")
        if arr.dtype == bool:
            check_length(arr, len(self), name="rows", ref_name="the split")
            arr = np.flatnonzero(arr)
        numeric = arr.dtype.kind in "iuf"
        # Positions, not numpy's wrap-around: rows=[-1] took the last sample, [0.5] the first.
        bad = (
            ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < 0) | (arr >= len(self))
            if numeric and arr.ndim == 1
            else np.ones(arr.shape, dtype=bool)
        )
        if bad.any():
            shown = [str(v) for v in arr[bad].reshape(-1).tolist()[:SHOWN_GROUPS]]
            more = int(bad.sum()) - len(shown)
            text = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
            raise InputError(MSG_ROWS.format(n=len(self), bad=text))
        return self._replace(rows=arr.astype(np.int64))

    def _support(
        self, g: GroupIndex, positive_label: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Per-group positives and negatives (for multiclass and multi-label: the smallest class)."""
        k = g.n_groups
        y = self.labels
        if y.ndim == 2:
            pos = np.stack(
                [np.bincount(g.codes, weights=y[:, j], minlength=k) for j in range(y.shape[1])]
            )
            neg = np.stack(
                [np.bincount(g.codes, weights=1 - y[:, j], minlength=k) for j in range(y.shape[1])]
            )
            return pos.min(0).astype(np.int64), neg.min(0).astype(np.int64)
        if self.task_kind == "binary":
            is_pos = (y == positive_label).astype(np.float64)
            pos = np.bincount(g.codes, weights=is_pos, minlength=k).astype(np.int64)
            return pos, g.counts() - pos
        c = self.n_classes
        table = np.bincount(g.codes * c + y, minlength=k * c).reshape(k, c)
        present = table.sum(0) > 0
        pos = table[:, present].min(1)
        neg = (g.counts()[:, None] - table[:, present]).min(1)
        return pos.astype(np.int64), neg.astype(np.int64)

    def filter_groups(
        self,
        attribute: str | Sequence[str],
        *,
        min_size: int = 30,
        min_positives: int = 0,
        min_negatives: int = 0,
        positive_label: int = 1,
    ) -> DemographicSplit:
        """Drop the samples of every group below the minimum support; ``dropped`` says which and why.

        Positives are samples with ``positive_label`` for binary labels; for multiclass and
        multi-label labels the rule applies to the group's rarest class (one-vs-rest).
        """
        rows, dropped = self._kept_rows(
            attribute, min_size, min_positives, min_negatives, positive_label
        )
        return self._replace(rows=rows, dropped=self.dropped + dropped)

    def _kept_rows(
        self,
        attribute: str | Sequence[str],
        min_size: int,
        min_positives: int,
        min_negatives: int,
        positive_label: int,
    ) -> tuple[NDArray[np.int64], tuple[DroppedGroup, ...]]:
        g = self.groups(attribute)
        counts = g.counts()
        pos, neg = self._support(g, positive_label)
        keep_group = np.ones(g.n_groups, dtype=bool)
        dropped: list[DroppedGroup] = []
        for i, name in enumerate(g.names):
            reasons = []
            if counts[i] < min_size:
                reasons.append(f"{counts[i]} samples, needs {min_size}")
            if pos[i] < min_positives:
                reasons.append(f"{pos[i]} positives, needs {min_positives}")
            if neg[i] < min_negatives:
                reasons.append(f"{neg[i]} negatives, needs {min_negatives}")
            if reasons:
                keep_group[i] = False
                dropped.append(
                    DroppedGroup(
                        g.attribute,
                        name,
                        int(counts[i]),
                        int(pos[i]),
                        int(neg[i]),
                        "; ".join(reasons),
                    )
                )
        if not keep_group.any():
            rule = (
                f"min_size={min_size}, min_positives={min_positives}, min_negatives={min_negatives}"
            )
            raise InputError(
                MSG_EMPTY_AFTER_FILTER.format(
                    attribute=g.attribute,
                    rule=rule,
                    dropped=_first_few([f"{d.group}: {d.reason}" for d in dropped]),
                )
            )
        return np.flatnonzero(keep_group[g.codes]).astype(np.int64), tuple(dropped)

    def filter_groups_per_attribute(self, *, min_size: int = 30) -> DemographicSplit:
        """Each attribute's groups below ``min_size`` dropped for that attribute only.

        Every sample stays (a small ``age`` group is still in the ``sex`` comparisons);
        :meth:`attribute_rows` gives the rows each attribute's comparisons use, and ``dropped``
        lists the groups with their own attribute's counts.
        """
        rows: dict[str, NDArray[np.int64]] = {}
        dropped: list[DroppedGroup] = []
        for name in self.attribute_names:
            kept, lost = self._kept_rows(name, min_size, 0, 0, 1)
            dropped.extend(lost)
            if len(kept) < len(self):
                rows[name] = kept
        new = self._replace(dropped=self.dropped + tuple(dropped))
        new._attribute_rows = rows
        return new

    def attribute_rows(self, attribute: str) -> NDArray[np.int64] | None:
        """The rows the comparisons of ``attribute`` use; None for all of them."""
        return self._attribute_rows.get(attribute)

    def subsample(
        self,
        size: int | float,
        *,
        stratify: str | Sequence[str] | None = None,
        seed: int = 0,
    ) -> DemographicSplit:
        """A deterministic stratified subsample (by group of ``stratify`` × label), original order kept.

        ``size`` is a number of samples or a fraction in (0, 1]. Each stratum gets its
        proportional share (largest remainder), and at least one sample while the budget allows.
        """
        n = len(self)
        if isinstance(size, bool) or not isinstance(size, (int, float)):
            raise InputError(MSG_SUBSAMPLE_SIZE.format(size=size))
        if isinstance(size, float):
            if not 0.0 < size <= 1.0:
                raise InputError(MSG_SUBSAMPLE_SIZE.format(size=size))
            target = max(1, round(size * n))
        else:
            if size <= 0:
                raise InputError(MSG_SUBSAMPLE_SIZE.format(size=size))
            target = min(size, n)
        if target >= n:
            return self
        label_key = (
            self.labels
            if self.labels.ndim == 1
            else self.labels @ (1 << np.arange(self.labels.shape[1]))
        )
        strata_parts = [np.unique(label_key, return_inverse=True)[1]]
        for attr in [stratify] if stratify is not None else list(self.attributes):
            strata_parts.append(self.groups(attr).codes)
        key = np.zeros(n, dtype=np.int64)
        for part in strata_parts:
            key = key * (int(part.max()) + 1) + part
        _, strata = np.unique(key, return_inverse=True)
        sizes = np.bincount(strata)
        quota = sizes * (target / n)
        take = np.floor(quota).astype(np.int64)
        order = np.argsort(-(quota - take), kind="stable")
        take[order[: target - int(take.sum())]] += 1
        rng = np.random.default_rng(seed)
        rows = []
        for s in range(len(sizes)):
            members = np.flatnonzero(strata == s)
            if take[s]:
                rows.append(rng.choice(members, size=int(take[s]), replace=False))
        chosen = np.sort(np.concatenate(rows))
        return self._replace(rows=chosen)

    # ------------------------------------------------------------------ inputs
    @property
    def has_inputs(self) -> bool:
        return self.inputs is not None

    def get_input(self, i: int) -> Any:
        """The model input of sample ``i`` (after ``transform``)."""
        if self.inputs is None:
            raise InputError(MSG_NO_INPUTS)
        position = int(self.index[i])
        try:
            item = self.inputs[position]
        except (FairquantError, AssertionError):  # already clear: ours, or a test's own check
            raise
        except Exception as err:  # a user's dataset: name where it failed
            kind = type(self.inputs).__name__
            raise InputError(
                MSG_READ_FAILED.format(position=position, kind=kind, error=_error(err))
            ) from err
        if self.transform is None:
            return item
        try:
            return self.transform(item)
        except (FairquantError, AssertionError):  # e.g. an image that won't decode, named
            raise
        except Exception as err:
            name = getattr(self.transform, "__qualname__", type(self.transform).__qualname__)
            raise InputError(
                MSG_TRANSFORM_FAILED.format(
                    transform=name, error=_error(err), i=i, position=position
                )
            ) from err

    def input_batch(self, rows: NDArray[np.int64]) -> Any:
        """The inputs of ``rows``: an array/tensor slice when no transform is set, else a list."""
        if self.inputs is None:
            raise InputError(MSG_NO_INPUTS)
        positions = self.index[rows]
        if (
            self.transform is None
            and hasattr(self.inputs, "shape")
            and hasattr(self.inputs, "__getitem__")
        ):
            if type(self.inputs).__module__.startswith("torch"):
                import torch

                return self.inputs[torch.as_tensor(positions)]
            return self.inputs[positions]
        return [self.get_input(int(r)) for r in rows]

    def iter_batches(self, batch_size: int) -> Iterator[tuple[NDArray[np.int64], Any]]:
        """``(rows, inputs)`` in order, ``batch_size`` samples at a time."""
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1; got {batch_size}")
        for start in range(0, len(self), batch_size):
            rows = np.arange(start, min(start + batch_size, len(self)), dtype=np.int64)
            yield rows, self.input_batch(rows)

    # ------------------------------------------------------------------ identity
    @property
    def fingerprint(self) -> str:
        """A stable hash of labels, attributes, weights, the inputs' contents and the transform's
        code (for caching; docs/internals.md, "What the cache key hashes", says what is read)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(b"fairquant-split-v2")
            h.update(str(self.labels.shape).encode())
            h.update(np.ascontiguousarray(self.labels).tobytes())
            for key in sorted(self.attributes):
                h.update(key.encode() + b"\0")
                h.update("\0".join(str(v) for v in self.attributes[key].tolist()).encode())
            if self.weights is not None:
                h.update(self.weights.tobytes())
            named = self._input_id is not None
            if named:
                h.update(str(self._input_id).encode())
            h.update(
                _digest_inputs(self.inputs, self.index, self._input_digests, named=named).encode()
            )
            if self.transform is not None:
                h.update(value_identity(self.transform).encode())
            self._fingerprint = h.hexdigest()[:32]
        return self._fingerprint

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: size, task kind, group counts per attribute, dropped groups,
        and the :data:`PROVENANCE_KEYS` the metadata sets."""
        provenance = {
            key: value if isinstance(value, bool) else str(value)
            for key in PROVENANCE_KEYS
            if (value := self.metadata.get(key))
        }
        return {
            "name": self.name,
            "n": len(self),
            "task": self.task_kind,
            "n_classes": self.n_classes,
            "fingerprint": self.fingerprint,
            "groups": {
                key: dict(
                    zip(self.groups(key).names, self.groups(key).counts().tolist(), strict=True)
                )
                for key in self.attributes
            },
            "dropped": [d.to_dict() for d in self.dropped],
            **({"provenance": provenance} if provenance else {}),
        }
