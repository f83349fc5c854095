"""Whether a function's role grants the AWS requests it made: the rehearsal's check that no code path calls an
action the packaged template forgot (local AWS does not enforce IAM, the real one answers AccessDenied).

Checked by action, not by resource: the rehearsal's requests name local resources, the template's grants the
deployed ones.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from chalicelib.sdk_loader import SERVICES as APP_SERVICES

# The services the app calls (the ones its botocore loader knows); the recorder's names for them
# (``deploy.rehearse_aws._operation``), lower-cased, are IAM's action prefixes.
_SERVICES = frozenset(APP_SERVICES)
# Requests authorized as another action, or as the actions they carry.
_AUTHORIZED_AS = {
    "sqs:SendMessageBatch": ("sqs:SendMessage",),
    "sqs:DeleteMessageBatch": ("sqs:DeleteMessage",),
    "sqs:ChangeMessageVisibilityBatch": ("sqs:ChangeMessageVisibility",),
    # A transaction is authorized by the item actions inside it; the recorder does not break it down, so any
    # one of them granted passes here and test_package checks the tables' grants.
    "dynamodb:TransactWriteItems": ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
    "dynamodb:TransactGetItems": ("dynamodb:GetItem",),
}


def iam_actions(operation: str) -> tuple[str, ...] | None:
    """The IAM actions that authorize a recorded ``Service.Operation``; None for a request IAM does not judge."""
    service, _, action = operation.partition(".")
    if service.lower() not in _SERVICES or not action:
        return None
    name = f"{service.lower()}:{action}"
    return _AUTHORIZED_AS.get(name, (name,))


def role_statements(template: dict, role: str) -> list[dict]:
    """Every statement a role gets: its inline policies and the template's policies attached to it."""
    resources = template.get("Resources", {})
    statements = []
    for policy in resources.get(role, {}).get("Properties", {}).get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for resource in resources.values():
        if resource.get("Type") == "AWS::IAM::Policy" and {"Ref": role} in resource["Properties"].get("Roles", []):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


def function_role(template: dict, function: str) -> str | None:
    """The logical id of the role a function runs as (``Fn::GetAtt [Role, Arn]``), if the template names one."""
    role = template.get("Resources", {}).get(function, {}).get("Properties", {}).get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        return role["Fn::GetAtt"][0]
    return None


def listed(value) -> list:
    """A policy field that may be one value or a list, as a list."""
    return value if isinstance(value, list) else [value]


def granted(statements: Iterable[dict], action: str) -> bool:
    """Whether an Allow statement names ``action`` (IAM wildcards, case-insensitive) and no Deny does."""

    def names(statement: dict) -> bool:
        return any(fnmatch.fnmatch(action.lower(), str(p).lower()) for p in listed(statement.get("Action", [])))

    statements = list(statements)
    if any(s.get("Effect") == "Deny" and names(s) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and names(s) for s in statements)


def ungranted(template: dict, function: str, operations: Iterable[str]) -> list[str]:
    """The recorded operations of ``function`` that its role does not grant, as IAM actions (sorted)."""
    role = function_role(template, function)
    if role is None:
        return []
    statements = role_statements(template, role)
    missing = set()
    for operation in set(operations):
        actions = iam_actions(operation)
        if actions and not any(granted(statements, action) for action in actions):
            missing.add(actions[0])
    return sorted(missing)
