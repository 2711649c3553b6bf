"""Shared fixtures: a fixture content set and its catalogs, a fixed clock, and a network guard.

Tests test the code, not today's content: they run on `tests/fixtures/content` (a small frozen set
of intents) and `tests/fixtures/translations`, compiled once per session. The real content is
checked by `python -m bot intents check` in `make test`.
"""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.core.assistant import Assistant
from bot.core.factory import build_assistant
from bot.core.users import MemoryUserStore
from bot.store import Store
from bot.store.pseudonym import Pseudonym
from bot.store.redis_store import RedisStore
from bot.store.sqlite_store import FILE_NAME, SqliteStore
from tests.redis_server import redis_server

HERE = Path(__file__).resolve().parent
CONTENT = HERE / "fixtures" / "content"
"""A small, frozen content set: 14 intents, a menu, link labels, synonyms, readings."""
FIXTURE_TRANSLATIONS = HERE / "fixtures" / "translations"
"""Catalogs (.po) for the fixture content in a few languages; `translations` compiles them."""
DATA = HERE / "data"
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


def compile_catalogs(source: Path, target: Path) -> Path:
    """Copy the .po catalogs under `source` to `target`, with their compiled .mo beside them."""
    for po in source.glob("*/LC_MESSAGES/messages.po"):
        out = target / po.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(po.read_bytes())
        with po.open("rb") as fh:
            catalog = read_po(fh)
        with out.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog)
    return target


@pytest.fixture(scope="session")
def translations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture catalogs, compiled."""
    return compile_catalogs(FIXTURE_TRANSLATIONS, tmp_path_factory.mktemp("translations"))


@pytest.fixture(scope="session")
def shared_assistant(translations: Path) -> Assistant:
    """One assistant over the fixture content for read-only tests (loading takes a moment)."""
    return build_assistant(CONTENT, translations, MemoryUserStore(), today=lambda: AFTER_START)


@pytest.fixture
def assistant(shared_assistant: Assistant) -> Iterator[Assistant]:
    """The shared assistant with a fresh memory of users (and no store errors counted) for this test."""
    saved = shared_assistant.users
    shared_assistant.users = MemoryUserStore()
    shared_assistant.store_errors = 0
    yield shared_assistant
    shared_assistant.users = saved


@pytest.fixture(scope="session")
def warm_caches(tmp_path_factory: pytest.TempPathFactory, translations: Path) -> Path:
    """What a first start on the fixture content leaves in DATA_DIR (the analysis of the bot's own Japanese,
    our part of the language model), made once: copy it into a DATA_DIR to start as after an earlier start."""
    warm = tmp_path_factory.mktemp("warm-data")
    build_assistant(CONTENT, translations, cache_dir=warm)
    return warm


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server of the test session's own, on a free loopback port."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


STORE_SECRET = b"test-secret-0123456789abcdef"
Opener = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "redis"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens another instance's view of one store (a new connection each call); closes them all."""
    opened: list[Store] = []
    prefix = f"test-{uuid.uuid4().hex[:8]}:"

    async def opener() -> Store:
        store: Store
        if request.param == "sqlite":
            store = SqliteStore(tmp_path / FILE_NAME, Pseudonym(STORE_SECRET))
        else:
            store = await RedisStore.connect(
                request.getfixturevalue("redis_url"), Pseudonym(STORE_SECRET), prefix=prefix
            )
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()
