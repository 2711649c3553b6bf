"""The matcher: outcomes, typo and script tolerance, and the evaluation floors."""

from __future__ import annotations

import pytest

from bot.core.assistant import Assistant
from bot.core.evaluation import EvalItem, Report, evaluate, load_eval
from bot.core.matcher import IntentMatcher, Thresholds
from bot.core.normalize import normalize
from tests.conftest import DATA


@pytest.fixture(scope="module")
def report(shared_assistant: Assistant) -> Report:
    return evaluate(shared_assistant, load_eval(DATA / "eval"))


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("特定在留カードってなに？", "card.about"),
        ("とくていざいりゅうかーど って なんですか", "card.about"),
        ("Do I have to get the new card?", "faq.mandatory"),
        ("what is tokutei zairyu card", "card.about"),
        ("whn does the tokutei card strat", "card.start_date"),
        ("ビザ更新と一緒に特定在留カードを申請できますか", "procedure.extend_stay"),
        ("can i apply at city hall", "apply.city_office"),
        ("オンラインで申請できる？", "faq.online"),
        ("thank you!", "chat.thanks"),
    ],
)
def test_confident_answers(shared_assistant: Assistant, text: str, intent: str) -> None:
    match = shared_assistant.matcher.match(text)
    assert match is not None and match.intent == intent and match.outcome == "confident", match


@pytest.mark.parametrize("text", ["明日の天気は？", "how do i get a tourist visa", "asdfghjkl", "ラーメンおいしい店"])
def test_out_of_scope_is_not_answered(shared_assistant: Assistant, text: str) -> None:
    match = shared_assistant.matcher.match(text)
    assert match is None or match.outcome == "fallback", match


def test_no_letters_means_no_match(shared_assistant: Assistant) -> None:
    assert shared_assistant.matcher.match("🙂🙂 !!") is None


def test_scores_are_ranked_and_bounded(shared_assistant: Assistant) -> None:
    ranked = shared_assistant.matcher.scores("特定在留カードはいつから")
    assert ranked[0][0] == "card.start_date"
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True) and scores[-1] >= 0 and scores[0] <= 100


def test_close_runner_up_gives_did_you_mean() -> None:
    matcher = IntentMatcher.from_examples(
        [("a.one", "en", "card start date"), ("a.two", "en", "card start day")],
        Thresholds(confident=60, suggest=30, margin=10),
    )
    match = matcher.match("card start da")
    assert match is not None and match.outcome == "suggest"
    assert {match.intent, match.alternatives[0].intent} == {"a.one", "a.two"}


def test_thresholds_come_from_config() -> None:
    examples = [("a.one", "en", "what is the card")]
    strict = IntentMatcher.from_examples(examples, Thresholds(confident=99.5, suggest=99, margin=1))
    lenient = IntentMatcher.from_examples(examples, Thresholds(confident=10, suggest=5, margin=1))
    assert strict.match("what is this card").outcome == "fallback"  # type: ignore[union-attr]
    assert lenient.match("what is this card").outcome == "confident"  # type: ignore[union-attr]


def test_evaluation_set_is_large_and_separate_from_examples(shared_assistant: Assistant) -> None:
    items = load_eval(DATA / "eval")
    examples = {normalize(t) for i in shared_assistant.catalog for ts in i.examples.values() for t in ts}
    ja_en = [i for i in items if i.source == "ja_en.yaml"]
    assert len(ja_en) >= 300 and sum(1 for i in ja_en if i.intent is None) >= 40
    copied = [i.text for i in items if normalize(i.text) in examples]
    assert not copied


def test_in_scope_accuracy_floor(report: Report) -> None:
    assert report.accuracy >= 0.95, "\n".join(report.lines())


def test_out_of_scope_rejection_floor(report: Report) -> None:
    assert report.rejection >= 0.90, "\n".join(report.lines())


def test_reply_language_floor(report: Report) -> None:
    assert report.lang_accuracy >= 0.98, "\n".join(report.lines())


def test_matcher_beats_plain_wratio(report: Report) -> None:
    ours = report.top1 + report.rejected
    baseline = report.baseline_top1 + report.baseline_rejected
    assert ours > baseline


def test_report_lists_misses_and_confusion(shared_assistant: Assistant) -> None:
    items = [EvalItem("特定在留カードってなに？", "faq.online", "ja", "x"), EvalItem("天気", None, "ja", "x")]
    report = evaluate(shared_assistant, items)
    text = "\n".join(report.lines())
    assert "faq.online -> card.about: 1" in text and "misses:" in text
