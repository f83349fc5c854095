"""The sellers' own group robots: DingTalk custom robots (signed mode) and WeCom group robots.

Like the marketplace they are outside services reached over HTTP, so they live behind this package too. Only the
configured send URLs are called (deployed: the two official HTTPS hosts, checked by ``config.Settings``); the
seller gives a credential (DingTalk's ``access_token`` and signing secret, WeCom's ``key``), never a URL we call,
and redirects are never followed. Both robots answer HTTP 200 with ``{"errcode", "errmsg"}``; the codes are
classified once, here (see docs/alerts.md for their sources).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import urllib3

from chalicelib.config import DINGTALK_ROBOT_URL, WECOM_ROBOT_URL
from chalicelib.marketplace.robot_signing import dingtalk_sign

# "send too fast, exceed 20 times per minute" (DingTalk) and "api freq out of limit" (WeCom).
THROTTLED_CODES = frozenset({130101, 45009})
# -1: "system busy" (WeCom's global code): worth another try later.
BUSY_CODES = frozenset({-1})

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_SECRET = re.compile(r"^SEC[A-Za-z0-9]{16,128}$")


class RobotError(Exception):
    """A send the robot did not take; ``code`` is the robot's errcode (None: no answer to read)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class RobotThrottled(RobotError):
    """The robot answered "too fast": leave it alone for a while, then send one digest."""


class RobotRefused(RobotError):
    """The robot refuses this sender for good (bad signature, stale timestamp, unknown token/key, a redirect):
    the seller must fix the robot's settings."""


class RobotUnavailable(RobotError):
    """No usable answer (network, 5xx, busy): try again later."""


class CredentialInvalid(ValueError):
    """What the seller pasted is not a robot's webhook address or key; ``field`` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.fields = {field: reason}


@dataclass(frozen=True)
class Credential:
    """What one robot needs: DingTalk ``access_token`` + ``secret``, or WeCom ``key`` (as ``token``)."""

    channel: str
    token: str
    secret: str | None = None

    def __repr__(self) -> str:  # never shows the secret values
        return f"Credential({self.channel!r}, token=…{self.token[-4:]})"


def _token_from(text: str, *, official: str, param: str) -> str:
    """The credential in a pasted webhook address (only the official one) or the bare token itself."""
    text = text.strip()
    if "://" in text:
        url = urlsplit(text)
        base = urlsplit(official)
        if url.scheme != "https" or url.hostname != base.hostname or url.path != base.path:
            raise CredentialInvalid("webhook", f"not a {base.hostname} robot address")
        values = parse_qs(url.query).get(param) or [""]
        text = values[0]
    if not _TOKEN.match(text):
        raise CredentialInvalid("webhook", f"the address has no valid {param}")
    return text


def parse_credential(channel: str, webhook: str, secret: str | None = None) -> Credential:
    """A robot's credential from what the seller pasted; raises ``CredentialInvalid`` naming the bad field."""
    if channel == "dingtalk":
        token = _token_from(webhook, official=DINGTALK_ROBOT_URL, param="access_token")
        if not secret or not _SECRET.match(secret.strip()):
            raise CredentialInvalid("secret", "the signing secret starts with SEC (robot security settings: 加签)")
        return Credential(channel, token, secret.strip())
    if channel == "wecom":
        return Credential(channel, _token_from(webhook, official=WECOM_ROBOT_URL, param="key"))
    raise CredentialInvalid("channel", "channel must be dingtalk or wecom")


class RobotClient:
    """Sends text messages to group robots at the configured send URLs."""

    def __init__(
        self,
        *,
        dingtalk_url: str,
        wecom_url: str,
        now: Callable[[], datetime],
        pool: urllib3.PoolManager | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
    ) -> None:
        self._urls = {"dingtalk": dingtalk_url, "wecom": wecom_url}
        self._now = now
        self._pool = pool or urllib3.PoolManager(num_pools=1, retries=False)
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)

    def __repr__(self) -> str:
        return f"RobotClient({self._urls!r})"

    def _url(self, credential: Credential) -> str:
        base = self._urls[credential.channel]
        if credential.channel == "wecom":
            return f"{base}?{urlencode({'key': credential.token})}"
        stamp = int(self._now().timestamp() * 1000)
        sign = dingtalk_sign(credential.secret or "", stamp)  # already URL-encoded
        return f"{base}?{urlencode({'access_token': credential.token, 'timestamp': stamp})}&sign={sign}"

    def send(self, credential: Credential, text: str) -> None:
        """Send one text message; raises ``RobotThrottled``, ``RobotRefused`` or ``RobotUnavailable``."""
        body = json.dumps({"msgtype": "text", "text": {"content": text}}, ensure_ascii=False).encode("utf-8")
        pool = self._pool
        try:
            response = pool.request(
                "POST",
                self._url(credential),
                body=body,
                headers={"Content-Type": "application/json;charset=utf-8"},
                timeout=self._timeout,
                retries=False,
                redirect=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RobotUnavailable(f"{type(exc).__name__} calling the robot") from exc
        _check(response.status, response.data)


def _check(status: int, data: bytes) -> None:
    if 300 <= status < 400:
        raise RobotRefused(f"the robot answered a redirect ({status}); redirects are not followed")
    if status >= 500:
        raise RobotUnavailable(f"the robot answered HTTP {status}")
    if status != 200:
        raise RobotRefused(f"the robot answered HTTP {status}")
    try:
        answer = json.loads(data)
        code = int(answer.get("errcode", -1))
        message = str(answer.get("errmsg", ""))[:200]
    except (ValueError, TypeError, AttributeError):
        raise RobotUnavailable("the robot's answer is not JSON") from None
    if code == 0:
        return
    if code in THROTTLED_CODES:
        raise RobotThrottled(message, code)
    if code in BUSY_CODES:
        raise RobotUnavailable(message, code)
    raise RobotRefused(message, code)
