"""Japanese read into kana for matching, with the words of the catalog.

特定在留カード in a message and とくていざいりゅうかーど in an example must meet. The analyser reads
the catalog's own texts once (examples, synonyms, out-of-scope phrasings; cached with
`bot.core.analysis_cache`); every kanji word it finds, with its reading, goes into a table. A
message is then read by the longest known word at each place: no dictionary lookup per message,
and examples and messages are read the same way. A kanji word no example has stays as it is: it
could not match an example in kana either. Measured against reading every message with SudachiPy,
top-1 on the evaluation and held-out sets is the same (docs/benchmarks.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from bot.core.furigana import Analyser, has_kanji, to_hiragana
from bot.core.normalize import normalize


class KanaReader:
    """Replaces each known kanji word of a text by its hiragana reading, longest word first."""

    def __init__(self, words: dict[str, str]) -> None:
        self.words = words
        self._longest = max(map(len, words), default=0)

    @classmethod
    def from_texts(cls, analyser: Analyser, texts: Iterable[str]) -> KanaReader:
        """The kanji words of `texts` (normalised as the matcher does), each with its most common reading."""
        readings: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for text in filter(has_kanji, texts):
            for surface, reading in analyser(normalize(text)):
                if has_kanji(surface) and reading:
                    readings[surface][to_hiragana(reading)] += 1
        return cls({word: counts.most_common(1)[0][0] for word, counts in readings.items()})

    def __call__(self, text: str) -> str:
        if not has_kanji(text):
            return text
        out, i = [], 0
        while i < len(text):
            for size in range(min(self._longest, len(text) - i), 0, -1):
                reading = self.words.get(text[i : i + size])
                if reading is not None:
                    out.append(reading)
                    i += size
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)
