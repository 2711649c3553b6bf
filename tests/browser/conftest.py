"""The web chat in a real browser: Debian's Chromium driven by Playwright, against our app on loopback.

`.ci/run` installs Chromium and `make test` fetches axe-core from npm into `.venv/npm`; in a plain
`make test` on a machine without them these tests skip with the reason, and under CI they fail.
Screenshots are written to `tmp/browser/` (ignored by git), one per test, for a person to look at.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app import create_app
from bot.config import ROOT, Settings
from bot.core.assistant import Assistant
from tests.fakes.server import LiveServer

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
AXE = Path(os.environ.get("AXE_CORE_JS", ROOT / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"))
SCREENSHOTS = ROOT / "tmp" / "browser"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip
"""What works on a closed network: without the background-networking flags Chromium keeps dialling out."""
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
WAIT_MS = 15_000
"""How long a wait for the page may take before the test fails (a wait, not an assertion on time)."""


def _missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, as .ci/run does)"
    if not AXE.exists():
        return f"no axe-core at {AXE} (make test fetches it with npm)"
    return None


class Recorder:
    """Wraps the app: keeps every /api/ask body, and can hold the answers until released.

    A slow server without a clock: while held, the page waits as it would for a slow network, and
    the test decides when the answer comes. `refuse(503)` answers as an overloaded front proxy would.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.asks: list[dict[str, Any]] = []
        self.refusing: int | None = None
        self._open = threading.Event()
        self._open.set()

    def refuse(self, status: int | None) -> None:
        """Answer /api/ask with this HTTP status (None: answer normally again)."""
        self.refusing = status

    def hold(self) -> None:
        """Keep the next answers until `release()`."""
        self._open.clear()

    def release(self) -> None:
        """Let the held answers (and the next ones) go."""
        self._open.set()

    def postbacks(self, prefix: str = "") -> list[str]:
        """The button presses received, in order (those starting with `prefix`)."""
        return [
            a["postback"] for a in self.asks if isinstance(a.get("postback"), str) and a["postback"].startswith(prefix)
        ]

    def texts(self) -> list[str]:
        """The typed messages received, in order."""
        return [a["text"] for a in self.asks if a.get("text")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/ask":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            self.asks.append(json.loads(body))
        except ValueError:
            self.asks.append({})
        await asyncio.to_thread(self._open.wait)
        if self.refusing is not None:
            await JSONResponse({"error": "busy"}, status_code=self.refusing)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the browser tests (each test gets its own context: fresh storage); closed
    after them, since the sync API keeps an event loop running in this thread that async tests cannot share."""
    reason = _missing()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def live(
    shared_assistant: Assistant, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Recorder]]:
    """The app on the fixture content, served for the browser tests, with its /api/ask recorded."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("browser-data"))
    recorder = Recorder(create_app(settings, assistant=shared_assistant))
    server = LiveServer(recorder)
    server.start()
    yield server, recorder
    recorder.release()
    server.stop()


@pytest.fixture
def recorder(live: tuple[LiveServer, Recorder]) -> Iterator[Recorder]:
    """This test's view of the requests: empty at the start, open at the end."""
    _, rec = live
    rec.asks.clear()
    rec.refuse(None)
    rec.release()
    yield rec
    rec.refuse(None)
    rec.release()


class Chat:
    """The chat page as a resident uses it: type, press, read."""

    def __init__(self, page: Any, assistant: Assistant) -> None:
        self.page = page
        self.assistant = assistant
        page.set_default_timeout(WAIT_MS)

    @property
    def log(self) -> Any:
        return self.page.locator("#log")

    def bot(self) -> Any:
        """The assistant's bubbles (not the typing indicator, not errors)."""
        return self.page.locator("#log .msg.bot:not(.typing)")

    def mine(self) -> Any:
        """The resident's bubbles."""
        return self.page.locator("#log .msg.me")

    def wait_for_bot(self, count: int) -> Any:
        """Wait until there are more than `count` assistant bubbles; the first new one."""
        self.page.wait_for_function(
            "n => document.querySelectorAll('#log .msg.bot:not(.typing)').length > n", arg=count
        )
        return self.bot().nth(count)

    def wait_until_idle(self) -> None:
        """Wait until no question is waiting for its answer."""
        self.page.wait_for_function("() => document.querySelector('#log').getAttribute('aria-busy') !== 'true'")

    def ask(self, text: str) -> Any:
        """Type a question and send it with Enter; the answer's bubble."""
        before = self.bot().count()
        self.page.locator("#text").fill(text)
        self.page.locator("#text").press("Enter")
        return self.wait_for_bot(before)

    def press(self, button: Any) -> Any:
        """Press a button; the answer's bubble."""
        before = self.bot().count()
        button.click()
        return self.wait_for_bot(before)

    def ui(self, lang: str, message: str) -> str:
        """A UI string as the page should show it in `lang`."""
        return self.assistant.texts.ui(lang, message)

    def screenshot(self, name: str) -> Path:
        """A screenshot for a person to look at (a test artefact, not committed)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_chat(
    browser: Any, live: tuple[LiveServer, Recorder], recorder: Recorder, shared_assistant: Assistant,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Chat]]:  # fmt: skip
    """Open the chat in a new browser context: `open_chat(PHONE, locale="vi-VN", server=...)`."""
    contexts: list[Any] = []
    chats: list[Chat] = []

    def opener(device: dict[str, Any] | None = None, locale: str = "ja-JP", server: LiveServer | None = None) -> Chat:
        context = browser.new_context(**(device or DESKTOP), locale=locale)
        contexts.append(context)
        page = context.new_page()
        chat = Chat(page, shared_assistant)
        chats.append(chat)
        page.goto((server or live[0]).url + "/")
        chat.wait_for_bot(0)  # the greeting
        chat.wait_until_idle()
        recorder.asks.clear()  # what the test does, not the greeting
        return chat

    yield opener
    for n, chat in enumerate(chats):
        chat.screenshot(f"{request.node.name}-{n}")
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core, to inject into the page."""
    return AXE.read_text(encoding="utf-8")


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours (opaque)."""

    def luminance(css: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css)[:3])
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)
