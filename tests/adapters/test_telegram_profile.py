"""Telegram's command menu and descriptions in every language we have them in, and the group intro:
the real PTB client against the fake Bot API, which checks them as Telegram does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.adapters.telegram import ALLOWED_UPDATES
from bot.adapters.telegram_profile import COMMANDS
from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.languages import LANGS
from tests.adapters.test_telegram import GROUP, Running, running, update
from tests.fakes.telegram_api import fixture


@pytest.fixture
async def tg(assistant: Assistant) -> AsyncIterator[Running]:
    async with running(assistant) as r:
        yield r


PROFILE_SETTERS = ("setMyCommands", "setMyDescription", "setMyShortDescription")


def translated(assistant: Assistant, message: str) -> set[str]:
    """The languages whose catalog translates `message` (English: the default)."""
    return {code for code in LANGS if code != "en" and assistant.texts.lookup(code, message)}


async def test_the_command_menu_is_set_in_every_language_we_have(tg: Running, assistant: Assistant) -> None:
    languages = translated(assistant, ui.COMMAND_START) & translated(assistant, ui.COMMAND_HELP)
    languages &= translated(assistant, ui.COMMAND_LANG)
    assert languages, "the fixture catalogs translate the commands in some languages"
    assert set(tg.api.commands) == {""} | languages
    assert [c["command"] for c in tg.api.commands[""]] == ["start", "help", "menu", "lang"]
    assert tg.api.commands[""][0]["description"] == ui.COMMAND_START
    for code in languages - {"ja"}:
        described = [c["description"] for c in tg.api.commands[code]]
        assert described == [assistant.texts.lookup(code, message) for _, message in COMMANDS]
    if "ja" in languages:  # easy Japanese reads its kanji inline, as in the answers
        assert all(c["description"] for c in tg.api.commands["ja"])


async def test_descriptions_are_set_per_language(tg: Running, assistant: Assistant) -> None:
    assert set(tg.api.descriptions) == {""} | translated(assistant, ui.BOT_DESCRIPTION)
    assert set(tg.api.short_descriptions) == {""} | translated(assistant, ui.BOT_SHORT_DESCRIPTION)
    assert tg.api.descriptions[""] == ui.BOT_DESCRIPTION
    assert tg.api.short_descriptions[""] == ui.BOT_SHORT_DESCRIPTION
    for code, text in tg.api.short_descriptions.items():
        assert 0 < len(text) <= 120 and (code == "" or text != ui.BOT_SHORT_DESCRIPTION)


async def test_an_unchanged_profile_is_not_set_again(assistant: Assistant) -> None:
    async with running(assistant) as first:
        set_first = [c for c in first.api.calls if c.method in PROFILE_SETTERS]
        # the same bot restarts against the same Telegram
        profile = first.adapter
        first.api.calls.clear()
        await profile.stop()
        profile._profile = None
        await profile.start()
        async with asyncio.timeout(10):
            await profile.wait_profile()
        assert set_first and [c for c in first.api.calls if c.method in PROFILE_SETTERS] == []
        assert [c for c in first.api.calls if c.method.startswith("getMy")]


async def test_telegram_down_at_start_gets_the_profile_later(assistant: Assistant) -> None:
    async with running(assistant) as r:
        r.api.commands.clear()
        r.api.fail_next("getMyCommands", 502, "Bad Gateway")
        r.api.fail_next("getMyCommands", 429, "Too Many Requests: retry after 1", retry_after=1)
        r.adapter.connect_delays = (0.05,)
        await r.adapter.stop()
        r.adapter._profile = None
        await r.adapter.start()
        async with asyncio.timeout(15):
            await r.adapter.wait_profile()
        assert "" in r.api.commands, "tried again after Telegram failed"
        resp = await r.post(update("private_text", 990, "特定在留カードとは何ですか", id=101))
        assert resp.status_code == 200 and await r.api.wait_sent(1)


async def test_added_to_a_group_says_how_to_ask(tg: Running) -> None:
    assert "my_chat_member" in ALLOWED_UPDATES
    resp = await tg.post(fixture("my_chat_member_added"))
    assert resp.status_code == 200
    sent = await tg.api.wait_sent(2)
    assert all(int(c.params["chat_id"]) == GROUP for c in sent)
    text = "\n".join(c.params["text"] for c in sent)
    assert "mention me or reply" in text and "(" in sent[0].params["text"], "easy Japanese, then English"


async def test_promoted_or_removed_in_a_group_says_nothing(tg: Running) -> None:
    promoted: dict[str, Any] = fixture("my_chat_member_added")
    promoted["update_id"] += 1
    change = promoted["my_chat_member"]
    change["old_chat_member"]["status"] = "member"
    rights = ["can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
              "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
              "can_delete_stories", "can_be_edited", "is_anonymous"]  # fmt: skip
    change["new_chat_member"] = {**change["new_chat_member"], "status": "administrator"} | dict.fromkeys(rights, False)
    removed: dict[str, Any] = fixture("my_chat_member_added")
    removed["update_id"] += 2
    removed["my_chat_member"]["old_chat_member"]["status"] = "member"
    removed["my_chat_member"]["new_chat_member"]["status"] = "left"
    assert (await tg.post(promoted)).status_code == 200
    assert (await tg.post(removed)).status_code == 200
    await tg.adapter.drain()
    assert tg.api.sent() == []
