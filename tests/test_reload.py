"""Hot reload on a copy of the fixture content: an edit goes live, a broken file keeps the last good set."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from watchfiles import Change

from bot.app import create_app
from bot.config import Secret, Settings
from bot.core.assistant import Assistant
from bot.core.factory import build_assistant
from bot.core.models import Incoming
from bot.core.render import plain_text
from bot.core.users import MemoryUserStore
from bot.reload import ContentReloader, is_content, needs_reload
from tests.adapters.line_support import SECRET, TOKEN, body, event, sign
from tests.conftest import AFTER_START, CONTENT
from tests.fakes.line_api import FakeLineApi
from tests.fakes.server import serve

QUESTION = "Do I have to get the new card?"
ANSWER = "you do not have to get one"


@pytest.fixture
def content(tmp_path: Path) -> Path:
    return Path(shutil.copytree(CONTENT, tmp_path / "intents"))


@pytest.fixture
def reloader(content: Path, translations: Path, tmp_path: Path) -> ContentReloader:
    def build(previous: Assistant | None) -> Assistant:
        return build_assistant(
            content, translations, MemoryUserStore(), today=lambda: AFTER_START, cache_dir=tmp_path, previous=previous
        )

    return ContentReloader(build, [content, translations])


def first_catalog(directory: Path) -> Path:
    return next(directory.glob("*/LC_MESSAGES/messages.mo"))


def answer(reloader: ContentReloader, text: str = QUESTION) -> str:
    return plain_text(reloader.current().handle(Incoming("test", "u1", text=text)))


async def until(condition: Callable[[], bool], path: Path | None = None) -> None:
    """Wait for `condition` (bounded: 60 s), without asserting how long it took.

    The watcher starts in the background with no signal that it is ready: `path` is written again
    (unchanged) every half second, so a first write made before it watched is seen all the same.
    """
    async with asyncio.timeout(60):
        for n in itertools.count(1):
            if condition():
                return
            await asyncio.sleep(0.02)
            if path is not None and n % 25 == 0:
                rewrite(path)


def rewrite(path: Path) -> None:
    """Write `path` again as it is (the watcher sees a change)."""
    path.write_bytes(path.read_bytes())


def edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


async def test_an_edited_answer_goes_live_and_a_broken_file_keeps_the_last_good_set(
    reloader: ContentReloader, content: Path
) -> None:
    assert ANSWER in answer(reloader)
    intent = content / "faq.mandatory.yaml"
    async with reloader.running():
        await until(lambda: "it is your choice" in answer(reloader), edit(intent, ANSWER, "it is your choice"))
        assert reloader.health()["status"] == "ok"

        await until(lambda: reloader.health()["status"] == "error", edit(intent, "answers:", "answers: ["))
        problems = reloader.health()["problems"]
        assert any(p.startswith(f"{intent}:") and p.split(":")[1].isdigit() for p in problems), problems
        assert "it is your choice" in answer(reloader)  # the last good content keeps serving
        assert "tokutei_content_ok 0.0" in generate_latest(reloader.metrics.registry).decode()

        await until(lambda: reloader.health()["status"] == "ok", edit(intent, "answers: [", "answers:"))
        assert "it is your choice" in answer(reloader)


async def test_sighup_reloads(reloader: ContentReloader) -> None:
    first = reloader.current()
    async with reloader.running():
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: reloader.reloads == 1)

    assert reloader.current() is not first and ANSWER in answer(reloader)


async def test_a_compiled_catalog_change_reloads(
    reloader: ContentReloader, translations: Path, tmp_path: Path, content: Path
) -> None:
    own = Path(shutil.copytree(translations, tmp_path / "translations"))

    def build(previous: Assistant | None) -> Assistant:
        return build_assistant(content, own, MemoryUserStore(), today=lambda: AFTER_START, cache_dir=tmp_path)

    reloader = ContentReloader(build, [content, own])
    mo = first_catalog(own)
    async with reloader.running():
        await until(lambda: reloader.reloads >= 1, mo)
    assert reloader.health()["status"] == "ok"


async def test_a_reload_keeps_the_matcher_unless_what_it_reads_changed(
    reloader: ContentReloader, content: Path
) -> None:
    first = reloader.current()
    intent = content / "faq.mandatory.yaml"

    edit(intent, ANSWER, "it is your choice")
    assert await reloader.reload()
    answered = reloader.current()
    edit(intent, '  en:\n  - "Must I', '  en:\n  - "frobnicate wibble zork"\n  - "Must I')
    assert await reloader.reload()
    taught = reloader.current()

    assert answered.matcher is first.matcher and answered.policy.detector is first.policy.detector
    assert "it is your choice" in answer(reloader)
    assert taught.matcher is not first.matcher and taught.policy.detector is not first.policy.detector
    before, after = first.matcher.match("frobnicate wibble zork"), taught.matcher.match("frobnicate wibble zork")
    assert before is None or before.intent != "faq.mandatory"
    assert after is not None and after.intent == "faq.mandatory" and after.outcome == "confident"


def test_what_changes_need_a_reload() -> None:
    assert needs_reload(["card.about.yaml"]) and needs_reload(["messages.mo", "messages.po"])
    assert not needs_reload(["messages.po"])
    assert is_content(Change.modified, "/x/intents/card.about.yaml") and is_content(Change.added, "/x/messages.po")
    assert not is_content(Change.modified, "/x/intents/.card.about.yaml.swp")
    assert not is_content(Change.modified, "/x/intents/card.about.yaml~")


async def test_an_edit_goes_live_in_the_served_app_without_dropping_a_message(
    content: Path, translations: Path, tmp_path: Path, warm_caches: Path
) -> None:
    """The app as `serve` runs it: messages keep coming while an intent is edited; each is answered once,
    by the old content or the new. (How soon the edit is live: docs/benchmarks.md, "Hot reload".)"""
    api = FakeLineApi(TOKEN)
    data = Path(shutil.copytree(warm_caches, tmp_path / "data"))
    async with serve(api.app) as api_url:
        settings = Settings(line_channel_secret=Secret(SECRET), line_channel_access_token=Secret(TOKEN),
                            line_api_base_url=api_url, data_dir=data, intents_dir=content,
                            translations_dir=translations)  # fmt: skip
        app = create_app(settings)
        async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
            sent: list[str] = []

            async def ask() -> None:
                ev = event("text_user", QUESTION, source={"type": "user", "userId": f"U{len(sent):032x}"})
                raw = body(ev)
                response = await http.post("/webhooks/line", content=raw, headers={"x-line-signature": sign(raw)})
                assert response.status_code == 200
                sent.append(ev["replyToken"])

            def edited() -> bool:
                return any("it is your choice" in d.text for d in api.deliveries)

            for _ in range(3):
                await ask()
            intent = edit(content / "faq.mandatory.yaml", ANSWER, "it is your choice")
            async with asyncio.timeout(60):
                for n in itertools.count(1):
                    await ask()
                    if edited():
                        break
                    await asyncio.sleep(0.05)
                    if n % 10 == 0:
                        rewrite(intent)  # the watcher may have started after the first write
            for _ in range(3):
                await ask()
            await app.state.adapters["line"].drain()
            health = (await http.get("/healthz")).json()
            reloader: ContentReloader = app.state.content
            await until(lambda: reloader.health()["status"] == "error", edit(intent, "answers:", "answers: ["))
            broken = (await http.get("/healthz")).json()

    answers = {token: [d.text for d in api.deliveries if d.to == token] for token in sent}
    assert all(len(texts) == 1 for texts in answers.values())  # none dropped, none twice
    texts = [texts[0] for texts in answers.values()]
    assert ANSWER in texts[0] and all("it is your choice" in text for text in texts[-3:])
    assert all(ANSWER in text or "it is your choice" in text for text in texts)  # wholly old or wholly new
    assert health["content"]["status"] == "ok" and health["status"] == "ok"
    assert broken["status"] == "degraded" and broken["content"]["status"] == "error"
    assert any(problem.startswith(f"{intent}:") for problem in broken["content"]["problems"])
