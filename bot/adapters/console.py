"""The console: `python -m bot chat` (one conversation) and `python -m bot ask` (one user a line)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TextIO

from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.models import Incoming, Reply
from bot.core.postback import Postback
from bot.core.render import plain_text

log = logging.getLogger(__name__)


def reply_json(text: str, reply: Reply) -> dict[str, object]:
    """The `ask --json` object for one message."""
    return {
        "text": text,
        "kind": reply.kind,
        "intent": reply.intent,
        "score": round(reply.score, 1),
        "lang": reply.lang,
        "reply": plain_text(reply),
        "links": [link.url for link in reply.links],
        "candidates": [{"intent": c.intent, "score": c.score} for c in reply.candidates],
    }


def ask_lines(
    assistant: Assistant, lines: Iterable[str], out: TextIO, as_json: bool = False, lang: str | None = None
) -> None:
    """Answer each line independently, as a new user; one process, however many lines."""
    for n, line in enumerate(lines):
        text = line.rstrip("\r\n")
        user = f"ask-{n}"
        if lang:
            assistant.handle(Incoming(platform="cli", user_id=user, postback=Postback.language(lang)))
        try:
            reply = assistant.handle(Incoming(platform="cli", user_id=user, text=text))
        except Exception:  # one bad line must not end a batch of thousands
            log.exception("failed on line %d", n + 1)
            reply = assistant.info(ui.ERROR, lang)
        if as_json:
            out.write(json.dumps(reply_json(text, reply), ensure_ascii=False) + "\n")
        else:
            out.write(plain_text(reply) + "\n\n")
        out.flush()


def run_console(assistant: Assistant, lang: str | None = None, stdin: TextIO | None = None) -> int:
    """An interactive chat; buttons are shown numbered, type the number to press one."""
    import sys

    stdin = stdin or sys.stdin
    user = "console"
    if lang:
        assistant.handle(Incoming(platform="console", user_id=user, postback=Postback.language(lang)))
    print("tokutei-bot — type a question (Ctrl-D to quit) / しつもんを かいてください")
    buttons: list[Postback] = []
    while True:
        try:
            print("> ", end="", flush=True)
            line = stdin.readline()
        except (KeyboardInterrupt, UnicodeDecodeError):
            print()
            continue
        if not line:
            return 0
        text = line.strip()
        if text.isdigit() and 0 < int(text) <= len(buttons):
            msg = Incoming(platform="console", user_id=user, postback=buttons[int(text) - 1])
        else:
            msg = Incoming(platform="console", user_id=user, text=text)
        reply = assistant.handle(msg)
        print(plain_text(reply))
        buttons = [b.postback for b in reply.buttons]
        if reply.buttons:
            print("  " + "  ".join(f"[{i}] {b.label}" for i, b in enumerate(reply.buttons, 1)))
