"""Emulated time for the emulator's tests: it stands still until a test (or the client's fake
sleep) moves it."""

from __future__ import annotations


class Clock:
    """The emulator's clock at ``start`` (Unix seconds), moved by hand (or by the client's fake sleep)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
