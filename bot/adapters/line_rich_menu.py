"""LINE's rich menu: the panel under the chat, from `intents/rich_menu.yaml`, made once and kept.

The default menu (easy Japanese with furigana, and English) is set at start; a resident who chooses
a language gets the same menu in that language, linked to them alone. A menu is known by its name,
which carries a hash of everything it shows (labels, icons, layout, fonts, the drawing's version):
an unchanged menu is found and kept, a changed one is made anew and the old one deleted. A tap
sends a postback the core understands (`menu:<area>` or `intent:<id>`), and a section's topics are
read from the content when tapped, so a change of topics needs no new menu.

Everything here is cosmetic: the adapter runs it in the background, bounded, and a failure is
logged and skipped (a resident can always type, and quick replies carry the menu too).

The calls are the SDK's (`MessagingApi`: /v2/bot/richmenu…, `MessagingApiBlob`: the image on the
data host), made on the adapter's own session like its other calls (see `bot.adapters.line`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import multiprocessing
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.adapters import line_flex
from bot.adapters.rich_menu_image import VERSION, Fonts, Label, Picture, Tile, render, system_fonts
from bot.core import ui_text as ui
from bot.core.models import Button
from bot.core.replies import HELP_INTENT, ReplyBuilder
from bot.daemon_thread import in_daemon_thread

if TYPE_CHECKING:
    from bot.adapters.line import LineApi

log = logging.getLogger(__name__)

PREFIX = "tokutei-bot"
"""Rich menus named "tokutei-bot <key> <hash>" are ours: others (made by hand) are never touched."""
DEFAULT = "default"
MAX_CHAT_BAR = 14
LINKED_CACHE = 10_000
FAILED_MENU_PAUSE = 300.0
"""Seconds a language's menu is not tried again after making it failed: each try draws a picture
(a tenth of a second of CPU), and an API that refuses it would otherwise cost that on every message."""


@dataclass(frozen=True)
class MenuSpec:
    """One rich menu as LINE will hold it: the object to create, and the picture to draw for it."""

    key: str
    """"default", or the language code."""
    body: dict[str, Any]
    picture: Picture

    @property
    def name(self) -> str:
        """The menu's name: ours, its key, and the hash of what it shows."""
        return str(self.body["name"])


def menu_langs(key: str) -> list[str]:
    """The languages of a menu's labels, first the large one: easy Japanese and English by default."""
    if key == DEFAULT:
        return ["ja", "en"]
    return [key] if key == "ja" else [key, "ja"]


def build_spec(replies: ReplyBuilder, key: str, fonts: Fonts) -> MenuSpec | None:
    """The menu for `key` ("default" or a language), or None when the content has no rich menu.

    Raises:
        FontMissing: no font here for one of its languages.
    """
    layout = replies.rich_menu
    if layout is None:
        return None
    langs = menu_langs(key)
    picture = Picture(layout.rows, layout.columns, tiles=())
    tiles, areas = [], []
    for area, (x, y, width, height) in zip(layout.areas, picture.bounds(), strict=True):
        texts = [replies.area_label(area, code)[::-1] for code in langs]  # (language, text)
        lines = tuple(
            Label(code, text, replies.furigana.segments(text) if code == "ja" else None)
            for code, text in dict.fromkeys(texts)
        )
        tiles.append(Tile(area.icon, lines))
        shown = " / ".join(dict.fromkeys(text for _, text in texts))
        action = line_flex.postback(Button(texts[0][1], replies.area_press(area)), shown=shown)
        areas.append({"bounds": {"x": x, "y": y, "width": width, "height": height}, "action": action})
    picture = Picture(layout.rows, layout.columns, tuple(tiles))
    width, height = picture.size
    body: dict[str, Any] = {
        "size": {"width": width, "height": height},
        "selected": True,
        "chatBarText": _chat_bar(replies, langs),
        "areas": areas,
    }
    shown = json.dumps({"body": body, "picture": repr(picture), "fonts": fonts.identity(langs), "v": VERSION})
    digest = hashlib.sha256(shown.encode()).hexdigest()[:16]
    return MenuSpec(key, {"name": f"{PREFIX} {key} {digest}", **body}, picture)


