"""boto3 clients, created lazily once per container against the configured endpoint."""

from __future__ import annotations

from functools import cache

from chalicelib.config import get_settings


@cache
def aws_client(service: str):
    """A cached boto3 client for ``service`` (sqs, sns, kms, ...)."""
    import boto3

    s = get_settings()
    return boto3.client(service, region_name=s.region, endpoint_url=s.aws_endpoint)


def reset_clients() -> None:
    """Forget cached clients (tests and the local stack rebind endpoints)."""
    aws_client.cache_clear()
