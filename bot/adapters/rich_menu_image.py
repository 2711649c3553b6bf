"""The rich menu's picture, drawn with Pillow: a grid of tiles, each an icon and its label.

Labels are drawn in the script's own Noto font (Debian's fonts-noto-cjk and fonts-noto-core, found
on the disk by file name), shaped by Pillow's libraqm so that Khmer, Myanmar, Sinhala, Bengali,
Devanagari and Urdu join as they should. Easy Japanese carries its furigana as small kana above the
kanji, from the same segments as the answers. Icons are simple shapes, drawn here: no image files.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

from bot.core.content import Icon
from bot.core.models import Segment

log = logging.getLogger(__name__)

WIDTH = 2500
ROW_HEIGHT = 843
"""LINE's two sizes: 2500×1686 (two rows) and 2500×843 (one row)."""
MAX_BYTES = 1024 * 1024
"""LINE refuses rich menu images over 1 MB."""
VERSION = "1"
"""Changes when the drawing changes, so that menus drawn by an older release are replaced."""
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".local/share/fonts")
"""Where fonts are looked for (after FONTS_DIR, if set)."""

_CJK = "NotoSansCJK-Bold.ttc"
_LATIN = ("NotoSans-Bold.ttf",)
FONT_FILES: dict[str, tuple[str, ...]] = {
    "th": ("NotoSansThai-Bold.ttf", "NotoLoopedThai-Bold.ttf"),
    "km": ("NotoSansKhmer-Bold.ttf", "NotoSerifKhmer-Bold.ttf"),
    "my": ("NotoSansMyanmar-Bold.ttf", "NotoSerifMyanmar-Bold.ttf"),
    "si": ("NotoSansSinhala-Bold.ttf", "NotoSerifSinhala-Bold.ttf"),
    "bn": ("NotoSansBengali-Bold.ttf", "NotoSerifBengali-Bold.ttf"),
    "ne": ("NotoSansDevanagari-Bold.ttf", "NotoSerifDevanagari-Bold.ttf"),
    "ur": ("NotoNastaliqUrdu-Bold.ttf", "NotoNaskhArabic-Bold.ttf", "NotoSansArabic-Bold.ttf"),
}
"""Font files by language, first found wins; other languages use Noto Sans, or Noto Sans CJK."""
CJK_FACES = {"ja": "JP", "zh": "SC", "ko": "KR"}
"""The face of Noto Sans CJK for each language (the glyphs of a kanji differ between them)."""

PALETTE = (
    ("#E8F1FB", "#1F5AA6"),
    ("#E7F5EC", "#1B7F4B"),
    ("#FDF1E3", "#B35900"),
    ("#F3ECFA", "#6B3FA0"),
    ("#FCEBEE", "#B0263E"),
    ("#E6F4F5", "#0E6E75"),
    ("#F5F0E1", "#7A5C00"),
    ("#EEF0F3", "#3D4A5C"),
)
"""(tile, icon) colours, one pair per area in turn; text is near-black on the light tiles (AA contrast)."""
TEXT = "#1A1A1A"
GAP = 14


class FontMissing(RuntimeError):
    """No font for a language's script: that language's menu cannot be drawn (the default is used)."""


@dataclass(frozen=True)
class Label:
    """One line of a tile's label: its text in one language, with furigana segments for easy Japanese."""

    lang: str
    text: str
    segments: tuple[Segment, ...] | None = None


@dataclass(frozen=True)
class Tile:
    """One area's picture: an icon, then its label lines, the first one large."""

    icon: Icon
    lines: tuple[Label, ...]


@dataclass(frozen=True)
class Picture:
    """What to draw: `rows` × `columns` tiles, row by row."""

    rows: int
    columns: int
    tiles: tuple[Tile, ...]

    @property
    def size(self) -> tuple[int, int]:
        """The image's width and height in pixels (one of LINE's two sizes)."""
        return WIDTH, ROW_HEIGHT * self.rows

    def bounds(self) -> list[tuple[int, int, int, int]]:
        """Each tile's (x, y, width, height), row by row: the tappable areas."""
        xs = [round(WIDTH * c / self.columns) for c in range(self.columns + 1)]
        return [
            (xs[c], r * ROW_HEIGHT, xs[c + 1] - xs[c], ROW_HEIGHT)
            for r in range(self.rows)
            for c in range(self.columns)
        ]


