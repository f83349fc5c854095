"""The rehearsal's Lambda: a runtime directory, a bootstrap that behaves like Lambda's Python runtime, one warm
process per function, and the events AWS documents for API Gateway (REST, v1 proxy), EventBridge schedules and SQS.

Each function runs in its own fresh interpreter (``python -I -S``: no site-packages, no PYTHON* variables) whose
``sys.path`` is the unpacked bundle, the standard library and a runtime directory holding what Lambda's python3.13
runtime provides (boto3 and its dependencies, copied from the dev environment, which pins the runtime's versions).
Its environment is exactly what it is given. Events go in on stdin and results come back on a private pipe, one
JSON line each; everything the function prints, on stdout or stderr, is its log stream.
"""

from __future__ import annotations

import base64
import compileall
import contextlib
import json
import queue
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from deploy.package import RUNTIME_PROVIDED

EXECUTION_ENV = "AWS_Lambda_python3.13"
TIMED_OUT = "Sandbox.Timedout"


def build_runtime(target: Path) -> dict[str, str]:
    """Copy the runtime's packages (with their ``.dist-info``) from this environment into ``target``."""
    marker = target / ".compiled-versions.json"
    # What Lambda's Python runtime ships besides the standard library: the packager's list (AWS SDK and its deps),
    # with its bytecode, as the runtime has it.
    versions = {name: metadata.version(name) for name in sorted(RUNTIME_PROVIDED)}
    if marker.exists() and json.loads(marker.read_text()) == versions:
        return versions
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in versions:
        dist = metadata.distribution(name)
        for file in dist.files or []:
            relative = Path(file)
            if relative.parts[0] == ".." or "__pycache__" in relative.parts or relative.suffix == ".pyc":
                continue
            source = Path(dist.locate_file(file))
            if source.is_file():
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)
    compileall.compile_dir(target, quiet=1, workers=0)
    marker.write_text(json.dumps(versions))
    return versions


