"""Entry point for ``python -m vidbuild``."""

from __future__ import annotations

from vidbuild.launch import main

raise SystemExit(main())
