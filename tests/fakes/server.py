"""Serving an ASGI app (our app, or a fake platform API) on 127.0.0.1: in a test's event loop, or in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import threading
import time
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


class LiveServer:
    """Our app served by uvicorn in a thread, on one 127.0.0.1 port it keeps across restarts.

    For tests whose client runs outside the event loop (the browser tests): `stop()` takes the
    server down as a failing server would be, and `start()` brings it back on the same address, so
    a page that is already open can retry.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        """The base URL, the same after a restart."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve until `stop()`; returns once the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(self.app, lifespan="auto", log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("the server did not start (see the error above)")
            time.sleep(0.01)
        self._server, self._thread, self._sock = server, thread, sock

    def stop(self) -> None:
        """Shut down gracefully; connections are refused until `start()`."""
        if self._server is None or self._thread is None or self._sock is None:
            return
        self._server.should_exit = True
        self._thread.join()
        self._sock.close()
        self._server = self._thread = self._sock = None


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
