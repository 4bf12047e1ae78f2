"""Readers of the face-attribute data sets, each returning a :class:`DemographicSplit`.

One module per data set (``fairface``, ``utkface``, ``celeba``, ``facet``, ``manifest``); this
module is the single place to import them from. Every reader keeps the inputs lazy (file paths
opened by :class:`~pytest_fairquant.data.images.LoadImage` at evaluation time), names the
attributes as the data set does, raises :class:`~pytest_fairquant.errors.DataError` naming the
file for missing or malformed files, and reports skipped rows in one :class:`DataWarning`.
"""

from __future__ import annotations

from ._files import (
    MSG_BAD_OPTION,
    MSG_BAD_VALUES,
    MSG_MISSING_FILE,
    MSG_NOTHING_LEFT,
    MSG_SKIPPED,
    MSG_UNKNOWN_COLUMNS,
    MSG_UNREADABLE_TABLE,
    DataWarning,
)
from .celeba import read_celeba
from .facet import FACET_CLASSES, PAPER000_SKIN_TONE_BUCKETS, read_facet
from .fairface import PAPER000_AGE_BINS, read_fairface
from .images import ImageRef, LoadImage
from .manifest import read_manifest
from .utkface import PAPER000_AGE_RANGES, read_utkface

__all__ = [
    "FACET_CLASSES",
    "MSG_BAD_OPTION",
    "MSG_BAD_VALUES",
    "MSG_MISSING_FILE",
    "MSG_NOTHING_LEFT",
    "MSG_SKIPPED",
    "MSG_UNKNOWN_COLUMNS",
    "MSG_UNREADABLE_TABLE",
    "PAPER000_AGE_BINS",
    "PAPER000_AGE_RANGES",
    "PAPER000_SKIN_TONE_BUCKETS",
    "DataWarning",
    "ImageRef",
    "LoadImage",
    "read_celeba",
    "read_facet",
    "read_fairface",
    "read_manifest",
    "read_utkface",
]
