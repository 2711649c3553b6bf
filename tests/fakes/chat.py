"""An in-memory chat: drives YAML → matcher → i18n → reply with no platform (errbot's TestBot idea)."""

from __future__ import annotations

from bot.core.assistant import Assistant
from bot.core.models import Incoming, Reply
from bot.core.postback import Postback


class Chat:
    """One user talking to the assistant."""

    def __init__(self, assistant: Assistant, user: str = "u1", platform: str = "test") -> None:
        self.assistant = assistant
        self.user = user
        self.platform = platform
        self.replies: list[Reply] = []

    def say(self, text: str, lang_hint: str | None = None, forwarded: bool = False) -> Reply:
        """Send a text message; returns the reply."""
        msg = Incoming(self.platform, self.user, text=text, lang_hint=lang_hint, forwarded=forwarded)
        self.replies.append(self.assistant.handle(msg))
        return self.replies[-1]

    def press(self, data: str) -> Reply:
        """Press a button whose data (as a platform carries it) is `data`; data we do not know opens the menu."""
        press = Postback.decode(data) or Postback.menu()
        self.replies.append(self.assistant.handle(Incoming(self.platform, self.user, postback=press)))
        return self.replies[-1]
