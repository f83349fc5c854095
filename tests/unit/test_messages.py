"""Parsing and building of pushed message batches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.marketplace.messages import (
    TOPIC_TRADE_SUCCESS,
    MalformedBatch,
    MalformedMessage,
    build_message,
    encode_batch,
    parse_batch,
)

PUB = datetime(2024, 6, 1, 4, 0, 5, tzinfo=UTC)


def _message(**overrides: object) -> dict:
    message = {
        "id": "m1",
        "topic": TOPIC_TRADE_SUCCESS,
        "pub_time": "2024-06-01 12:00:05",
        "user_id": 2200000001,
        "user_nick": "shop",
        "content": json.dumps({"tid": 1, "buyer_nick": "tom"}),
    }
    message.update(overrides)
    return message


def _raw(*messages: dict) -> bytes:
    return json.dumps({"messages": list(messages)}).encode()


def test_parse_a_batch() -> None:
    batch = parse_batch(_raw(_message(), _message(id="m2")))
    first = batch.messages[0]
    assert [m.id for m in batch.messages] == ["m1", "m2"]
    assert first.topic == TOPIC_TRADE_SUCCESS
    assert first.pub_time == PUB
    assert first.user_id == "2200000001"
    assert first.payload() == {"tid": 1, "buyer_nick": "tom"}


def test_content_stays_out_of_repr() -> None:
    assert "tom" not in repr(parse_batch(_raw(_message())))


def test_push_shape_is_normalized() -> None:
    pushed = _message(outgoing_id=90001, publish_time=int(PUB.timestamp() * 1000), publisher_appkey="1")
    del pushed["id"], pushed["pub_time"]
    message = parse_batch(_raw(pushed)).messages[0]
    assert message.id == "90001"
    assert message.pub_time == PUB


def test_content_sent_as_an_object_is_accepted() -> None:
    message = parse_batch(_raw(_message(content={"tid": 2}))).messages[0]
    assert message.payload() == {"tid": 2}


def test_empty_batch_is_valid() -> None:
    assert parse_batch(b'{"messages": []}').messages == []


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b"not json", "JSON"),
        (b"\xff\xfe", "JSON"),
        (b"[1, 2]", "object"),
        (b"{}", "messages"),
        (b'{"messages": {"id": 1}}', "messages"),
        (b'{"messages": [1]}', "messages.0"),
        (_raw({k: v for k, v in _message().items() if k != "id"}), "messages.0.id"),
        (_raw(_message(), {**_message(pub_time="yesterday"), "id": "a b"}), "messages.1.id"),
    ],
)
def test_malformed_batches_say_where(raw: bytes, where: str) -> None:
    with pytest.raises(MalformedBatch) as caught:
        parse_batch(raw)
    assert where in caught.value.reason


@pytest.mark.parametrize(
    ("broken", "where"),
    [
        (_message(topic=""), "topic"),
        (_message(pub_time="yesterday"), "pub_time"),
        (_message(pub_time=True), "pub_time"),
        (_message(pub_time=1e300), "pub_time"),
        (_message(content=None), "content"),
    ],
)
def test_a_message_with_a_broken_envelope_is_refused_alone_by_its_id(broken: dict, where: str) -> None:
    batch = parse_batch(_raw(_message(), {**broken, "id": "m-broken"}))
    assert len(batch.messages) == 1
    [refused] = batch.refused
    assert refused.id == "m-broken" and refused.reason.startswith(where)


def test_malformed_reason_does_not_echo_input() -> None:
    batch = parse_batch(_raw(_message(pub_time="buyer-tom-secret")))
    assert batch.refused and "buyer-tom-secret" not in batch.refused[0].reason
    with pytest.raises(MalformedBatch) as caught:
        parse_batch(_raw({"id": None, "pub_time": "buyer-tom-secret"}))
    assert "buyer-tom-secret" not in caught.value.reason


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '"text"'])
def test_payload_must_be_a_json_object(content: str) -> None:
    message = parse_batch(_raw(_message(content=content))).messages[0]
    with pytest.raises(MalformedMessage):
        message.payload()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    topic=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30),  # printable ASCII
    content=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    msg_id=st.integers(min_value=1, max_value=2**62),
    seconds=st.integers(min_value=0, max_value=10**9),
    nick=st.text(max_size=10),
)
def test_built_batches_parse_back(topic: str, content: dict, msg_id: int, seconds: int, nick: str) -> None:
    pub_time = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    built = build_message(topic, content, msg_id=msg_id, pub_time=pub_time, user_id=7, user_nick=nick)
    message = parse_batch(encode_batch([built])).messages[0]
    assert (message.id, message.topic, message.pub_time, message.user_id, message.user_nick) == (
        str(msg_id),
        topic,
        pub_time,
        "7",
        nick,
    )
    assert message.payload() == content
    assert isinstance(built["content"], str)
