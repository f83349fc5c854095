"""The month's wrapped data key for seller tokens, one Control item per month shared by every container.

Only the KMS-wrapped form is kept (each blob carries it too, so a reader never comes here); the first container to
seal a token in a month makes the key, and a container that lost that race takes the kept one. The item expires
two months after its month: blobs sealed under it still open from the wrapped key they carry.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from chalicelib.store.conditional import save_if
from chalicelib.store.models import Control

_PREFIX = "data-key#"
_KEPT_AFTER_MONTH = timedelta(days=62)


class DataKeys:
    """``crypto.SharedDataKeys`` on the Control table."""

    def get(self, period: str) -> tuple[str, bytes] | None:
        """The month's ``(kms_key_id, wrapped data key)``, read consistently; None before anyone made one."""
        try:
            item = Control.get(_PREFIX + period, consistent_read=True)
        except Control.DoesNotExist:
            return None
        value = item.value or {}
        return value["key_id"], base64.b64decode(value["wrapped"])

    def put_new(self, period: str, key_id: str, wrapped: bytes, *, now: datetime) -> bool:
        """Keep the month's wrapped data key unless one is kept already; True when this one was kept."""
        start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
        item = Control(
            _PREFIX + period,
            value={"key_id": key_id, "wrapped": base64.b64encode(wrapped).decode()},
            updated_at=int(now.timestamp()),
            expire_at=start + timedelta(days=31) + _KEPT_AFTER_MONTH,
        )
        return save_if(item, condition=Control.key.does_not_exist())
