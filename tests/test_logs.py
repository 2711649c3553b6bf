"""Logs: text or JSON lines, and personal numbers redacted wherever they slipped in."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging, message_text

MY_NUMBER = "123456789018"


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    logger = logging.getLogger()
    saved = (list(logger.handlers), logger.level)
    yield logger
    logger.handlers[:], logger.level = saved


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_personal_numbers_are_redacted_in_messages_and_tracebacks(root: logging.Logger, fmt: str) -> None:
    stream = io.StringIO()
    configure_logging("INFO", fmt, stream)
    log = logging.getLogger("bot.test")

    log.info("library said: bad value %s", MY_NUMBER)
    try:
        raise ValueError(f"invalid literal: {MY_NUMBER}")
    except ValueError:
        log.exception("failed")

    written = stream.getvalue()
    assert MY_NUMBER not in written and written.count("[my-number]") == 2
    if fmt == "json":
        records = [json.loads(line) for line in written.splitlines()]
        assert records[0]["level"] == "INFO" and records[0]["logger"] == "bot.test"
        assert "ValueError" in records[1]["exc_info"]


def test_message_text_is_hidden_unless_asked() -> None:
    assert message_text(f"my number {MY_NUMBER}", enabled=False) == "-"
    assert message_text(f"my number {MY_NUMBER}", enabled=True) == "my number [my-number]"
