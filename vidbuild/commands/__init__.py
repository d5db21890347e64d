"""Commands: one plain function per CLI command, taking explicit arguments and returning an exit code.

Each is imported from its module on first use (PEP 562's module ``__getattr__``): a command
pays only for its own imports (``build`` needs neither ``review``'s browser nor ``adopt``'s
account lookups), which is most of a one-row build's start-up.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vidbuild.commands.adopt import adopt
    from vidbuild.commands.build import build, plan, status
    from vidbuild.commands.catalogue import emulator, show_catalogue
    from vidbuild.commands.clean import clean
    from vidbuild.commands.compile import compile_bodies, validate
    from vidbuild.commands.explain import explain
    from vidbuild.commands.init import init
    from vidbuild.commands.review import review
    from vidbuild.commands.schema import schema
    from vidbuild.commands.state import export as export_state
    from vidbuild.commands.state import import_ as import_state

# Each public name: (its module, its name there).
_WHERE: dict[str, tuple[str, str]] = {
    "adopt": ("adopt", "adopt"), "build": ("build", "build"), "plan": ("build", "plan"),
    "status": ("build", "status"), "emulator": ("catalogue", "emulator"),
    "show_catalogue": ("catalogue", "show_catalogue"), "clean": ("clean", "clean"),
    "compile_bodies": ("compile", "compile_bodies"), "validate": ("compile", "validate"),
    "explain": ("explain", "explain"), "init": ("init", "init"), "review": ("review", "review"),
    "schema": ("schema", "schema"), "export_state": ("state", "export"), "import_state": ("state", "import_"),
}

__all__ = ["adopt", "build", "clean", "compile_bodies", "emulator", "explain", "export_state", "import_state",
           "init", "plan", "review", "schema", "show_catalogue", "status", "validate"]


class _Commands(types.ModuleType):
    """This package's module type: importing a submodule that shares a command's name (``build``,
    ``review``) sets that name on the package to the submodule; the command keeps the name, as when
    this package imported every command up front."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _WHERE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Commands


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where[0]}"), where[1])
    globals()[name] = value
    return value
