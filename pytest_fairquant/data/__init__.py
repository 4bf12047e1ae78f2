"""Evaluation data: :class:`DemographicSplit` and the readers of the face-attribute data sets."""

from .split import DemographicSplit, DroppedGroup, GroupIndex

__all__ = ["DemographicSplit", "DroppedGroup", "GroupIndex"]
