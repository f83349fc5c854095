"""Creates every table for local runs and tests; deployed tables come from the packaged template."""

from __future__ import annotations

from chalicelib.container import IDEMPOTENCY_TABLE, container
from chalicelib.store.models import MODELS, PAY_PER_REQUEST


def create_tables() -> None:
    """Create every table the code uses (idempotent)."""
    for model in MODELS:
        if not model.exists():
            model.create_table(wait=True, billing_mode=PAY_PER_REQUEST)
    ddb = container().aws("dynamodb")
    name = container().settings.table(IDEMPOTENCY_TABLE)
    if name not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode=PAY_PER_REQUEST,
        )
