"""Group robots as strict as their documentation: a DingTalk custom robot in signed mode and a WeCom group robot.

Served by the sandbox marketplace's HTTP server at ``/robot/send`` (DingTalk) and ``/cgi-bin/webhook/send`` (WeCom),
the paths of ``oapi.dingtalk.com`` and ``qyapi.weixin.qq.com``. Both answer HTTP 200 with ``{"errcode", "errmsg"}``:

- DingTalk: unknown ``access_token`` → 300001; missing or wrong ``sign``, or a ``timestamp`` more than an hour off
  the robot's clock → 310000; more than 20 messages in any 60 seconds → 130101, and the robot then refuses
  everything for 10 minutes.
- WeCom: unknown ``key`` → 93000 (invalid webhook url); more than 20 messages in any 60 seconds → 45009.
- Either: a body that is not a JSON text/markdown message → 40035/300005-style parameter errors (one code each).

The signature check is written here from the documented formula, not borrowed from the app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs

WINDOW = timedelta(seconds=60)
PER_WINDOW = 20
DINGTALK_PUNISH = timedelta(minutes=10)
STAMP_TOLERANCE_MS = 3600 * 1000
WECOM_TEXT_MAX_BYTES = 2048


@dataclass
class Robot:
    """One robot: its credential, what it received, its recent sends (for the rate limit)."""

    channel: str
    token: str
    secret: str | None = None
    received: list[str] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)  # errcodes answered
    sends: deque = field(default_factory=deque)
    punished_until: datetime | None = None


class Robots:
    """The sandbox's DingTalk and WeCom robots, by token/key."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._robots: dict[tuple[str, str], Robot] = {}

    def add_dingtalk(self, access_token: str, secret: str) -> Robot:
        """A DingTalk custom robot in signed mode."""
        robot = Robot("dingtalk", access_token, secret)
        self._robots[("dingtalk", access_token)] = robot
        return robot

    def add_wecom(self, key: str) -> Robot:
        """A WeCom group robot."""
        robot = Robot("wecom", key)
        self._robots[("wecom", key)] = robot
        return robot

    def robot(self, channel: str, token: str) -> Robot | None:
        """A robot by channel and token, for tests to inspect."""
        return self._robots.get((channel, token))

    def all(self) -> list[Robot]:
        """Every robot."""
        return list(self._robots.values())

    # -- the two endpoints ---------------------------------------------------------------------------------------
    def dingtalk(self, query: str, body: bytes) -> dict:
        """``POST /robot/send?access_token=…&timestamp=…&sign=…``."""
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        with self._lock:
            robot = self._robots.get(("dingtalk", params.get("access_token", "")))
            if robot is None:
                return _err(300001, "token is not exist")
            now = self._clock()
            if robot.punished_until and now < robot.punished_until:
                return _refuse(robot, 130101, "send too fast, exceed 20 times per minute")
            problem = _sign_problem(robot.secret or "", params, now)
            if problem:
                return _refuse(robot, 310000, problem)
            text = _text(body)
            if text is None:
                return _refuse(robot, 300005, "param error: msgtype/content")
            if not _room(robot, now):
                robot.punished_until = now + DINGTALK_PUNISH
                return _refuse(robot, 130101, "send too fast, exceed 20 times per minute")
            robot.received.append(text)
            return _err(0, "ok")

    def wecom(self, query: str, body: bytes) -> dict:
        """``POST /cgi-bin/webhook/send?key=…``."""
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        with self._lock:
            robot = self._robots.get(("wecom", params.get("key", "")))
            if robot is None:
                return _err(93000, "invalid webhook url")
            now = self._clock()
            text = _text(body)
            if text is None:
                return _refuse(robot, 40008, "invalid message type")
            if len(text.encode("utf-8")) > WECOM_TEXT_MAX_BYTES:
                return _refuse(robot, 40058, "content exceed max length")
            if not _room(robot, now):
                return _refuse(robot, 45009, "api freq out of limit")
            robot.received.append(text)
            return _err(0, "ok")


def _err(code: int, message: str) -> dict:
    return {"errcode": code, "errmsg": message}


def _refuse(robot: Robot, code: int, message: str) -> dict:
    robot.refused.append(code)
    return _err(code, message)


def _sign_problem(secret: str, params: dict[str, str], now: datetime) -> str | None:
    stamp, sign = params.get("timestamp", ""), params.get("sign", "")
    if not stamp.isdigit() or not sign:
        return "sign not match"
    if abs(int(stamp) - int(now.timestamp() * 1000)) > STAMP_TOLERANCE_MS:
        return "invalid timestamp"
    expected = base64.b64encode(hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest())
    # parse_qs already URL-decoded the parameter once, as DingTalk's gateway does.
    if not hmac.compare_digest(sign.encode(), expected):
        return "sign not match"
    return None


def _text(body: bytes) -> str | None:
    try:
        message = json.loads(body)
        kind = message["msgtype"]
        content = message[kind]["text" if kind == "markdown" and "text" in message[kind] else "content"]
    except (ValueError, KeyError, TypeError):
        return None
    if kind not in ("text", "markdown") or not isinstance(content, str) or not content.strip():
        return None
    return content


def _room(robot: Robot, now: datetime) -> bool:
    while robot.sends and now - robot.sends[0] >= WINDOW:
        robot.sends.popleft()
    if len(robot.sends) >= PER_WINDOW:
        return False
    robot.sends.append(now)
    return True
