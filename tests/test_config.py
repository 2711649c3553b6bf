"""Settings for the store, the rate limit, logs and metrics, from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings

NO_FILE = Path("/nonexistent/.env")


def test_defaults_are_sqlite_twenty_a_minute_text_logs_without_messages() -> None:
    settings = Settings.from_env({}, env_file=NO_FILE)

    assert settings.redis_url is None and settings.user_id_secret is None
    assert (settings.rate_limit, settings.rate_window, settings.retention_days) == (20, 60.0, 180.0)
    assert (settings.log_format, settings.log_message_text) == ("text", False)
    assert settings.metrics_user is None and settings.redis_prefix == "tokutei:"


def test_every_variable_is_read_and_secrets_stay_hidden() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://:pw@redis.internal:6379/0",
            "REDIS_PREFIX": "bot2:",
            "USER_ID_SECRET": "0123456789abcdef0123",
            "RATE_LIMIT": "5",
            "RATE_WINDOW": "30",
            "RETENTION_DAYS": "90",
            "LOG_FORMAT": "JSON",
            "LOG_MESSAGE_TEXT": "1",
            "METRICS_USER": "prom",
            "METRICS_PASSWORD": "scrape-secret",
        },
        env_file=NO_FILE,
    )

    assert (settings.rate_limit, settings.rate_window, settings.retention_days) == (5, 30.0, 90.0)
    assert (settings.log_format, settings.log_message_text, settings.redis_prefix) == ("json", True, "bot2:")
    assert settings.redis_url is not None and settings.redis_url.reveal() == "redis://:pw@redis.internal:6379/0"
    assert "pw" not in str(settings.redis_url)
    assert "pw@" not in repr(settings) and "0123456789abcdef" not in repr(settings) and "scrape" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RATE_LIMIT": "0"}, "RATE_LIMIT must be above 0"),
        ({"RATE_WINDOW": "soon"}, "RATE_WINDOW must be a number"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of text, json"),
        ({"METRICS_USER": "prom"}, "METRICS_USER and METRICS_PASSWORD"),
    ],
)
def test_unusable_values_name_their_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(environ, env_file=NO_FILE)
