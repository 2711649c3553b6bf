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


def test_numbers_and_codes_alone_are_never_answered_outright(shared_assistant: Assistant) -> None:
    # The fixture's classifier is sure of an intent for a date in digits; with a word it may answer.
    for text in ("2026 6 14", "2026.6.14", "r2026614", "id2026 6 14"):  # numbers, and codes of letters and digits
        match = shared_assistant.matcher.match(text)
        assert match is not None and match.outcome == "suggest" and match.score >= 40, match
    assert shared_assistant.matcher.match("2026年").outcome == "confident"  # type: ignore[union-attr]


def test_numbers_an_operator_taught_as_they_are_are_answered() -> None:
    matcher = IntentMatcher.from_examples([*CARD, *VISA, *WEATHER, ("b.visa", "en", "0570 013 904")])
    match = matcher.match("0570-013-904")  # the same form
    assert match is not None and (match.intent, match.outcome) == ("b.visa", "confident"), match


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


CARD = [("a.card", "en", t) for t in ("what is the card", "tell me about the card", "card meaning", "the card is what")]
VISA = [("b.visa", "en", t) for t in ("extend my visa", "visa extension", "how to renew a visa", "visa renewal")]
WEATHER = [("-", "en", t) for t in ("weather tomorrow", "is it raining", "good ramen shop")]


def test_an_example_as_taught_is_answered_even_when_the_classifier_disagrees() -> None:
    before = IntentMatcher.from_examples([*CARD, *VISA, *WEATHER], classify=True)
    taught = ("b.visa", "en", "card renewal fee")
    after = IntentMatcher.from_examples([*CARD, *VISA, *WEATHER, taught], classify=True, previous=before)

    assert after.interim and after.classifier is before.classifier
    guess = before.match("card renewal fee")
    assert guess is None or guess.intent != "b.visa" or guess.outcome != "confident"  # the old classifier does not know
    for text in ("card renewal fee", "Card  renewal FEE!"):  # the same form
        match = after.match(text)
        assert match is not None and (match.intent, match.outcome) == ("b.visa", "confident"), match
    trained = after.trained()
    assert not trained.interim and trained.classifier is not before.classifier and after.interim


def test_a_form_taught_to_two_intents_or_out_of_scope_is_not_answered_by_the_rule() -> None:
    shared = [("b.visa", "en", "what is the card"), ("b.visa", "en", "weather tomorrow")]
    matcher = IntentMatcher.from_examples([*CARD, *VISA, *WEATHER, *shared], Thresholds(confident=101, suggest=101))
    assert matcher.match("extend my visa").outcome == "confident"  # type: ignore[union-attr]  # the rule
    for text in ("what is the card", "weather tomorrow"):
        match = matcher.match(text)
        assert match is not None and match.outcome == "fallback", match  # nothing reaches the thresholds


def test_an_intent_only_the_old_classifier_knows_is_never_answered() -> None:
    before = IntentMatcher.from_examples([*CARD, *VISA, *WEATHER], classify=True)
    assert before.match("what is the card").intent == "a.card"  # type: ignore[union-attr]
    after = IntentMatcher.from_examples([*VISA, *WEATHER], classify=True, previous=before)
    for text in ("what is the card", "tell me about the card please", "visa card"):
        match = after.match(text)
        assert match is None or all(c.intent != "a.card" for c in match.candidates), match
