"""The servers the webhook benchmark starts, each in its own process, on the same Starlette/uvicorn stack.

`python -m benchmarks.targets echo|bare|fake-line --port N`:

- `echo`: line-bot-sdk's own async echo bot (its examples/fastapi-echo, on Starlette): verify the
  signature, parse, one reply through the SDK's `AsyncMessagingApi`, then answer the webhook;
- `bare`: bare Starlette, reading the body and answering 200 (the ceiling of the stack);
- `fake-line`: the fake LINE API of the tests, with `/bench/deliveries` to read what it received
  and when (`time.monotonic`, one clock for every process on the machine).

Our own app runs as in production: `python -m bot serve`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route


def echo_app(channel_secret: str, access_token: str, api_url: str) -> Starlette:
    """The SDK's echo bot, as its example writes it (client built at import, reply awaited in the webhook)."""
    from linebot.v3.exceptions import InvalidSignatureError
    from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration, ReplyMessageRequest, TextMessage
    from linebot.v3.webhook import WebhookParser
    from linebot.v3.webhooks import MessageEvent, TextMessageContent

    parser = WebhookParser(channel_secret)
    state: dict[str, Any] = {}

    async def callback(request: Request) -> Response:
        if "api" not in state:  # the client needs the running loop
            state["api"] = AsyncMessagingApi(AsyncApiClient(Configuration(host=api_url, access_token=access_token)))
        signature = request.headers["X-Line-Signature"]
        body = (await request.body()).decode()
        try:
            events = parser.parse(body, signature)
        except InvalidSignatureError:
            return PlainTextResponse("Invalid signature", status_code=400)
        for event in events:
            if not isinstance(event, MessageEvent) or not isinstance(event.message, TextMessageContent):
                continue
            await state["api"].reply_message(
                ReplyMessageRequest(reply_token=event.reply_token, messages=[TextMessage(text=event.message.text)])
            )
        return PlainTextResponse("OK")

    return Starlette(routes=[Route("/webhooks/line", callback, methods=["POST"])])


def bare_app() -> Starlette:
    """Starlette and nothing else: read the body, answer 200."""

    async def callback(request: Request) -> Response:
        await request.body()
        return JSONResponse({})

    return Starlette(routes=[Route("/webhooks/line", callback, methods=["POST"])])


DATA_HOST = "/data-host"
"""Where the fake LINE API serves its data host (rich menu images): LINE_DATA_API_BASE_URL = its URL + this."""


def fake_line_app(access_token: str, users: int) -> Starlette:
    """The tests' fake LINE API (profiles for the first `users` benchmark users) and the benchmark's read-out."""
    from tests.fakes.line_api import FakeLineApi

    api = FakeLineApi(access_token)
    for n in range(users):
        user = bench_user(n)
        api.profiles[user] = {"displayName": "Resident", "userId": user, "language": "ja"}

    async def deliveries(request: Request) -> Response:
        texts = bool(request.query_params.get("texts"))  # ?texts=1: what each delivery said, too
        calls: dict[str, int] = {}
        for record in api.requests:
            calls[record.path.split("/U")[0]] = calls.get(record.path.split("/U")[0], 0) + 1
        return JSONResponse(
            {
                "deliveries": [
                    {"kind": d.kind, "to": d.to, "at": d.at} | ({"text": d.text} if texts else {})
                    for d in api.deliveries
                ],
                "calls": calls,
                "statuses": [r.status for r in api.requests if r.status >= 400],
            }
        )

    async def reset(request: Request) -> Response:
        api.requests.clear()
        api.deliveries.clear()
        return JSONResponse({})

    return Starlette(
        routes=[
            Route("/bench/deliveries", deliveries),
            Route("/bench/reset", reset, methods=["POST"]),
            Mount(DATA_HOST, app=api.data_app),
            Mount("/", app=api.app),
        ]
    )


def fake_telegram_app(token: str) -> Starlette:
    """The tests' fake Telegram Bot API, with `/bench/sent` to count the messages it accepted."""
    from tests.fakes.telegram_api import FakeTelegramAPI

    api = FakeTelegramAPI(token)

    async def sent(request: Request) -> Response:
        return JSONResponse({"sent": len(api.sent()), "calls": len(api.calls)})

    return Starlette(routes=[Route("/bench/sent", sent), Mount("/", app=api.app)])


def bench_user(n: int) -> str:
    """The LINE user id of the n-th benchmark user."""
    return f"U{n:032x}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("echo", "bare", "fake-line", "fake-telegram"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=int, default=0, help="benchmark users per server")
    parser.add_argument("--kinds", type=int, default=1, help="servers sharing this fake")
    args = parser.parse_args()
    if args.kind == "echo":
        app = echo_app(os.environ["LINE_CHANNEL_SECRET"], os.environ["LINE_CHANNEL_ACCESS_TOKEN"],
                       os.environ["LINE_API_BASE_URL"])  # fmt: skip
    elif args.kind == "bare":
        app = bare_app()
    elif args.kind == "fake-telegram":
        app = fake_telegram_app(os.environ["TELEGRAM_BOT_TOKEN"])
    else:
        app = fake_line_app(os.environ["LINE_CHANNEL_ACCESS_TOKEN"], args.users * args.kinds)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
