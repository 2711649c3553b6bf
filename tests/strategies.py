"""Hypothesis strategies for what arrives from outside: webhook bodies, message texts, content YAML.

Shared by the property tests (`make test`, a few hundred examples) and the long run (`make fuzz`,
tens of thousands, against the served app).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import strategies as st

# Texts as residents (and attackers) send them: any Unicode, lone surrogates included (JSON can
# carry them), control characters, right-to-left marks, emoji, very long lines.
texts = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=400),
    st.sampled_from(["特定在留カードってなに？", "Do I have to get the new card?", "Thẻ cư trú đặc định là gì?",
                     "English please", "ok", "", " ", "\u202e\u200f", "😀" * 50, "?" * 3, "/lang", "langs:²"]),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=5), st.integers(1, 3000)),
)  # fmt: skip

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children,
                                                                               max_size=5)),
    max_leaves=20,
)  # fmt: skip


def nested(depth: int) -> str:
    """JSON nested `depth` deep (lists in dicts), past what a recursive parser survives when large."""
    return '{"events": ' + "[" * depth + "]" * depth + "}"


# -- LINE ---------------------------------------------------------------------------------------

line_sources = st.one_of(
    st.fixed_dictionaries({"type": st.just("user"), "userId": st.one_of(st.just("U" + "a" * 32), texts)}),
    st.fixed_dictionaries({"type": st.sampled_from(["group", "room"]), "groupId": texts, "roomId": texts,
                           "userId": texts}),
    json_values,
)  # fmt: skip
line_messages = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "id": st.just("1"), "text": texts,
                           "quoteToken": st.just("q")}),
    st.fixed_dictionaries({"type": st.sampled_from(["sticker", "image", "video", "audio", "location", "file",
                                                    "hologram"]), "id": st.just("2")}),
    json_values,
)  # fmt: skip
line_events = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["message", "postback", "follow", "unfollow", "join", "leave", "beacon",
                                     "memberJoined", "videoPlayComplete", "a-future-type"]),
            "mode": st.sampled_from(["active", "standby", "sleeping"]),
            "timestamp": st.integers(0, 2**41),
            "source": line_sources,
            "webhookEventId": st.builds(lambda: uuid.uuid4().hex[:26].upper()),
            "deliveryContext": st.fixed_dictionaries({"isRedelivery": st.booleans()}),
            "replyToken": st.builds(lambda: uuid.uuid4().hex),
            "message": line_messages,
            "postback": st.fixed_dictionaries({"data": texts}),
        }
    ),
    json_values,
)  # fmt: skip
well_formed_line_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["message", "postback", "follow", "join", "unsend", "a-future-type"]),
        "mode": st.just("active"),
        "timestamp": st.just(1795666500000),
        "source": st.fixed_dictionaries({"type": st.just("user"), "userId": st.builds(lambda: "U" + uuid.uuid4().hex)}),
        "webhookEventId": st.builds(lambda: uuid.uuid4().hex[:26].upper()),
        "deliveryContext": st.just({"isRedelivery": False}),
        "replyToken": st.builds(lambda: uuid.uuid4().hex),
        "message": st.fixed_dictionaries({"type": st.sampled_from(["text", "sticker"]), "id": st.just("1"),
                                          "text": texts, "quoteToken": st.just("q")}),
        "postback": st.fixed_dictionaries({"data": texts}),
    }
)  # fmt: skip
line_bodies = st.one_of(
    st.builds(lambda events: {"destination": "U0", "events": events}, st.lists(well_formed_line_events, max_size=3)),
    st.builds(lambda events: {"destination": "U0", "events": events}, st.lists(line_events, max_size=3)),
    st.builds(lambda events: {"destination": "U0", "events": events},
              st.lists(well_formed_line_events, min_size=50, max_size=50)),
    json_values,
).map(lambda value: json.dumps(value).encode())  # fmt: skip
raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"", b"{", b"\xff\xfe\x00", b'{"events": []}\xff', nested(100_000).encode(), b"null"]),
)

# -- Telegram -----------------------------------------------------------------------------------

telegram_users = st.fixed_dictionaries(
    {"id": st.integers(1, 2**40), "is_bot": st.booleans(), "first_name": texts},
    optional={"language_code": st.one_of(st.sampled_from(["en", "vi", "pt-br", "zh-hant"]), texts)},
)
telegram_chats = st.fixed_dictionaries(
    {"id": st.integers(-(2**52), 2**40), "type": st.sampled_from(["private", "group", "supergroup", "channel"])}
)
telegram_messages = st.fixed_dictionaries(
    {"message_id": st.integers(1, 2**31), "date": st.integers(0, 2**31), "chat": telegram_chats},
    optional={
        "from": telegram_users,
        "text": texts,
        "caption": texts,
        "entities": st.lists(st.fixed_dictionaries({"type": st.sampled_from(["bot_command", "mention", "url"]),
                                                    "offset": st.integers(-5, 50), "length": st.integers(-5, 50)}),
                             max_size=3),
        "sticker": json_values,
        "forward_origin": json_values,
        "reply_to_message": json_values,
        "message_thread_id": st.integers(),
        "is_topic_message": st.booleans(),
    },
)  # fmt: skip
telegram_updates = st.one_of(
    st.fixed_dictionaries({"update_id": st.integers(0, 2**31), "message": telegram_messages}),
    st.fixed_dictionaries(
        {"update_id": st.integers(0, 2**31),
         "callback_query": st.fixed_dictionaries({"id": texts, "from": telegram_users, "chat_instance": texts},
                                                 optional={"data": texts, "message": telegram_messages})}
    ),
    st.fixed_dictionaries({"update_id": st.integers(0, 2**31)}, optional={"edited_message": json_values,
                                                                           "from_a_future_api": json_values}),
    json_values,
).map(lambda value: json.dumps(value).encode())  # fmt: skip

# -- the web chat -------------------------------------------------------------------------------

ask_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={"text": texts, "postback": texts, "session": texts}),
    st.fixed_dictionaries({}, optional={"text": json_values, "postback": json_values, "session": json_values}),
    json_values,
).map(lambda value: json.dumps(value).encode())  # fmt: skip

# -- content YAML -------------------------------------------------------------------------------

yaml_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children,
                                                                                max_size=4)),
    max_leaves=15,
)  # fmt: skip
intent_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.just("card.fuzzed"), st.text(max_size=20)),
        "examples": st.one_of(st.fixed_dictionaries({"ja": st.lists(st.text(max_size=30), max_size=3),
                                                     "en": st.lists(st.text(max_size=30), max_size=3)}), yaml_values),
        "answers": st.one_of(st.fixed_dictionaries({"ja": st.text(max_size=40), "en": st.text(max_size=40)}),
                             yaml_values),
        "links": st.one_of(st.lists(st.sampled_from(["https://www.moj.go.jp/isa/tokutei.html", "http://x", ""]),
                                    max_size=2), yaml_values),
        "related": yaml_values,
    },
)  # fmt: skip
