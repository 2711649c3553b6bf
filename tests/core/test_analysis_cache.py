"""The analysis cache: the analysis of the bot's own texts survives a restart, and nothing else goes in."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from bot.core.analysis_cache import FILE_NAME, AnalysisCache
from bot.core.factory import build_assistant
from bot.core.furigana import SudachiAnalyser, has_kanji
from bot.core.render import plain_text
from tests.conftest import AFTER_START, CONTENT
from tests.fakes.chat import Chat

SUDACHI = SudachiAnalyser()


class Counting:
    """The real analyser, counting the texts it was given."""

    name = "counting sudachi"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str) -> list[tuple[str, str]]:
        self.texts.append(text)
        return SUDACHI(text)


def saved(path: Path) -> dict[str, list[list[str]]]:
    analyses: dict[str, list[list[str]]] = json.loads(path.read_text(encoding="utf-8"))["analyses"]
    return analyses


def test_analyses_are_kept_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    first = Counting()
    cache = AnalysisCache(path, first, "v1")
    tokens = cache("在留カード")
    assert [surface for surface, _ in tokens] == ["在留", "カード"] and tokens[0][1] == "ザイリュウ"
    cache("カードの住所")
    cache("card")
    cache.save()
    assert first.texts == ["在留カード", "カードの住所", "card"]
    assert sorted(saved(path)) == ["カードの住所", "在留カード"]  # text without kanji is not kept
    second = Counting()
    again = AnalysisCache(path, second, "v1")
    assert again("在留カード") == tokens and second.texts == [] and again.misses == 0


def test_only_texts_analysed_before_save_are_written(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    cache = AnalysisCache(path, Counting(), "v1")
    cache("特定在留カード")
    cache.save()
    cache("私の住所を変えたい")  # a resident's message, after start-up: never written
    cache.save()
    assert list(saved(path)) == ["特定在留カード"]


def test_texts_gone_from_the_catalog_drop_out(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    old = AnalysisCache(path, Counting(), "v1")
    old("申請")
    old("更新")
    old.save()
    new = AnalysisCache(path, Counting(), "v1")
    new("申請")
    new.save()
    assert list(saved(path)) == ["申請"]


def test_a_text_analysed_twice_is_one_miss(tmp_path: Path) -> None:
    analyser = Counting()
    cache = AnalysisCache(tmp_path / FILE_NAME, analyser, "v1")
    cache("在留")
    cache("在留")
    assert cache.misses == 1 and analyser.texts == ["在留"]


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        '{"version": "2; v0", "analyses": {"在留": [["在留", "ザイリュウ"]]}}',
        '{"version": "2; v1"}',
        '{"version": "2; v1", "analyses": {"在留": "ざいりゅう"}}',
        '{"version": "2; v1", "analyses": {"在留": [["在留", "ザイリュウ"]]}}',
    ],
)
def test_a_wrong_or_foreign_file_is_analysed_afresh_and_replaced(tmp_path: Path, content: str) -> None:
    path = tmp_path / FILE_NAME
    path.write_text(content, encoding="utf-8")
    analyser = Counting()
    cache = AnalysisCache(path, analyser, "v1")
    assert cache("在留") == [("在留", "ザイリュウ")] and analyser.texts == ["在留"]
    cache.save()
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["version"] == "2; v1" and written["analyses"] == {"在留": [["在留", "ザイリュウ"]]}
    assert re.fullmatch(r"[0-9a-f]{64}", written["sha256"])


def test_a_file_failing_its_checksum_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / FILE_NAME
    first = AnalysisCache(path, Counting(), "v1")
    first("在留")
    first("特定")
    first.save()
    path.write_text(
        path.read_text(encoding="utf-8").replace("ザイリュウ", "ザイリョウ"), encoding="utf-8"
    )  # a flipped bit
    analyser = Counting()
    with caplog.at_level(logging.WARNING):
        cache = AnalysisCache(path, analyser, "v1")
        assert cache("在留") == [("在留", "ザイリュウ")] and analyser.texts == ["在留"]  # read afresh, right
    assert "fails its checksum" in caplog.text
    cache("特定")
    cache.save()
    assert AnalysisCache(path, Counting(), "v1")("在留") == [("在留", "ザイリュウ")]  # the rebuilt file is good


def test_an_unwritable_place_is_only_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    cache = AnalysisCache(blocker / "sub" / FILE_NAME, Counting(), "v1")  # a directory under a file
    assert cache("在留") == [("在留", "ザイリュウ")]
    with caplog.at_level(logging.WARNING):
        cache.save()
    assert "could not write the analysis cache" in caplog.text
    assert cache("在留") == [("在留", "ザイリュウ")]


def test_an_assistant_started_from_the_cache_answers_the_same(tmp_path: Path, translations: Path) -> None:
    cold = build_assistant(CONTENT, translations, today=lambda: AFTER_START, cache_dir=tmp_path)
    analyses = saved(tmp_path / FILE_NAME)
    assert len(analyses) > 200 and all(has_kanji(text) for text in analyses)
    warm = build_assistant(CONTENT, translations, today=lambda: AFTER_START, cache_dir=tmp_path)
    assert warm.matcher.reader.words == cold.matcher.reader.words  # type: ignore[attr-defined]
    for text in [
        "特定在留カードってなに？",
        "在留期間の更新と一緒に申請できますか",
        "do i have to get it",
        "市役所で申請",
    ]:
        assert cold.matcher.scores(text) == warm.matcher.scores(text)
        assert plain_text(Chat(cold).say(text)) == plain_text(Chat(warm).say(text))
