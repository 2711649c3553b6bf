"""The web chat and /healthz through HTTP (Starlette's TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.adapters.web import label_html
from bot.app import create_app
from bot.config import Settings
from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.furigana import has_kanji


@pytest.fixture
def client(assistant: Assistant, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path), assistant=assistant)) as client:
        yield client


def test_page_is_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<ruby>" in page.text and 'src="static/app.js"' in page.text and 'href="static/app.css"' in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"] and "api/ask" in script.text
    assert "text/css" in client.get("/static/app.css").headers["content-type"]


@pytest.mark.parametrize("name", ["index.html", "..%2Fadapters%2Fweb.py", "missing.js"])
def test_static_route_serves_only_the_pages_files(client: TestClient, name: str) -> None:
    assert client.get(f"/static/{name}").status_code == 404


def test_page_words_in_the_residents_language(client: TestClient, assistant: Assistant) -> None:
    words = client.get("/api/ui", params={"lang": "vi"}).json()
    assert words["lang"] == "vi" and words["dir"] == "ltr"
    assert words["strings"]["retry"] == assistant.texts.ui("vi", ui.WEB_RETRY) != ui.WEB_RETRY
    assert words["strings"]["unreachable"] == assistant.texts.ui("vi", ui.WEB_UNREACHABLE)
    assert words["contact"]["data"] == "intent:contact.person"
    assert words["contact"]["label"] == assistant.texts.title(assistant.catalog["contact.person"], "vi")
    assert client.get("/api/ui", params={"lang": "ur"}).json()["dir"] == "rtl"


def test_page_words_in_japanese_carry_furigana(client: TestClient) -> None:
    words = client.get("/api/ui", params={"lang": "ja"}).json()
    kanji = [key for key, text in words["strings"].items() if has_kanji(text)]
    assert kanji and all("<ruby>" in words["html"][key] for key in kanji)
    assert "<ruby>" in words["contact"]["label_html"]


@pytest.mark.parametrize("lang", ["xx", "", "../etc"])
def test_page_words_for_an_unknown_language_are_japanese(client: TestClient, lang: str) -> None:
    assert client.get("/api/ui", params={"lang": lang}).json()["lang"] == "ja"


def test_japanese_buttons_and_links_carry_furigana(client: TestClient, assistant: Assistant) -> None:
    reply = client.post("/api/ask", json={"postback": "menu"}).json()
    assert reply["lang"] == "ja"
    for button in reply["buttons"]:
        assert button["lang"] == "ja" and ("<ruby>" in button["label_html"]) == has_kanji(button["label"])
    assert any("<ruby>" in button["label_html"] for button in reply["buttons"])
    assert all("<ruby>" in link["label_html"] for link in reply["links"] if has_kanji(link["label"]))


def test_language_buttons_are_in_their_own_language(client: TestClient) -> None:
    reply = client.post("/api/ask", json={"postback": "langs:0"}).json()
    by_code = {b["data"].partition(":")[2]: b for b in reply["buttons"] if b["data"].startswith("lang:")}
    assert by_code["ja"]["lang"] == "ja" and "<ruby>" in by_code["ja"]["label_html"]  # 日本語
    assert by_code["zh"]["lang"] == "zh" and "<ruby>" not in by_code["zh"]["label_html"]  # 中文: no Japanese reading
    assert by_code["en"]["label_html"] == "English"


def test_labels_are_escaped(assistant: Assistant) -> None:
    furigana = assistant.replies.furigana
    assert label_html("<b>menu</b>", "en", furigana) == "&lt;b&gt;menu&lt;/b&gt;"
    assert "<b>" not in label_html("<b>入管</b>", "ja", furigana)


@pytest.mark.parametrize(
    ("body", "text_lang"),
    [({"text": "Thẻ lưu trú đặc định là gì?"}, "vi"), ({"text": "特定在留カードってなに？"}, "ja"),
     ({"text": "https://www.moj.go.jp/isa/"}, None), ({"postback": "menu"}, None)],
)  # fmt: skip
def test_the_language_of_a_typed_message_when_clear(
    client: TestClient, body: dict[str, str], text_lang: str | None
) -> None:
    assert client.post("/api/ask", json=body).json()["text_lang"] == text_lang


def test_healthz(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert (
        health["status"] == "ok"
        and health["intents"] == len(client.app.state.content.current().catalog)
        and "vi" in health["languages"]
    )
    assert health["adapters"] == {"line": {"state": "off"}, "telegram": {"state": "off"}}
    assert health["store_errors"] == 0 and health["store"] == {"backend": "sqlite", "state": "ok", "problem": None}
    assert health["content"]["status"] == "ok" and health["content"]["problems"] == []


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


CONVERSATIONS = [
    # (turns of one session: (text, reply language))
    [("特定在留カードってなに？", "ja"), ("住所", "ja"), ("online", "ja"), ("my number", "ja"), ("14", "ja")],
    [("what is the specific residence card", "en"), ("my number", "en"), ("city hall", "en"), ("住所", "en")],
    [("日本語で話してください", "ja"), ("my number", "ja"), ("what is the specific residence card", "ja")],
    [("Please answer in English", "en"), ("特定在留カードってなに？", "en"), ("在留カード", "en")],
    [("请用中文回答", "zh"), ("my number", "zh"), ("https://www.moj.go.jp/isa/tokutei.html", "zh")],
    [("Vui lòng trả lời bằng tiếng Việt", "vi"), ("特定在留カード", "vi"), ("online", "vi")],
    [("what is the specific residence card", "en"), ("Thẻ lưu trú đặc định là gì vậy ạ?", "vi"), ("ok", "vi")],
]


@pytest.mark.parametrize("turns", CONVERSATIONS)
def test_the_conversation_keeps_its_language(client: TestClient, turns: list[tuple[str, str]]) -> None:
    session = None
    for text, lang in turns:
        body = {"text": text} if session is None else {"text": text, "session": session}
        reply = client.post("/api/ask", json=body).json()
        session = reply["session"]
        assert reply["lang"] == lang, (text, reply["lang"])