# The bootstrap runs inside the function's interpreter: standard library only, nothing of ours.
BOOTSTRAP = r'''
import importlib, json, logging, os, sys, time, traceback

_task_root, _runtime_dir = sys.argv[1], sys.argv[2]
# Lambda's task root is read-only: a module shipped without bytecode is compiled by every new container. (The
# runtime's own packages were compiled when it was built.)
sys.dont_write_bytecode = True
# Lambda: the task root first, then the standard library, then the runtime's packages (boto3).
sys.path[:] = [_task_root] + [p for p in sys.path if p] + [_runtime_dir]
os.chdir(_task_root)

# Results leave on a private copy of the original stdout; the function's stdout joins its log stream.
_results = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
_events = os.fdopen(os.dup(0), "r", encoding="utf-8")
os.dup2(2, 1)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = _RequestIdFilter.request_id
        return True


# Lambda's runtime gives the root logger this handler and format.
_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(logging.Formatter(
    "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"))
_handler.addFilter(_RequestIdFilter())
logging.getLogger().addHandler(_handler)


class CognitoIdentity:
    cognito_identity_id = None
    cognito_identity_pool_id = None


class LambdaContext:
    """The attributes and method of Lambda's Python context object (values as the runtime sets them)."""

    def __init__(self, request_id, deadline_ms, invoked_function_arn):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = None
        self.identity = CognitoIdentity()
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def log(self, message):
        sys.stderr.write(str(message))


def _error(exc, error_type=None, message=None):
    return {
        "errorMessage": str(exc) if message is None else message,
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


def _log_error(error):
    lines = "".join(error["stackTrace"])
    head = f"[ERROR] {error['errorType']}: {error['errorMessage']}"
    sys.stderr.write(f"{head}\nTraceback (most recent call last):\n{lines}")


def _send(message):
    _results.write(json.dumps(message) + "\n")
    _results.flush()


def _imported():
    new = [name for name in list(sys.modules) if name not in _known]
    _known.update(new)
    return new


# The modules each phase imports, in order, go with its answer (the bench times them apart from the round trips).
_known = set(sys.modules)
_module_name, _, _function_name = os.environ["_HANDLER"].rpartition(".")
_started = time.monotonic()
_handler_fn, _init_error = None, None
try:
    _handler_fn = getattr(importlib.import_module(_module_name), _function_name)
except ImportError as exc:
    _init_error = _error(exc, "Runtime.ImportModuleError", f"Unable to import module '{_module_name}': {exc}")
except SyntaxError as exc:
    _init_error = _error(exc, "Runtime.UserCodeSyntaxError", f"Syntax error in module '{_module_name}': {exc}")
except AttributeError as exc:
    _init_error = _error(
        exc, "Runtime.HandlerNotFound", f"Handler '{_function_name}' missing on module '{_module_name}'")
except Exception as exc:
    _init_error = _error(exc)
if _init_error is not None:
    _log_error(_init_error)
_send({"init": {"ms": round((time.monotonic() - _started) * 1000, 1), "error": _init_error, "path": sys.path,
                "modules": _imported()}})

for _line in _events:
    _request = json.loads(_line)
    _rid = _request["requestId"]
    _RequestIdFilter.request_id = _rid
    os.environ["_X_AMZN_TRACE_ID"] = _request["traceId"]
    sys.stderr.write(f"START RequestId: {_rid} Version: {os.environ.get('AWS_LAMBDA_FUNCTION_VERSION')}\n")
    _begun = time.monotonic()
    if _init_error is not None:
        _answer = {"error": {**_init_error, "requestId": _rid}}
    else:
        _context = LambdaContext(_rid, _request["deadlineMs"], _request["invokedFunctionArn"])
        try:
            _result = _handler_fn(_request["event"], _context)
        except Exception as exc:
            _answer = {"error": _error(exc)}
        else:
            try:
                _answer = {"result": json.loads(json.dumps(_result))}
            except (TypeError, ValueError) as exc:
                _answer = {"error": _error(exc, "Runtime.MarshalError", f"Unable to marshal response: {exc}")}
        if "error" in _answer:
            _answer["error"]["requestId"] = _rid
            _log_error(_answer["error"])
        _result = None
    _ms = (time.monotonic() - _begun) * 1000
    sys.stderr.write(f"END RequestId: {_rid}\n")
    sys.stderr.write(f"REPORT RequestId: {_rid}\tDuration: {_ms:.2f} ms\n")
    sys.stderr.flush()
    sys.stdout.flush()
    _send({"requestId": _rid, "ms": round(_ms, 1), "modules": _imported(), **_answer})
'''


@dataclass
class Invocation:
    """One event delivered to a function: what came back and what it logged."""

    function: str
    kind: str
    request_id: str
    ms: float
    result: object = None
    error: dict | None = None
    logs: list[str] = field(default_factory=list)
    cold: bool = False
    # Each AWS request it made, init included: ("Service.Operation", the table or secret it names, or "").
    aws_calls: list[tuple[str, str]] = field(default_factory=list)
    aws_ms: float = 0.0  # of ``ms`` and its init, how long the local AWS took to answer those requests
    modules: list[str] = field(default_factory=list)  # the modules it imported (its init's too when cold)

    @property
    def failed(self) -> bool:
        return self.error is not None


