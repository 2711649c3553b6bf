"""The app as `python -m bot serve` serves it (bot.server): hostile clients stay cheap.

Bodies are limited while they stream in (declared or chunked), slow headers and bodies are cut off,
one address cannot hold every connection, the web chat API has a per-client rate, and SIGTERM lets
the accepted work finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.app import create_app
from bot.config import ROOT, Secret, Settings
from bot.core.assistant import Assistant
from bot.server import guarded_protocol, uvicorn_config
from tests.adapters.line_support import SECRET, TOKEN, body, event, sign
from tests.conftest import CONTENT
from tests.fakes.faults import Fault
from tests.fakes.line_api import REPLY, FakeLineApi
from tests.fakes.server import free_port, serve

MB = 1024 * 1024


@contextlib.asynccontextmanager
async def served(app: Starlette, settings: Settings, **protocol: Any) -> AsyncIterator[tuple[str, int]]:
    """`app` served with the production configuration; yields (base URL, port)."""
    overrides: dict[str, Any] = {"log_level": "warning"}
    if protocol:
        overrides["http"] = guarded_protocol(**protocol)
    port = free_port()
    config = uvicorn_config(app, settings, host="127.0.0.1", port=port, **overrides)
    async with serve(app, port=port, config=config) as url:
        yield url, port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(line_channel_secret=Secret(SECRET), line_channel_access_token=Secret(TOKEN),
                    line_api_base_url="http://127.0.0.1:9", data_dir=tmp_path)  # fmt: skip


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size


# -- body limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/webhooks/line", "/webhooks/telegram", "/api/ask", "/healthz"])
async def test_declared_oversized_body_is_refused_unread(assistant: Assistant, settings: Settings, path: str) -> None:
    app = create_app(settings, assistant=assistant)
    async with served(app, settings) as (url, _), httpx.AsyncClient(base_url=url) as http:
        response = await http.post(path, content=b"x" * (2 * MB), headers={"x-line-signature": "x"})
    assert response.status_code == 413


async def send_chunked(port: int, path: str, total: int) -> bytes:
    """POST `total` bytes with chunked encoding, as fast as the server takes them; its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 "X-Line-Signature: x\r\nContent-Type: application/json\r\n\r\n".encode())  # fmt: skip
    chunk = b"x" * (64 * 1024)
    with contextlib.suppress(ConnectionError):
        for _ in range(total // len(chunk)):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    try:
        async with asyncio.timeout(10):
            return await reader.read()
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def test_chunked_bodies_are_cut_off_at_the_limit_and_never_held(
    assistant: Assistant, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, assistant=assistant)
    async with served(app, settings) as (url, port):
        tracemalloc.start()
        try:
            answers = await asyncio.gather(*(send_chunked(port, "/webhooks/line", 8 * MB) for _ in range(12)))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        async with httpx.AsyncClient(base_url=url) as http:
            healthy = await http.get("/healthz")
    # 413, then the connection closed; with the rest of the body unread, the close may overtake the answer.
    assert all(answer == b"" or answer.startswith(b"HTTP/1.1 413") for answer in answers)
    assert "LINE webhook rejected" not in caplog.text  # no body reached the webhook
    # 96 MB were offered; no more than about the 1 MB limit per request was ever held.
    assert peak < 40 * MB
    assert healthy.status_code == 200


# -- slow clients -----------------------------------------------------------------------------


async def test_slow_headers_and_slow_bodies_are_cut_off(assistant: Assistant, settings: Settings) -> None:
    app = create_app(settings, assistant=assistant)
    async with served(app, settings, max_per_client=0, header_seconds=0.3, body_seconds=0.3) as (url, port):
        silent = await asyncio.open_connection("127.0.0.1", port)
        headers = await asyncio.open_connection("127.0.0.1", port)
        headers[1].write(b"POST /api/ask HTTP/1.1\r\nHost: x\r\n")  # never finished
        body_ = await asyncio.open_connection("127.0.0.1", port)
        body_[1].write(b'POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"text":')
        async with asyncio.timeout(5):
            closed = [await reader.read() for reader, _ in (silent, headers, body_)]
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/healthz")).status_code == 200
        for _, writer in (silent, headers, body_):
            writer.close()
    assert closed == [b"", b"", b""]  # closed by the server, nothing answered


async def test_one_address_cannot_hold_every_connection(assistant: Assistant, settings: Settings) -> None:
    app = create_app(settings, assistant=assistant)
    async with served(app, settings, max_per_client=3) as (url, port):
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            refused = await reader.read()  # closed at once
        writer.close()
        for _, w in held:
            w.close()
            await w.wait_closed()
        await asyncio.sleep(0.1)  # let the server see them go
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/healthz")).status_code == 200
    assert refused == b""


async def test_the_web_chat_api_has_a_per_client_rate(assistant: Assistant, tmp_path: Path) -> None:
    settings = Settings(client_rate=2.0, data_dir=tmp_path)
    app = create_app(settings, assistant=assistant)
    async with served(app, settings) as (url, _), httpx.AsyncClient(base_url=url) as http:
        statuses = [(await http.post("/api/ask", json={"text": "ok"})).status_code for _ in range(10)]
        refused = await http.post("/api/ask", json={"text": "ok"})
        health = await http.get("/healthz")
    assert statuses[:4] == [200] * 4 and 429 in statuses
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert health.status_code == 200  # other routes are not limited


async def test_over_the_connection_limit_requests_get_503(assistant: Assistant, tmp_path: Path) -> None:
    settings = Settings(max_connections=2, data_dir=tmp_path)
    async with served(create_app(settings, assistant=assistant), settings) as (url, port):
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.get("/healthz")
        for _, writer in held:
            writer.close()
    assert response.status_code == 503


# -- python -m bot serve: graceful shutdown ---------------------------------------------------


async def test_sigterm_lets_accepted_events_finish(tmp_path: Path, translations: Path) -> None:
    api = FakeLineApi(TOKEN)
    api.fault_next(REPLY, *[Fault(hang=1.0)] * 20)  # LINE is slow: the replies are still going at SIGTERM
    async with serve(api.app) as api_url:
        port = free_port()
        env = {**os.environ, "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
               "LINE_API_BASE_URL": api_url, "DATA_DIR": str(tmp_path), "INTENTS_DIR": str(CONTENT),
               "TRANSLATIONS_DIR": str(translations), "LOG_LEVEL": "WARNING"}  # fmt: skip
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", "--port", str(port), cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                async with asyncio.timeout(60):
                    while True:
                        with contextlib.suppress(httpx.TransportError):
                            if (await http.get("/healthz")).status_code == 200:
                                break
                        await asyncio.sleep(0.1)
                for n in range(20):
                    raw = body(
                        event("text_user", "特定在留カードってなに？", source={"type": "user", "userId": f"U{n:032x}"})
                    )
                    response = await http.post("/webhooks/line", content=raw, headers={"x-line-signature": sign(raw)})
                    assert response.status_code == 200
            server.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                _, stderr = await server.communicate()
        finally:
            if server.returncode is None:
                server.kill()
                await server.wait()
    # uvicorn re-raises the signal once it has shut down gracefully: the exit status says SIGTERM.
    assert server.returncode in (0, -signal.SIGTERM), stderr.decode()[-2000:]
    assert len(api.deliveries) == 20


def test_settings_limits_come_from_the_environment() -> None:
    settings = Settings.from_env({"MAX_BACKLOG": "50", "MAX_CONNECTIONS": "10", "MAX_CONNECTIONS_PER_CLIENT": "0",
                                  "CLIENT_RATE": "0.5"}, env_file=Path("/nonexistent"))  # fmt: skip
    assert (settings.max_backlog, settings.max_connections, settings.max_connections_per_client) == (50, 10, 0)
    assert settings.client_rate == 0.5
    for name, value in [("MAX_BACKLOG", "0"), ("MAX_CONNECTIONS", "1.5"), ("PORT", "nan"), ("MAX_BACKLOG", "lots")]:
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: value}, env_file=Path("/nonexistent"))


def test_secret_never_shows_as_text(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("tok-123456")
    import logging

    logging.getLogger("test").warning("token %s %r %s", secret, secret, f"{secret}")
    assert "tok-123456" not in caplog.text and "tok-123456" not in json.dumps(str(secret))
    assert secret.reveal() == "tok-123456" and not isinstance(secret, str)
    assert secret == Secret("tok-123456") and secret != Secret("other") and not Secret("")
