"""Shared fixtures: the real intents and catalogs, a fixed clock, and a network guard."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.core.assistant import Assistant
from bot.core.factory import build_assistant
from bot.core.users import MemoryUserStore

INTENTS = ROOT / "intents"
TRANSLATIONS = ROOT / "translations"
DATA = Path(__file__).resolve().parent / "data"
AFTER_START = dt.date(2026, 11, 27)
BEFORE_START = dt.date(2026, 5, 1)

_LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection outside loopback: tests talk only to the fakes they start."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith(_LOOPBACK) or host == ""):
            return
        if isinstance(host, (str, bytes)) and isinstance(address, (str, bytes)):
            return  # unix sockets
        raise RuntimeError(f"test tried to reach {address!r}: only loopback is allowed")

    def connect(self: socket.socket, address: object) -> None:
        check(address)
        return real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        check(address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(scope="session")
def shared_assistant() -> Assistant:
    """One assistant for read-only tests (loading takes a moment)."""
    return build_assistant(INTENTS, TRANSLATIONS, MemoryUserStore(), today=lambda: AFTER_START)


@pytest.fixture
def assistant(shared_assistant: Assistant) -> Iterator[Assistant]:
    """The shared assistant with a fresh memory of users for this test."""
    saved = shared_assistant.users
    shared_assistant.users = MemoryUserStore()
    yield shared_assistant
    shared_assistant.users = saved
