"""Evaluation data: :class:`DemographicSplit` and the readers of the face-attribute data sets."""

from .readers import (
    DataWarning,
    ImageRef,
    LoadImage,
    read_celeba,
    read_facet,
    read_fairface,
    read_manifest,
    read_utkface,
)
from .split import DemographicSplit, DroppedGroup, GroupIndex

__all__ = [
    "DataWarning",
    "DemographicSplit",
    "DroppedGroup",
    "GroupIndex",
    "ImageRef",
    "LoadImage",
    "read_celeba",
    "read_facet",
    "read_fairface",
    "read_manifest",
    "read_utkface",
]
