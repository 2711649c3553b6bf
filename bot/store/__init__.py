"""The store every instance shares: users' settings, the inbox, rate limits, the operators' log and counts.

`open_store(settings)` gives Redis when `REDIS_URL` is set (several instances), else SQLite in
`DATA_DIR` (one host). Both speak `Store` (`bot.store.base`) and pass the same test suite.
"""

from __future__ import annotations

from bot.config import Settings
from bot.store.base import (
    EVENT_TTL,
    LEASE,
    Admission,
    Inbox,
    InboxEvent,
    Question,
    RateLimit,
    Store,
    Tally,
    Visit,
)
from bot.store.pseudonym import SECRET_FILE, Pseudonym, user_id_secret
from bot.store.sqlite_store import FILE_NAME, SqliteStore


async def open_store(settings: Settings, reports_only: bool = False) -> Store:
    """The store the settings name, opened (a SQLite file is created or upgraded).

    `reports_only`: the reports read no user, so no secret is needed and none is made (one kept in
    DATA_DIR is used, to upgrade an older SQLite file).

    Raises:
        ValueError: REDIS_URL without USER_ID_SECRET, or a secret too short.
    """
    shared = settings.redis_url is not None
    pseudonym = None
    kept = settings.data_dir / SECRET_FILE
    if not reports_only or settings.user_id_secret or (not shared and kept.exists()):
        configured = settings.user_id_secret.reveal() if settings.user_id_secret else None
        pseudonym = Pseudonym(user_id_secret(configured, settings.data_dir, shared=shared))
    if settings.redis_url:
        from bot.store.redis_store import RedisStore

        return await RedisStore.connect(
            settings.redis_url.reveal(), pseudonym, prefix=settings.redis_prefix, retention_days=settings.retention_days
        )
    return SqliteStore(settings.data_dir / FILE_NAME, pseudonym, retention_days=settings.retention_days)


__all__ = [
    "EVENT_TTL",
    "LEASE",
    "Admission",
    "Inbox",
    "InboxEvent",
    "Question",
    "RateLimit",
    "Store",
    "Tally",
    "Visit",
    "open_store",
]
