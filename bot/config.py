"""Settings from the environment (and a `.env` file), read once at start-up and passed in.

Nothing reads the environment at import time; tokens are wrapped so they never show in logs or
reprs.
"""

from __future__ import annotations

import hmac
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from bot.core.matcher import Thresholds

ROOT = Path(__file__).resolve().parent.parent


class Secret:
    """A token or secret, hidden from `repr`, `str` and `format` (so from any log line); `reveal()` gives it.

    Modelled on starlette's `Secret`, but not a `str` and with `str()` hidden too: only code that
    means to use the value (a signature check, an API client) calls `reveal()`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself, for the one call that needs it."""
        return self._value

    def __repr__(self) -> str:
        return f"{type(self).__name__}('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


@dataclass(frozen=True)
class Settings:
    """Everything configurable; see README "Configuration" for each variable."""

    port: int = 8000
    host: str = "127.0.0.1"
    data_dir: Path = ROOT / "data"
    intents_dir: Path = ROOT / "intents"
    translations_dir: Path = ROOT / "translations"
    thresholds: Thresholds = field(default_factory=Thresholds)
    line_channel_secret: Secret | None = None
    line_channel_access_token: Secret | None = None
    line_api_base_url: str = "https://api.line.me"
    line_data_api_base_url: str = "https://api-data.line.me"
    """LINE's data host (rich menu images)."""
    fonts_dir: Path | None = None
    """A folder of fonts for the rich menu's picture, searched before the system's."""
    telegram_bot_token: Secret | None = None
    telegram_webhook_secret: Secret | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    public_url: str | None = None
    group_prefixes: tuple[str, ...] = ("?", "？")
    redis_url: Secret | None = None
    """The shared store for several instances; unset: SQLite in `data_dir` (it may hold a password)."""
    redis_prefix: str = "tokutei:"
    """Every key's prefix, so one Redis can serve several bots (or tests)."""
    user_id_secret: Secret | None = None
    retention_days: float = 180.0
    inbox_lease: float = 30.0
    """Seconds an instance may hold an acknowledged event without renewing before another takes it over."""
    rate_limit: int = 20
    """Messages per user per `rate_window` seconds before one notice, then silence."""
    rate_window: float = 60.0
    log_format: str = "text"
    """"text", or "json" (one JSON object a line, for log collectors)."""
    log_message_text: bool = False
    """Log residents' messages (redacted); off by default."""
    metrics_user: str | None = None
    metrics_password: Secret | None = None
    log_level: str = "INFO"
    max_backlog: int = 1000
    """Events accepted but not yet answered, per platform; past it the webhook asks the platform to retry."""
    max_connections: int = 1000
    """Open connections uvicorn serves at once; over it, requests get 503."""
    max_connections_per_client: int = 50
    """Open connections from one client address (0: no limit, e.g. behind a proxy that limits them)."""
    client_rate: float = 10.0
    """Requests a second one client may make to the web chat API (bursts of twice that)."""

    @property
    def line_enabled(self) -> bool:
        """LINE is on when both its secret and its token are set."""
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def telegram_enabled(self) -> bool:
        """Telegram is on when its bot token is set."""
        return bool(self.telegram_bot_token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
        """Settings from `environ` (default: the process environment) over a `.env` file.

        Raises:
            ValueError: a variable has a value that cannot be used, naming the variable.
        """
        values: dict[str, str] = {}
        dotenv = env_file if env_file is not None else Path.cwd() / ".env"
        if dotenv.exists():
            values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        def number(name: str, default: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None

        def positive(name: str, default: float) -> float:
            value = number(name, default)
            if value <= 0:
                raise ValueError(f"{name} must be above 0, got {value:g}")
            return value

        def choice(name: str, options: tuple[str, ...], default: str) -> str:
            value = (get(name) or default).lower()
            if value not in options:
                raise ValueError(f"{name} must be one of {', '.join(options)}, got {value!r}")
            return value

        def whole(name: str, default: int, minimum: int = 0) -> int:
            value = number(name, default)
            if not math.isfinite(value) or value != int(value) or value < minimum:
                raise ValueError(f"{name} must be a whole number of at least {minimum}, got {get(name)!r}")
            return int(value)

        def secret(name: str) -> Secret | None:
            raw = get(name)
            return Secret(raw) if raw else None

        defaults = cls()
        prefixes = get("GROUP_PREFIXES")
        if bool(get("METRICS_USER")) != bool(get("METRICS_PASSWORD")):
            raise ValueError("METRICS_USER and METRICS_PASSWORD must be set together (or neither)")
        return cls(
            port=whole("PORT", defaults.port),
            host=get("HOST") or defaults.host,
            data_dir=Path(get("DATA_DIR") or defaults.data_dir),
            intents_dir=Path(get("INTENTS_DIR") or defaults.intents_dir),
            translations_dir=Path(get("TRANSLATIONS_DIR") or defaults.translations_dir),
            thresholds=Thresholds(
                confident=number("MATCH_CONFIDENT", defaults.thresholds.confident),
                similar=number("MATCH_SIMILAR", defaults.thresholds.similar),
                suggest=number("MATCH_SUGGEST", defaults.thresholds.suggest),
                margin=number("MATCH_MARGIN", defaults.thresholds.margin),
            ),
            line_channel_secret=secret("LINE_CHANNEL_SECRET"),
            line_channel_access_token=secret("LINE_CHANNEL_ACCESS_TOKEN"),
            line_api_base_url=get("LINE_API_BASE_URL") or defaults.line_api_base_url,
            # A changed API host (a fake, a proxy) serves the data calls too unless told otherwise:
            # a test or a staging set-up never reaches LINE's real data host by leaving this out.
            line_data_api_base_url=get("LINE_DATA_API_BASE_URL")
            or get("LINE_API_BASE_URL")
            or defaults.line_data_api_base_url,
            fonts_dir=Path(fonts) if (fonts := get("FONTS_DIR")) else None,
            telegram_bot_token=secret("TELEGRAM_BOT_TOKEN"),
            telegram_webhook_secret=secret("TELEGRAM_WEBHOOK_SECRET"),
            telegram_api_base_url=get("TELEGRAM_API_BASE_URL") or defaults.telegram_api_base_url,
            public_url=get("PUBLIC_URL"),
            group_prefixes=tuple(prefixes.split()) if prefixes else defaults.group_prefixes,
            redis_url=secret("REDIS_URL"),
            redis_prefix=get("REDIS_PREFIX") or defaults.redis_prefix,
            user_id_secret=secret("USER_ID_SECRET"),
            retention_days=positive("RETENTION_DAYS", defaults.retention_days),
            inbox_lease=positive("INBOX_LEASE", defaults.inbox_lease),
            rate_limit=int(positive("RATE_LIMIT", defaults.rate_limit)),
            rate_window=positive("RATE_WINDOW", defaults.rate_window),
            log_format=choice("LOG_FORMAT", ("text", "json"), defaults.log_format),
            log_message_text=get("LOG_MESSAGE_TEXT") in ("1", "true", "yes"),
            metrics_user=get("METRICS_USER"),
            metrics_password=secret("METRICS_PASSWORD"),
            log_level=(get("LOG_LEVEL") or defaults.log_level).upper(),
            max_backlog=whole("MAX_BACKLOG", defaults.max_backlog, minimum=1),
            max_connections=whole("MAX_CONNECTIONS", defaults.max_connections, minimum=1),
            max_connections_per_client=whole("MAX_CONNECTIONS_PER_CLIENT", defaults.max_connections_per_client),
            client_rate=number("CLIENT_RATE", defaults.client_rate),
        )
