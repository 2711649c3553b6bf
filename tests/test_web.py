"""The web chat and /healthz through HTTP (Starlette's TestClient)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from bot.app import create_app
from bot.config import Settings
from bot.core.assistant import Assistant


@pytest.fixture
def client(assistant: Assistant) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(), assistant=assistant)) as client:
        yield client


def test_page_is_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<ruby>" in page.text and "api/ask" in page.text


def test_healthz(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert (
        health["status"] == "ok"
        and health["intents"] == len(client.app.state.assistant.catalog)
        and "vi" in health["languages"]
    )
    assert health["adapters"] == {"line": {"state": "off"}, "telegram": {"state": "off"}}
    assert health["store_errors"] == 0


def test_ask_in_japanese_gives_ruby_html(client: TestClient) -> None:
    reply = client.post("/api/ask", json={"text": "特定在留カードってなに？"}).json()
    assert reply["intent"] == "card.about" and reply["lang"] == "ja"
    assert "<ruby>特定" in reply["blocks"][0]["html"]
    assert reply["links"][0]["url"] == "https://www.moj.go.jp/isa/tokutei.html"
    assert reply["buttons"] and reply["session"]


def test_session_remembers_the_language(client: TestClient) -> None:
    first = client.post("/api/ask", json={"postback": "lang:en"}).json()
    reply = client.post("/api/ask", json={"text": "特定在留カードってなに？", "session": first["session"]}).json()
    assert reply["lang"] == "en"


def test_buttons_post_back(client: TestClient) -> None:
    reply = client.post("/api/ask", json={"postback": "intent:faq.mandatory"}).json()
    assert reply["intent"] == "faq.mandatory" and reply["kind"] == "answer"
    assert all(set(c) == {"intent", "score"} for c in reply["candidates"])


@pytest.mark.parametrize("postback", ["langs:²", "nonsense", "intent:", "lang:xx"])
def test_unknown_postbacks_get_the_menu_not_an_error(client: TestClient, postback: str) -> None:
    response = client.post("/api/ask", json={"postback": postback})
    assert response.status_code == 200 and response.json()["buttons"]


def test_languages_endpoint_marks_urdu_right_to_left(client: TestClient) -> None:
    langs = {entry["code"]: entry for entry in client.get("/api/languages").json()}
    assert len(langs) == 20 and langs["ur"]["dir"] == "rtl" and langs["vi"]["name"] == "Tiếng Việt"


def test_urdu_reply_is_right_to_left(client: TestClient) -> None:
    reply = client.post("/api/ask", json={"postback": "lang:ur"}).json()
    assert reply["dir"] == "rtl" and reply["blocks"][0]["dir"] == "rtl"


def test_html_is_escaped(client: TestClient) -> None:
    reply = client.post("/api/ask", json={"text": "<script>alert(1)</script>"}).json()
    assert "<script>" not in str(reply["blocks"])


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"text": 5}'])
def test_bad_requests_are_4xx(client: TestClient, body: bytes) -> None:
    response = client.post("/api/ask", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "error" in response.json()


def test_too_large_body(client: TestClient) -> None:
    response = client.post("/api/ask", json={"text": "あ" * 100_000})
    assert response.status_code == 413


def test_webhook_routes_are_404_without_credentials(client: TestClient) -> None:
    assert client.post("/webhooks/line", content=b"{}").status_code == 404
    assert client.post("/webhooks/telegram", content=b"{}").status_code == 404
