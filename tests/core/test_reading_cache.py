"""The readings cache: the catalog's kana readings survive a restart, and nothing else goes in."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.core.factory import build_assistant
from bot.core.furigana import SudachiAnalyser, has_kanji, kana_reader
from bot.core.reading_cache import FILE_NAME, ReadingCache
from tests.conftest import AFTER_START, INTENTS, TRANSLATIONS


class Counting:
    """The real reader, counting the texts it was asked to read."""

    def __init__(self) -> None:
        self.read = kana_reader(SudachiAnalyser())
        self.texts: list[str] = []

    def __call__(self, text: str) -> str:
        self.texts.append(text)
        return self.read(text)


def test_readings_are_kept_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    first = Counting()
    cache = ReadingCache(path, first, "v1")
    assert cache("在留カード") == "ざいりゅうカード" and cache("card") == "card"
    cache.save()
    assert first.texts == ["在留カード"]  # text without kanji is not read, nor kept
    assert json.loads(path.read_text(encoding="utf-8"))["readings"] == {"在留カード": "ざいりゅうカード"}
    second = Counting()
    again = ReadingCache(path, second, "v1")
    assert again("在留カード") == "ざいりゅうカード" and second.texts == [] and again.misses == 0


def test_only_texts_read_before_save_are_written(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    cache = ReadingCache(path, Counting(), "v1")
    cache("特定在留カード")
    cache.save()
    cache("私の住所を変えたい")  # a resident's message, after start-up: never written
    cache.save()
    assert list(json.loads(path.read_text(encoding="utf-8"))["readings"]) == ["特定在留カード"]


def test_texts_gone_from_the_catalog_drop_out(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    old = ReadingCache(path, Counting(), "v1")
    old("申請")
    old("更新")
    old.save()
    new = ReadingCache(path, Counting(), "v1")
    new("申請")
    new.save()
    assert list(json.loads(path.read_text(encoding="utf-8"))["readings"]) == ["申請"]


@pytest.mark.parametrize(
    "content",
    ["not json", "[1, 2]", '{"version": "1; v0", "readings": {"在留": "ざいりゅう"}}', '{"version": "1; v1"}'],
)
def test_a_wrong_or_foreign_file_is_read_afresh_and_replaced(tmp_path: Path, content: str) -> None:
    path = tmp_path / FILE_NAME
    path.write_text(content, encoding="utf-8")
    reader = Counting()
    cache = ReadingCache(path, reader, "v1")
    assert cache("在留") == "ざいりゅう" and reader.texts == ["在留"]
    cache.save()
    assert json.loads(path.read_text(encoding="utf-8")) == {"version": "1; v1", "readings": {"在留": "ざいりゅう"}}


def test_an_unwritable_place_is_only_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    cache = ReadingCache(blocker / "sub" / FILE_NAME, Counting(), "v1")  # a directory under a file
    assert cache("在留") == "ざいりゅう"
    with caplog.at_level(logging.WARNING):
        cache.save()
    assert "could not write the readings cache" in caplog.text
    assert cache("在留") == "ざいりゅう"


def test_an_assistant_started_from_the_cache_matches_the_same(tmp_path: Path) -> None:
    cold = build_assistant(INTENTS, TRANSLATIONS, today=lambda: AFTER_START, cache_dir=tmp_path)
    saved = json.loads((tmp_path / FILE_NAME).read_text(encoding="utf-8"))["readings"]
    assert len(saved) > 500 and all(has_kanji(text) for text in saved)
    warm = build_assistant(INTENTS, TRANSLATIONS, today=lambda: AFTER_START, cache_dir=tmp_path)
    for text in [
        "特定在留カードってなに？",
        "在留期間の更新と一緒に申請できますか",
        "do i have to get it",
        "市役所で申請",
    ]:
        assert cold.matcher.scores(text) == warm.matcher.scores(text)


def test_a_text_read_twice_is_one_miss(tmp_path: Path) -> None:
    reader = Counting()
    cache = ReadingCache(tmp_path / FILE_NAME, reader, "v1")
    cache("在留")
    cache("在留")
    assert cache.misses == 1 and reader.texts == ["在留"]
