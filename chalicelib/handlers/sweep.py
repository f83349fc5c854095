"""Entry point: the EventBridge minute schedule → queue due tasks."""

from __future__ import annotations

from chalicelib.config import clock
from chalicelib.services.sweep_due import sweep
from chalicelib.telemetry import flush


def handle(event, context) -> dict:
    """Run one sweep; a failure raises so EventBridge/Lambda retries the tick."""
    try:
        result = sweep(now=clock.now())
    finally:
        flush()
    return {"queued": result.queued, "paused": result.paused}
