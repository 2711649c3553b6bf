"""/metrics: Prometheus text, the inbox depth read at each scrape, optional basic auth."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.app import create_app
from bot.config import Secret, Settings
from bot.core.assistant import Assistant
from bot.metrics import Metrics
from tests.conftest import Opener


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_metrics_expose_every_family_and_the_inbox_depth(stores: Opener) -> None:
    store = await stores()
    await store.inbox.put("line:e1", "line", "{}")
    metrics = Metrics()
    metrics.api_errors.labels("line", "reply", "500").inc()
    metrics.reloads.labels("ok").inc()
    app = Starlette(routes=[Route("/metrics", metrics.endpoint(store.inbox.depth))])

    async with client(app) as http:
        response = await http.get("/metrics")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert "tokutei_inbox_depth 1.0" in body
    assert 'tokutei_platform_api_errors_total{call="reply",platform="line",status="500"} 1.0' in body
    assert 'tokutei_content_reloads_total{result="ok"} 1.0' in body and "tokutei_content_ok 1.0" in body
    for family in ("tokutei_messages", "tokutei_reply_seconds"):
        assert f"# TYPE {family}" in body


async def test_metrics_basic_auth() -> None:
    app = Starlette(routes=[Route("/metrics", Metrics().endpoint(user="prom", password="s3cret-pass"))])

    async with client(app) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", auth=("prom", "wrong"))).status_code == 401
        assert (await http.get("/metrics", headers={"Authorization": "Basic !!!"})).status_code == 401
        ok = await http.get("/metrics", auth=("prom", "s3cret-pass"))

    assert ok.status_code == 200 and "tokutei_content_ok" in ok.text


def test_the_app_serves_its_metrics_behind_basic_auth(assistant: Assistant, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, metrics_user="prom", metrics_password=Secret("s3cret-pass"))
    with TestClient(create_app(settings, assistant=assistant)) as http:
        http.post("/api/ask", json={"text": "Do I have to get the new card?"})
        refused = http.get("/metrics")
        body = http.get("/metrics", auth=("prom", "s3cret-pass")).text

    assert refused.status_code == 401
    assert 'tokutei_messages_total{lang="en",outcome="answer",platform="web"} 1.0' in body
    assert "tokutei_inbox_depth 0.0" in body and "tokutei_content_ok 1.0" in body
