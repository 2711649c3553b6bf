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
        # One pattern shaped like a prefix tree: Python's re tries alternatives one by one, and a
        # flat alternation of hundreds of variants costs ~100 µs a message; the tree costs a few.
        pattern = re.compile(_tree_pattern(sorted(token_of)))

        def replace(found: re.Match[str]) -> str:
            variant, text, start = found.group(), found.string, found.start()
            inside_word = (start > 0 and _WORD_CHAR.match(text, start - 1)) or _WORD_CHAR.match(text, found.end())
            if variant.isascii() and inside_word:
                return variant  # Latin variants are whole words: "pr" is not in "problem"
            return f" {token_of[variant]} "

        return lambda text: pattern.sub(replace, text)


_WORD_CHAR = re.compile(r"[a-z0-9]")
Tree = dict[str, "Tree"]


def _tree_pattern(words: list[str]) -> str:
    """A regex matching any of `words`, longest first, built as a character tree."""
    tree: Tree = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _branch(tree)


def _branch(node: Tree) -> str:
    parts = [re.escape(char) + _branch(child) for char, child in sorted(node.items()) if char]
    if not parts:
        return ""
    if "" in node:  # a word ends here: what follows is optional (longer words are tried first)
        return f"(?:{'|'.join(parts)})?"
    return parts[0] if len(parts) == 1 else f"(?:{'|'.join(parts)})"
