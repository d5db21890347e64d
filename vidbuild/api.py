"""What vidbuild knows of HeyGen's routes: the one place that names endpoints.

The build engine speaks of a job's *kind* ("video" or "agent"); the client turns a
kind into a route, and the content hash names the route so that the same body sent
to another endpoint (or a later API generation) is a different piece of work.
"""

from __future__ import annotations

from typing import Final, Literal

DEFAULT_BASE_URL: Final = "https://api.heygen.com"
# The in-process emulator answers at this address; it is never resolved over a network.
EMULATOR_BASE_URL: Final = "http://emulator.vidbuild.invalid"

JobKind = Literal["video", "agent"]

SUBMIT_ROUTES: Final[dict[str, str]] = {
    "video": "/v2/video/generate",
    "agent": "/v1/video_agent/generate",
}
STATUS_ROUTE: Final = "/v1/video_status.get"
LIST_ROUTE: Final = "/v1/video.list"
AVATARS_ROUTE: Final = "/v2/avatars"
VOICES_ROUTE: Final = "/v2/voices"

# Request-body schemas in schemas/, by job kind.
REQUEST_SCHEMAS: Final[dict[str, str]] = {
    "video": "heygen/video_generate.request.schema.json",
    "agent": "heygen/video_agent_generate.request.schema.json",
}

# Statuses video_status.get reports; anything else is treated as still running.
FINISHED_STATUSES: Final = frozenset({"completed", "failed"})


def endpoint_id(kind: str) -> str:
    """The method and route a job of this kind is submitted to, e.g. 'POST /v2/video/generate'."""
    return f"POST {SUBMIT_ROUTES[kind]}"


# --- HeyGen's v3 API (see /work/shared/heygen-api.md, "Lifecycle" and the v3 sections) -------

V3_VIDEOS_ROUTE: Final = "/v3/videos"  # POST: create; GET: list
V3_VIDEO_ROUTE_PREFIX: Final = "/v3/videos/"  # GET /v3/videos/{video_id}: detail
V3_STATUSES_ROUTE: Final = "/v3/videos/statuses"
V3_AGENTS_ROUTE: Final = "/v3/video-agents"
V3_LOOKS_ROUTE: Final = "/v3/avatars/looks"
V3_VOICES_ROUTE: Final = "/v3/voices"
V3_ME_ROUTE: Final = "/v3/users/me"

# GET /v3/videos/statuses answers for at most this many ids per request.
V3_MAX_STATUS_IDS: Final = 100
# Page-size caps from HeyGen's published description (heygen-cli gen/video.go, avatar.go, voice.go).
V3_MAX_VIDEO_PAGE: Final = 100
V3_MAX_LOOK_PAGE: Final = 50
V3_MAX_VOICE_PAGE: Final = 100

# Idempotency-Key on POST /v3/videos: 1 to 255 of these characters; a replay window of 24 h.
IDEMPOTENCY_KEY_PATTERN: Final = r"[A-Za-z0-9_:.\-]{1,255}"
IDEMPOTENCY_WINDOW_SECONDS: Final = 24 * 3600.0

# HeyGen retired v1/v2 from 2026-11-01 except the Studio API (multi-scene generation).
LEGACY_ROUTES_KEPT: Final = frozenset({SUBMIT_ROUTES["video"]})
# A cheap read of each API generation, asked to tell a retired route from an unknown video.
LEGACY_PROBE_ROUTE: Final = LIST_ROUTE
V3_PROBE_ROUTE: Final = V3_VIDEOS_ROUTE


def is_legacy_route(path: str) -> bool:
    """Whether ``path`` belongs to HeyGen's v1/v2 API generation."""
    return path.startswith(("/v1/", "/v2/"))
