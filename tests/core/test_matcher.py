"""The matcher: outcomes, typo and script tolerance, and the evaluation floors."""

from __future__ import annotations

import pytest

from bot.core.assistant import Assistant
from bot.core.evaluation import EvalItem, evaluate
from bot.core.matcher import IntentMatcher, Thresholds


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("特定在留カードってなに？", "card.about"),
        ("とくていざいりゅうかーど って なんですか", "card.about"),
        ("Do I have to get the new card?", "faq.mandatory"),
        ("what is tokutei zairyu card", "card.about"),
        ("whn does the tokutei card strat", "card.start_date"),
        ("ビザ更新と一緒に特定在留カードを申請できますか", "procedure.extend_stay"),
        ("住所を変えたとき、届出と一緒に申請できますか", "procedure.address_change"),
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
    assert {c.intent for c in match.candidates[:2]} == {"a.one", "a.two"}


def test_thresholds_come_from_config() -> None:
    examples = [("a.one", "en", "what is the card")]
    strict = IntentMatcher.from_examples(examples, Thresholds(confident=99.5, suggest=99, margin=1))
    lenient = IntentMatcher.from_examples(examples, Thresholds(confident=10, suggest=5, margin=1))
    assert strict.match("what is this card").outcome == "fallback"  # type: ignore[union-attr]
    assert lenient.match("what is this card").outcome == "confident"  # type: ignore[union-attr]


def test_report_lists_misses_and_confusion(shared_assistant: Assistant) -> None:
    items = [EvalItem("特定在留カードってなに？", "faq.mandatory", "ja", "x"), EvalItem("天気", None, "ja", "x")]
    report = evaluate(shared_assistant, items)
    text = "\n".join(report.lines())
    assert "faq.mandatory -> card.about: 1" in text and "misses:" in text
    assert report.wrong_answers == 1 and report.rejected == 1
