"""The shipped bundle rehearsed the way Lambda runs it (``make rehearse``): the packaged template's resources on moto's
server, every function in its own fresh interpreter with only its template environment, AWS-documented events, and
one trade from the billing push to the posted review. Then the harness itself: the Lambda bootstrap, the recorder
in front of moto and the template resolver, each checked against a case it must catch."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from deploy.cloudformation import NO_VALUE, Physical, Resolver
from deploy.rehearse import rehearse
from deploy.rehearse_lambda import BOOTSTRAP, FunctionProcess, lambda_environment, match_route
from sandbox.lambda_driver import sqs_event

pytestmark = pytest.mark.e2e


def test_the_packaged_bundle_runs_like_lambda_and_posts_the_review_once(tmp_path):
    report = rehearse(stage="prod", work=tmp_path / "rehearse")
    assert report.problems == [], report.text
    assert report.posted_reviews == 1, report.text
    assert all(info["events"] and not info["errors"] for info in report.functions.values()), report.text
    assert {"app.app", "app.sweep_due", "app.review_worker"} <= {f["handler"] for f in report.functions.values()}
    for logical, info in report.functions.items():
        events = [inv for inv in report.invocations if inv.function == logical]
        calls = [call for inv in events for call in inv.aws_calls]
        assert events[0].aws_calls, f"{logical}: no AWS request attributed to its first event"
        assert "DynamoDB.DescribeTable" not in {operation for operation, _ in calls}, logical
        if info["starts"] == 1:  # one container: each secret fetched once (they stay fresh for minutes)
            fetched = Counter(subject for operation, subject in calls if operation == "secretsmanager.GetSecretValue")
            assert set(fetched.values()) <= {1}, f"{logical}: {fetched}"
        # The rehearsal's trace headers say Sampled=0: X-Ray records nothing, so nothing of its SDK is loaded.
        assert not [m for inv in events for m in inv.modules if m.startswith("aws_xray_sdk")], logical


# -- the harness catches what it must ------------------------------------------------------------------------------
FAKE_APP = """
import json, os, sys


def inspect(event, context):
    try:
        import pytest  # noqa: F401  (only the dev environment has it)
        sees_dev_packages = True
    except ImportError:
        sees_dev_packages = False
    return {
        "event": event,
        "env": sorted(os.environ),
        "path": sys.path,
        "sees_dev_packages": sees_dev_packages,
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
        },
    }


def boom(event, context):
    print("about to fail")
    raise ValueError("the handler failed")
