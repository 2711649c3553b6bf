"""Everything operators write, read by one loader: the bot, `intents check` and the extractor share it.

`load_content(dir)` validates the intents and every other file beside them (synonyms, readings,
out-of-scope phrasings, the menu, link labels, the card's start date) and returns them together, or
raises `ContentError` naming every problem with file and line. What `intents check` passes is
exactly what the bot loads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

from bot.core.furigana import Readings
from bot.core.intents import Catalog, ContentError, Examples, LinkSpec, Problem, SourceTexts, load_intents
from bot.core.synonyms import Synonyms
from bot.core.yaml_lines import Path_, YamlError, line_of, load_optional

SYNONYMS_FILE = "synonyms.yaml"
READINGS_FILE = "readings.yaml"
OUT_OF_SCOPE_FILE = "out_of_scope.yaml"
MENU_FILE = "menu.yaml"
LINKS_FILE = "links.yaml"
DATES_FILE = "dates.yaml"
NOT_INTENTS = frozenset({SYNONYMS_FILE, READINGS_FILE, OUT_OF_SCOPE_FILE, MENU_FILE, LINKS_FILE, DATES_FILE})
"""Files beside the intents that hold something else."""
MAX_MENU = 12
"""Topics in the menu: LINE shows 13 quick replies, and the language button is the 13th."""
DEFAULT_START_DATE = dt.date(2026, 6, 14)
"""The day the Specific Residence Card started (ISA leaflet), when dates.yaml is missing."""


@dataclass(frozen=True)
class LinkLabel:
    """How a link is shown: easy Japanese and English; other languages from the catalogs."""

    ja: str
    en: str


@dataclass(frozen=True)
class Content:
    """The validated content of one directory."""

    directory: Path
    catalog: Catalog
    synonyms: Synonyms
    readings: Readings
    out_of_scope: dict[str, tuple[str, ...]]
    menu: tuple[str, ...]
    procedures: dict[Place, tuple[str, ...]]
    """Procedure intents by where they are done (menu.yaml), for the list of procedures."""
    link_labels: dict[str, LinkLabel]
    start_date: dt.date

    def examples_by_language(self) -> list[tuple[str, str]]:
        """(text, language) of every example and out-of-scope phrasing: how residents write each language."""
        pairs = [(t, lang) for i in self.catalog for lang, ts in i.examples.items() for t in ts]
        return pairs + [(t, lang) for lang, ts in self.out_of_scope.items() for t in ts]

    def texts_for_analysis(self) -> list[str]:
        """The bot's own phrasings the matcher reads (examples, not-lists, synonyms, out of scope)."""
        own = [t for i in self.catalog for ts in (*i.examples.values(), *i.not_examples.values()) for t in ts]
        own += [v for vs in self.synonyms.groups.values() for v in vs]
        return own + [t for ts in self.out_of_scope.values() for t in ts]


class _OutOfScope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    examples: Examples


Place = Literal["city_office", "immigration_office"]
"""Where a procedure is done (the leaflet's two lists)."""


class _Menu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    topics: Annotated[list[str], Field(min_length=1, max_length=MAX_MENU)]
    procedures: dict[Place, list[str]] = Field(default_factory=dict)


class _Links(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pages: dict[HttpUrl, SourceTexts]


class _Dates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start_date: dt.date


M = TypeVar("M", bound=BaseModel)


def load_content(directory: Path) -> Content:
    """Load and validate every content file in `directory`.

    Raises:
        ContentError: every problem found, each with file, line and key.
    """
    problems: list[Problem] = []
    dates = _model(directory / DATES_FILE, _Dates, problems, required=False)
    start_date = dates.start_date if dates else DEFAULT_START_DATE
    files = sorted(p for p in directory.glob("*.yaml") if p.name not in NOT_INTENTS)
    catalog, inline_labels, intent_problems = load_intents(files, start_date)
    if not files:
        intent_problems = [Problem(str(directory), 0, "-", "no intent files (*.yaml) found")]
    problems += intent_problems
    synonyms = _other(directory / SYNONYMS_FILE, Synonyms.load, problems)
    readings = _other(directory / READINGS_FILE, Readings.load, problems)
    out_of_scope = _model(directory / OUT_OF_SCOPE_FILE, _OutOfScope, problems, required=False)
    menu = _model(directory / MENU_FILE, _Menu, problems, required=True)
    links = _model(directory / LINKS_FILE, _Links, problems, required=True)
    labels = {str(url): LinkLabel(texts["ja"], texts["en"]) for url, texts in (links.pages if links else {}).items()}
    for url, spec in inline_labels.items():
        labels.setdefault(url, LinkLabel(spec.label["ja"], spec.label["en"]))
    if catalog is not None and (links is not None or not (directory / LINKS_FILE).exists()):
        problems += _check_references(directory, catalog, menu, labels)
    if problems or catalog is None or synonyms is None or readings is None or menu is None:
        raise ContentError(problems)
    return Content(
        directory=directory,
        catalog=catalog,
        synonyms=synonyms,
        readings=readings,
        out_of_scope={lang: tuple(t) for lang, t in out_of_scope.examples.items()} if out_of_scope else {},
        menu=tuple(menu.topics),
        procedures={place: tuple(ids) for place, ids in menu.procedures.items()},
        link_labels=labels,
        start_date=start_date,
    )


def _check_references(
    directory: Path, catalog: Catalog, menu: _Menu | None, labels: dict[str, LinkLabel]
) -> list[Problem]:
    """The menu names existing intents; every link has a label."""
    problems = []
    if menu is not None:
        _, lines = load_optional(directory / MENU_FILE)
        named: list[tuple[Path_, str]] = [(("topics", n), i) for n, i in enumerate(menu.topics)]
        named += [(("procedures", p, n), i) for p, ids in menu.procedures.items() for n, i in enumerate(ids)]
        for at, intent_id in named:
            if intent_id not in catalog.intents:
                key = ".".join(map(str, at))
                problems.append(
                    Problem(str(directory / MENU_FILE), line_of(lines, at), key, f"unknown intent id {intent_id!r}")
                )
    for intent in catalog:
        for url in intent.links:
            if url not in labels:
                problems.append(
                    Problem(
                        intent.source.rpartition(":")[0], int(intent.source.rpartition(":")[2] or 1), "links",
                        f"{url} has no label: add it to {LINKS_FILE} (pages: url: {{ja, en}}) or write "
                        "{url: ..., label: {ja: ..., en: ...}} here",
                    )
                )  # fmt: skip
    return problems


def _other(path: Path, load: Callable[[Path], Any], problems: list[Problem]) -> Any:
    """A file with its own loader (synonyms, readings): its YamlError becomes a problem."""
    try:
        return load(path)
    except YamlError as exc:
        problems.append(Problem(str(path), exc.line, "-", exc.message))
        return None


def _model(path: Path, model: type[M], problems: list[Problem], required: bool) -> M | None:
    """A small content file validated with `model`; problems carry file, line and key."""
    if not path.exists():
        if required:
            problems.append(Problem(str(path), 0, "-", "file missing"))
        return None
    try:
        data, lines = load_optional(path)
        return model.model_validate(data)
    except YamlError as exc:
        problems.append(Problem(str(path), exc.line, "-", exc.message))
    except ValidationError as exc:
        for err in exc.errors():
            loc: Path_ = tuple(err["loc"])
            key = ".".join(str(part) for part in loc) or "-"
            problems.append(Problem(str(path), line_of(lines, loc), key, err["msg"].removeprefix("Value error, ")))
    return None


__all__ = ["Content", "ContentError", "LinkLabel", "LinkSpec", "load_content"]
