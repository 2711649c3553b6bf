"""A part of what the server keeps after an answer, kept the way the server keeps it: `Store.record`.

Each also counts the message, as every answer does; tests of the counts name their own day.
"""

from __future__ import annotations

import datetime as dt

from bot.core.users import UserPrefs
from bot.store import Answered, Question, Store

DAY = dt.date(2026, 7, 1)
"""The day counted when a test keeps settings or a question."""


async def keep_prefs(store: Store, user: str, prefs: UserPrefs) -> None:
    """`user`'s settings, as after an answer that changed them."""
    await store.record(Answered(user, DAY, user.split(":")[0], prefs.last or "", "answer", "", prefs))


async def keep_question(store: Store, question: Question, day: dt.date = DAY) -> None:
    """A question the bot could not answer surely, as after its fallback or did-you-mean."""
    answered = Answered("line:asker", day, question.platform, question.lang or "", question.kind, "", None, question)
    await store.record(answered)


async def count(store: Store, day: dt.date, platform: str, lang: str, outcome: str, intent: str) -> None:
    """One message answered without changed settings or a logged question."""
    await store.record(Answered(f"{platform}:counted", day, platform, lang, outcome, intent))
