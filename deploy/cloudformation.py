"""CloudFormation, played locally: resolve a template's intrinsic functions and create on a local AWS (moto) the
resources it declares that hold data or carry messages (tables, queues, keys and aliases, topics, secrets,
parameters). Everything else (roles, alarms, the API, permissions, event sources) is recorded as skipped.

Only what the template says is used: names, keys, indexes, TTL, billing mode, redrive, visibility timeouts. A
resource whose properties cannot be reproduced raises ``TemplateError`` instead of being guessed. The rehearsal
provisions the packaged template with it; the tests, the local stack and the bench stack provision
``deploy/resources.json`` (``sandbox.provision``).
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

ACCOUNT = "123456789012"  # moto's default account
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
NO_VALUE = object()  # ``Ref: AWS::NoValue``: the property is removed

# Types created on the local AWS: everything the functions read, write or send to.
CREATED = (
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::SNS::Topic",
    "AWS::SecretsManager::Secret",
    "AWS::SSM::Parameter",
)
# Types the functions never touch at run time (who may call what, alarms, wiring done by Lambda itself).
SKIPPABLE_PREFIXES = (
    "AWS::IAM::",
    "AWS::CloudWatch::",
    "AWS::Logs::",
    "AWS::Lambda::",
    "AWS::ApiGateway::",
    "AWS::Serverless::",
    "AWS::Events::",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SecretsManager::ResourcePolicy",
    "AWS::SecretsManager::RotationSchedule",
    "AWS::Scheduler::",
    "AWS::ApplicationAutoScaling::",
)


class TemplateError(RuntimeError):
    """The template uses something the rehearsal cannot reproduce faithfully; the message says what."""


@dataclass
class Physical:
    """What CloudFormation would return for a resource: ``Ref`` and the ``Fn::GetAtt`` attributes."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Provisioned:
    """The outcome of provisioning: what each logical id became, and what was skipped or left out."""

    physical: dict[str, Physical]
    created: dict[str, str]  # logical id -> type, in creation order
    skipped: dict[str, str]  # logical id -> type (not needed at run time)
    conditional_off: list[str]  # resources whose Condition is false
    secret_values: dict[str, str]  # logical id -> the value stored (the rehearsal's own secrets)


