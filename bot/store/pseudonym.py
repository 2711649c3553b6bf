"""Platform user ids, pseudonymised: a keyed hash (HMAC-SHA256) with a secret the store never holds.

Without the secret, a stolen database cannot be matched against a list of LINE or Telegram ids.
The secret comes from `USER_ID_SECRET`. With SQLite alone it may be left unset: one is generated
on first start and kept in `DATA_DIR/user-id.secret` (owner-only), beside the database it protects
from enumeration, not from its own disk. With Redis it must be set, the same on every instance,
or each instance would know the same resident under another name.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_FILE = "user-id.secret"
MIN_SECRET = 16
"""Characters at least: a short secret can be guessed, and with it every pseudonym reversed."""


class Pseudonym:
    """Turns "platform:user id" into the key the store keeps (32 hex digits, 128 bits)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET:
            raise ValueError(f"USER_ID_SECRET must have at least {MIN_SECRET} characters")
        self._secret = secret

    def __call__(self, user: str) -> str:
        return hmac.new(self._secret, user.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def __repr__(self) -> str:
        return "Pseudonym(**********)"


def user_id_secret(configured: str | None, data_dir: Path, shared: bool) -> bytes:
    """The pseudonym secret: `configured`, else (not `shared`) the one kept in `data_dir`, made once.

    Raises:
        ValueError: `shared` (several instances, one Redis) and no secret configured.
    """
    if configured:
        return configured.encode("utf-8")
    if shared:
        raise ValueError("REDIS_URL is set: set USER_ID_SECRET too, the same on every instance")
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: a worker starting at the same moment either links
        # first or reads the complete file of the one that did.
        draft = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
            log.warning("USER_ID_SECRET is not set: generated one in %s (keep it with the database)", path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip().encode("utf-8")
