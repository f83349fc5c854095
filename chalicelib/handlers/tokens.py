"""Entry point: the hourly EventBridge schedule → refresh tokens that expire soon."""

from __future__ import annotations

from chalicelib.config import clock
from chalicelib.services.refresh_tokens import refresh_due
from chalicelib.telemetry import flush


def handle(event, context) -> dict:
    """Run one refresh pass; returns how many sellers ended in each outcome."""
    try:
        run = refresh_due(now=clock.now())
    finally:
        flush()
    return run.as_dict()
