"""The deployable bundle: `chalice package` merged with deploy/resources.json passes cfn-lint and has what the
code needs — python3.13 on arm64, a lean zip that leaves the SDK to the runtime, tables as the models define
them, queues with dead-letter redrive, partial batch responses, alarms, secrets in Secrets Manager read only by
the functions that need them, and an IAM policy that names every data resource instead of using "*".

Built offline (dependencies copied from this environment), so no package index is needed.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import platform
import re
import subprocess
import sys
import zipfile
from importlib import metadata

import pytest

from deploy.bytecode import named_handlers
from deploy.iam_grants import listed, role_statements, ungranted
from deploy.package import (
    PROVISIONED_TABLES,
    ROOT,
    RUNTIME_PROVIDED,
    SYNCED_TYPES,
    PackagingFailed,
    build,
    check_wheel_file,
    lint,
    runtime_sdk_pins,
    table_resources,
    tag_runs_on_lambda,
)

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
    return [s for role in resources_of(template, "AWS::IAM::Role") for s in role_statements(template, role)]


def function_role(template: dict, function: str) -> str:
    role = template["Resources"][function]["Properties"]["Role"]
    assert set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn", role
    return role["Fn::GetAtt"][0]


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
    derived = table_resources()
    for kind in SYNCED_TYPES:  # the tables and their scaling
        present = resources_of(template, kind)
        expected = {name: r for name, r in derived.items() if r["Type"] == kind}
        assert set(present) == set(expected), "run `python -m deploy.package --sync-tables` after changing the models"
        for name, resource in expected.items():
            assert present[name] == resource, (
                f"{name} differs from the models: run `python -m deploy.package --sync-tables`"
            )
    prefixes = {function_env(template, f)["HAOPING_TABLE_PREFIX"] for f in functions(template)}
    assert prefixes == {"haoping-prod"}
    for name, table in tables.items():
        props = table["Properties"]
        assert resolve(props["TableName"], template) == f"haoping-prod-{name.removesuffix('Table')}"
        if name.removesuffix("Table") in PROVISIONED_TABLES:
            assert props["BillingMode"] == {"Fn::If": ["ProvisionedTables", "PROVISIONED", "PAY_PER_REQUEST"]}
        else:
            assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert table["DeletionPolicy"] == "Retain"


def test_the_trade_tables_scale_their_provisioned_units_table_and_indexes_alike(template):
    assert template["Parameters"]["TableCapacity"]["Default"] == "provisioned"
    assert template["Conditions"]["ProvisionedTables"] == {"Fn::Equals": [{"Ref": "TableCapacity"}, "provisioned"]}
    targets = resources_of(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = resources_of(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    scaled = {}
    for name, target in targets.items():
        props = target["Properties"]
        assert target["Condition"] == "ProvisionedTables" and props["MinCapacity"] <= props["MaxCapacity"]
        resource_id = props["ResourceId"]["Fn::Sub"]
        scaled.setdefault(resource_id, set()).add(props["ScalableDimension"].rsplit(":", 1)[1])
        (policy,) = [p for p in policies.values() if p["Properties"]["ScalingTargetId"] == {"Ref": name}]
        tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        assert policy["Condition"] == "ProvisionedTables" and tracking["TargetValue"] == 70.0
        verb = "Read" if props["ScalableDimension"].endswith("ReadCapacityUnits") else "Write"
        assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == f"DynamoDB{verb}CapacityUtilization"
    wanted = set()
    for logical in PROVISIONED_TABLES:
        props = template["Resources"][f"{logical}Table"]["Properties"]
        wanted.add(f"table/${{{logical}Table}}")
        for index in props.get("GlobalSecondaryIndexes", []):
            # An index of a provisioned table has units of its own: unscaled, it would throttle the table's writes.
            assert index["ProvisionedThroughput"]["Fn::If"][0] == "ProvisionedTables"
            wanted.add(f"table/${{{logical}Table}}/index/{index['IndexName']}")
    assert set(scaled) == wanted
    assert all(units == {"ReadCapacityUnits", "WriteCapacityUnits"} for units in scaled.values())
    assert template["Resources"]["AuditTable"]["Properties"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"


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
    # The nick of billing messages, and the per-seller jobs' sparse, sharded indexes (never a Scan).
    indexes = {i["IndexName"]: i for i in sellers["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by_nick", "by_shard", "token_due", "billing_due"}
    for name, sort_key in (("by_shard", "seller_id"), ("token_due", "token_due_at"), ("billing_due", "billing_at")):
        keys = [(k["AttributeName"], k["KeyType"]) for k in indexes[name]["KeySchema"]]
        assert (
            keys == [("shard", "HASH"), (sort_key, "RANGE")]
            and indexes[name]["Projection"]["ProjectionType"] == "KEYS_ONLY"
        )
    assert sellers["TimeToLiveSpecification"]["AttributeName"] == "purge_at"
    idempotency = template["Resources"]["IdempotencyTable"]["Properties"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


@pytest.mark.parametrize(
    ("function", "queue", "setting"),
    [
        ("Worker", "ReviewQueue", "HAOPING_REVIEW_QUEUE_URL"),
        ("ReconcileWorker", "ReconcileQueue", "HAOPING_RECONCILE_QUEUE_URL"),
        ("BackfillWorker", "BackfillQueue", "HAOPING_BACKFILL_QUEUE_URL"),
        ("TokensWorker", "TokensQueue", "HAOPING_TOKENS_QUEUE_URL"),
        ("BillingWorker", "BillingQueue", "HAOPING_BILLING_QUEUE_URL"),
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


@pytest.mark.parametrize(
    ("queue", "consumer"),
    [
        ("ReviewQueue", "Worker"),
        ("ReconcileQueue", "ReconcileWorker"),
        ("BackfillQueue", "BackfillWorker"),
        ("TokensQueue", "TokensWorker"),
        ("BillingQueue", "BillingWorker"),
    ],
)
def test_queues_redrive_to_a_dead_letter_queue_and_outlast_the_function(template, queue, consumer):
    props = template["Resources"][queue]["Properties"]
    redrive = props["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [f"{queue}DLQ", "Arn"]}
    assert 1 <= redrive["maxReceiveCount"] <= 10
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


def test_every_dead_letter_queue_raises_an_alarm_to_the_alerts_topic(template):
    queues = resources_of(template, "AWS::SQS::Queue")
    dead_letter = sorted(
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    )
    assert "BackfillQueueDLQ" in dead_letter and len(dead_letter) == 5
    alarms = resources_of(template, "AWS::CloudWatch::Alarm").values()
    for dlq in dead_letter:
        (alarm,) = [
            a["Properties"]
            for a in alarms
            if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and {"Fn::GetAtt": [dlq, "QueueName"]} in [d["Value"] for d in a["Properties"]["Dimensions"]]
        ]
        assert {"Ref": "AlertsTopic"} in alarm["AlarmActions"] and alarm["Threshold"] == 0, dlq


def test_the_backfill_worker_has_its_own_queue_and_concurrency_beside_the_reconcile(template):
    def event_source(function: str) -> dict:
        (event,) = template["Resources"][function]["Properties"]["Events"].values()
        return event["Properties"]

    backfill, reconcile = event_source("BackfillWorker"), event_source("ReconcileWorker")
    assert resolve(backfill["Queue"], template) != resolve(reconcile["Queue"], template)
    assert backfill["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "BackfillMaxConcurrency"}
    assert reconcile["ScalingConfig"]["MaximumConcurrency"] == 10


def test_functions_get_every_setting_the_code_reads(template):
    source = (ROOT / "chalicelib" / "config.py").read_text(encoding="utf-8")
    # Secret ids go only to the functions that need them (tested below); endpoints are not settings.
    read = {
        name
        for name in re.findall(r"\"(HAOPING_[A-Z_]+)\"", source)
        if not name.endswith("_SECRET_ID") and name != "HAOPING_AWS_ENDPOINT"
    }
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
    assert "pynamodb/models.pyc" in names  # dependencies travel in the zip
    assert not [n for n in names if n.startswith(("sandbox/", "tests/", "bench/", "deploy/"))]
    assert bundle.zip_bytes < 50 * 2**20


def test_the_modules_the_handlers_load_ship_compiled_and_nothing_else_is_cached(bundle):
    with zipfile.ZipFile(bundle.zip_path) as archive:
        names = set(archive.namelist())
    cached = {n for n in names if "__pycache__" in n}
    sourceless = {n for n in names if n.endswith(".pyc") and n not in cached}
    # The app's own code keeps its source beside its bytecode; a dependency's loaded module is its bytecode alone.
    tag = sys.implementation.cache_tag
    assert f"chalicelib/__pycache__/container.{tag}.pyc" in cached and f"__pycache__/app.{tag}.pyc" in cached
    for name in cached:
        source = name.replace("__pycache__/", "").replace(f".{tag}.pyc", ".py")
        assert source in names and source.startswith(("app.py", "chalicelib/", "chalice/")), name
    assert {"pydantic/main.pyc", "pynamodb/models.pyc"} <= sourceless
    assert not {n[:-1] for n in sourceless} & names  # no source beside a sourceless module
    assert "pydantic/mypy.py" in names  # nothing loads the mypy plugin: it stays as it was
    assert not [n for n in names if "swagger_ui/" in n and n.endswith((".js", ".css"))]
    report = bundle.summary()
    assert report["bytecode_beside_source"] == len(cached) and report["bytecode_instead_of_source"] == len(sourceless)


def _app_modules_named_by_imports() -> set[str]:
    """Every ``chalicelib`` module some import in app.py or ``chalicelib`` names, at the top of a file or inside a
    function, as ``import a.b``, ``from a.b import c`` or ``from a import b`` (a module)."""
    named: set[str] = set()
    for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                named.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                named.update([base, *(f"{base}.{a.name}" for a in node.names)])
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in (ROOT / "chalicelib").rglob("*.py")}
    return {files[name].relative_to(ROOT).as_posix() for name in named if name in files}


def test_every_app_module_an_import_names_ships_compiled_even_one_imported_inside_a_function(bundle):
    with zipfile.ZipFile(bundle.zip_path) as archive:
        names = set(archive.namelist())
    tag = sys.implementation.cache_tag
    modules = _app_modules_named_by_imports()
    assert "chalicelib/sdk_loader.py" in modules  # imported only when the container makes its first client
    missing = sorted(
        m for m in modules if f"{m.rsplit('/', 1)[0]}/__pycache__/{m.rsplit('/', 1)[1][:-3]}.{tag}.pyc" not in names
    )
    assert missing == []


def test_a_fresh_interpreter_imports_every_handler_from_the_zips_bytecode(bundle, tmp_path):
    with zipfile.ZipFile(bundle.zip_path) as archive:
        archive.extractall(tmp_path)
    # As in Lambda: the task root first and read-only (nothing written), then the standard library and the SDK.
    probe = (
        "import importlib, json, os, sys\n"
        "sys.dont_write_bytecode = True\n"
        "r = os.getcwd()\n"
        "sys.path.insert(0, r)\n"
        "import app\n"
        "for name in json.loads(sys.argv[1]): importlib.import_module('chalicelib.handlers.' + name)\n"
        "def ours(): return [m for m in list(sys.modules.values()) if str(getattr(m, '__file__', '')).startswith(r)]\n"
        # Every model and queue adapter of the app builds its validators from the zip (they defer it to first use).
        "from pydantic import BaseModel, TypeAdapter\n"
        "models, pending = [], [BaseModel]\n"
        "while pending: models.append(pending.pop()); pending += models[-1].__subclasses__()\n"
        "built = [m.model_rebuild(force=True) for m in models if m.__module__.startswith('chalicelib.')]\n"
        "built += [v.rebuild(force=True) for m in ours() for v in vars(m).values() if isinstance(v, TypeAdapter)]\n"
        "compiled = [m.__name__ for m in ours() if m.__file__.endswith('.py') and not os.path.exists(m.__cached__)]\n"
        "print(json.dumps({'loaded': len(ours()), 'compiled': compiled, 'built': built.count(True)}))\n"
    )
    handlers = named_handlers(ROOT / "app.py")
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe, json.dumps(handlers)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["loaded"] > 200 and result["compiled"] == []
    assert result["built"] > 60


def test_policy_files_are_the_ones_chalice_embedded(template):
    embedded = json.loads((ROOT / ".chalice" / "policy-prod.json").read_text(encoding="utf-8"))
    role = template["Resources"]["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert role == embedded


def test_dev_and_prod_policies_name_their_own_stage_only():
    for stage, other in (("dev", "prod"), ("prod", "dev")):
        text = (ROOT / ".chalice" / f"policy-{stage}.json").read_text(encoding="utf-8")
        assert f"haoping-{stage}-" in text and f"haoping-{other}-" not in text


# -- the runtime -------------------------------------------------------------------------------------------------
def test_every_function_runs_python313_on_arm64(template):
    assert functions(template)
    for name, function in functions(template).items():
        assert function["Properties"]["Runtime"] == "python3.13", name
        assert function["Properties"]["Architectures"] == ["arm64"], name


@pytest.mark.parametrize(
    ("tag", "loads"),
    [
        ("py3-none-any", True),
        ("cp313-cp313-manylinux_2_17_aarch64", True),
        ("cp313-cp313-manylinux2014_aarch64", True),
        ("cp313-cp313-manylinux_2_34_aarch64", True),
        ("cp39-abi3-manylinux_2_28_aarch64", True),
        ("py3-none-manylinux_2_17_aarch64", True),
        ("cp313-cp313-manylinux_2_35_aarch64", False),  # newer glibc than Amazon Linux 2023's 2.34
        ("cp313-cp313-manylinux_2_17_x86_64", False),
        ("cp312-cp312-manylinux_2_17_aarch64", False),
        ("cp314-abi3-manylinux_2_17_aarch64", False),
        ("cp313-cp313-linux_aarch64", False),
        ("cp313-cp313-musllinux_1_2_aarch64", False),
        ("cp313-cp313-macosx_11_0_arm64", False),
    ],
)
def test_wheel_tags_are_checked_against_the_runtime(tag, loads):
    assert tag_runs_on_lambda(tag) is loads


def test_a_wheel_whose_metadata_contradicts_its_name_is_refused(tmp_path):
    wheel = tmp_path / "fake-1.0-cp313-cp313-manylinux_2_17_aarch64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fake-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: cp313-cp313-manylinux_2_17_x86_64\n")
        archive.writestr("fake/_native.cpython-313-x86_64-linux-gnu.so", b"\x7fELF")
    with pytest.raises(PackagingFailed, match="other tags"):
        check_wheel_file(wheel)


def test_the_zip_leaves_the_sdk_to_the_runtime_and_is_lean(bundle):
    with zipfile.ZipFile(bundle.zip_path) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    assert not tops & {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"}
    assert not [t for t in tops if t.endswith(".dist-info") and re.split(r"-\d", t)[0].lower() in RUNTIME_PROVIDED]
    assert {"pynamodb", "aws_lambda_powertools", "pydantic", "pydantic_core", "app.py", "chalicelib"} <= tops
    assert not {"cryptography", "cffi"} & tops  # token encryption is KMS Encrypt/Decrypt, no native crypto
    assert bundle.zip_bytes <= 5 * 2**20, bundle.summary()["top_contents_kb"]
    assert bundle.summary()["within_target"] is True


@pytest.mark.skipif(platform.machine() == "aarch64", reason="this host's wheels are the runtime's architecture")
def test_an_offline_bundle_with_this_hosts_native_wheels_is_reported_not_deployable(bundle):
    assert any(entry.startswith("pydantic_core==") for entry in bundle.incompatible), bundle.incompatible
    assert bundle.deployable is False
    assert bundle.summary()["not_lambda_compatible"] == list(bundle.incompatible)


def test_dev_environment_runs_the_sdk_version_the_runtime_ships():
    for pin in runtime_sdk_pins():
        name, version = pin.split("==")
        assert metadata.version(name) == version, f"{name}: run `make` to reinstall the venv ({pin})"


# -- secrets -----------------------------------------------------------------------------------------------------
SECRETS = {
    "HAOPING_APP_SECRET_ID": "AppSecret",
    "HAOPING_BUYER_HASH_SECRET_ID": "BuyerHashSecret",
    "HAOPING_SESSION_SECRET_ID": "SessionSecret",
}
APP, BUYER, SESSION = "AppSecret", "BuyerHashSecret", "SessionSecret"
# Who reads which secret (the handlers' import closures: TOP/OAuth calls need the app secret, scheduling a
# trade or matching a blacklist needs the buyer-hash key, only HTTP sessions need the session key).
SECRETS_NEEDED = {
    "APIHandler": {APP, BUYER, SESSION},  # pushes (verify + schedule), OAuth, the seller API
    "Worker": {APP},  # posts through TOP
    "Tokens": set(),  # starts a run: plan messages only
    "TokensWorker": {APP},  # refreshes through TOP
    "Billing": {APP, BUYER},  # vas.* calls; releasing holds reschedules trades
    "BillingWorker": {APP, BUYER},  # the daily pass per seller: vas.* calls, holds and releases
    "ReconcileWorker": {APP, BUYER},  # TOP reads, schedules missed trades
    "BackfillWorker": {APP, BUYER},  # TOP reads, schedules the trades before the install
    "Sweep": set(),
    "Reconcile": set(),  # fan-out only
}


def test_the_template_creates_the_three_secrets(template):
    secrets = resources_of(template, "AWS::SecretsManager::Secret")
    assert set(secrets) == {APP, BUYER, SESSION}
    names = {name: resolve(secret["Properties"]["Name"], template) for name, secret in secrets.items()}
    assert names == {
        APP: "haoping-prod-app-secret",
        BUYER: "haoping-prod-buyer-hash-secret",
        SESSION: "haoping-prod-session-secret",
    }
    for name in (BUYER, SESSION):
        generated = secrets[name]["Properties"]["GenerateSecretString"]
        assert generated["PasswordLength"] == 48 and generated["ExcludePunctuation"] is True
    # The app secret's real value is set by the operator; until then it is a random placeholder, never a default.
    assert "SecretString" not in secrets[APP]["Properties"]
    assert secrets[BUYER]["DeletionPolicy"] == "Retain"  # losing the key orphans every stored buyer hash


def test_no_environment_variable_carries_a_secret(template):
    assert not [p for p, spec in template.get("Parameters", {}).items() if spec.get("NoEcho")]
    secrets = set(resources_of(template, "AWS::SecretsManager::Secret"))
    for function in functions(template):
        for name, value in function_env(template, function).items():
            text = json.dumps(value)
            assert "resolve:secretsmanager" not in text and "resolve:ssm-secure" not in text, (function, name)
            if name == "HAOPING_SECRETS_MAX_AGE":  # how long a container caches secrets: a number of seconds
                assert value.isdigit(), value
            elif re.search(r"SECRET|PASSWORD|TOKEN|PRIVATE", name) and not name.endswith("_QUEUE_URL"):  # TOKENS job
                assert name in SECRETS, (function, name)
            if name in SECRETS:
                assert value == {"Ref": SECRETS[name]}, (function, name)  # the secret's ARN, not its value
                assert value["Ref"] in secrets
            else:
                assert not any(f'"{s}"' in text for s in secrets), (function, name)


def test_each_function_gets_exactly_the_secret_ids_it_needs(template):
    assert set(functions(template)) == set(SECRETS_NEEDED)
    for function, needed in SECRETS_NEEDED.items():
        given = {SECRETS[n] for n in function_env(template, function) if n in SECRETS}
        assert given == needed, function


def test_each_function_may_read_exactly_its_own_secrets(template):
    for function, needed in SECRETS_NEEDED.items():
        readable = set()
        for statement in role_statements(template, function_role(template, function)):
            actions = listed(statement["Action"])
            if not any(a.startswith("secretsmanager:") or a == "*" for a in actions):
                continue
            assert statement["Effect"] == "Allow" and actions == ["secretsmanager:GetSecretValue"], function
            for resource in listed(statement["Resource"]):
                assert isinstance(resource, dict) and set(resource) == {"Ref"}, (function, resource)
                readable.add(resource["Ref"])
        assert readable == needed, function


def test_no_aws_endpoint_override_in_the_template(template):
    assert "HAOPING_AWS_ENDPOINT" not in json.dumps(template)
    for function in functions(template):
        assert not [n for n in function_env(template, function) if n.startswith("AWS_ENDPOINT_URL")], function


def test_every_function_holding_the_token_key_may_make_and_unwrap_data_keys_and_nothing_more(template):
    holders = [f for f in functions(template) if "HAOPING_KMS_KEY_ID" in function_env(template, f)]
    assert "Worker" in holders and "APIHandler" in holders
    for function in holders:
        # What security.crypto asks of KMS: a data key a month, and its unwrapping.
        assert ungranted(template, function, ["KMS.GenerateDataKey", "KMS.Decrypt"]) == [], function
        assert ungranted(template, function, ["KMS.Encrypt", "KMS.ReEncryptFrom"]) == [
            "kms:Encrypt",
            "kms:ReEncryptFrom",
        ], function
