"""A Babel extractor for the intents YAML: answers and titles become catalog entries.

`pybabel extract -F babel.cfg` calls `extract_intents` for intents/*.yaml. Each entry's msgid is the
English text, its msgctxt the intent id (`<id>|answers_before`, `<id>|title` for the others), and
the easy-Japanese text rides along as a translator comment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import yaml

from bot.core.i18n import answer_context
from bot.core.intents import NOT_INTENTS


def extract_intents(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Mapping[str, Any]
) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    """Yield (line, "pgettext", (context, message), comments) for every English text of an intent file.

    Babel reads the context out of the message tuple through its default `pgettext` keyword spec.
    """
    if Path(getattr(fileobj, "name", "")).name in NOT_INTENTS:
        return
    node = yaml.compose(fileobj.read().decode("utf-8"), Loader=yaml.SafeLoader)
    if node is None:
        return
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    for item in items:
        if not isinstance(item, yaml.MappingNode):
            continue
        fields = {key.value: value for key, value in item.value}
        intent_id = fields["id"].value if "id" in fields else None
        if not intent_id:
            continue
        for key in ("answers", "answers_before", "title"):
            texts = fields.get(key)
            if not isinstance(texts, yaml.MappingNode):
                continue
            by_lang = {k.value: v for k, v in texts.value}
            english = by_lang.get("en")
            if english is None:
                continue
            japanese = by_lang.get("ja")
            comments = [f"ja: {japanese.value.strip()}"] if japanese is not None else []
            context = answer_context(intent_id, key)
            yield english.start_mark.line + 1, "pgettext", (context, english.value.strip()), comments
