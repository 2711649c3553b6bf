"""The command line, run as a user runs it: `python -m bot …` in a subprocess, on the fixture content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.core.content import load_content
from tests.conftest import CONTENT

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True, scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, translations: Path) -> Iterator[Path]:
    """The commands run here read the fixture content, and keep their DATA_DIR in a temporary place."""
    path = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(path))
        patch.setenv("INTENTS_DIR", str(CONTENT))
        patch.setenv("TRANSLATIONS_DIR", str(translations))
        yield path


def run(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING", **(env or {})},
        timeout=300,
    )


def test_ask_json_has_every_field() -> None:
    result = run("ask", "--json", "特定在留カードってなに？")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) == {"text", "kind", "intent", "score", "lang", "reply", "links", "candidates"}
    assert answer["kind"] == "answer" and answer["intent"] == "card.about" and answer["lang"] == "ja"
    assert 0 <= answer["score"] <= 100
    assert "(とくてい" in answer["reply"] and "https://www.moj.go.jp/isa/tokutei.html" in answer["links"]
    assert answer["candidates"][0]["intent"] == "card.about"
    assert all(set(c) == {"intent", "score"} for c in answer["candidates"])


def test_ask_json_reports_every_candidate_of_a_did_you_mean() -> None:
    result = run("ask", "--json", "zairyu card", env={"MATCH_CONFIDENT": "101", "MATCH_SUGGEST": "1"})
    answer = json.loads(result.stdout)
    assert answer["kind"] == "did_you_mean" and answer["intent"] is None
    assert len(answer["candidates"]) >= 2 and answer["candidates"][0]["score"] == answer["score"]


def test_ask_reads_lines_as_separate_new_users() -> None:
    lines = "English please\n特定在留カードってなに？\nwhat is the weather\n".encode()
    result = run("ask", "--json", stdin=lines)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 3
    assert answers[1]["lang"] == "ja", "a language switch on one line does not carry to the next"
    assert answers[2]["intent"] is None and answers[2]["links"]


def test_ask_with_lang() -> None:
    answer = json.loads(run("ask", "--json", "--lang", "en", "特定在留カードはいつから").stdout)
    assert answer["lang"] == "en" and "June 14, 2026" in answer["reply"]


def test_ask_survives_invalid_utf8_and_control_characters() -> None:
    result = run("ask", "--json", stdin=b"\xff\xfe broken \x00\n\n" + "😀\n".encode() + b"ok\n")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 4
    assert b"Traceback" not in result.stderr


def test_ask_handles_ten_thousand_lines_in_one_process() -> None:
    questions = ["特定在留カードってなに？", "do i have to get it", "オンラインで申請できる？", "weather", ""]
    stdin = "\n".join(questions[i % len(questions)] for i in range(10_000)).encode() + b"\n"
    result = run("ask", "--json", stdin=stdin)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 10_000
    assert json.loads(lines[9_999])["intent"] is None and json.loads(lines[5])["intent"] == "card.about"


def test_plain_ask_prints_the_reply() -> None:
    result = run("ask", "Do I have to get the new card?")
    assert "optional" in result.stdout.decode()


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("inline", "在留(ざいりゅう)カード"),
        ("html", "<ruby>在留<rt>ざいりゅう</rt></ruby>カード"),
        ("kana", "ざいりゅうカード"),
    ],
)
def test_furigana_formats(fmt: str, expected: str) -> None:
    result = run("furigana", "--format", fmt, "在留カード")
    assert result.stdout.decode().strip() == expected


def test_furigana_reads_stdin_line_by_line() -> None:
    result = run("furigana", stdin="日本に住む\n入管\n".encode())
    assert result.stdout.decode().splitlines() == ["日本(にほん)に住(す)む", "入管(にゅうかん)"]


def test_intents_check_prints_coverage() -> None:
    result = run("intents", "check")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    assert f"{len(load_content(CONTENT).catalog)} intents OK" in out and "answers" in out and "\nvi " in out


def test_intents_check_strict_names_what_is_missing() -> None:
    result = run("intents", "check", "--strict")
    out = result.stdout.decode()
    assert result.returncode == 1
    assert "missing: translations/fr/LC_MESSAGES/messages.po: card.about: answers" in out


def test_intents_check_broken_exits_2_with_file_and_line(tmp_path: Path) -> None:
    for source in (FIXTURES / "intents" / "minimal", FIXTURES / "intents" / "broken" / "unknown_key"):
        for file in source.glob("*.yaml"):
            (tmp_path / file.name).write_bytes(file.read_bytes())
    result = run("intents", "check", env={"INTENTS_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "a.yaml:6: colour" in result.stderr.decode() and b"Traceback" not in result.stderr


def test_intents_check_fails_on_a_rule_naming_it(tmp_path: Path) -> None:
    for file in CONTENT.glob("*.yaml"):
        (tmp_path / file.name).write_bytes(file.read_bytes())
    (tmp_path / "faq.few.yaml").write_text(
        "id: faq.few\ntitle: {ja: すくない, en: Few}\nanswers: {ja: すくないです。, en: Few.}\n"
        "links: [https://www.moj.go.jp/isa/tokutei.html]\nexamples: {ja: [すくない], en: [few, too few]}\n",
        encoding="utf-8",
    )
    result = run("intents", "check", env={"INTENTS_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "faq.few.yaml:1: examples.en: 2 examples, at least 12" in result.stdout.decode()


def test_intents_export_is_json_with_every_id() -> None:
    data = json.loads(run("intents", "export").stdout)
    assert len(data) == len(load_content(CONTENT).catalog)
    assert all(set(i) == {"id", "examples", "answers", "links"} for i in data)
    start = next(i for i in data if i["id"] == "card.start_date")
    assert {"ja", "en"} <= set(start["answers"]) and start["links"]


def test_intents_test_prints_each_set() -> None:
    result = run("intents", "test", "--quiet", "--eval-dir", str(FIXTURES / "eval_small"))
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    assert "in scope answered right" in out and "confidently wrong answers" in out
    assert "right intent in the top 3" in out and "baseline extractOne(WRatio)" in out


def test_bad_configuration_is_a_clear_error() -> None:
    result = run("intents", "check", env={"MATCH_CONFIDENT": "high"})
    assert result.returncode == 2 and "MATCH_CONFIDENT must be a number" in result.stderr.decode()


def test_no_command_prints_help() -> None:
    result = run()
    assert result.returncode == 2 and b"COMMAND" in result.stdout


def test_later_starts_need_no_dictionary(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "LOG_LEVEL": "INFO"}
    first = run("ask", "--json", "在留カードの住所を変えたい", env=env)
    assert first.returncode == 0 and (tmp_path / "analysis-cache.json").exists(), first.stderr
    assert b"loading the SudachiPy dictionary" in first.stderr  # the bot's own texts, read once
    again = run("ask", "--json", "在留カードの住所を変えたい", env=env)
    assert again.returncode == 0 and again.stdout == first.stdout, again.stderr
    lines = "来月引っ越すので住所変更の手続きを知りたい\ndo i have to get it\n".encode()
    for result in (again, run("ask", stdin=lines, env=env)):
        # Japanese never seen before, and answers with furigana: the catalog's words read the
        # question, the cache holds the answers' analysis.
        assert b", 0 read now" in result.stderr and b"loading the SudachiPy dictionary" not in result.stderr
