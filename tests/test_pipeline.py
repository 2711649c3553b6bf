"""A message on a server, on both stores: settings shared, rate limit, the operators' log, counts, metrics, logs."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from bot.config import ROOT
from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.models import Incoming
from bot.core.postback import Postback
from bot.core.render import plain_text
from bot.logs import configure_logging
from bot.metrics import Metrics
from bot.pipeline import Pipeline
from bot.store import RateLimit, Store
from tests.conftest import AFTER_START, Opener
from tests.store.test_store import everything

USER = "U4af4980629b7a1e6a4c2f1d3e5b7c9d1"
MY_NUMBER = "1234 5678 9018"
UNANSWERABLE = "xyzzy plugh frobnicate"


def pipeline(assistant: Assistant, store: Store, messages: int = 20, log_text: bool = False) -> Pipeline:
    return Pipeline(lambda: assistant, store, RateLimit(messages, 60), Metrics(), log_text, today=lambda: AFTER_START)


def text(body: str, user: str = USER, platform: str = "line") -> Incoming:
    return Incoming(platform, user, text=body)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The root logger as the server configures it, written to a string."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    yield stream
    root.handlers[:], root.level = saved


async def test_a_language_chosen_on_one_instance_holds_on_the_other(
    shared_assistant: Assistant, stores: Opener
) -> None:
    one, other = pipeline(shared_assistant, await stores()), pipeline(shared_assistant, await stores())

    await one.handle(Incoming("line", USER, postback=Postback.language("en")))
    reply = await other.handle(text("特定在留カードってなに？"))

    assert reply is not None and reply.intent == "card.about" and reply.lang == "en"
    assert await other.language_of("line", USER) == "en"


async def test_over_the_limit_one_notice_then_silence(shared_assistant: Assistant, stores: Opener) -> None:
    one, other = pipeline(shared_assistant, await stores(), messages=2), pipeline(shared_assistant, await stores(), 2)
    await one.handle(Incoming("line", USER, postback=Postback.language("en")))

    replies = [await (one, other)[n % 2].handle(text("Do I have to get the new card?")) for n in range(4)]

    assert [r.kind if r else None for r in replies] == ["answer", "info", None, None]
    notice = replies[1]
    assert notice is not None and plain_text(notice) == ui.RATE_LIMITED
    assert (await one.handle(text("Do I have to get the new card?", user="someone-else"))) is not None


async def test_unanswered_questions_are_logged_redacted_and_postbacks_are_not(
    shared_assistant: Assistant, stores: Opener
) -> None:
    store = await stores()
    server = pipeline(shared_assistant, store)

    await server.handle(text(f"{UNANSWERABLE} {MY_NUMBER}"))
    await server.handle(text("Do I have to get the new card?"))
    await server.handle(Incoming("line", USER, postback=Postback.menu()))

    [question] = await store.questions()
    assert question.kind == "fallback" and question.platform == "line"
    assert question.text == f"{UNANSWERABLE} [my-number]"
    held = await everything(store)
    assert MY_NUMBER not in held and MY_NUMBER.replace(" ", "") not in held and USER not in held


async def test_messages_are_counted_by_day_platform_language_outcome_and_intent(
    shared_assistant: Assistant, stores: Opener
) -> None:
    store = await stores()
    server = pipeline(shared_assistant, store, messages=1)
    await server.handle(text("Do I have to get the new card?"))
    await server.handle(text("Do I have to get the new card?"))

    tallies = {(t.day, t.platform, t.lang, t.outcome, t.intent): t.count for t in await store.usage()}

    assert tallies == {
        (AFTER_START, "line", "en", "answer", "faq.mandatory"): 1,
        (AFTER_START, "line", "en", "rate_limited", ""): 1,
    }


async def test_metrics_count_messages_and_time_them(shared_assistant: Assistant, stores: Opener) -> None:
    server = pipeline(shared_assistant, await stores())
    await server.handle(text("Do I have to get the new card?", platform="telegram"))

    exposed = generate_latest(server.metrics.registry).decode()

    assert 'tokutei_messages_total{lang="en",outcome="answer",platform="telegram"} 1.0' in exposed
    assert 'tokutei_reply_seconds_count{platform="telegram"} 1.0' in exposed


async def test_logs_never_hold_the_message(
    shared_assistant: Assistant, stores: Opener, log_stream: io.StringIO
) -> None:
    await pipeline(shared_assistant, await stores()).handle(text(f"{UNANSWERABLE} {MY_NUMBER}"))

    logged = log_stream.getvalue()
    assert '"level": "INFO"' in logged and "fallback" in logged
    assert UNANSWERABLE not in logged and MY_NUMBER not in logged


async def test_logs_hold_the_message_redacted_when_asked(
    shared_assistant: Assistant, stores: Opener, log_stream: io.StringIO
) -> None:
    await pipeline(shared_assistant, await stores(), log_text=True).handle(text(f"{UNANSWERABLE} {MY_NUMBER}"))

    logged = log_stream.getvalue()
    assert f"{UNANSWERABLE} [my-number]" in logged and MY_NUMBER not in logged


def test_serving_on_sqlite_never_imports_redis(tmp_path: Path) -> None:
    """redis-py costs about 5 MB of memory: a server without REDIS_URL does not load it."""
    script = (
        "import sys\n"
        "from bot.app import create_app\n"
        "from bot.config import Settings\n"
        "from bot.pipeline import _reason\n"
        "from bot.store import make_store\n"
        f"store = make_store(Settings.from_env({{'DATA_DIR': {str(tmp_path)!r}}}))\n"
        "_reason(OSError('disk full'))\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'redis'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"
