"""Entry point: the hourly EventBridge schedule → refresh tokens that expire soon."""

from __future__ import annotations

from chalicelib.config import clock
from chalicelib.handlers.lambda_entry import SCHEDULED, lambda_entry
from chalicelib.services.refresh_tokens import refresh_due


@lambda_entry(SCHEDULED)
def handle(event: dict, context) -> dict:
    """Run one refresh pass; returns how many sellers ended in each outcome."""
    return refresh_due(now=clock.now()).as_dict()
