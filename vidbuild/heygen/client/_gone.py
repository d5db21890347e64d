"""Tells a retired route from an unknown video, so that a 404 is never taken for a lost video.

HeyGen announced the retirement of its v1/v2 routes (all but ``POST /v2/video/generate``)
from 2026-11-01; a retired route may answer 410, or 404 like any path the server doesn't
know, with whatever body the server in front sends (JSON, HTML, plain text). A 404 on a
read of one video is therefore ambiguous. The check asks a cheap list read of the same
API generation (``GET /v1/video.list?limit=1`` or ``GET /v3/videos?limit=1``): if that
answers 404 or 410 too, the generation's routes are gone (``RouteGoneError``); if it
answers, the route is alive and the video is unknown there (the original
``NotFoundError``). Nothing of the reply body is read, only statuses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from vidbuild.errors import ApiError, NotFoundError, RouteGoneError
from vidbuild.heygen import routes

# List parameters that can't make the probe route itself answer 404.
_PAGING: Final = frozenset({"limit", "token", "page_size"})


class RouteCheck:
    """Classifies the 404s of one client; remembers generations found gone (one probe each)."""

    def __init__(self, probe: Callable[[str], object]) -> None:
        # ``probe(route)`` sends GET route?limit=1, unclassified, and raises as Session.call does.
        self._probe = probe
        self._gone: set[str] = set()

    def classify(self, error: NotFoundError, method: str, path: str,
                 params: Mapping[str, object] | None) -> ApiError:
        """``error`` itself when the route answers, else a RouteGoneError to raise from it.

        A legacy POST keeps its 404: there it may name a missing asset or avatar, and its
        one route that HeyGen keeps, ``/v2/video/generate``, is not retired with the reads.
        Errors of the probe itself (a 5xx, no connection) propagate: then nothing is known.
        """
        if isinstance(error, RouteGoneError):
            return error
        v3 = path.startswith("/v3/")
        if method != "GET" and not v3:
            return error
        probe = routes.V3_PROBE_ROUTE if v3 else routes.LEGACY_PROBE_ROUTE
        if probe in self._gone:
            return _gone(error, probe)
        if method == "GET" and path == probe and set(params or {}) <= _PAGING:
            self._gone.add(probe)
            return _gone(error, None)
        try:
            self._probe(probe)
        except NotFoundError as probe_error:
            if probe_error.status not in (404, 410):
                raise
            self._gone.add(probe)
            return _gone(error, probe)
        return error


def _gone(error: NotFoundError, probe: str | None) -> RouteGoneError:
    confirmed = f"; GET {probe} answers 404/410 too" if probe else ""
    return RouteGoneError(f"the route itself is not served here{confirmed}: {error.api_message}",
                          status=error.status, code=error.code, method=error.method,
                          path=error.path)
