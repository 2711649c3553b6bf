"""Hot reload on a copy of the fixture content: an edit goes live, a broken file keeps the last good set."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import threading
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
from bot.core.matcher import IntentMatcher
from bot.core.models import Incoming
from bot.core.render import plain_text
from bot.core.training import Superseded
from bot.core.users import MemoryUserStore
from bot.reload import ContentReloader, finish, is_content, needs_reload
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
    taught = reloader.current()  # interim: the language detector is the one before until trained
    await reloader.trained()
    whole = reloader.current()

    assert answered.matcher is first.matcher and answered.policy.detector is first.policy.detector
    assert not answered.interim and taught.interim and not whole.interim
    assert "it is your choice" in answer(reloader)
    assert taught.matcher is not first.matcher and taught.policy.detector is first.policy.detector
    assert whole.policy.detector is not first.policy.detector and whole.catalog is taught.catalog
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
    assert health["content"]["status"] == "ok" and health["status"] == "ok" and health["content"]["interim"] is False
    assert broken["status"] == "degraded" and broken["content"]["status"] == "error"
    assert any(problem.startswith(f"{intent}:") for problem in broken["content"]["problems"])


PROBE = "xyzzy plugh"
"""A new example (no fixture intent is near it before)."""
OTHER_PROBE = "gnusto rezrov quux"


class HeldTraining:
    """Trains the classifier only once the test lets it (`go`), so it can look at the interim content."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.runs = 0
        self.trained: list[tuple[IntentMatcher, IntentMatcher]] = []
        """(interim matcher, the same trained), in the order the trainings ended."""
        self.stopped: list[IntentMatcher] = []
        """Interim matchers whose training newer content stopped."""

    def __call__(self, assistant: Assistant) -> Assistant:
        self.runs += 1
        if not self.go.wait(60):
            raise TimeoutError("the test never let the training go")
        try:
            whole = finish(assistant)
        except Superseded:
            self.stopped.append(assistant.matcher)
            raise
        self.trained.append((assistant.matcher, whole.matcher))
        return whole


@pytest.fixture
def held() -> HeldTraining:
    return HeldTraining()


@pytest.fixture
def held_reloader(content: Path, translations: Path, tmp_path: Path, held: HeldTraining) -> ContentReloader:
    def build(previous: Assistant | None) -> Assistant:
        return build_assistant(
            content, translations, MemoryUserStore(), today=lambda: AFTER_START, cache_dir=tmp_path, previous=previous
        )

    return ContentReloader(build, [content, translations], train=held)


def add_example(path: Path, example: str) -> Path:
    return edit(path, '  en:\n  - "', f'  en:\n  - "{example}"\n  - "')


def intent_of(reloader: ContentReloader, text: str) -> str | None:
    """The intent answered confidently, if any."""
    match = reloader.current().matcher.match(text)
    return match.intent if match is not None and match.outcome == "confident" else None


async def test_an_added_example_is_answered_at_once_then_by_the_retrained_classifier(
    held_reloader: ContentReloader, held: HeldTraining, content: Path
) -> None:
    first = held_reloader.current()
    assert intent_of(held_reloader, PROBE) is None and not held_reloader.health()["interim"]
    async with held_reloader.running():
        await until(lambda: held_reloader.health()["interim"], add_example(content / "faq.mandatory.yaml", PROBE))
        interim = held_reloader.current()
        assert interim.matcher.classifier is first.matcher.classifier  # the old one, while the new one trains
        assert intent_of(held_reloader, PROBE) == "faq.mandatory" and ANSWER in answer(held_reloader, PROBE)
        assert ANSWER in answer(held_reloader)  # the rest as before

        held.go.set()
        await until(lambda: not held_reloader.health()["interim"])
    full = held_reloader.current()
    assert full.matcher.classifier is not first.matcher.classifier
    assert intent_of(held_reloader, PROBE) == "faq.mandatory" and held.runs == 1


async def test_an_edit_during_training_wins(held_reloader: ContentReloader, held: HeldTraining, content: Path) -> None:
    async with held_reloader.running():
        await until(lambda: held_reloader.health()["interim"], add_example(content / "faq.mandatory.yaml", PROBE))
        first_interim = held_reloader.current().matcher
        second = add_example(content / "card.about.yaml", OTHER_PROBE)
        await until(lambda: intent_of(held_reloader, OTHER_PROBE) == "card.about", second)
        assert held_reloader.current().matcher is not first_interim and held.runs == 1  # the first still trains

        held.go.set()
        await held_reloader.trained()
        assert not held_reloader.health()["interim"]
    # The first training was stopped (its content is older); the newest was trained and serves.
    assert held.runs == 2 and held.stopped == [first_interim]
    ((newest, newest_trained),) = held.trained
    assert newest.exact.get(newest.form(OTHER_PROBE)) == "card.about"  # trained on the second edit
    assert held_reloader.current().matcher is newest_trained
    assert intent_of(held_reloader, PROBE) == "faq.mandatory" and intent_of(held_reloader, OTHER_PROBE) == "card.about"


async def test_a_removed_intent_is_never_answered_from_the_old_classifier(
    held_reloader: ContentReloader, held: HeldTraining, content: Path
) -> None:
    thanks = "thank you!"
    assert intent_of(held_reloader, thanks) == "chat.thanks"
    assert "chat.thanks" in held_reloader.current().matcher.classifier.classes  # type: ignore[union-attr]
    async with held_reloader.running():
        (content / "chat.thanks.yaml").unlink()
        # (Another file is written again until then: the watcher may have started after the deletion.)
        await until(lambda: "chat.thanks" not in held_reloader.current().catalog.intents, content / "apply.how.yaml")
        assert held_reloader.health()["interim"]
        assert "chat.thanks" in held_reloader.current().matcher.classifier.classes  # type: ignore[union-attr]
        for text in (thanks, "thanks", "ありがとう"):
            match = held_reloader.current().matcher.match(text)
            assert match is None or all(c.intent != "chat.thanks" for c in match.candidates), match
            answer(held_reloader, text)  # answered, whatever the answer is
        held.go.set()
        await held_reloader.trained()
    assert intent_of(held_reloader, thanks) != "chat.thanks" and not held_reloader.health()["interim"]


async def test_a_broken_file_during_training_keeps_the_last_good_content(
    held_reloader: ContentReloader, held: HeldTraining, content: Path
) -> None:
    intent = content / "faq.mandatory.yaml"
    async with held_reloader.running():
        await until(lambda: held_reloader.health()["interim"], add_example(intent, PROBE))
        await until(lambda: held_reloader.health()["status"] == "error", edit(intent, "answers:", "answers: ["))
        assert intent_of(held_reloader, PROBE) == "faq.mandatory" and held_reloader.health()["interim"]

        held.go.set()
        await held_reloader.trained()
        health = held_reloader.health()
        assert not health["interim"] and health["status"] == "error"  # the last good content, trained
        assert intent_of(held_reloader, PROBE) == "faq.mandatory" and ANSWER in answer(held_reloader)
