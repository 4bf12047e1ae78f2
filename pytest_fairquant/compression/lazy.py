"""``LazyVariant``: a compressed variant that is compressed on its first real use.

The plugin's ``quantized_model`` and ``pruned_model`` fixtures (and ``fairquant sweep``) hand
out one. It is a ``torch.nn.Module`` that knows, before it is built, what it will be
(``fairquant_plan``, a :class:`~.core.VariantPlan`) and so the fingerprint its predictions are
cached under (``fairquant_fingerprint``): predictions the cache holds are served without
compressing, and on a miss the variant is built inside the cache entry's lock, where the
prediction is computed, so a second xdist worker waiting on that entry gets the predictions
instead of compressing again.

Anything else (an attribute, a call, ``.to()``, ``state_dict()``, ``len()``, iteration) builds
it and turns the object into the built module, as torch's ``LazyModuleMixin`` turns a
``LazyLinear`` into a ``Linear``: its ``__class__`` and ``__dict__`` become the built module's,
so from then on it *is* that module (``isinstance`` with the built class holds, ``torch.compile``
and hooks see the real thing, and no indirection is left), and every test of the variant holds
that same object. Before that, ``isinstance(variant, torch.nn.Module)`` holds and ``repr`` says
it is not built yet.

Python looks special methods up on the type, not the instance, so the ones a module may define
(calling, ``len``, iteration, indexing, membership, truth, ``dir``, setting and deleting
attributes) are defined here to build first and then ask the built module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch import nn

from ..errors import CompressionError
from .core import VariantPlan

MSG_CANNOT_BECOME = (
    "{method_id}: the variant is a {cls}, which a lazily built variant cannot turn into ({error}); "
    "its method must return a torch.nn.Module subclass without __slots__"
)

#: The names a LazyVariant answers itself; asking for any other builds it.
_OWN = frozenset({"fairquant_plan", "fairquant_fingerprint", "__class__"})


class LazyVariant(nn.Module):
    """A variant that builds itself with ``build()`` on first use (see the module docstring).

    ``nn.Module.__init__`` is not called: the object's state is the built module's ``__dict__``
    once it is built, and nothing but its own names is read before.
    """

    def __init__(self, plan: VariantPlan, build: Callable[[], nn.Module]) -> None:
        object.__setattr__(self, "fairquant_plan", plan)
        object.__setattr__(self, "fairquant_fingerprint", plan.fingerprint)
        object.__setattr__(self, "_fairquant_build", build)

    def __getattribute__(self, name: str) -> Any:
        if name in _OWN:
            return object.__getattribute__(self, name)
        _become_built(self)
        return getattr(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        _become_built(self)
        setattr(self, name, value)

    def __delattr__(self, name: str) -> None:
        _become_built(self)
        delattr(self, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _become_built(self)
        return self(*args, **kwargs)

    def __len__(self) -> int:
        _become_built(self)
        return len(self)

    def __bool__(self) -> bool:  # defined with __len__, so truth does not call it unbuilt
        _become_built(self)
        return bool(self)

    def __iter__(self) -> Iterator[Any]:
        _become_built(self)
        return iter(self)

    def __getitem__(self, key: Any) -> Any:
        _become_built(self)
        return self[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        _become_built(self)
        self[key] = value

    def __delitem__(self, key: Any) -> None:
        _become_built(self)
        del self[key]

    def __contains__(self, key: Any) -> bool:
        _become_built(self)
        return key in self

    def __dir__(self) -> list[str]:
        _become_built(self)
        return dir(self)

    def __repr__(self) -> str:
        plan = self.fairquant_plan
        return (
            f"LazyVariant({plan.method_id} of the model {plan.base_fingerprint[:8]}, not built "
            "yet: built on first use)"
        )


def _become_built(variant: LazyVariant) -> None:
    """Build ``variant`` and make it the built module (its class and state); a build that
    raises leaves it unbuilt, so the next use tries again and raises the same way."""
    build = object.__getattribute__(variant, "_fairquant_build")
    plan = object.__getattribute__(variant, "fairquant_plan")
    built = build()
    state = built.__dict__
    # The identity the cache entry was claimed under stays the variant's.
    state["fairquant_plan"], state["fairquant_fingerprint"] = plan, plan.fingerprint
    try:
        object.__setattr__(variant, "__class__", type(built))
    except TypeError as err:
        raise CompressionError(
            MSG_CANNOT_BECOME.format(method_id=plan.method_id, cls=type(built).__name__, error=err)
        ) from err
    object.__setattr__(variant, "__dict__", state)


__all__ = ["LazyVariant"]
