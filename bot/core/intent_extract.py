"""A Babel extractor for the content: answers, titles and link labels become catalog entries.

`pybabel extract -F babel.cfg` calls `extract_intents` for each intents/*.yaml. It validates the
whole directory with `load_content`, the loader the bot uses, so a broken file stops the extraction
(naming file and line) instead of leaving entries out. Each answer's msgid is its English text and
its msgctxt the intent id (`<id>|answers_before`, `<id>|title`); link labels have the msgctxt
"link", the rich menu's own labels "rich_menu". The easy Japanese rides along as a translator comment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import IO, Any

from bot.core.content import LINKS_FILE, RICH_MENU_CONTEXT, RICH_MENU_FILE, Content, LinkLabel, load_content
from bot.core.i18n import answer_context
from bot.core.ui_text import LINK_CONTEXT

Entry = tuple[int, str, tuple[str, str], list[str]]


def extract_intents(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Mapping[str, Any]
) -> Iterator[Entry]:
    """Yield (line, "pgettext", (context, message), comments) for every English text of one content file.

    Babel reads the context out of the message tuple through its default `pgettext` keyword spec.

    Raises:
        ContentError: anything in the content directory is invalid.
    """
    path = Path(getattr(fileobj, "name", "")).resolve()
    content = _content(path.parent)
    if path.name == LINKS_FILE:
        for label in {label.en: label for label in content.link_labels.values()}.values():
            yield 1, "pgettext", (LINK_CONTEXT, label.en), [f"ja: {label.ja}"]
        return
    if path.name == RICH_MENU_FILE:
        areas = content.rich_menu.areas if content.rich_menu else ()
        for label in {a.label.en: a.label for a in areas if isinstance(a.label, LinkLabel)}.values():
            yield 1, "pgettext", (RICH_MENU_CONTEXT, label.en), [f"ja: {label.ja}", "a short label (LINE rich menu)"]
        return
    for intent in content.catalog:
        file, _, line = intent.source.rpartition(":")
        if Path(file).resolve() != path:
            continue
        texts = (("answers", intent.answers), ("answers_before", intent.answers_before), ("title", intent.title))
        for key, by_lang in texts:
            if by_lang:
                comments = [f"ja: {by_lang['ja'].strip()}"]
                yield int(line), "pgettext", (answer_context(intent.id, key), by_lang["en"].strip()), comments


@cache
def _content(directory: Path) -> Content:
    return load_content(directory)
