"""Reading Japanese into kana with the catalog's words, for matching."""

from __future__ import annotations

from bot.core.furigana import SudachiAnalyser
from bot.core.kana import KanaReader


def test_words_of_the_texts_are_read_longest_first() -> None:
    reader = KanaReader.from_texts(SudachiAnalyser(), ["特定在留カードの申請", "在留期間の更新", "市役所"])
    assert reader.words["在留"] == "ざいりゅう" and reader.words["申請"] == "しんせい"
    assert reader("特定在留カードを申請したい") == "とくていざいりゅうカードをしんせいしたい"
    assert reader("在留期間更新") == "ざいりゅうきかんこうしん"


def test_unknown_kanji_and_other_scripts_stay_as_they_are() -> None:
    reader = KanaReader({"在留": "ざいりゅう"})
    assert reader("在留卡是什么") == "ざいりゅう卡是什么"
    assert reader("residence card") == "residence card"
    assert KanaReader({})("在留") == "在留"


def test_a_word_takes_its_most_common_reading() -> None:
    reader = KanaReader.from_texts(
        lambda text: [("日", "ニチ" if text == "a日" else "ヒ")] if "日" in text else [],  # type: ignore[arg-type]
        ["b日", "c日", "a日"],
    )
    assert reader.words == {"日": "ひ"}
