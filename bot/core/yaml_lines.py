"""YAML that remembers where each value came from, so an error can name file, line and key."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

try:  # the C parser is much faster; fall back where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]


def _scalars() -> yaml.SafeLoader:
    """Turns scalar nodes into Python values the way safe_load does (dates, ints, strings).

    One per file: a loader remembers every node it constructed (with its marks) until its document
    ends, and `_build` never ends one, so a loader kept for the process held every node of the
    content, about 9 MB.
    """
    return yaml.SafeLoader("")


class YamlError(ValueError):
    """A file that is not valid YAML, with the line of the problem."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


def load_with_lines(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Load a YAML file and map every key path, e.g. ("answers", "ja"), to its 1-based line.

    Duplicate keys in one mapping are errors (PyYAML would silently keep the last).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(path, 1, f"not UTF-8: {exc.reason}") from None
    return _parsed(path, text)


@functools.lru_cache(maxsize=256)
def _parsed(path: Path, text: str) -> tuple[Any, dict[Path_, int]]:
    """`load_with_lines` of this text: a hot reload parses again only the files that changed (callers only
    read the result, which is shared)."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise YamlError(path, line, explain(exc)) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses (a control character)
        line = text.count("\n", 0, exc.position) + 1
        raise YamlError(path, line, f"a character YAML does not allow (#x{exc.character:04x}): remove it") from None
    except yaml.YAMLError as exc:
        raise YamlError(path, 1, str(exc).splitlines()[0][:200]) from None
    lines: dict[Path_, int] = {}
    if node is None:
        return None, lines
    return _build(node, (), lines, path, _scalars()), lines


_EXPLANATIONS = (
    ("did not find expected key", "this line does not line up with the lines above it: a list item must "
     "start with '- ' at the same indent as the others, and a key at the same column as its neighbours"),
    ("did not find expected '-' indicator", "a list item must start with '- ' at the same indent as the others"),
    ("mapping values are not allowed", "a ':' where none can be: if the text holds ': ', put the whole text in "
     "quotes; otherwise check this line's indent"),
    ("found character that cannot start any token", "a character YAML cannot start with here (a tab? indent "
     "with spaces only; a text starting with @, ` or % needs quotes)"),
    ("found unexpected end of stream", "a quote, [ or { is opened and never closed"),
    ("did not find expected ',' or '}'", "a { ... } is not closed, or a text inside it needs quotes"),
    ("did not find expected ',' or ']'", "a [ ... ] is not closed, or a text inside it needs quotes"),
    ("could not find expected ':'", "a key needs ':' after it, or a long text needs quotes or |-"),
)  # fmt: skip


def explain(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem in words an operator can act on, with PyYAML's own words after it."""
    problem = str(exc.problem or exc)
    for start, meaning in _EXPLANATIONS:
        if problem.startswith(start):
            return f"{meaning} (YAML: {problem})"
    return problem


def _build(node: yaml.Node, at: Path_, lines: dict[Path_, int], path: Path, scalars: yaml.SafeLoader) -> Any:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = scalars.construct_object(key_node)
            if key in out:
                raise YamlError(path, key_node.start_mark.line + 1, f"duplicate key {key!r}")
            out[key] = _build(value_node, (*at, key), lines, path, scalars)
            lines[(*at, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*at, i), lines, path, scalars) for i, item in enumerate(node.value)]
    return scalars.construct_object(node)


def load_optional(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Like `load_with_lines`, but a missing or empty file is an empty mapping (optional files)."""
    if not path.exists():
        return {}, {}
    data, lines = load_with_lines(path)
    return ({} if data is None else data), lines


def line_of(lines: dict[Path_, int], at: Path_) -> int:
    """The line of `at`, or of its nearest ancestor that has one."""
    while at not in lines and at:
        at = at[:-1]
    return lines.get(at, 1)
