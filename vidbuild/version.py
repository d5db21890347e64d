"""vidbuild's version: one place, imported by the package, the CLI, the User-Agent and the snapshot."""

from __future__ import annotations

__version__ = "0.1.0"
