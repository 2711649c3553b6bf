"""Building a `Reply`: the answer of an intent, a did-you-mean, the fallback, a fixed message.

Blocks per language (easy Japanese with furigana, a notice on translations), official links with
their labels, the buttons (related topics, the menu or one of its sections, the language menu) and
cards (the procedures, where they are done): the same for every platform, which only renders them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from bot.core import ui_text as ui
from bot.core.content import RICH_MENU_CONTEXT, LinkLabel, MenuArea, Place, RichMenu
from bot.core.furigana import Furigana
from bot.core.i18n import Texts, answer_context
from bot.core.intents import Catalog, Intent
from bot.core.languages import LANGS, native_name
from bot.core.models import Block, Button, Candidate, Card, Link, Reply, ReplyKind, Segment
from bot.core.postback import Postback

MAX_BUTTONS = 13
"""LINE allows 13 quick replies; every platform gets the same buttons."""
MAX_CHOICES = 3
"""Intents a did-you-mean offers."""
SURE = 90.0
"""An answer at least this probable (%) needs no runner-up buttons."""
RUNNER_UP = 5.0
"""A runner-up at least this probable (%) is offered beside an answer that is not sure."""
ISA_URL = "https://www.moj.go.jp/isa/tokutei.html"
"""The official page every fallback links."""
HELP_INTENT = "chat.help"
"""The intent whose answer goes with the topic menu (and with a section of it)."""
LIST_INTENT = "procedure.list"
"""The intent whose answer comes with the procedures (menu.yaml) as cards."""
PLACES: dict[Place, str] = {"city_office": ui.WHERE_CITY_OFFICE, "immigration_office": ui.WHERE_IMMIGRATION_OFFICE}
"""Where a procedure is done, as its card says it."""


class ReplyBuilder:
    """Composes replies from the content; holds no per-user state."""

    def __init__(
        self,
        catalog: Catalog,
        texts: Texts,
        furigana: Furigana,
        menu: Sequence[str],
        link_labels: Mapping[str, LinkLabel],
        today: Callable[[], dt.date],
        procedures: Mapping[Place, Sequence[str]] | None = None,
        rich_menu: RichMenu | None = None,
    ) -> None:
        self.catalog = catalog
        self.texts = texts
        self.furigana = furigana
        self.menu = tuple(menu)
        self.link_labels = dict(link_labels)
        self.today = today
        self.procedures = {place: tuple(ids) for place, ids in (procedures or {}).items()}
        """Procedure intents by where they are done: the cards of the list of procedures."""
        self.rich_menu = rich_menu
        self.sections = rich_menu.sections() if rich_menu else {}
        """Menu section id → its topics (the rich menu's areas that offer topics)."""

    # -- replies -----------------------------------------------------------------------------

    def answer(
        self, intent: Intent, lang: str | None, both: bool = False, score: float = 100.0,
        candidates: Sequence[Candidate] = (),
    ) -> Reply:  # fmt: skip
        """The answer of `intent` in `lang` (None: easy Japanese with English)."""
        langs = reply_langs(lang, both)
        blocks: list[Block] = []
        today = self.today()
        for code in langs:
            text = self.texts.answer(intent, code, today)
            if text is None:  # untranslated: English and easy Japanese instead, never a crash
                english = self.texts.answer(intent, "en", today) or ""
                blocks = [self.block("en", english, ui.UNTRANSLATED, code)]
                blocks.append(self.block("ja", self.texts.answer(intent, "ja", today) or ""))
                break
            blocks.append(self.block(code, text))
        primary = langs[0]
        if intent.id == "chat.language":
            buttons = self.language_buttons(primary, both=both)
        elif intent.id in (HELP_INTENT, "chat.greeting"):
            buttons = self.menu_buttons(primary)
        else:
            # Not quite sure: the runners-up come first, so a resident who meant one of them is one tap away.
            unsure = [c.intent for c in candidates[1:MAX_CHOICES] if score < SURE and c.score >= RUNNER_UP]
            buttons = [*self.intent_buttons([*unsure, *intent.related], primary), self.menu_button(primary)]
        return Reply(
            kind="answer",
            lang=primary,
            blocks=_one_per_language(blocks),
            links=self.links(intent.links, primary),
            buttons=_distinct(buttons),
            intent=intent.id,
            score=score,
            candidates=tuple(candidates),
            cards=self.cards(langs) if intent.id == LIST_INTENT else (),
        )

    def section(self, section: str, lang: str | None, both: bool = False) -> Reply:
        """A section of the menu (a rich menu area): the menu's answer with the section's topics as buttons."""
        topics = self.sections.get(section)
        reply = self.answer(self.catalog[HELP_INTENT], lang, both)
        if topics is None:  # an old area, gone from the content: the whole menu
            return reply
        primary = reply_langs(lang, both)[0]
        buttons = [*self.intent_buttons(topics, primary)[: MAX_BUTTONS - 1], self.menu_button(primary)]
        return replace(reply, buttons=_distinct(buttons))

    def did_you_mean(self, lang: str | None, both: bool, candidates: Sequence[Candidate], score: float) -> Reply:
        """A short choice between the first candidates."""
        primary = reply_langs(lang, both)[0]
        choices = [c.intent for c in candidates if c.intent in self.catalog.intents][:MAX_CHOICES]
        buttons = [*self.intent_buttons(choices, primary), self.menu_button(primary)]
        return self.info(ui.DID_YOU_MEAN, lang, buttons, both, kind="did_you_mean", score=score, candidates=candidates)

    def fallback(self, lang: str | None, both: bool, candidates: Sequence[Candidate] = (), score: float = 0.0) -> Reply:
        """We cannot answer: the menu and the official page."""
        primary = reply_langs(lang, both)[0]
        reply = self.info(
            ui.FALLBACK, lang, self.menu_buttons(primary), both, kind="fallback", score=score, candidates=candidates
        )
        return replace(reply, links=self.links((ISA_URL,), primary))

    def info(
        self,
        message: str,
        lang: str | None,
        buttons: Sequence[Button] = (),
        both: bool = False,
        kind: ReplyKind = "info",
        score: float = 0.0,
        candidates: Sequence[Candidate] = (),
    ) -> Reply:
        """A fixed UI message in `lang`; an untranslated one is shown, and labelled, as the English it is."""
        langs = reply_langs(lang, both)
        blocks = []
        for code in langs:
            text = self.texts.lookup(code, message)
            blocks.append(self.block(code, text, note=False) if text else self.block("en", message, note=False))
        return Reply(
            kind=kind,
            lang=langs[0],
            blocks=_one_per_language(blocks),
            buttons=_distinct(buttons or self.menu_buttons(langs[0])),
            score=score,
            candidates=tuple(candidates),
        )

    def warned(self, reply: Reply, message: str) -> Reply:
        """`reply` with `message` first in each of its languages (a warning, then the answer)."""
        blocks = []
        for block in reply.blocks:
            warning = self.block(block.lang, self.texts.ui(block.lang, message), note=False)
            segments = None
            if warning.segments is not None and block.segments is not None:
                segments = (*warning.segments, Segment("\n\n"), *block.segments)
            blocks.append(replace(block, text=f"{warning.text}\n\n{block.text}", segments=segments))
        return replace(reply, blocks=tuple(blocks))

    # -- pieces ------------------------------------------------------------------------------

    def cards(self, langs: Sequence[str]) -> tuple[Card, ...]:
        """The procedures as cards, in the reply's languages, by where they are done."""
        primary = langs[0]
        out = []
        for group, ids in self.procedures.items():
            place = "\n".join(self.line(code, self.texts.ui(code, PLACES[group])) for code in langs)
            for intent_id in ids:
                intent = self.catalog.intents.get(intent_id)
                if intent is None:
                    continue
                title = "\n".join(self.line(code, self.texts.title(intent, code)) for code in langs)
                button = Button(self.texts.ui(primary, ui.READ_ANSWER), Postback.intent(intent_id))
                out.append(Card(title=title, place=place, group=group, button=button))
        return tuple(out)

    def line(self, lang: str, text: str) -> str:
        """A short text for a chat: easy Japanese with its furigana inline, other languages as they are."""
        return self.furigana.render(text, "inline") if lang == "ja" else text

    def area_label(self, area: MenuArea, lang: str) -> tuple[str, str]:
        """A rich menu area's label in `lang`, and the language it is really in (English when untranslated)."""
        if isinstance(area.label, LinkLabel):
            if lang == "ja":
                return area.label.ja, "ja"
            found = self.texts.lookup(lang, area.label.en, RICH_MENU_CONTEXT)
            return (found, lang) if found else (area.label.en, "en")
        intent = self.catalog[area.label]
        title = self.texts.title(intent, lang)
        translated = (
            lang in intent.title
            or title != intent.title["en"]
            or self.texts.lookup(lang, intent.title["en"], answer_context(intent.id, "title"))
        )
        return title, lang if translated else "en"

    def area_press(self, area: MenuArea) -> Postback:
        """What a tap on a rich menu area sends: its intent, or its section of the menu."""
        return Postback.intent(area.intent) if area.intent else Postback.menu(area.id)

    def block(self, lang: str, text: str, note: str | bool | None = None, asked: str | None = None) -> Block:
        """One language's part: furigana on easy Japanese, a notice on translations."""
        segments = self.furigana.segments(text) if lang == "ja" else None
        if note is False or lang == "ja":
            note_text = None
        elif isinstance(note, str):
            note_text = self.texts.ui(asked or lang, note)
        else:
            note_text = self.texts.ui(lang, ui.UNOFFICIAL)
        return Block(lang=lang, text=text, segments=segments, note=note_text)

    def links(self, urls: Sequence[str], lang: str) -> tuple[Link, ...]:
        """Official pages with their labels in `lang` (a label missing from every source shows the URL)."""
        out = []
        for url in urls:
            label = self.link_labels.get(url)
            if label is None:
                out.append(Link(url, url))
            elif lang == "ja":
                out.append(Link(url, label.ja))
            else:
                out.append(Link(url, self.texts.lookup(lang, label.en, ui.LINK_CONTEXT) or label.en))
        return tuple(out)

    def intent_buttons(self, ids: Sequence[str], lang: str) -> list[Button]:
        """A button per intent, labelled with its title in `lang`."""
        return [
            Button(self.texts.title(self.catalog[i], lang), Postback.intent(i))
            for i in ids
            if i in self.catalog.intents
        ]

    def menu_button(self, lang: str) -> Button:
        """The button back to the topic menu."""
        return Button(self.texts.ui(lang, ui.MENU), Postback.menu())

    def menu_buttons(self, lang: str) -> list[Button]:
        """The topic menu, with the language menu last."""
        language = Button(self.texts.ui(lang, ui.LANGUAGE), Postback.language_menu())
        return [*self.intent_buttons(self.menu, lang)[: MAX_BUTTONS - 1], language]

    def language_buttons(self, lang: str, page: int = 0, both: bool = False) -> list[Button]:
        """Each language in its own name, 12 a page, then "two languages" (or "one language") or more."""
        per_page = MAX_BUTTONS - 1
        pages = [LANGS[i : i + per_page] for i in range(0, len(LANGS), per_page)]
        page = max(0, min(page, len(pages) - 1))
        buttons = [Button(native_name(code), Postback.language(code)) for code in pages[page]]
        following = (page + 1) % len(pages)
        if following:
            buttons.append(Button("…", Postback.language_menu(following)))
        elif both:
            buttons.append(Button(self.texts.ui(lang, ui.MONOLINGUAL), Postback.bilingual(False)))
        else:
            buttons.append(Button(self.texts.ui(lang, ui.BILINGUAL), Postback.bilingual(True)))
        return buttons

    def labels(self) -> dict[str, tuple[Postback, frozenset[str]]]:
        """Every button label → its press and the languages it is a label in, so that typing a label
        presses it (and says which language the resident reads)."""
        table: dict[str, tuple[Postback, frozenset[str]]] = {}

        def add(label: str, press: Postback, lang: str) -> None:
            known, langs = table.get(label, (press, frozenset()))
            table[label] = (known, langs | {lang})

        for lang in LANGS:
            for intent in self.catalog:
                add(self.texts.title(intent, lang), Postback.intent(intent.id), lang)
            for area in self.rich_menu.areas if self.rich_menu else ():
                if isinstance(area.label, LinkLabel):  # the menu's own words: typing one opens its section
                    words, written = self.area_label(area, lang)
                    if written == lang:
                        add(words, self.area_press(area), lang)
            for message, press in (
                (ui.MENU, Postback.menu()),
                (ui.LANGUAGE, Postback.language_menu()),
                (ui.BILINGUAL, Postback.bilingual(True)),
                (ui.MONOLINGUAL, Postback.bilingual(False)),
            ):
                text = self.texts.lookup(lang, message)
                if text:
                    add(text, press, lang)
        return table


def reply_langs(lang: str | None, both: bool) -> list[str]:
    """The languages of a reply: the user's (and easy Japanese in two-language mode), or ja + en."""
    if lang is None:
        return ["ja", "en"]
    if both and lang != "ja":
        return [lang, "ja"]
    return [lang]


def _one_per_language(blocks: list[Block]) -> tuple[Block, ...]:
    seen: set[str] = set()
    out = []
    for block in blocks:
        if block.lang not in seen:
            seen.add(block.lang)
            out.append(block)
    return tuple(out)


def _distinct(buttons: Sequence[Button]) -> tuple[Button, ...]:
    """Buttons without repeats (same press or same label), at most `MAX_BUTTONS`."""
    seen: set[object] = set()
    out = []
    for button in buttons:
        if button.postback in seen or button.label in seen:
            continue
        seen.update((button.postback, button.label))
        out.append(button)
    return tuple(out[:MAX_BUTTONS])
