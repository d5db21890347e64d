"""An httpx transport that hands requests to an in-process Emulator: no sockets, same faults.

A dropped connection surfaces as ``httpx.RemoteProtocolError`` (what httpx raises when a
server closes the socket without replying), and a slow reply longer than the request's
read timeout as ``httpx.ReadTimeout``, so client code meets the errors a real network gives.
"""

from __future__ import annotations

import time
from typing import Protocol

import httpx

from vidbuild.emulator.messages import EmulatorRequest, EmulatorResponse


class Answers(Protocol):
    """What the transport needs of an emulator (``Emulator`` in app.py): a reply per request."""

    def handle(self, request: EmulatorRequest) -> EmulatorResponse: ...


class EmulatorTransport(httpx.BaseTransport):
    """Answers every request from ``emulator``; the request's host becomes the media base URL."""

    def __init__(self, emulator: Answers) -> None:
        self.emulator = emulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        base_url = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        reply = self.emulator.handle(EmulatorRequest(
            method=request.method,
            target=request.url.raw_path.decode("ascii"),
            headers=dict(request.headers.items()),
            body=body,
            base_url=base_url,
        ))
        if reply.delay > 0:
            _wait(reply.delay, request)
        if reply.drop:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request)
        response = httpx.Response(reply.status, headers=reply.headers, request=request,
                                  stream=httpx.ByteStream(reply.body))
        return response


def _wait(delay: float, request: httpx.Request) -> None:
    # Honour the client's read timeout: a reply later than that is a timeout, not a late reply.
    timeouts = request.extensions.get("timeout", {})
    read_timeout = timeouts.get("read") if isinstance(timeouts, dict) else None
    if read_timeout is not None and delay > read_timeout:
        time.sleep(read_timeout)
        raise httpx.ReadTimeout("timed out", request=request)
    time.sleep(delay)
