"""The assistant end to end through the in-memory adapter: languages, tense, bad input, modes."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.core import ui_text as ui
from bot.core.assistant import MAX_BUTTONS, Assistant
from bot.core.factory import build_assistant
from bot.core.matcher import Thresholds
from bot.core.models import Reply
from bot.core.render import plain_text
from bot.core.users import MemoryUserStore
from tests.conftest import AFTER_START, BEFORE_START, INTENTS, TRANSLATIONS
from tests.fakes.chat import Chat

ISA = "https://www.moj.go.jp/isa/tokutei.html"


@pytest.fixture
def chat(assistant: Assistant) -> Chat:
    return Chat(assistant)


def test_question_in_japanese_gets_easy_japanese_with_furigana(chat: Chat) -> None:
    reply = chat.say("特定在留カードってなに？")
    assert reply.intent == "card.about" and reply.lang == "ja"
    text = plain_text(reply)
    assert "特定(とくてい)在留(ざいりゅう)カード" in text and ISA in text
    assert all(b.note is None for b in reply.blocks), "Japanese is the official language: no notice"


def test_question_in_english_gets_english_with_unofficial_notice(chat: Chat) -> None:
    reply = chat.say("Do I have to get the new card?")
    assert reply.intent == "faq.mandatory" and reply.lang == "en"
    assert [b.lang for b in reply.blocks] == ["en"]
    assert reply.blocks[0].note == ui.UNOFFICIAL and "optional" in reply.blocks[0].text


def test_answers_have_related_buttons_and_menu(chat: Chat) -> None:
    reply = chat.say("特定在留カードってなに？")
    data = [b.data for b in reply.buttons]
    assert "intent:card.start_date" in data and data[-1] == "intent:chat.help"
    assert 0 < len(reply.buttons) <= MAX_BUTTONS


def test_pressing_a_button_answers_that_intent(chat: Chat) -> None:
    chat.say("what is the tokutei card")
    reply = chat.press("intent:card.start_date")
    assert reply.intent == "card.start_date" and reply.lang == "en"


@pytest.mark.parametrize(
    ("today", "ja", "en"),
    [
        (BEFORE_START, "はじまります", "starts on June 14, 2026"),
        (AFTER_START, "はじまりました", "started on June 14, 2026"),
    ],
)
def test_start_date_tense_follows_the_clock(today: dt.date, ja: str, en: str) -> None:
    assistant = build_assistant(INTENTS, TRANSLATIONS, MemoryUserStore(), today=lambda: today)
    chat = Chat(assistant)
    assert ja in chat.say("特定在留カードはいつから？").blocks[0].text
    assert en in Chat(assistant).say("when does the specific residence card start").blocks[0].text


def test_start_day_itself_is_after() -> None:
    assistant = build_assistant(INTENTS, TRANSLATIONS, MemoryUserStore(), today=lambda: dt.date(2026, 6, 14))
    assert "はじまりました" in Chat(assistant).say("特定在留カードはいつから？").blocks[0].text


def test_out_of_scope_gets_fallback_with_menu_and_link(chat: Chat) -> None:
    reply = chat.say("what's the weather in tokyo tomorrow")
    assert reply.kind == "fallback" and reply.intent is None
    assert [link.url for link in reply.links] == [ISA]
    assert any(b.data == "intent:card.about" for b in reply.buttons)
    assert reply.blocks[0].text == ui.FALLBACK


def test_did_you_mean_offers_up_to_three_choices() -> None:
    never_sure = Thresholds(confident=101, suggest=1, margin=0)
    assistant = build_assistant(INTENTS, TRANSLATIONS, MemoryUserStore(), never_sure, today=lambda: AFTER_START)
    reply = Chat(assistant).say("zairyu card")
    assert reply.kind == "did_you_mean" and ui.DID_YOU_MEAN in [b.text for b in reply.blocks]
    intents = [b.data for b in reply.buttons if b.data.startswith("intent:") and b.data != "intent:chat.help"]
    assert 1 <= len(intents) <= 3


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "🙂🙂🙂",
        "\x00\x01\x02",
        "\ud800",
        "a" * 10_000,
        "特定在留カード" * 2000,
        "카드 card カード 卡 💳",
    ],
)
def test_bad_input_gets_a_helpful_reply(chat: Chat, text: str) -> None:
    reply = chat.say(text)
    assert reply.blocks and all(b.text for b in reply.blocks)
    assert reply.buttons, "always offer a way forward"


def test_empty_message_asks_for_a_question(chat: Chat) -> None:
    assert chat.say("   ").blocks[0].text == "特定在留カードについて、聞きたいことを書いてください。"


def test_long_message_is_matched_on_its_first_part(chat: Chat) -> None:
    reply = chat.say("特定在留カードはいつから？ " + "あ" * 10_000)
    assert reply.intent == "card.start_date"


@pytest.mark.parametrize(
    ("switch", "lang"),
    [("English please", "en"), ("日本語で", "ja"), ("tiếng Việt", "vi"), ("नेपालीमा", "ne"), ("in Vietnamese", "vi")],
)
def test_switching_language_by_message_is_remembered(chat: Chat, switch: str, lang: str) -> None:
    reply = chat.say(switch)
    assert reply.kind == "info" and reply.lang == lang
    assert chat.say("特定在留カードってなに？" if lang != "ja" else "what is the tokutei card").lang == lang


def test_language_menu_pages_show_each_language_in_its_own_name(chat: Chat) -> None:
    first = chat.press("langs:0")
    labels = [b.label for b in first.buttons]
    assert "Tiếng Việt" in labels and len(first.buttons) <= MAX_BUTTONS
    second = chat.press(first.buttons[-1].data)
    labels += [b.label for b in second.buttons]
    assert "नेपाली" in labels and "اردو" in labels and "Українська" in labels


def test_explicit_choice_beats_detection(chat: Chat) -> None:
    chat.press("lang:en")
    assert chat.say("特定在留カードはいつから？").lang == "en"


def test_short_message_keeps_the_conversation_language(chat: Chat) -> None:
    chat.say("what is the specific residence card")
    assert chat.say("ok thanks").lang == "en"


def test_platform_hint_is_used_when_nothing_else_is_known(chat: Chat) -> None:
    assert chat.say("ok", lang_hint="en-US").lang == "en"


def test_nothing_known_gives_easy_japanese_with_english(chat: Chat) -> None:
    reply = chat.say("??")
    assert [b.lang for b in reply.blocks] == ["ja", "en"]


def test_two_language_mode_for_staff(chat: Chat) -> None:
    chat.press("lang:en")
    chat.press("both:on")
    reply = chat.say("do i have to get it")
    assert [b.lang for b in reply.blocks] == ["en", "ja"]
    assert "【English】" in plain_text(reply) and "【日本語】" in plain_text(reply)


def test_forwarded_message_is_answered_in_its_language_and_easy_japanese(chat: Chat) -> None:
    chat.press("lang:en")  # the staff member's own choice does not decide a resident's question
    reply = chat.say("特定在留カードは必ず作らないといけませんか", forwarded=True)
    assert [b.lang for b in reply.blocks] == ["ja"]
    reply = chat.say("Do I have to get the specific residence card?", forwarded=True)
    assert [b.lang for b in reply.blocks] == ["en", "ja"]


def test_untranslated_answer_falls_back_to_english_and_easy_japanese(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assistant = build_assistant(INTENTS, tmp_path, MemoryUserStore(), today=lambda: AFTER_START)
    chat = Chat(assistant)
    chat.press("lang:ko")
    reply: Reply = chat.say("特定在留カードってなに？")
    assert [b.lang for b in reply.blocks] == ["en", "ja"]
    assert reply.blocks[0].note == ui.UNTRANSLATED


def test_traditional_chinese_readers_are_told_answers_are_simplified(chat: Chat) -> None:
    reply = chat.say("特定在留卡是什么？", lang_hint="zh-TW")
    assert reply.lang == "zh"
    notice = chat.assistant.texts.ui("zh", ui.SIMPLIFIED_CHINESE)
    assert reply.blocks[0].note is not None and reply.blocks[0].note.endswith(notice)
    assert "简体" in notice
    simplified_reader = chat.say("特定在留卡是什么？", lang_hint="zh-CN")
    assert simplified_reader.blocks[0].note == chat.assistant.texts.ui("zh", ui.UNOFFICIAL)
