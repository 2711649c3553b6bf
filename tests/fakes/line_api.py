"""A fake LINE Messaging API on 127.0.0.1 that records every request: the API host and the data host.

It enforces what the real API enforces and the SDK does not (5 messages, 5,000 characters, 13
quick replies, 20-character labels, single-use reply tokens, retry keys; Flex messages: their
structure, checked with the SDK's own models, and LINE's limits; rich menus: the object, the image
uploaded once to the data host as PNG or JPEG of the menu's size under 1 MB, only a menu with an
image as a default or linked to a user), so a test fails the way production would. Faults can be
scripted per path (`fault_next`, and the shorthands `fail_next` and `slow_next`): errors, Retry-After,
hangs, resets, garbage or unexpected bodies, each before or after the call takes effect.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from linebot.v3.messaging import FlexMessage, RichMenuRequest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.faults import ConnectionReset, Fault

INFO = "/v2/bot/info"
REPLY = "/v2/bot/message/reply"
PUSH = "/v2/bot/message/push"
LOADING = "/v2/bot/chat/loading/start"
PROFILE = "/v2/bot/profile/"
RICH_MENU = "/v2/bot/richmenu"
RICH_MENU_LIST = "/v2/bot/richmenu/list"
DEFAULT_RICH_MENU = "/v2/bot/user/all/richmenu"
USER_RICH_MENU = "/v2/bot/user/"
"""…/{userId}/richmenu[/{richMenuId}]"""
MAX_IMAGE = 1024 * 1024
MAX_BUBBLES = 12
MAX_BUBBLE_JSON = 30 * 1024
MAX_CAROUSEL_JSON = 50 * 1024


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    """What the fake answered."""
    base: str = ""
    """The host it was sent to (the API's or the data host's base URL)."""


@dataclass
class Delivery:
    """Messages the fake accepted (what the user would see)."""

    kind: str
    """"reply" or "push"."""
    to: str
    """Reply token or push target."""
    messages: list[dict[str, Any]]
    at: float = field(default_factory=time.monotonic)
    """When the fake accepted them (`time.monotonic`: one clock for every process on the machine)."""

    @property
    def texts(self) -> list[str]:
        """The text of each message (a Flex message's alt text, which says the same)."""
        return [m.get("text") or m.get("altText", "") for m in self.messages]

    def flex(self) -> list[dict[str, Any]]:
        """The Flex messages among them."""
        return [m for m in self.messages if m.get("type") == "flex"]

    @property
    def text(self) -> str:
        """All texts joined, for `in` checks."""
        return "\n".join(self.texts)

    @property
    def quick_replies(self) -> list[dict[str, Any]]:
        """The quick reply items of the last message."""
        quick = self.messages[-1].get("quickReply") or {}
        items: list[dict[str, Any]] = quick.get("items") or []
        return items


def utf16_len(text: str) -> int:
    """Length as LINE counts it."""
    return len(text.encode("utf-16-le")) // 2


def check_messages(messages: object) -> str | None:
    """LINE's own limits on a message list; the error message, or None when valid."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return "May not be empty or exceed 5 messages"
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("type") not in ("text", "flex"):
            return f"messages[{n}].type: only text and flex are expected here"
        if message["type"] == "flex":
            error = check_flex(message)
            if error:
                return f"messages[{n}].{error}"
        else:
            text = message.get("text")
            if not isinstance(text, str) or not text or utf16_len(text) > 5000:
                return f"messages[{n}].text: Length must be between 1 and 5000"
        items = (message.get("quickReply") or {}).get("items") or []
        if len(items) > 13:
            return f"messages[{n}].quickReply.items: Size must be between 0 and 13"
        for item in items:
            error = check_action(item.get("action"))
            if error:
                return f"messages[{n}].quickReply.items[].action.{error}"
    return None


def check_action(action: object, label_required: bool = True) -> str | None:
    """An action object: postback (data 1–300, label 1–20, displayText ≤ 300), message or uri."""
    if not isinstance(action, dict):
        return "action: required"
    kind = action.get("type")
    label = action.get("label")
    if (label is not None or label_required) and (not isinstance(label, str) or not 1 <= len(label) <= 20):
        return "label: Length must be between 1 and 20"
    if kind == "postback":
        data = action.get("data")
        if not isinstance(data, str) or not 1 <= len(data) <= 300:
            return "data: Length must be between 1 and 300"
        display = action.get("displayText")
        if display is not None and (not isinstance(display, str) or not 1 <= len(display) <= 300):
            return "displayText: Length must be between 1 and 300"
    elif kind == "message":
        text = action.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 300:
            return "text: Length must be between 1 and 300"
    elif kind == "uri":
        if not str(action.get("uri", "")).startswith(("https://", "http://", "line://", "tel:")):
            return "uri: invalid"
    else:
        return f"type: unknown action type {kind!r}"
    return None


_BUBBLE_KEYS = {"type", "size", "direction", "header", "hero", "body", "footer", "styles", "action"}
_BUBBLE_SIZES = {"nano", "micro", "deca", "hecto", "kilo", "mega", "giga"}
_COMPONENTS = {"box", "button", "image", "video", "icon", "text", "span", "separator", "filler"}


def check_flex(message: dict[str, Any]) -> str | None:
    """A Flex message as LINE checks it: the SDK's models for the structure, then LINE's limits."""
    alt = message.get("altText")
    if not isinstance(alt, str) or not 1 <= utf16_len(alt) <= 400:
        return "altText: Length must be between 1 and 400"
    try:
        FlexMessage.from_dict(message)
    except Exception as exc:  # the SDK's pydantic (v1) errors, or its discriminator's ValueError
        return f"contents: invalid Flex structure ({type(exc).__name__}: {str(exc)[:200]})"
    contents = message.get("contents")
    if not isinstance(contents, dict):
        return "contents: required"
    size = len(json.dumps(contents, ensure_ascii=False).encode())
    if contents.get("type") == "carousel":
        bubbles = contents.get("contents")
        if not isinstance(bubbles, list) or not 1 <= len(bubbles) <= MAX_BUBBLES:
            return f"contents.contents: Size must be between 1 and {MAX_BUBBLES}"
        if size > MAX_CAROUSEL_JSON:
            return "contents: a carousel's JSON is limited to 50 KB"
        if len({b.get("size", "mega") for b in bubbles}) > 1:
            return "contents.contents: bubbles of one carousel must have one size"
    elif contents.get("type") == "bubble":
        bubbles = [contents]
    else:
        return "contents.type: must be bubble or carousel"
    for bubble in bubbles:
        if len(json.dumps(bubble, ensure_ascii=False).encode()) > MAX_BUBBLE_JSON:
            return "contents: a bubble's JSON is limited to 30 KB"
        unknown = set(bubble) - _BUBBLE_KEYS
        if unknown:
            return f"contents: unknown bubble properties {sorted(unknown)}"
        if bubble.get("size", "mega") not in _BUBBLE_SIZES or bubble.get("direction", "ltr") not in ("ltr", "rtl"):
            return "contents: invalid bubble size or direction"
        for block in ("header", "hero", "body", "footer"):
            if block in bubble:
                error = _check_component(bubble[block], block)
                if error:
                    return error
    return None


def _check_component(component: object, where: str) -> str | None:
    if not isinstance(component, dict) or component.get("type") not in _COMPONENTS:
        return f"{where}: unknown component"
    kind = component["type"]
    if kind == "box":
        children = component.get("contents")
        if not isinstance(children, list):
            return f"{where}.contents: required"
        for n, child in enumerate(children):
            error = _check_component(child, f"{where}.contents[{n}]")
            if error:
                return error
    elif kind == "text":
        text = component.get("text")
        if not component.get("contents") and (not isinstance(text, str) or not text):
            return f"{where}.text: must not be empty"
    elif kind == "button":
        if component.get("style", "link") not in ("primary", "secondary", "link"):
            return f"{where}.style: invalid"
        error = check_action(component.get("action"))
        if error:
            return f"{where}.action.{error}"
    for key in ("color", "backgroundColor"):
        value = component.get(key)
        if value is not None and not (isinstance(value, str) and value.startswith("#") and len(value) in (7, 9)):
            return f"{where}.{key}: must be #RRGGBB or #RRGGBBAA"
    return None


def check_rich_menu(body: object) -> str | None:
    """A rich menu object as LINE checks it (the SDK's model, then LINE's limits)."""
    if not isinstance(body, dict):
        return "body: required"
    try:
        RichMenuRequest.from_dict(body)
    except Exception as exc:
        return f"invalid rich menu ({type(exc).__name__}: {str(exc)[:200]})"
    size = body.get("size") or {}
    width, height = size.get("width"), size.get("height")
    if not (isinstance(width, int) and isinstance(height, int)):
        return "size: required"
    if not (800 <= width <= 2500 and height >= 250 and width / height >= 1.45):
        return "size: width 800 to 2500, height 250 or more, width/height 1.45 or more"
    if not isinstance(body.get("selected"), bool):
        return "selected: required"
    name, bar = body.get("name"), body.get("chatBarText")
    if not isinstance(name, str) or not 1 <= len(name) <= 300:
        return "name: Length must be between 1 and 300"
    if not isinstance(bar, str) or not 1 <= len(bar) <= 14:
        return "chatBarText: Length must be between 1 and 14"
    areas = body.get("areas")
    if not isinstance(areas, list) or not 1 <= len(areas) <= 20:
        return "areas: Size must be between 1 and 20"
    for n, area in enumerate(areas):
        bounds = area.get("bounds") or {}
        x, y, w, h = (bounds.get(k) for k in ("x", "y", "width", "height"))
        if not all(isinstance(v, int) and v >= 0 for v in (x, y, w, h)) or x + w > width or y + h > height:
            return f"areas[{n}].bounds: outside the rich menu"
        error = check_action(area.get("action"), label_required=False)
        if error:
            return f"areas[{n}].action.{error}"
    return None


Endpoint = Callable[[Request, Recorded], Awaitable[Response]]


@dataclass
class StoredRichMenu:
    """A rich menu as the fake keeps it: the object, and its image once uploaded."""

    id: str
    body: dict[str, Any]
    image: bytes | None = None
    content_type: str | None = None
    uploaded_to: str = ""
    """The host the image was sent to."""


@dataclass
class FakeLineApi:
    """The fake API: `app` to serve, `requests` and `deliveries` to inspect."""

    access_token: str
    url: str = ""
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    refused_tokens: set[str] = field(default_factory=set)
    """Reply tokens answered with 400 Invalid reply token (expired)."""
    data_url: str = ""
    """The data host (api-data.line.me), served apart: `data_app`."""
    rich_menus: dict[str, StoredRichMenu] = field(default_factory=dict)
    default_rich_menu: str | None = None
    user_rich_menus: dict[str, str] = field(default_factory=dict)
    """User id → the rich menu linked to them."""
    rich_menu_log: list[tuple[str, str]] = field(default_factory=list)
    """What was done to rich menus, in order (kept when `requests` is cleared): ("create", id),
    ("image", id), ("default", id), ("delete", id), ("link", id)."""
    failing_uploads: int = 0
    """The next uploads of an image answered with 500 (the data host failing)."""
    _faults: dict[str, deque[tuple[Fault, Callable[[Any], bool] | None]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    _used_tokens: set[str] = field(default_factory=set)
    _retry_keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _answered: asyncio.Event = field(default_factory=asyncio.Event)

    def fault_next(self, path: str, *faults: Fault, when: Callable[[Any], bool] | None = None) -> None:
        """Make the next calls to `path` misbehave, one fault each, in order, before behaving normally.

        With `when`, only calls whose JSON body it accepts (e.g. one chat's reply) take the faults.
        """
        self._faults[path].extend((fault, when) for fault in faults)

    def _take_fault(self, path: str, body: Any) -> Fault | None:
        queue = self._faults.get(path, deque())
        for n, (fault, when) in enumerate(queue):
            if when is None or when(body):
                del queue[n]
                return fault
        return None

    def fail_next(self, path: str, *statuses: int) -> None:
        """Answer the next calls to `path` with these statuses, in order, before behaving normally."""
        self.fault_next(path, *(Fault(status=status) for status in statuses))

    def slow_next(self, path: str, seconds: float, processed_first: bool = False) -> None:
        """Make the next call to `path` slow, so that the client times out.

        With `processed_first`, the call takes effect at once and only the answer is late, the case
        where a client cannot know whether LINE acted on its request.
        """
        self.fault_next(path, Fault(hang=seconds, processed=processed_first))

    def calls(self, path: str) -> list[Recorded]:
        """Requests received on `path` (a prefix for the profile path)."""
        return [r for r in self.requests if r.path.startswith(path)]

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition()` holds, checked after each answer (bound it with asyncio.timeout)."""
        while not condition():
            self._answered.clear()
            await self._answered.wait()

    @property
    def app(self) -> Starlette:
        """The ASGI app to serve."""
        return Starlette(
            routes=[
                Route(INFO, self._route(self._info), methods=["GET"]),
                Route(REPLY, self._route(self._reply), methods=["POST"]),
                Route(PUSH, self._route(self._push), methods=["POST"]),
                Route(LOADING, self._route(self._loading), methods=["POST"]),
                Route(PROFILE + "{user_id}", self._route(self._profile), methods=["GET"]),
                Route(RICH_MENU, self._route(self._create_rich_menu), methods=["POST"]),
                Route(RICH_MENU_LIST, self._route(self._list_rich_menus), methods=["GET"]),
                Route(RICH_MENU + "/{id}", self._route(self._rich_menu), methods=["GET", "DELETE"]),
                Route(DEFAULT_RICH_MENU, self._route(self._default_rich_menu), methods=["GET", "DELETE"]),
                Route(DEFAULT_RICH_MENU + "/{id}", self._route(self._set_default_rich_menu), methods=["POST"]),
                Route(USER_RICH_MENU + "{user}/richmenu", self._route(self._user_rich_menu), methods=["GET", "DELETE"]),
                Route(USER_RICH_MENU + "{user}/richmenu/{id}", self._route(self._link_rich_menu), methods=["POST"]),
                Route("/{path:path}", self._route(self._unknown), methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    @property
    def data_app(self) -> Starlette:
        """The data host's ASGI app (rich menu images); everything else there is 404, as on LINE."""
        return Starlette(
            routes=[
                Route(RICH_MENU + "/{id}/content", self._route(self._rich_menu_image), methods=["GET", "POST"]),
                Route("/{path:path}", self._route(self._unknown), methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    # -- endpoints ----------------------------------------------------------------------------

    def _route(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        """Record the request, apply scripted delays and failures, check the token, then `endpoint`."""

        async def handle(request: Request) -> Response:
            raw = await request.body()
            if request.headers.get("content-type", "").startswith("image/"):
                body: Any = {"content_type": request.headers["content-type"], "length": len(raw)}
            else:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
            base = f"{request.url.scheme}://{request.url.netloc}"
            record = Recorded(request.method, request.url.path, dict(request.headers), body, base=base)
            self.requests.append(record)
            fault = self._take_fault(request.url.path, body)
            if fault is not None and not fault.processed:
                await fault.wait()
            if request.headers.get("authorization") != f"Bearer {self.access_token}":
                response = _error(401, "Authentication failed")
            elif fault is not None and not fault.processed and not fault.answers_normally:
                response = _faulty(fault)
            else:
                response = await endpoint(request, record)
                if fault is not None and fault.processed:
                    await fault.wait()
                    response = response if fault.answers_normally else _faulty(fault)
            record.status = -1 if isinstance(response, ConnectionReset) else response.status_code
            self._answered.set()
            return response

        return handle

    async def _info(self, request: Request, record: Recorded) -> Response:
        return _json(200, {"userId": "Ub0t", "basicId": "@000test", "displayName": "特定在留カード Q&A",
                           "chatMode": "bot", "markAsReadMode": "auto"})  # fmt: skip

    async def _reply(self, request: Request, record: Recorded) -> Response:
        body = record.body if isinstance(record.body, dict) else {}
        token = body.get("replyToken")
        if not isinstance(token, str) or token in self.refused_tokens or token in self._used_tokens:
            return _error(400, "Invalid reply token")
        error = check_messages(body.get("messages"))
        if error:
            return _error(400, "The request body has 1 error(s)", details=[error])
        self._used_tokens.add(token)
        self.deliveries.append(Delivery("reply", token, body["messages"]))
        return _json(200, {"sentMessages": _sent(body["messages"])})

    async def _push(self, request: Request, record: Recorded) -> Response:
        body = record.body if isinstance(record.body, dict) else {}
        key = request.headers.get("x-line-retry-key")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                return _error(400, "The value for the 'X-Line-Retry-Key' is invalid")
            if key in self._retry_keys:
                return _json(
                    409,
                    {"message": "The retry key is already accepted", "sentMessages": self._retry_keys[key]},
                    {"x-line-accepted-request-id": "accepted"},
                )
        error = check_messages(body.get("messages"))
        if not isinstance(body.get("to"), str) or error:
            return _error(400, "The request body has 1 error(s)", details=[error])
        sent = _sent(body["messages"])
        if key is not None:
            self._retry_keys[key] = sent
        self.deliveries.append(Delivery("push", body["to"], body["messages"]))
        return _json(200, {"sentMessages": sent})

    async def _loading(self, request: Request, record: Recorded) -> Response:
        body = record.body if isinstance(record.body, dict) else {}
        seconds = body.get("loadingSeconds", 5)
        if not isinstance(body.get("chatId"), str) or not (5 <= seconds <= 60 and seconds % 5 == 0):
            return _error(400, "The request body has 1 error(s)")
        return _json(202, {})

    async def _profile(self, request: Request, record: Recorded) -> Response:
        profile = self.profiles.get(request.path_params["user_id"])
        return _error(404, "Not found") if profile is None else _json(200, profile)

    async def _unknown(self, request: Request, record: Recorded) -> Response:
        return _error(404, "Not found")

    # -- rich menus ---------------------------------------------------------------------------

    async def _create_rich_menu(self, request: Request, record: Recorded) -> Response:
        error = check_rich_menu(record.body)
        if error:
            return _error(400, "The request body has 1 error(s)", details=[error])
        menu = StoredRichMenu(f"richmenu-{uuid.uuid4().hex}", dict(record.body))
        self.rich_menus[menu.id] = menu
        self.rich_menu_log.append(("create", menu.id))
        return _json(200, {"richMenuId": menu.id})

    async def _list_rich_menus(self, request: Request, record: Recorded) -> Response:
        return _json(200, {"richmenus": [{"richMenuId": m.id, **m.body} for m in self.rich_menus.values()]})

    async def _rich_menu(self, request: Request, record: Recorded) -> Response:
        menu = self.rich_menus.get(request.path_params["id"])
        if menu is None:
            return _error(404, "Not found")
        if request.method == "GET":
            return _json(200, {"richMenuId": menu.id, **menu.body})
        del self.rich_menus[menu.id]
        self.rich_menu_log.append(("delete", menu.id))
        if self.default_rich_menu == menu.id:
            self.default_rich_menu = None
        self.user_rich_menus = {u: m for u, m in self.user_rich_menus.items() if m != menu.id}
        return _json(200, {})

    async def _rich_menu_image(self, request: Request, record: Recorded) -> Response:
        menu = self.rich_menus.get(request.path_params["id"])
        if menu is None:
            return _error(404, "Not found")
        if request.method == "GET":
            if menu.image is None:
                return _error(404, "Not found")
            return Response(menu.image, media_type=menu.content_type)
        if menu.image is not None:
            return _error(400, "An image has already been uploaded to the richmenu")
        if self.failing_uploads:
            self.failing_uploads -= 1
            return _error(500, "scripted failure 500")
        content_type = request.headers.get("content-type", "")
        raw = await request.body()
        if content_type not in ("image/png", "image/jpeg"):
            return _error(415, "Unsupported Media Type")
        if not raw or len(raw) > MAX_IMAGE:
            return _error(413, "Request Entity Too Large")
        try:
            with Image.open(io.BytesIO(raw)) as image:
                image.load()
                fmt, dimensions = image.format, image.size
        except Exception:
            return _error(400, "invalid image")
        if fmt != {"image/png": "PNG", "image/jpeg": "JPEG"}[content_type]:
            return _error(400, "the image does not match its content type")
        size = menu.body["size"]
        if dimensions != (size["width"], size["height"]):
            return _error(400, "the image's size does not match the rich menu's size")
        menu.image, menu.content_type, menu.uploaded_to = raw, content_type, record.base
        self.rich_menu_log.append(("image", menu.id))
        return _json(200, {})

    async def _default_rich_menu(self, request: Request, record: Recorded) -> Response:
        if request.method == "DELETE":
            self.default_rich_menu = None
            return _json(200, {})
        if self.default_rich_menu is None:
            return _error(404, "no default richmenu")
        return _json(200, {"richMenuId": self.default_rich_menu})

    async def _set_default_rich_menu(self, request: Request, record: Recorded) -> Response:
        menu = self.rich_menus.get(request.path_params["id"])
        if menu is None:
            return _error(404, "Not found")
        if menu.image is None:
            return _error(400, "must upload richmenu image before applying it to user")
        self.default_rich_menu = menu.id
        self.rich_menu_log.append(("default", menu.id))
        return _json(200, {})

    async def _user_rich_menu(self, request: Request, record: Recorded) -> Response:
        user = request.path_params["user"]
        if request.method == "DELETE":
            self.user_rich_menus.pop(user, None)
            return _json(200, {})
        if user not in self.user_rich_menus:
            return _error(404, "the user has no richmenu")
        return _json(200, {"richMenuId": self.user_rich_menus[user]})

    async def _link_rich_menu(self, request: Request, record: Recorded) -> Response:
        menu = self.rich_menus.get(request.path_params["id"])
        if menu is None:
            return _error(404, "Not found")
        if menu.image is None:
            return _error(400, "must upload richmenu image before applying it to user")
        self.user_rich_menus[request.path_params["user"]] = menu.id
        self.rich_menu_log.append(("link", menu.id))
        return _json(200, {})


def _faulty(fault: Fault) -> Response:
    """The answer a fault gives instead of the real one."""
    if fault.reset:
        return ConnectionReset()
    headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
    status = fault.status or 200
    if fault.body is not None:
        return Response(fault.body, status_code=status, media_type="application/json", headers=headers)
    return _json(status, {"message": f"scripted failure {status}"}, headers)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers={"x-line-request-id": uuid.uuid4().hex} | (headers or {}))


def _error(status: int, message: str, details: list[Any] | None = None) -> Response:
    return _json(status, {"message": message} | ({"details": details} if details else {}))


def _sent(messages: list[Any]) -> list[dict[str, str]]:
    return [{"id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex} for _ in messages]