class FunctionProcess:
    """A warm Lambda container of one function: started on the first event, reused for the next ones."""

    def __init__(
        self,
        logical: str,
        *,
        handler: str,
        env: Mapping[str, str],
        task_root: Path,
        runtime_dir: Path,
        bootstrap: Path,
        timeout_s: int,
        invoked_arn: str,
        log_path: Path,
    ) -> None:
        self.logical = logical
        self.handler = handler
        self.env = dict(env)
        self.task_root = task_root
        self.runtime_dir = runtime_dir
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.invoked_arn = invoked_arn
        self.log_path = log_path
        self.init_ms: float | None = None
        self.init_error: dict | None = None
        self.sys_path: list[str] = []
        self.init_modules: list[str] = []
        self.starts = 0
        self._proc: subprocess.Popen | None = None
        self._results: queue.Queue = queue.Queue()
        self._logs: list[str] = []
        self._log_cond = threading.Condition()
        self._log_file = None

    @property
    def command(self) -> list[str]:
        """The interpreter command line (``-I -S``: isolated, no site-packages; ``-u``: unbuffered output)."""
        return [sys.executable, "-I", "-S", "-u", str(self.bootstrap), str(self.task_root), str(self.runtime_dir)]

    def _start(self) -> None:
        self.starts += 1
        if self._log_file is None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("w", encoding="utf-8")
        self._proc = subprocess.Popen(
            self.command,
            cwd=self.task_root,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self._results = queue.Queue()
        threading.Thread(target=self._read_results, args=(self._proc, self._results), daemon=True).start()
        threading.Thread(target=self._read_logs, args=(self._proc,), daemon=True).start()
        init = self._next(self.timeout_s + 10)  # Lambda's init phase has its own 10 s on top of the timeout
        if init is None or "init" not in init:
            raise _ProcessDied(self._exit_text())
        self.init_ms = init["init"]["ms"]
        self.init_error = init["init"]["error"]
        self.sys_path = init["init"]["path"]
        self.init_modules = init["init"].get("modules", [])

    def _read_results(self, proc: subprocess.Popen, sink: queue.Queue) -> None:
        for line in proc.stdout:
            try:
                sink.put(json.loads(line))
            except ValueError:
                sink.put({"garbled": line})
        sink.put(None)

    def _read_logs(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            with self._log_cond:
                self._logs.append(line.rstrip("\n"))
                self._log_file.write(line)
                self._log_file.flush()
                self._log_cond.notify_all()

    def _next(self, timeout: float):
        try:
            return self._results.get(timeout=timeout)
        except queue.Empty:
            return "timeout"

    def _exit_text(self) -> str:
        code = self._proc.poll() if self._proc else None
        with self._log_cond:
            tail = "\n".join(self._logs[-20:])
        return f"the process exited ({code}) {tail}"

    def invoke(self, event: dict, kind: str) -> Invocation:
        """Deliver ``event`` as Lambda would (cold start when no warm process); the result or Lambda's error."""
        cold = self._proc is None or self._proc.poll() is not None
        request_id = str(uuid.uuid4())
        if cold:
            try:
                self._start()
            except _ProcessDied as died:
                self._proc = None
                error = {"errorType": "Runtime.ExitError", "errorMessage": str(died), "stackTrace": []}
                return Invocation(self.logical, kind, request_id, 0.0, error=error, cold=True)
        with self._log_cond:
            first_log = len(self._logs)
        deadline_ms = int(time.time() * 1000) + self.timeout_s * 1000
        request = {
            "requestId": request_id,
            "traceId": _trace_id(),
            "deadlineMs": deadline_ms,
            "invokedFunctionArn": self.invoked_arn,
            "event": event,
        }
        began = time.monotonic()
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            text = self._exit_text()
            self.stop()
            error = {"errorType": "Runtime.ExitError", "errorMessage": text, "requestId": request_id}
            return Invocation(self.logical, kind, request_id, 0.0, error=error, cold=cold)
        answer = self._next(self.timeout_s + 2)
        ms = (time.monotonic() - began) * 1000
        if answer == "timeout":
            self.stop()
            error = {
                "errorType": TIMED_OUT,
                "errorMessage": f"Task timed out after {self.timeout_s:.2f} seconds",
                "requestId": request_id,
            }
            return Invocation(self.logical, kind, request_id, ms, error=error, logs=self._logs_since(first_log))
        if not isinstance(answer, dict) or answer.get("requestId") != request_id:
            text = self._exit_text()
            self.stop()
            error = {"errorType": "Runtime.ExitError", "errorMessage": text, "requestId": request_id}
            return Invocation(self.logical, kind, request_id, ms, error=error, cold=cold)
        self._wait_for_log(f"END RequestId: {request_id}")
        return Invocation(
            self.logical,
            kind,
            request_id,
            answer.get("ms", ms),
            result=answer.get("result"),
            error=answer.get("error"),
            logs=self._logs_since(first_log),
            cold=cold,
            modules=(self.init_modules if cold else []) + answer.get("modules", []),
        )

    def _wait_for_log(self, line: str, timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        with self._log_cond:
            while line not in self._logs[-50:]:
                left = end - time.monotonic()
                if left <= 0:
                    return
                self._log_cond.wait(left)

    def _logs_since(self, index: int) -> list[str]:
        with self._log_cond:
            return list(self._logs[index:])

    @property
    def all_logs(self) -> list[str]:
        with self._log_cond:
            return list(self._logs)

    def stop(self) -> None:
        """End the container (its process only)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def close(self) -> None:
        self.stop()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


class _ProcessDied(RuntimeError):
    pass


def _trace_id() -> str:
    epoch = f"{int(time.time()):08x}"
    return f"Root=1-{epoch}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0;Lineage=1:rehearsal:0"


def lambda_environment(
    function_env: Mapping[str, str],
    *,
    logical: str,
    function_name: str,
    handler: str,
    memory_mb: int,
    region: str,
    task_root: Path,
    aws_endpoint: str,
) -> dict[str, str]:
    """The function's template environment plus what Lambda itself sets, and the standard endpoint variable."""
    stamp = datetime.now(UTC).strftime("%Y/%m/%d")
    lambda_env = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{stamp}/[$LATEST]{secrets.token_hex(16)}",
        "AWS_EXECUTION_ENV": EXECUTION_ENV,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(task_root),
        "_HANDLER": handler,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin/:/bin",
        # The execution role's temporary credentials (fake: the local AWS accepts any).
        "AWS_ACCESS_KEY_ID": "ASIAREHEARSAL" + secrets.token_hex(4).upper(),
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
        "AWS_SESSION_TOKEN": base64.b64encode(secrets.token_bytes(48)).decode(),
        # The standard variable that points every AWS SDK client at the local AWS.
        "AWS_ENDPOINT_URL": aws_endpoint,
    }
    return {**{k: str(v) for k, v in function_env.items()}, **lambda_env}


# -- events, as AWS documents them ------------------------------------------------------------------------------
def api_gateway_event(
    method: str,
    resource: str,
    path: str,
    *,
    path_parameters: dict[str, str] | None,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: str | None = None,
    stage: str,
    region: str,
    account: str,
) -> dict:
    """An API Gateway REST API (v1) Lambda proxy integration event."""
    api_id = "rehearsal1"
    host = f"{api_id}.execute-api.{region}.amazonaws.com"
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    base_headers = {
        "Host": host,
        "User-Agent": "haoping-rehearsal",
        "X-Amzn-Trace-Id": f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}",
        "X-Forwarded-For": "127.0.0.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    pairs = parse_qsl(query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in pairs:
        multi_query.setdefault(key, []).append(value)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": base_headers,
        "multiValueHeaders": {k: [v] for k, v in base_headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": account,
            "apiId": api_id,
            "domainName": host,
            "domainPrefix": api_id,
            "extendedRequestId": secrets.token_urlsafe(12),
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": "127.0.0.1",
                "user": None,
                "userAgent": base_headers["User-Agent"],
                "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "resourceId": secrets.token_hex(3),
            "resourcePath": resource,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def match_route(paths: Mapping[str, dict], method: str, url_path: str) -> tuple[str, dict[str, str]] | None:
    """The API's resource for a request path (as API Gateway matches it), with the path parameters."""
    parts = [p for p in urlsplit(url_path).path.split("/") if p]
    best = None
    for resource, methods in paths.items():
        if method.lower() not in methods and "x-amazon-apigateway-any-method" not in methods:
            continue
        template = [p for p in resource.split("/") if p]
        if len(template) != len(parts):
            continue
        params = {}
        for want, got in zip(template, parts, strict=True):
            if want.startswith("{") and want.endswith("}"):
                params[want[1:-1]] = got
            elif want != got:
                break
        else:
            literal = sum(1 for p in template if not p.startswith("{"))
            if best is None or literal > best[0]:
                best = (literal, resource, params)
    return (best[1], best[2]) if best else None
