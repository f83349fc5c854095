"""The rehearsal's local AWS: moto's server, with a recorder in front of it that counts the requests and catches
those that must never happen (a DynamoDB request without a table name) and the errors AWS answered."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass

import urllib3

HARNESS_AGENT = "haoping-rehearsal-harness"
# Answers that are the normal outcome of a conditional write, not a fault.
EXPECTED_ERRORS = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
# DynamoDB operations that act on one table named by ``TableName``.
TABLE_OPERATIONS = frozenset(
    {
        "CreateTable",
        "DeleteItem",
        "DeleteTable",
        "DescribeContinuousBackups",
        "DescribeTable",
        "DescribeTimeToLive",
        "GetItem",
        "PutItem",
        "Query",
        "Scan",
        "UpdateContinuousBackups",
        "UpdateItem",
        "UpdateTable",
        "UpdateTimeToLive",
    }
)


@dataclass(frozen=True)
class AwsError:
    """An error answer of the local AWS."""

    origin: str  # "function" or "harness"
    operation: str
    code: str
    message: str
    status: int


class Recorder:
    """WSGI middleware in front of moto's server application."""

    def __init__(self, app) -> None:
        self.app = app
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # "Service.Operation" from the functions
        # Every function request in order, as (access key id, "Service.Operation", what it acts on): each
        # function has its own credentials, so a slice of this log taken around one event is its round trips.
        self.log: list[tuple[str, str, str]] = []
        # When each of those requests was at the local AWS (monotonic seconds in, out), in the same order.
        self.spans: list[tuple[float, float]] = []
        self.errors: list[AwsError] = []
        self.missing_table_names: list[str] = []

    def __call__(self, environ, start_response):
        agent = environ.get("HTTP_USER_AGENT", "")
        origin = "harness" if HARNESS_AGENT in agent else "function"
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        operation = _operation(environ, body)
        if operation.startswith("DynamoDB."):
            problem = _table_name_problem(operation, body)
            if problem:
                with self._lock:
                    self.missing_table_names.append(f"{origin}: {problem}")
        status: list[int] = []

        def capture(code, headers, exc_info=None):
            status.append(int(code.split(" ", 1)[0]))
            return start_response(code, headers, exc_info)

        began = time.monotonic()
        chunks = self.app(environ, capture)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        with self._lock:
            if origin == "function":
                self.requests[operation] += 1
                self.log.append((_access_key(environ), operation, _subject(body)))
                self.spans.append((began, time.monotonic()))
            if status and status[0] >= 400:
                code, message = _error_of(data)
                self.errors.append(AwsError(origin, operation, code, message[:300], status[0]))
        return [data]

    def mark(self) -> int:
        """A position in the request log, to take the requests made after it with ``since``."""
        with self._lock:
            return len(self.log)

    def since(self, mark: int, access_key: str) -> list[tuple[str, str]]:
        """The requests made with ``access_key`` (one function's credentials) after ``mark``, in order, as
        ("Service.Operation", the table or secret it names, or "")."""
        with self._lock:
            return [(operation, subject) for key, operation, subject in self.log[mark:] if key == access_key]

    def seconds_at_aws_since(self, mark: int, access_key: str) -> float:
        """How long the local AWS was answering requests of ``access_key`` after ``mark`` (overlapping requests
        counted once): the part of a function's time that was the local AWS's, not its own."""
        with self._lock:
            mine = zip(self.log[mark:], self.spans[mark:], strict=True)
            spans = sorted(span for (key, _, _), span in mine if key == access_key)
        total, end = 0.0, float("-inf")
        for began, ended in spans:
            total += max(0.0, ended - max(began, end))
            end = max(end, ended)
        return total

    def unexpected_errors(self) -> list[AwsError]:
        """Errors that are not the ordinary outcome of a conditional write."""
        with self._lock:
            return [e for e in self.errors if e.code not in EXPECTED_ERRORS]


def _operation(environ, body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        service, _, action = target.rpartition(".")
        service = {"DynamoDB_20120810": "DynamoDB", "TrentService": "KMS", "AmazonSQS": "SQS"}.get(service, service)
        return f"{service}.{action}"
    match = re.search(rb"(?:^|&)Action=([A-Za-z]+)", body) or re.search(
        r"(?:^|&)Action=([A-Za-z]+)", environ.get("QUERY_STRING", "")
    )
    if match:
        action = match.group(1)
        action = action.decode() if isinstance(action, bytes) else action
        host = environ.get("HTTP_AUTHORIZATION", "")
        service = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", host)
        return f"{service.group(1).upper() if service else 'AWS'}.{action}"
    return f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"


def _access_key(environ) -> str:
    """The access key id a request was signed with (SigV4's ``Credential=<key>/...``)."""
    found = re.search(r"Credential=([^/,\s]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return found.group(1) if found else ""


def _subject(body: bytes) -> str:
    """The table or secret a JSON request names (``TableName``, ``SecretId``), else ""."""
    if not body.startswith(b"{"):
        return ""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    return str(doc.get("TableName") or doc.get("SecretId") or "")


def _table_name_problem(operation: str, body: bytes) -> str | None:
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return None
    action = operation.split(".", 1)[1]
    if "TableName" in doc and not doc["TableName"]:
        return f"{action} with an empty TableName"
    if action in TABLE_OPERATIONS and not doc.get("TableName"):
        return f"{action} without a TableName"
    for name in doc.get("RequestItems", {}) or {}:
        if not name:
            return f"{action} with an empty table name in RequestItems"
    for item in doc.get("TransactItems", []) or []:
        for part in item.values():
            if isinstance(part, dict) and not part.get("TableName"):
                return f"{action} with an empty table name in TransactItems"
    return None


def _error_of(data: bytes) -> tuple[str, str]:
    try:
        doc = json.loads(data)
        code = str(doc.get("__type") or doc.get("code") or doc.get("Code") or "")
        message = str(doc.get("message") or doc.get("Message") or "")
        return code.rsplit("#", 1)[-1], message
    except ValueError:
        text = data.decode("utf-8", "replace")
        code = re.search(r"<Code>([^<]+)</Code>", text)
        message = re.search(r"<Message>([^<]*)</Message>", text)
        return (code.group(1) if code else "Unknown"), (message.group(1) if message else text[:200])


def _no_log(self, *args, **kwargs) -> None:
    """The recorder keeps what matters; no access log line per request."""


class LocalAws:
    """moto's server on 127.0.0.1 (ephemeral port), reset before and after, with the recorder in front."""

    def __init__(self) -> None:
        self._server = None
        self.url = ""
        self.recorder: Recorder | None = None

    def start(self) -> LocalAws:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        wsgi = self._server._server  # werkzeug's server: it looks ``app`` and the handler up on every request
        self.recorder = Recorder(wsgi.app)
        wsgi.app = self.recorder
        wsgi.RequestHandlerClass = type("QuietHandler", (wsgi.RequestHandlerClass,), {"log_request": _no_log})
        # moto keeps its state per process (shared with in-process mocks): start from nothing.
        self.reset()
        return self

    def reset(self) -> None:
        urllib3.request("POST", f"{self.url}/moto-api/reset", timeout=10, headers={"User-Agent": HARNESS_AGENT})

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.reset()
        finally:
            self._server.stop()
            self._server = None
