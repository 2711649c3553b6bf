"""LINE's rich menu and Flex messages end to end: the app against the fake LINE API (API and data hosts).

The fake checks the rich menu object and its image (format, size, dimensions, uploaded once to the
data host) and Flex messages as LINE does; these tests check what a resident can reach and that
every menu call stays cosmetic.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from bot.adapters.line import render
from bot.core.assistant import Assistant
from bot.core.factory import build_assistant
from bot.core.models import Candidate
from bot.core.postback import Postback
from bot.core.users import MemoryUserStore
from tests.adapters.line_support import USER, Line, event, only, running
from tests.conftest import AFTER_START, CONTENT
from tests.fakes.faults import Fault
from tests.fakes.line_api import RICH_MENU, RICH_MENU_LIST, FakeLineApi, check_messages

OTHER_USER = "U0000000000000000000000000000beef"


def menu_named(api: FakeLineApi, key: str) -> list[Any]:
    return [m for m in api.rich_menus.values() if m.body["name"].split(" ")[1] == key]


def postback(data: str, user: str = USER) -> dict[str, Any]:
    return event("postback", postback={"data": data}, source={"type": "user", "userId": user})


# -- the default menu -------------------------------------------------------------------------


async def test_the_default_menu_is_made_and_set_at_start(line: Line) -> None:
    api = line.api
    [menu] = api.rich_menus.values()
    assert api.default_rich_menu == menu.id and menu.body["name"].startswith("tokutei-bot default ")
    assert menu.content_type == "image/png" and menu.image is not None and len(menu.image) <= 1024 * 1024
    with Image.open(io.BytesIO(menu.image)) as image:
        assert image.size == (menu.body["size"]["width"], menu.body["size"]["height"]) in ((2500, 1686), (2500, 843))
    layout = line.adapter.assistant.replies.rich_menu
    assert layout is not None and len(menu.body["areas"]) == len(layout.areas)
    covered = sum(a["bounds"]["width"] * a["bounds"]["height"] for a in menu.body["areas"])
    assert covered == 2500 * menu.body["size"]["height"], "the areas cover the picture, without gaps"
    assert "メニュー" in menu.body["chatBarText"] and "Menu" in menu.body["chatBarText"]


async def test_the_image_goes_to_the_data_host(line_api: FakeLineApi, assistant: Assistant) -> None:
    async with running(line_api, assistant) as line:
        await line.send(postback("lang:vi"))  # a language's menu too
    assert len(line_api.rich_menus) == 2
    for menu in line_api.rich_menus.values():
        assert menu.uploaded_to == line_api.data_url != line_api.url and menu.content_type == "image/png"
    uploads = [r for r in line_api.requests if r.path.endswith("/content")]
    assert [r.base for r in uploads] == [line_api.data_url]
    assert all(r.base == line_api.url for r in line_api.requests if r not in uploads)


async def test_an_unchanged_menu_is_kept_at_the_next_start(line_api: FakeLineApi, assistant: Assistant) -> None:
    async with running(line_api, assistant):
        first = line_api.default_rich_menu
    done = len(line_api.rich_menu_log)
    async with running(line_api, assistant):
        pass
    assert line_api.default_rich_menu == first and list(line_api.rich_menus) == [first]
    assert line_api.rich_menu_log[done:] == [], "nothing made, uploaded, set or deleted again"


async def test_a_changed_menu_replaces_the_old_one(
    line_api: FakeLineApi, assistant: Assistant, tmp_path: Path, translations: Path
) -> None:
    async with running(line_api, assistant):
        old = line_api.default_rich_menu
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    layout = yaml.safe_load((content / "rich_menu.yaml").read_text(encoding="utf-8"))
    layout["areas"][2]["label"] = {"ja": "どこで？", "en": "Where?"}
    (content / "rich_menu.yaml").write_text(yaml.safe_dump(layout, allow_unicode=True), encoding="utf-8")
    changed = build_assistant(content, translations, MemoryUserStore(), today=lambda: AFTER_START)
    done = len(line_api.rich_menu_log)
    async with running(line_api, changed):
        pass
    new = line_api.default_rich_menu
    assert new != old and list(line_api.rich_menus) == [new], "the old menu is deleted"
    assert line_api.rich_menu_log[done:] == [("create", new), ("image", new), ("default", new), ("delete", old)]
    area = line_api.rich_menus[new or ""].body["areas"][2]
    assert "どこで？" in area["action"]["displayText"] and "Where?" in area["action"]["displayText"]


async def test_menus_made_by_hand_are_left_alone(line_api: FakeLineApi, assistant: Assistant) -> None:
    async with running(line_api, assistant):
        ours = line_api.default_rich_menu
    by_hand = "richmenu-by-hand"
    line_api.rich_menus[by_hand] = type(line_api.rich_menus[ours])(by_hand, {"name": "spring campaign"})
    async with running(line_api, assistant):
        pass
    assert set(line_api.rich_menus) == {ours, by_hand}


# -- two taps to every topic ------------------------------------------------------------------


async def test_every_topic_is_two_taps_away_from_the_rich_menu(line: Line, assistant: Assistant) -> None:
    menu = line.api.rich_menus[line.api.default_rich_menu or ""]
    reached: set[str] = set()
    for area in menu.body["areas"]:  # first tap: an area of the rich menu
        press = Postback.decode(area["action"]["data"])
        assert press is not None and press.kind in ("intent", "menu")
        reply = only(await line.send(postback(area["action"]["data"])))
        if press.kind == "intent":
            reached.add(press.value)
        # second tap: a quick reply, or a card's button
        buttons = [item["action"] for item in reply.quick_replies]
        buttons += [c["footer"]["contents"][0]["action"] for m in reply.flex() for c in m["contents"]["contents"]]
        reached |= {b["data"].removeprefix("intent:") for b in buttons if b["data"].startswith("intent:")}
    procedures = {i for ids in assistant.replies.procedures.values() for i in ids}
    layout = assistant.replies.rich_menu
    assert layout is not None
    topics = {i for area in layout.areas for i in area.reachable}
    assert set(assistant.replies.menu) | procedures | topics <= reached


async def test_a_tap_on_an_area_shows_its_label_as_the_residents_message(line: Line) -> None:
    menu = line.api.rich_menus[line.api.default_rich_menu or ""]
    for area in menu.body["areas"]:
        action = area["action"]
        assert action["type"] == "postback" and 1 <= len(action["displayText"]) <= 300
        assert 1 <= len(action["label"]) <= 20


# -- a menu in the resident's language --------------------------------------------------------


async def test_choosing_a_language_links_the_menu_in_that_language(line: Line) -> None:
    await line.send(postback("lang:vi"))
    [vi] = menu_named(line.api, "vi")
    assert line.api.user_rich_menus == {USER: vi.id} and vi.image is not None
    assert line.api.default_rich_menu != vi.id, "the default stays for everyone else"

    await line.send(postback("lang:vi"))  # the same choice again: nothing to do
    await line.send(postback("lang:vi", user=OTHER_USER))  # another resident: the same menu, linked
    links = [what for what in line.api.rich_menu_log if what[0] == "link"]
    assert len(links) == 2 and len(menu_named(line.api, "vi")) == 1
    assert line.api.user_rich_menus == {USER: vi.id, OTHER_USER: vi.id}

    await line.send(postback("lang:en"))
    [en] = menu_named(line.api, "en")
    assert line.api.user_rich_menus[USER] == en.id


async def test_a_language_menu_that_failed_is_not_made_again_for_every_message(line: Line) -> None:
    line.api.failing_uploads = 1_000  # the data host is down: every image upload fails
    first = only(await line.send(postback("lang:vi")))
    made = [what for what in line.api.rich_menu_log if what[0] == "create"]
    second = only(await line.send(postback("lang:vi", user=OTHER_USER)))
    assert first.text and second.text, "the residents are answered all the same"
    assert len(made) >= 2, "the default and a try at the vi menu"
    assert [what for what in line.api.rich_menu_log if what[0] == "create"] == made, "no second try (or drawing) yet"
    assert menu_named(line.api, "vi") == [] and USER not in line.api.user_rich_menus


async def test_a_language_menu_is_kept_at_the_next_start(line_api: FakeLineApi, assistant: Assistant) -> None:
    async with running(line_api, assistant) as line:
        await line.send(postback("lang:ko"))
    before = set(line_api.rich_menus)
    async with running(line_api, assistant):
        pass
    assert set(line_api.rich_menus) == before and len(before) == 2


# -- cosmetic: never costs start-up or a reply ------------------------------------------------


async def test_a_failing_menu_call_is_tried_again_later(line_api: FakeLineApi, assistant: Assistant) -> None:
    line_api.fail_next(RICH_MENU, 500, 503)
    line_api.fault_next(RICH_MENU_LIST, Fault(reset=True))
    async with running(line_api, assistant) as line:
        assert line.api.default_rich_menu is not None and len(line.api.rich_menus) == 1


async def test_a_failed_upload_leaves_no_menu_without_image(line_api: FakeLineApi, assistant: Assistant) -> None:
    line_api.failing_uploads = 1
    async with running(line_api, assistant):
        pass
    [menu] = line_api.rich_menus.values()
    assert menu.image is not None and line_api.default_rich_menu == menu.id
    [(_, first), *_] = line_api.rich_menu_log
    assert ("delete", first) in line_api.rich_menu_log, "the menu whose image failed was deleted, then made again"


async def test_a_refused_menu_is_given_up_and_answers_go_on(
    line_api: FakeLineApi, assistant: Assistant, caplog: pytest.LogCaptureFixture
) -> None:
    line_api.fail_next(RICH_MENU, 400)
    with caplog.at_level(logging.INFO):
        async with running(line_api, assistant) as line:
            reply = only(await line.send(event("text_user", "特定在留カードってなに？")))
    assert reply.text and line_api.rich_menus == {} and line_api.default_rich_menu is None
    assert "LINE rich menu not set: LINE refused it (400" in caplog.text


async def test_a_hanging_menu_call_never_holds_start_up_or_a_reply(line_api: FakeLineApi, assistant: Assistant) -> None:
    line_api.slow_next(RICH_MENU_LIST, 3)
    async with running(line_api, assistant, wait_menu=False, menu_timeout=1.0) as line:
        reply = only(await line.send(event("text_user", "特定在留カードってなに？")))
        assert reply.text and line_api.default_rich_menu is None  # answered while the menu call hangs
        async with asyncio.timeout(20):
            await line.adapter.wait_menu()  # given up after its bound, then tried again
    assert line_api.default_rich_menu is not None


# -- Flex messages ----------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["手続きの一覧", "list of procedures"])
async def test_the_list_of_procedures_is_a_carousel(line: Line, assistant: Assistant, question: str) -> None:
    reply = only(await line.send(event("text_user", question)))
    [carousel] = reply.flex()
    assert reply.messages[-1] is carousel and reply.messages[0]["type"] == "text", "the answer, then its cards"
    bubbles = carousel["contents"]["contents"]
    procedures = [i for ids in assistant.replies.procedures.values() for i in ids]
    actions = [b["footer"]["contents"][0]["action"] for b in bubbles]
    assert [a["data"] for a in actions] == [f"intent:{i}" for i in procedures]
    assert all(b["header"]["contents"][0]["text"] and b["body"]["contents"][0]["text"] for b in bubbles)
    assert carousel["altText"].startswith(reply.messages[0]["text"][:50]) and len(carousel["altText"]) <= 400
    assert carousel.get("quickReply"), "the menu's quick replies stay on the last message"
    card = only(await line.send(postback(actions[0]["data"])))  # a card's button answers its procedure
    assert card.text and card.flex() == []


def test_did_you_mean_is_a_bubble_of_its_choices(assistant: Assistant) -> None:
    candidates = [Candidate("card.about", 40.0), Candidate("card.start_date", 38.0)]
    reply = assistant.replies.did_you_mean("en", False, candidates, 40.0)
    messages = render(reply)
    assert check_messages(messages) is None
    [bubble] = messages
    assert bubble["type"] == "flex" and bubble["contents"]["type"] == "bubble"
    buttons = [b["action"]["data"] for b in bubble["contents"]["footer"]["contents"]]
    assert buttons == ["intent:card.about", "intent:card.start_date"]
    assert "Did you mean" in bubble["altText"] and "What is it?" in bubble["altText"]
    assert [i["action"]["data"] for i in bubble["quickReply"]["items"]] == ["menu"]


def test_cards_read_right_to_left_in_urdu(assistant: Assistant) -> None:
    reply = assistant.replies.answer(assistant.catalog["procedure.list"], "ur")
    [carousel] = [m for m in render(reply) if m["type"] == "flex"]
    assert all(b["direction"] == "rtl" for b in carousel["contents"]["contents"])


def _carousel(bubbles: int, label: str = "Read", alt: str = "alt") -> list[dict[str, Any]]:
    bubble = {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "contents": [{"type": "text", "text": "x"}]},
        "footer": {"type": "box", "layout": "vertical", "contents": [
            {"type": "button", "action": {"type": "postback", "label": label, "data": "intent:card.about"}}]},
    }  # fmt: skip
    return [{"type": "flex", "altText": alt, "contents": {"type": "carousel", "contents": [bubble] * bubbles}}]


@pytest.mark.parametrize(
    ("messages", "says"),
    [
        (_carousel(13), "Size must be between 1 and 12"),
        (_carousel(2, label="x" * 21), "label: Length must be between 1 and 20"),
        (_carousel(2, alt="x" * 401), "altText"),
        (_carousel(2, alt=""), "altText"),
        ([{"type": "flex", "altText": "a", "contents": {"type": "bubble", "body": {"type": "box", "layout": "diagonal",
                                                                                  "contents": []}}}], "structure"),
    ],
)  # fmt: skip
def test_the_fake_refuses_flex_messages_line_would_refuse(messages: list[dict[str, Any]], says: str) -> None:
    assert says in (check_messages(messages) or "")
    assert check_messages(_carousel(12)) is None


def test_postback_data_of_every_area_is_unique_to_it(assistant: Assistant) -> None:
    layout = assistant.replies.rich_menu
    assert layout is not None
    presses = [assistant.replies.area_press(area).encode() for area in layout.areas]
    assert len(set(presses)) == len(presses) and all(len(p) <= 300 for p in presses)
