"""`make rehearse`: run the shipped bundle the way Lambda runs it, and drive one trade through it.

python -m deploy.rehearse [--stage prod] [--keep] [--work build/rehearse]

1. Build the bundle with the project's packager and unpack ``deployment.zip``. This host cannot run the target
   architecture's wheels, so the rehearsal packages offline with this host's wheels: the same packaging path, the
   same files, native code built for here.
2. Start moto's server and create on it what the packaged template (``sam.json``) declares — tables with their
   keys, indexes, TTL and billing mode, queues with their redrive and visibility, the key and its alias, the topic,
   the secrets — resolving the template's intrinsic functions to what was created. Roles, alarms, the API and the
   event sources are not needed at run time and are listed as skipped.
3. Run every function of the template in its own fresh interpreter that sees only the bundle, the standard library
   and the runtime's AWS SDK, with only the environment the template gives it plus what Lambda sets (and the
   standard ``AWS_ENDPOINT_URL``). The marketplace URLs (literal values in the template) point at the sandbox
   marketplace instead of the real platform; that is the only change to a template value.
4. Invoke them with the events AWS documents (API Gateway REST proxy, EventBridge schedule, SQS from messages
   received on the local queues) and a Lambda context with a deadline; drive one trade from the billing push,
   the OAuth onboarding and the signed trade push to the posted review; run every other function once.

Any import the zip cannot satisfy, any unhandled error, any error logged, any DynamoDB request without a table
name, any unexpected AWS error, any non-2xx answer that should be 2xx and any review not posted exactly once is a
problem; the report lists them and the exit status is 1 when there is one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import re
import secrets
import shutil
import sys
import time
import traceback
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from chalicelib.config import DEFAULT_REGION as REGION
from deploy.cloudformation import ACCOUNT, Resolver, TemplateError, provision
from deploy.iam_grants import ungranted
from deploy.rehearse_aws import HARNESS_AGENT, LocalAws
from deploy.rehearse_lambda import (
    BOOTSTRAP,
    EXECUTION_ENV,
    FunctionProcess,
    Invocation,
    api_gateway_event,
    build_runtime,
    lambda_environment,
    match_route,
)
from sandbox.lambda_driver import scheduled_event, sqs_event

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORK = ROOT / "build" / "rehearse"
APP_KEY = "12345678"
PUBLIC_URL = "https://haoping.rehearsal.invalid"
RUNTIME = "python3.13"
SELLER_NICK = "rehearsal_shop"
PLAN = "FW_GOODS-1000000-2"
TID = "4100000000001"
SWEEP_HANDLER = "app.sweep_due"
# The template's literal marketplace URLs are the real platform: the rehearsal points them at the sandbox.
MARKETPLACE_URL_VARIABLES = ("HAOPING_MARKETPLACE_URL", "HAOPING_OAUTH_URL")
_WARNING_LINE = re.compile(r"^\S.*:\d+: (\w*Warning): (.*)$")
# Warnings that say nothing is wrong (powertools' notice that an invocation added no metric): listed, not failed.
BENIGN_WARNINGS = ("No application metrics to publish",)


def _packager():
    """The project's packager (``deploy.package`` once it moved there, ``bench.package`` before)."""
    try:
        from deploy.package import build
    except ImportError:
        from bench.package import build
    return build


class StepFailed(RuntimeError):
    """A step of the trade's journey could not go on; the problem is already recorded."""


@dataclass
class Report:
    """What the rehearsal ran and found."""

    stage: str
    work_dir: Path
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    functions: dict[str, dict] = field(default_factory=dict)
    posted_reviews: int | None = None
    expectation: str = ""
    wall_seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    @property
    def text(self) -> str:
        out = [f"Rehearsal of the packaged bundle (stage {self.stage})", *self.lines, "", "functions:"]
        for logical, info in self.functions.items():
            init = f"{info['init_ms']:.0f} ms" if info.get("init_ms") is not None else "—"
            out.append(
                f"  {logical:<16} {info['handler']:<22} init {init:>8}  cold starts {info['starts']}  "
                f"events {info['events']}  errors {info['errors']}"
            )
        out += ["", "events:"]
        for inv in self.invocations:
            outcome = _outcome(inv)
            out.append(
                f"  {inv.function:<16} {inv.kind:<44} {outcome:<28} {inv.ms:>7.0f} ms{' (cold)' if inv.cold else ''}"
            )
        out.append("")
        out.append(f"trade {TID}: reviews posted on the marketplace: {self.posted_reviews}{self.expectation}")
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in self.phases.items())
        out.append(f"wall time {self.wall_seconds:.1f} s ({phases})")
        out.append(f"logs: {self.work_dir / 'logs'}")
        if self.problems:
            out.append(f"problems ({len(self.problems)}):")
            out += [f"  - {p}" for p in self.problems]
        out.append(
            "RESULT: "
            + ("OK — every function ran clean and the trade reached its expected outcome" if self.ok else "FAILED")
        )
        return "\n".join(out)


