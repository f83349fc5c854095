"""The names of the app's SQS queues, which ``app.py`` gives its queue workers' event sources.

They are fixed per stage when the bundle is built: ``python -m deploy.package --stage <stage>`` sets
``HAOPING_<QUEUE>_QUEUE_NAME`` to the names its merge template creates (``haoping-<stage>-reviews`` …). Without
them the local defaults below apply, which are right for tests and the local stack but would give every stage
the same queues; so the Chalice command line refuses to deploy or package without them.
"""

from __future__ import annotations

import os
import sys

# Queue → the variable naming it.
QUEUE_ENV = {
    "reviews": "HAOPING_REVIEW_QUEUE_NAME",
    "reconcile": "HAOPING_RECONCILE_QUEUE_NAME",
    "tokens": "HAOPING_TOKENS_QUEUE_NAME",
    "billing": "HAOPING_BILLING_QUEUE_NAME",
    "backfill": "HAOPING_BACKFILL_QUEUE_NAME",
}
_DEPLOYING = ("deploy", "package")


class QueueNamesMissing(SystemExit):
    """A deploy or package would give this stage the queues of every other stage."""


def queue_name(queue: str) -> str:
    """The queue's name: from its variable, else the local default ``haoping-<queue>`` (refused when the Chalice
    command line is deploying or packaging, where the default would be shared by every stage)."""
    variable = QUEUE_ENV[queue]
    name = os.environ.get(variable)
    if name:
        return name
    if _chalice_deploying():
        raise QueueNamesMissing(
            f"{variable} is not set: a plain `chalice deploy` or `chalice package` would give every stage the same "
            "queues. Build the bundle with `python -m deploy.package --stage <stage>`, which names each stage's queues."
        )
    return f"haoping-{queue}"


def _chalice_deploying() -> bool:
    return "chalice.cli" in sys.modules and any(arg in _DEPLOYING for arg in sys.argv[1:])