def _chat_bar(replies: ReplyBuilder, langs: list[str]) -> str:
    """The words on the bar that opens and closes the menu: "メニュー / Menu", or "Menu" in the language."""
    help_intent = replies.catalog.intents.get(HELP_INTENT)
    words = [replies.texts.title(help_intent, code) if help_intent else replies.texts.ui(code, ui.MENU)
             for code in langs]  # fmt: skip
    text = " / ".join(dict.fromkeys(words)) if langs == ["ja", "en"] else words[0]
    return text if len(text) <= MAX_CHAT_BAR else text[: MAX_CHAT_BAR - 1] + "…"


_DRAWING = threading.Lock()


@lru_cache(maxsize=64)
def _drawn(picture: Picture, fonts: Fonts) -> tuple[bytes, str]:
    """The picture, drawn once per process, in a child process, one at a time.

    A drawing holds tens of MB (a 2500-pixel picture, the fonts, the PNG encoder) that the server's
    allocator would keep: twenty languages' menus made at once took the server's peak RSS from 213 to
    296 MB (docs/benchmarks.md). Menus are made rarely, so a child's start-up costs little. The child
    is a daemon: a server that stops does not wait for a drawing.

    Raises:
        FontMissing: as `render`.
        RuntimeError: the child ended without a picture.
    """
    context = multiprocessing.get_context("spawn")
    with _DRAWING:
        receiving, sending = context.Pipe(duplex=False)
        child = context.Process(target=_draw_and_send, args=(picture, fonts, sending), daemon=True,
                                name="rich-menu-drawing")  # fmt: skip
        child.start()
        sending.close()
        try:
            ok, value = receiving.recv()
        except EOFError:
            raise RuntimeError(f"the rich menu drawing process ended ({child.exitcode}) without a picture") from None
        finally:
            receiving.close()
            child.join()
    if not ok:
        raise value
    return value


def _draw_and_send(picture: Picture, fonts: Fonts, sending: Connection) -> None:
    """In the child: draw, send the picture (or the exception) back."""
    try:
        sending.send((True, render(picture, fonts)))
    except Exception as exc:
        sending.send((False, exc))
    finally:
        sending.close()


def ours(name: object) -> str | None:
    """The key ("default" or a language) of one of our menus, from its name; None for other menus."""
    parts = name.split(" ") if isinstance(name, str) else []
    return parts[1] if len(parts) == 3 and parts[0] == PREFIX else None


