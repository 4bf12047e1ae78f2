"""``fairquant sweep --ray``: a sweep's forward passes as Ray tasks, its gates in the driver.

:func:`ray_evaluations` submits one task per (model, method), the dense model being one of
them, and hands the sweep the function that waits for each method's
:class:`~.run.Evaluation`. A task runs :meth:`FairnessRun.evaluate
<.run.FairnessRun.evaluate>` under the driver's settings on the driver's model and prepared
split (each put in the object store once): the code a serial sweep runs, so only *where* the
predictions are computed changes. The driver gates them with :meth:`~.run.FairnessRun.judge`
and writes the one report.

Resources: a task asks for one GPU where the cluster has any and either the method needs CUDA
(its ``needs_cuda``) or ``device`` is not ``cpu`` (a serial sweep on a GPU host would use the
GPU), else one CPU. On a cluster without GPUs a CUDA-only method is skipped by its worker, as a
serial sweep without CUDA skips it, instead of waiting for a GPU that never comes.

Workers import pytest_fairquant and the model's modules: a local cluster that ``ray.init``
starts inherits the driver's environment (``PYTHONPATH`` and working directory included); on a
remote one, install them on the nodes or submit the sweep as a Ray job with a ``runtime_env``.
Nothing else in the package imports this module, so ``fairquant`` without ``--ray`` never
imports Ray.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .run import DENSE, Evaluation, FairnessRun

if TYPE_CHECKING:
    from pathlib import Path

    from .data.split import DemographicSplit
    from .settings import Settings

MSG_NO_RAY = (
    "--ray: Ray cannot be imported ({error}); install it with pip install 'pytest-fairquant[ray]'"
)


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError naming the extra that installs it."""
    try:
        import ray
    except ImportError as err:
        raise ConfigError(MSG_NO_RAY.format(error=err)) from err
    return ray


def needs_cuda(method: str) -> bool:
    """Whether ``method``'s variant can only be built or run on CUDA: the method object's
    ``needs_cuda``, False for a method without one."""
    from .compression.registry import build_method

    try:
        method_object = build_method(method)
    except Exception:  # a method that does not build: its worker reports why, on any device
        return False
    return bool(getattr(method_object, "needs_cuda", False))


def task_gpus(settings: Settings, method: str, cluster_gpus: float) -> int:
    """The GPUs ``method``'s task asks for (see the module docstring)."""
    if not cluster_gpus:
        return 0
    wants_gpu = settings.device != "cpu" or (method != DENSE and needs_cuda(method))
    return 1 if wants_gpu else 0


def _evaluate(
    settings: Settings, root: Path, model: Any, split: DemographicSplit, method: str
) -> Evaluation:
    """One Ray task: a run of the driver's settings of its own, evaluating one model."""
    run = FairnessRun(settings, root=root)
    run.check_methods(("methods",))  # as the driver did: a broken backend is named as one
    return run.evaluate(model, split, method)


@contextlib.contextmanager
def ray_evaluations(
    run: FairnessRun, model: Any, split: DemographicSplit, *, address: str | None
) -> Iterator[Callable[[str], Evaluation]]:
    """Submit the dense model and every method of ``run``'s settings, and yield
    ``evaluate(method)``: that model's Evaluation once its task is done, its compression
    metadata kept in ``run.methods`` as a serial sweep keeps it. Ray is started at ``address``
    (None: Ray's default) and shut down afterwards unless it is initialised already (a
    notebook's or a test's cluster, then used as it is). A task whose worker dies is that
    method's evaluation failure, as an exception is in a serial sweep."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address)
    try:
        task = ray.remote(_evaluate)
        gpus = ray.cluster_resources().get("GPU", 0)
        model_ref, split_ref = ray.put(model), ray.put(split)
        pending = {
            method: task.options(num_gpus=task_gpus(run.settings, method, gpus)).remote(
                run.settings, run.root, model_ref, split_ref, method
            )
            for method in (DENSE, *run.settings.methods, *(c.name for c in run.settings.candidates))
        }

        def evaluate(method: str) -> Evaluation:
            try:
                evaluation: Evaluation = ray.get(pending[method])
            except ray.exceptions.RayError as err:
                return Evaluation.failed(method, "evaluation", err)
            if evaluation.info:
                run.methods[method] = dict(evaluation.info)
            return evaluation

        yield evaluate
    finally:
        if started:
            ray.shutdown()


__all__ = ["MSG_NO_RAY", "import_ray", "needs_cuda", "ray_evaluations", "task_gpus"]
