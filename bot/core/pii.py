"""Personal numbers in a message: found and redacted before anything is stored or logged.

What counts: a My Number (12 digits whose last is the check digit of the Ministry of Internal Affairs
and Communications ordinance No. 85, article 5), a Residence Card number (2 letters, 8 digits, 2
letters), a phone number (10 to 13 digits starting with 0 or +), an e-mail address. Residents write
numbers with full-width or their own script's digits: the text is NFKC-normalised first, and a
digit of any script counts as its value. A redacted text holds placeholders (``[my-number]``);
scanning it again finds them, so a message recovered from the inbox still gets the warning.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["my-number", "residence-card", "phone", "email"]
KINDS: tuple[Kind, ...] = ("my-number", "residence-card", "phone", "email")

MY_NUMBER_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
"""Weights of the first 11 digits, left to right (the ordinance's Qn, counted from the right: n+1, then n-5)."""

_SEP = r"[ \-.\u2010-\u2015\u2212]"
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
# `\d` is any script's decimal digit (Devanagari, Bengali, Thai, Myanmar, Khmer, Arabic-Indic…), as
# residents type them; `_digits` reads each as its value.
_CARD = re.compile(r"(?<![A-Za-z\d])[A-Za-z]{2} ?\d{8} ?[A-Za-z]{2}(?![A-Za-z\d])")
_TWELVE = re.compile(rf"(?<!\d)\d(?:{_SEP}?\d){{11}}(?!\d)")
_PHONE = re.compile(rf"(?<![\d+])[+\d][\d(](?:[\d()]|{_SEP}(?=[\d(])){{7,22}}(?<=\d)(?!\d)")
_PLACEHOLDER = re.compile(r"\[(" + "|".join(KINDS) + r")\]")
_NEEDED = re.compile(r"[\d@\[]")
"""What every pattern above needs: most messages have none, and one search is all they cost."""
MIN_PHONE, MAX_PHONE = 10, 13


@dataclass(frozen=True)
class Finding:
    """One personal number: what it is and where it is in `Scan.text`."""

    kind: Kind
    start: int
    end: int


@dataclass(frozen=True)
class Scan:
    """A message read for personal numbers."""

    text: str
    """The message, NFKC-normalised when something was found (positions refer to this), else as it came."""
    findings: tuple[Finding, ...]

    @property
    def found(self) -> bool:
        """Whether the message holds any personal number (or a placeholder of one)."""
        return bool(self.findings)

    @property
    def kinds(self) -> frozenset[Kind]:
        """The kinds found."""
        return frozenset(f.kind for f in self.findings)

    @property
    def redacted(self) -> str:
        """The text with each finding replaced by its placeholder: what may be stored or logged."""
        return self._replace(lambda f: f"[{f.kind}]")

    @property
    def stripped(self) -> str:
        """The text without the findings: what the matcher reads (a number says nothing about the question)."""
        return self._replace(lambda f: " ")

    def _replace(self, by: Callable[[Finding], str]) -> str:
        out, at = [], 0
        for finding in self.findings:
            out += [self.text[at : finding.start], by(finding)]
            at = finding.end
        out.append(self.text[at:])
        return "".join(out)


def scan(text: str) -> Scan:
    """Find the personal numbers in `text` (never raises)."""
    original, text = text, unicodedata.normalize("NFKC", text)
    if not _NEEDED.search(text):
        return Scan(original, ())
    taken: list[Finding] = []

    def free(start: int, end: int) -> bool:
        return all(end <= f.start or start >= f.end for f in taken)

    for match in _PLACEHOLDER.finditer(text):
        taken.append(Finding(match.group(1), match.start(), match.end()))  # type: ignore[arg-type]
    for match in _EMAIL.finditer(text):
        if free(*match.span()):
            taken.append(Finding("email", *match.span()))
    for match in _CARD.finditer(text):
        if free(*match.span()):
            taken.append(Finding("residence-card", *match.span()))
    for match in _TWELVE.finditer(text):
        if free(*match.span()) and is_my_number(_digits(match.group())):
            taken.append(Finding("my-number", *match.span()))
    for match in _PHONE.finditer(text):
        number = match.group()
        if free(*match.span()) and _digits(number[0]) in ("", "0") and MIN_PHONE <= len(_digits(number)) <= MAX_PHONE:
            taken.append(Finding("phone", *match.span()))
    if not taken:
        return Scan(original, ())
    return Scan(text, tuple(sorted(taken, key=lambda f: f.start)))


def redact(text: str) -> str:
    """`text` with every personal number replaced by a placeholder."""
    return scan(text).redacted


def redact_fields(value: Any, names: Collection[str]) -> Any:
    """A copy of JSON-like `value` (dicts, lists) with every string under a key in `names` redacted.

    For a platform's payload, kept until its reply was accepted: the adapter names the fields that
    hold what the user wrote ("text", "caption").
    """
    if isinstance(value, dict):
        return {
            key: redact(item) if key in names and isinstance(item, str) else redact_fields(item, names)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_fields(item, names) for item in value]
    return value


def my_number_check_digit(first_eleven: str) -> int:
    """The check digit of the first 11 digits of a My Number.

    11 minus (the weighted sum modulo 11); 0 when that remainder is 0 or 1.
    """
    remainder = sum(int(d) * w for d, w in zip(first_eleven, MY_NUMBER_WEIGHTS, strict=True)) % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_my_number(digits: str) -> bool:
    """Whether 12 ASCII digits are a My Number (its last digit is the check digit of the others)."""
    return len(digits) == 12 and digits.isdigit() and my_number_check_digit(digits[:11]) == int(digits[11])


def _digits(text: str) -> str:
    """The decimal digits of `text` as ASCII, whatever their script."""
    return "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())
