"""boto3 clients, created lazily once per container against the configured endpoint.

One botocore session serves every client, PynamoDB's included: each new session would parse the service
models again (about a second for the tables alone), which is cold-start time in Lambda and test time here.
"""

from __future__ import annotations

from functools import cache

from chalicelib.config import get_settings


@cache
def botocore_session():
    """The container's botocore session."""
    import botocore.session

    return botocore.session.get_session()


def share_session_with_pynamodb() -> None:
    """Make PynamoDB's connections use the shared session (it has no setting for this, only this function)."""
    import pynamodb.connection.base as pynamodb_base

    pynamodb_base.get_session = botocore_session


@cache
def aws_client(service: str):
    """A cached boto3 client for ``service`` (sqs, sns, kms, dynamodb, ...)."""
    import boto3

    s = get_settings()
    session = boto3.session.Session(botocore_session=botocore_session())
    return session.client(service, region_name=s.region, endpoint_url=s.aws_endpoint)


def reset_clients() -> None:
    """Forget cached clients (tests and the local stack rebind endpoints)."""
    aws_client.cache_clear()
