"""Pushed marketplace messages (TMC style): the batch envelope, its parser and its builders.

Envelope: ``{"messages": [{"id", "topic", "pub_time", "user_id", "user_nick", "content"}]}`` where
``content`` is a JSON *string*. The push shape (``outgoing_id``, ``publish_time`` in ms) is normalized
to the same fields. Parse errors never echo input values, which may carry buyer identities.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

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


@dataclass(frozen=True)
class Refused:
    """A message of a batch whose envelope does not validate (a time no clock can hold, a missing topic): it can
    never succeed, so it is answered ``rejected`` by its id while the rest of the batch goes on."""

    id: str
    reason: str
    raw: object = field(default=None, repr=False, compare=False)  # as pushed, for whoever keeps what it refuses


@dataclass(frozen=True)
class Batch:
    """A pushed batch: its valid messages in delivery order, and the ones refused for their envelope."""

    messages: list[Message]
    refused: list[Refused] = field(default_factory=list)


_ID = re.compile(r"^[!-~]{1,128}$")


def _id_of(raw: object) -> str | None:
    """The id a message can be answered by, when it has a usable one."""
    if not isinstance(raw, Mapping):
        return None
    ident = _as_text_id(raw.get("id") if raw.get("id") is not None else raw.get("outgoing_id"))
    return ident if isinstance(ident, str) and _ID.match(ident) else None


def _describe(error: ValidationError, prefix: str = "") -> str:
    first = error.errors(include_input=False, include_url=False)[0]
    parts = [*(prefix.split(".") if prefix else ()), *first["loc"]]
    location = ".".join(str(part) for part in parts) or "body"
    return f"{location}: {first['msg']}"


def parse_batch(raw: bytes | str) -> Batch:
    """Parse a pushed body into a ``Batch``; ``MalformedBatch`` when the body is no batch, or a message of it is
    too broken to be answered by its id. A message with a usable id whose envelope does not validate is refused
    on its own (``Batch.refused``)."""
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
    if not isinstance(data["messages"], list):
        raise MalformedBatch("messages: not a list")
    batch = Batch([])
    for index, item in enumerate(data["messages"]):
        try:
            batch.messages.append(Message.model_validate(item))
        except ValidationError as exc:
            ident = _id_of(item)
            if ident is None:
                raise MalformedBatch(_describe(exc, f"messages.{index}")) from None
            batch.refused.append(Refused(ident, _describe(exc), item))
    return batch


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
