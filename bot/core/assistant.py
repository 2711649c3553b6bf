"""The assistant: one `Incoming` in, one `Reply` out, the same for every platform.

It decides the reply language (explicit choice > confident detection > the conversation's language
> the platform's hint > easy Japanese with English), matches the intent, and composes the answer,
a "did you mean" or the fallback, with furigana on easy Japanese and official links.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from babel import Locale

from bot.core import ui_text as ui
from bot.core.furigana import Furigana
from bot.core.i18n import Texts, is_traditional_chinese, negotiate
from bot.core.intents import Catalog, Intent
from bot.core.langdetect import LanguageDetector
from bot.core.languages import LANGS, babel_locale, native_name
from bot.core.matcher import IntentMatcher, Match
from bot.core.models import Alternative, Block, Button, Incoming, Link, Reply, ReplyKind
from bot.core.normalize import MAX_CHARS, clean, normalize
from bot.core.users import UserPrefs, UserStore

log = logging.getLogger(__name__)

JST = dt.timezone(dt.timedelta(hours=9), "JST")
ISA_URL = "https://www.moj.go.jp/isa/tokutei.html"
_JAPANESE_SCRIPT = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
LIKELY = 0.4
LONG_MESSAGE = 80
"""Messages longer than this are also matched sentence by sentence (the question may be anywhere)."""
MAX_SENTENCES = 6
_SENTENCES = re.compile(r"(?<=[。？！?!.\n])")
"""An unconfident detection still beats the default for a first message when at least this likely."""
MAX_BUTTONS = 13
"""LINE allows 13 quick replies; every platform gets the same menu."""

MENU_INTENTS = (
    "card.about", "card.start_date", "apply.how", "apply.city_office", "apply.immigration_office",
    "faq.mandatory", "faq.benefits", "faq.no_planned_procedure", "faq.online", "card.new_design",
    "card.special_permanent", "contact.mynumber",
)  # fmt: skip

# Postback data carried by buttons.
INTENT, LANG, BOTH, MENU, LANG_MENU = "intent:", "lang:", "both:", "menu", "langs:"


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
        furigana: Furigana,
        users: UserStore,
        detector: LanguageDetector | None = None,
        today: Callable[[], dt.date] = today_in_japan,
    ) -> None:
        self.catalog = catalog
        self.matcher = matcher
        self.texts = texts
        self.furigana = furigana
        self.users = users
        self.detector = detector or LanguageDetector()
        self.today = today
        self._switches = _language_switch_phrases()

    # -- entry point -------------------------------------------------------------------------

    def handle(self, msg: Incoming) -> Reply:
        """Answer one message or button press."""
        reply = self._handle(msg)
        if reply.lang == "zh" and is_traditional_chinese(msg.lang_hint) and reply.blocks:
            # We answer in Simplified Chinese only; say so to a Traditional Chinese reader.
            first = reply.blocks[0]
            notice = self.texts.ui("zh", ui.SIMPLIFIED_CHINESE)
            first = replace(first, note=f"{first.note} {notice}" if first.note else notice)
            reply = replace(reply, blocks=(first, *reply.blocks[1:]))
        return reply

    def _handle(self, msg: Incoming) -> Reply:
        key = f"{msg.platform}:{msg.user_id}"
        prefs = self.users.get(key)
        if msg.postback is not None:
            return self._postback(msg, key, prefs)
        text = clean(msg.text)
        if not normalize(text):
            lang = prefs.lang or prefs.last or negotiate(msg.lang_hint)
            return self._info(ui.EMPTY, lang, prefs, self.menu_buttons(lang or "ja"))
        switch = self.language_switch(text)
        if switch:
            return self._set_language(key, prefs, switch)
        match = self._match(text)
        lang = self._reply_lang(text, msg, prefs, match)
        if lang and lang != prefs.last:
            self.users.put(key, prefs.with_(last=lang))
        both = prefs.both or msg.forwarded
        if match is None or match.outcome == "fallback":
            return self._fallback(lang, both, match)
        if match.outcome == "suggest":
            return self._did_you_mean(lang, both, match)
        return self.answer(self.catalog[match.intent], lang, both, match)

    def _match(self, text: str) -> Match | None:
        """Match a message; a long one also sentence by sentence, keeping the best."""
        match = self.matcher.match(text)
        if len(text) <= LONG_MESSAGE:
            return match
        for sentence in _SENTENCES.split(text[:MAX_CHARS])[:MAX_SENTENCES]:
            candidate = self.matcher.match(sentence) if normalize(sentence) else None
            if candidate and (match is None or candidate.score > match.score):
                match = candidate
        return match

    # -- language ----------------------------------------------------------------------------

    def language_switch(self, text: str) -> str | None:
        """The language a message asks for ("English please", "日本語で", "tiếng Việt"), if any."""
        norm = normalize(text)
        if len(norm) > 40:
            return None
        stripped = _FILLER.sub(" ", f" {norm} ").strip()
        return self._switches.get(stripped) or self._switches.get(norm)

    def language_of(self, key: str, hint: str | None = None) -> str | None:
        """The language for fixed messages to a user ("platform:id"): choice, last reply, platform hint."""
        prefs = self.users.get(key)
        return prefs.lang or prefs.last or negotiate(hint)

    def _reply_lang(self, text: str, msg: Incoming, prefs: UserPrefs, match: Match | None) -> str | None:
        if prefs.lang and not msg.forwarded:
            return prefs.lang
        detected = self.detector.detect(text)
        if detected.confident and detected.lang:
            return detected.lang
        # A close example in that language is evidence too ("the cu tru la gi"), except that
        # romaji under a Japanese example does not make a Latin-only message Japanese.
        if (
            match is not None
            and match.lang
            and (match.outcome == "confident" or (match.outcome == "suggest" and detected.lang == match.lang))
            and (match.lang != "ja" or _JAPANESE_SCRIPT.search(text))
        ):
            return match.lang
        fallback = prefs.last or negotiate(msg.lang_hint)
        if fallback is None and detected.lang and detected.probability >= LIKELY:
            return detected.lang
        return fallback

    def _set_language(self, key: str, prefs: UserPrefs, lang: str) -> Reply:
        self.users.put(key, prefs.with_(lang=lang, last=lang))
        return self._info(ui.LANGUAGE_SET, lang, prefs, self.menu_buttons(lang))

    # -- replies -----------------------------------------------------------------------------

    def answer(self, intent: Intent, lang: str | None, both: bool, match: Match | None = None) -> Reply:
        """The answer of `intent` in `lang` (None: easy Japanese with English)."""
        langs = self._langs(lang, both)
        blocks: list[Block] = []
        today = self.today()
        for code in langs:
            text = self.texts.answer(intent, code, today)
            if text is None:  # untranslated: English and easy Japanese instead, never a crash
                blocks = [self._block("en", self.texts.answer(intent, "en", today) or "", ui.UNTRANSLATED, code)]
                blocks.append(self._block("ja", self.texts.answer(intent, "ja", today) or ""))
                break
            blocks.append(self._block(code, text))
        primary = langs[0]
        if intent.id == "chat.language":
            buttons = self.language_buttons(primary)
        elif intent.id in ("chat.help", "chat.greeting"):
            buttons = self.menu_buttons(primary)
        else:
            buttons = self._intent_buttons(intent.related, primary) + [self._menu_button(primary)]
        return Reply(
            kind="answer",
            lang=primary,
            blocks=tuple(_dedupe_blocks(blocks)),
            links=self._links(intent.links, primary),
            buttons=tuple(buttons[:MAX_BUTTONS]),
            intent=intent.id,
            score=match.score if match else 100.0,
            alternatives=match.alternatives if match else (),
        )

    def _did_you_mean(self, lang: str | None, both: bool, match: Match) -> Reply:
        choices = [match.intent] + [
            alt.intent for alt in match.alternatives if alt.score >= self.matcher.thresholds.suggest
        ]
        primary = self._langs(lang, both)[0]
        buttons = self._intent_buttons(choices[:3], primary) + [self._menu_button(primary)]
        return self._info(ui.DID_YOU_MEAN, lang, UserPrefs(both=both), buttons, "did_you_mean", match)

    def _fallback(self, lang: str | None, both: bool, match: Match | None) -> Reply:
        primary = self._langs(lang, both)[0]
        reply = self._info(ui.FALLBACK, lang, UserPrefs(both=both), self.menu_buttons(primary), "fallback", match)
        return replace(reply, links=self._links((ISA_URL,), primary))

    def _info(
        self,
        message: str,
        lang: str | None,
        prefs: UserPrefs,
        buttons: Sequence[Button],
        kind: ReplyKind = "info",
        match: Match | None = None,
    ) -> Reply:
        langs = self._langs(lang, prefs.both)
        # An untranslated UI string is shown, and labelled, as the English it is.
        found = [(code, self.texts.lookup(code, message)) for code in langs]
        blocks = [
            self._block(code, text, note=False) if text else self._block("en", message, note=False)
            for code, text in found
        ]
        return Reply(
            kind=kind,
            lang=langs[0],
            blocks=tuple(_dedupe_blocks(blocks)),
            buttons=tuple(buttons[:MAX_BUTTONS]),
            intent=match.intent if match and kind != "fallback" else None,
            score=match.score if match else 0.0,
            alternatives=(
                (Alternative(match.intent, match.score), *match.alternatives)
                if match and kind == "fallback"
                else match.alternatives
                if match
                else ()
            ),
        )

    def info(self, message: str, lang: str | None, buttons: Sequence[Button] = ()) -> Reply:
        """A fixed UI message (non-text messages, group intro, errors) in `lang`."""
        return self._info(message, lang, UserPrefs(), buttons or self.menu_buttons(lang or "ja"))

    def _postback(self, msg: Incoming, key: str, prefs: UserPrefs) -> Reply:
        data = msg.postback or ""
        lang = self.language_of(key, msg.lang_hint)
        if data.startswith(LANG) and data[len(LANG) :] in LANGS:
            return self._set_language(key, prefs, data[len(LANG) :])
        if data.startswith(BOTH):
            both = data[len(BOTH) :] == "on"
            self.users.put(key, prefs.with_(both=both))
            message = ui.BILINGUAL_ON if both else ui.BILINGUAL_OFF
            return self._info(message, lang, prefs.with_(both=both), self.menu_buttons(lang or "ja"))
        if data.startswith(INTENT) and data[len(INTENT) :] in self.catalog.intents:
            return self.answer(self.catalog[data[len(INTENT) :]], lang, prefs.both)
        if data.startswith(LANG_MENU):
            page = int(data[len(LANG_MENU) :] or 0) if data[len(LANG_MENU) :].isdigit() else 0
            return self._info(ui.CHOOSE_LANGUAGE, lang, prefs, self.language_buttons(lang or "ja", page))
        return self._info(ui.CHOOSE_LANGUAGE if data == "" else ui.EMPTY, lang, prefs, self.menu_buttons(lang or "ja"))

    # -- pieces ------------------------------------------------------------------------------

    def _langs(self, lang: str | None, both: bool) -> list[str]:
        if lang is None:
            return ["ja", "en"]
        if both and lang != "ja":
            return [lang, "ja"]
        return [lang]

    def _block(self, lang: str, text: str, note: str | bool | None = None, asked: str | None = None) -> Block:
        segments = self.furigana.segments(text) if lang == "ja" else None
        if note is False or lang == "ja":
            note_text = None
        elif isinstance(note, str):
            note_text = self.texts.ui(asked or lang, note)
        else:
            note_text = self.texts.ui(lang, ui.UNOFFICIAL)
        return Block(lang=lang, text=text, segments=segments, note=note_text)

    def _links(self, urls: Sequence[str], lang: str) -> tuple[Link, ...]:
        return tuple(
            Link(url, self.texts.ui(lang, ui.LINK_LABELS[url]) if url in ui.LINK_LABELS else url) for url in urls
        )

    def _intent_buttons(self, ids: Sequence[str], lang: str) -> list[Button]:
        return [Button(self.texts.title(self.catalog[i], lang), INTENT + i) for i in ids if i in self.catalog.intents]

    def _menu_button(self, lang: str) -> Button:
        return Button(self.texts.ui(lang, ui.MENU), INTENT + "chat.help")

    def menu_buttons(self, lang: str) -> list[Button]:
        """The topic menu, with the language menu last."""
        return self._intent_buttons(MENU_INTENTS, lang) + [Button(self.texts.ui(lang, ui.LANGUAGE), LANG_MENU + "0")]

    def language_buttons(self, lang: str, page: int = 0) -> list[Button]:
        """Each language in its own name, 12 a page, then "two languages" and more/back."""
        per_page = MAX_BUTTONS - 1
        pages = [LANGS[i : i + per_page] for i in range(0, len(LANGS), per_page)]
        page = max(0, min(page, len(pages) - 1))
        buttons = [Button(native_name(code), LANG + code) for code in pages[page]]
        following = (page + 1) % len(pages)
        if following:
            buttons.append(Button("…", LANG_MENU + str(following)))
        else:
            buttons.append(Button(self.texts.ui(lang, ui.BILINGUAL), BOTH + "on"))
        return buttons


def _dedupe_blocks(blocks: list[Block]) -> list[Block]:
    seen: set[str] = set()
    out = []
    for block in blocks:
        if block.lang not in seen:
            seen.add(block.lang)
            out.append(block)
    return out


_FILLER = re.compile(
    r"\b(please|pls|plz|in|speak|answer|reply|talk|use|can you|could you|switch to|change to|language|"
    r"lang|bitte|por favor|sil vous plait|po|ma|मा|ही|मै|mein|ni|de)\b|"
    r"でおねがいします|でおねがい|でください|でこたえて|で話して|ではなして|にして|にかえて|で$",
)


def _language_switch_phrases() -> dict[str, str]:
    """Normalised language names → code: own name, English and Japanese names, common spellings."""
    english, japanese = Locale("en"), Locale("ja")
    phrases: dict[str, str] = {}
    extra = {
        "ja": ["にほんご", "にほんごで", "日本語で", "やさしいにほんご", "nihongo", "japanese"],
        "en": ["えいご", "英語", "eigo"],
        "zh": ["中文", "汉语", "普通话", "chinese"],
        "vi": ["tieng viet", "vietnamese"],
        "ne": ["नेपालीमा", "nepali", "nepalima"],
        "tl": ["tagalog", "filipino", "taglish"],
        "pt": ["portugues", "portuguese"],
        "id": ["bahasa indonesia", "indonesia"],
        "mn": ["монголоор", "монгол хэлээр"],
        "my": ["burmese", "myanmar"],
        "km": ["khmer"],
    }
    for code in LANGS:
        locale = babel_locale(code)
        names: list[str | None] = [locale.language_name, english.languages.get(code), japanese.languages.get(code)]
        names += [locale.get_display_name(locale), *extra.get(code, [])]
        for name in names:
            if name:
                phrases.setdefault(normalize(name), code)
    return phrases