# -- fonts ------------------------------------------------------------------------------------


class Fonts:
    """Font files on this machine for each language, found once by file name."""

    def __init__(self, extra_dir: Path | None = None) -> None:
        self.dirs = tuple(([extra_dir] if extra_dir else []) + list(FONT_DIRS))
        self._found: dict[str, Path] = {}
        wanted = {_CJK, *_LATIN, *(name for names in FONT_FILES.values() for name in names)}
        for directory in self.dirs:
            if directory.is_dir():
                for path in sorted(directory.rglob("*.tt[cf]")):
                    if path.name in wanted:
                        self._found.setdefault(path.name, path)

    def identity(self, langs: Iterable[str]) -> str:
        """The font files (name and size) the languages would be drawn with: a new font redraws the menu."""
        parts = []
        for lang in sorted(set(langs)):
            path, face = self.file(lang)
            parts.append(f"{lang}={path.name}:{face}:{path.stat().st_size}")
        return ";".join(parts)

    def file(self, lang: str) -> tuple[Path, str | None]:
        """The font file for `lang`, and the face to use in a collection.

        Raises:
            FontMissing: no font here has the script (the message names the Debian package).
        """
        if lang in CJK_FACES or lang not in FONT_FILES:
            names: tuple[str, ...] = (_CJK,) if lang in CJK_FACES else (*_LATIN, _CJK)
            face = CJK_FACES.get(lang, "JP")
            package = "fonts-noto-cjk" if lang in CJK_FACES else "fonts-noto-core or fonts-noto-cjk"
        else:
            names, face, package = FONT_FILES[lang], None, "fonts-noto-core"
            if not shaping():
                raise FontMissing(f"{lang!r} needs text shaping: Pillow has no libraqm here (Debian libfribidi0)")
        for name in names:
            if name in self._found:
                return self._found[name], (face if name == _CJK else None)
        raise FontMissing(
            f"no font for {lang!r} ({' or '.join(names)}): install the Debian package {package}, "
            "or put the file in FONTS_DIR"
        )

    def font(self, lang: str, size: int) -> ImageFont.FreeTypeFont:
        """The font for `lang` at `size` pixels."""
        path, face = self.file(lang)
        return _load(path, face, size)


@cache
def system_fonts(extra_dir: Path | None = None) -> Fonts:
    """The fonts of this machine (and of FONTS_DIR), looked for once per process."""
    return Fonts(extra_dir)


@cache
def _load(path: Path, face: str | None, size: int) -> ImageFont.FreeTypeFont:
    layout = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    if face is None:
        return ImageFont.truetype(str(path), size, layout_engine=layout)
    for index in range(16):  # a collection: the face by its name ("Noto Sans CJK JP")
        font = ImageFont.truetype(str(path), size, index=index, layout_engine=layout)
        if (font.getname()[0] or "").endswith(f"CJK {face}"):
            return font
    return ImageFont.truetype(str(path), size, layout_engine=layout)


def shaping() -> bool:
    """Whether complex scripts are shaped (Pillow with libraqm); without it they would be drawn wrongly."""
    return bool(features.check("raqm"))


# -- drawing ----------------------------------------------------------------------------------


def render(picture: Picture, fonts: Fonts) -> tuple[bytes, str]:
    """The picture as PNG (or JPEG if a PNG would pass LINE's 1 MB), and its content type.

    Raises:
        FontMissing: a label's language has no font here.
    """
    image = Image.new("RGB", picture.size, "#FFFFFF")
    draw = ImageDraw.Draw(image)
    try:
        for n, (tile, box) in enumerate(zip(picture.tiles, picture.bounds(), strict=True)):
            _tile(draw, tile, box, PALETTE[n % len(PALETTE)], fonts)
    finally:  # menus are drawn rarely: the fonts (the CJK one is large) are not kept between drawings
        _load.cache_clear()
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    if out.tell() <= MAX_BYTES:
        return out.getvalue(), "image/png"
    for quality in (90, 80, 70, 60):
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
        if out.tell() <= MAX_BYTES:
            return out.getvalue(), "image/jpeg"
    raise ValueError("the rich menu image does not fit in 1 MB")  # pragma: no cover - flat colours compress well


