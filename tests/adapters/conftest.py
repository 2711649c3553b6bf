"""Fixtures of the adapter tests: the fake LINE API, and the app with LINE on talking to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.core.assistant import Assistant
from tests.adapters.line_support import TOKEN, USER, Line, running
from tests.fakes.line_api import FakeLineApi
from tests.fakes.server import serve


@pytest.fixture
async def line_api() -> AsyncIterator[FakeLineApi]:
    """The fake LINE API, serving."""
    api = FakeLineApi(TOKEN, profiles={USER: {"displayName": "Linh", "userId": USER, "language": "ja"}})
    async with serve(api.app) as url, serve(api.data_app) as data_url:
        api.url, api.data_url = url, data_url
        yield api


@pytest.fixture
async def line(line_api: FakeLineApi, assistant: Assistant) -> AsyncIterator[Line]:
    """The app with LINE on, talking to the fake API."""
    async with running(line_api, assistant) as running_line:
        yield running_line
