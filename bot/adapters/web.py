"""The local web chat: a page with no build step and a JSON API (/api/ask)."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from bot.adapters.base import answer
from bot.core.assistant import Assistant
from bot.core.languages import LANGS, native_name
from bot.core.models import Incoming, Reply
from bot.core.postback import Postback
from bot.core.render import direction, html_blocks, plain_text

STATIC = Path(__file__).resolve().parent.parent / "static"
MAX_BODY = 64 * 1024
_SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A session id the page made (or we did): anything else gets a new one."""


def reply_payload(reply: Reply) -> dict[str, object]:
    """A reply as the page needs it: HTML with <ruby> per block, buttons, links."""
    return {
        "kind": reply.kind,
        "lang": reply.lang,
        "dir": direction(reply.lang),
        "intent": reply.intent,
        "score": reply.score,
        "text": plain_text(reply),
        "blocks": [
            {"lang": block.lang, "dir": direction(block.lang), "html": fragment}
            for block, fragment in zip(reply.blocks, html_blocks(reply), strict=True)
        ],
        "links": [{"url": link.url, "label": link.label} for link in reply.links],
        "buttons": [{"label": b.label, "data": b.data} for b in reply.buttons],
        "candidates": [{"intent": c.intent, "score": c.score} for c in reply.candidates],
    }


class WebChat:
    """Routes for the web chat; one anonymous session id per browser (localStorage)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    async def page(self, request: Request) -> Response:
        """The chat page."""
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def languages(self, request: Request) -> Response:
        """The language switch: every code with its own name and direction."""
        return JSONResponse([{"code": c, "name": native_name(c), "dir": direction(c)} for c in LANGS])

    async def ask(self, request: Request) -> Response:
        """POST {"text" | "postback", "session"?} → the reply as JSON."""
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "message too large"}, status_code=413)
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past Python's stack
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        text, postback, session = data.get("text", ""), data.get("postback"), data.get("session")
        if not isinstance(text, str) or (postback is not None and not isinstance(postback, str)):
            return JSONResponse({"error": "text and postback must be strings"}, status_code=400)
        session = session if isinstance(session, str) and _SESSION.fullmatch(session) else secrets.token_hex(8)
        msg = Incoming(
            platform="web",
            user_id=session,
            text=text,
            postback=None if postback is None else (Postback.decode(postback) or Postback.menu()),
            lang_hint=request.headers.get("accept-language", "").split(",")[0][:35] or None,
        )
        return JSONResponse({"session": session, **reply_payload(answer(self.assistant, msg))})