def _tile(
    draw: ImageDraw.ImageDraw, tile: Tile, box: tuple[int, int, int, int], colors: tuple[str, str], fonts: Fonts
) -> None:
    x, y, w, h = box
    background, accent = colors
    draw.rounded_rectangle((x + GAP, y + GAP, x + w - GAP, y + h - GAP), radius=48, fill=background)
    cx = x + w // 2
    radius = 150
    cy = y + 70 + radius
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=accent)
    _icon(draw, tile.icon, cx, cy, radius, accent, fonts)
    top = cy + radius + 40
    room = w - 2 * GAP - 70
    sizes = (104, 66)
    for n, line in enumerate(tile.lines[:2]):
        size = sizes[min(n, len(sizes) - 1)]
        top = _label(draw, line, cx, top, room, size, fonts) + 18


def _label(draw: ImageDraw.ImageDraw, line: Label, cx: int, top: int, room: int, size: int, fonts: Fonts) -> int:
    """Draw one label line centred under `top`, shrunk (or, between words, wrapped) to fit; its bottom."""
    if line.segments is not None:  # easy Japanese: a band for the furigana, kanji or not, so tiles line up
        return _ruby(draw, line.segments, cx, top, room, size, fonts)
    size, rows = _fit(line, room, size, fonts)
    font = fonts.font(line.lang, size)
    ascent, descent = font.getmetrics()
    for row in rows:
        draw.text((cx, top + ascent), row, font=font, fill=TEXT, anchor="ms", language=_tag(line.lang))
        top += ascent + descent
    return top


