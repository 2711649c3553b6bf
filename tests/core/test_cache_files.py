"""Files kept in DATA_DIR: the forms of texts are read back per text, so an edit computes only what is new."""

from __future__ import annotations

from pathlib import Path

from bot.core.cache_files import kept_forms


def test_kept_forms_compute_only_the_texts_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "forms-k.json"
    calls: list[str] = []

    def form(text: str) -> str:
        calls.append(text)
        return text.upper()

    assert kept_forms(["a", "b"], form, path, "forms") == ["A", "B"]
    assert kept_forms(["a", "new", "b"], form, path, "forms") == ["A", "NEW", "B"]
    assert kept_forms(["new"], form, path, "forms") == ["NEW"]
    assert calls == ["a", "b", "new"]
    assert kept_forms(["a"], form, tmp_path / "forms-other.json", "forms") == ["A"]  # another key: computed
    assert calls[-1] == "a" and not path.exists()  # and the older key's file deleted
