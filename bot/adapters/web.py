"""The local web chat: a page with no build step (bot/static/) and a JSON API.

`POST /api/ask` answers one message or button press; `GET /api/ui?lang=xx` gives the page's own
words (placeholder, Retry, errors, the opening note) in a language, so that an error can be shown in
the resident's language even while the server cannot be reached. Japanese labels come with <ruby>
furigana made by the same code as the answers.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.furigana import Furigana, has_kanji, render_segments
from bot.core.i18n import negotiate
from bot.core.languages import LANGS, native_name
from bot.core.models import Button, Incoming, Reply
from bot.core.postback import Postback
from bot.core.render import direction, html_blocks, plain_text
from bot.pipeline import Pipeline

STATIC = Path(__file__).resolve().parent.parent / "static"
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
MAX_BODY = 64 * 1024
CONTACT_INTENT = "contact.person"
"""The answer with the official contacts, behind the page's "talk to a person" button."""
PAGE_STRINGS = {
    "placeholder": ui.WEB_PLACEHOLDER,
    "send": ui.WEB_SEND,
    "retry": ui.WEB_RETRY,
    "clear": ui.WEB_CLEAR,
    "typing": ui.WEB_TYPING,
    "unreachable": ui.WEB_UNREACHABLE,
    "busy": ui.WEB_BUSY,
    "error": ui.ERROR,
    "general_information": ui.GENERAL_INFORMATION,
    "language": ui.LANGUAGE,
}
"""The page's own words, by the key app.js knows them by."""
_SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A session id the page made (or we did): anything else gets a new one."""


def label_html(text: str, lang: str, furigana: Furigana) -> str:
    """A label as HTML: easy Japanese with <ruby> furigana on its kanji, anything else escaped."""
    if lang == "ja" and has_kanji(text):
        return render_segments(furigana.segments(text), "html")
    return html.escape(text)


def button_lang(button: Button, reply_lang: str) -> str:
    """The language a button's label is written in: a language's own name, or the reply's."""
    return button.postback.value if button.postback.kind == "lang" else reply_lang


def reply_payload(reply: Reply, furigana: Furigana) -> dict[str, object]:
    """A reply as the page needs it: HTML with <ruby> per block, links and buttons with their language."""
    buttons = []
    for b in reply.buttons:
        lang = button_lang(b, reply.lang)
        buttons.append(
            {"label": b.label, "data": b.data, "lang": lang, "dir": direction(lang),
             "label_html": label_html(b.label, lang, furigana)}
        )  # fmt: skip
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
        "links": [
            {"url": link.url, "label": link.label, "label_html": label_html(link.label, reply.lang, furigana)}
            for link in reply.links
        ],
        "buttons": buttons,
        "candidates": [{"intent": c.intent, "score": c.score} for c in reply.candidates],
    }


class WebChat:
    """Routes for the web chat; one anonymous session id per browser (localStorage).

    Messages go through the server's pipeline like LINE's and Telegram's: settings by session in the
    shared store, the rate limit, the operators' log and the counts (platform "web").
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._page_words: dict[str, dict[str, object]] = {}
        self._words_of: Assistant | None = None

    @property
    def assistant(self) -> Assistant:
        """The assistant in use now (a hot reload swaps it)."""
        return self.pipeline.assistant()

    @property
    def furigana(self) -> Furigana:
        return self.assistant.replies.furigana

    async def page(self, request: Request) -> Response:
        """The chat page."""
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def static(self, request: Request) -> Response:
        """The page's script and style sheet (only those: no file system behind the route)."""
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    async def languages(self, request: Request) -> Response:
        """The language switch: every code with its own name and direction."""
        return JSONResponse([{"code": c, "name": native_name(c), "dir": direction(c)} for c in LANGS])

    async def page_words(self, request: Request) -> Response:
        """GET ?lang=xx → the page's own words in that language (ja: also with furigana)."""
        lang = negotiate(request.query_params.get("lang"), default="ja") or "ja"
        if self._words_of is not self.assistant:  # new content: new words
            self._page_words, self._words_of = {}, self.assistant
        if lang not in self._page_words:
            self._page_words[lang] = self._words(lang)
        return JSONResponse(self._page_words[lang])

    def _words(self, lang: str) -> dict[str, object]:
        strings = {key: self.assistant.texts.ui(lang, message) for key, message in PAGE_STRINGS.items()}
        contact = None
        if CONTACT_INTENT in self.assistant.catalog.intents:
            label = self.assistant.texts.title(self.assistant.catalog[CONTACT_INTENT], lang)
            contact = {
                "label": label,
                "label_html": label_html(label, lang, self.furigana),
                "data": Postback.intent(CONTACT_INTENT).encode(),
            }
        return {
            "lang": lang,
            "dir": direction(lang),
            "strings": strings,
            "html": {key: label_html(text, lang, self.furigana) for key, text in strings.items()},
            "contact": contact,
        }

    async def ask(self, request: Request) -> Response:
        """POST {"text" | "postback", "session"?} → the reply as JSON, with `text_lang`: the language
        the message is written in when it is clear (null otherwise), for the page to tag it."""
        body = await request.body()  # at most MAX_BODY: the app's BodyLimit stops larger ones as they stream
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
        assistant = self.assistant
        reply = await self.pipeline.handle(msg)
        if reply is None:  # over the per-user rate limit, after its one notice
            return JSONResponse({"error": "too many messages"}, status_code=429, headers={"Retry-After": "10"})
        detected = assistant.policy.detector.detect(text) if text.strip() and postback is None else None
        text_lang = detected.lang if detected is not None and detected.confident else None
        return JSONResponse({"session": session, "text_lang": text_lang, **reply_payload(reply, self.furigana)})
