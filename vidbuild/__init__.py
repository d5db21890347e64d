"""vidbuild: declarative, incremental builds of personalized HeyGen videos."""

from __future__ import annotations

__version__ = "0.1.0"
