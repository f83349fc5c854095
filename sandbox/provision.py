"""Local AWS from the deployment template: the tests, the local stack and the bench stack all create their tables,
queues, key, topic and secrets from ``deploy/resources.json`` (the resources the packaged template declares), and
the app's environment from the template's function environments, so none of them can drift from what ships.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from chalicelib.config import DEFAULT_REGION as REGION
from deploy.cloudformation import Resolver, provision

MERGE_TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "resources.json"


@dataclass(frozen=True)
class LocalAws:
    """What was provisioned: the app's environment (every function's, merged) and the physical ids."""

    env: dict[str, str]
    table_prefix: str
    review_queue_url: str
    review_dlq_url: str
    reconcile_queue_url: str
    backfill_queue_url: str
    topic_arn: str
    secret_values: dict[str, str]


def provision_local(
    stage: str,
    *,
    endpoint: str | None,
    app_key: str,
    app_secret: str,
    public_url: str = "https://haoping.test",
    secret_values: dict[str, str] | None = None,
) -> LocalAws:
    """Create the template's data resources for ``stage`` on ``endpoint`` (None: moto in-process).

    ``app_secret`` is what the sandbox marketplace signs with; ``secret_values`` may fix the other secrets by
    logical id (tests use known values), else they are generated as Secrets Manager would.
    """
    import boto3

    template = json.loads(MERGE_TEMPLATE.read_text(encoding="utf-8"))
    parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    parameters.update({"Stage": stage, "AppKey": app_key, "PublicUrl": public_url, "AlertEmail": ""})
    resolver = Resolver(template, parameters, region=REGION, stack_name=f"haoping-{stage}")
    given = {"AppSecret": app_secret, **(secret_values or {})}
    clients: dict[str, object] = {}

    def client(service: str):
        if service not in clients:
            clients[service] = boto3.client(service, region_name=REGION, endpoint_url=endpoint)
        return clients[service]

    done = provision(template, resolver, client, secret_value=lambda logical, _props: given.get(logical))
    env: dict[str, str] = {}
    for section in _environments(template):
        for name, value in resolver.resolve(section).items():
            env[name] = str(value)
    physical = done.physical
    return LocalAws(
        env=env,
        table_prefix=f"haoping-{stage}",
        review_queue_url=physical["ReviewQueue"].ref,
        review_dlq_url=physical["ReviewQueueDLQ"].ref,
        reconcile_queue_url=physical["ReconcileQueue"].ref,
        backfill_queue_url=physical["BackfillQueue"].ref,
        topic_arn=physical["AlertsTopic"].ref,
        secret_values=done.secret_values,
    )


def _environments(template: dict) -> list[dict]:
    # Globals first, then each function's own: one process plays every function locally, so it gets their union.
    sections = [template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})]
    for resource in template.get("Resources", {}).values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables")
        if variables:
            sections.append(variables)
    return sections
