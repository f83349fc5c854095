"""TOP wire protocol on the sandbox side: request parameters, system checks, the error envelope and the answer's
format.

The gateway's rules as the public error-code list and the SDKs show them: ``method``, ``app_key``, ``timestamp``,
``v``, ``sign_method`` and ``sign`` are required (``session`` too for a seller's APIs), each missing or bad one has its
own code; ``format`` is optional and defaults to XML, so a JSON client must ask for ``format=json``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from chalicelib.marketplace import signing
from chalicelib.marketplace.errors import (
    SUB_INVALID_PARAMETER,
    SUB_INVALID_SESSION,
    TopCode,
)
from chalicelib.marketplace.models import parse_top_time

MAX_SKEW = timedelta(minutes=10)
SUPPORTED_VERSION = "2.0"
_VERSION = re.compile(r"^\d+\.\d+$")
FORMATS = ("xml", "json")
DEFAULT_FORMAT = "xml"  # the platform's default: JSON only when asked for
XML_TYPE = "text/xml;charset=UTF-8"
JSON_TYPE = "application/json;charset=UTF-8"


class ApiFault(Exception):
    """An error the sandbox answers in the TOP ``error_response`` envelope."""

    def __init__(self, code: int, msg: str, sub_code: str | None = None, sub_msg: str | None = None) -> None:
        super().__init__(code, msg, sub_code, sub_msg)
        self.code = int(code)
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg

    def envelope(self, request_id: str) -> dict:
        inner: dict[str, object] = {"code": self.code, "msg": self.msg}
        if self.sub_code:
            inner["sub_code"] = self.sub_code
        if self.sub_msg:
            inner["sub_msg"] = self.sub_msg
        inner["request_id"] = request_id
        return {"error_response": inner}


def missing(name: str) -> ApiFault:
    return ApiFault(TopCode.MISSING_REQUIRED_ARGUMENTS, f"Missing required arguments:{name}")


def invalid(name: str, detail: str) -> ApiFault:
    return ApiFault(TopCode.INVALID_ARGUMENTS, f"Invalid arguments:{name}", f"{SUB_INVALID_PARAMETER}:{name}", detail)


def business(sub_code: str, sub_msg: str) -> ApiFault:
    return ApiFault(TopCode.REMOTE_SERVICE_ERROR, "Remote service error", sub_code, sub_msg)


def invalid_session(detail: str) -> ApiFault:
    return ApiFault(TopCode.INVALID_SESSION, "Invalid session", SUB_INVALID_SESSION, detail)


def response_key(method: str) -> str:
    """``taobao.traderate.add`` → ``traderate_add_response``."""
    name = method.removeprefix("taobao.")
    return name.replace(".", "_") + "_response"


def request_params(query: str, body: bytes, content_type: str) -> dict[str, str]:
    """System and API params from the query string and a urlencoded body, as the platform merges them."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if body and (not content_type or content_type.startswith("application/x-www-form-urlencoded")):
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return params


def check_system_params(params: Mapping[str, str], app_key: str, secret: str, now: datetime) -> str:
    """Validate the system parameters like the gateway does; return the method.

    Each missing or malformed parameter answers its own code: 21 method, 28/29 app key, 30/31 timestamp,
    32/33/34 version, 23 format, 24/25 signature. The timestamp may be the formatted GMT+8 time or epoch
    milliseconds (both SDK styles). A missing ``sign_method`` is refused as a missing argument (40): every SDK sends
    it, and the platform's own answer for its absence is not documented.
    """
    method = params.get("method")
    if not method:
        raise ApiFault(TopCode.MISSING_METHOD, "Missing Method")
    if not params.get("app_key"):
        raise ApiFault(TopCode.MISSING_APP_KEY, "Missing App Key")
    if params["app_key"] != app_key:
        raise ApiFault(TopCode.INVALID_APP_KEY, "Invalid App Key")
    if not params.get("timestamp"):
        raise ApiFault(TopCode.MISSING_TIMESTAMP, "Missing Timestamp")
    try:
        sent_at = parse_top_time(params["timestamp"])
    except ValueError:
        sent_at = None
    if sent_at is None or abs(sent_at - now) > MAX_SKEW:
        raise ApiFault(TopCode.INVALID_TIMESTAMP, "Invalid Timestamp", sub_msg="timestamp malformed or skewed")
    _check_version(params.get("v"))
    if params.get("format") is not None and params["format"] not in FORMATS:
        raise ApiFault(TopCode.INVALID_FORMAT, "Invalid Format")
    if not params.get("sign"):
        raise ApiFault(TopCode.MISSING_SIGNATURE, "Missing Signature")
    sign_method = params.get("sign_method")
    if not sign_method:
        raise missing("sign_method")
    if sign_method not in signing.SIGN_METHODS:
        raise invalid("sign_method", f"one of {', '.join(signing.SIGN_METHODS)}")
    if not signing.verify(params, secret, params["sign"], sign_method):
        raise ApiFault(TopCode.INVALID_SIGNATURE, "Invalid Signature")
    return method


