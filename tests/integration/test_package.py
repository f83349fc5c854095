"""The deployable bundle: `chalice package` merged with deploy/resources.json passes cfn-lint and has what the
code needs — tables as the models define them, queues with dead-letter redrive, partial batch responses,
alarms, and an IAM policy that names every data resource instead of using "*".

Built offline (dependencies copied from this environment), so no package index is needed.
"""

from __future__ import annotations

import fnmatch
import json
import re
import zipfile

import pytest

from bench.package import ROOT, build, lint, table_resources

DATA_SERVICES = ("dynamodb:", "sqs:", "sns:", "kms:", "secretsmanager:", "s3:")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build(tmp_path_factory.mktemp("package") / "out", stage="prod", offline=True)


@pytest.fixture(scope="module")
def template(bundle) -> dict:
    return bundle.template


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def resolve(value, template: dict):
    """A ``Fn::Sub`` string with the template's parameter defaults filled in (other values unchanged)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        defaults = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
        return re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), value["Fn::Sub"])
    return value


def function_env(template: dict, function: str) -> dict:
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    return {**globals_env, **own}


def functions(template: dict) -> dict[str, dict]:
    return resources_of(template, "AWS::Serverless::Function")


def policy_statements(template: dict) -> list[dict]:
    statements = []
    for role in resources_of(template, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            statements += policy["PolicyDocument"]["Statement"]
    return statements


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def allowed(template: dict, action: str, arn: str) -> bool:
    """Whether some role statement allows ``action`` on ``arn`` (IAM wildcards in the statement)."""
    return any(
        statement["Effect"] == "Allow"
        and action in listed(statement["Action"])
        and any(fnmatch.fnmatchcase(arn, pattern) for pattern in listed(statement["Resource"]))
        for statement in policy_statements(template)
    )


def test_packaged_template_passes_cfn_lint(bundle):
    code, report = lint(bundle.out_dir / "sam.json")
    assert code == 0, report


def test_every_table_is_created_as_the_models_define_it(template):
    tables = resources_of(template, "AWS::DynamoDB::Table")
    expected = table_resources()
    assert set(tables) == set(expected), "run `python -m bench.package --sync-tables` after changing the models"
    for name, resource in expected.items():
        assert tables[name] == resource, f"{name} differs from the models: run `python -m bench.package --sync-tables`"
    prefixes = {function_env(template, f)["HAOPING_TABLE_PREFIX"] for f in functions(template)}
    assert prefixes == {"haoping-prod"}
    for name, table in tables.items():
        props = table["Properties"]
        assert resolve(props["TableName"], template) == f"haoping-prod-{name.removesuffix('Table')}"
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert table["DeletionPolicy"] == "Retain"


def test_tasks_have_the_sparse_due_index_and_expire(template):
    props = template["Resources"]["TasksTable"]["Properties"]
    due = next(i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == "due")
    assert due["KeySchema"] == [
        {"AttributeName": "due_shard", "KeyType": "HASH"},
        {"AttributeName": "due_at", "KeyType": "RANGE"},
    ]
    assert due["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expire_at", "Enabled": True}
    sellers = template["Resources"]["SellersTable"]["Properties"]
    assert [i["IndexName"] for i in sellers["GlobalSecondaryIndexes"]] == ["by_nick"]
    assert sellers["TimeToLiveSpecification"]["AttributeName"] == "purge_at"
    idempotency = template["Resources"]["IdempotencyTable"]["Properties"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


@pytest.mark.parametrize(
    ("function", "queue", "setting"),
    [
        ("Worker", "ReviewQueue", "HAOPING_REVIEW_QUEUE_URL"),
        ("ReconcileWorker", "ReconcileQueue", "HAOPING_RECONCILE_QUEUE_URL"),
    ],
)
def test_queue_event_sources_report_partial_batch_failures_from_the_templates_queues(
    template, function, queue, setting
):
    (event,) = template["Resources"][function]["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    name = resolve(template["Resources"][queue]["Properties"]["QueueName"], template)
    assert resolve(event["Properties"]["Queue"], template).endswith(f":{name}")
    assert function_env(template, function)[setting] == {"Ref": queue}


@pytest.mark.parametrize("queue", ["ReviewQueue", "ReconcileQueue"])
def test_queues_redrive_to_a_dead_letter_queue_and_outlast_the_function(template, queue):
    props = template["Resources"][queue]["Properties"]
    redrive = props["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [f"{queue}DLQ", "Arn"]}
    assert 1 <= redrive["maxReceiveCount"] <= 10
    consumer = "Worker" if queue == "ReviewQueue" else "ReconcileWorker"
    # AWS's guidance for Lambda event sources: visibility at least six times the function's timeout.
    assert props["VisibilityTimeout"] >= 6 * template["Resources"][consumer]["Properties"]["Timeout"]


def test_alarms_on_dead_letters_and_worker_errors_notify_the_alerts_topic(template):
    alarms = resources_of(template, "AWS::CloudWatch::Alarm").values()

    def watching(metric: str, dimension) -> list[dict]:
        return [
            a["Properties"]
            for a in alarms
            if a["Properties"]["MetricName"] == metric
            and dimension in [d["Value"] for d in a["Properties"]["Dimensions"]]
        ]

    (dlq,) = watching("ApproximateNumberOfMessagesVisible", {"Fn::GetAtt": ["ReviewQueueDLQ", "QueueName"]})
    (errors,) = watching("Errors", {"Ref": "Worker"})
    for alarm in (dlq, errors):
        assert {"Ref": "AlertsTopic"} in alarm["AlarmActions"]
    assert dlq["Threshold"] == 0 and dlq["ComparisonOperator"] == "GreaterThanThreshold"


def test_functions_get_every_setting_the_code_reads(template):
    source = (ROOT / "chalicelib" / "config.py").read_text(encoding="utf-8")
    read = set(re.findall(r"\"(HAOPING_[A-Z_]+)\"", source)) - {"HAOPING_AWS_ENDPOINT"}
    for function in functions(template):
        assert read <= set(function_env(template, function)), function
    key = template["Resources"]["TokenKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert function_env(template, "Worker")["HAOPING_KMS_KEY_ID"] == {"Ref": "TokenKeyAlias"}


def test_no_data_statement_of_the_role_policies_uses_a_star_resource(template):
    data = [s for s in policy_statements(template) if any(a.startswith(DATA_SERVICES) for a in listed(s["Action"]))]
    assert data, "the roles carry no data permissions at all"
    for statement in data:
        assert "*" not in listed(statement["Resource"]), statement.get("Sid")
        assert not any(a.endswith(":*") or a == "*" for a in listed(statement["Action"])), statement.get("Sid")


def test_the_policy_reaches_every_table_queue_and_topic_the_template_creates(template):
    arn = "arn:aws:{service}:ap-southeast-1:123456789012:{name}"
    for table in resources_of(template, "AWS::DynamoDB::Table").values():
        name = resolve(table["Properties"]["TableName"], template)
        for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"):
            assert allowed(template, action, arn.format(service="dynamodb", name=f"table/{name}")), (action, name)
        for index in table["Properties"].get("GlobalSecondaryIndexes", []):
            target = f"table/{name}/index/{index['IndexName']}"
            assert allowed(template, "dynamodb:Query", arn.format(service="dynamodb", name=target))
    for queue in resources_of(template, "AWS::SQS::Queue").values():
        name = resolve(queue["Properties"]["QueueName"], template)
        for action in ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            assert allowed(template, action, arn.format(service="sqs", name=name)), (action, name)
    topic = resolve(template["Resources"]["AlertsTopic"]["Properties"]["TopicName"], template)
    assert allowed(template, "sns:Publish", arn.format(service="sns", name=topic))
    assert not allowed(template, "dynamodb:PutItem", arn.format(service="dynamodb", name="table/someone-else"))


def test_the_zip_holds_the_app_and_nothing_that_is_not_deployed(bundle):
    with zipfile.ZipFile(bundle.zip_path) as archive:
        names = archive.namelist()
    assert "app.py" in names and "chalicelib/store/models.py" in names and "chalicelib/rules_default.json" in names
    assert "pynamodb/models.py" in names  # dependencies travel in the zip
    assert not [n for n in names if n.startswith(("sandbox/", "tests/", "bench/", "deploy/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert bundle.zip_bytes < 50 * 2**20


def test_policy_files_are_the_ones_chalice_embedded(template):
    embedded = json.loads((ROOT / ".chalice" / "policy-prod.json").read_text(encoding="utf-8"))
    role = template["Resources"]["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert role == embedded


def test_dev_and_prod_policies_name_their_own_stage_only():
    for stage, other in (("dev", "prod"), ("prod", "dev")):
        text = (ROOT / ".chalice" / f"policy-{stage}.json").read_text(encoding="utf-8")
        assert f"haoping-{stage}-" in text and f"haoping-{other}-" not in text
