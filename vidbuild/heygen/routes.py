"""What vidbuild knows of HeyGen's routes: the one place that names endpoints.

The build engine speaks of a job's *kind* ("video" or "agent"); the client turns a
kind into a route, and the content hash names the route so that the same body sent
to another endpoint (or a later API generation) is a different piece of work.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Mapping
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from vidbuild.errors import UsageError

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
QUOTA_ROUTE: Final = "/v2/user/remaining_quota"
VIDEOS_ROUTE: Final = "/v2/videos"             # the newer list; GET VIDEOS_ROUTE/{video_id} details one
# GET /v1/video.list pages by `limit` (0 to 100) and `token`; it knows no other size parameter.
LIST_PAGE_LIMIT: Final = 100

# Request-body schemas in schemas/, by job kind.
REQUEST_SCHEMAS: Final[dict[str, str]] = {
    "video": "heygen/video_generate.request.schema.json",
    "agent": "heygen/video_agent_generate.request.schema.json",
}

# Statuses video_status.get reports; anything else is treated as still running.
FINISHED_STATUSES: Final = frozenset({"completed", "failed"})


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def normalize_base_url(text: str) -> str:
    """The one spelling of an API base URL, used both to send requests and to name the state.

    Two spellings of one API must never name two state namespaces (the second would pay for every
    row again), so: surrounding whitespace is dropped; scheme and host are lower-cased (RFC 3986
    §6.2.2.1), a trailing dot of the host is dropped, the scheme's default port is dropped (§6.2.3);
    an IPv6 host takes its one text form (RFC 5952); in the path, percent-encoded unreserved
    characters are decoded and other escapes upper-cased (§6.2.2.1-2), repeated slashes collapse,
    dot segments are resolved and a trailing slash is dropped. The path prefix itself is kept:
    ``https://h/v`` and ``https://h`` are different APIs.
    Raises UsageError for anything that is not an http(s) URL with a host, or that carries
    credentials, a query or a fragment.
    """
    stripped = text.strip()
    if not stripped or re.search(r"\s", stripped):
        raise UsageError(f"the API base URL {stripped!r} is empty or holds white space")
    try:
        parts = urlsplit(stripped)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"the API base URL is not a URL: {exc}") from exc
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        raise UsageError("the API base URL must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment \
            or stripped.endswith(("?", "#")):
        raise UsageError("the API base URL must not carry credentials, a query or a fragment")
    netloc = f"[{_ipv6_text(host)}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = re.sub(r"/{2,}", "/", _normalize_escapes(parts.path))
    path = posixpath.normpath(path) if path else ""
    path = "" if path in (".", "/", "//") else path.rstrip("/")
    return f"{scheme}://{netloc}{path}"


def _ipv6_text(host: str) -> str:
    try:
        return ipaddress.IPv6Address(host).compressed
    except ValueError:
        return host   # a zone ID or the like: kept as written


_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normalize_escapes(path: str) -> str:
    """``%7e`` -> ``~``, ``%2f`` -> ``%2F``: one spelling per escape (RFC 3986 §6.2.2.1-2)."""
    def one(match: re.Match[str]) -> str:
        character = chr(int(match.group(1), 16))
        return character if character in _UNRESERVED else match.group(0).upper()

    return re.sub(r"%([0-9A-Fa-f]{2})", one, path)


def sends_callback_id(kind: str, body: Mapping[str, Any]) -> bool:
    """Whether a body of this kind may carry ``callback_id``.

    HeyGen's agent guide (and a fix in its official skills repository) says
    ``/v1/video_agent/generate`` answers 400 to a ``callback_id`` without a ``callback_url``;
    ``/v2/video/generate`` takes one always.
    """
    return kind != "agent" or bool(body.get("callback_url"))


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


# API generations a job can go through. `legacy` is what vidbuild hashes and plans (the routes above);
# `v3` is HeyGen's current API, used where it renders the very same video (v3_bodies.py).
Generation = Literal["legacy", "v3"]
# What a project (`api:`) or the command line (`--api`) may ask for; `auto` picks per row.
API_CHOICES: Final = ("auto", "v3", "legacy")
DEFAULT_API_CHOICE: Final = "auto"
V3_SUBMIT_ROUTES: Final[dict[str, str]] = {
    "video": V3_VIDEOS_ROUTE,
    "agent": V3_AGENTS_ROUTE,
}


def endpoint_id(kind: str, generation: Generation = "legacy") -> str:
    """The method and route a job of this kind is submitted to, e.g. 'POST /v2/video/generate'.

    The content hash always names the legacy route, whatever generation a row is sent through.
    """
    routes = V3_SUBMIT_ROUTES if generation == "v3" else SUBMIT_ROUTES
    return f"POST {routes[kind]}"


def legacy_version(kind: str) -> str:
    """The version a legacy route of this kind belongs to, as people name it: 'v2' or 'v1'."""
    return SUBMIT_ROUTES[kind].split("/")[1]
