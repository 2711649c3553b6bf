"""The store every instance shares: users' settings, the inbox, rate limits, the operators' log and counts.

`make_store(settings)` gives Redis when `REDIS_URL` is set (several instances), else SQLite in
`DATA_DIR` (one host); `await store.open()` gets it ready. Both speak `Store` (`bot.store.base`) and
pass the same test suite.
"""

from __future__ import annotations

from bot.config import Settings
from bot.store.base import (
    EVENT_TTL,
    LEASE,
    Admission,
    Answered,
    Channel,
    Inbox,
    InboxEvent,
    Question,
    RateLimit,
    Sending,
    Store,
    StoreError,
    Tally,
    Visit,
)
from bot.store.pseudonym import SECRET_FILE, Pseudonym, user_id_secret
from bot.store.sqlite_store import FILE_NAME, SqliteStore


def make_store(settings: Settings, reports_only: bool = False) -> Store:
    """The store the settings name, not yet open (a SQLite file is opened, created or upgraded at once).

    `reports_only`: the reports read no user, so no secret is needed and none is made (one kept in
    DATA_DIR is used, to upgrade an older SQLite file).

    Raises:
        ValueError: REDIS_URL without USER_ID_SECRET, or a secret too short.
        StoreError: no SQLite file can be kept in DATA_DIR (the message says how to fix it).
    """
    shared = settings.redis_url is not None
    pseudonym = None
    kept = settings.data_dir / SECRET_FILE
    if not reports_only or settings.user_id_secret or (not shared and kept.exists()):
        configured = settings.user_id_secret.reveal() if settings.user_id_secret else None
        pseudonym = Pseudonym(user_id_secret(configured, settings.data_dir, shared=shared))
    if settings.redis_url:
        from bot.store.redis_store import RedisStore

        return RedisStore.at(
            settings.redis_url.reveal(), pseudonym, prefix=settings.redis_prefix, retention_days=settings.retention_days
        )
    return SqliteStore(settings.data_dir / FILE_NAME, pseudonym, retention_days=settings.retention_days)


async def open_store(settings: Settings, reports_only: bool = False) -> Store:
    """`make_store`, opened (Redis: connected, the inbox's group made)."""
    store = make_store(settings, reports_only)
    await store.open()
    return store


__all__ = [
    "EVENT_TTL",
    "LEASE",
    "Admission",
    "Answered",
    "Channel",
    "Inbox",
    "InboxEvent",
    "Question",
    "RateLimit",
    "Sending",
    "Store",
    "StoreError",
    "Tally",
    "Visit",
    "make_store",
    "open_store",
]
