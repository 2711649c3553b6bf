"""Word groups fold every variant to one token; the variants' forms are kept for later starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.core.synonyms import Synonyms

GROUPS = Synonyms({"city_office": ("市役所", "city hall", "shiyakusho"), "card": ("カード", "card")})


def counting(calls: list[str]) -> Callable[[str], str]:
    """A form that notes each text it reads."""

    def form(text: str) -> str:
        calls.append(text)
        return text.lower()

    return form


def test_variants_of_one_group_fold_alike_and_others_do_not() -> None:
    fold = GROUPS.folder(str.lower)

    assert fold("where is the city hall") == fold("where is the shiyakusho")
    assert fold("where is the city hall") != fold("where is the card")
    assert fold("cardigan") == "cardigan"  # a Latin variant is a whole word


def test_kept_forms_are_read_back_instead_of_computed(tmp_path: Path) -> None:
    cache = tmp_path / "synonyms-k.json"
    first_calls: list[str] = []
    first = GROUPS.folder(counting(first_calls), cache)
    later_calls: list[str] = []

    later = GROUPS.folder(counting(later_calls), cache)

    assert len(first_calls) == 5 and later_calls == []
    assert later("city hall card") == first("city hall card")


def test_a_damaged_or_stale_cache_is_computed_again(tmp_path: Path) -> None:
    cache = tmp_path / "synonyms-k.json"
    for damage in (b"\x00garbage", b'["only one"]', b"{}"):
        cache.write_bytes(damage)
        calls: list[str] = []

        fold = GROUPS.folder(counting(calls), cache)

        assert len(calls) == 5 and fold("shiyakusho") == GROUPS.folder(str.lower)("city hall")