def _exception_line(lines: list[str], start: int) -> str:
    """The ``Type: message`` line that ends the traceback beginning at ``lines[start]``."""
    for line in lines[start + 1 :]:
        if line and not line[0].isspace():
            return line.strip()[:300]
    return "(no exception line)"


def _outcome(inv: Invocation) -> str:
    if inv.error:
        return f"ERROR {inv.error.get('errorType')}"
    result = inv.result
    if isinstance(result, dict) and "statusCode" in result:
        return f"HTTP {result['statusCode']}"
    if isinstance(result, dict) and "batchItemFailures" in result:
        return f"batchItemFailures {len(result['batchItemFailures'])}"
    text = json.dumps(result, ensure_ascii=False)
    return text if len(text) <= 28 else text[:25] + "..."


@dataclass
class Function:
    """One function of the template and how it is triggered."""

    logical: str
    handler: str
    process: FunctionProcess
    schedules: list[tuple[str, str]]  # (schedule expression, rule ARN)
    queues: list[tuple[str, int, bool]]  # (queue logical id, batch size, partial batch responses)


@dataclass
class ApiAnswer:
    status: int
    headers: dict[str, list[str]]
    body: str

    def header(self, name: str) -> str | None:
        for key, values in self.headers.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None

    def json(self) -> dict:
        return json.loads(self.body or "{}")


