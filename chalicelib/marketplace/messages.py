"""Pushed marketplace messages (TMC style): the batch envelope, its parser and its builders.

Envelope: ``{"messages": [{"id", "topic", "pub_time", "user_id", "user_nick", "content"}]}`` where
``content`` is a JSON *string*. The push shape (``outgoing_id``, ``publish_time`` in ms) is normalized
to the same fields. Parse errors never echo input values, which may carry buyer identities.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.marketplace.models import format_top_time, parse_top_time

TOPIC_TRADE_SUCCESS = "taobao_trade_TradeSuccess"
TOPIC_TRADE_RATED = "taobao_trade_TradeRated"
TOPIC_REFUND_CREATED = "taobao_refund_RefundCreated"
TOPIC_REFUND_SUCCESS = "taobao_refund_RefundSuccess"
TOPIC_REFUND_CLOSED = "taobao_refund_RefundClosed"
TOPIC_ORDER_PAID = "taobao_fuwu_OrderPaid"
TOPIC_ORDER_CLOSED = "taobao_fuwu_OrderClosed"


class MalformedBatch(ValueError):
    """The pushed body is not a valid message batch; ``reason`` says why without quoting the input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedMessage(ValueError):
    """A message's ``content`` is not a JSON object."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _as_text_id(value: object) -> object:
    # Ids arrive as JSON numbers or strings depending on the channel; bools are not ids.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class Message(BaseModel):
    """One pushed message; ``content`` stays the raw JSON string until ``payload()`` is asked for."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Ids and topics are logged and echoed in the per-message results: printable ASCII of bounded length only.
    id: str = Field(min_length=1, max_length=128, pattern=r"^[!-~]+$")
    topic: str = Field(min_length=1, max_length=128, pattern=r"^[!-~]+$")
    pub_time: datetime
    user_id: str | None = None
    user_nick: str | None = None
    content: str = Field(repr=False)

    @model_validator(mode="before")
    @classmethod
    def _normalize_push_shape(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if data.get("id") is None and "outgoing_id" in data:
            data["id"] = data["outgoing_id"]
        if data.get("pub_time") is None and "publish_time" in data:
            data["pub_time"] = data["publish_time"]
        if isinstance(data.get("content"), Mapping):
            data["content"] = json.dumps(data["content"], ensure_ascii=False)
        return data

    @field_validator("id", "user_id", mode="before")
    @classmethod
    def _text_id(cls, value: object) -> object:
        return _as_text_id(value)

    @field_validator("pub_time", mode="before")
    @classmethod
    def _marketplace_time(cls, value: object) -> datetime:
        if isinstance(value, bool):
            raise ValueError("not a time")
        parsed = parse_top_time(value)
        if parsed is None:
            raise ValueError("missing time")
        return parsed

    def payload(self) -> dict[str, Any]:
        """The decoded ``content`` object; ``MalformedMessage`` when it is not a JSON object."""
        try:
            decoded = json.loads(self.content)
        except ValueError as exc:
            raise MalformedMessage(f"message {self.id}: content is not JSON") from exc
        except RecursionError:
            raise MalformedMessage(f"message {self.id}: content is nested too deeply") from None
        if not isinstance(decoded, dict):
            raise MalformedMessage(f"message {self.id}: content is not a JSON object")
        return decoded


class Batch(BaseModel):
    """A pushed batch of messages, in delivery order."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    messages: list[Message]


def _describe(error: ValidationError) -> str:
    first = error.errors(include_input=False, include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{location}: {first['msg']}"


def parse_batch(raw: bytes | str) -> Batch:
    """Parse a pushed body into a ``Batch``; ``MalformedBatch`` when any part of it is invalid."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBatch("body is not JSON") from exc
    except RecursionError:  # the decoder's answer to absurdly deep nesting: a bad body, not our failure
        raise MalformedBatch("body is nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedBatch("body is not a JSON object")
    if "messages" not in data:
        raise MalformedBatch("messages: missing")
    try:
        return Batch.model_validate(data)
    except ValidationError as exc:
        raise MalformedBatch(_describe(exc)) from None


def build_message(
    topic: str,
    content: Mapping[str, Any],
    *,
    msg_id: str | int,
    pub_time: datetime,
    user_id: str | int | None,
    user_nick: str | None,
) -> dict[str, Any]:
    """One message in the envelope shape, ``content`` encoded as a JSON string the way TMC sends it."""
    return {
        "id": str(msg_id),
        "topic": topic,
        "pub_time": format_top_time(pub_time),
        "user_id": None if user_id is None else str(user_id),
        "user_nick": user_nick,
        "content": json.dumps(dict(content), ensure_ascii=False, separators=(",", ":")),
    }


def encode_batch(messages: Iterable[Mapping[str, Any]]) -> bytes:
    """The raw body of a pushed batch (UTF-8 JSON) — what the signature is computed over."""
    return json.dumps({"messages": list(messages)}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
