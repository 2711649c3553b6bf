"""The intents operators write in YAML: their schema, and the validated `Intent` and `Catalog`.

`bot.core.content.load_content` reads them with every other content file; loading is all or nothing:
every problem is reported with file, line and key, and nothing is returned half-loaded.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from bot.core.languages import LANGS, SOURCE_LANGS
from bot.core.normalize import normalize
from bot.core.yaml_lines import Path_, YamlError, line_of, load_with_lines

IntentId = Annotated[str, Field(pattern=r"^[a-z]+(\.[a-z_]+)+$")]
Text = Annotated[str, Field(min_length=1), AfterValidator(lambda s: s.strip())]


def _known_langs(value: dict[str, object]) -> dict[str, object]:
    unknown = sorted(set(value) - set(LANGS))
    if unknown:
        raise ValueError(f"unknown language code(s) {', '.join(unknown)}; use one of {', '.join(LANGS)}")
    return value


def _source_langs(value: dict[str, str]) -> dict[str, str]:
    missing = [lang for lang in SOURCE_LANGS if not value.get(lang, "").strip()]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (easy Japanese and English are required)")
    extra = sorted(set(value) - set(SOURCE_LANGS))
    if extra:
        raise ValueError(f"{', '.join(extra)} belong in translations/<lang>/LC_MESSAGES/messages.po, not in the YAML")
    return value


SourceTexts = Annotated[dict[str, Text], AfterValidator(_source_langs)]

PLACEHOLDERS = frozenset({"{start_date}"})
"""The only placeholders an answer may hold; filled per language (dates in the locale's format)."""
OFFICIAL_HOST = ".go.jp"


def _placeholders(value: dict[str, str]) -> dict[str, str]:
    for lang, text in value.items():
        unknown = set(re.findall(r"\{[^}]*\}", text)) - PLACEHOLDERS
        if unknown:
            raise ValueError(f"{lang}: unknown placeholder(s) {', '.join(sorted(unknown))}; only {{start_date}}")
    return value


_HAND_FURIGANA = re.compile(r"[\u3400-\u9fff々]+[(（][\u3041-\u309fー]+[)）]")


def _no_hand_furigana(value: dict[str, str]) -> dict[str, str]:
    found = _HAND_FURIGANA.search(value.get("ja", ""))
    if found:
        word = re.split(r"[(（]", found.group(0))[0]
        raise ValueError(
            f"ja: hand-written furigana {found.group(0)!r}: readings are added automatically, write {word!r} "
            "alone (a wrong reading is fixed in readings.yaml)"
        )
    return value


AnswerTexts = Annotated[SourceTexts, AfterValidator(_placeholders), AfterValidator(_no_hand_furigana)]


class LinkSpec(BaseModel):
    """A link with its own label (`{url, label: {ja, en}}`), for a page links.yaml does not name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    label: SourceTexts


def _official(value: list[HttpUrl | LinkSpec]) -> list[HttpUrl | LinkSpec]:
    urls = [item.url if isinstance(item, LinkSpec) else item for item in value]
    if not any((url.host or "").endswith(OFFICIAL_HOST) for url in urls):
        raise ValueError(f"at least one link must be an official page (a {OFFICIAL_HOST} address)")
    return value


Examples = Annotated[dict[str, list[Text]], AfterValidator(_known_langs)]


class IntentSpec(BaseModel):
    """One intent as written in YAML (schema in docs/operators.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: IntentId
    title: SourceTexts
    answers: AnswerTexts
    changes_on: dt.date | None = None
    """When `answers` replace `answers_before`; the card's start date (dates.yaml) when not given."""
    answers_before: AnswerTexts | None = None
    links: Annotated[list[HttpUrl | LinkSpec], Field(min_length=1), AfterValidator(_official)]
    related: list[IntentId] = Field(default_factory=list)
    examples: Examples
    not_examples: Examples = Field(default_factory=dict, alias="not")
    """Messages that look like this intent but are not it (the matcher's known confusions)."""

    @model_validator(mode="after")
    def _dated_answers_go_together(self) -> IntentSpec:
        if self.changes_on is not None and self.answers_before is None:
            raise ValueError("changes_on needs answers_before (the wording before that date)")
        return self


@dataclass(frozen=True)
class Intent:
    """A validated intent, ready for matching and answering."""

    id: str
    title: dict[str, str]
    answers: dict[str, str]
    links: tuple[str, ...]
    related: tuple[str, ...]
    examples: dict[str, tuple[str, ...]]
    changes_on: dt.date | None = None
    answers_before: dict[str, str] | None = None
    not_examples: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Messages that look like this intent but are not it."""
    source: str = ""
    """file:line where the intent is defined, for messages to operators."""

    def answer_key(self, today: dt.date) -> str:
        """Which answer text applies on `today`: 'answers' or 'answers_before'."""
        if self.changes_on is not None and today < self.changes_on:
            return "answers_before"
        return "answers"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the intents, located for the operator who fixes it."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.message}"


class ContentError(Exception):
    """The content could not be loaded; `problems` says every reason, with file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Catalog:
    """Every intent, by id, in file order."""

    intents: dict[str, Intent]
    directory: Path

    def __iter__(self) -> Iterator[Intent]:
        return iter(self.intents.values())

    def __len__(self) -> int:
        return len(self.intents)

    def __getitem__(self, intent_id: str) -> Intent:
        return self.intents[intent_id]


def load_intents(files: list[Path], start_date: dt.date) -> tuple[Catalog | None, dict[str, LinkSpec], list[Problem]]:
    """Validate the intent files: the catalog (None when any problem), inline link labels, problems."""
    problems: list[Problem] = []
    loaded: list[tuple[Intent, dict[Path_, int], str]] = []
    labels: dict[str, LinkSpec] = {}
    if not files:
        return None, labels, [Problem("intents", 0, "-", "no intent files (*.yaml) found")]
    for path in files:
        try:
            loaded.extend(_load_file(path, problems, start_date, labels))
        except YamlError as exc:
            problems.append(Problem(str(path), exc.line, "-", exc.message))
    problems.extend(_cross_check(loaded))
    if problems:
        return None, labels, problems
    return Catalog({intent.id: intent for intent, _, _ in loaded}, files[0].parent), labels, problems


def _load_file(
    path: Path, problems: list[Problem], start_date: dt.date, labels: dict[str, LinkSpec]
) -> Iterator[tuple[Intent, dict[Path_, int], str]]:
    """Yield the intents of one file: a mapping (one intent) or a list of mappings (a topic)."""
    data, lines = load_with_lines(path)
    items: list[tuple[object, Path_]] = (
        [(item, (i,)) for i, item in enumerate(data)] if isinstance(data, list) else [(data, ())]
    )
    for raw, prefix in items:
        if not isinstance(raw, dict):
            line = line_of(lines, prefix)
            problems.append(Problem(str(path), line, "-", "an intent must be a mapping with id, answers…"))
            continue
        try:
            spec = IntentSpec.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                key = ".".join(str(part) for part in loc) or "-"
                line = line_of(lines, (*prefix, *loc))
                problems.append(Problem(str(path), line, key, err["msg"].removeprefix("Value error, ")))
            continue
        source = f"{path}:{line_of(lines, (*prefix, 'id'))}"
        for link in spec.links:
            if isinstance(link, LinkSpec):
                labels.setdefault(str(link.url), link)
        intent = Intent(
            id=spec.id,
            title=dict(spec.title),
            answers=dict(spec.answers),
            links=tuple(str(link.url if isinstance(link, LinkSpec) else link) for link in spec.links),
            related=tuple(spec.related),
            examples={lang: tuple(texts) for lang, texts in spec.examples.items()},
            changes_on=(spec.changes_on or start_date) if spec.answers_before else None,
            answers_before=dict(spec.answers_before) if spec.answers_before else None,
            not_examples={lang: tuple(texts) for lang, texts in spec.not_examples.items()},
            source=source,
        )
        yield (
            intent,
            {(k[len(prefix) :]): v for k, v in lines.items() if k[: len(prefix)] == prefix},
            str(path),
        )


def _cross_check(loaded: list[tuple[Intent, dict[Path_, int], str]]) -> Iterator[Problem]:
    """Problems that span intents: duplicate ids, unknown related ids, one example under two intents."""
    ids: dict[str, str] = {}
    for intent, lines, file in loaded:
        if intent.id in ids:
            yield Problem(file, line_of(lines, ("id",)), "id", f"duplicate id {intent.id!r}, first in {ids[intent.id]}")
        else:
            ids[intent.id] = intent.source
    seen: dict[str, tuple[str, str]] = {}
    for intent, lines, file in loaded:
        for i, rel in enumerate(intent.related):
            if rel not in ids:
                yield Problem(file, line_of(lines, ("related", i)), f"related.{i}", f"unknown intent id {rel!r}")
        for lang, texts in intent.examples.items():
            for i, text in enumerate(texts):
                key = _example_key(text)
                if not key:
                    yield Problem(
                        file,
                        line_of(lines, ("examples", lang, i)),
                        f"examples.{lang}.{i}",
                        "example has no letters or digits",
                    )
                    continue
                other = seen.get(key)
                if other and other[0] != intent.id:
                    yield Problem(
                        file,
                        line_of(lines, ("examples", lang, i)),
                        f"examples.{lang}.{i}",
                        f"example {text!r} is also an example of {other[0]} ({other[1]})",
                    )
                seen.setdefault(key, (intent.id, f"{file}:{line_of(lines, ('examples', lang, i))}"))


@functools.lru_cache(maxsize=1 << 16)
def _example_key(text: str) -> str:
    """`normalize` of an example, kept across hot reloads (the messages' cache is too small for every example)."""
    return normalize(text)
