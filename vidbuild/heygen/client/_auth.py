"""The API key on the way out and never on the way back: ``X-Api-Key`` on API requests, and
scrubbed from every text a reply or an error brings in."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any
from urllib.parse import quote

import httpx


class ApiKeyAuth(httpx.Auth):
    """Adds ``X-Api-Key`` to API requests; no repr, log line or traceback local shows the key."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Api-Key"] = self._api_key
        yield request

    def scrub(self, text: str) -> str:
        """Remove the key, as sent or percent-encoded, from text that came from elsewhere (a proxy
        or an error message may echo headers)."""
        if not self._api_key:
            return text
        for spelling in (self._api_key, quote(self._api_key, safe="")):
            text = text.replace(spelling, "***")
        return text

    def scrub_data(self, value: Any) -> Any:
        """``value`` (a parsed JSON reply) with the key removed from every string in it, keys of
        objects included, so nothing read from a reply can carry the key on to a log or a file."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub(str(name)): self.scrub_data(item) for name, item in value.items()}
        if isinstance(value, list):
            return [self.scrub_data(item) for item in value]
        return value

    def __repr__(self) -> str:
        return "ApiKeyAuth(<redacted>)"