def _fit(line: Label, room: int, size: int, fonts: Fonts) -> tuple[int, list[str]]:
    """The largest size (down to half) at which the text fits in one line, else in two, cut between words."""
    smallest = size // 2
    for candidate in range(size, smallest - 1, -4):
        font = fonts.font(line.lang, candidate)
        if font.getlength(line.text, language=_tag(line.lang)) <= room:
            return candidate, [line.text]
    words = line.text.split()
    if len(words) > 1:
        for candidate in range(size * 3 // 4, smallest // 2, -4):
            font = fonts.font(line.lang, candidate)
            rows = _wrap(words, partial(_length, font, _tag(line.lang)), room)
            if len(rows) <= 2:
                return candidate, rows
    return smallest, [line.text]


def _length(font: ImageFont.FreeTypeFont, language: str | None, text: str) -> float:
    return float(font.getlength(text, language=language))


def _wrap(words: Sequence[str], measure: Callable[[str], float], room: int) -> list[str]:
    rows: list[str] = []
    for word in words:
        if rows and measure(f"{rows[-1]} {word}") <= room:
            rows[-1] = f"{rows[-1]} {word}"
        else:
            rows.append(word)
    return rows


def _ruby(
    draw: ImageDraw.ImageDraw, segments: Sequence[Segment], cx: int, top: int, room: int, size: int, fonts: Fonts
) -> int:
    """Easy Japanese with its readings in small kana above the kanji, the whole line centred."""
    for base_size in range(size, size // 2 - 1, -4):
        base = fonts.font("ja", base_size)
        small = fonts.font("ja", max(base_size * 45 // 100, 12))
        widths = [
            max(base.getlength(s.base, language="ja"), small.getlength(s.reading, language="ja") if s.reading else 0)
            for s in segments
        ]
        if sum(widths) <= room:
            break
    ruby_ascent, ruby_descent = small.getmetrics()
    ascent, descent = base.getmetrics()
    baseline = top + ruby_ascent + ruby_descent + ascent
    x = cx - sum(widths) / 2
    for segment, width in zip(segments, widths, strict=True):
        mid = x + width / 2
        draw.text((mid, baseline), segment.base, font=base, fill=TEXT, anchor="ms", language="ja")
        if segment.reading:
            draw.text((mid, baseline - ascent), segment.reading, font=small, fill=TEXT, anchor="ms", language="ja")
        x += width
    return baseline + descent


def _tag(lang: str) -> str | None:
    """The language given to the shaper (it picks local glyph forms), when libraqm is there."""
    return lang if shaping() else None


def _icon(draw: ImageDraw.ImageDraw, icon: Icon, cx: int, cy: int, r: int, accent: str, fonts: Fonts) -> None:
    """A white pictogram inside the icon's circle."""
    white = "#FFFFFF"
    line = max(r // 11, 4)
    if icon == "card":
        w, h = int(r * 1.25), int(r * 0.8)
        draw.rounded_rectangle((cx - w // 2, cy - h // 2, cx + w // 2, cy + h // 2), radius=r // 8, fill=white)
        s = int(h * 0.55)
        px, py = cx - w // 2 + r // 7, cy - s // 2
        draw.rectangle((px, py, px + int(s * 0.8), py + s), fill=accent)
        for k in range(3):
            ly = cy - h // 4 + k * h // 4
            draw.line((cx - w // 2 + r // 7 + s, ly, cx + w // 2 - r // 7, ly), fill=accent, width=line)
    elif icon == "form":
        w, h = int(r * 0.95), int(r * 1.25)
        draw.rounded_rectangle((cx - w // 2, cy - h // 2, cx + w // 2, cy + h // 2), radius=r // 10, fill=white)
        for k in range(3):
            ly = cy - h // 4 + k * h // 5
            draw.line((cx - w // 3, ly, cx + w // 3, ly), fill=accent, width=line)
        draw.line((cx - w // 4, cy + h // 3, cx - w // 10, cy + h // 2.3, cx + w // 4, cy + h // 5), fill=accent,
                  width=line, joint="curve")  # fmt: skip
    elif icon == "pin":
        head = int(r * 0.45)
        hy = cy - r // 5
        draw.polygon([(cx - head * 0.86, hy + head * 0.5), (cx + head * 0.86, hy + head * 0.5), (cx, cy + r * 0.72)],
                     fill=white)  # fmt: skip
        draw.ellipse((cx - head, hy - head, cx + head, hy + head), fill=white)
        hole = head // 2
        draw.ellipse((cx - hole, hy - hole, cx + hole, hy + hole), fill=accent)
    elif icon == "list":
        for k in range(3):
            ly = cy - r // 2 + k * r // 2
            dot = r // 9
            draw.ellipse((cx - r // 2 - dot, ly - dot, cx - r // 2 + dot, ly + dot), fill=white)
            draw.line((cx - r // 4, ly, cx + r * 0.6, ly), fill=white, width=line + 2)
    elif icon == "question":
        bubble = int(r * 0.62)
        draw.rounded_rectangle((cx - bubble, cy - bubble, cx + bubble, cy + bubble * 0.8), radius=r // 4, fill=white)
        draw.polygon([(cx - bubble // 3, cy + bubble * 0.75), (cx - bubble // 1.4, cy + bubble * 1.25),
                      (cx + bubble // 20, cy + bubble * 0.75)], fill=white)  # fmt: skip
        font = fonts.font("en", int(r * 0.95))
        draw.text((cx, cy - bubble * 0.1), "?", font=font, fill=accent, anchor="mm")
    elif icon == "globe":
        g = int(r * 0.68)
        draw.ellipse((cx - g, cy - g, cx + g, cy + g), outline=white, width=line)
        draw.ellipse((cx - g // 2.4, cy - g, cx + g // 2.4, cy + g), outline=white, width=line)
        draw.line((cx, cy - g, cx, cy + g), fill=white, width=line)
        draw.line((cx - g, cy, cx + g, cy), fill=white, width=line)
        for dy in (-g // 2, g // 2):
            half = int((g * g - dy * dy) ** 0.5)
            draw.line((cx - half, cy + dy, cx + half, cy + dy), fill=white, width=line)
    elif icon == "person":
        head = int(r * 0.28)
        draw.ellipse((cx - head, cy - r // 2 - head, cx + head, cy - r // 2 + head), fill=white)
        body = int(r * 0.6)
        draw.pieslice((cx - body, cy - r // 8, cx + body, cy + body * 1.7), 180, 360, fill=white)
    elif icon == "calendar":
        w, h = int(r * 1.15), int(r * 1.0)
        x0, y0 = cx - w // 2, cy - h // 2 + r // 10
        draw.rounded_rectangle((x0, y0, x0 + w, y0 + h), radius=r // 10, fill=white)
        draw.rectangle((x0, y0, x0 + w, y0 + h // 4), fill=white)
        draw.line((x0, y0 + h // 4, x0 + w, y0 + h // 4), fill=accent, width=line)
        for k in range(3):
            for j in range(2):
                gx, gy = x0 + w * (k + 1) // 4, y0 + h // 4 + h * (j + 1) // 3.2
                dot = r // 12
                draw.ellipse((gx - dot, gy - dot, gx + dot, gy + dot), fill=accent)
