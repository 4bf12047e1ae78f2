"""Tasks: classification (binary, multiclass, multi-label), CLIP zero-shot, retrieval, embeddings."""

from .base import Task, TaskKind
from .retrieval import RetrievalTask
from .zeroshot import ZeroShotTask

__all__ = ["RetrievalTask", "Task", "TaskKind", "ZeroShotTask"]
