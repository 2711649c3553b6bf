"""The operators' workflow: add an intent as documented, `make translations`, and everything still holds.

Run on a copy of the fixture content with the project's own Makefile, so what is tested is what an
operator runs (docs/operators.md).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.config import ROOT
from bot.core.factory import build_assistant
from bot.core.models import Incoming
from bot.core.postback import Postback
from bot.core.users import MemoryUserStore
from tests.conftest import CONTENT, FIXTURE_TRANSLATIONS

NEW_INTENT = """\
id: faq.photo
title: {ja: 写真, en: Photo}
answers:
  ja: このことは、チラシに書いてありません。入管のウェブサイトを見てください。
  en: The leaflet does not say this. Please see the Immigration Services Agency website.
links: [https://www.moj.go.jp/isa/tokutei.html]
examples:
  ja: [写真はいりますか, 顔写真は必要, 写真のサイズ, 写真 何枚, 証明写真, しゃしん いる？,
       写真を持っていく, 写真の大きさ, 写真は何センチ, カードの写真, 写真をとる, 写真 必要]
  en: [do i need a photo, photo size, how many photos, id photo, passport photo needed, photo for the card,
       picture needed, what photo, photo requirements, photo, do they take my photo, bring a photo]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what `make translations` needs, with the fixture content as the intents."""
    shutil.copytree(CONTENT, tmp_path / "intents")
    shutil.copytree(FIXTURE_TRANSLATIONS, tmp_path / "translations")
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("babel.cfg", "Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)  # its date kept: the set-up is not redone
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def make_translations(project: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "INTENTS_DIR": str(project / "intents"), "HOME": str(project)}
    return subprocess.run(
        ["make", "-o", ".venv/.installed", "translations"],  # never set up the shared .venv from here
        cwd=project, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def test_an_intent_added_as_documented_reaches_every_catalog(project: Path) -> None:
    (project / "intents" / "faq.photo.yaml").write_text(NEW_INTENT, encoding="utf-8")
    result = make_translations(project)
    assert result.returncode == 0, result.stdout + result.stderr

    with (project / "translations" / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    english = "The leaflet does not say this. Please see the Immigration Services Agency website."
    entry = catalog.get(english, "faq.photo")
    assert entry is not None and entry.string == ""
    assert any("ja: このことは" in comment for comment in entry.auto_comments)
    assert catalog.get("Menu") is not None, "existing strings stay"

    # Until a translator fills it in, the new answer comes in English and easy Japanese.
    assistant = build_assistant(project / "intents", project / "translations", MemoryUserStore())
    assistant.handle(Incoming("t", "u", postback=Postback.language("vi")))
    reply = assistant.handle(Incoming("t", "u", postback=Postback.intent("faq.photo")))
    assert [b.lang for b in reply.blocks] == ["en", "ja"]
    assert assistant.handle(Incoming("t", "u", postback=Postback.intent("card.about"))).blocks[0].lang == "vi"


def test_a_broken_intent_stops_make_translations_and_writes_nothing(project: Path) -> None:
    assert make_translations(project).returncode == 0
    pot = (project / "translations" / "messages.pot").read_bytes()
    po = (project / "translations" / "vi" / "LC_MESSAGES" / "messages.po").read_bytes()
    (project / "intents" / "faq.photo.yaml").write_text(NEW_INTENT.replace("  en: The", " en: The"), encoding="utf-8")

    result = make_translations(project)

    assert result.returncode != 0
    assert "faq.photo.yaml:" in result.stdout + result.stderr, "the operator is told where"
    assert (project / "translations" / "messages.pot").read_bytes() == pot, "the template is untouched"
    assert (project / "translations" / "vi" / "LC_MESSAGES" / "messages.po").read_bytes() == po
