"""The translators' workflow: an operator adds an intent, `make translations` brings it to every catalog."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from bot.config import ROOT
from bot.core.factory import build_assistant
from bot.core.models import Incoming
from bot.core.users import MemoryUserStore

NEW_INTENT = """\
id: card.lost
title: {ja: なくしたとき, en: Lost card}
answers:
  ja: このことは、チラシに書いてありません。入管のウェブサイトを見てください。
  en: The leaflet does not say this. Please see the Immigration Services Agency website.
links: [https://www.moj.go.jp/isa/tokutei.html]
examples:
  ja: [カードをなくしました, 特定在留カードを落とした]
  en: [i lost my card, my tokutei card is lost]
"""


def pybabel(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], cwd=cwd, check=True, capture_output=True)


def test_new_intent_reaches_every_catalog_untranslated(tmp_path: Path) -> None:
    for name in ("intents", "translations", "bot"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    (tmp_path / "intents" / "card.lost.yaml").write_text(NEW_INTENT, encoding="utf-8")

    # What `make translations` runs.
    pybabel("extract", "-F", "babel.cfg", "--no-location", "-o", "translations/messages.pot", ".", cwd=tmp_path)
    pybabel("update", "-i", "translations/messages.pot", "-d", "translations", "--no-fuzzy-matching", cwd=tmp_path)
    for po in (tmp_path / "translations").glob("*/LC_MESSAGES/messages.po"):
        pybabel("compile", "-i", str(po), "-o", str(po.with_suffix(".mo")), cwd=tmp_path)

    with (tmp_path / "translations" / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    english = "The leaflet does not say this. Please see the Immigration Services Agency website."
    entry = catalog.get(english, "card.lost")
    assert entry is not None and entry.string == ""
    assert any("ja: このことは" in comment for comment in entry.auto_comments)
    assert catalog.get("OK. I will answer in this language.") is not None, "existing strings stay"

    # Until a translator fills it in, the new answer comes in English and easy Japanese.
    assistant = build_assistant(tmp_path / "intents", tmp_path / "translations", MemoryUserStore())
    assistant.handle(Incoming("t", "u", postback="lang:vi"))
    reply = assistant.handle(Incoming("t", "u", postback="intent:card.lost"))
    assert [b.lang for b in reply.blocks] == ["en", "ja"]
    assert assistant.handle(Incoming("t", "u", postback="intent:card.about")).blocks[0].lang == "vi"