class Rehearsal:
    """One rehearsal run: build, provision, start the functions, drive the trade, report."""

    def __init__(self, *, stage: str = "prod", work: Path = DEFAULT_WORK, keep: bool = False) -> None:
        self.stage = stage
        self.work = work
        self.keep = keep
        self.report = Report(stage=stage, work_dir=work)
        self.aws = LocalAws()
        self.market = None
        self.functions: dict[str, Function] = {}
        self.resolver: Resolver | None = None
        self.api_function: str | None = None
        self.api_paths: dict = {}
        self.api_stage = "api"
        self.app_secret = secrets.token_hex(16)
        self._clients: dict[str, object] = {}
        self.notes: set[str] = set()
        self.twice: dict[str, str] = {}  # function -> a log line that repeats a JSON record as plain text
        self.dry_run = False  # the stage posts nothing (HAOPING_DRY_RUN in the template)

    @property
    def expected_posts(self) -> int:
        return 0 if self.dry_run else 1

    # -- the run -----------------------------------------------------------------------------------------------
    def run(self) -> Report:
        began = time.monotonic()
        try:
            self._phase("build", self._build)
            self._phase("provision", self._provision)
            # A trade that cannot go on still leaves every other function to run: the report shows all it finds.
            for name, step in (("trade", self._drive), ("other functions", self._run_the_rest)):
                with contextlib.suppress(StepFailed):
                    self._phase(name, step)
            self._final_checks()
        except StepFailed:
            pass  # the problem that stopped it is in the report
        except TemplateError as exc:
            self.report.problem(f"the template cannot be rehearsed: {exc}")
        except Exception as exc:  # a fault of the harness itself is reported, never hidden
            self.report.problem(f"rehearsal harness error: {type(exc).__name__}: {exc}")
            self.report.lines.append(traceback.format_exc())
        finally:
            self._stop()
            self.report.wall_seconds = time.monotonic() - began
        self._write_report()
        return self.report

    def _phase(self, name: str, step) -> None:
        began = time.monotonic()
        try:
            step()
        finally:
            self.report.phases[name] = time.monotonic() - began

    # -- 1. the bundle and the runtime -------------------------------------------------------------------------
    def _build(self) -> None:
        build = _packager()
        self.work.mkdir(parents=True, exist_ok=True)
        for stale in ("package", "bundle", "logs", "env"):
            shutil.rmtree(self.work / stale, ignore_errors=True)
        try:
            bundle = build(self.work / "package", stage=self.stage, offline=True)
        except Exception as exc:  # the packager's own failure (chalice package, a missing dependency)
            self.report.problem(f"the bundle could not be built: {type(exc).__name__}: {str(exc)[:600]}")
            raise StepFailed("build") from None
        self.template = json.loads((self.work / "package" / "sam.json").read_text(encoding="utf-8"))
        self.bundle_dir = self.work / "bundle"
        with zipfile.ZipFile(self.work / "package" / "deployment.zip") as archive:
            archive.extractall(self.bundle_dir)
        self.runtime_dir = self.work / "runtime"
        versions = build_runtime(self.runtime_dir)
        self.bootstrap = self.work / "bootstrap.py"
        self.bootstrap.write_text(BOOTSTRAP, encoding="utf-8")
        summary = bundle.summary()
        self.report.lines += [
            f"  bundle: {summary['zip_mb']} MB zipped, {summary['unzipped_mb']} MB unzipped, {summary['files']} files "
            f"({self.work / 'package' / 'deployment.zip'})",
            "    packaged offline with this host's wheels: the deployed zip holds wheels for the target architecture,",
            "    which cannot run here — same packaging path and files, native code built for this machine",
            "  runtime (what Lambda's python3.13 provides): "
            + ", ".join(f"{name} {version}" for name, version in versions.items()),
        ]
        shadowed = sorted(
            {p.name for p in self.runtime_dir.iterdir() if not p.name.startswith(".")}
            & {p.name for p in self.bundle_dir.iterdir()}
        )
        shadowed = [name for name in shadowed if not name.endswith(".dist-info")]
        if shadowed:
            self.report.lines.append(
                f"  note: the bundle ships its own {', '.join(shadowed)}, which shadow the runtime's copies"
            )

    # -- 2. the local AWS from the template ---------------------------------------------------------------------
    def _client(self, service: str):
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session(
                aws_access_key_id="rehearsal", aws_secret_access_key="rehearsal", region_name=REGION
            )
            self._clients[service] = session.client(
                service,
                endpoint_url=self.aws.url,
                config=Config(user_agent_extra=HARNESS_AGENT, retries={"max_attempts": 1}),
            )
        return self._clients[service]

    def _provision(self) -> None:
        from sandbox.market import SandboxMarketplace

        self.aws.start()
        self.market = SandboxMarketplace(
            APP_KEY, self.app_secret, lambda: datetime.now(UTC), session_ttl_seconds=40 * 86400
        )
        self.market.start()
        template = self.template
        parameters, generated = self._parameters(template)
        stack = f"haoping-{self.stage}"
        self.resolver = Resolver(template, parameters, region=REGION, stack_name=stack)
        app_secrets = _app_secret_resources(template)
        provisioned = provision(
            template,
            self.resolver,
            self._client,
            secret_value=lambda logical, props: self.app_secret if logical in app_secrets else None,
        )
        kinds = Counter(provisioned.created.values())
        skipped = Counter(provisioned.skipped.values())
        self.report.lines += [
            f"  local AWS: moto server {self.aws.url}; created from sam.json: "
            + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())),
            "  skipped (not used at run time): " + ", ".join(f"{n} {k}" for k, n in sorted(skipped.items())),
        ]
        if provisioned.conditional_off:
            self.report.lines.append(f"  not created (condition false): {', '.join(provisioned.conditional_off)}")
        if generated:
            self.report.lines.append(f"  parameters with no default, given a generated value: {', '.join(generated)}")
        self._secret_values = {v for v in provisioned.secret_values.values()} | {
            parameters[name]
            for name, spec in template.get("Parameters", {}).items()
            if str(spec.get("NoEcho", "")).lower() == "true" and parameters.get(name)
        }
        self._find_api(template)
        self._make_functions(template)

    def _parameters(self, template: dict) -> tuple[dict[str, str], list[str]]:
        known = {
            "Stage": self.stage,
            "AppKey": APP_KEY,
            "AppSecret": self.app_secret,
            "BuyerHashSecret": secrets.token_hex(32),
            "SessionSecret": secrets.token_hex(32),
            "PublicUrl": PUBLIC_URL,
            "AlertEmail": "",
        }
        values, generated = {}, []
        for name, spec in template.get("Parameters", {}).items():
            if name in known:
                values[name] = known[name]
            elif "Default" in spec:
                values[name] = str(spec["Default"])
            else:
                values[name] = secrets.token_hex(16)
                generated.append(name)
        return values, generated

    def _find_api(self, template: dict) -> None:
        for resource in template.get("Resources", {}).values():
            if resource.get("Type") not in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
                continue
            props = resource.get("Properties", {})
            body = props.get("DefinitionBody") or props.get("Body") or {}
            self.api_paths = body.get("paths", {})
            self.api_stage = props.get("StageName", "api")
            uris = re.findall(r"\$\{(\w+)\.Arn\}", json.dumps(body))
            self.api_function = uris[0] if uris else None

    def _make_functions(self, template: dict) -> None:
        resolver = self.resolver
        globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        overrides = {
            "HAOPING_MARKETPLACE_URL": self.market.base_url,
            "HAOPING_OAUTH_URL": self.market.oauth_base_url,
            "HAOPING_PUBLIC_URL": PUBLIC_URL,
            "HAOPING_APP_KEY": APP_KEY,
        }
        changed: dict[str, str] = {}
        secret_vars: set[str] = set()
        architectures: set[str] = set()
        for logical, resource in template.get("Resources", {}).items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            props = resource.get("Properties", {})
            runtime = props.get("Runtime", template.get("Globals", {}).get("Function", {}).get("Runtime"))
            architectures.add(",".join(props.get("Architectures", ["x86_64"])))
            if runtime != RUNTIME:
                self.report.problem(f"{logical}: the template's runtime is {runtime}, the rehearsal runs {RUNTIME}")
            handler = props["Handler"]
            own_env = props.get("Environment", {}).get("Variables", {})
            env = {k: str(v) for k, v in resolver.resolve({**globals_env, **own_env}).items()}
            for name, value in overrides.items():
                if name in env and env[name] != value:
                    changed[name] = env[name]
                    env[name] = value
                elif name not in env and name in MARKETPLACE_URL_VARIABLES:
                    changed[name] = "(not set)"
                    env[name] = value
            if env.get("HAOPING_DRY_RUN", "").strip().lower() in ("1", "true", "yes", "on"):
                self.dry_run = True
            secret_vars |= {name for name, value in env.items() if value in self._secret_values}
            name = resolver.physical[logical].ref
            env = lambda_environment(
                env,
                logical=logical,
                function_name=name,
                handler=handler,
                memory_mb=int(props.get("MemorySize", 128)),
                region=REGION,
                task_root=self.bundle_dir,
                aws_endpoint=self.aws.url,
            )
            (self.work / "env").mkdir(parents=True, exist_ok=True)
            (self.work / "env" / f"{logical}.json").write_text(json.dumps(env, indent=2), encoding="utf-8")
            process = FunctionProcess(
                logical,
                handler=handler,
                env=env,
                task_root=self.bundle_dir,
                runtime_dir=self.runtime_dir,
                bootstrap=self.bootstrap,
                timeout_s=int(props.get("Timeout", 3)),
                invoked_arn=resolver.physical[logical].attributes["Arn"],
                log_path=self.work / "logs" / f"{logical}.log",
            )
            schedules, queues = [], []
            for event_name, event in (props.get("Events") or {}).items():
                kind, event_props = event.get("Type"), event.get("Properties", {})
                if kind == "Schedule":
                    rule = f"{resolver.stack_name}-{logical}{event_name}-REHEARSAL"[:64]
                    arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"
                    schedules.append((str(event_props.get("Schedule", event_name)), arn))
                elif kind == "SQS":
                    arn = resolver.resolve(event_props["Queue"])
                    queue = next(
                        (
                            q
                            for q, p in resolver.physical.items()
                            if p.attributes.get("Arn") == arn and "QueueUrl" in p.attributes
                        ),
                        None,
                    )
                    if queue is None:
                        self.report.problem(
                            f"{logical}: its SQS event source reads {arn}, a queue the template does not create"
                        )
                        continue
                    partial = "ReportBatchItemFailures" in event_props.get("FunctionResponseTypes", [])
                    queues.append((queue, int(event_props.get("BatchSize", 10)), partial))
                elif kind not in ("Api",):
                    self.report.lines.append(f"  note: {logical}: event source type {kind} is not rehearsed")
            self.functions[logical] = Function(logical, handler, process, schedules, queues)
            self.report.functions[logical] = {"handler": handler, "events": 0, "errors": 0, "starts": 0}
        if self.dry_run:
            self.report.expectation = " (expected 0: the template makes this stage a dry run)"
        host = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
            platform.machine().lower(), platform.machine()
        )
        self.report.lines.append(
            f"  functions: {len(self.functions)}, runtime {RUNTIME}, architecture {', '.join(sorted(architectures))} "
            f"in the template; run here on {host}"
        )
        if changed:
            self.report.lines.append(
                "  template values changed for the rehearsal (the sandbox marketplace stands in for the platform): "
                + ", ".join(f"{k} (template: {v})" for k, v in sorted(changed.items()))
            )
        for name in sorted(secret_vars):
            self.report.problem(
                f"the environment variable {name} holds a secret value (secrets belong in a secret store)"
            )
        if self.api_function not in self.functions:
            self.report.problem("no function serves the template's API")

    # -- invoking ----------------------------------------------------------------------------------------------
    def invoke(self, logical: str, event: dict, kind: str) -> Invocation:
        function = self.functions[logical]
        mark = self.aws.recorder.mark()
        inv = function.process.invoke(event, kind)
        key = function.process.env["AWS_ACCESS_KEY_ID"]
        inv.aws_calls = self.aws.recorder.since(mark, key)
        inv.aws_ms = round(self.aws.recorder.seconds_at_aws_since(mark, key) * 1000, 1)
        self.report.invocations.append(inv)
        info = self.report.functions[logical]
        info["events"] += 1
        info["starts"] = function.process.starts
        info["init_ms"] = function.process.init_ms
        self._check_path(function)
        if inv.error:
            info["errors"] += 1
            error = inv.error
            where = ""
            for frame in reversed(error.get("stackTrace") or []):
                where = " at " + frame.strip().splitlines()[0]
                break
            self.report.problem(
                f"{logical} ({kind}): {error.get('errorType')}: {str(error.get('errorMessage'))[:400]}{where}"
            )
        self._scan_logs(logical, kind, inv)
        return inv

    def _check_path(self, function: Function) -> None:
        allowed = (str(self.bundle_dir), str(self.runtime_dir))
        for entry in function.process.sys_path:
            if entry in allowed:
                continue
            if "site-packages" in entry or "dist-packages" in entry or not entry.startswith(sys.base_prefix):
                self.report.problem(f"{function.logical}: the interpreter sees {entry}, which Lambda would not have")

    def _scan_logs(self, logical: str, kind: str, inv: Invocation) -> None:
        """Errors, tracebacks and warnings in what the invocation logged; records logged twice."""
        messages = set()
        for line in inv.logs:
            text = line.strip()
            if not text.startswith("{"):
                continue
            try:
                record = json.loads(text)
            except ValueError:
                continue
            if not isinstance(record, dict) or "level" not in record:
                continue
            messages.add(str(record.get("message")))
            if str(record["level"]).upper() in ("ERROR", "CRITICAL"):
                exception = str(record.get("exception") or "").strip().splitlines()
                cause = f" ({exception[-1][:200]})" if exception else ""
                self.report.problem(f"{logical} ({kind}) logged an error: {str(record.get('message'))[:300]}{cause}")
        last_traceback = None
        for index, line in enumerate(inv.logs):
            text = line.strip()
            if text.startswith("{"):
                continue
            warning = _WARNING_LINE.match(text)
            if warning:
                finding = f"{logical} ({kind}) warned: {warning.group(1)}: {warning.group(2)[:300]}"
                if any(benign in text for benign in BENIGN_WARNINGS):
                    self.notes.add(f"{warning.group(1)}: {warning.group(2)[:120]}")
                else:
                    self.report.problem(finding)
            elif text.startswith("Traceback (most recent call last)") and not inv.error:
                last_traceback = _exception_line(inv.logs, index)  # of chained ones, the last says the most
            elif text.startswith("[ERROR]") and not inv.error:
                self.report.problem(f"{logical} ({kind}) logged: {text[:300]}")
            else:
                twice = next((m for m in messages if m and text.endswith(f" - {m}")), None)
                if twice is not None:
                    self.twice.setdefault(logical, text)
        if last_traceback:
            self.report.problem(f"{logical} ({kind}) logged a traceback: {last_traceback}")

    def api(
        self, method: str, url: str, *, expect: int, headers: dict | None = None, body: str | None = None
    ) -> ApiAnswer:
        """A request to the API as API Gateway delivers it to the function; a wrong status is a problem."""
        split = urlsplit(url)
        route = match_route(self.api_paths, method, split.path)
        kind = f"{method} {split.path}"
        if route is None:
            self.report.problem(
                f"API Gateway has no route for {kind} (it would answer 403 Missing Authentication Token)"
            )
            raise StepFailed(kind)
        resource, params = route
        event = api_gateway_event(
            method,
            resource,
            split.path,
            path_parameters=params,
            query=split.query,
            headers=headers,
            body=body,
            stage=self.api_stage,
            region=REGION,
            account=ACCOUNT,
        )
        inv = self.invoke(self.api_function, event, kind)
        if inv.error:
            raise StepFailed(kind)
        result = inv.result
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
            self.report.problem(f"{kind}: not an API Gateway proxy response: {str(result)[:200]}")
            raise StepFailed(kind)
        merged: dict[str, list[str]] = {k: [str(v)] for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            merged[key] = [str(v) for v in values]
        answer = ApiAnswer(result["statusCode"], merged, result.get("body") or "")
        if answer.status != expect:
            self.report.problem(f"{kind} answered HTTP {answer.status}, expected {expect}: {answer.body[:300]}")
            raise StepFailed(kind)
        return answer

    def schedule(self, logical: str) -> Invocation:
        function = self.functions[logical]
        expression, rule_arn = function.schedules[0]
        return self.invoke(
            logical, scheduled_event(rule_arn=rule_arn, region=REGION, account=ACCOUNT), f"schedule {expression}"
        )

    def deliver(self, logical: str) -> int:
        """What Lambda's SQS event source does: receive batches from the function's queues and invoke it."""
        function = self.functions[logical]
        sqs = self._client("sqs")
        delivered = 0
        for queue, batch_size, partial in function.queues:
            physical = self.resolver.physical[queue]
            for _ in range(50):
                got = sqs.receive_message(
                    QueueUrl=physical.ref,
                    MaxNumberOfMessages=min(batch_size, 10),
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                    WaitTimeSeconds=0,
                ).get("Messages", [])
                if not got:
                    break
                event = sqs_event(got, queue_arn=physical.attributes["Arn"], region=REGION)
                inv = self.invoke(logical, event, f"SQS {physical.attributes['QueueName']} ({len(got)} messages)")
                delivered += len(got)
                if inv.error:
                    break  # the whole batch comes back after the visibility timeout, as in Lambda
                failed = set()
                if isinstance(inv.result, dict) and inv.result.get("batchItemFailures"):
                    failed = {str(f.get("itemIdentifier")) for f in inv.result["batchItemFailures"]}
                    self.report.problem(f"{logical} reported {len(failed)} failed record(s) of {len(got)}")
                    if not partial:
                        self.report.problem(
                            f"{logical} answers batchItemFailures but its event source lacks ReportBatchItemFailures: "
                            "the failed records would be deleted"
                        )
                        failed = set()
                done = [m for m in got if m["MessageId"] not in failed]
                if done:
                    sqs.delete_message_batch(
                        QueueUrl=physical.ref,
                        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                    )
        return delivered

    def deliver_all(self) -> None:
        for logical, function in self.functions.items():
            if function.queues:
                self.deliver(logical)

    # -- 3. one trade, end to end ------------------------------------------------------------------------------
    def _signed(self, path: str, messages: list[dict]) -> tuple[str, str]:
        from chalicelib.marketplace.messages import encode_batch
        from sandbox.market import Publisher

        body = encode_batch(messages)
        publisher = Publisher("", APP_KEY, self.app_secret, lambda: datetime.now(UTC))
        return f"{path}?{urlencode(publisher.signed_query(body))}", body.decode("utf-8")

    def _push(self, path: str, messages: list[dict]) -> None:
        url, body = self._signed(path, messages)
        answer = self.api(
            "POST", url, expect=200, headers={"Content-Type": "application/json;charset=utf-8"}, body=body
        )
        failed = [r for r in answer.json().get("results", []) if r.get("status") == "error"]
        if failed or answer.json().get("retry"):
            self.report.problem(f"POST {path}: messages not accepted: {answer.body[:300]}")

    def _drive(self) -> None:
        import urllib3

        from chalicelib.marketplace import topics
        from chalicelib.marketplace.messages import build_message

        if self.api_function not in self.functions:
            raise StepFailed("no API function")
        now = datetime.now(UTC)
        account = self.market.add_seller(SELLER_NICK)
        # The shop buys the plan on the service market; the market's OrderPaid push reaches the app first.
        order = self.market.sell_subscription(
            SELLER_NICK, PLAN, 1, now - timedelta(minutes=1), now + timedelta(days=30), 1500, create=now
        )
        paid = build_message(
            topics.ORDER_PAID,
            order,
            msg_id="rehearsal-bill-1",
            pub_time=now,
            user_id=account.user_id,
            user_nick=SELLER_NICK,
        )
        self._push("/webhooks/billing", [paid])
        # The shop authorizes the app: /oauth/start, the marketplace's authorize page, /oauth/callback.
        start = self.api("GET", "/oauth/start", expect=302)
        location, cookie = start.header("Location"), (start.header("Set-Cookie") or "").split(";", 1)[0]
        if not location or not cookie:
            self.report.problem(f"GET /oauth/start: no Location or state cookie ({start.headers})")
            raise StepFailed("oauth start")
        granted = urllib3.request("GET", f"{location}&{urlencode({'nick': SELLER_NICK})}", redirect=False)
        back = granted.headers.get("Location", "")
        if granted.status != 302 or not back.startswith(PUBLIC_URL):
            self.report.problem(
                f"the marketplace's authorize page answered {granted.status} to {back or granted.data[:200]!r}"
            )
            raise StepFailed("authorize")
        callback = back[len(PUBLIC_URL) :]
        done = self.api("GET", callback, expect=200, headers={"Cookie": cookie, "Accept": "application/json"})
        session = done.json()
        self.seller_id, token = session.get("seller_id"), session.get("session_token")
        bearer = {"Authorization": f"Bearer {token}"}
        subscription = self.api("GET", "/api/subscription", expect=200, headers=bearer).json()
        self.report.lines.append(
            f"  seller {self.seller_id} onboarded; subscription: {json.dumps(subscription, ensure_ascii=False)[:160]}"
        )
        self.api("GET", "/", expect=200, headers={"Accept": "text/html", "Cookie": f"hp_session={token}"})
        # A buyer's trade finishes; the marketplace pushes TradeSuccess.
        self.market.add_trade(
            SELLER_NICK,
            tid=int(TID),
            oid=int(TID) + 1,
            buyer_nick="tb_rehearsal_buyer",
            buyer_open_uid=f"AAH{TID}",
            payment="59.00",
            item_title="保温杯",
            created=now - timedelta(days=3),
            end_time=datetime.now(UTC),
        )
        content = {
            "tid": TID,
            "oid": str(int(TID) + 1),
            "seller_nick": SELLER_NICK,
            "buyer_nick": "tb_rehearsal_buyer",
            "buyer_open_uid": f"AAH{TID}",
            "payment": "59.00",
            "status": "TRADE_FINISHED",
            "item_title": "保温杯",
        }
        trade = build_message(
            topics.TRADE_SUCCESS,
            content,
            msg_id="rehearsal-trade-1",
            pub_time=datetime.now(UTC),
            user_id=account.user_id,
            user_nick=SELLER_NICK,
        )
        self._push("/webhooks/marketplace", [trade])
        tasks = self.api("GET", "/api/tasks", expect=200, headers=bearer).json()
        self.report.lines.append(f"  after the push, /api/tasks: {json.dumps(tasks, ensure_ascii=False)[:200]}")
        # EventBridge's minute: the sweep; then the queue's event source hands the jobs to the worker.
        sweep = self._by_handler(SWEEP_HANDLER)
        if sweep is None:
            self.report.problem(f"the template has no function with handler {SWEEP_HANDLER}")
        else:
            self.schedule(sweep)
        self.deliver_all()
        # The callback only queued the permit of the shop's messages; the reconcile queue's worker asked for it.
        if not self.market.permitted(SELLER_NICK):
            self.report.problem("the shop's messages were not permitted after the queues were delivered")
        self.report.posted_reviews = self.market.post_counts(int(TID))
        if self.report.posted_reviews != self.expected_posts:
            self.report.problem(
                f"trade {TID}: {self.report.posted_reviews} reviews posted after the sweep and worker, "
                f"expected {self.expected_posts}"
            )
        # The app's own record must agree: posted (or, on a dry-run stage, skipped as a dry run).
        listed = self.api("GET", "/api/tasks", expect=200, headers=bearer).json().get("tasks", [])
        task = next((t for t in listed if str(t.get("tid")) == TID), None)
        state = None if task is None else (task.get("state"), task.get("reason"))
        wanted = ("skipped", "dry_run") if self.dry_run else ("posted", None)
        if state is None or state[0] != wanted[0] or (self.dry_run and state[1] != wanted[1]):
            self.report.problem(f"trade {TID}: the app lists its task as {state}, expected {wanted}")

    def _by_handler(self, handler: str) -> str | None:
        return next((f.logical for f in self.functions.values() if f.handler == handler), None)

    # -- 4. every other function once ---------------------------------------------------------------------------
    def _run_the_rest(self) -> None:
        for logical, function in self.functions.items():
            if function.schedules and function.handler != SWEEP_HANDLER:
                self.schedule(logical)
        self.deliver_all()
        # Another minute: nothing may be posted twice.
        sweep = self._by_handler(SWEEP_HANDLER)
        if sweep:
            self.schedule(sweep)
        self.deliver_all()

    def _final_checks(self) -> None:
        if self.twice:
            example = next(iter(self.twice.values()))
            self.report.problem(
                f"every log record is written twice, as JSON and again as plain text ({example[:80]!r}) by "
                f"{', '.join(self.twice)}: a second handler sits on the logger (CloudWatch ingests each line twice)"
            )
        after_trade = self.report.posted_reviews
        self.report.posted_reviews = self.market.post_counts(int(TID))
        if self.report.posted_reviews != self.expected_posts and self.report.posted_reviews != after_trade:
            self.report.problem(
                f"trade {TID}: {self.report.posted_reviews} reviews posted at the end, expected {self.expected_posts}"
            )
        for logical, info in self.report.functions.items():
            if not info["events"]:
                self.report.problem(f"{logical} was never invoked (nothing triggered it during the rehearsal)")
        sqs = self._client("sqs")
        for logical, resource in self.template.get("Resources", {}).items():
            redrive = (
                resource.get("Properties", {}).get("RedrivePolicy")
                if resource.get("Type") == "AWS::SQS::Queue"
                else None
            )
            if not redrive:
                continue
            target = self.resolver.resolve(redrive)["deadLetterTargetArn"]
            dlq = next((p for p in self.resolver.physical.values() if p.attributes.get("Arn") == target), None)
            if dlq is None:
                self.report.problem(f"{logical}: its dead-letter queue {target} is not created by the template")
                continue
            count = sqs.get_queue_attributes(QueueUrl=dlq.ref, AttributeNames=["ApproximateNumberOfMessages"])
            if int(count["Attributes"]["ApproximateNumberOfMessages"]):
                self.report.problem(f"the dead-letter queue of {logical} holds messages")

    # -- the end -----------------------------------------------------------------------------------------------
    def _aws_findings(self) -> None:
        recorder = self.aws.recorder
        if recorder is None:
            return
        for text in dict.fromkeys(recorder.missing_table_names):
            origin, _, what = text.partition(": ")
            self.report.problem(f"a DynamoDB {what} (sent by the {origin})")
        for error in recorder.unexpected_errors():
            self.report.problem(
                f"the local AWS answered {error.operation} from the {error.origin} with {error.status} "
                f"{error.code}: {error.message}"
            )
        expected = Counter(
            e.code for e in recorder.errors if e.origin == "function" and e not in recorder.unexpected_errors()
        )
        if expected:
            self.report.lines.append(
                "  conditional writes refused as designed: " + ", ".join(f"{k} {n}" for k, n in expected.items())
            )
        for logical in self.functions:
            operations = [op for inv in self.report.invocations if inv.function == logical for op, _ in inv.aws_calls]
            missing = ungranted(self.template, logical, operations)
            if missing:
                self.report.problem(
                    f"{logical} made requests its role does not grant: {', '.join(missing)} (AWS answers "
                    "AccessDenied; the local AWS does not judge IAM)"
                )
        for note in sorted(self.notes):
            self.report.lines.append(f"  note (not a failure): {note}")
        by_service = Counter()
        for operation, n in recorder.requests.items():
            by_service[operation.split(".", 1)[0].split(" ", 1)[0]] += n
        if by_service:
            self.report.lines.append(
                f"  AWS requests from the functions ({EXECUTION_ENV}): "
                + ", ".join(f"{k} {n}" for k, n in by_service.most_common())
            )

    def _stop(self) -> None:
        for function in self.functions.values():
            function.process.close()
        self._aws_findings()
        if self.market is not None:
            self.market.stop()
        self.aws.stop()
        if not self.keep:
            for bulky in ("package", "bundle", "env"):
                shutil.rmtree(self.work / bulky, ignore_errors=True)

    def _write_report(self) -> None:
        if self.work.exists():
            (self.work / "report.txt").write_text(self.report.text + "\n", encoding="utf-8")


def _app_secret_resources(template: dict) -> set[str]:
    """Secrets the app's marketplace secret lives in: named so, or read through a ``*APP_SECRET*`` variable."""
    found = set()
    resources = template.get("Resources", {})
    envs = [template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})]
    envs += [
        r.get("Properties", {}).get("Environment", {}).get("Variables", {})
        for r in resources.values()
        if r.get("Type") == "AWS::Serverless::Function"
    ]
    for env in envs:
        for name, value in env.items():
            if "APP_SECRET" in name:
                found |= set(re.findall(r'"(?:Ref|Fn::GetAtt)": \[?"(\w+)', json.dumps(value)))
                found |= set(re.findall(r"\$\{(\w+)", json.dumps(value)))
    for logical, resource in resources.items():
        if resource.get("Type") == "AWS::SecretsManager::Secret" and "appsecret" in logical.lower():
            found.add(logical)
    return found


def rehearse(*, stage: str = "prod", work: Path = DEFAULT_WORK, keep: bool = False) -> Report:
    """Run the rehearsal; the report says what ran and every problem found."""
    return Rehearsal(stage=stage, work=work, keep=keep).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make rehearse", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod", choices=["dev", "prod"])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="working directory (default build/rehearse)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the package, the unpacked bundle and each function's environment (to rerun one by hand)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    report = rehearse(stage=args.stage, work=args.work, keep=args.keep)
    print(report.text)
    if args.keep:
        print(
            f"kept in {args.work}: package/, bundle/, runtime/, bootstrap.py, env/<Function>.json (each function's "
            "whole environment), logs/"
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
