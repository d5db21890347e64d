"""The emulator's request and response values, and HeyGen's JSON envelopes (v1, v2 and error).

They carry no I/O: the in-process transport and the socket server both turn an HTTP
exchange into an ``EmulatorRequest`` and act out the ``EmulatorResponse`` they get back,
including its ``delay`` (slow fault) and ``drop`` (connection closed without a reply).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class EmulatorRequest:
    """One HTTP request; ``base_url`` is the scheme and host it came in on, used for media URLs."""

    method: str
    target: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = ""

    @cached_property
    def path(self) -> str:
        return urlsplit(self.target).path

    @cached_property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True)
class EmulatorResponse:
    """What to answer: a status, headers and body, possibly late (``delay``) or never (``drop``).

    ``cut_off``: the body is sent without Content-Length and the connection closed after it, so
    the client can't tell it was cut short (an HTTP/1.1 close-delimited body).
    """

    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    drop: bool = False
    cut_off: bool = False


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None
                   ) -> EmulatorResponse:
    body = json.dumps(payload).encode()
    base = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    return EmulatorResponse(status, {**base, **(headers or {})}, body)


def v2_ok(data: Any) -> EmulatorResponse:
    """200 in the v2 envelope: ``{"error": null, "data": ...}``."""
    return _json_response(200, {"error": None, "data": data})


def v1_ok(data: Any) -> EmulatorResponse:
    """200 in the v1 envelope: ``{"code": 100, "message": "Success", "data": ...}``."""
    return _json_response(200, {"code": 100, "message": "Success", "data": data})


def api_error(status: int, code: str, message: str, headers: dict[str, str] | None = None
              ) -> EmulatorResponse:
    """A 4xx/5xx answer: ``{"error": {"code": ..., "message": ...}, "data": null}``."""
    return _json_response(status, {"error": {"code": code, "message": message}, "data": None},
                          headers)


def invalid(message: str) -> EmulatorResponse:
    """400 ``invalid_parameter``, the API's answer to a body it rejects."""
    return api_error(400, "invalid_parameter", message)


def file_response(data: bytes, content_type: str, *, head: bool = False) -> EmulatorResponse:
    """200 with a file; for HEAD the body is left out but Content-Length still tells its size."""
    headers = {"Content-Type": content_type, "Content-Length": str(len(data))}
    return EmulatorResponse(200, headers, b"" if head else data)


def file_refused(status: int, reason: str) -> EmulatorResponse:
    """403 or 404 from the file host, a plain-text page as a storage service would give."""
    code = "AccessDenied" if status == 403 else "NoSuchKey"
    body = f"{code}: {reason}\n".encode()
    headers = {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body))}
    return EmulatorResponse(status, headers, body)
