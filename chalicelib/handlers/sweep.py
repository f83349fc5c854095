"""Entry point: the EventBridge minute schedule → queue due tasks."""

from __future__ import annotations

from chalicelib.container import container
from chalicelib.handlers.lambda_entry import SCHEDULED, Deadline, lambda_entry
from chalicelib.services.reviews.sweep_due import SWEEP_RESERVE_MS, sweep


@lambda_entry(SCHEDULED)
def handle(event: dict, context) -> dict:
    """Run one sweep; a failure raises so EventBridge/Lambda retries the tick."""
    result = sweep(now=container().clock.now(), out_of_time=Deadline(context, SWEEP_RESERVE_MS).near)
    return {"queued": result.queued, "paused": result.paused}
