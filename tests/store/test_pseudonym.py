"""The pseudonym secret: configured, or made once in DATA_DIR; required with Redis."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.config import Secret, Settings
from bot.store import open_store
from bot.store.pseudonym import SECRET_FILE, Pseudonym, user_id_secret


def test_pseudonyms_are_stable_keyed_and_distinct() -> None:
    one, other = Pseudonym(b"a" * 32), Pseudonym(b"b" * 32)

    assert one("line:U1") == one("line:U1") != one("line:U2")
    assert one("line:U1") != other("line:U1")
    assert len(one("line:U1")) == 32 and "U1" not in one("line:U1")
    assert "a" * 16 not in repr(one)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        Pseudonym(b"short")


def test_without_a_secret_one_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = user_id_secret(None, tmp_path, shared=False)
    again = user_id_secret(None, tmp_path, shared=False)

    assert first == again and len(first) >= 32
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [tmp_path / SECRET_FILE]


def test_a_configured_secret_wins(tmp_path: Path) -> None:
    assert user_id_secret("configured-secret-123", tmp_path, shared=True) == b"configured-secret-123"
    assert not (tmp_path / SECRET_FILE).exists()


async def test_redis_without_a_secret_is_a_configuration_error(tmp_path: Path, redis_url: str) -> None:
    settings = Settings(data_dir=tmp_path, redis_url=Secret(redis_url))

    with pytest.raises(ValueError, match="USER_ID_SECRET"):
        await open_store(settings)
    store = await open_store(settings, reports_only=True)  # the reports read no user
    assert await store.questions() == []
    await store.close()