def _check_version(version: str | None) -> None:
    if not version:
        raise ApiFault(TopCode.MISSING_VERSION, "Missing Version")
    if not _VERSION.match(version):
        raise ApiFault(TopCode.INVALID_VERSION, "Invalid Version")
    if version != SUPPORTED_VERSION:
        raise ApiFault(TopCode.UNSUPPORTED_VERSION, "Unsupported Version")


def answer_format(params: Mapping[str, str]) -> str:
    """The format the answer takes: the request's ``format`` when it is a known one, else XML (the default)."""
    asked = params.get("format")
    return asked if asked in FORMATS else DEFAULT_FORMAT


def simplify(params: Mapping[str, str]) -> bool:
    """Whether the answer takes the simplified JSON form (``simplify=true``, a system parameter honoured with
    ``format=json`` only)."""
    return answer_format(params) == "json" and params.get("simplify", "").lower() == "true"


def simplified(inner: Mapping[str, object]) -> dict:
    """A success answer in the simplified form: no ``*_response`` wrapper, and each list bare instead of inside its
    item key (``{"trade_rates": {"trade_rate": [..]}}`` → ``{"trade_rates": [..]}``, at every depth). Errors keep
    their envelope."""
    return {name: _bare(value) for name, value in inner.items()}


def _bare(value: object) -> object:
    if isinstance(value, list):
        return [_bare(item) for item in value]
    if not isinstance(value, Mapping):
        return value
    if len(value) == 1:
        (only,) = value.values()
        if isinstance(only, list):
            return [_bare(item) for item in only]
    return {name: _bare(child) for name, child in value.items()}


def to_xml(payload: Mapping[str, object]) -> bytes:
    """A TOP answer in XML: one root element (``*_response`` or ``error_response``); a list becomes repeated
    elements of its key (``{"trade_rate": [a, b]}`` → two ``<trade_rate>``)."""
    (root_name, body), *_ = payload.items()
    root = ET.Element(root_name)
    _fill(root, body)
    return b'<?xml version="1.0" encoding="utf-8" ?>' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def _fill(element: ET.Element, value: object) -> None:
    if isinstance(value, Mapping):
        for name, child in value.items():
            for item in child if isinstance(child, list) else [child]:
                if item is not None:
                    _fill(ET.SubElement(element, name), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise missing(name)
    return value


def int_param(
    params: Mapping[str, str], name: str, default: int | None = None, *, low: int | None = None, high: int | None = None
) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise invalid(name, "not an integer") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise invalid(name, f"out of range [{low}, {high}]")
    return number


def time_param(params: Mapping[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if not value:
        return None
    try:
        return parse_top_time(value)
    except ValueError:
        raise invalid(name, "not a time (yyyy-MM-dd HH:mm:ss)") from None


def bool_param(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").lower() == "true"


def choice_param(params: Mapping[str, str], name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = params.get(name) or default
    if value is None:
        raise missing(name)
    if value not in choices:
        raise invalid(name, f"one of {', '.join(choices)}")
    return value
