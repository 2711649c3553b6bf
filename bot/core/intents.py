"""The intents operators write in YAML: schema, loading and validation.

Loading is all or nothing: every file is validated, every problem is reported with file, line and
key, and a catalog with any problem is never returned half-loaded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from bot.core.languages import LANGS, SOURCE_LANGS
from bot.core.normalize import normalize
from bot.core.yaml_lines import Path_, YamlError, line_of, load_with_lines

READINGS_FILE = "readings.yaml"
"""Lives beside the intents but holds furigana readings, not an intent."""
SYNONYMS_FILE = "synonyms.yaml"
"""Lives beside the intents but holds word groups for the matcher, not an intent."""
OUT_OF_SCOPE_FILE = "out_of_scope.yaml"
"""Phrasings about other topics: matching one of them gives the fallback, never an answer."""
NOT_INTENTS = frozenset({READINGS_FILE, SYNONYMS_FILE, OUT_OF_SCOPE_FILE})

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


AnswerTexts = Annotated[SourceTexts, AfterValidator(_placeholders)]


def _official(value: list[HttpUrl]) -> list[HttpUrl]:
    if not any((url.host or "").endswith(OFFICIAL_HOST) for url in value):
        raise ValueError(f"at least one link must be an official page (a {OFFICIAL_HOST} address)")
    return value


class IntentSpec(BaseModel):
    """One intent as written in YAML (schema documented in intents/README.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: IntentId
    title: SourceTexts
    answers: AnswerTexts
    changes_on: dt.date | None = None
    answers_before: AnswerTexts | None = None
    links: Annotated[list[HttpUrl], Field(min_length=1), AfterValidator(_official)]
    related: list[IntentId] = Field(default_factory=list)
    examples: Annotated[dict[str, list[Text]], AfterValidator(_known_langs)]

    @model_validator(mode="after")
    def _dated_answers_go_together(self) -> IntentSpec:
        if (self.changes_on is None) != (self.answers_before is None):
            raise ValueError("changes_on and answers_before go together")
        return self


class OutOfScopeSpec(BaseModel):
    """intents/out_of_scope.yaml: examples only, by language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    examples: Annotated[dict[str, list[Text]], AfterValidator(_known_langs)]


def load_out_of_scope(directory: Path) -> dict[str, tuple[str, ...]]:
    """The known out-of-scope phrasings by language (none when the file is missing).

    Raises:
        CatalogError: the file is invalid, with line and key.
    """
    path = directory / OUT_OF_SCOPE_FILE
    if not path.exists():
        return {}
    try:
        data, lines = load_with_lines(path)
        spec = OutOfScopeSpec.model_validate(data or {"examples": {}})
    except YamlError as exc:
        raise CatalogError([Problem(str(path), exc.line, "-", exc.message)]) from None
    except ValidationError as exc:
        raise CatalogError(
            [
                Problem(str(path), line_of(lines, tuple(e["loc"])), ".".join(map(str, e["loc"])), e["msg"])
                for e in exc.errors()
            ]
        ) from None
    return {lang: tuple(texts) for lang, texts in spec.examples.items()}


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


class CatalogError(Exception):
    """The intents could not be loaded; `problems` says every reason."""

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


def intent_files(directory: Path) -> list[Path]:
    """The YAML files under `directory` that hold intents."""
    return sorted(p for p in directory.glob("*.yaml") if p.name not in NOT_INTENTS)


def load_catalog(directory: Path) -> Catalog:
    """Load and validate every intent file in `directory`.

    Raises:
        CatalogError: listing every problem found, with file, line and key.
    """
    problems: list[Problem] = []
    loaded: list[tuple[Intent, dict[Path_, int], str]] = []
    files = intent_files(directory)
    if not files:
        raise CatalogError([Problem(str(directory), 0, "-", "no intent files (*.yaml) found")])
    for path in files:
        try:
            loaded.extend(_load_file(path, problems))
        except YamlError as exc:
            problems.append(Problem(str(path), exc.line, "-", exc.message))
    problems.extend(_cross_check(loaded))
    if problems:
        raise CatalogError(problems)
    return Catalog({intent.id: intent for intent, _, _ in loaded}, directory)


def _load_file(path: Path, problems: list[Problem]) -> Iterator[tuple[Intent, dict[Path_, int], str]]:
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
        intent = Intent(
            id=spec.id,
            title=dict(spec.title),
            answers=dict(spec.answers),
            links=tuple(str(url) for url in spec.links),
            related=tuple(spec.related),
            examples={lang: tuple(texts) for lang, texts in spec.examples.items()},
            changes_on=spec.changes_on,
            answers_before=dict(spec.answers_before) if spec.answers_before else None,
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
                key = normalize(text)
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
