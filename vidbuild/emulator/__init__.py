"""An embedded HeyGen-compatible API emulator, in process (httpx transport) or on a loopback socket.

It speaks HeyGen's legacy v1/v2 routes and its v3 API over one store of videos; see
``app.py`` for which legacy routes ``EmulatorConfig(legacy="gone")`` retires.

    from vidbuild.emulator import Emulator, EmulatorConfig, serve

    emulator = Emulator(EmulatorConfig.parse("speed=0.001,drop_after:submit=0.2"))
    client = httpx.Client(base_url=EMULATOR_BASE_URL, transport=emulator.transport())
    with serve(emulator) as server:      # or over a real socket: server.url
        ...

Importing this package loads neither httpx nor jsonschema: the transport module imports
httpx when ``Emulator.transport()`` is first called, validation imports jsonschema when a
body is first checked.
"""

from __future__ import annotations

from vidbuild.emulator.app import Emulator
from vidbuild.emulator.config import FAULT_KINDS, SCOPES, EmulatorConfig
from vidbuild.emulator.messages import EmulatorRequest, EmulatorResponse
from vidbuild.emulator.server import RunningServer, main_serve, run_forever, serve
from vidbuild.emulator.store import RecordedRequest, Video

__all__ = [
    "FAULT_KINDS",
    "SCOPES",
    "Emulator",
    "EmulatorConfig",
    "EmulatorRequest",
    "EmulatorResponse",
    "RecordedRequest",
    "RunningServer",
    "Video",
    "main_serve",
    "run_forever",
    "serve",
]
