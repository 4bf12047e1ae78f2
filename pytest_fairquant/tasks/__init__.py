"""Tasks: classification (binary, multiclass, multi-label), CLIP zero-shot, retrieval, embeddings."""

from .base import Task, TaskKind

__all__ = ["Task", "TaskKind"]
