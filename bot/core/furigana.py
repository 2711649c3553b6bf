"""Furigana for easy Japanese: readings over every kanji word, as the ISA leaflet prints them.

A morphological analyser (SudachiPy, split mode A, chosen by the measurement in
docs/benchmarks.md) gives each word's reading; `intents/readings.yaml` overrides the words it reads
wrongly for our domain (日本→にほん, 14日→じゅうよっか). Operators extend that file, not the code.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Protocol

from bot.core import numerals
from bot.core.models import Segment
from bot.core.yaml_lines import YamlError, load_optional

log = logging.getLogger(__name__)

Format = Literal["inline", "html", "kana"]
FORMATS: tuple[Format, ...] = ("inline", "html", "kana")

_KANJI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff々〆ヶ]")
_HIRAGANA_ONLY = re.compile(r"^[\u3041-\u309f\u30fc]+$")


def has_kanji(text: str) -> bool:
    """Whether `text` contains a kanji (and so needs a reading)."""
    return bool(_KANJI.search(text))


def to_hiragana(text: str) -> str:
    """Katakana → hiragana; everything else unchanged."""
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


class Analyser(Protocol):
    """Splits Japanese into words with their katakana readings."""

    name: str

    def __call__(self, text: str) -> list[tuple[str, str]]: ...


class SudachiAnalyser:
    """SudachiPy with sudachidict-core, split mode A (short units suit furigana best).

    The dictionary loads on the first text that needs it: a process that only ever sees other
    languages never maps its ~200 MB file.
    """

    name = "sudachipy+core (mode A)"

    def __init__(self) -> None:
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """The analyser and dictionary releases: readings made by another one may differ."""
        return f"sudachipy {metadata.version('sudachipy')}, sudachidict-core {metadata.version('sudachidict-core')}, A"

    def _load(self) -> Any:
        with self._lock:
            if self._tokenizer is None:
                from sudachipy import Dictionary, SplitMode

                log.info("loading the SudachiPy dictionary")
                self._tokenizer = Dictionary(dict="core").tokenizer(mode=SplitMode.A)
        return self._tokenizer

    def release(self) -> None:
        """Unmap the dictionary (its pages leave RSS); a later text loads it again."""
        with self._lock:
            self._tokenizer = None

    def __call__(self, text: str) -> list[tuple[str, str]]:
        tokenizer = self._tokenizer or self._load()
        return [(m.surface(), m.reading_form()) for m in tokenizer.tokenize(text)]


class FugashiAnalyser:
    """fugashi with unidic-lite (measured for comparison; install the `bench` extra)."""

    name = "fugashi+unidic-lite"

    def __init__(self) -> None:
        import fugashi

        self._tagger = fugashi.Tagger()

    def __call__(self, text: str) -> list[tuple[str, str]]:
        out = []
        for word in self._tagger(text):
            kana = getattr(word.feature, "kana", None) or word.surface
            out.append((word.surface, kana))
        return out


@dataclass(frozen=True)
class Readings:
    """Domain readings that win over the analyser: word (or "before|word") → hiragana."""

    words: dict[str, str]
    after_number: dict[str, str] = field(default_factory=dict)
    """Counters read one way after a number (29日 → にち, not the analyser's か)."""

    @classmethod
    def load(cls, path: Path) -> Readings:
        """Load `readings.yaml`; a wrong entry raises YamlError with its line."""
        data, lines = load_optional(path)
        if not isinstance(data, dict) or set(data) - {"words", "after_number"}:
            raise YamlError(path, 1, "expected a mapping with the keys 'words' and 'after_number'")
        sections = {name: data.get(name) or {} for name in ("words", "after_number")}
        for name, section in sections.items():
            if not isinstance(section, dict):
                raise YamlError(path, lines.get((name,), 1), f"'{name}' must map a word to its reading")
        for name, surface, reading in [(n, k, v) for n, sec in sections.items() for k, v in sec.items()]:
            line = lines.get((name, surface), 1)
            word = surface.rpartition("|")[2] if isinstance(surface, str) else surface
            if not isinstance(word, str) or not has_kanji(word):
                raise YamlError(path, line, f"{surface!r}: only words with kanji need a reading")
            if not isinstance(reading, str) or not _HIRAGANA_ONLY.match(reading):
                raise YamlError(path, line, f"{surface!r}: the reading must be hiragana, got {reading!r}")
        return cls(dict(sections["words"]), dict(sections["after_number"]))


def align(surface: str, reading: str) -> list[Segment]:
    """Split a word's reading over its kanji runs, leaving okurigana bare (申し込み → 申(もう)し込(こ)み)."""
    reading = to_hiragana(reading)
    runs = re.findall(r"[\u3400-\u9fff\uf900-\ufaff々〆ヶ]+|[^\u3400-\u9fff\uf900-\ufaff々〆ヶ]+", surface)
    pattern = "".join("(.+?)" if has_kanji(run) else f"({re.escape(to_hiragana(run))})" for run in runs)
    found = re.fullmatch(pattern, reading)
    if not found or len(runs) == 1:
        return [Segment(surface, reading if has_kanji(surface) else None)]
    return [Segment(run, part if has_kanji(run) else None) for run, part in zip(runs, found.groups(), strict=True)]


class Furigana:
    """Adds readings to Japanese text; results are cached, as answers repeat."""

    def __init__(self, readings: Readings, analyser: Analyser | None = None) -> None:
        self.readings = readings
        self.analyser = analyser or SudachiAnalyser()
        # "月|1日: ついたち": the word 1日 takes that reading only right after 月 (a lookbehind, so
        # 4月 can still be a word of its own). A number word never starts inside a bigger number:
        # 1日 is not in 11日.
        self._entries: list[tuple[str, str]] = []
        alternatives = []
        for key in sorted(readings.words, key=len, reverse=True):
            before, _, word = key.rpartition("|")
            guard = f"(?<={re.escape(before)})" if before else ("(?<![0-9０-９])" if word[0].isdigit() else "")
            alternatives.append(f"{guard}({re.escape(word)})")
            self._entries.append((word, readings.words[key]))
        self._override = re.compile("|".join(alternatives)) if alternatives else None
        self.segments: Callable[[str], tuple[Segment, ...]] = lru_cache(maxsize=2048)(self._segments)

    def _segments(self, text: str) -> tuple[Segment, ...]:
        """Analyse the whole text first, then let readings.yaml override whole words.

        An override applies only where it covers whole words of the analysis, so 日本 does not
        cut 日本人 out of the analyser's hands, and the analyser always sees full sentences.
        """
        if not has_kanji(text):
            return (Segment(text),) if text else ()
        tokens = self.analyser(text)
        starts, ends, pos = set(), set(), 0
        spans = []
        for surface, reading in tokens:
            starts.add(pos)
            spans.append((pos, surface, reading))
            pos += len(surface)
            ends.add(pos)
        overrides: dict[int, tuple[int, str, str]] = {}
        for found in numerals.PATTERN.finditer(text):  # 九時 くじ, 十四日 じゅうよっか (bot.core.numerals)
            begin = found.start()
            if begin in starts and found.end() in ends and not (begin and text[begin - 1].isdigit()):
                spoken = numerals.reading(found.group(), after_month="月" in text[max(0, begin - 3) : begin])
                if spoken:
                    overrides[begin] = (found.end(), found.group(), spoken)
        for found in self._override.finditer(text) if self._override else ():
            word, reading = self._entries[(found.lastindex or 1) - 1]
            begin = found.start()
            if begin in starts and found.end() in ends:  # whole words of the analysis only
                overrides[begin] = (found.end(), word, reading)
        out: list[Segment] = []
        skip_until = 0
        for begin, surface, reading in spans:
            if begin < skip_until:
                continue
            if begin in overrides:
                skip_until, word, word_reading = overrides[begin]
                out.extend(_number_segments(word, word_reading) if word[0].isdigit() else align(word, word_reading))
            elif surface in self.readings.after_number and begin > 0 and text[begin - 1].isdigit():
                out.append(Segment(surface, self.readings.after_number[surface]))
            elif has_kanji(surface):
                out.extend(align(surface, reading))
            else:
                out.append(Segment(surface))
        return tuple(_merge_compounds(_merge_plain(out)))

    def render(self, text: str, fmt: Format = "inline") -> str:
        """`text` with furigana: inline 在留(ざいりゅう), html <ruby>, or kana only."""
        return render_segments(self.segments(text), fmt)


def render_segments(segments: tuple[Segment, ...], fmt: Format = "inline") -> str:
    """Join furigana segments in one of the output formats."""
    if fmt == "html":
        return "".join(
            f"<ruby>{html.escape(s.base)}<rt>{html.escape(s.reading)}</rt></ruby>" if s.reading else html.escape(s.base)
            for s in segments
        )
    if fmt == "kana":
        return "".join(s.reading or s.base for s in segments)
    return "".join(f"{s.base}({s.reading})" if s.reading else s.base for s in segments)


def _number_segments(word: str, reading: str) -> list[Segment]:
    """Digits and their counter: the counter's reading alone when the digits read as usual (6月 がつ),
    else one reading over both (14日 じゅうよっか), as the leaflet prints them."""
    counter = numerals.regular(word, reading)
    digits = len(word) - len(word.lstrip("0123456789０１２３４５６７８９"))
    if counter is None:
        return [Segment(word, reading)]
    return [Segment(word[:digits]), *align(word[digits:], counter)]


def _merge_compounds(segments: list[Segment]) -> list[Segment]:
    """One reading over a run of kanji (外国人 がいこくじん, not 外国 がいこく + 人 じん): a compound
    word is read as one, and in HTML its ruby does not spread it apart."""
    out: list[Segment] = []
    for seg in segments:
        last = out[-1] if out else None
        if last and last.reading and seg.reading and _KANJI.match(seg.base[0]) and _KANJI.match(last.base[-1]):
            out[-1] = Segment(last.base + seg.base, last.reading + seg.reading)
        else:
            out.append(seg)
    return out


def _merge_plain(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for seg in segments:
        if seg.reading is None and out and out[-1].reading is None:
            out[-1] = Segment(out[-1].base + seg.base)
        else:
            out.append(seg)
    return out