class Resolver:
    """Evaluates intrinsic functions against parameters, conditions and the physical ids created so far."""

    def __init__(self, template: dict, parameters: Mapping[str, str], *, region: str, stack_name: str) -> None:
        self.template = template
        self.region = region
        self.stack_name = stack_name
        self.parameters = dict(parameters)
        self.physical: dict[str, Physical] = {}
        self._conditions: dict[str, bool] = {}
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{region}:{ACCOUNT}:stack/{stack_name}/rehearsal",
            "AWS::NotificationARNs": [],
        }

    # -- conditions -----------------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self._condition_value(spec))
        return self._conditions[name]

    def _condition_value(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return str(left) == str(right)
            if fn == "Fn::Not":
                return not self._condition_value(arg[0])
            if fn == "Fn::And":
                return all(self._condition_value(a) for a in arg)
            if fn == "Fn::Or":
                return any(self._condition_value(a) for a in arg)
            if fn == "Condition":
                return self.condition(arg)
        return self.resolve(node)

    # -- values ---------------------------------------------------------------------------------------------
    def references(self, node: Any) -> set[str]:
        """Logical ids of resources ``node`` refers to (``Ref``, ``Fn::GetAtt``, ``${...}`` in ``Fn::Sub``)."""
        found: set[str] = set()
        resources = self.template.get("Resources", {})

        def walk(n: Any) -> None:
            if isinstance(n, dict):
                for key, value in n.items():
                    if key == "Ref" and isinstance(value, str) and value in resources:
                        found.add(value)
                    elif key == "Fn::GetAtt":
                        target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
                        if target in resources:
                            found.add(target)
                    elif key == "Fn::Sub":
                        text = value[0] if isinstance(value, list) else value
                        local = set(value[1]) if isinstance(value, list) else set()
                        for var in re.findall(r"\$\{([^!}][^}]*)\}", text):
                            name = var.split(".", 1)[0]
                            if name in resources and name not in local:
                                found.add(name)
                        if isinstance(value, list):
                            walk(value[1])
                        continue
                    walk(value)
            elif isinstance(n, list):
                for item in n:
                    walk(item)

        walk(node)
        return found

    def resolve(self, node: Any) -> Any:
        """``node`` with every intrinsic function evaluated (``AWS::NoValue`` entries dropped)."""
        if isinstance(node, list):
            return [v for v in (self.resolve(i) for i in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(logical, self.resolve(attribute))
            if fn == "Fn::Sub":
                return self.sub(arg)
            if fn == "Fn::Join":
                sep, items = arg
                return self.resolve(sep).join(str(i) for i in self.resolve(items))
            if fn == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if fn == "Fn::Split":
                sep, text = arg
                return self.resolve(text).split(self.resolve(sep))
            if fn == "Fn::FindInMap":
                table, first, second = (self.resolve(a) for a in arg)
                return self.template["Mappings"][table][first][second]
            if fn == "Fn::GetAZs":
                return [f"{self.region}{zone}" for zone in "abc"]
            if fn == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg), separators=(",", ":"))
            if fn in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
                return self._condition_value(node)
            if fn.startswith("Fn::"):
                raise TemplateError(f"intrinsic function {fn} is not supported by the rehearsal")
        out = {}
        for key, value in node.items():
            resolved = self.resolve(value)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name].ref
        if name in self.template.get("Resources", {}):
            raise TemplateError(f"Ref {name}: the resource is not created yet (or was skipped)")
        raise TemplateError(f"Ref {name}: no such parameter or resource")

    def get_att(self, logical: str, attribute: str) -> str:
        physical = self.physical.get(logical)
        if physical is None:
            raise TemplateError(f"Fn::GetAtt {logical}.{attribute}: the resource is not created yet (or was skipped)")
        if attribute not in physical.attributes:
            raise TemplateError(f"Fn::GetAtt {logical}.{attribute}: attribute not known to the rehearsal")
        return physical.attributes[attribute]

    def sub(self, arg: Any) -> str:
        text, local = (arg[0], self.resolve(arg[1])) if isinstance(arg, list) else (arg, {})

        def one(match: re.Match) -> str:
            var = match.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"
            if var in local:
                return str(local[var])
            if "." in var and var.split(".", 1)[0] in self.template.get("Resources", {}):
                logical, attribute = var.split(".", 1)
                return str(self.get_att(logical, attribute))
            return str(self.ref(var))

        return re.sub(r"\$\{([^}]+)\}", one, text)


# -- provisioning ----------------------------------------------------------------------------------------------
def provision(
    template: dict,
    resolver: Resolver,
    clients: Callable[[str], Any],
    *,
    secret_value: Callable[[str, dict], str | None],
) -> Provisioned:
    """Create every data-holding resource of ``template`` through ``clients(service)``, dependencies first.

    ``secret_value(logical, properties)`` may give the value a generated secret must hold (the app secret the
    sandbox marketplace knows); None lets the rehearsal generate one as Secrets Manager would.
    """
    resources = template.get("Resources", {})
    created: dict[str, str] = {}
    skipped: dict[str, str] = {}
    off: list[str] = []
    secret_values: dict[str, str] = {}
    pending: dict[str, dict] = {}
    for logical, resource in resources.items():
        kind = resource.get("Type", "")
        if resource.get("Condition") and not resolver.condition(resource["Condition"]):
            off.append(logical)
            continue
        if kind in CREATED:
            pending[logical] = resource
        elif kind.startswith(SKIPPABLE_PREFIXES) or not kind:
            skipped[logical] = kind or "(merged into another resource)"
            resolver.physical[logical] = _placeholder(logical, kind, resource, resolver)
        else:
            raise TemplateError(f"{logical}: resource type {kind} is neither created nor known to be skippable")
    while pending:
        ready = [
            logical
            for logical, resource in pending.items()
            if not (resolver.references(resource.get("Properties", {})) & set(pending))
        ]
        if not ready:
            raise TemplateError(f"circular references between {sorted(pending)}")
        for logical in ready:
            resource = pending.pop(logical)
            kind = resource["Type"]
            props = resolver.resolve(resource.get("Properties", {}))
            maker = _MAKERS[kind]
            physical, stored = maker(logical, props, resolver, clients, secret_value)
            resolver.physical[logical] = physical
            created[logical] = kind
            if stored is not None:
                secret_values[logical] = stored
    return Provisioned(dict(resolver.physical), created, skipped, off, secret_values)


