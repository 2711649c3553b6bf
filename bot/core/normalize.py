"""Text normalisation shared by the matcher, the loader and language switching.

Residents type the same words many ways: full-width letters, katakana or hiragana, with or without
long-vowel marks or Vietnamese diacritics, with emoji. All of them fold to one form here.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MAX_CHARS = 300
"""Only the first part of a long message is matched: a question is in its opening lines."""

_KATAKANA = {code: code - 0x60 for code in range(ord("ァ"), ord("ヶ") + 1)}
_LONG_VOWELS = dict.fromkeys(map(ord, "ーｰ〜～"), None)
_LATIN_LETTERS = {ord("đ"): "d", ord("ı"): "i", ord("ø"): "o", ord("ł"): "l", ord("ß"): "ss"}
# Urdu typed on an Arabic keyboard: Arabic yeh, kaf and heh for the Urdu letters.
_URDU_LETTERS = {ord("ي"): "ی", ord("ى"): "ی", ord("ك"): "ک", ord("ه"): "ہ"}
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e]")
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
"""Zero-width characters: part of some Sinhala and Devanagari spellings, so dropped, not spaced."""


def clean(text: str) -> str:
    """Make user text safe to handle: valid Unicode, no control characters, bounded length."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub(" ", text.replace("\ufffd", " "))
    return _INVISIBLE.sub("", text).strip()


def normalize(text: str) -> str:
    """Fold `text` for matching: NFKC, case, kana, long vowels, Latin diacritics, no punctuation.

    Only the first `MAX_CHARS` characters are read; cached on those, so a long message cannot make
    the cache hold all of it.
    """
    return _normalize(text[:MAX_CHARS])


@lru_cache(maxsize=4096)
def _normalize(text: str) -> str:
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()
    text = text.translate(_KATAKANA).translate(_LONG_VOWELS).translate(_LATIN_LETTERS).translate(_URDU_LETTERS)
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        cat = unicodedata.category(ch)
        if cat == "Mn":
            # Drop accents on Latin letters (people type Vietnamese and Spanish without them);
            # keep vowel signs of Devanagari, Thai, Khmer… where they are part of the word.
            if out and out[-1] < "\u0250":
                continue
            out.append(ch)
        elif cat[0] in "LN" or cat == "Mc":
            out.append(ch)
        else:
            out.append(" ")
    return _SPACES.sub(" ", unicodedata.normalize("NFC", "".join(out))).strip()
