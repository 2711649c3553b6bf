"""Word groups for the matcher (intents/synonyms.yaml): every variant folds to its group's name.

Residents say 役所, 市役所, city hall or shiyakusho for one place; an example written with one of
them should match the others. Operators extend the file; nothing here is language-specific.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.core.yaml_lines import YamlError, load_with_lines


@dataclass(frozen=True)
class Synonyms:
    """Groups of variants, by group name."""

    groups: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, path: Path) -> Synonyms:
        """Load the synonyms file; a missing file means no groups, a wrong one raises YamlError."""
        if not path.exists():
            return cls({})
        data, lines = load_with_lines(path)
        if data is None:
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

    def folder(self, form: Callable[[str], str]) -> Callable[[str], str]:
        """A function replacing every variant (compared in the matcher's `form`) by its group token."""
        token_of: dict[str, str] = {}
        for name, variants in self.groups.items():
            for variant in variants:
                folded = form(variant)
                if folded:
                    token_of.setdefault(folded, f"_{name}_")
        if not token_of:
            return lambda text: text
        parts = []
        for variant in sorted(token_of, key=len, reverse=True):
            escaped = re.escape(variant)
            # Latin variants are whole words ("pr" is not in "problem"); kana ones are not
            # separated by spaces, so they match anywhere.
            parts.append(rf"(?<![a-z0-9]){escaped}(?![a-z0-9])" if variant.isascii() else escaped)
        pattern = re.compile("|".join(parts))
        return lambda text: pattern.sub(lambda m: f" {token_of[m.group()]} ", text)
