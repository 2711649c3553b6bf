"""Everything operators write, read by one loader: the bot, `intents check` and the extractor share it.

`load_content(dir)` validates the intents and every other file beside them (synonyms, readings,
out-of-scope phrasings, the menu, the rich menu's layout, link labels, the card's start date) and returns
them together, or
raises `ContentError` naming every problem with file and line. What `intents check` passes is
exactly what the bot loads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

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
RICH_MENU_FILE = "rich_menu.yaml"
NOT_INTENTS = frozenset(
    {SYNONYMS_FILE, READINGS_FILE, OUT_OF_SCOPE_FILE, MENU_FILE, LINKS_FILE, DATES_FILE, RICH_MENU_FILE}
)
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


Icon = Literal["card", "form", "pin", "list", "question", "globe", "person", "calendar"]
"""The pictures a rich menu area can carry (drawn by `bot.adapters.rich_menu_image`)."""
RICH_MENU_CONTEXT = "rich_menu"
"""The msgctxt of the rich menu's own labels in the catalogs."""


@dataclass(frozen=True)
class MenuArea:
    """One area of the rich menu: a label and an icon; a tap answers `intent` or opens `topics`."""

    id: str
    label: str | LinkLabel
    """An intent id (its title is the label), or words of its own in easy Japanese and English."""
    icon: Icon
    intent: str | None
    topics: tuple[str, ...]
    """The topics a tap offers as buttons (a section of the menu, `Postback.menu(id)`); empty with `intent`."""

    @property
    def reachable(self) -> tuple[str, ...]:
        """The intents this area reaches in one tap (`intent`) or two (`topics`)."""
        return (self.intent,) if self.intent else self.topics


@dataclass(frozen=True)
class RichMenu:
    """The panel of areas under the chat (LINE's rich menu), from rich_menu.yaml: a grid, row by row."""

    rows: int
    columns: int
    areas: tuple[MenuArea, ...]

    def sections(self) -> dict[str, tuple[str, ...]]:
        """Area id → its topics, for the areas that open a section of the menu."""
        return {area.id: area.topics for area in self.areas if area.topics}


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
    rich_menu: RichMenu | None = None
    """The rich menu's layout (rich_menu.yaml), if the content has one."""

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


class _Words(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ja: Annotated[str, Field(min_length=1, max_length=40)]
    en: Annotated[str, Field(min_length=1, max_length=40)]


class _Area(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Annotated[str, Field(pattern=r"^[a-z][a-z_]{0,29}$")]
    label: str | _Words | None = None
    icon: Icon
    intent: str | None = None
    topics: Annotated[list[str], Field(min_length=1, max_length=MAX_MENU)] | None = None

    @model_validator(mode="after")
    def _one_action(self) -> _Area:
        if (self.intent is None) == (self.topics is None):
            raise ValueError("an area has either `intent` (a tap answers it) or `topics` (a tap offers them)")
        if self.label is None and self.intent is None:
            raise ValueError("an area with `topics` needs a `label` (an intent id, or {ja: ..., en: ...})")
        return self


class _RichMenu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rows: Literal[1, 2] = 2
    columns: Annotated[int, Field(ge=1, le=4)] = 3
    areas: Annotated[list[_Area], Field(min_length=1, max_length=8)]

    @model_validator(mode="after")
    def _grid(self) -> _RichMenu:
        if len(self.areas) != self.rows * self.columns:
            raise ValueError(f"{self.rows} rows of {self.columns} need {self.rows * self.columns} areas, "
                             f"not {len(self.areas)}")  # fmt: skip
        ids = [area.id for area in self.areas]
        if len(set(ids)) != len(ids):
            raise ValueError(f"area ids must differ: {sorted({i for i in ids if ids.count(i) > 1})}")
        return self


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
    rich_menu = _model(directory / RICH_MENU_FILE, _RichMenu, problems, required=False)
    links = _model(directory / LINKS_FILE, _Links, problems, required=True)
    labels = {str(url): LinkLabel(texts["ja"], texts["en"]) for url, texts in (links.pages if links else {}).items()}
    for url, spec in inline_labels.items():
        labels.setdefault(url, LinkLabel(spec.label["ja"], spec.label["en"]))
    if catalog is not None and (links is not None or not (directory / LINKS_FILE).exists()):
        problems += _check_references(directory, catalog, menu, labels)
        problems += _check_rich_menu(directory, catalog, rich_menu)
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
        rich_menu=_rich_menu(rich_menu) if rich_menu else None,
    )


def _rich_menu(model: _RichMenu) -> RichMenu:
    areas = tuple(
        MenuArea(
            id=area.id,
            label=LinkLabel(area.label.ja, area.label.en) if isinstance(area.label, _Words) else area.label or "",
            icon=area.icon,
            intent=area.intent,
            topics=tuple(area.topics or ()),
        )
        for area in model.areas
    )
    areas = tuple(area if area.label else replace(area, label=area.intent or "") for area in areas)
    return RichMenu(rows=model.rows, columns=model.columns, areas=areas)


def _check_rich_menu(directory: Path, catalog: Catalog, menu: _RichMenu | None) -> list[Problem]:
    """The rich menu names existing intents (as labels, answers and topics)."""
    if menu is None:
        return []
    _, lines = load_optional(directory / RICH_MENU_FILE)
    problems = []
    for n, area in enumerate(menu.areas):
        named: list[tuple[Path_, str]] = [(("areas", n, "topics", k), i) for k, i in enumerate(area.topics or ())]
        if area.intent is not None:
            named.append((("areas", n, "intent"), area.intent))
        if isinstance(area.label, str):
            named.append((("areas", n, "label"), area.label))
        for at, intent_id in named:
            if intent_id not in catalog.intents:
                file, key = str(directory / RICH_MENU_FILE), ".".join(map(str, at))
                problems.append(Problem(file, line_of(lines, at), key, f"unknown intent id {intent_id!r}"))
    return problems


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


__all__ = ["Content", "ContentError", "LinkLabel", "LinkSpec", "MenuArea", "RichMenu", "load_content"]
