"""Readings of numbers with a counter, as they are spoken: 九時 くじ, 四日 よっか, 二十日 はつか, 30分 さんじゅっぷん.

Analysers read each digit's usual sound and miss the changes a counter makes (rendaku, small っ,
the old readings of days and people), and the leaflet's dates and office hours are full of them.
The rules are few and closed, so they are written here rather than listed in readings.yaml.
"""

from __future__ import annotations

import re
import unicodedata

_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
_DIGITS = ["", "いち", "に", "さん", "よん", "ご", "ろく", "なな", "はち", "きゅう"]
_HUNDREDS = {3: "さんびゃく", 6: "ろっぴゃく", 8: "はっぴゃく"}
_THOUSANDS = {3: "さんぜん", 8: "はっせん"}

COUNTERS = "時日月年分人歳才回枚番階週"
NUMBER = r"(?:[0-9０-９]+|[〇零一二三四五六七八九十百千]+)"
PATTERN = re.compile(rf"{NUMBER}(?:[かヶカケ]月|[{COUNTERS}])")
"""A number (digits or kanji) and the counter right after it."""

_DAYS = {
    1: "ついたち", 2: "ふつか", 3: "みっか", 4: "よっか", 5: "いつか", 6: "むいか", 7: "なのか", 8: "ようか",
    9: "ここのか", 10: "とおか", 14: "じゅうよっか", 20: "はつか", 24: "にじゅうよっか",
}  # fmt: skip
_PEOPLE = {1: "ひとり", 2: "ふたり"}


def value(number: str) -> int | None:
    """The value of a number written in digits (any width) or kanji (十四, 二十, 百二十); None if not one."""
    number = unicodedata.normalize("NFKC", number)
    if number.isascii() and number.isdigit():
        return int(number)
    total, digit = 0, None
    for char in number:
        if char in _KANJI_DIGITS:
            if digit is not None:  # 一二 is not a number we read
                return None
            digit = _KANJI_DIGITS[char]
        elif char in _KANJI_UNITS:
            total += (1 if digit is None else digit) * _KANJI_UNITS[char]
            digit = None
        else:
            return None
    return total + (digit or 0)


def spoken(n: int) -> str:
    """A number as it is read on its own (up to 9,999): 24 にじゅうよん, 300 さんびゃく."""
    if n == 0:
        return "ぜろ"
    out = []
    thousands, hundreds, tens, ones = n // 1000 % 10, n // 100 % 10, n // 10 % 10, n % 10
    if thousands:
        out.append(_THOUSANDS.get(thousands, ("" if thousands == 1 else _DIGITS[thousands]) + "せん"))
    if hundreds:
        out.append(_HUNDREDS.get(hundreds, ("" if hundreds == 1 else _DIGITS[hundreds]) + "ひゃく"))
    if tens:
        out.append(("" if tens == 1 else _DIGITS[tens]) + "じゅう")
    if ones:
        out.append(_DIGITS[ones])
    return "".join(out)


def _geminate(n: int, counter: str) -> str:
    """A number before a counter that doubles its first sound: 1 いっ, 6 ろっ, 8 はっ, 10 じゅっ."""
    last = n % 10
    if last == 0 and n % 100:
        return spoken(n).removesuffix("じゅう") + "じゅっ" + counter
    head = spoken(n - last) if n >= 10 else ""
    return head + {1: "いっ", 6: "ろっ", 8: "はっ"}.get(last, _DIGITS[last]) + counter


def regular(text: str, whole: str) -> str | None:
    """The counter's part of `whole` when the number in `text` keeps a usual reading (6月 ろく|がつ,
    30分 さんじゅっ|ぷん, 17時 じゅうしち|じ), else None (4時 よじ, 14日 じゅうよっか: read as a whole).

    Furigana over Arabic digits shows the counter's reading alone when the digits are read as usual.
    """
    found = re.fullmatch(rf"({NUMBER})(.+)", text)
    n = value(found.group(1)) if found else None
    if n is None:
        return None
    last = n % 10
    heads = {spoken(n), _geminate(n, "")}
    if n >= 10 and last in (4, 7, 9):
        heads.add(spoken(n - last) + {4: "よん", 7: "しち", 9: "く"}[last])
    for head in sorted(heads, key=len, reverse=True):
        if whole.startswith(head) and len(whole) > len(head):
            return whole[len(head) :]
    return None


def reading(text: str, after_month: bool = False) -> str | None:
    """The reading of a number and its counter (`PATTERN`), or None when it is not one we know.

    `after_month`: the number follows a month (四月一日), so 一日 is the 1st (ついたち), not "one day".
    """
    found = re.fullmatch(rf"({NUMBER})(.+)", text)
    if not found:
        return None
    n = value(found.group(1))
    counter = found.group(2)
    if n is None or n > 9999:
        return None
    last = n % 10
    if counter == "時":
        return (spoken(n - last) if n >= 10 else "") + {4: "よ", 7: "しち", 9: "く"}.get(last, _DIGITS[last]) + "じ"
    if counter == "日":
        if n == 1 and not after_month:
            return "いちにち"
        return _DAYS.get(n) or spoken(n - last) + {7: "しち", 9: "く"}.get(last, _DIGITS[last]) + "にち"
    if counter == "月":
        return (spoken(n - last) if n >= 10 else "") + {4: "し", 7: "しち", 9: "く"}.get(last, _DIGITS[last]) + "がつ"
    if counter[-1] == "月":  # か月, ヶ月: a duration
        return _geminate(n, "かげつ") if last in (1, 6, 8, 0) else spoken(n) + "かげつ"
    if counter == "年":
        return (
            (spoken(n - last) if n >= 10 else "") + {4: "よ", 7: "なな", 9: "きゅう"}.get(last, _DIGITS[last]) + "ねん"
        )
    if counter == "分":
        if last in (1, 6, 8, 0):
            return _geminate(n, "ぷん")
        return spoken(n) + ("ぷん" if last in (3, 4) else "ふん")
    if counter == "人":
        if n in _PEOPLE:
            return _PEOPLE[n]
        return (spoken(n - last) if n >= 10 else "") + {4: "よ", 7: "しち"}.get(last, _DIGITS[last]) + "にん"
    if counter in "歳才":
        return _geminate(n, "さい") if last in (1, 8, 0) else spoken(n) + "さい"
    if counter == "番":
        return "ひゃくとおばん" if n == 110 else spoken(n) + "ばん"
    if counter in "回階":
        sound = "がい" if counter == "階" and last == 3 else "かい"
        return _geminate(n, sound) if last in (1, 6, 8, 0) else spoken(n) + sound
    if counter == "週":
        return _geminate(n, "しゅう") if last in (1, 8, 0) else spoken(n) + "しゅう"
    if counter == "枚":
        return spoken(n) + "まい"
    return None
