"""The emulator behind a real HTTP server (stdlib ThreadingHTTPServer), on loopback unless told otherwise."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from vidbuild.emulator.app import Emulator
from vidbuild.emulator.config import EmulatorConfig
from vidbuild.emulator.messages import EmulatorRequest, EmulatorResponse


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Don't wait on close for handler threads that are sleeping out a slow fault.
    block_on_close = False

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.emulator = emulator

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as HeyGen's servers allow
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK would hold every kept-alive reply back ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        # Media URLs must point back at the address the client used to reach us.
        host = self.headers.get("Host") or self.server.url.removeprefix("http://")
        reply = self.server.emulator.handle(EmulatorRequest(
            method=self.command, target=self.path, headers=dict(self.headers.items()),
            body=body, base_url=f"http://{host}"))
        if reply.delay > 0:
            time.sleep(reply.delay)
        if reply.drop:
            # Close without a byte of reply: the client sees the connection cut.
            self.close_connection = True
            return
        try:
            self._send(reply)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (for instance its timeout ran out during a slow fault).
            self.close_connection = True

    def _send(self, reply: EmulatorResponse) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.cut_off:
            # No length: the body ends where the connection closes, so the cut looks like the end.
            self.send_header("Connection", "close")
            self.close_connection = True
        elif "Content-Length" not in reply.headers:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body and self.command != "HEAD":
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet by default: the emulator's request log is the record tests read.
        pass


class RunningServer:
    """An emulator served on a background thread; close it (or use ``with``) when done."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53211``."""
        return self._server.url

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def emulator(self) -> Emulator:
        return self._server.emulator

    def close(self) -> None:
        """Stop serving and free the port; the emulator itself stays open."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``emulator`` on a background thread; ``port=0`` picks a free port."""
    server = _Server((host, port), emulator)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"heygen-emulator-{server.server_address[1]}", daemon=True)
    thread.start()
    return RunningServer(server, thread)


def run_forever(emulator: Emulator, host: str = "127.0.0.1", port: int = 0,
                announce: Callable[[str], None] | None = None) -> None:
    """Serve ``emulator`` on this thread until interrupted; ``announce`` gets the base URL first."""
    server = _Server((host, port), emulator)
    try:
        if announce is not None:
            announce(server.url)
        server.serve_forever()
    finally:
        server.server_close()


def main_serve(host: str, port: int, config: EmulatorConfig | None = None) -> int:
    """``vidbuild emulator``: serve until Ctrl-C, announcing the address on stderr; returns 0."""
    with Emulator(config or EmulatorConfig.from_env(),
                  on_note=lambda text: print(text, file=sys.stderr, flush=True)) as emulator:
        try:
            run_forever(emulator, host, port, announce=lambda url: print(
                f"HeyGen emulator listening on {url}", file=sys.stderr, flush=True))
        except KeyboardInterrupt:
            pass
    return 0
