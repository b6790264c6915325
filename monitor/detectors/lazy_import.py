"""A module that is executed on the first use of one of its attributes, not when it is imported.

The standard library's recipe (:class:`importlib.util.LazyLoader`): ``import_lazily(name)`` puts a
lazy module in ``sys.modules``, so a later ``import name`` or ``from parent import name`` binds it
at no cost; the module runs once something reads an attribute of it. A module already imported is
left as it is. A submodule is also set on its package (imported by ``find_spec``), so that
``from package import name`` takes it as it is.

>>> import sys
>>> module = import_lazily("fractions")
>>> module is sys.modules["fractions"]
True
>>> from fractions import Fraction  # an attribute read runs the module, if it has not run yet
>>> Fraction(1, 3) + Fraction(1, 6)
Fraction(1, 2)
>>> import_lazily("fractions") is module  # already imported: the same module
True
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

__all__ = ["import_lazily"]


def import_lazily(name: str) -> ModuleType:
    """``sys.modules[name]``, registered to run on first attribute access if it was not imported."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:  # ``from parent import child`` then finds it without an import (which would run it)
        setattr(sys.modules[parent], child, module)
    return module
