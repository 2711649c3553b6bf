"""The assistant end to end through the in-memory adapter: languages, tense, bad input, modes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.factory import build_assistant
from bot.core.matcher import Thresholds
from bot.core.models import Candidate
from bot.core.postback import Postback
from bot.core.render import plain_text
from bot.core.replies import MAX_BUTTONS
from bot.core.users import MemoryUserStore
from tests.conftest import AFTER_START, BEFORE_START, CONTENT
from tests.fakes.chat import Chat

ISA = "https://www.moj.go.jp/isa/tokutei.html"


@pytest.fixture
def chat(assistant: Assistant) -> Chat:
    return Chat(assistant)


def test_question_in_japanese_gets_easy_japanese_with_furigana(chat: Chat) -> None:
    reply = chat.say("特定在留カードってなに？")
    assert reply.kind == "answer" and reply.intent == "card.about" and reply.lang == "ja"
    text = plain_text(reply)
    assert "(とくてい" in text and ISA in text
    assert all(b.note is None for b in reply.blocks), "Japanese is the official language: no notice"


def test_question_in_english_gets_english_with_unofficial_notice(chat: Chat) -> None:
    reply = chat.say("Do I have to get the new card?")
    assert reply.intent == "faq.mandatory" and reply.lang == "en"
    assert [b.lang for b in reply.blocks] == ["en"]
    assert reply.blocks[0].note == ui.UNOFFICIAL


def test_links_carry_their_labels_from_links_yaml(chat: Chat) -> None:
    reply = chat.say("what is the tokutei card")
    assert [(link.url, link.label) for link in reply.links] == [
        (ISA, "Immigration Services Agency: Specific Residence Card")
    ]
    assert chat.say("特定在留カードってなに？").links[0].label == "入管のウェブサイト(特定在留カード)"


def test_answers_have_related_buttons_and_menu(chat: Chat) -> None:
    reply = chat.say("特定在留カードってなに？")
    presses = [b.postback for b in reply.buttons]
    assert Postback.intent("card.start_date") in presses and presses[-1] == Postback.menu()
    assert 0 < len(reply.buttons) <= MAX_BUTTONS


def test_buttons_are_never_repeated(chat: Chat) -> None:
    for text in ("カードについて", "menu", "特定在留カードってなに？", "zairyu card"):
        reply = chat.say(text)
        assert len({b.postback for b in reply.buttons}) == len(reply.buttons), text
        assert len({b.label for b in reply.buttons}) == len(reply.buttons), text


def test_pressing_a_button_answers_that_intent(chat: Chat) -> None:
    chat.say("what is the tokutei card")
    reply = chat.press("intent:card.start_date")
    assert reply.intent == "card.start_date" and reply.lang == "en"


@pytest.mark.parametrize(("label", "intent"), [("Start date", "card.start_date"), ("いつから？", "card.start_date")])
def test_typing_a_buttons_label_answers_it(chat: Chat, label: str, intent: str) -> None:
    reply = chat.say(label)
    assert reply.kind == "answer" and reply.intent == intent


def test_typing_a_translated_label_answers_it(chat: Chat, assistant: Assistant) -> None:
    label = assistant.texts.title(assistant.catalog["card.about"], "vi")
    assert label != assistant.catalog["card.about"].title["en"], "the fixture catalog translates this title"
    reply = chat.say(label)
    assert reply.intent == "card.about"


def test_unknown_press_shows_the_menu(chat: Chat) -> None:
    reply = chat.press("intent:no.such_intent")
    assert reply.intent == "chat.help" and reply.buttons


@pytest.mark.parametrize(
    ("today", "ja", "en"),
    [
        (BEFORE_START, "はじまります", "starts on June 14, 2026"),
        (AFTER_START, "はじまりました", "started on June 14, 2026"),
    ],
)
def test_start_date_tense_follows_the_clock(translations: Path, today: dt.date, ja: str, en: str) -> None:
    assistant = build_assistant(CONTENT, translations, MemoryUserStore(), today=lambda: today)
    assert ja in Chat(assistant).press("intent:card.start_date").blocks[0].text
    chat = Chat(assistant)
    chat.press("lang:en")
    assert en in chat.press("intent:card.start_date").blocks[0].text


def test_start_day_itself_is_after(translations: Path) -> None:
    assistant = build_assistant(CONTENT, translations, MemoryUserStore(), today=lambda: dt.date(2026, 6, 14))
    assert "はじまりました" in Chat(assistant).press("intent:card.start_date").blocks[0].text


def test_out_of_scope_gets_fallback_with_menu_and_link(chat: Chat) -> None:
    reply = chat.say("what's the weather in tokyo tomorrow")
    assert reply.kind == "fallback" and reply.intent is None
    assert [link.url for link in reply.links] == [ISA]
    assert Postback.intent("card.about") in [b.postback for b in reply.buttons]
    assert reply.blocks[0].text == ui.FALLBACK


def test_did_you_mean_offers_up_to_three_choices_and_reports_them(translations: Path) -> None:
    never_sure = Thresholds(confident=101, suggest=1, margin=0)
    assistant = build_assistant(CONTENT, translations, MemoryUserStore(), never_sure, today=lambda: AFTER_START)
    reply = Chat(assistant).say("zairyu card")
    assert reply.kind == "did_you_mean" and reply.intent is None
    offered = [b.postback.value for b in reply.buttons if b.postback.kind == "intent"]
    assert 1 <= len(offered) <= 3
    assert offered == [c.intent for c in reply.candidates[: len(offered)]], "buttons follow the ranking"


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


def test_empty_message_asks_for_a_question(chat: Chat, assistant: Assistant) -> None:
    assert chat.say("   ").blocks[0].text == assistant.texts.lookup("ja", ui.EMPTY)


def test_long_message_is_matched_sentence_by_sentence(chat: Chat) -> None:
    text = "I moved to Osaka last month. My wife is fine. When does the specific residence card start? Thanks."
    assert chat.say(text * 3).intent == "card.start_date"
    assert chat.say("特定在留カードはいつから？ " + "あ" * 10_000).intent == "card.start_date"


# -- the conversation's language ------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "lang"),
    [
        ("English please", "en"),
        ("Please answer in English", "en"),
        ("日本語で", "ja"),
        ("日本語で話してください", "ja"),
        ("tiếng Việt", "vi"),
        ("Vui lòng trả lời bằng tiếng Việt", "vi"),
        ("नेपालीमा", "ne"),
        ("in Vietnamese", "vi"),
        ("请用中文回答", "zh"),
    ],
)
def test_asking_for_a_language_is_remembered(chat: Chat, request_: str, lang: str) -> None:
    reply = chat.say(request_)
    assert reply.intent == "chat.language" and reply.blocks[0].text == chat.assistant.texts.ui(lang, ui.LANGUAGE_SET)
    assert reply.lang == lang
    assert chat.say("特定在留カードってなに？" if lang != "ja" else "what is the tokutei card").lang == lang


def test_a_question_naming_a_language_is_a_question(chat: Chat) -> None:
    reply = chat.say("Is there an English page about the specific residence card?")
    assert reply.blocks[0].text != ui.LANGUAGE_SET and chat.say("what is the tokutei card").lang == "en"


@pytest.mark.parametrize(
    "short", ["住所", "online", "my number", "city hall", "14", "https://www.moj.go.jp/", "在留カード"]
)
@pytest.mark.parametrize(
    ("first", "lang"), [("特定在留カードってなに？", "ja"), ("what is the specific residence card", "en")]
)
def test_short_messages_keep_the_conversation_language(chat: Chat, first: str, lang: str, short: str) -> None:
    assert chat.say(first).lang == lang
    assert chat.say(short).lang == lang


def test_a_full_sentence_in_another_language_switches(chat: Chat) -> None:
    assert chat.say("what is the specific residence card").lang == "en"
    assert chat.say("Thẻ lưu trú đặc định là gì vậy ạ?").lang == "vi"


def test_kanji_terms_shared_by_chinese_and_japanese_do_not_switch(chat: Chat) -> None:
    assert chat.say("特定在留カードってなに？").lang == "ja"
    assert chat.say("永住許可申請").lang == "ja"
    assert chat.say("在留期間更新").lang == "ja"


def test_chosen_language_holds_against_detection(chat: Chat) -> None:
    chat.say("日本語で話してください")
    assert chat.say("my number").lang == "ja"
    assert chat.say("what is the specific residence card").lang == "ja"


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


def test_language_menu_pages_show_each_language_in_its_own_name(chat: Chat) -> None:
    first = chat.press("langs:0")
    labels = [b.label for b in first.buttons]
    assert "Tiếng Việt" in labels and len(first.buttons) <= MAX_BUTTONS
    second = chat.press(first.buttons[-1].data)
    labels += [b.label for b in second.buttons]
    assert "नेपाली" in labels and "اردو" in labels and "Українська" in labels


@pytest.mark.parametrize(
    "data",
    ["langs:²", "langs:999", "lang:xx", "both:maybe", "intent:", "nonsense", "", "menu:", "menu:FAQ", "menu:x-y"],
)
def test_malformed_presses_are_not_acted_on(data: str) -> None:
    assert Postback.decode(data) is None


def test_postback_round_trip() -> None:
    for press in (
        Postback.intent("card.about"),
        Postback.language("vi"),
        Postback.bilingual(True),
        Postback.bilingual(False),
        Postback.language_menu(1),
        Postback.menu(),
        Postback.menu("faq"),
    ):
        assert Postback.decode(press.encode()) == press and len(press.encode().encode()) <= 64


# -- the menu's sections (LINE's rich menu) and the procedures' cards -------------------------


def test_a_menu_section_offers_its_topics(chat: Chat, assistant: Assistant) -> None:
    menu = assistant.replies.rich_menu
    assert menu is not None
    for section, topics in menu.sections().items():
        reply = chat.press(f"menu:{section}")
        offered = [b.postback.value for b in reply.buttons if b.postback.kind == "intent"]
        assert offered == list(topics) and reply.buttons[-1].postback == Postback.menu()
        assert reply.intent == "chat.help" and reply.blocks


def test_an_unknown_section_gets_the_whole_menu(chat: Chat, assistant: Assistant) -> None:
    reply = chat.press("menu:gone_away")
    offered = [b.postback.value for b in reply.buttons if b.postback.kind == "intent"]
    assert offered == list(assistant.replies.menu)


def test_a_menu_label_typed_opens_its_section(chat: Chat, assistant: Assistant) -> None:
    menu = assistant.replies.rich_menu
    assert menu is not None
    area = next(area for area in menu.areas if area.topics and not isinstance(area.label, str))
    reply = chat.say(assistant.replies.area_label(area, "en")[0])
    assert [b.postback.value for b in reply.buttons if b.postback.kind == "intent"] == list(area.topics)
    assert reply.lang == "en"


def test_the_list_of_procedures_comes_with_a_card_for_each(chat: Chat, assistant: Assistant) -> None:
    reply = chat.press("intent:procedure.list")
    procedures = [(place, i) for place, ids in assistant.replies.procedures.items() for i in ids]
    assert [(c.group, c.button.postback.value) for c in reply.cards] == procedures
    assert all(c.title and c.place and c.button.label for c in reply.cards)
    assert "(" in reply.cards[0].title, "easy Japanese titles carry their furigana"
    assert reply.blocks, "the answer says the same as text, for platforms without cards"
    assert chat.press("intent:card.about").cards == ()


def test_choosing_a_language_says_so_in_the_reply(chat: Chat) -> None:
    assert chat.press("lang:vi").language_set
    assert not chat.press("langs:0").language_set
    assert not chat.say("特定在留カードってなに？").language_set


# -- two-language mode ------------------------------------------------------------------------


def test_two_language_mode_for_staff(chat: Chat) -> None:
    chat.press("lang:en")
    chat.press("both:on")
    reply = chat.say("do i have to get it")
    assert [b.lang for b in reply.blocks] == ["en", "ja"]
    assert "【English】" in plain_text(reply) and "【日本語】" in plain_text(reply)


def test_two_language_mode_can_be_turned_off_by_button(chat: Chat) -> None:
    chat.press("lang:en")
    chat.press("both:on")
    last_page = chat.press("langs:1")
    assert last_page.buttons[-1].postback == Postback.bilingual(False), "the menu offers the way back"
    chat.press(last_page.buttons[-1].data)
    assert [b.lang for b in chat.say("do i have to get it").blocks] == ["en"]


def test_two_language_mode_can_be_turned_off_by_typing_the_label(chat: Chat) -> None:
    chat.press("lang:en")
    chat.press("both:on")
    assert chat.say("One language").blocks[0].text == ui.BILINGUAL_OFF
    assert [b.lang for b in chat.say("do i have to get it").blocks] == ["en"]


def test_forwarded_message_is_answered_in_its_language_and_easy_japanese(chat: Chat) -> None:
    chat.press("lang:en")  # the staff member's own choice does not decide a resident's question
    reply = chat.say("特定在留カードは必ず作らないといけませんか", forwarded=True)
    assert [b.lang for b in reply.blocks] == ["ja"]
    reply = chat.say("Do I have to get the specific residence card?", forwarded=True)
    assert [b.lang for b in reply.blocks] == ["en", "ja"]


def test_untranslated_answer_falls_back_to_english_and_easy_japanese(tmp_path: Path) -> None:
    assistant = build_assistant(CONTENT, tmp_path, MemoryUserStore(), today=lambda: AFTER_START)
    chat = Chat(assistant)
    chat.press("lang:ko")
    reply = chat.say("特定在留カードってなに？")
    assert [b.lang for b in reply.blocks] == ["en", "ja"]
    assert reply.blocks[0].note == ui.UNTRANSLATED


def test_traditional_chinese_readers_are_told_answers_are_simplified(chat: Chat) -> None:
    reply = chat.say("特定在留卡是什么？", lang_hint="zh-TW")
    assert reply.lang == "zh"
    notice = chat.assistant.texts.ui("zh", ui.SIMPLIFIED_CHINESE)
    assert reply.blocks[0].note is not None and reply.blocks[0].note.endswith(notice)
    simplified_reader = chat.say("特定在留卡是什么？", lang_hint="zh-CN")
    assert simplified_reader.blocks[0].note == chat.assistant.texts.ui("zh", ui.UNOFFICIAL)


# -- personal numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", ["1234 5678 9018", "AB12345678CD", "090-1234-5678", "linh@example.com", "१२३४५६७८९०१८"]
)
def test_a_personal_number_gets_a_warning_then_the_answer(chat: Chat, number: str) -> None:
    reply = chat.say(f"Do I have to get the new card? My number: {number}")

    assert reply.intent == "faq.mandatory" and reply.lang == "en"
    text = plain_text(reply)
    assert text.startswith(ui.PERSONAL_NUMBER) and "you do not have to get one" in text
    assert number not in text


def test_the_warning_comes_in_easy_japanese_with_furigana(chat: Chat) -> None:
    reply = chat.say("特定在留カードってなに？ カード番号は AB12345678CD")

    assert reply.intent == "card.about" and reply.lang == "ja"
    block = reply.blocks[0]
    assert block.segments is not None and "".join(s.base for s in block.segments) == block.text
    assert "AB12345678CD" not in block.text and block.text.index("チャット") < block.text.index("特定在留カード")


def test_a_message_without_personal_numbers_gets_no_warning(chat: Chat) -> None:
    assert ui.PERSONAL_NUMBER not in plain_text(chat.say("Do I have to get the new card? I came in 2019."))


def test_an_answer_that_is_not_sure_offers_the_runners_up_first(chat: Chat, assistant: Assistant) -> None:
    sure = chat.press("intent:card.about")
    assert sure.buttons[0].postback == Postback.intent("card.start_date"), "a pressed button is sure: related first"
    catalog = assistant.catalog
    candidates = (Candidate("card.about", 60.0), Candidate("faq.mandatory", 30.0), Candidate("apply.how", 2.0))
    unsure = assistant.replies.answer(catalog["card.about"], "en", score=60.0, candidates=candidates)
    assert unsure.buttons[0].postback == Postback.intent("faq.mandatory")
    assert Postback.intent("apply.how") not in [b.postback for b in unsure.buttons[:1]], "too improbable to lead"
