"""The measuring sets stay honest: the held-out set is frozen, and no evaluation message is an example.

(The held-out set was written blind; 46 of its 716 messages coincide with examples written
independently, mostly greetings, thanks and two-word phrases. They stay: removing them would mean
tuning on it.)"""

from __future__ import annotations

import hashlib

from bot.config import ROOT
from bot.core.content import load_content
from bot.core.evaluation import load_eval
from bot.core.normalize import normalize
from tests.conftest import DATA

HOLDOUT = DATA / "holdout"


def test_the_held_out_set_is_frozen() -> None:
    sums = dict(line.split()[::-1] for line in (HOLDOUT / "SHA256SUMS").read_text().splitlines())
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in HOLDOUT.glob("*.yaml")}
    assert files == sums, "tests/data/holdout is frozen: never edit it (see its README)"


def test_no_evaluation_message_is_an_example() -> None:
    content = load_content(ROOT / "intents")
    examples = {normalize(t) for i in content.catalog for ts in i.examples.values() for t in ts}
    examples |= {normalize(t) for ts in content.out_of_scope.values() for t in ts}
    copied = [item.text for item in load_eval(DATA / "eval") if normalize(item.text) in examples]
    assert not copied, f"evaluation messages copied into the intents: {copied[:5]}"
