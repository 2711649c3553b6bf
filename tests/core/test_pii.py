"""Personal numbers found in any script's digits, redacted, and the check digit as the ordinance says."""

from __future__ import annotations

import random

import pytest

from bot.core.pii import is_my_number, my_number_check_digit, redact, scan

VALID = "123456789018"
"""Worked by hand: 1·6+2·5+3·4+4·3+5·2+6·7+7·6+8·5+9·4+0·3+1·2 = 212; 212 mod 11 = 3; 11 − 3 = 8."""
REMAINDER_1 = "200000000000"
"""2·6 = 12; 12 mod 11 = 1, and a remainder of 0 or 1 gives the check digit 0."""


def ordinance_check_digit(first_eleven: str) -> int:
    """The ordinance's formula as written: Pn is the nth digit from the lowest; Qn = n+1 (n ≤ 6), n−5 (n ≥ 7)."""
    total = 0
    for n in range(1, 12):
        p = int(first_eleven[11 - n])
        q = n + 1 if n <= 6 else n - 5
        total += p * q
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def test_check_digit_follows_the_ordinance() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        digits = "".join(rng.choice("0123456789") for _ in range(11))
        assert my_number_check_digit(digits) == ordinance_check_digit(digits), digits


@pytest.mark.parametrize("number", [VALID, REMAINDER_1, "000000000000"])
def test_known_valid_numbers(number: str) -> None:
    assert is_my_number(number)


@pytest.mark.parametrize("number", ["123456789019", "123456789010", "200000000001", "12345678901", "1234567890180"])
def test_wrong_check_digit_or_length_is_not_a_my_number(number: str) -> None:
    assert not is_my_number(number)
    assert "my-number" not in scan(f"no {number} here").kinds


@pytest.mark.parametrize(
    "written",
    [
        VALID,
        "1234 5678 9018",
        "1234-5678-9018",
        "１２３４５６７８９０１８",  # full width
        "१२३४५६७८९०१८",  # Devanagari (Nepali)
        "১২৩৪৫৬৭৮৯০১৮",  # Bengali
        "๑๒๓๔๕๖๗๘๙๐๑๘",  # Thai
        "၁၂၃၄၅၆၇၈၉၀၁၈",  # Myanmar
        "១២៣៤៥៦៧៨៩០១៨",  # Khmer
        "۱۲۳۴۵۶۷۸۹۰۱۸",  # Extended Arabic-Indic (Urdu)
    ],
)
def test_my_number_in_any_script_is_redacted(written: str) -> None:
    found = scan(f"マイナンバーは{written}です")

    assert found.kinds == {"my-number"}
    assert found.redacted == "マイナンバーは[my-number]です"
    assert found.stripped == "マイナンバーは です"


@pytest.mark.parametrize("card", ["AB12345678CD", "ab12345678cd", "AB 12345678 CD", "ＡＢ１２３４５６７８ＣＤ"])
def test_residence_card_number_is_redacted(card: str) -> None:
    assert redact(f"card {card}.") == "card [residence-card]."


@pytest.mark.parametrize(
    "phone", ["090-1234-5678", "09012345678", "+81 90-1234-5678", "03-1234-5678", "0120-123-456", "(03) 1234-5678"]
)
def test_phone_numbers_are_redacted(phone: str) -> None:
    found = scan(f"call me {phone} please")
    assert found.kinds == {"phone"} and phone[-4:] not in found.redacted


FULL_WIDTH_EMAIL = "ＴＥＳＴ＠ＥＸＡＭＰＬＥ．ＪＰ"


@pytest.mark.parametrize("email", ["linh.nguyen@example.com", "a+b@mail.example.co.jp", FULL_WIDTH_EMAIL])
def test_email_addresses_are_redacted(email: str) -> None:
    assert redact(f"mail: {email}") == "mail: [email]"


@pytest.mark.parametrize(
    "text",
    [
        "I came on 2026-06-14 and paid 1600 yen",
        "〒123-4567 Tokyo",
        "I have lived here 3 years, card valid until 2031/06/14",
        "my visa number is 12345678",
        "特定在留カードってなに？",
    ],
)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert not scan(text).found and redact(text) == text


def test_redacting_again_changes_nothing_and_still_counts_as_found() -> None:
    once = redact(f"number {VALID}, card AB12345678CD, mail x@example.com, tel 090-1234-5678")

    assert once == "number [my-number], card [residence-card], mail [email], tel [phone]"
    assert redact(once) == once and scan(once).kinds == {"my-number", "residence-card", "email", "phone"}
