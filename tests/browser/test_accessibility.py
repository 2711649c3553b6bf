"""axe-core on the chat with an answer on screen: no serious or critical violation.

axe's default rule set (WCAG 2.0-2.2 A and AA and best practices). Its experimental rules stay off:
label-content-name-mismatch counts furigana as part of a button's visible label, while the
accessible name is rightly the label without its readings (申し込み方, what a speech user says).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Chat
from tests.browser.test_web_chat import QUESTIONS

LOCALES = {"ja": "ja-JP", "en": "en-US", "ur": "ur-PK"}


@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", list(LOCALES))
def test_no_serious_accessibility_violations(
    open_chat: Callable[..., Chat], axe_source: str, lang: str, device: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    chat = open_chat(device, locale=LOCALES[lang])
    answer = chat.ask(QUESTIONS[lang])
    chat.page.add_script_tag(content=axe_source)
    result = chat.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    violations = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"axe-{request.node.callspec.id}.json").write_text(json.dumps(violations, indent=1))
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, json.dumps(serious, ensure_ascii=False, indent=1)
    assert answer.get_attribute("lang") == lang
