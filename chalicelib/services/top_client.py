"""The TOP client as services use it: the container's, with every marketplace item it skips as unreadable kept
for the operator (``skipped_items``)."""

from __future__ import annotations

from chalicelib.container import container
from chalicelib.services import skipped_items


def top_client():
    """The container's TOP client (one connection pool), reporting the items it skips to ``skipped_items``."""
    client = container().top()
    if getattr(client, "on_unreadable", False) is None:  # set once per client (a stand-in may have no such hook)
        now = container().clock.now

        def keep(api: str, reason: str, ref: str | None) -> None:
            skipped_items.record(api, reason, ref, now=now())

        client.on_unreadable = keep
    return client
