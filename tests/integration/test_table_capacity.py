"""The template's ``TableCapacity`` parameter, as CloudFormation applies it: the trade tables provisioned (their
indexes too) or on-demand, the other tables on-demand either way, the scaling only while provisioned."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from deploy.cloudformation import Resolver, provision
from deploy.package import MERGE_TEMPLATE, PROVISIONED_TABLES

REGION = "ap-southeast-1"


def _provisioned(capacity: str):
    template = json.loads(MERGE_TEMPLATE.read_text(encoding="utf-8"))
    parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    parameters.update({"Stage": "dev", "AppKey": "12345678", "PublicUrl": "https://haoping.test"})
    parameters["TableCapacity"] = capacity
    resolver = Resolver(template, parameters, region=REGION, stack_name="haoping-dev")
    clients = {}

    def client(service):
        return clients.setdefault(service, boto3.client(service, region_name=REGION))

    done = provision(template, resolver, client, secret_value=lambda *_: None)
    return done, client("dynamodb")


@pytest.mark.parametrize("capacity", ["provisioned", "on-demand"])
def test_the_trade_tables_follow_the_capacity_parameter_and_the_rest_stay_on_demand(monkeypatch, capacity):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        done, ddb = _provisioned(capacity)
        names = ddb.list_tables()["TableNames"]
        assert len(names) >= 10
        for name in names:
            table = ddb.describe_table(TableName=name)["Table"]
            logical = name.removeprefix("haoping-dev-")
            mode = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
            if capacity == "provisioned" and logical in PROVISIONED_TABLES:
                assert mode == "PROVISIONED", logical
                assert table["ProvisionedThroughput"]["WriteCapacityUnits"] >= 1
                for index in table.get("GlobalSecondaryIndexes", []):
                    assert index["ProvisionedThroughput"]["WriteCapacityUnits"] >= 1, index["IndexName"]
            else:
                assert mode == "PAY_PER_REQUEST", logical
        scaling = [k for k in done.conditional_off + list(done.skipped) if k.endswith(("Scaling", "ScalingPolicy"))]
        off = [k for k in done.conditional_off if k.endswith(("Scaling", "ScalingPolicy"))]
        assert scaling and (off == scaling) == (capacity == "on-demand")
