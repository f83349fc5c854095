"""The rehearsal's check that a function's role grants the requests it made (``deploy.iam_grants``)."""

import pytest

from deploy.iam_grants import granted, iam_actions, ungranted


@pytest.mark.parametrize(
    ("operation", "actions"),
    [
        ("DynamoDB.PutItem", ("dynamodb:PutItem",)),
        ("KMS.GenerateDataKey", ("kms:GenerateDataKey",)),
        ("SQS.SendMessageBatch", ("sqs:SendMessage",)),
        ("SQS.DeleteMessageBatch", ("sqs:DeleteMessage",)),
        ("secretsmanager.GetSecretValue", ("secretsmanager:GetSecretValue",)),
        ("SNS.Publish", ("sns:Publish",)),
        ("GET /robot/send", None),
    ],
)
def test_recorded_operations_map_to_the_iam_actions_that_authorize_them(operation, actions):
    assert iam_actions(operation) == actions


def test_wildcards_and_case_follow_iam_and_a_deny_wins():
    allow = {"Effect": "Allow", "Action": ["dynamodb:Get*", "KMS:decrypt"], "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "dynamodb:GetRecords", "Resource": "*"}

    assert granted([allow], "dynamodb:GetItem") and granted([allow], "kms:Decrypt")
    assert not granted([allow], "dynamodb:PutItem")
    assert not granted([allow, deny], "dynamodb:GetRecords")


def _template(actions):
    return {
        "Resources": {
            "Worker": {"Type": "AWS::Serverless::Function", "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [{"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": actions}]}}]
                },
            },
            "Extra": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "Roles": [{"Ref": "Role"}],
                    "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage"}]},
                },
            },
        }
    }


def test_a_request_the_role_does_not_grant_is_named():
    template = _template(["kms:GenerateDataKey", "kms:Decrypt"])

    # A token sealed with KMS Encrypt itself: the grant the roles never had.
    assert ungranted(template, "Worker", ["KMS.Decrypt", "KMS.Encrypt", "SQS.SendMessageBatch"]) == ["kms:Encrypt"]
    assert ungranted(template, "Worker", ["KMS.GenerateDataKey", "KMS.Decrypt", "SQS.SendMessageBatch"]) == []
