"""Commands: one plain function per CLI command, taking explicit arguments and returning an exit code."""

from __future__ import annotations

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

__all__ = ["adopt", "build", "clean", "compile_bodies", "emulator", "explain", "export_state", "import_state",
           "init", "plan", "review", "schema", "show_catalogue", "status", "validate"]
