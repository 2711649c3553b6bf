"""Furigana: formats, readings overrides, and the gold set."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.core.furigana import Furigana, Readings, SudachiAnalyser, align
from bot.core.models import Segment
from bot.core.yaml_lines import YamlError
from tests.conftest import DATA

READINGS = ROOT / "intents" / "readings.yaml"
"""The real readings: the gold set measures them with the analyser."""


@pytest.fixture(scope="module")
def furigana() -> Furigana:
    return Furigana(Readings.load(READINGS))


GOLD_SETS = ("gold.tsv", "gold_blind.tsv")
"""The leaflet's own sentences and the answers (gold.tsv); 150 sentences written blind by a writer
who saw neither the code nor readings.yaml, heavy on compounds, dates and times (gold_blind.tsv)."""


def gold(name: str = "gold.tsv") -> list[tuple[str, str]]:
    with (DATA / "furigana" / name).open(encoding="utf-8") as fh:
        return [(row["text"], row["expected"]) for row in csv.DictReader(fh, delimiter="\t")]


@pytest.mark.parametrize("name", GOLD_SETS)
def test_gold_set_is_large_enough(name: str) -> None:
    assert len(gold(name)) >= 120


@pytest.mark.parametrize("name", GOLD_SETS)
def test_gold_set_at_least_98_percent_exactly_right(furigana: Furigana, name: str) -> None:
    rows = gold(name)
    wrong = [(text, furigana.render(text), expected) for text, expected in rows if furigana.render(text) != expected]
    assert len(wrong) <= len(rows) * 0.02, wrong


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("九時", "九時(くじ)"), ("四時", "四時(よじ)"), ("十四日", "十四日(じゅうよっか)"),
        ("二十日", "二十日(はつか)"),
        ("四月一日", "四月一日(しがつついたち)"), ("一日かかります", "一日(いちにち)かかります"),
        ("6月14日", "6月(がつ)14日(じゅうよっか)"), ("8時30分", "8時(じ)30分(ぷん)"), ("3か月", "3か月(げつ)"),
        ("手数料", "手数料(てすうりょう)"), ("入管", "入管(にゅうかん)"),
    ],
)  # fmt: skip
def test_counters_and_compounds_read_as_the_leaflet_prints_them(furigana: Furigana, text: str, expected: str) -> None:
    assert furigana.render(text) == expected


def test_a_compound_is_one_ruby_in_html(furigana: Furigana) -> None:
    assert furigana.render("手数料", "html") == "<ruby>手数料<rt>てすうりょう</rt></ruby>"


@pytest.mark.parametrize("name", GOLD_SETS)
def test_every_gold_expectation_is_its_text_plus_readings(name: str) -> None:
    import re

    for text, expected in gold(name):
        assert re.sub(r"\([ぁ-ゖー]+\)", "", expected) == text


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("inline", "在留(ざいりゅう)カードを申(もう)し込(こ)む"),
        (
            "html",
            "<ruby>在留<rt>ざいりゅう</rt></ruby>カードを<ruby>申<rt>もう</rt></ruby>し<ruby>込<rt>こ</rt></ruby>む",
        ),
        ("kana", "ざいりゅうカードをもうしこむ"),
    ],
)
def test_formats(furigana: Furigana, fmt: str, expected: str) -> None:
    assert furigana.render("在留カードを申し込む", fmt) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("日本に住む", "日本(にほん)に住(す)む"),
        ("許可年月日", "許可年月日(きょかねんがっぴ)"),
        ("入管で", "入管(にゅうかん)で"),
        ("2026年6月14日", "2026年(ねん)6月(がつ)14日(じゅうよっか)"),
        ("4月1日と11日と1日で", "4月(しがつ)1日(ついたち)と11日(にち)と1日(にち)で"),
        ("日本人", "日本人(にほんじん)"),
    ],
)
def test_domain_readings(furigana: Furigana, text: str, expected: str) -> None:
    assert furigana.render(text) == expected


def test_text_without_kanji_is_unchanged(furigana: Furigana) -> None:
    assert furigana.render("カードを もらう ことが できます。 OK 123") == "カードを もらう ことが できます。 OK 123"
    assert furigana.render("") == ""


def test_html_is_escaped(furigana: Furigana) -> None:
    assert furigana.render("<b>在留</b>", "html") == "&lt;b&gt;<ruby>在留<rt>ざいりゅう</rt></ruby>&lt;/b&gt;"


def test_align_leaves_okurigana_bare() -> None:
    assert align("申し込み", "モウシコミ") == [Segment("申", "もう"), Segment("し"), Segment("込", "こ"), Segment("み")]
    assert align("在留", "ザイリュウ") == [Segment("在留", "ざいりゅう")]


def test_every_easy_japanese_answer_has_furigana_on_every_kanji(shared_assistant) -> None:  # type: ignore[no-untyped-def]
    import re

    for intent in shared_assistant.catalog:
        for segment in shared_assistant.replies.furigana.segments(intent.answers["ja"]):
            if segment.reading is None:
                assert not re.search(r"[\u4e00-\u9fff]", segment.base), (intent.id, segment)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("words:\n  日本: ニホン\n", "must be hiragana"),
        ("words:\n  かな: かな\n", "only words with kanji"),
        ("colour: blue\n", "expected a mapping"),
        ("words: [日本]\n", "must map a word"),
    ],
)
def test_broken_readings_file_names_the_line(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "readings.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(YamlError, match=says):
        Readings.load(path)


def test_a_released_analyser_loads_again_when_needed() -> None:
    analyser = SudachiAnalyser()
    before = analyser("在留カード")
    analyser.release()
    assert analyser("在留カード") == before
