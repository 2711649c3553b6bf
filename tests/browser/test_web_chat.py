"""The web chat as residents use it, in Chromium on desktop (1280×800) and phone (390×844).

Each test names the defect of issue 12 it guards against; all of them failed on the page before.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.app import create_app
from bot.config import Settings
from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from tests.browser.conftest import PHONE, Chat, Recorder, contrast
from tests.fakes.server import LiveServer

ISA = "https://www.moj.go.jp/isa/tokutei.html"
QUESTIONS = {
    "ja": "特定在留カードってなに？",
    "en": "What is the Specific Residence Card?",
    "vi": "Thẻ lưu trú đặc định là gì?",
    "ur": "مخصوص رہائشی کارڈ کیا ہے؟",
}
"""card.about in four languages and three scripts (fixture examples)."""
KANJI = re.compile(r"[\u3400-\u9fff]")

OpenChat = Callable[..., Chat]


def lang_of(element: Any) -> str | None:
    """The language an element is tagged with (its own lang or its nearest ancestor's)."""
    value: str | None = element.evaluate("e => { const t = e.closest('[lang]'); return t ? t.lang : null }")
    return value


def direction_of(element: Any) -> str:
    value: str = element.evaluate("e => getComputedStyle(e).direction")
    return value


def plain(element: Any) -> str:
    """An element's text without its furigana."""
    value: str = element.evaluate(
        "e => { const c = e.cloneNode(true); c.querySelectorAll('rt, rp').forEach(r => r.remove());"
        " return c.textContent.trim() }"
    )
    return value


def test_questions_in_four_languages_are_answered_in_theirs_with_the_official_link(open_chat: OpenChat) -> None:
    for lang, question in QUESTIONS.items():
        chat = open_chat()
        answer = chat.ask(question)
        assert answer.get_attribute("data-intent") == "card.about"
        assert answer.get_attribute("lang") == lang
        assert answer.locator(f'a[href="{ISA}"]').count() == 1
        if lang == "ja":
            assert answer.locator("ruby rt").count() > 0, "easy Japanese carries furigana"


def test_urdu_is_right_to_left_in_its_bubble_only(open_chat: OpenChat) -> None:
    """Defect: an Urdu answer set dir="rtl" on the whole page (title reversed, controls jumping sides)."""
    chat = open_chat(PHONE, locale="ur-PK")
    answer = chat.ask(QUESTIONS["ur"])
    assert answer.get_attribute("dir") == "rtl" and direction_of(answer) == "rtl"
    assert direction_of(chat.mine().last) == "rtl", "the resident's Urdu reads right to left too"
    assert chat.page.evaluate("document.documentElement.dir") in ("", "ltr")
    for fixed in ("header h1", "#lang", "#form", "#text"):
        assert direction_of(chat.page.locator(fixed)) == "ltr", f"{fixed} stays left to right"


def test_page_and_bubble_languages_follow_the_conversation(open_chat: OpenChat) -> None:
    """Defects: <html lang> never changed, the resident's bubbles were tagged Japanese, and the
    language menu showed 日本語 while the bot answered in English."""
    chat = open_chat(locale="ja-JP")
    answer = chat.ask(QUESTIONS["en"])
    assert lang_of(answer) == "en"
    assert chat.page.evaluate("document.documentElement.lang") == "en"
    assert chat.page.locator("#lang").input_value() == "en"
    assert lang_of(chat.mine().last) == "en", "an English question is tagged English"
    chat.ask("https://www.moj.go.jp/isa/")
    assert lang_of(chat.mine().last) == "", "a message in no known language carries no wrong tag"


def test_unreachable_server_error_is_visible_kept_and_retried(
    open_chat: OpenChat, shared_assistant: Assistant, tmp_path: Path
) -> None:
    """Defect: with the server down, the error landed behind the phone's input bar, in Japanese and
    English only, with the question erased and no retry."""
    server = LiveServer(create_app(Settings(data_dir=tmp_path), assistant=shared_assistant))
    server.start()
    try:
        chat = open_chat(PHONE, locale="vi-VN", server=server)
        server.stop()
        question = QUESTIONS["vi"]
        chat.page.locator("#text").fill(question)
        chat.page.locator("#text").press("Enter")
        alert = chat.page.get_by_role("alert")
        alert.wait_for()
        assert chat.ui("vi", ui.WEB_UNREACHABLE) in alert.inner_text()
        box, bar = alert.bounding_box(), chat.page.locator("#form").bounding_box()
        assert box is not None and bar is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= bar["y"] + 0.5, "above the input bar, on screen"
        assert chat.page.locator("#text").input_value() == question, "the question is kept"
        chat.screenshot("unreachable-phone-vi")

        server.start()
        answer = chat.press(alert.get_by_role("button", name=chat.ui("vi", ui.WEB_RETRY)))
        assert answer.get_attribute("data-intent") == "card.about" and answer.get_attribute("lang") == "vi"
        assert chat.page.get_by_role("alert").count() == 0
        assert chat.page.locator("#text").input_value() == ""
        assert chat.mine().filter(has_text=question).count() == 1, "asked once, not repeated"
    finally:
        server.stop()


def test_overloaded_server_says_so_in_the_users_language(open_chat: OpenChat, recorder: Recorder) -> None:
    """An answer of 503 (an overloaded proxy in front) says "many people are asking", in the resident's language."""
    chat = open_chat(locale="vi-VN")
    recorder.refuse(503)
    chat.page.locator("#text").fill(QUESTIONS["vi"])
    chat.page.locator("#text").press("Enter")
    alert = chat.page.get_by_role("alert")
    alert.wait_for()
    assert chat.ui("vi", ui.WEB_BUSY) in alert.inner_text()
    recorder.refuse(None)
    answer = chat.press(alert.get_by_role("button", name=chat.ui("vi", ui.WEB_RETRY)))
    assert answer.get_attribute("data-intent") == "card.about"
    assert recorder.texts() == [QUESTIONS["vi"], QUESTIONS["vi"]], "asked, refused, asked again"


def test_a_double_click_on_a_button_asks_once(open_chat: OpenChat, recorder: Recorder) -> None:
    """Defect: a double-click on a topic button asked twice."""
    chat = open_chat()
    greeting = chat.assistant.replies.answer(chat.assistant.catalog["chat.greeting"], "ja")
    index = [button.data for button in greeting.buttons].index("intent:faq.mandatory")
    before = chat.bot().count()
    recorder.hold()  # a slow answer: the second click comes while the first is on its way
    chat.bot().first.locator(".buttons button").nth(index).dblclick()
    recorder.release()
    answer = chat.wait_for_bot(before)
    chat.wait_until_idle()
    chat.ask(QUESTIONS["ja"])  # asked after the presses: any second press has arrived by now
    assert recorder.postbacks("intent:") == ["intent:faq.mandatory"]
    assert answer.get_attribute("data-intent") == "faq.mandatory", "the quick reply answers its topic"


def test_repeated_sends_while_waiting_do_not_stack(open_chat: OpenChat, recorder: Recorder) -> None:
    """Defect: with a slow answer, pressing Send again stacked repeats of the question."""
    chat = open_chat()
    question, text = QUESTIONS["ja"], chat.page.locator("#text")
    before = chat.bot().count()
    recorder.hold()
    text.fill(question)
    text.press("Enter")
    text.fill(question)
    text.press("Enter")
    text.press("Enter")
    recorder.release()
    chat.wait_for_bot(before)
    chat.wait_until_idle()
    chat.ask("必ずつくる？")
    assert recorder.texts() == [question, "必ずつくる？"]
    assert chat.mine().count() == 2


def test_typing_indicator_and_busy_state_while_waiting(open_chat: OpenChat, recorder: Recorder) -> None:
    """Defect: no typing indicator or busy state while an answer is on its way."""
    chat = open_chat()
    recorder.hold()
    chat.page.locator("#text").fill(QUESTIONS["ja"])
    chat.page.locator("#text").press("Enter")
    status = chat.page.locator("#log [role=status]")
    status.wait_for()
    assert chat.ui("ja", ui.WEB_TYPING) in plain(status)
    assert chat.log.get_attribute("aria-busy") == "true"
    assert chat.page.locator("#send").is_disabled()
    chat.screenshot("typing-desktop-ja")
    recorder.release()
    chat.wait_until_idle()
    assert status.count() == 0 and chat.page.locator("#send").is_enabled()


def test_arrow_keys_in_the_language_menu_do_not_switch_until_chosen(open_chat: OpenChat, recorder: Recorder) -> None:
    """Defect: each arrow key in the language menu switched the language (5 presses, 5 switches)."""
    chat = open_chat()
    menu = chat.page.locator("#lang")
    codes: list[str] = menu.locator("option").evaluate_all("options => options.map(o => o.value)")
    target = codes[codes.index(menu.input_value()) + 5]
    before = chat.bot().count()
    menu.focus()
    for _ in range(5):
        menu.press("ArrowDown")
    menu.press("Enter")
    chat.wait_for_bot(before)
    chat.wait_until_idle()
    chat.ask(QUESTIONS["ja"])  # asked after the key presses: any switch they sent has arrived
    assert recorder.postbacks("lang:") == [f"lang:{target}"]
    assert menu.input_value() == target, "an explicit choice holds for the next question"
    before = chat.bot().count()
    menu.select_option("vi")  # a pick with the mouse or a phone's picker
    answer = chat.wait_for_bot(before)
    assert recorder.postbacks("lang:") == [f"lang:{target}", "lang:vi"]
    assert answer.get_attribute("lang") == "vi" and menu.input_value() == "vi"


def test_history_survives_a_reload_until_cleared(open_chat: OpenChat) -> None:
    """Defect: reloading the page erased the conversation."""
    chat = open_chat()
    chat.ask(QUESTIONS["ja"])
    mine, bot = chat.mine().count(), chat.bot().count()
    chat.page.reload()
    chat.wait_for_bot(0)
    chat.wait_until_idle()
    assert (chat.mine().count(), chat.bot().count()) == (mine, bot)
    assert chat.bot().last.get_attribute("data-intent") == "card.about"

    clear = chat.page.locator("#clear")
    assert plain(clear) == chat.ui("ja", ui.WEB_CLEAR)
    clear.click()
    chat.page.wait_for_function("() => !document.querySelector('#log .msg.me')")
    chat.wait_for_bot(0)
    chat.wait_until_idle()
    assert (chat.mine().count(), chat.bot().count()) == (0, 1), "only a new greeting"
    chat.page.reload()
    chat.wait_for_bot(0)
    chat.wait_until_idle()
    assert (chat.mine().count(), chat.bot().count()) == (0, 1)


def test_a_pasted_long_url_wraps_on_a_phone(open_chat: OpenChat) -> None:
    """Defect: a pasted URL made the phone page 770 px wide."""
    chat = open_chat(PHONE)
    chat.ask("https://www.moj.go.jp/isa/" + "applications/procedures/" * 12 + "?q=" + "x" * 120)
    width = chat.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"]


def test_furigana_readable_and_sizes_for_a_phone(open_chat: OpenChat) -> None:
    """Defects: header furigana at 1.55:1, ruby at 9.6 px, compound words spread apart (入　管),
    topic buttons with kanji and no furigana, buttons 27 px tall on a phone."""
    chat = open_chat(PHONE)
    answer = chat.ask(QUESTIONS["ja"])
    problems = []
    sizes = answer.locator("rt").evaluate_all("rts => rts.map(r => parseFloat(getComputedStyle(r).fontSize))")
    if not sizes or min(sizes) < 11:
        problems.append(f"furigana of {min(sizes, default=0)} px")
    spread = spread_of_compound_word(answer)
    if spread > 2:
        problems.append(f"a compound word drawn {spread:.0f} px wider under its furigana")

    header_rt, header = chat.page.locator("header rt").first, chat.page.locator("header")
    ratio = contrast(
        header_rt.evaluate("e => getComputedStyle(e).color"),
        header.evaluate("e => getComputedStyle(e).backgroundColor"),
    )
    if ratio < 4.5:
        problems.append(f"header furigana contrast {ratio:.2f}:1")

    labels = chat.page.locator("#log .buttons button, #person").evaluate_all(
        "bs => bs.map(b => [b.textContent, !!b.querySelector('ruby')])"
    )
    bare = [label for label, ruby in labels if KANJI.search(label) and not ruby]
    if not labels or bare:
        problems.append(f"kanji labels without furigana: {bare}")

    heights = chat.page.locator("button:visible, select:visible, input:visible").evaluate_all(
        "es => es.map(e => [e.id || e.textContent.trim().slice(0, 12), Math.round(e.getBoundingClientRect().height)])"
    )
    short = [(name, height) for name, height in heights if height < 44]
    if short:
        problems.append(f"controls under 44 px: {short}")
    assert not problems


INK = """async png => {
  const image = new Image();
  image.src = 'data:image/png;base64,' + png;
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = image.width; canvas.height = image.height;
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, image.width, image.height).data;
  let left = image.width, right = -1;
  for (let y = 0; y < image.height; y++) for (let x = 0; x < image.width; x++) {
    const i = 4 * (y * image.width + x);
    if (pixels[i] + pixels[i + 1] + pixels[i + 2] < 384) { left = Math.min(left, x); right = Math.max(right, x); }
  }
  return right - left + 1;
}"""
"""The width of the dark ink in a PNG, decoded by the browser itself."""


def spread_of_compound_word(answer: Any) -> float:
    """How much wider a two-kanji word is drawn under its furigana than on its own (0: kept together).

    Measured on Chromium's rendering: the word's ink under its (hidden) reading, against the same
    word in a plain span beside it.
    """
    page = answer.page
    index = answer.evaluate(
        """e => [...e.querySelectorAll('ruby')].findIndex(r => {
             const base = r.firstChild, rt = r.querySelector('rt');
             if (!base || base.nodeType !== Node.TEXT_NODE || base.length < 2 || !rt) return false;
             const range = document.createRange(); range.selectNodeContents(base);
             return rt.getBoundingClientRect().width > range.getBoundingClientRect().width;
           })"""
    )
    assert index >= 0, "an answer with a word whose reading is wider than it"
    ruby = answer.locator("ruby").nth(index)
    ruby.evaluate(
        """r => { r.querySelector('rt').style.color = 'transparent';
                 const probe = document.createElement('span'); probe.id = 'probe';
                 probe.textContent = r.firstChild.data; r.after(probe); }"""
    )
    probe = page.locator("#probe")
    widths = [page.evaluate(INK, base64.b64encode(element.screenshot()).decode()) for element in (ruby, probe)]
    probe.evaluate("p => p.remove()")
    ruby.evaluate("r => r.querySelector('rt').style.removeProperty('color')")
    return float(widths[0] - widths[1])


def test_opening_note_and_a_person_to_talk_to(open_chat: OpenChat) -> None:
    """Defect: no opening note (general information, the official page decides), no human contact."""
    chat = open_chat()
    note = chat.page.locator("#note")
    assert chat.ui("ja", ui.GENERAL_INFORMATION) in plain(note)
    person = chat.page.locator("#person")
    assert plain(person) == chat.assistant.texts.title(chat.assistant.catalog["contact.person"], "ja")
    answer = chat.press(person)
    assert answer.get_attribute("data-intent") == "contact.person"
    hrefs = answer.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert set(chat.assistant.catalog["contact.person"].links) <= set(hrefs)
    assert chat.ask("人と話したい").get_attribute("data-intent") == "contact.person"
