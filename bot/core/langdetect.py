"""Which language a message is written in, among ours: script rules first, then py3langid.

Scripts used by one of our languages only (Hangul, kana, Thai, Khmer, Burmese, Sinhala, Bengali,
Devanagari for Nepali, Arabic script for Urdu) decide at once; Latin and Cyrillic text goes to
py3langid, restricted to our languages. Measured in docs/benchmarks.md.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from bot.core.languages import LANGS

_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa]")
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ja", _KANA),
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("km", re.compile(r"[\u1780-\u17ff]")),
    ("my", re.compile(r"[\u1000-\u109f]")),
    ("si", re.compile(r"[\u0d80-\u0dff]")),
    ("bn", re.compile(r"[\u0980-\u09ff]")),
    ("ne", re.compile(r"[\u0900-\u097f]")),
    ("ur", re.compile(r"[\u0600-\u06ff]")),
)
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_MONGOLIAN = re.compile(r"[өүӨҮ]")
_UKRAINIAN = re.compile(r"[іїєґІЇЄҐ]")
# Card names that residents write inside any language: they say nothing about the language.
_CARD_NAMES = re.compile(
    r"特定在留カード|在留カード|マイナンバーカード|マイナンバー|特別永住者|特定|在留|"
    r"\b(tokutei|zairyu+|zairyuu|kaado|my ?number|mynumber|mainanba|residence card|card)\b",
    re.IGNORECASE,
)

MIN_PROBABILITY = 0.9
"""Below this, py3langid's guess is not trusted and the conversation keeps its language."""


@dataclass(frozen=True)
class Detection:
    """A language and whether it is sure enough to switch the reply language."""

    lang: str | None
    confident: bool
    probability: float = 0.0


class LanguageDetector:
    """Detects our languages in short messages; the py3langid model loads on first use."""

    def __init__(self) -> None:
        self._identifier: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        with self._lock:
            if self._identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                identifier.set_languages([lang for lang in LANGS if lang != "my"])  # no Burmese model
                self._identifier = identifier
        return self._identifier

    def detect(self, text: str) -> Detection:
        """The language of `text`; not confident for short or ambiguous messages ("ok", "card?")."""
        stripped = _CARD_NAMES.sub(" ", text)
        letters = _LETTERS.findall(stripped)
        if not letters:
            # Nothing but card names: written in kana, the message is Japanese all the same.
            return Detection("ja", True, 1.0) if _KANA.search(text) else Detection(None, False)
        for lang, pattern in _SCRIPTS:
            hits = len(pattern.findall(stripped))
            if hits and hits * 2 >= len(letters) * (1 if lang != "ja" else 0.5):
                return Detection(lang, True, 1.0)
        if _HAN.search(stripped) and len(_HAN.findall(stripped)) * 2 >= len(letters):
            return Detection("zh", len(letters) >= 4, 0.9)
        if _UKRAINIAN.search(stripped):
            return Detection("uk", True, 1.0)
        if _MONGOLIAN.search(stripped):
            return Detection("mn", True, 1.0)
        lang, probability = self._model().classify(stripped)
        words = len(stripped.split())
        confident = probability >= MIN_PROBABILITY and len(letters) >= 8 and words >= 2
        return Detection(str(lang), confident, float(probability))
