"""The bot's face in Telegram: its command menu and its descriptions, in every language we have them in.

`setMyCommands` (/start /help /menu /lang) and `setMyDescription` / `setMyShortDescription`, once
with no language (English, for everyone else) and once per language whose catalog translates the
texts (`language_code`): Telegram shows each user the ones in their app's language. Each is read
first (`getMy…`) and set only when it differs, so a restart changes nothing. Cosmetic: run in the
background after connecting; a failure Telegram may get over (down, 429, 5xx) is tried again later,
a refusal (400) is logged and skipped, and nothing here ever holds an answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from telegram import Bot, BotCommand
from telegram.error import BadRequest, Forbidden, InvalidToken

from bot.core import ui_text as ui
from bot.core.languages import LANGS
from bot.core.replies import ReplyBuilder

log = logging.getLogger(__name__)

COMMANDS = (
    ("start", ui.COMMAND_START),
    ("help", ui.COMMAND_HELP),
    ("menu", ui.COMMAND_HELP),
    ("lang", ui.COMMAND_LANG),
)
"""The command menu: each command with the sentence that describes it."""
MAX_COMMAND_DESCRIPTION = 256
MAX_DESCRIPTION = 512
MAX_SHORT_DESCRIPTION = 120


@dataclass(frozen=True)
class Texts:
    """What Telegram shows of the bot in one language ("" is the default, for every other language)."""

    code: str
    commands: tuple[tuple[str, str], ...] | None
    description: str | None
    short_description: str | None


def texts_for(replies: ReplyBuilder, code: str) -> Texts:
    """The texts in `code` ("": English, the default); None where the catalog lacks a translation."""
    lang = code or "en"

    def say(message: str, limit: int) -> str | None:
        found = replies.texts.lookup(lang, message)
        if found is None:
            return None
        with_furigana = replies.line(lang, found)  # easy Japanese reads its kanji inline, as in answers
        return with_furigana if len(with_furigana) <= limit else found[:limit]

    descriptions = [say(message, MAX_COMMAND_DESCRIPTION) for _, message in COMMANDS]
    names = [name for name, _ in COMMANDS]
    commands = None if None in descriptions else tuple(zip(names, [d or "" for d in descriptions], strict=True))
    return Texts(
        code,
        commands,
        say(ui.BOT_DESCRIPTION, MAX_DESCRIPTION),
        say(ui.BOT_SHORT_DESCRIPTION, MAX_SHORT_DESCRIPTION),
    )


def languages(replies: ReplyBuilder) -> list[Texts]:
    """The default texts, then those of each language whose catalog has any of them."""
    found = [texts_for(replies, "")]
    for code in LANGS:
        if code == "en":
            continue
        texts = texts_for(replies, code)
        if texts.commands or texts.description or texts.short_description:
            found.append(texts)
    return found


Call = Callable[[], Awaitable[bool]]
"""Reads one text from Telegram and sets it when it differs; True when it set it."""


class Profile:
    """Sets the command menu and descriptions through the Bot API, only where they differ."""

    def __init__(self, bot: Bot, replies: ReplyBuilder, timeout: float) -> None:
        self.bot = bot
        self.replies = replies
        self.timeout = timeout

    def calls(self) -> list[tuple[str, Call]]:
        """One call per text and language: read, compare, set."""
        out: list[tuple[str, Call]] = []
        for texts in languages(self.replies):
            name = texts.code or "default"
            if texts.commands:
                out.append((f"commands {name}", self._commands(texts.code, texts.commands)))
            if texts.description:
                out.append((f"description {name}", self._description(texts.code, texts.description)))
            if texts.short_description:
                out.append((f"short description {name}", self._short(texts.code, texts.short_description)))
        return out

    async def set_up(self, delays: Sequence[float]) -> None:
        """Make every call; those that failed for a passing reason are tried again after `delays`."""
        pending = self.calls()
        changed = 0
        for attempt in range(10**9):
            failed: list[tuple[str, Call]] = []
            for what, call in pending:
                try:
                    async with asyncio.timeout(self.timeout):
                        changed += await call()
                except (BadRequest, Forbidden, InvalidToken) as exc:  # refused: trying again will not help
                    log.warning("telegram: %s not set (%s: %s)", what, type(exc).__name__, exc.message)
                except Exception as exc:  # down, 429, 5xx, slow: later
                    log.info("telegram: %s not set yet (%s)", what, type(exc).__name__)
                    failed.append((what, call))
            if not failed:
                log.info("telegram: command menu and descriptions in place (%d set, %d unchanged)", changed,
                         len(self.calls()) - changed)  # fmt: skip
                return
            pending = failed
            delay = delays[min(attempt, len(delays) - 1)]
            log.warning("telegram: %d profile calls failed; trying again in %.0f s", len(failed), delay)
            await asyncio.sleep(delay)

    def _commands(self, code: str, commands: tuple[tuple[str, str], ...]) -> Call:
        async def call() -> bool:
            current = await self.bot.get_my_commands(language_code=code or None)
            if tuple((c.command, c.description) for c in current) == commands:
                return False
            await self.bot.set_my_commands([BotCommand(n, d) for n, d in commands], language_code=code or None)
            return True

        return call

    def _description(self, code: str, text: str) -> Call:
        async def call() -> bool:
            current = await self.bot.get_my_description(language_code=code or None)
            if current.description == text:
                return False
            await self.bot.set_my_description(description=text, language_code=code or None)
            return True

        return call

    def _short(self, code: str, text: str) -> Call:
        async def call() -> bool:
            current = await self.bot.get_my_short_description(language_code=code or None)
            if current.short_description == text:
                return False
            await self.bot.set_my_short_description(short_description=text, language_code=code or None)
            return True

        return call
