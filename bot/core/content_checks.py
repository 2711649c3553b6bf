"""Content rules beyond the schema: what `intents check` reports, and `--strict` requires.

The loader (`bot.core.content`) refuses content the bot cannot run with. These rules are about
quality: enough examples, short easy-Japanese sentences, complete translations. `intents check`
fails on the first kind (an operator who follows docs/operators.md meets them); `--strict`, the
release gate, also fails while any language misses a translation or examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.core import ui_text as ui
from bot.core.content import Content
from bot.core.i18n import Texts, answer_context
from bot.core.languages import LANGS, SOURCE_LANGS

MIN_SOURCE_EXAMPLES = 12
"""Examples per intent in easy Japanese and in English."""
MIN_EXAMPLES = 8
"""Examples per intent in every other language (--strict)."""
MAX_SENTENCE = 90
"""Characters per easy-Japanese sentence: the leaflet's sentences are shorter still."""
_POLITE = re.compile(r"(です|ます|ません|ください|ました)")


@dataclass(frozen=True)
class Finding:
    """One rule not met, located for the operator who fixes it."""

    level: Literal["error", "strict"]
    """error: `intents check` fails; strict: only `intents check --strict` fails."""
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def check_content(content: Content, texts: Texts) -> list[Finding]:
    """Every rule not met, errors first."""
    findings: list[Finding] = []
    for intent in content.catalog:
        for lang in SOURCE_LANGS:
            count = len(intent.examples.get(lang, ()))
            if count < MIN_SOURCE_EXAMPLES:
                findings.append(
                    Finding(
                        "error", intent.source, f"examples.{lang}: {count} examples, at least {MIN_SOURCE_EXAMPLES}"
                    )
                )
        for key, answers in (("answers", intent.answers), ("answers_before", intent.answers_before)):
            if not answers:
                continue
            for sentence in re.split(r"[。\n]", answers["ja"]):
                if len(sentence) > MAX_SENTENCE:
                    findings.append(
                        Finding("error", intent.source, f"{key}.ja: a sentence over {MAX_SENTENCE} characters: "
                                f"{sentence[:30]}… (split it)")
                    )  # fmt: skip
            if not _POLITE.search(answers["ja"]):
                findings.append(Finding("error", intent.source, f"{key}.ja: easy Japanese uses です/ます"))
    findings += _translations(content, texts)
    return sorted(findings, key=lambda f: f.level != "error")


def _translations(content: Content, texts: Texts) -> list[Finding]:
    findings = []
    for lang in LANGS:
        if lang == "en":
            continue
        catalog = f"translations/{lang}/LC_MESSAGES/messages.po"
        for intent in content.catalog if lang not in SOURCE_LANGS else ():
            missing = [
                key
                for key, source in (("answers", intent.answers), ("answers_before", intent.answers_before),
                                    ("title", intent.title))
                if source and texts.lookup(lang, source["en"], answer_context(intent.id, key)) is None
            ]  # fmt: skip
            if missing:
                findings.append(Finding("strict", catalog, f"{intent.id}: {', '.join(missing)} not translated"))
            count = len(intent.examples.get(lang, ()))
            if count < MIN_EXAMPLES:
                findings.append(
                    Finding("strict", intent.source, f"examples.{lang}: {count} examples, at least {MIN_EXAMPLES}")
                )
        untranslated = [m for m in ui.ALL if texts.lookup(lang, m) is None]
        untranslated += [
            label.en
            for label in content.link_labels.values()
            if lang not in SOURCE_LANGS and texts.lookup(lang, label.en, ui.LINK_CONTEXT) is None
        ]
        if untranslated:
            findings.append(
                Finding("strict", catalog, f"{len(untranslated)} UI strings or link labels not translated, "
                        f"e.g. {untranslated[0][:40]!r}")
            )  # fmt: skip
    return findings