class RichMenus:
    """Makes, finds, sets and links our rich menus through the LINE API."""

    def __init__(self, api: LineApi, replies: Callable[[], ReplyBuilder], fonts: Fonts | None = None) -> None:
        self.api = api
        self.replies = replies
        """The reply builder in use now (its content says what the menu shows)."""
        self.fonts = fonts or system_fonts()
        self._menus: dict[str, str] | None = None
        """Name → id of our menus on LINE, once listed."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._linked: OrderedDict[str, str] = OrderedDict()
        """User → the menu id linked to them by this process (not linked again)."""
        self._duplicates: list[str] = []
        """Ids of second menus of one name (two instances made it at once): deleted at set-up."""
        self._paused: dict[str, float] = {}
        """Menu name → the monotonic time before which linking it is not tried again (it failed)."""

    async def set_up(self) -> str | None:
        """Make (or find) the default menu, set it as the default, delete our outdated menus.

        Returns the default menu's id (None when the content has no rich menu). Raises what the API
        raises: the caller decides whether to try again.
        """
        spec = build_spec(self.replies(), DEFAULT, self.fonts)
        menus = await self._list(fresh=True)
        if spec is None:
            log.info("LINE rich menu: the content has none (%s)", "rich_menu.yaml")
            return None
        menu_id = await self._ensure(spec)
        current = await self._default()
        if current != menu_id:
            await self.api.call("POST", f"/v2/bot/user/all/richmenu/{quote(menu_id)}")
            log.info("LINE rich menu: %s set as the default", menu_id)
        wanted = {spec.name}
        for name in menus:
            key = ours(name)
            if key is not None and key != DEFAULT:
                try:
                    wanted.add(build_spec(self.replies(), key, self.fonts).name)  # type: ignore[union-attr]
                except Exception as exc:  # a language that cannot be drawn any more: its old menu goes
                    log.info("LINE rich menu %s: not kept (%s)", key, exc)
        await self._delete_outdated(wanted, keep=menu_id)
        return menu_id

    async def link(self, user_id: str, lang: str) -> None:
        """Show `user_id` the menu in `lang` (made first if needed); nothing when already linked by us."""
        spec = build_spec(self.replies(), lang, self.fonts)
        if spec is None or self._paused.get(spec.name, 0.0) > time.monotonic():
            return
        try:
            menu_id = await self._ensure(spec)
        except Exception:
            self._paused[spec.name] = time.monotonic() + FAILED_MENU_PAUSE
            raise
        self._paused.pop(spec.name, None)
        if self._linked.get(user_id) == menu_id:
            return
        await self.api.call("POST", f"/v2/bot/user/{quote(user_id, safe='')}/richmenu/{quote(menu_id)}")
        self._linked[user_id] = menu_id
        self._linked.move_to_end(user_id)
        if len(self._linked) > LINKED_CACHE:
            self._linked.popitem(last=False)
        log.info("LINE rich menu %s linked to a user", lang)

    async def _ensure(self, spec: MenuSpec) -> str:
        """The id of the menu `spec` on LINE: found by its name, or made now (object, then image)."""
        lock = self._locks.setdefault(spec.name, asyncio.Lock())
        async with lock:
            menus = await self._list()
            if spec.name in menus:
                return menus[spec.name]
            image, content_type = await in_daemon_thread(partial(_drawn, spec.picture, self.fonts), "rich-menu")
            created = await self.api.call("POST", "/v2/bot/richmenu", spec.body)
            menu_id = created.get("richMenuId") if isinstance(created, dict) else None
            if not isinstance(menu_id, str) or not menu_id:
                raise ValueError("LINE did not answer with a rich menu id")
            try:
                await self.api.call("POST", f"/v2/bot/richmenu/{quote(menu_id)}/content", data=image,
                                    content_type=content_type, data_host=True)  # fmt: skip
            except BaseException:  # a menu without its image cannot be shown: not left behind
                await _quietly(self.api.call("DELETE", f"/v2/bot/richmenu/{quote(menu_id)}"))
                raise
            menus[spec.name] = menu_id
            width, height = spec.picture.size
            log.info("LINE rich menu %s created: %s (%d×%d, %s, %d KB)", spec.key, menu_id, width, height,
                     content_type, len(image) // 1024)  # fmt: skip
            return menu_id

    async def _list(self, fresh: bool = False) -> dict[str, str]:
        """Our menus on LINE, name → id (listed once, then kept up to date by this process)."""
        if self._menus is None or fresh:
            answer = await self.api.call("GET", "/v2/bot/richmenu/list")
            found = answer.get("richmenus") if isinstance(answer, dict) else None
            menus: dict[str, str] = {}
            self._duplicates = []
            for menu in found if isinstance(found, list) else []:
                name, menu_id = menu.get("name"), menu.get("richMenuId")
                if ours(name) is None or not isinstance(menu_id, str):
                    continue
                if name in menus:  # two instances made the same menu at once
                    self._duplicates.append(menu_id)
                else:
                    menus[name] = menu_id
            self._menus = menus
        return self._menus

    async def _default(self) -> str | None:
        """The default menu's id now (None when there is none)."""
        from bot.adapters.line import LineApiError

        try:
            answer = await self.api.call("GET", "/v2/bot/user/all/richmenu")
        except LineApiError as exc:
            if exc.status == 404:
                return None
            raise
        menu_id = answer.get("richMenuId") if isinstance(answer, dict) else None
        return menu_id if isinstance(menu_id, str) else None

    async def _delete_outdated(self, wanted: set[str], keep: str) -> None:
        menus = await self._list()
        outdated = [(name, menu_id) for name, menu_id in menus.items() if name not in wanted and menu_id != keep]
        outdated += [("duplicate", menu_id) for menu_id in self._duplicates if menu_id != keep]
        for name, menu_id in outdated:
            await self.api.call("DELETE", f"/v2/bot/richmenu/{quote(menu_id)}")
            menus.pop(name, None)
            log.info("LINE rich menu deleted: %s (%s, outdated)", menu_id, name)
        self._duplicates = []


async def _quietly(call: Any) -> None:
    try:
        await call
    except Exception as exc:
        log.info("LINE rich menu clean-up skipped (%s)", type(exc).__name__)