"""


def _process(tmp_path: Path, handler: str, source: str = FAKE_APP, *, timeout_s: int = 30) -> FunctionProcess:
    bundle, runtime = tmp_path / "bundle", tmp_path / "runtime"
    bundle.mkdir(exist_ok=True)
    runtime.mkdir(exist_ok=True)
    (bundle / "app.py").write_text(textwrap.dedent(source), encoding="utf-8")
    bootstrap = tmp_path / "bootstrap.py"
    bootstrap.write_text(BOOTSTRAP, encoding="utf-8")
    env = lambda_environment(
        {"HAOPING_STAGE": "prod"},
        logical="Fake",
        function_name="haoping-prod-Fake",
        handler=handler,
        memory_mb=512,
        region="ap-southeast-1",
        task_root=bundle,
        aws_endpoint="http://127.0.0.1:9",
    )
    return FunctionProcess(
        "Fake",
        handler=handler,
        env=env,
        task_root=bundle,
        runtime_dir=runtime,
        bootstrap=bootstrap,
        timeout_s=timeout_s,
        invoked_arn="arn:aws:lambda:ap-southeast-1:123456789012:function:haoping-prod-Fake",
        log_path=tmp_path / "logs" / "Fake.log",
    )


def test_the_bootstrap_gives_a_lambda_context_and_only_the_template_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HAOPING_LEAK", "from the developer's shell")
    monkeypatch.setenv("PYTHONPATH", str(Path.cwd()))
    process = _process(tmp_path, "app.inspect")
    try:
        first = process.invoke({"n": 1}, "test")
        second = process.invoke({"n": 2}, "test")
    finally:
        process.close()
    assert first.error is None and first.cold and not second.cold and process.starts == 1
    result = first.result
    assert result["event"] == {"n": 1} and second.result["event"] == {"n": 2}
    assert result["sees_dev_packages"] is False
    assert not any("site-packages" in p for p in result["path"]), result["path"]
    assert result["path"][0] == str(tmp_path / "bundle") and result["path"][-1] == str(tmp_path / "runtime")
    assert "HAOPING_LEAK" not in result["env"] and "PYTHONPATH" not in result["env"]
    assert {"HAOPING_STAGE", "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "LAMBDA_TASK_ROOT"} <= set(
        result["env"]
    )
    context = result["context"]
    assert context["function_name"] == "haoping-prod-Fake" and context["function_version"] == "$LATEST"
    assert context["memory_limit_in_mb"] == "512"  # a string, as Lambda's Python runtime gives it
    assert context["aws_request_id"] == first.request_id
    assert 25_000 < context["remaining"] <= 30_000
    assert any(line.startswith(f"END RequestId: {first.request_id}") for line in first.logs)


def test_an_unhandled_error_comes_back_in_lambdas_error_shape(tmp_path):
    process = _process(tmp_path, "app.boom")
    try:
        inv = process.invoke({}, "test")
    finally:
        process.close()
    assert inv.error["errorType"] == "ValueError" and inv.error["errorMessage"] == "the handler failed"
    assert inv.error["requestId"] == inv.request_id and any("app.py" in frame for frame in inv.error["stackTrace"])
    assert "about to fail" in inv.logs  # the function's stdout is its log stream, not the result channel


def test_a_module_the_zip_lacks_is_an_import_module_error(tmp_path):
    process = _process(tmp_path, "app.handler", "import boto3\n\ndef handler(event, context):\n    return 1\n")
    try:
        inv = process.invoke({}, "test")
    finally:
        process.close()
    assert inv.error["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'boto3'" in inv.error["errorMessage"]  # the empty runtime dir provides nothing


def test_a_dynamodb_request_without_a_table_name_is_caught(tmp_path):
    import boto3
    from botocore.config import Config

    from deploy.rehearse_aws import LocalAws

    aws = LocalAws().start()
    try:
        client = boto3.client(
            "dynamodb",
            region_name="ap-southeast-1",
            endpoint_url=aws.url,
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(parameter_validation=False, retries={"max_attempts": 1}),
        )
        with pytest.raises(client.exceptions.ClientError):
            client.get_item(TableName="", Key={"seller_id": {"S": "1"}})
    finally:
        aws.stop()
    assert aws.recorder.missing_table_names == ["function: GetItem with an empty TableName"]
    assert [e.operation for e in aws.recorder.unexpected_errors()] == ["DynamoDB.GetItem"]


def test_the_resolver_follows_the_template_functions():
    template = {
        "Parameters": {"Stage": {"Type": "String"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
    }
    resolver = Resolver(template, {"Stage": "prod"}, region="ap-southeast-1", stack_name="haoping-prod")
    resolver.physical["Queue"] = Physical("http://q/haoping-prod-reviews", {"Arn": "arn:q", "QueueName": "reviews"})
    node = {
        "Url": {"Ref": "Queue"},
        "Name": {"Fn::Sub": "haoping-${Stage}-${Queue.QueueName}-${AWS::Region}-${!Literal}"},
        "Arn": {"Fn::GetAtt": ["Queue", "Arn"]},
        "Both": {"Fn::Join": [",", [{"Fn::GetAtt": "Queue.Arn"}, {"Ref": "AWS::AccountId"}]]},
        "Picked": {"Fn::If": ["IsProd", "yes", {"Ref": "AWS::NoValue"}]},
        "Dropped": {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, "no"]},
    }
    assert resolver.resolve(node) == {
        "Url": "http://q/haoping-prod-reviews",
        "Name": "haoping-prod-reviews-ap-southeast-1-${Literal}",
        "Arn": "arn:q",
        "Both": "arn:q,123456789012",
        "Picked": "yes",
    }
    assert resolver.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE
    assert resolver.references(node) == {"Queue"}


def test_api_routes_and_sqs_records_have_the_documented_shapes():
    paths = {"/api/tasks/{tid}/retry": {"post": {}}, "/api/tasks": {"get": {}}, "/": {"get": {}}}
    assert match_route(paths, "POST", "/api/tasks/42/retry") == ("/api/tasks/{tid}/retry", {"tid": "42"})
    assert match_route(paths, "GET", "/") == ("/", {})
    assert match_route(paths, "GET", "/api/tasks/42/retry") is None
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Body": json.dumps({"tid": "1"}),
        "MD5OfBody": "abc",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "A", "Other": "x"},
    }
    (record,) = sqs_event([message], queue_arn="arn:aws:sqs:ap-southeast-1:123456789012:q", region="ap-southeast-1")[
        "Records"
    ]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"].endswith(":q")
    assert record["attributes"] == {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "A"}
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
