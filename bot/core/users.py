"""What the assistant remembers per user: chosen language and two-language mode.

The server keeps settings in the shared store (`bot.store`) and hands the assistant one user's at a
time (`OneUser`, `bot.pipeline`); the console and `ask` keep them in memory, where every line of
`ask` is a new user.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol


@dataclass(frozen=True)
class UserPrefs:
    """A user's settings; `lang` None means not chosen yet."""

    lang: str | None = None
    """The language the user chose (explicit choice always wins)."""
    last: str | None = None
    """The language of the last reply: short messages ("ok") keep it."""
    both: bool = False
    """Answer in the user's language and in easy Japanese (for NPO staff)."""

    def with_(self, **changes: object) -> UserPrefs:
        """A copy with `changes` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]


class UserStore(Protocol):
    """Keeps `UserPrefs` by user key ("platform:user id")."""

    def get(self, key: str) -> UserPrefs: ...

    def put(self, key: str, prefs: UserPrefs) -> None: ...


class MemoryUserStore:
    """Preferences in a dict: for the console, `ask` and tests."""

    def __init__(self) -> None:
        self._prefs: dict[str, UserPrefs] = {}

    def get(self, key: str) -> UserPrefs:
        return self._prefs.get(key, UserPrefs())

    def put(self, key: str, prefs: UserPrefs) -> None:
        self._prefs[key] = prefs


class OneUser:
    """One user's settings, read from the shared store before a message and written back after it.

    The server's assistant works on this (sync, in memory) while the store stays async
    (`bot.pipeline`); `changed` says whether there is anything to write.
    """

    def __init__(self, key: str, prefs: UserPrefs) -> None:
        self.key = key
        self.prefs = prefs
        self.changed = False

    def get(self, key: str) -> UserPrefs:
        self._check(key)
        return self.prefs

    def put(self, key: str, prefs: UserPrefs) -> None:
        self._check(key)
        self.changed = self.changed or prefs != self.prefs
        self.prefs = prefs

    def _check(self, key: str) -> None:
        if key != self.key:
            raise KeyError("OneUser holds another user's settings")
