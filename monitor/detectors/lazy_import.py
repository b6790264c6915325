"""A module that is executed on the first use of one of its attributes, not when it is imported.

``import_lazily(name)`` puts a stand-in in ``sys.modules``, so a later ``import name`` or ``from
parent import name`` binds it at no cost; the module runs once something reads an attribute the
stand-in does not hold, and the stand-in then holds every attribute of the real module. The stand-in
holds the module's identity (``__name__``, ``__spec__``, ``__file__``, a package's ``__path__``)
from the start: code that scans ``sys.modules`` for where a file came from, as ``inspect.getmodule``
does (Faust's agent decorator calls it), reads them without running the module. (The standard
library's ``importlib.util.LazyLoader`` runs the module at any attribute read, ``__file__``
included.) A module already imported is left as it is. A submodule is also set on its package
(imported by ``find_spec``), so that ``from package import name`` takes it as it is.

>>> import sys
>>> module = import_lazily("fractions")
>>> module is sys.modules["fractions"]
True
>>> from fractions import Fraction  # an attribute read runs the module, if it has not run yet
>>> Fraction(1, 3) + Fraction(1, 6)
Fraction(1, 2)
>>> import_lazily("fractions").Fraction is Fraction  # afterwards: the real module's attributes
True
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

__all__ = ["import_lazily"]

_LOADING = threading.RLock()  # a module run may run another stand-in


class _StandIn(ModuleType):
    """Holds a module's identity; the first read of anything else runs the real module."""

    def __getattr__(self, attr: str) -> Any:  # only for what the stand-in does not hold
        return getattr(_run(self), attr)


def _run(stand_in: _StandIn) -> ModuleType:
    """Import the real module in place of ``stand_in``, whose attributes become the real ones."""
    name = stand_in.__name__
    with _LOADING:
        real = sys.modules.get(name)
        if real is None or real is stand_in:
            sys.modules.pop(name, None)
            try:
                real = importlib.import_module(name)  # sets it on its package too
            except BaseException:
                sys.modules[name] = stand_in
                raise
        vars(stand_in).update(vars(real))
    return real


def import_lazily(name: str) -> ModuleType:
    """``sys.modules[name]``: a stand-in that runs the module at first use, if it was not imported."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    stand_in = _StandIn(name)
    stand_in.__spec__ = spec
    stand_in.__loader__ = spec.loader
    stand_in.__package__ = spec.parent
    if spec.origin is not None and spec.has_location:
        stand_in.__file__ = spec.origin
    if spec.submodule_search_locations is not None:
        stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    if parent:  # ``from parent import child`` then finds it without an import (which would run it)
        setattr(sys.modules[parent], child, stand_in)
    return stand_in
