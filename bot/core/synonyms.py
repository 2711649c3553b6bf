"""Word groups for the matcher (intents/synonyms.yaml): every variant folds to its group's name.

Residents say 役所, 市役所, city hall or shiyakusho for one place; an example written with one of
them should match the others. Operators extend the file; nothing here is language-specific.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.core.cache_files import kept_forms
from bot.core.word_tree import WordSet
from bot.core.yaml_lines import YamlError, load_optional


@dataclass(frozen=True)
class Synonyms:
    """Groups of variants, by group name."""

    groups: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, path: Path) -> Synonyms:
        """Load the synonyms file; a missing file means no groups, a wrong one raises YamlError."""
        data, lines = load_optional(path)
        if data == {}:
            return cls({})
        if not isinstance(data, dict) or set(data) != {"groups"} or not isinstance(data["groups"], dict):
            raise YamlError(path, 1, "expected a mapping with one key, 'groups', of name: [variants]")
        groups: dict[str, tuple[str, ...]] = {}
        for name, variants in data["groups"].items():
            line = lines.get(("groups", name), 1)
            if not isinstance(name, str) or not re.fullmatch(r"[a-z_]+", name):
                raise YamlError(path, line, f"group name {name!r} must be lowercase letters and _")
            if not isinstance(variants, list) or not all(isinstance(v, str) and v.strip() for v in variants):
                raise YamlError(path, line, f"group {name!r} must be a list of words")
            groups[name] = tuple(variants)
        return cls(groups)

    def folder(self, form: Callable[[str], str], cache: Path | None = None) -> Callable[[str], str]:
        """A function replacing every variant (compared in the matcher's `form`) by its group token.

        Reading thousands of variants into their forms is most of a later start's matcher build: with
        `cache` (a file named after everything `form` depends on), the forms are kept there.
        """
        variants = [variant for group in self.groups.values() for variant in group]
        forms = kept_forms(variants, form, cache, "the synonyms' forms")
        token_of: dict[str, str] = {}
        at = 0
        for number, group in enumerate(self.groups.values()):
            # A private-use character, sixteen times: no two groups share a character, so the
            # fuzzy ratio never finds "_must_" and "_merit_" alike.
            token = chr(_PRIVATE_USE + number) * 16
            for folded in forms[at : at + len(group)]:
                if folded:
                    token_of.setdefault(folded, token)
            at += len(group)
        if not token_of:
            return lambda text: text
        # Latin variants are whole words ("pr" is not in "problem"); when a longer one is not, a shorter
        # one still is ("tokutei kartlari" still folds "tokutei"); the others are found anywhere.
        found = WordSet({variant: f" {token} " for variant, token in token_of.items()}, str.isascii,
                        lambda char: char.isascii() and char.isalnum(), _LATIN_WORD.__contains__)  # fmt: skip
        return found.sub


_PRIVATE_USE = 0xE000
_LATIN_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
"""What continues a Latin word in a form (normalised: lower case)."""
