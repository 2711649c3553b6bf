"""The rich menu's picture: every language drawn within LINE's limits, furigana above the kanji, and a
clear refusal when a script has no font."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from bot.adapters.line_rich_menu import DEFAULT, build_spec
from bot.adapters.rich_menu_image import MAX_BYTES, FontMissing, Fonts, Label, Picture, Tile, render, system_fonts
from bot.core.assistant import Assistant
from bot.core.languages import LANGS
from bot.core.models import Segment

FONTS = system_fonts()


def _have_fonts() -> bool:
    try:
        for lang in LANGS:
            FONTS.file(lang)
    except FontMissing as missing:
        if os.environ.get("CI") == "true":  # .ci/run installs them: missing there is a failure
            raise
        pytest.skip(f"fonts missing here ({missing}); .ci/run installs them")
    return True


@pytest.mark.parametrize("key", [DEFAULT, *LANGS])
def test_every_language_is_drawn_within_lines_limits(assistant: Assistant, key: str) -> None:
    _have_fonts()
    spec = build_spec(assistant.replies, key, FONTS)
    assert spec is not None
    image, content_type = render(spec.picture, FONTS)
    assert len(image) <= MAX_BYTES and content_type == "image/png"
    with Image.open(io.BytesIO(image)) as picture:
        assert picture.size == spec.picture.size == (2500, 843 * spec.picture.rows)
    assert len(spec.body["chatBarText"]) <= 14 and spec.name.startswith(f"tokutei-bot {key} ")


def test_the_name_changes_with_what_the_menu_shows(assistant: Assistant) -> None:
    _have_fonts()
    vi, ko = build_spec(assistant.replies, "vi", FONTS), build_spec(assistant.replies, "ko", FONTS)
    again = build_spec(assistant.replies, "vi", FONTS)
    assert vi is not None and ko is not None and again is not None
    assert vi.name == again.name != ko.name.replace(" ko ", " vi ")


def _ink_above(picture: Picture, top: int, bottom: int) -> int:
    image, _ = render(picture, FONTS)
    with Image.open(io.BytesIO(image)) as drawn:
        band = drawn.convert("L").crop((0, top, 833, bottom))
        return sum(band.histogram()[:80])  # dark pixels: text


def test_furigana_is_drawn_above_the_kanji() -> None:
    _have_fonts()

    def picture(segments: tuple[Segment, ...]) -> Picture:
        return Picture(1, 3, tuple(Tile("card", (Label("ja", "申し込み", segments),)) for _ in range(3)))

    with_readings = picture((Segment("申", "もう"), Segment("し"), Segment("込", "こ"), Segment("み")))
    without = picture((Segment("申し込み"),))
    band = (430, 490)  # the furigana band, above the label's base line
    assert _ink_above(with_readings, *band) > 0 and _ink_above(without, *band) == 0


def test_a_missing_font_is_said_with_the_package_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.adapters.rich_menu_image.FONT_DIRS", ())
    fonts = Fonts(tmp_path)
    with pytest.raises(FontMissing, match="fonts-noto-cjk"):
        fonts.file("ja")
    with pytest.raises(FontMissing, match="FONTS_DIR"):
        fonts.file("km")
