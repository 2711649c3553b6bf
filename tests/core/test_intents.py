"""The intents YAML: the real catalog honours the contract; broken files fail with file:line:key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.intents import Catalog, CatalogError, load_catalog, load_out_of_scope
from tests.conftest import INTENTS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "intents"

CATALOG_IDS = {
    "card.about", "card.start_date", "card.residence_card", "card.mynumber_card", "card.special_permanent",
    "card.new_design", "card.reader_app", "apply.how", "apply.city_office", "apply.immigration_office",
    "procedure.new_arrival_address", "procedure.address_change", "procedure.address_after_status_change",
    "procedure.extend_stay", "procedure.change_status", "procedure.permanent_residence",
    "procedure.renew_card_validity", "procedure.reissue_damaged", "procedure.reissue_exchange",
    "procedure.change_card_details", "faq.benefits", "faq.mandatory", "faq.no_planned_procedure",
    "faq.always_issued", "faq.online", "faq.special_period", "contact.mynumber", "chat.greeting", "chat.help",
    "chat.thanks", "chat.language",
}  # fmt: skip
ISA = "https://www.moj.go.jp/isa/tokutei.html"
MYNUMBER = "https://www.kojinbango-card.go.jp/contact/tel/"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(INTENTS)


def test_every_catalog_id_is_present(catalog: Catalog) -> None:
    assert set(catalog.intents) >= CATALOG_IDS


def test_every_answer_links_an_official_page(catalog: Catalog) -> None:
    for intent in catalog:
        assert set(intent.links) & {ISA, MYNUMBER}, intent.id


def test_my_number_answers_link_the_my_number_contact(catalog: Catalog) -> None:
    for intent_id in ("card.mynumber_card", "contact.mynumber"):
        assert MYNUMBER in catalog[intent_id].links


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_at_least_12_examples_per_intent(catalog: Catalog, lang: str) -> None:
    short = {i.id: len(i.examples.get(lang, ())) for i in catalog if len(i.examples.get(lang, ())) < 12}
    assert not short


def test_easy_japanese_uses_desu_masu_and_short_sentences(catalog: Catalog) -> None:
    for intent in catalog:
        for sentence in re.split(r"[。\n]", intent.answers["ja"]):
            assert len(sentence) <= 90, (intent.id, sentence)
        assert re.search(r"(です|ます|ません|ください|ました)", intent.answers["ja"]), intent.id


def test_facts_come_from_the_leaflet(catalog: Catalog) -> None:
    """Spot checks of the leaflet's facts, in both source languages."""
    assert "{start_date}" in catalog["card.start_date"].answers["en"]
    assert "3か月" in catalog["card.residence_card"].answers["ja"]
    assert "3 months" in catalog["card.residence_card"].answers["en"]
    assert "必ずつくらなくても良い" in catalog["faq.mandatory"].answers["ja"]
    assert "しばらくの間" in catalog["faq.online"].answers["ja"]
    assert "2か月" in catalog["faq.special_period"].answers["ja"]
    assert catalog["apply.immigration_office"].answers["ja"].count("・") == 7
    assert catalog["apply.city_office"].answers["ja"].count("・") == 3
    no_fees = " ".join(i.answers["en"] for i in catalog)
    assert not re.search(r"¥|\byen\b|\d+ ?円", no_fees), "no fee is in the leaflet"


def test_valid_fixture_loads_with_dated_answers() -> None:
    catalog = load_catalog(FIXTURES / "valid")
    assert list(catalog.intents) == ["card.about", "card.start_date"]
    start = catalog["card.start_date"]
    assert start.changes_on is not None and start.answers_before is not None


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
        ("bad_yaml", "a.yaml:3", "expected"),
        ("unknown_lang", "a.yaml:5: examples", "unknown language code(s) xx"),
        ("dated_half", "a.yaml:1", "changes_on and answers_before go together"),
        ("bad_placeholder", "a.yaml:3: answers", "unknown placeholder(s) {fee}"),
    ],
)
def test_broken_fixture_names_file_line_and_key(case: str, where: str, says: str) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(FIXTURES / "broken" / case)
    message = str(caught.value)
    assert where in message and says in message, message


def test_problems_in_several_files_are_all_reported(tmp_path: Path) -> None:
    for case in ("unknown_key", "bad_url"):
        (tmp_path / f"{case}.yaml").write_text((FIXTURES / "broken" / case / "a.yaml").read_text())
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    assert len(caught.value.problems) == 2


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no intent files"):
        load_catalog(tmp_path)


def test_out_of_scope_phrasings_load() -> None:
    phrasings = load_out_of_scope(INTENTS)
    assert len(phrasings["ja"]) >= 20 and len(phrasings["en"]) >= 20
