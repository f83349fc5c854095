"""Inside Lambda, the settings every deployed function needs are checked when the container is built."""

from __future__ import annotations

import pytest

from chalicelib.config import DEPLOYED_REQUIRED, SettingsInvalid, load_settings

DEPLOYED = {
    "AWS_LAMBDA_FUNCTION_NAME": "haoping-prod-worker",
    "HAOPING_STAGE": "prod",
    "HAOPING_TABLE_PREFIX": "haoping-prod",
    "HAOPING_REVIEW_QUEUE_URL": "https://sqs.local/1/haoping-prod-reviews",
    "HAOPING_RECONCILE_QUEUE_URL": "https://sqs.local/1/haoping-prod-reconcile",
    "HAOPING_BACKFILL_QUEUE_URL": "https://sqs.local/1/haoping-prod-backfill",
    "HAOPING_TOKENS_QUEUE_URL": "https://sqs.local/1/haoping-prod-tokens",
    "HAOPING_BILLING_QUEUE_URL": "https://sqs.local/1/haoping-prod-billing",
    "HAOPING_ALERTS_TOPIC_ARN": "arn:aws:sns:ap-southeast-1:123456789012:haoping-prod-alerts",
    "HAOPING_KMS_KEY_ID": "alias/haoping-prod-tokens",
    "HAOPING_APP_KEY": "12345678",
}


def test_a_complete_deployed_function_loads():
    settings = load_settings(DEPLOYED)
    assert settings.review_queue_url.endswith("haoping-prod-reviews")
    assert settings.kms_key_id == "alias/haoping-prod-tokens"


@pytest.mark.parametrize("variable", DEPLOYED_REQUIRED)
def test_a_deployed_function_missing_a_value_is_refused_naming_it(variable):
    for absent in ({k: v for k, v in DEPLOYED.items() if k != variable}, {**DEPLOYED, variable: ""}):
        with pytest.raises(SettingsInvalid) as caught:
            load_settings(absent)
        assert variable in str(caught.value)
        assert [name for name in DEPLOYED_REQUIRED if name in str(caught.value)] == [variable]


def test_outside_lambda_the_local_defaults_still_hold():
    settings = load_settings(
        {k: v for k, v in DEPLOYED.items() if k not in DEPLOYED_REQUIRED and k != "AWS_LAMBDA_FUNCTION_NAME"}
    )
    assert (settings.review_queue_url, settings.kms_key_id) == ("", "")
