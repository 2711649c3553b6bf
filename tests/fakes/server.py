"""Serving an ASGI app (our app, or a fake platform API) on 127.0.0.1 inside a test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, port: int = 0, config: uvicorn.Config | None = None) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port unless given; lifespan included); yield its base URL.

    `config` serves it as configured there instead (e.g. `bot.server.uvicorn_config`). Leaving the
    block shuts the server down gracefully, running the app's lifespan shutdown.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = config or uvicorn.Config(app, lifespan="auto", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # start-up failed: raise its error
                    raise RuntimeError("server stopped during start-up (see the lifespan error above)")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp) -> Iterator[str]:
    """`serve`, for synchronous tests: the server runs in a thread with its own event loop."""
    started: queue.Queue[str | BaseException] = queue.Queue()
    stopping: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def run() -> None:
        stop = asyncio.Event()
        stopping.append((asyncio.get_running_loop(), stop))
        try:
            async with serve(app) as url:
                started.put(url)
                await stop.wait()
        except BaseException as error:  # start-up failed: tell the waiting test
            started.put(error)

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    url = started.get(timeout=30)
    if isinstance(url, BaseException):
        raise url
    try:
        yield url
    finally:
        loop, stop = stopping[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)


def free_port() -> int:
    """A port nobody listens on now (for a server that is to come up later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
