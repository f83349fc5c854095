"""Entry point: the EventBridge minute schedule → queue due tasks, then deliver alerts due to sellers' group robots."""

from __future__ import annotations

from chalicelib.container import container
from chalicelib.handlers.lambda_entry import SCHEDULED, Deadline, lambda_entry
from chalicelib.services.alerts.robot_alerts import deliver_due
from chalicelib.services.reviews.sweep_due import SWEEP_RESERVE_MS, sweep
from chalicelib.telemetry import count, logger


@lambda_entry(SCHEDULED)
def handle(event: dict, context) -> dict:
    """Run one sweep; a failure raises so EventBridge/Lambda retries the tick.

    Robot delivery runs after it and never fails the tick: its alerts stay due and are tried next minute.
    """
    deadline = Deadline(context, SWEEP_RESERVE_MS).near
    result = sweep(now=container().clock.now(), out_of_time=deadline)
    try:
        robots = deliver_due(now=container().clock.now(), out_of_time=deadline).sent
    except Exception:  # the sweep's work is done; a robot failure must not make EventBridge repeat it
        logger.exception("robot delivery failed")
        count("RobotDeliveryFailed")
        robots = 0
    return {"queued": result.queued, "paused": result.paused, "robot_messages": robots}
