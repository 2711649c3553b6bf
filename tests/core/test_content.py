"""The one content loader: what `intents check` passes is what the bot loads; every problem has file and line."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from bot.core.content import load_content
from bot.core.intents import ContentError
from tests.conftest import CONTENT

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "intents"


def broken(tmp_path: Path, *cases: str) -> Path:
    """A content directory: the minimal menu and links, and the files of the broken cases."""
    for source in (FIXTURES / "minimal", *(FIXTURES / "broken" / case for case in cases)):
        for file in source.glob("*.yaml"):
            shutil.copy(file, tmp_path / file.name)
    return tmp_path


def problems(directory: Path) -> str:
    with pytest.raises(ContentError) as caught:
        load_content(directory)
    return str(caught.value)


def test_valid_content_loads_with_dated_answers() -> None:
    content = load_content(FIXTURES / "valid")
    assert list(content.catalog.intents) == ["card.about", "card.start_date"]
    start = content.catalog["card.start_date"]
    assert start.answers_before is not None
    assert start.changes_on == content.start_date, "the start date is said in one place"
    assert content.menu == ("card.about", "card.start_date")


def test_the_fixture_content_loads_whole() -> None:
    content = load_content(CONTENT)
    assert content.start_date == dt.date(2026, 6, 14)
    assert content.synonyms.groups and content.readings.words and content.out_of_scope["en"]
    assert set(content.menu) <= set(content.catalog.intents)
    assert all(url in content.link_labels for intent in content.catalog for url in intent.links)


@pytest.mark.parametrize(
    ("case", "where", "says"),
    [
        ("unknown_key", "a.yaml:6: colour", "Extra inputs"),
        ("missing_answer", "a.yaml:3: answers", "missing en"),
        ("bad_url", "a.yaml:5: links.0", "URL"),
        ("unofficial_link", "a.yaml:4: links", "official"),
        ("duplicate_id", "b.yaml:2: id", "duplicate id 'card.about'"),
        ("unknown_related", "a.yaml:6: related.0", "unknown intent id 'card.nowhere'"),
        ("duplicate_example", "a.yaml:14: examples.en.1", "also an example of card.about"),
        ("bad_yaml", "a.yaml:3", "is not closed"),
        ("unknown_lang", "a.yaml:5: examples", "unknown language code(s) xx"),
        ("dated_half", "a.yaml:1", "changes_on needs answers_before"),
        ("bad_placeholder", "a.yaml:3: answers", "unknown placeholder(s) {fee}"),
        ("missing_id", "a.yaml:1: id", "Field required"),
        ("hand_furigana", "a.yaml:3: answers", "hand-written furigana '警察(けいさつ)'"),
        ("link_without_label", "a.yaml:1: links", "has no label"),
        ("misindented_list", "a.yaml:10", "a list item must start with '- '"),
        ("broken_synonyms", "synonyms.yaml:2", "must be a list of words"),
        ("broken_readings", "readings.yaml:2", "the reading must be hiragana"),
        ("broken_out_of_scope", "out_of_scope.yaml:2: examples.en", "valid list"),
        ("broken_menu", "menu.yaml:3: topics.1", "unknown intent id 'card.nowhere'"),
        ("broken_links", "links.yaml:2: pages.https://www.moj.go.jp/isa/tokutei.html", "missing en"),
        ("broken_dates", "dates.yaml:1: start_date", "date"),
        ("rich_menu_unknown_intent", "rich_menu.yaml:10: areas.1.topics.1", "unknown intent id 'card.nowhere'"),
        ("rich_menu_two_actions", "rich_menu.yaml:4: areas.0", "either `intent`"),
        ("rich_menu_two_actions", "rich_menu.yaml:9: areas.1.icon", "Input should be 'card'"),
        ("rich_menu_grid", "rich_menu.yaml:1", "2 rows of 2 need 4 areas, not 1"),
    ],
)
def test_a_broken_file_is_named_with_its_line(tmp_path: Path, case: str, where: str, says: str) -> None:
    message = problems(broken(tmp_path, case))
    assert where in message and says in message, message


def test_problems_in_several_files_are_all_reported(tmp_path: Path) -> None:
    message = problems(broken(tmp_path, "broken_menu", "broken_synonyms"))
    assert "menu.yaml" in message and "synonyms.yaml" in message


def test_the_rich_menu_is_read_with_its_sections() -> None:
    menu = load_content(CONTENT).rich_menu
    assert menu is not None and len(menu.areas) == menu.rows * menu.columns
    sections = menu.sections()
    assert all(area.id in sections for area in menu.areas if area.topics)
    assert all(area.label for area in menu.areas), "an area that answers an intent is labelled with its title"


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    assert "no intent files" in problems(tmp_path)
