"""Logging: plain lines for people, JSON lines (LOG_FORMAT=json) for log collectors.

Logs carry event ids, outcomes and error codes, never residents' messages: `message_text` gives the
text only when LOG_MESSAGE_TEXT=1, and redacted. Every record also goes through `Redacting`, so a
personal number that slipped into some message or traceback (a library's error text) is replaced
before it is written.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from bot.core.pii import redact

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
MAX_LOGGED_TEXT = 300


class Redacting(logging.Filter):
    """Replaces personal numbers in a record's message and traceback before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters write exc_text when exc_info is gone: the redacted traceback, not a fresh one.
            record.exc_text, record.exc_info = redact(record.exc_text), None
        return True


def configure_logging(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """One handler on the root logger (replacing any), in `fmt` ("text" or "json"); returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(Redacting())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    return handler


def describe(exc: BaseException) -> str:
    """An exception for a log line: its type and where it was raised, never its message (it may quote users)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else ""
    return f"{type(exc).__name__}{where}"


def message_text(text: str, enabled: bool) -> str:
    """What a log line may show of a resident's message: nothing ("-"), or, when `enabled`, redacted."""
    if not enabled:
        return "-"
    return redact(text)[:MAX_LOGGED_TEXT]