def _generated_name(resolver: Resolver, logical: str, limit: int = 80) -> str:
    # CloudFormation's names for unnamed resources: stack-Logical-RANDOM.
    return f"{resolver.stack_name}-{logical}-{secrets.token_hex(6).upper()}"[:limit]


def _arn(resolver: Resolver, service: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{resolver.region}:{ACCOUNT}:{resource}"


def _placeholder(logical: str, kind: str, resource: dict, resolver: Resolver) -> Physical:
    """Physical ids of a skipped resource, so references to it (alarms naming a function) still resolve."""
    props = resource.get("Properties", {})
    if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
        name = props.get("FunctionName") if isinstance(props.get("FunctionName"), str) else None
        name = name or function_name(resolver.stack_name, logical)
        arn = _arn(resolver, "lambda", f"function:{name}")
        return Physical(name, {"Arn": arn})
    if kind == "AWS::IAM::Role":
        name = f"{resolver.stack_name}-{logical}"[:64]
        return Physical(name, {"Arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}", "RoleId": "AROAREHEARSAL"})
    name = f"{resolver.stack_name}-{logical}"
    return Physical(name, {"Arn": _arn(resolver, "rehearsal", name)})


def function_name(stack_name: str, logical: str) -> str:
    """The name CloudFormation gives a function without ``FunctionName`` (stack-Logical-SUFFIX)."""
    return f"{stack_name}-{logical}-Rehearsal"[:64]


def _table(logical, props, resolver, clients, secret_value):
    ddb = clients("dynamodb")
    name = props.get("TableName") or _generated_name(resolver, logical, 255)
    billing = props.get("BillingMode", "PROVISIONED")
    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        if "ProvisionedThroughput" not in props:
            raise TemplateError(f"{logical}: PROVISIONED billing without ProvisionedThroughput")
        args["ProvisionedThroughput"] = _ints(props["ProvisionedThroughput"])
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            args[key] = [_index(i) for i in props[key]]
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if props.get("TableClass"):
        args["TableClass"] = props["TableClass"]
    if "DeletionProtectionEnabled" in props:
        args["DeletionProtectionEnabled"] = _bool(props["DeletionProtectionEnabled"])
    if props.get("SSESpecification"):
        sse = props["SSESpecification"]
        args["SSESpecification"] = {
            k: v
            for k, v in {
                "Enabled": _bool(sse.get("SSEEnabled", False)),
                "SSEType": sse.get("SSEType"),
                "KMSMasterKeyId": sse.get("KMSMasterKeyId"),
            }.items()
            if v is not None
        }
    described = ddb.create_table(**args)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and _bool(ttl.get("Enabled", False)):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and _bool(pitr.get("PointInTimeRecoveryEnabled", False)):
        try:
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        except ClientError as exc:
            # DynamoDB Local keeps no backups (the operation is unknown to it); nothing local depends on them.
            if exc.response.get("Error", {}).get("Code") != "UnknownOperationException":
                raise
    attributes = {"Arn": described["TableArn"]}
    if described.get("LatestStreamArn"):
        attributes["StreamArn"] = described["LatestStreamArn"]
    return Physical(name, attributes), None


def _index(index: dict) -> dict:
    out = {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"}
    if "ProvisionedThroughput" in out:
        out["ProvisionedThroughput"] = _ints(out["ProvisionedThroughput"])
    return out


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
)


def _queue(logical, props, resolver, clients, secret_value):
    sqs = clients("sqs")
    fifo = _bool(props.get("FifoQueue", False))
    name = props.get("QueueName") or _generated_name(resolver, logical, 75) + (".fifo" if fifo else "")
    attributes = {key: _text(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            value = props[key]
            attributes[key] = value if isinstance(value, str) else json.dumps(value)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Physical(url, {"Arn": arn, "QueueName": name, "QueueUrl": url}), None


def _key(logical, props, resolver, clients, secret_value):
    kms = clients("kms")
    args: dict[str, Any] = {}
    if props.get("Description"):
        args["Description"] = props["Description"]
    if props.get("KeyUsage"):
        args["KeyUsage"] = props["KeyUsage"]
    if props.get("KeySpec"):
        args["KeySpec"] = props["KeySpec"]
    if props.get("KeyPolicy"):
        policy = props["KeyPolicy"]
        args["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
    if "MultiRegion" in props:
        args["MultiRegion"] = _bool(props["MultiRegion"])
    meta = kms.create_key(**args)["KeyMetadata"]
    if _bool(props.get("EnableKeyRotation", False)):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    if "Enabled" in props and not _bool(props["Enabled"]):
        kms.disable_key(KeyId=meta["KeyId"])
    return Physical(meta["KeyId"], {"Arn": meta["Arn"], "KeyId": meta["KeyId"]}), None


def _alias(logical, props, resolver, clients, secret_value):
    clients("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return Physical(props["AliasName"], {}), None


def _topic(logical, props, resolver, clients, secret_value):
    sns = clients("sns")
    fifo = _bool(props.get("FifoTopic", False))
    name = props.get("TopicName") or _generated_name(resolver, logical, 251) + (".fifo" if fifo else "")
    attributes = {}
    for key in ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "TracingConfig"):
        if key in props:
            attributes[key] = _text(props[key])
    arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    for subscription in props.get("Subscription", []):
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return Physical(arn, {"TopicArn": arn, "TopicName": name}), None


def _secret(logical, props, resolver, clients, secret_value):
    sm = clients("secretsmanager")
    name = props.get("Name") or _generated_name(resolver, logical, 256)
    if "SecretString" in props:
        value = props["SecretString"]
    elif "GenerateSecretString" in props:
        value = _generate_secret(props["GenerateSecretString"], secret_value(logical, props))
    else:
        raise TemplateError(f"{logical}: a secret needs SecretString or GenerateSecretString")
    args: dict[str, Any] = {"Name": name, "SecretString": value}
    for key in ("Description", "KmsKeyId"):
        if props.get(key):
            args[key] = props[key]
    arn = sm.create_secret(**args)["ARN"]
    return Physical(arn, {"Id": arn}), value


def _generate_secret(spec: dict, given: str | None) -> str:
    """A value shaped like Secrets Manager's GenerateSecretString (``given`` replaces the random part)."""
    length = int(spec.get("PasswordLength", 32))
    alphabet = ""
    if not _bool(spec.get("ExcludeLowercase", False)):
        alphabet += string.ascii_lowercase
    if not _bool(spec.get("ExcludeUppercase", False)):
        alphabet += string.ascii_uppercase
    if not _bool(spec.get("ExcludeNumbers", False)):
        alphabet += string.digits
    if not _bool(spec.get("ExcludePunctuation", False)):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if not _bool(spec.get("IncludeSpace", False)):
        alphabet = alphabet.replace(" ", "")
    alphabet = "".join(ch for ch in alphabet if ch not in spec.get("ExcludeCharacters", ""))
    value = given if given is not None else "".join(secrets.choice(alphabet) for _ in range(length))
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template and key:
        doc = json.loads(template)
        doc[key] = value
        return json.dumps(doc)
    if template or key:
        raise TemplateError("GenerateSecretString needs both SecretStringTemplate and GenerateStringKey, or neither")
    return value


def _parameter(logical, props, resolver, clients, secret_value):
    ssm = clients("ssm")
    name = props.get("Name") or f"CFN-{logical}-{secrets.token_hex(6).upper()}"
    kind = props.get("Type", "String")
    ssm.put_parameter(Name=name, Value=props["Value"], Type=kind, Overwrite=False)
    return Physical(name, {"Type": kind, "Value": props["Value"]}), None


_MAKERS = {
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::KMS::Key": _key,
    "AWS::KMS::Alias": _alias,
    "AWS::SNS::Topic": _topic,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SSM::Parameter": _parameter,
}


def _ints(value: dict) -> dict:
    return {k: int(v) for k, v in value.items()}


def _bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)
