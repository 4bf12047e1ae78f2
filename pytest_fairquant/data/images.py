"""Lazy image inputs: what a reader stores per sample, and the transform that opens it.

A reader keeps only file paths (an :class:`ImageRef` when the sample is a crop of a bigger
image), so reading annotations never opens an image. :class:`LoadImage` is the split's
``transform``: it opens the file with PIL, converts it, crops it, then applies the user's own
transform (e.g. open_clip's preprocess). It is a small frozen class, not a closure, so it pickles
for xdist workers and carries a ``fingerprint`` for the prediction cache.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import DataError
from ..fingerprint import value_identity

MSG_IMAGE_MISSING = "image file {path} does not exist; check the data set's root and image folder"
MSG_IMAGE_DECODE = "image file {path} could not be decoded ({error}); re-download or remove it"
MSG_IMAGES_UNREADABLE = (
    "{count} of {total} image files are missing or cannot be decoded, e.g. {examples}; "
    "fix or remove them (or read with check_images=False to fail only when one is loaded)"
)

class ImageRef(NamedTuple):
    """One sample's image: a file path and an optional crop ``(x, y, width, height)`` in pixels."""

    path: str
    box: tuple[float, float, float, float] | None = None


def describe_transform(transform: Callable[..., Any] | None) -> str:
    """A stable identity of a user transform: its ``fingerprint`` if any, else its code and
    state (:func:`~pytest_fairquant.fingerprint.value_identity`: a function's source and
    closure, a torchvision pipeline's steps with their parameters)."""
    return "none" if transform is None else value_identity(transform)


def _crop_box(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[int, int, int, int]:
    """A pixel box inside the image: annotation boxes may extend past the border."""
    x, y, w, h = box
    left = min(max(0, round(x)), width - 1)
    top = min(max(0, round(y)), height - 1)
    right = max(left + 1, min(width, round(x + w)))
    bottom = max(top + 1, min(height, round(y + h)))
    return left, top, right, bottom


def open_image(item: str | os.PathLike[str] | ImageRef, mode: str = "RGB") -> Any:
    """Open, decode, convert and crop one image; errors name the file."""
    from PIL import Image

    ref = item if isinstance(item, ImageRef) else ImageRef(os.fspath(item))
    try:
        with Image.open(ref.path) as raw:
            image = raw.convert(mode)
    except FileNotFoundError:
        raise DataError(MSG_IMAGE_MISSING.format(path=ref.path)) from None
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise DataError(MSG_IMAGE_DECODE.format(path=ref.path, error=exc)) from exc
    if ref.box is not None:
        image = image.crop(_crop_box(ref.box, *image.size))
    return image


@dataclass(frozen=True)
class LoadImage:
    """The per-sample transform of image splits: open ``item`` (path or :class:`ImageRef`), then ``transform``."""

    transform: Callable[[Any], Any] | None = None
    mode: str = "RGB"
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        ident = f"LoadImage-v2:{self.mode}:{describe_transform(self.transform)}"
        object.__setattr__(self, "fingerprint", hashlib.sha256(ident.encode()).hexdigest()[:32])

    def __call__(self, item: str | os.PathLike[str] | ImageRef) -> Any:
        image = open_image(item, self.mode)
        return self.transform(image) if self.transform is not None else image


def check_images(items: Iterable[str | ImageRef], *, mode: str = "RGB") -> None:
    """Decode every image once (each file once, however many crops use it); one error lists the bad ones."""
    paths = list(dict.fromkeys(it.path if isinstance(it, ImageRef) else it for it in items))
    bad: list[str] = []
    for path in paths:
        try:
            open_image(path, mode)
        except DataError as exc:
            bad.append(str(exc))
    if bad:
        examples = "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise DataError(
            MSG_IMAGES_UNREADABLE.format(count=len(bad), total=len(paths), examples=examples)
        )
