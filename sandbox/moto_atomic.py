"""moto answers one request at a time, as DynamoDB applies each write atomically.

The app's queue workers handle a batch's records on several threads. moto checks a write's condition and then
applies it in two steps, without a lock, so two threads could both pass a condition that DynamoDB lets only one
pass (two claims of one task, an ADD that loses the other's increment). Every local AWS here (the tests' mock, the
bench's, the local stack's server) serializes moto's requests through ``install()``; a real engine needs nothing.
"""

from __future__ import annotations

import threading

_lock = threading.RLock()


def install() -> None:
    """Make every moto backend request run alone (idempotent)."""
    from moto.core.responses import BaseResponse

    if getattr(BaseResponse._dispatch, "one_at_a_time", False):
        return
    original = BaseResponse._dispatch

    def _dispatch(self, *args, **kwargs):
        with _lock:
            return original(self, *args, **kwargs)

    _dispatch.one_at_a_time = True
    BaseResponse._dispatch = _dispatch
