"""The assistant: one `Incoming` in, one `Reply` out, the same for every platform.

A short dispatcher: a button press acts on its `Postback`; a message is matched (`IntentMatcher`),
its reply language decided (`LanguagePolicy`), and the reply composed (`ReplyBuilder`).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace

from bot.core import pii
from bot.core import ui_text as ui
from bot.core.i18n import Texts, is_traditional_chinese, negotiate
from bot.core.intents import Catalog
from bot.core.language_policy import REQUEST_INTENT, LanguagePolicy
from bot.core.matcher import IntentMatcher, Match
from bot.core.models import Button, Candidate, Incoming, Reply
from bot.core.normalize import MAX_CHARS, clean, normalize
from bot.core.postback import Postback
from bot.core.replies import HELP_INTENT, ReplyBuilder
from bot.core.users import UserPrefs, UserStore

log = logging.getLogger(__name__)

JST = dt.timezone(dt.timedelta(hours=9), "JST")
LONG_MESSAGE = 80
"""Messages longer than this are also matched sentence by sentence (the question may be anywhere)."""
MAX_SENTENCES = 6
_SENTENCES = re.compile(r"(?<=[。？！?!.\n])")


def today_in_japan() -> dt.date:
    """Today's date in Japan, where the card's start date applies."""
    return dt.datetime.now(JST).date()


class Assistant:
    """Answers residents; holds no platform knowledge and no per-request state."""

    def __init__(
        self,
        catalog: Catalog,
        matcher: IntentMatcher,
        texts: Texts,
        replies: ReplyBuilder,
        policy: LanguagePolicy,
        users: UserStore,
    ) -> None:
        self.catalog = catalog
        self.matcher = matcher
        self.texts = texts
        self.replies = replies
        self.policy = policy
        self.users = users
        self.store_errors = 0
        """Reads and writes of user settings that failed (full disk, read-only file): answered all the same."""
        self.built_from: dict[str, str] = {}
        """Digests of what its parts were built from (`bot.core.factory`): a reload keeps the unchanged ones."""
        self.finish: Callable[[], Assistant] | None = None
        """After a reload that changed examples: trains what is still the earlier content's and returns the
        assistant whole (slow: in a thread, `bot.reload`); None when whole."""
        self.superseded = threading.Event()
        """Set when newer content makes `finish` useless: it stops (`bot.core.training.Superseded`)."""
        self._labels = {normalize(label): entry for label, entry in replies.labels().items() if normalize(label)}

    def with_parts(self, whole: Assistant) -> Assistant:
        """This assistant with the matcher and language detector of `whole` (trained after a reload)."""
        assistant = copy.copy(self)
        assistant.matcher = whole.matcher
        assistant.policy = copy.copy(self.policy)
        assistant.policy.detector = whole.policy.detector
        assistant.built_from = dict(whole.built_from)
        assistant.finish = None
        assistant.superseded = threading.Event()
        return assistant

    @property
    def interim(self) -> bool:
        """Whether its classifier or language detector is still the content's before (see `finish`)."""
        return self.finish is not None

    # -- entry point -------------------------------------------------------------------------

    def handle(self, msg: Incoming, users: UserStore | None = None) -> Reply:
        """Answer one message or button press; settings from `users` (default: the assistant's own).

        A server passes the one user's settings it read from the shared store (`bot.pipeline`).

        A message holding a personal number (`bot.core.pii`) is matched without it, and the reply
        starts with a warning not to send such numbers in a chat.
        """
        personal = pii.scan(msg.text) if msg.text else None
        if personal is not None and personal.found:
            msg = replace(msg, text=personal.stripped)
        reply = self._handle(msg, users if users is not None else self.users)
        if personal is not None and personal.found:
            reply = self.replies.warned(reply, ui.PERSONAL_NUMBER)
        if reply.lang == "zh" and is_traditional_chinese(msg.lang_hint) and reply.blocks:
            # We answer in Simplified Chinese only; say so to a Traditional Chinese reader.
            first = reply.blocks[0]
            notice = self.texts.ui("zh", ui.SIMPLIFIED_CHINESE)
            first = replace(first, note=f"{first.note} {notice}" if first.note else notice)
            reply = replace(reply, blocks=(first, *reply.blocks[1:]))
        return reply

    def _handle(self, msg: Incoming, users: UserStore) -> Reply:
        key = user_key(msg.platform, msg.user_id)
        prefs = self._prefs(users, key)
        if msg.postback is not None:
            return self.press(msg, key, prefs, msg.postback, users)
        text = clean(msg.text)
        norm = normalize(text)
        if not norm:
            lang = prefs.lang or prefs.last or negotiate(msg.lang_hint)
            return self.replies.info(ui.EMPTY, lang, both=prefs.both)
        typed = self._labels.get(norm)
        if typed is not None:  # a button's label, typed: the same as pressing it, in the label's language
            press, langs = typed
            lang = prefs.lang or (next(iter(langs)) if len(langs) == 1 else None)
            if lang and lang != prefs.last:
                prefs = prefs.with_(last=lang)
                self._remember(users, key, prefs)
            return self.press(msg, key, prefs, press, users)
        match = self._match(text)
        requested = self.policy.requested(text, match)
        if requested:
            return self._set_language(users, key, prefs, requested)
        lang = self.policy.reply_language(text, prefs, msg.lang_hint, msg.forwarded, match)
        if lang and lang != prefs.last:
            self._remember(users, key, prefs.with_(last=lang))
        both = prefs.both or msg.forwarded
        if match is None or match.outcome == "fallback":
            return self.replies.fallback(lang, both, _candidates(match), match.score if match else 0.0)
        if match.outcome == "suggest":
            return self.replies.did_you_mean(lang, both, _candidates(match), match.score)
        return self.replies.answer(self.catalog[match.intent], lang, both, match.score, _candidates(match))

    def _match(self, text: str) -> Match | None:
        """Match a message; a long one that is not clear as a whole, sentence by sentence too."""
        match = self.matcher.match(text)
        if len(text) <= LONG_MESSAGE or (match is not None and match.outcome == "confident"):
            return match
        for sentence in _SENTENCES.split(text[:MAX_CHARS])[:MAX_SENTENCES]:
            candidate = self.matcher.match(sentence) if normalize(sentence) else None
            if candidate and (match is None or _better(candidate, match)):
                match = candidate
        return match

    # -- button presses ----------------------------------------------------------------------

    def press(
        self, msg: Incoming, key: str, prefs: UserPrefs, postback: Postback, users: UserStore | None = None
    ) -> Reply:
        """Act on a button press (or its label, typed)."""
        users = users if users is not None else self.users
        lang = prefs.lang or prefs.last or negotiate(msg.lang_hint)
        if postback.kind == "lang":
            return self._set_language(users, key, prefs, postback.value)
        if postback.kind == "both":
            both = postback.on
            self._remember(users, key, prefs.with_(both=both))
            message = ui.BILINGUAL_ON if both else ui.BILINGUAL_OFF
            return self.replies.info(message, lang, self.replies.menu_buttons(lang or "ja"), both)
        if postback.kind == "intent" and postback.value in self.catalog.intents:
            return self.replies.answer(self.catalog[postback.value], lang, prefs.both)
        if postback.kind == "menu" and postback.section and HELP_INTENT in self.catalog.intents:
            return self.replies.section(postback.section, lang, prefs.both)
        if postback.kind == "langs":
            buttons = self.replies.language_buttons(lang or "ja", postback.page, prefs.both)
            return self.replies.info(ui.CHOOSE_LANGUAGE, lang, buttons, prefs.both)
        if HELP_INTENT in self.catalog.intents:  # the menu, or a press we do not know (an old button)
            return self.replies.answer(self.catalog[HELP_INTENT], lang, prefs.both)
        return self.replies.info(ui.EMPTY, lang, both=prefs.both)

    def _set_language(self, users: UserStore, key: str, prefs: UserPrefs, lang: str) -> Reply:
        """Answer in `lang` from now on; the reply answers the language request."""
        self._remember(users, key, prefs.with_(lang=lang, last=lang))
        reply = self.replies.info(ui.LANGUAGE_SET, lang, self.replies.menu_buttons(lang), prefs.both)
        return replace(reply, kind="answer", intent=REQUEST_INTENT, score=100.0, language_set=True)

    # -- for adapters ------------------------------------------------------------------------

    def language_of(self, key: str, hint: str | None = None) -> str | None:
        """The language for fixed messages to a user ("platform:id"): choice, last reply, platform hint."""
        prefs = self._prefs(self.users, key)
        return prefs.lang or prefs.last or negotiate(hint)

    def needs_hint(self, msg: Incoming, users: UserStore | None = None) -> bool:
        """Whether the platform's idea of the user's language can change the reply to `msg`.

        It cannot once the user chose a language or was answered in one, nor when the message is
        clearly in one language; except for Chinese, where a Traditional Chinese reader gets a note.
        An adapter that must ask the platform for it (LINE's profile) asks only when this is True.
        Settings from `users` (default: the assistant's own), as in `handle`.
        """
        prefs = self._prefs(users if users is not None else self.users, user_key(msg.platform, msg.user_id))
        known = None if msg.forwarded else (prefs.lang or prefs.last)
        if known is None and msg.postback is None:
            known = self.policy.clear_language(clean(msg.text))
        return known is None or known == "zh"

    # -- the user store: a failure never stops an answer -------------------------------------

    def _prefs(self, users: UserStore, key: str) -> UserPrefs:
        try:
            return users.get(key)
        except Exception as exc:
            self._store_failed("get", exc)
            return UserPrefs()

    def _remember(self, users: UserStore, key: str, prefs: UserPrefs) -> None:
        try:
            users.put(key, prefs)
        except Exception as exc:
            self._store_failed("put", exc)

    def _store_failed(self, what: str, exc: Exception) -> None:
        self.store_errors += 1
        log.error("user store %s failed (%s: %s); answering without it", what, type(exc).__name__, _reason(exc))

    def info(self, message: str, lang: str | None, buttons: list[Button] | None = None) -> Reply:
        """A fixed UI message (non-text messages, group intro, errors) in `lang`."""
        return self.replies.info(message, lang, buttons or ())

    def language_buttons(self, lang: str) -> list[Button]:
        """The first page of the language menu."""
        return self.replies.language_buttons(lang)


def _reason(exc: Exception) -> str:
    """A store error's own message (SQLite's "database or disk is full"), never user text."""
    return str(exc)[:80] if isinstance(exc, (OSError, sqlite3.Error)) else ""


def user_key(platform: str, user_id: str) -> str:
    """The key a user's settings are kept under."""
    return f"{platform}:{user_id}"


def _candidates(match: Match | None) -> tuple[Candidate, ...]:
    return match.candidates if match else ()


_RANK = {"confident": 2, "suggest": 1, "fallback": 0}


def _better(one: Match, other: Match) -> bool:
    """Whether a sentence's match beats the best so far: a topic over small talk ("…? Thanks."), then
    a surer outcome, then a higher score."""
    return _weight(one) > _weight(other)


def _weight(match: Match) -> tuple[bool, int, float]:
    topical = match.outcome != "fallback" and not match.intent.startswith("chat.")
    return (topical, _RANK[match.outcome], match.score)
