"""Binds the models to the stage's table names and endpoint; creates tables for local runs and tests."""

from __future__ import annotations

from chalicelib.config import Settings, get_settings
from chalicelib.store.clients import aws_client, share_session_with_pynamodb
from chalicelib.store.models import MODELS, PAY_PER_REQUEST

IDEMPOTENCY_TABLE = "Idempotency"


def bind(settings: Settings | None = None) -> None:
    """Point every model at its table for ``settings`` (drops cached connections so the change takes)."""
    s = settings or get_settings()
    share_session_with_pynamodb()
    for model in MODELS:
        model.Meta.table_name = s.table(model.Meta.logical_name)
        model.Meta.region = s.region
        model.Meta.host = s.aws_endpoint
        model._connection = None


def create_tables() -> None:
    """Create every table (idempotent). Local stack and tests only: deployed tables come from the template."""
    s = get_settings()
    bind(s)
    for model in MODELS:
        if not model.exists():
            model.create_table(wait=True, billing_mode=PAY_PER_REQUEST)
    ddb = aws_client("dynamodb")
    name = s.table(IDEMPOTENCY_TABLE)
    if name not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode=PAY_PER_REQUEST,
        )


bind()
