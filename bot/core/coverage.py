"""How complete each language is: answers, examples and UI strings, for `intents check`."""

from __future__ import annotations

from bot.core import ui_text as ui
from bot.core.i18n import Texts, answer_context
from bot.core.intents import Catalog
from bot.core.languages import LANGS, SOURCE_LANGS

MIN_EXAMPLES = 8
"""Example phrasings per intent and language for a language to count as covered."""


def coverage_table(catalog: Catalog, texts: Texts) -> tuple[bool, list[str]]:
    """(everything covered?, table lines) for every language × answers, examples, UI strings."""
    total = len(catalog)
    lines = [f"{'lang':<5} {'answers':>14} {'examples':>14} {'ui strings':>14}"]
    complete = True
    for lang in LANGS:
        answers = sum(1 for intent in catalog if _has_answer(texts, intent.id, intent.answers, lang))
        examples = sum(1 for intent in catalog if len(intent.examples.get(lang, ())) >= MIN_EXAMPLES)
        strings = sum(1 for message in ui.ALL if lang == "en" or texts.lookup(lang, message) is not None)
        complete &= answers == total and examples == total and strings == len(ui.ALL)
        lines.append(
            f"{lang:<5} {_cell(answers, total):>14} {_cell(examples, total):>14} {_cell(strings, len(ui.ALL)):>14}"
        )
    lines.append(f"(examples: intents with at least {MIN_EXAMPLES} examples in that language)")
    return complete, lines


def _has_answer(texts: Texts, intent_id: str, answers: dict[str, str], lang: str) -> bool:
    if lang in SOURCE_LANGS:
        return lang in answers
    return texts.lookup(lang, answers["en"], answer_context(intent_id)) is not None


def _cell(n: int, total: int) -> str:
    return f"{n}/{total} {100 * n // max(total, 1):3d}%"
