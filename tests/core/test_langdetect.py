"""Language detection: script rules, py3langid for Latin and Cyrillic, and our lean model loader."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest

from bot.core.langdetect import FileTable, LanguageDetector, load_identifier
from bot.core.languages import LANGS
from bot.core.normalize import MAX_CHARS
from tests.conftest import DATA


def messages() -> list[tuple[str, str]]:
    with (DATA / "langdetect" / "messages.tsv").open(encoding="utf-8") as fh:
        return [(row["text"], row["lang"]) for row in csv.DictReader(fh, delimiter="\t")]


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


def test_accuracy_on_short_resident_messages(detector: LanguageDetector) -> None:
    rows = messages()
    right = sum(detector.detect(text).lang == lang for text, lang in rows)
    assert len(rows) >= 600 and right / len(rows) >= 0.97, f"{right}/{len(rows)}"  # measured: 99.3 %


@pytest.mark.parametrize(
    ("text", "lang", "confident"),
    [
        ("特定在留カードってなに？", "ja", True),
        ("特定在留カード", "ja", True),  # only the card's name, but in kana: Japanese
        ("특정재류카드는 무엇인가요?", "ko", True),
        ("特定在留卡是什么？什么时候开始？", "zh", True),
        ("ok", None, False),
        ("Thẻ cư trú đặc định là gì vậy?", "vi", True),
        ("Чи потрібно мені отримати нову картку?", "uk", True),
    ],
)
def test_examples(detector: LanguageDetector, text: str, lang: str | None, confident: bool) -> None:
    found = detector.detect(text)
    assert found.confident == confident, found
    if confident:
        assert found.lang == lang, found


def test_the_lean_loader_gives_py3langids_own_results() -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ours = load_identifier(LANGS)
    theirs = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    theirs.set_languages(sorted(set(LANGS) & set(theirs.labels)))
    assert sorted(ours.nb_classes) == sorted(theirs.nb_classes)
    assert not isinstance(ours._rowbase, list), "the state rows are kept in an array, not as Python ints"
    for text, _ in messages():
        lang, probability = ours.classify(text)
        expected_lang, expected_probability = theirs.classify(text)
        assert lang == expected_lang and probability == pytest.approx(expected_probability, abs=1e-6), text


def test_a_first_start_unpacks_the_model_before_any_message(tmp_path: Path) -> None:
    detector = LanguageDetector(tmp_path)
    [kept] = tmp_path.glob("langid-*.npz")
    written = kept.stat().st_mtime_ns
    assert detector.detect("merci beaucoup pour votre aide").lang == "fr"
    assert LanguageDetector(tmp_path).detect("obrigado pela ajuda").lang == "pt"
    assert kept.stat().st_mtime_ns == written, "read, not unpacked again"


def resident_mb() -> float:
    """The process's resident memory, file pages included (Linux /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_walking_the_kept_table_brings_none_of_it_into_memory(tmp_path: Path) -> None:
    detector = LanguageDetector(tmp_path)
    detector._detect("thank you very much for your help")  # py3langid's model loads (its weights: 4 MB)
    assert detector._identifier is not None, "py3langid was asked"
    before = resident_mb()
    texts = [
        "merci beaucoup pour votre aide",
        "obrigado pela ajuda",
        "danke schön für die hilfe",
        "muchas gracias por su ayuda",
        "grazie mille per il vostro aiuto",
        "terima kasih atas bantuannya",
        "dziękuję bardzo za pomoc",
        "hartelijk dank voor uw hulp",
        "mulțumesc foarte mult pentru ajutor",
        "köszönöm szépen a segítséget",
        "tack så mycket för hjälpen",
        "çok teşekkür ederim yardımınız için",
    ]
    for text in texts:
        detector._detect(text)  # past the cache of recent messages: py3langid walks its table each time
    assert resident_mb() - before < 5  # memory-mapped, one message brought 17 MB of the table in


def test_the_unpacked_model_is_kept_and_read_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fresh = load_identifier(LANGS, tmp_path)
    [kept] = tmp_path.glob("langid-*.npz")
    written = kept.stat().st_mtime_ns
    with caplog.at_level(logging.WARNING):
        again = load_identifier(LANGS, tmp_path)
    assert caplog.text == "" and kept.stat().st_mtime_ns == written  # read, not unpacked again
    assert kept.stat().st_size > 30_000_000 and list(tmp_path.glob(".langid-*")) == []
    assert again.nb_classes == fresh.nb_classes
    assert isinstance(again.tk_nextmove, FileTable)  # the kept table is read from the file, not into the heap
    in_heap = load_identifier(LANGS)
    for text, _ in messages():
        assert again.classify(text) == in_heap.classify(text), text


def test_a_broken_unpacked_model_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    load_identifier(LANGS, tmp_path)
    [kept] = tmp_path.glob("langid-*.npz")
    kept.write_bytes(kept.read_bytes()[:1000])  # cut short
    with caplog.at_level(logging.WARNING):
        identifier = load_identifier(LANGS, tmp_path)
    assert "ignoring the unpacked language model" in caplog.text
    assert identifier.classify("Do I have to get the new card?")[0] == "en"
    assert kept.stat().st_size > 30_000_000


def test_an_unpacked_model_failing_its_checksum_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    load_identifier(LANGS, tmp_path)
    [kept] = tmp_path.glob("langid-*.npz")
    damaged = bytearray(kept.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one byte inside the largest array: the zip's CRC-32 catches it
    kept.write_bytes(bytes(damaged))
    with caplog.at_level(logging.WARNING):
        identifier = load_identifier(LANGS, tmp_path)
    assert "ignoring the unpacked language model" in caplog.text and "CRC" in caplog.text
    assert identifier.classify("Do I have to get the new card?")[0] == "en"
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_identifier(LANGS, tmp_path)  # the file was written again, whole
    assert caplog.text == ""


def test_only_what_the_matcher_reads_is_read(detector: LanguageDetector) -> None:
    english = ("Do I have to get the new card? " * 20)[:MAX_CHARS]
    detected = detector.detect(english + "Thẻ cư trú đặc định là gì? " * 5000)  # 150,000 more characters
    assert detected.lang == "en" and detected.confident
